// Fused recurrent step with subgroup sharing: a workgroup is one subgroup of SG = 8 lanes;
// lane l owns hidden unit j = 8*wg.x + l for the 8 batch rows 8*wg.y..+8. Each lane loads
// one row's chunk of h_{t-1} and the subgroup broadcasts it, so every h load feeds 8 lanes
// (on CPU adapters loads, not FMAs, are the cost). Then bias, cell and state update as in
// step_reg. All lanes stay active through the broadcasts (uniform control flow).

const SG: u32 = 8u;

@compute @workgroup_size(SG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
    let j = wg.x * SG + lane;
    let jw = min(j, p.H - 1u);
    let b0 = wg.y * SG;
    let dir = wg.z;
    let cur = p.step & 1u;
    let h_cur = (cur * p.D + dir) * p.B * p.Hp4;
    let h_nxt = ((1u - cur) * p.D + dir) * p.B * p.Hp4;
    let my_row = h_cur + min(b0 + lane, p.B - 1u) * p.Hp4;

    var a0 = vec4<f32>(0.0); var a1 = vec4<f32>(0.0); var a2 = vec4<f32>(0.0); var a3 = vec4<f32>(0.0);
    var a4 = vec4<f32>(0.0); var a5 = vec4<f32>(0.0); var a6 = vec4<f32>(0.0); var a7 = vec4<f32>(0.0);
    for (var k = 0u; k < p.Hp4; k++) {
        let wm = w_cols(dir, jw, k);
        let h = h_state[my_row + k];
        a0 += subgroupBroadcast(h, 0u) * wm;
        a1 += subgroupBroadcast(h, 1u) * wm;
        a2 += subgroupBroadcast(h, 2u) * wm;
        a3 += subgroupBroadcast(h, 3u) * wm;
        a4 += subgroupBroadcast(h, 4u) * wm;
        a5 += subgroupBroadcast(h, 5u) * wm;
        a6 += subgroupBroadcast(h, 6u) * wm;
        a7 += subgroupBroadcast(h, 7u) * wm;
    }
    if (j >= p.H) {
        return;
    }
    let t = time_of(p, dir, p.step);
    let bh = hh_bias(dir, j);
    // One call per row with a named accumulator: no array indexed by a loop counter, which
    // lavapipe would keep in memory (measured on lstm-b64 fwd, 3 alternating runs: recurrent
    // step 454-509 ms vs 493-569 with the array).
    if (b0 < p.B) { finish_unit(t, b0, dir, j, a0 + bh, h_cur, h_nxt); }
    if (b0 + 1u < p.B) { finish_unit(t, b0 + 1u, dir, j, a1 + bh, h_cur, h_nxt); }
    if (b0 + 2u < p.B) { finish_unit(t, b0 + 2u, dir, j, a2 + bh, h_cur, h_nxt); }
    if (b0 + 3u < p.B) { finish_unit(t, b0 + 3u, dir, j, a3 + bh, h_cur, h_nxt); }
    if (b0 + 4u < p.B) { finish_unit(t, b0 + 4u, dir, j, a4 + bh, h_cur, h_nxt); }
    if (b0 + 5u < p.B) { finish_unit(t, b0 + 5u, dir, j, a5 + bh, h_cur, h_nxt); }
    if (b0 + 6u < p.B) { finish_unit(t, b0 + 6u, dir, j, a6 + bh, h_cur, h_nxt); }
    if (b0 + 7u < p.B) { finish_unit(t, b0 + 7u, dir, j, a7 + bh, h_cur, h_nxt); }
}
