// Fused recurrent step with subgroup sharing: a workgroup is one subgroup of SG = 8 lanes;
// lane l owns hidden unit j = 8*wg.x + l for the RM batch rows RM*wg.y..+RM. Each lane
// loads RM/SG rows' chunks of h_{t-1} and the subgroup broadcasts them, so every h load
// feeds 8 lanes and every W_hh load RM rows (on CPU adapters loads, not FMAs, are the
// cost). Then bias, cell and state update as in step_reg. All lanes stay active through
// the broadcasts (uniform control flow).
//
// RM and the `$` lines come from the host (kernels::unroll_rows, see gemm_subgroup.wgsl):
// one named accumulator and one epilogue call per row, no array indexed by a loop counter,
// which lavapipe would keep in memory (lstm-b64 fwd, 3 alternating runs: recurrent step
// 454-509 ms vs 493-569 with the array).

const SG: u32 = 8u;

@compute @workgroup_size(SG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
    let j = wg.x * SG + lane;
    let jw = min(j, p.H - 1u);
    let b0 = wg.y * RM;
    let dir = wg.z;
    let hb = dir * p.B * p.Hp4;
    let row$g = hb + min(b0 + $gu * SG + lane, p.B - 1u) * p.Hp4;

    var a$r = vec4<f32>(0.0);
    for (var k = 0u; k < p.Hp4; k++) {
        let wm = w_cols(dir, jw, k);
        let h$g = ld4(h_in[row$g + k]);
        a$r += subgroupBroadcast(h$g, $lu) * wm;
    }
    // The rows' lengths: RM/SG loads per lane, broadcast (before any lane returns), rather
    // than one load per row in the epilogue.
    var lens: array<u32, RM>;
    let len$g = lengths[min(b0 + $gu * SG + lane, p.B - 1u)];
    lens[$ru] = subgroupBroadcast(len$g, $lu);
    if (j >= p.H) {
        return;
    }
    let t = time_of(p, dir, p.step);
    let bh = hh_bias(dir, j);
    // The epilogue as one loop over the rows: 32 inlined copies of finish_unit ran slower.
    var pre: array<vec4<f32>, RM>;
    pre[$ru] = a$r;
    let rows = min(RM, p.B - b0);
    for (var r = 0u; r < rows; r++) {
        finish_unit(t, b0 + r, dir, j, pre[r] + bh, hb, lens[r]);
    }
}
