// Weight matrices as bfloat16, four per element packed in two u32 (first value in the low
// half): a bf16 is the high half of an f32, so unpacking is a shift or a mask.
alias W4 = U2;

fn ldw4(x: W4) -> vec4<f32> {
    let u = ld_u2(x);
    return vec4<f32>(
        bitcast<f32>(u.x << 16u),
        bitcast<f32>(u.x & 0xffff0000u),
        bitcast<f32>(u.y << 16u),
        bitcast<f32>(u.y & 0xffff0000u),
    );
}
