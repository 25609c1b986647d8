// One invocation rounds one vec4 chunk of an f32 weight matrix to 16 bits (nearest, ties to
// even; NaN stays NaN, past f16's range ±inf) and packs it into two u32, the first value
// in the low half: the copy the kernels read, refreshed after each optimizer step of
// mixed-precision training from the f32 master weights. Integer arithmetic only, so the
// bits equal the host's `Precision::pack`. The host prepends `const BF16: bool`.
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

fn bf16_bits(x: f32) -> u32 {
    let u = bitcast<u32>(x);
    if ((u & 0x7fffffffu) > 0x7f800000u) {
        return (u >> 16u) | 0x40u;
    }
    return (u + 0x7fffu + ((u >> 16u) & 1u)) >> 16u;
}

fn f16_bits(x: f32) -> u32 {
    let u = bitcast<u32>(x);
    let sign = (u >> 16u) & 0x8000u;
    let exp = (u >> 23u) & 0xffu;
    let man = u & 0x7fffffu;
    if (exp == 0xffu) {
        return sign | 0x7c00u | select(0u, 0x200u | (man >> 13u), man != 0u);
    }
    // the f16 exponent field
    let e = i32(exp) - 112;
    if (e >= 31) {
        return sign | 0x7c00u;
    }
    if (e <= 0) {
        // subnormal (or zero): the significand with its leading 1, shifted into place
        if (e < -10) {
            return sign;
        }
        let m = man | 0x800000u;
        let shift = u32(14 - e);
        let round_bit = 1u << (shift - 1u);
        let up = (m & round_bit) != 0u && (m & (3u * round_bit - 1u)) != 0u;
        return sign | ((m >> shift) + select(0u, 1u, up));
    }
    // a carry out of the significand moves into the exponent (up to inf), as it should
    let up = (man & 0x1000u) != 0u && (man & 0x2fffu) != 0u;
    return sign | (((u32(e) << 10u) | (man >> 13u)) + select(0u, 1u, up));
}

fn bits16(x: f32) -> u32 {
    if (BF16) {
        return bf16_bits(x);
    }
    return f16_bits(x);
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.y * 65535u * 64u + gid.x;
    if (i >= p.n4) {
        return;
    }
    let v = master[i];
    packed[i] = vec2<u32>(bits16(v.x) | (bits16(v.y) << 16u), bits16(v.z) | (bits16(v.w) << 16u));
}
