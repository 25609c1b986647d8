// Read-only vec4 operands are declared `array<V4>` and read through `ld4` (the host
// prepends this file or loads_wide.wgsl to every kernel). This version is the plain one.
alias V4 = vec4<f32>;

fn ld4(x: vec4<f32>) -> vec4<f32> {
    return x;
}
