// Weight matrices as IEEE f16, four per element packed in two u32 (first value in the low
// half), unpacked to f32 here: half the bytes of weights_f32.wgsl, and no `shader-f16`.
alias W4 = U2;

fn ldw4(x: W4) -> vec4<f32> {
    let u = ld_u2(x);
    return vec4<f32>(unpack2x16float(u.x), unpack2x16float(u.y));
}
