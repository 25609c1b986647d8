// One fused step of backpropagation through time with subgroup sharing: a workgroup is one
// subgroup of SG = 8 lanes; lane l owns the 4 consecutive hidden units k0 = 4*(8*wg.x + l)
// ..k0+4 of direction dir for the RM batch rows RM*wg.y..+RM. Per 4 gate rows n each lane
// loads its 4 W_hh row chunks W_hh[n..n+4, k0..k0+4] (vec4s, read in place from the
// model's buffer) and RM/SG batch rows' dGh chunks, which the subgroup broadcasts: 4 + RM/SG
// loads feed 16*RM FMAs of dh = W_hhᵀ·dGh_{prev step}. Then backward_units
// (backward_cell.wgsl) per row. All lanes stay active through the broadcasts (uniform
// control flow). Buffers and parameters: backward_cell.wgsl.
//
// RM and the `$` lines come from the host (kernels::unroll_rows, see gemm_subgroup.wgsl):
// named accumulators and one epilogue call per row, no array indexed by a loop counter,
// which lavapipe keeps in memory so every FMA would load and store it (lstm-b64: 720-760
// ms vs 530-550 ms per call).

const SG: u32 = 8u;    // lanes
const UB: u32 = 4u;    // units per lane: one vec4 column chunk of W_hh

@compute @workgroup_size(SG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
    let k0 = (wg.x * SG + lane) * UB;
    let kq = min(k0, p.Hp - UB) / UB;          // lanes past Hp load a valid chunk, store nothing
    let b0 = wg.y * RM;
    let dir = wg.z;
    let s = p.step;
    let row_ld = p.D * p.GHp4;
    var a$r = vec4<f32>(0.0);
    if (s > 0u) {
        let my_row = bwd_time_prev(dir, s) * p.B * row_ld + dir * p.GHp4;
        let row$g = my_row + min(b0 + $gu * SG + lane, p.B - 1u) * row_ld;
        for (var q = 0u; q < p.GHp4; q++) {
            let wm = w_rows(dir, q * 4u, kq);
            let dg$g = dgh[row$g + q];
            a$r += wm * subgroupBroadcast(dg$g, $lu);
        }
    }
    if (k0 < p.H) {
        // The epilogue as one loop over the rows (see step_subgroup.wgsl).
        var acc: array<vec4<f32>, RM>;
        acc[$ru] = a$r;
        let rows = min(RM, p.B - b0);
        for (var r = 0u; r < rows; r++) {
            backward_units(s, dir, b0 + r, k0, acc[r]);
        }
    }
}
