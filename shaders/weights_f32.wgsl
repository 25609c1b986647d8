// Weight matrices (W_ih, W_hh) are declared `array<W4>` and read through `ldw4`, one vec4
// chunk of a row per element (the host prepends this file, weights_f16.wgsl or
// weights_bf16.wgsl after the loads prelude). This version stores f32.
alias W4 = V4;

fn ldw4(x: W4) -> vec4<f32> {
    return ld4(x);
}
