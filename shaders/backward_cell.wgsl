// Bindings and the per-unit epilogue shared by the backward-step kernels (backward_step,
// backward_step_subgroup); the host prepends common.wgsl and the cell file. The epilogue
// completes dL/dh_t of one unit of one batch row from the kernel's W_hhᵀ·dGh part, then
// recomputes the cell's gates from the stored pre-activations and writes the gate
// gradients dGx (w.r.t. W_ih·x + b_ih) and dGh (w.r.t. W_hh·h + b_hh) of step t, the carry
// dh_carry = dL/dh_{t-1} minus its W_hh part, and dc = dL/dc_{t-1}. Backward step s runs
// time t = T-1-s (dir 0) or t = s (dir 1); the extra step s = T only completes dh, which
// then is dL/dh0. Padded steps (t >= length) pass dh and dc through unchanged.
//
// Buffers (legend in src/spec.rs; GH = G*H, GHp = GH rounded up to 4):
//   xg, hg      [T*B, D*GH]   pre-activations stored by the training forward
//   hprev       [T*B, D*Hp]   h_{t-1};  cprev [T*B, D*H] c_{t-1} (LSTM)
//   w_hh        [D, GH, Hp]   the model's recurrent weights as the forward reads them
//                             (vec4 rows over units; read in place, never copied)
//   dout        [T*B, D*Hp]   dL/d output of this layer
//   dgx, dgh    [T*B, D*GHp]  gate gradients (dgh read as vec4 rows by the next step;
//                             columns GH..GHp are never written and stay 0)
//   dh_carry    [D, B, Hp];   dc [D, B, H]

struct BwdParams {
    T: u32,
    B: u32,
    H: u32,
    Hp: u32,
    D: u32,
    step: u32,
    GHp4: u32,
    pad: u32,
}

@group(0) @binding(0) var<uniform> p: BwdParams;
@group(0) @binding(1) var<storage, read> xg: array<f32>;
@group(0) @binding(2) var<storage, read> hg: array<f32>;
@group(0) @binding(3) var<storage, read> hprev: array<f32>;
@group(0) @binding(4) var<storage, read> cprev: array<f32>;
@group(0) @binding(5) var<storage, read> w_hh: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read> lengths: array<u32>;
@group(0) @binding(7) var<storage, read> dout: array<f32>;
@group(0) @binding(8) var<storage, read_write> dgx: array<f32>;
@group(0) @binding(9) var<storage, read_write> dgh: array<vec4<f32>>;
@group(0) @binding(10) var<storage, read_write> dh_carry: array<f32>;
@group(0) @binding(11) var<storage, read_write> dc: array<f32>;

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
        w_hh[base + min(n, last) * hp4],
        w_hh[base + min(n + 1u, last) * hp4],
        w_hh[base + min(n + 2u, last) * hp4],
        w_hh[base + min(n + 3u, last) * hp4],
    );
}

// Epilogue for unit k of batch row b: acc is (W_hhᵀ·dGh_{t_prev})[b, k].
fn backward_unit(s: u32, dir: u32, b: u32, k: u32, acc: f32) {
    let GH = G * p.H;
    let t = bwd_time(dir, s);
    let row_ld = p.D * p.GHp4;                                   // vec4 per dgh row
    let si = (dir * p.B + b) * p.Hp + k;
    let ci = (dir * p.B + b) * p.H + k;
    var dh = acc + dh_carry[si];
    let valid = s < p.T && t < lengths[b];
    if (!valid) {
        dh_carry[si] = dh;
        if (s < p.T) {
            let grow = (t * p.B + b) * row_ld * 4u + dir * p.GHp4 * 4u + k;
            for (var g = 0u; g < G; g++) {
                dgx[grow + g * p.H] = 0.0;
                dgh[(grow + g * p.H) / 4u][(grow + g * p.H) % 4u] = 0.0;
            }
        }
        return;
    }
    dh += dout[(t * p.B + b) * p.D * p.Hp + dir * p.Hp + k];
    let xrow = (t * p.B + b) * p.D * GH + dir * GH + k;
    var x = vec4<f32>(0.0);
    var hh = vec4<f32>(0.0);
    for (var g = 0u; g < G; g++) {
        x[g] = xg[xrow + g * p.H];
        hh[g] = hg[xrow + g * p.H];
    }
    let h_prev = hprev[(t * p.B + b) * p.D * p.Hp + dir * p.Hp + k];
    var c_prev = 0.0;
    var dcv = 0.0;
    if (HAS_C) {
        c_prev = cprev[(t * p.B + b) * p.D * p.H + dir * p.H + k];
        dcv = dc[ci];
    }
    let cg = cell_backward(x, hh, h_prev, c_prev, dh, dcv);
    let grow = (t * p.B + b) * row_ld * 4u + dir * p.GHp4 * 4u + k;
    for (var g = 0u; g < G; g++) {
        let i = grow + g * p.H;
        dgx[i] = cg.d_xg[g];
        dgh[i / 4u][i % 4u] = cg.d_hg[g];
    }
    dh_carry[si] = cg.dh_direct;
    if (HAS_C) {
        dc[ci] = cg.dc_prev;
    }
}
