// Persistent recurrent kernel for small problems: one workgroup owns direction wg.y and
// the batch slice of BS rows starting at BS*wg.x, and loops over all T steps inside the
// kernel, keeping h in workgroup memory (ping-pong halves, barrier between steps); one
// dispatch replaces many: it runs steps p.step .. min(p.step + CHUNK, T), reading h from
// h_in and leaving it in h_state, as a per-step kernel would.
// Each invocation computes units (b, j) = li, li+WGP, .. of the slice per step. Uses the
// bindings of step.wgsl, and with FLAG_TRAIN writes the same reserve space as its
// finish_unit (training's forward for small batches, where per-step dispatches cost more
// than the work); the host prepends BS, WGP, HS4 = BS*Hp/4, HS2 and CHUNK.

var<workgroup> hs: array<vec4<f32>, HS2>;   // [2, BS, Hp]; HS2 = 2*HS4

@compute @workgroup_size(WGP)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let dir = wg.y;
    let b0 = wg.x * BS;
    let nb = min(BS, p.B - b0);
    let first = p.step;
    let end = min(first + CHUNK, p.T);
    let half = (first & 1u) * HS4;
    let slice = (dir * p.B + b0) * p.Hp4;   // this slice's rows in h_in and h_state

    // Both halves: rows past the batch and pad columns must read as 0, not stale memory.
    for (var i = li; i < HS2; i += WGP) {
        let bl = (i % HS4) / p.Hp4;
        var v = vec4<f32>(0.0);
        if (i >= half && i < half + HS4 && bl < nb) {
            v = ld4(h_in[slice + i % HS4]);
        }
        hs[i] = v;
    }
    workgroupBarrier();

    for (var s = first; s < end; s++) {
        let cur = (s & 1u) * HS4;
        let nxt = HS4 - cur;
        let t = time_of(p, dir, s);
        for (var idx = li; idx < nb * p.H; idx += WGP) {
            let bl = idx / p.H;
            let j = idx % p.H;
            let b = b0 + bl;
            var acc = vec4<f32>(0.0);
            let row = cur + bl * p.Hp4;
            for (var k = 0u; k < p.Hp4; k++) {
                acc += hs[row + k] * w_cols(dir, j, k);
            }
            let h_prev = hs[row + j / 4u][j % 4u];
            let o = (t * p.B + b) * p.out_ld + dir * p.Hp4 * 4u + j;
            var h_new = h_prev;
            var y = 0.0;
            if (t < lengths[b]) {
                var x = vec4<f32>(0.0);
                let xrow = (t * p.B + b) * p.D * G * p.H + dir * G * p.H + j;
                for (var g = 0u; g < G; g++) {
                    x[g] = xg[xrow + g * p.H];
                }
                let ci = (dir * p.B + b) * p.H + j;
                var c_prev = 0.0;
                if (HAS_C) {
                    c_prev = c_state[ci];
                }
                let hg = acc + hh_bias(dir, j);
                let hc = cell_update(x, hg, h_prev, c_prev);
                if ((p.flags & FLAG_TRAIN) != 0u) {
                    keep_reserve(t, b, dir, j, x, hg, h_prev, c_prev);
                }
                if (HAS_C) {
                    c_state[ci] = hc.y;
                }
                h_new = hc.x;
                y = hc.x;
            } else if ((p.flags & FLAG_TRAIN) != 0u) {
                hprev_seq[o] = 0.0;
            }
            hs[nxt + bl * p.Hp4 + j / 4u][j % 4u] = h_new;
            if ((p.flags & FLAG_WRITE_OUT) != 0u) {
                out[o] = y;
            }
        }
        workgroupBarrier();
    }

    // The state to h_state, where a per-step kernel leaves it.
    let last = (end & 1u) * HS4;
    for (var i = li; i < nb * p.Hp4; i += WGP) {
        h_state[slice + i] = hs[last + i];
    }
}
