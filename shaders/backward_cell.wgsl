// Bindings and the epilogue shared by the backward-step kernels (backward_step,
// backward_step_subgroup); the host prepends common.wgsl, the cell file and one of
// backward_io_{aligned,unaligned}.wgsl. The epilogue works on 4 consecutive hidden units
// of one batch row at once (vec4 loads and stores where the layout allows: on lavapipe a
// vec4 load costs what a scalar one does). It completes dL/dh_t from the kernel's
// W_hhᵀ·dGh part, then
// recomputes the cell's gates from the stored pre-activations and writes the gate
// gradients dGx (w.r.t. W_ih·x + b_ih) and dGh (w.r.t. W_hh·h + b_hh) of step t, the carry
// dh_carry = dL/dh_{t-1} minus its W_hh part, and dc = dL/dc_{t-1}. Backward step s runs
// time t = T-1-s (dir 0) or t = s (dir 1); the extra step s = T only completes dh, which
// then is dL/dh0. Padded steps (t >= length) pass dh and dc through unchanged.
//
// Buffers (legend in src/spec.rs; GH = G*H, GHp = GH rounded up to 4):
//   xg, hg      [T*B, D*GH]   pre-activations stored by the training forward; in 16 bits
//                             (reserve_16.wgsl) hg holds what the gates are recomputed
//                             from and xg is not read (step.wgsl's keep_reserve)
//   hprev       [T*B, D*Hp]   h_{t-1} (vec4 rows, f32);  cprev [T*B, D*H] c_{t-1} (LSTM)
//   w_hh        [D, GH, Hp]   the model's recurrent weights as the forward reads them
//                             (vec4 rows over units; read in place, never copied)
//   dout        [T*B, D*Hp]   dL/d output of this layer (vec4 rows)
//   dgx, dgh    [T*B, D*GHp]  gate gradients (dgh read as vec4 rows by the next step;
//                             columns GH..GHp are never written and stay 0). With SAME_DG
//                             (every cell but GRU) dgx equals dgh: only dgh is written, and
//                             the host binds a stand-in for dgx.
//   dh_carry    [D, B, Hp] (vec4 rows; padding units stay 0);   dc [D, B, H]
// xg, hg, cprev, dgx and dc are bound by the io file: as vec4 arrays when H % 4 == 0 (every
// 4-unit group is then 16-byte aligned), else as f32 arrays read unit by unit.

// BwdParams and FLAG_TRACE are in common.wgsl.

@group(0) @binding(0) var<uniform> p: BwdParams;
@group(0) @binding(3) var<storage, read> hprev: array<V4>;
@group(0) @binding(5) var<storage, read> w_hh: array<W4>;
@group(0) @binding(6) var<storage, read> lengths: array<u32>;
@group(0) @binding(7) var<storage, read> dout: array<V4>;
@group(0) @binding(9) var<storage, read_write> dgh: array<vec4<f32>>;
@group(0) @binding(12) var<storage, read_write> dh_seq: array<vec4<f32>>;   // [T*B, D*Hp]

// Time of backward step s in direction dir (wraps for s = T: then unused).
fn bwd_time(dir: u32, s: u32) -> u32 {
    return select(p.T - 1u - s, s, dir == 1u);
}

// Time of the previous backward step, whose dGh rows feed dh (valid when s > 0).
fn bwd_time_prev(dir: u32, s: u32) -> u32 {
    return select(p.T - s, s - 1u, dir == 1u);
}

// W_hh[dir] rows n..n+4 at column chunk kq as the columns of a matrix, so that
// m * dg = Σ_i dg[i]·W_hh[n+i, 4kq..4kq+4]. Rows past GH (whose dG entries are the zero
// padding of dgh) are clamped to a valid row.
fn w_rows(dir: u32, n: u32, kq: u32) -> mat4x4<f32> {
    let GH = G * p.H;
    let hp4 = p.Hp / 4u;
    let base = dir * GH * hp4 + kq;
    let last = GH - 1u;
    return mat4x4<f32>(
        ldw4(w_hh[base + min(n, last) * hp4]),
        ldw4(w_hh[base + min(n + 1u, last) * hp4]),
        ldw4(w_hh[base + min(n + 2u, last) * hp4]),
        ldw4(w_hh[base + min(n + 3u, last) * hp4]),
    );
}

