// Fused recurrent step of the single-gate cells (tanh and relu RNN) with subgroup sharing:
// a workgroup is one subgroup of SG = 8 lanes; lane l owns the UL = 4 consecutive hidden
// units j0 = 4*(8*wg.x + l)..j0+4 for the RM batch rows RM*wg.y..+RM. Per vec4 chunk of
// h_{t-1} each lane loads its 4 W_hh rows and RM/SG rows of h, broadcast across the
// subgroup, as gemm_subgroup does: RM/SG + 4 loads feed 16*RM FMAs. step_subgroup, with one
// unit and G gate rows per lane, would load 1 row of W_hh per RM/SG rows of h here (4
// times fewer FMAs per load): rnn-b64 recurrent step 110-139 ms against 136-157 with
// step_subgroup (3 alternating runs).
// RM and the `$` lines come from the host (kernels::unroll_rows).

const SG: u32 = 8u;
const UL: u32 = 4u;    // units per lane

// The epilogue of the UL units j0.. of row b (units past H do nothing).
fn finish_units(t: u32, b: u32, dir: u32, j0: u32, pre: vec4<f32>, hb: u32) {
    for (var u = 0u; u < UL; u++) {
        if (j0 + u < p.H) {
            finish_unit(t, b, dir, j0 + u, vec4<f32>(pre[u] + b_hh[dir * p.H + j0 + u], 0.0, 0.0, 0.0), hb);
        }
    }
}

@compute @workgroup_size(SG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
    let j0 = (wg.x * SG + lane) * UL;
    let b0 = wg.y * RM;
    let dir = wg.z;
    let hb = dir * p.B * p.Hp4;
    // W_hh[dir] rows of the lane's units (clamped: lanes past H load valid rows, store nothing)
    let w0 = (dir * p.H + min(j0, p.H - 1u)) * p.Hp4;
    let w1 = (dir * p.H + min(j0 + 1u, p.H - 1u)) * p.Hp4;
    let w2 = (dir * p.H + min(j0 + 2u, p.H - 1u)) * p.Hp4;
    let w3 = (dir * p.H + min(j0 + 3u, p.H - 1u)) * p.Hp4;
    let row$g = hb + min(b0 + $gu * SG + lane, p.B - 1u) * p.Hp4;

    var a$r = vec4<f32>(0.0);
    for (var k = 0u; k < p.Hp4; k++) {
        let wm = mat4x4<f32>(ld4(w_hh[w0 + k]), ld4(w_hh[w1 + k]), ld4(w_hh[w2 + k]), ld4(w_hh[w3 + k]));
        let h$g = ld4(h_in[row$g + k]);
        a$r += subgroupBroadcast(h$g, $lu) * wm;
    }
    if (j0 >= p.H) {
        return;
    }
    let t = time_of(p, dir, p.step);
    if (b0 + $ru < p.B) { finish_units(t, b0 + $ru, dir, j0, a$r, hb); }
}
