// f32 to the bits of a 16-bit float, rounded to nearest with ties to even: NaN stays NaN,
// past f16's range ±inf, as the host's `Precision::to_bits`. Integer arithmetic only, so
// every adapter gives the same bits (WGSL leaves pack2x16float's overflow undefined). The
// host prepends `const BF16: bool` (bits16's format).

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