// Epilogue for units k0..k0+4 (k0 a multiple of 4, k0 < H) of batch row b: acc is
// (W_hhᵀ·dGh_{t_prev})[b, k0..k0+4]. Units past H compute on zeros and store nothing
// (dh_carry's padding gets 0).
fn backward_units(s: u32, dir: u32, b: u32, k0: u32, acc: vec4<f32>) {
    let GH = G * p.H;
    let n = min(p.H - k0, 4u);                                    // units < H in this group
    let live = vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(n);
    let t = bwd_time(dir, s);
    let hp4 = p.Hp / 4u;
    let si = (dir * p.B + b) * hp4 + k0 / 4u;
    let ci = (dir * p.B + b) * p.H + k0;
    let grow = (t * p.B + b) * p.D * p.GHp4 * 4u + dir * p.GHp4 * 4u + k0;
    var dh = acc + dgh[p.carry_off4 + si];
    let valid = s < p.T && t < lengths[b];
    if (!valid) {
        dgh[p.carry_off4 + si] = dh;
        if (s < p.T && (p.flags & FLAG_TRACE) != 0u) {
            let row4 = ((t * p.B + b) * p.D + dir) * hp4 + k0 / 4u;
            dh_seq[row4] = vec4<f32>(0.0);
            dh_seq[p.dc_seq_off4 + row4] = vec4<f32>(0.0);
        }
        if (s < p.T) {
            for (var g = 0u; g < G; g++) {
                if (!SAME_DG) {
                    st_dgx(grow + g * p.H, vec4<f32>(0.0), n);
                }
                st_dgh(grow + g * p.H, vec4<f32>(0.0), n);
            }
        }
        return;
    }
    let row4 = ((t * p.B + b) * p.D + dir) * hp4 + k0 / 4u;       // in hprev and dout
    dh += ld4(dout[row4]);
    let xrow = (t * p.B + b) * p.D * GH + dir * GH + k0;
    let srow = saved_row(t, b, p.B);
    let gi = srow * p.D * GH + dir * GH + k0;                     // in hg
    let cpi = srow * p.D * p.H + dir * p.H + k0;                   // in cprev
    // column g: gate g of the 4 units; transposed, column u: the 4 gates of unit u
    var xm = mat4x4<f32>();
    var hm = mat4x4<f32>();
    for (var g = 0u; g < G; g++) {
        if (SAVED16) {
            // hg holds xg + hg, except GRU's n: hg_n, with xg_n in cprev (keep_reserve)
            let v = ld_hg(gi + g * p.H, t, n);
            if (SPLIT_H && g == 2u) {
                xm[g] = ld_cprev(cpi, t, n);
                hm[g] = v;
            } else {
                xm[g] = v;
            }
        } else {
            xm[g] = ld_xg(xrow + g * p.H, n);
            hm[g] = ld_hg(gi + g * p.H, t, n);
        }
    }
    let xt = transpose(xm);
    let ht = transpose(hm);
    let h_prev = ld4(hprev[row4]);
    var c_prev = vec4<f32>(0.0);
    var dcv = vec4<f32>(0.0);
    if (HAS_C) {
        c_prev = ld_cprev(cpi, t, n);
        dcv = ld_dc(ci, n);
    }
    if ((p.flags & FLAG_TRACE) != 0u) {
        dh_seq[row4] = select(vec4<f32>(0.0), dh, live);
        dh_seq[p.dc_seq_off4 + row4] = select(vec4<f32>(0.0), dcv, live);
    }
    var dxm = mat4x4<f32>();
    var dhm = mat4x4<f32>();
    var dh_direct = vec4<f32>(0.0);
    var dc_prev = vec4<f32>(0.0);
    for (var u = 0u; u < 4u; u++) {
        let cg = cell_backward(xt[u], ht[u], h_prev[u], c_prev[u], dh[u], dcv[u]);
        dxm[u] = cg.d_xg;
        dhm[u] = cg.d_hg;
        dh_direct[u] = cg.dh_direct;
        dc_prev[u] = cg.dc_prev;
    }
    let dxt = transpose(dxm);
    let dht = transpose(dhm);
    for (var g = 0u; g < G; g++) {
        if (!SAME_DG) {
            st_dgx(grow + g * p.H, dxt[g], n);
        }
        st_dgh(grow + g * p.H, dht[g], n);
    }
    dgh[p.carry_off4 + si] = select(vec4<f32>(0.0), dh_direct, live);
    if (HAS_C) {
        st_dc(ci, dc_prev, n);
    }
}
