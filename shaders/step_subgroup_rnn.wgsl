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

// The epilogue of the UL units j0.. of row b (pre = W_hh·h + b_hh): finish_unit for 4
// units at once, so h_{t-1}, the row's length and h_t are one vec4 access each instead of
// one per unit (on lavapipe the epilogue's loads and stores cost about what the W_hh·h
// loop's do at rnn-b64). Units past H keep h = 0 and write nothing else.
fn finish_units(t: u32, b: u32, dir: u32, j0: u32, pre: vec4<f32>, hb: u32, len: u32) {
    let hp = p.Hp4 * 4u;
    let hi = hb + b * p.Hp4 + j0 / 4u;
    let h_prev = ld4(h_in[hi]);
    let o = (t * p.B + b) * p.out_ld + dir * hp + j0;
    let n = min(UL, p.H - j0);
    let flags = p.flags;
    if (t < len) {
        let xrow = (t * p.B + b) * p.D * p.H + dir * p.H + j0;
        // loops over the constant UL (unrolled), units past H skipped
        var h = vec4<f32>(0.0);
        var x = vec4<f32>(0.0);
        for (var u = 0u; u < UL; u++) {
            if (u < n) {
                x[u] = xg[xrow + u];
                h[u] = cell_update(vec4<f32>(x[u], 0.0, 0.0, 0.0), vec4<f32>(pre[u], 0.0, 0.0, 0.0), h_prev[u], 0.0).x;
            }
        }
        // the reserve (keep_reserve in step.wgsl): hg, or in 16 bits the sum xg + hg
        let kept = select(pre, x + pre, SAVED16);
        let srow = saved_row(t, b, p.B) * p.D * p.H + dir * p.H + j0;
        h_state[hi] = h;
        for (var u = 0u; u < UL; u++) {
            if (u >= n) {
                break;
            }
            if ((flags & FLAG_WRITE_OUT) != 0u) {
                out[o + u] = h[u];
            }
            if ((flags & FLAG_TRAIN) != 0u) {
                hg_seq[srow + u] = saved_word(hg_seq[srow + u], kept[u], t);
                hprev_seq[o + u] = h_prev[u];
            }
        }
    } else {
        h_state[hi] = h_prev;
        for (var u = 0u; u < UL; u++) {
            if (u >= n) {
                break;
            }
            if ((flags & FLAG_WRITE_OUT) != 0u) {
                out[o + u] = 0.0;
            }
            if ((flags & FLAG_TRAIN) != 0u) {
                hprev_seq[o + u] = 0.0;
            }
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
        let wm = mat4x4<f32>(ldw4(w_hh[w0 + k]), ldw4(w_hh[w1 + k]), ldw4(w_hh[w2 + k]), ldw4(w_hh[w3 + k]));
        let h$g = ld4(h_in[row$g + k]);
        a$r += subgroupBroadcast(h$g, $lu) * wm;
    }
    // The rows' lengths: RM/SG loads per lane, broadcast (before any lane returns), rather
    // than one load per row in the epilogue.
    var lens: array<u32, RM>;
    let len$g = lengths[min(b0 + $gu * SG + lane, p.B - 1u)];
    lens[$ru] = subgroupBroadcast(len$g, $lu);
    if (j0 >= p.H) {
        return;
    }
    let t = time_of(p, dir, p.step);
    // b_hh of the lane's units (clamped: units past H are not stored)
    var bh = vec4<f32>(0.0);
    for (var u = 0u; u < UL; u++) {
        bh[u] = b_hh[dir * p.H + min(j0 + u, p.H - 1u)];
    }
    // The epilogue as one loop over the rows (see step_subgroup.wgsl).
    var pre: array<vec4<f32>, RM>;
    pre[$ru] = a$r;
    let rows = min(RM, p.B - b0);
    for (var r = 0u; r < rows; r++) {
        finish_units(t, b0 + r, dir, j0, pre[r] + bh, hb, lens[r]);
    }
}
