// Persistent recurrent kernel with register-resident weights, for small problems on
// adapters with subgroups: one workgroup owns direction wg.y and the batch slice of BS rows
// starting at BS*wg.x and loops over all T steps inside the kernel. Invocation j owns hidden
// unit j: its G rows of W_hh live in private memory for the whole sequence, its c in private
// memory, and h in workgroup memory (ping-pong halves, barrier between steps). Each step
// every lane loads one vec4 chunk of h and the subgroup broadcasts it, so the inner loop
// reads no storage at all. One dispatch runs steps p.step .. min(p.step + CHUNK, T),
// reading h from h_in, c from c_state, and leaving them where a per-step kernel would (h
// in h_state). Uses the bindings of step.wgsl, and with FLAG_TRAIN writes the same
// reserve space as finish_unit (training's forward for small batches). The host prepends
// BS, WGP (H rounded up to 32), HP4 (Hp/4 rounded up to 8), HS4 = BS*HP4, HS2 = 2*HS4 and
// CHUNK.

var<workgroup> hs: array<vec4<f32>, HS2>;   // [2, BS, HP4*4]

// Unit j's W_hh chunk k as in w_cols, zero for pad chunks past Hp4.
fn w_chunk(dir: u32, j: u32, k: u32) -> mat4x4<f32> {
    if (k < p.Hp4) {
        return w_cols(dir, j, k);
    }
    return mat4x4<f32>(vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0));
}

@compute @workgroup_size(WGP)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32,
        @builtin(subgroup_invocation_id) sl: u32) {
    let dir = wg.y;
    let b0 = wg.x * BS;
    let nb = min(BS, p.B - b0);
    let j = li;
    let jw = min(j, p.H - 1u);
    let q = sl % 8u;

    // One named matrix per chunk (the host unrolls the `$` lines over the HP4 chunks: `$r`
    // = chunk, `$g` its group of 8, `$l` its lane). An array indexed by a loop counter lives
    // in lavapipe's scratch memory, read with one gather per lane: measured at lstm-b1 fwd,
    // 71-101 ms per call with the array against 43-50 ms with named matrices (3 alternating
    // runs).
    let w$r = w_chunk(dir, jw, $ru);
    var c: array<f32, BS>;
    for (var r = 0u; r < BS; r++) {
        c[r] = 0.0;
        if (HAS_C && r < nb) {
            c[r] = c_state[(dir * p.B + b0 + r) * p.H + jw];
        }
    }
    let bh = hh_bias(dir, jw);
    let first = p.step;
    let end = min(first + CHUNK, p.T);
    let half = (first & 1u) * HS4;
    // Both halves: rows past the batch and pad chunks must read as 0.
    for (var i = li; i < HS2; i += WGP) {
        let r = (i % HS4) / HP4;
        let k = i % HP4;
        var v = vec4<f32>(0.0);
        if (i >= half && i < half + HS4 && r < nb && k < p.Hp4) {
            v = ld4(h_in[((dir * p.B) + b0 + r) * p.Hp4 + k]);
        }
        hs[i] = v;
    }
    workgroupBarrier();

    for (var s = first; s < end; s++) {
        let cur = (s & 1u) * HS4;
        let nxt = HS4 - cur;
        let t = time_of(p, dir, s);
        for (var r = 0u; r < BS; r++) {
            let row = cur + r * HP4;
            var acc = vec4<f32>(0.0);
            let hv$g = hs[row + $gu * 8u + q];
            acc += subgroupBroadcast(hv$g, $lu) * w$r;
            if (r < nb && j < p.H) {
                let b = b0 + r;
                let h_prev = hs[row + j / 4u][j % 4u];
                var h_new = h_prev;
                var y = 0.0;
                if (t < lengths[b]) {
                    var x = vec4<f32>(0.0);
                    let xrow = (t * p.B + b) * p.D * G * p.H + dir * G * p.H + j;
                    for (var g = 0u; g < G; g++) {
                        x[g] = xg[xrow + g * p.H];
                    }
                    let hg = acc + bh;
                    let hc = cell_update(x, hg, h_prev, c[r]);
                    if ((p.flags & FLAG_TRAIN) != 0u) {
                        keep_reserve(t, b, dir, j, x, hg, h_prev, c[r]);
                    }
                    c[r] = hc.y;
                    h_new = hc.x;
                    y = hc.x;
                } else if ((p.flags & FLAG_TRAIN) != 0u) {
                    hprev_seq[(t * p.B + b) * p.out_ld + dir * p.Hp4 * 4u + j] = 0.0;
                }
                hs[nxt + r * HP4 + j / 4u][j % 4u] = h_new;
                if ((p.flags & FLAG_WRITE_OUT) != 0u) {
                    out[(t * p.B + b) * p.out_ld + dir * p.Hp4 * 4u + j] = y;
                }
            }
        }
        workgroupBarrier();
    }

    // States where a per-step kernel leaves them: h in h_state, c in c_state.
    let last = (end & 1u) * HS4;
    let dst = (dir * p.B + b0) * p.Hp4;
    for (var i = li; i < nb * p.Hp4; i += WGP) {
        h_state[dst + i] = hs[last + (i / p.Hp4) * HP4 + i % p.Hp4];
    }
    for (var r = 0u; r < nb; r++) {
        if (HAS_C && j < p.H) {
            c_state[(dir * p.B + b0 + r) * p.H + j] = c[r];
        }
    }
}
