// Read-only vec4 operands are declared `array<V4>` and read through `ld4` (the host
// prepends this file or loads_wide.wgsl to every kernel). This version is the plain one.
alias V4 = vec4<f32>;

fn ld4(x: vec4<f32>) -> vec4<f32> {
    return x;
}

// Two u32 loaded as one operand (16-bit weights, shaders/weights_*.wgsl).
alias U2 = vec2<u32>;

fn ld_u2(x: vec2<u32>) -> vec2<u32> {
    return x;
}
