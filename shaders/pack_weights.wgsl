// One invocation rounds one vec4 chunk of an f32 weight matrix to 16 bits (nearest, ties to
// even; NaN stays NaN, past f16's range ±inf) and packs it into two u32, the first value
// in the low half: the copy the kernels read, refreshed after each optimizer step of
// mixed-precision training from the f32 master weights. The host prepends
// `const BF16: bool` and round16.wgsl (bits16), whose integer rounding gives the bits of
// `Precision::pack`.
//
//   master [N4] vec4<f32>     packed [N4] vec2<u32>

struct PackParams {
    n4: u32,
    pad0: u32,
    pad1: u32,
    pad2: u32,
}

@group(0) @binding(0) var<uniform> p: PackParams;
@group(0) @binding(1) var<storage, read> master: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> packed: array<vec2<u32>>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.y * 65535u * 64u + gid.x;
    if (i >= p.n4) {
        return;
    }
    let v = master[i];
    packed[i] = vec2<u32>(bits16(v.x) | (bits16(v.y) << 16u), bits16(v.z) | (bits16(v.w) << 16u));
}
