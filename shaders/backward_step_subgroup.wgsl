// One fused step of backpropagation through time with subgroup sharing: a workgroup is one
// subgroup of SG = 8 lanes; lane l owns the 4 consecutive hidden units k0 = 4*(8*wg.x + l)
// ..k0+4 of direction dir for the 8 batch rows 8*wg.y..+8. Per 4 gate rows n each lane
// loads its 4 W_hh row chunks W_hh[n..n+4, k0..k0+4] (vec4s, read in place from the
// model's buffer) and one batch row's dGh chunk, which the subgroup broadcasts: 5 loads
// feed 128 FMAs of dh = W_hhᵀ·dGh_{prev step}. Then backward_units (backward_cell.wgsl)
// per row. All lanes stay active through the broadcasts (uniform control flow).
// Buffers and parameters: backward_cell.wgsl.

const SG: u32 = 8u;    // lanes = batch rows per workgroup
const UB: u32 = 4u;    // units per lane: one vec4 column chunk of W_hh

@compute @workgroup_size(SG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
    let k0 = (wg.x * SG + lane) * UB;
    let kq = min(k0, p.Hp - UB) / UB;          // lanes past Hp load a valid chunk, store nothing
    let b0 = wg.y * SG;
    let dir = wg.z;
    let s = p.step;
    let row_ld = p.D * p.GHp4;
    // Eight named accumulators and one epilogue call per row, no array: an array indexed
    // by a loop counter lives in memory on lavapipe, so every FMA of this loop would load
    // and store it (measured on lstm-b64: 720-760 ms vs 530-550 ms per call). The input
    // GEMM, whose store loop unrolls, keeps its array (named accumulators there measured
    // 1.4x slower).
    var a0 = vec4<f32>(0.0); var a1 = vec4<f32>(0.0); var a2 = vec4<f32>(0.0); var a3 = vec4<f32>(0.0);
    var a4 = vec4<f32>(0.0); var a5 = vec4<f32>(0.0); var a6 = vec4<f32>(0.0); var a7 = vec4<f32>(0.0);
    if (s > 0u) {
        let my_row = bwd_time_prev(dir, s) * p.B * row_ld + min(b0 + lane, p.B - 1u) * row_ld + dir * p.GHp4;
        for (var q = 0u; q < p.GHp4; q++) {
            let wm = w_rows(dir, q * 4u, kq);
            let dg = dgh[my_row + q];
            a0 += wm * subgroupBroadcast(dg, 0u);
            a1 += wm * subgroupBroadcast(dg, 1u);
            a2 += wm * subgroupBroadcast(dg, 2u);
            a3 += wm * subgroupBroadcast(dg, 3u);
            a4 += wm * subgroupBroadcast(dg, 4u);
            a5 += wm * subgroupBroadcast(dg, 5u);
            a6 += wm * subgroupBroadcast(dg, 6u);
            a7 += wm * subgroupBroadcast(dg, 7u);
        }
    }
    if (k0 < p.H) {
        if (b0 < p.B) { backward_units(s, dir, b0, k0, a0); }
        if (b0 + 1u < p.B) { backward_units(s, dir, b0 + 1u, k0, a1); }
        if (b0 + 2u < p.B) { backward_units(s, dir, b0 + 2u, k0, a2); }
        if (b0 + 3u < p.B) { backward_units(s, dir, b0 + 3u, k0, a3); }
        if (b0 + 4u < p.B) { backward_units(s, dir, b0 + 4u, k0, a4); }
        if (b0 + 5u < p.B) { backward_units(s, dir, b0 + 5u, k0, a5); }
        if (b0 + 6u < p.B) { backward_units(s, dir, b0 + 6u, k0, a6); }
        if (b0 + 7u < p.B) { backward_units(s, dir, b0 + 7u, k0, a7); }
    }
}
