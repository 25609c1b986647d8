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
    var acc: array<vec4<f32>, SG>;
    for (var r = 0u; r < SG; r++) {
        acc[r] = vec4<f32>(0.0);
    }
    if (s > 0u) {
        let my_row = bwd_time_prev(dir, s) * p.B * row_ld + min(b0 + lane, p.B - 1u) * row_ld + dir * p.GHp4;
        for (var q = 0u; q < p.GHp4; q++) {
            let wm = w_rows(dir, q * 4u, kq);
            let dg = dgh[my_row + q];
            acc[0] += wm * subgroupBroadcast(dg, 0u);
            acc[1] += wm * subgroupBroadcast(dg, 1u);
            acc[2] += wm * subgroupBroadcast(dg, 2u);
            acc[3] += wm * subgroupBroadcast(dg, 3u);
            acc[4] += wm * subgroupBroadcast(dg, 4u);
            acc[5] += wm * subgroupBroadcast(dg, 5u);
            acc[6] += wm * subgroupBroadcast(dg, 6u);
            acc[7] += wm * subgroupBroadcast(dg, 7u);
        }
    }
    for (var r = 0u; r < SG; r++) {
        let b = b0 + r;
        if (b >= p.B) {
            break;
        }
        if (k0 < p.H) {
            backward_units(s, dir, b, k0, acc[r]);
        }
    }
}
