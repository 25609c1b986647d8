// Read-only vec4 operands are declared `array<V4>` and read through `ld4` (the host
// prepends this file or loads_vec4.wgsl to every kernel). This version, for CPU adapters
// with SHADER_INT64, stores 4 floats as 2 u64: lavapipe compiles every storage load into a
// loop over the SIMD lanes, one iteration per lane and component, so a vec2<u64> costs
// half a vec4<f32>; the unpacking is cheap SIMD ALU work. Bits are moved, never converted.
alias V4 = vec2<u64>;

fn ld4(x: vec2<u64>) -> vec4<f32> {
    return vec4<f32>(
        bitcast<f32>(u32(x.x & 0xfffffffflu)),
        bitcast<f32>(u32(x.x >> 32u)),
        bitcast<f32>(u32(x.y & 0xfffffffflu)),
        bitcast<f32>(u32(x.y >> 32u)),
    );
}

// Two u32 loaded as one u64 (16-bit weights, shaders/weights_*.wgsl): one per-lane load
// for four weights.
alias U2 = u64;

fn ld_u2(x: u64) -> vec2<u32> {
    return vec2<u32>(u32(x & 0xfffffffflu), u32(x >> 32u));
}
