// Backpropagation through the time loop of a linear-recurrence layer (minGRU, minLSTM).
// Backward step q runs the forward step s = T-1-q. With carry c = dL/dh_s through later
// steps (d_h_n at the row's last step), dL/dh_s = dout_s + c, and the carry into step s-1
// is a_s·(dout_s + c): again an affine map c -> a_s·c + a_s·dout_s, so scan_driver.wgsl's
// loops (`sequential`, `chunked`) run it; this file says what a step is. A step writes the
// gate gradients (lin_backward of the cell file); those of padded steps (s >= length, at
// time s) are written as 0, since the weight gradients that follow sum over every row. No
// atomics: each value has one writer.
// The host prepends common.wgsl (BwdParams), the cell file, scan_common.wgsl and SU, SC,
// CHUNK, and appends scan_driver.wgsl.
//
// Buffers (legend in src/spec.rs; Hp = H rounded up to 4, GH = G*H, GHp = GH rounded to 4):
//   xg       [T*B, D*GH]    pre-activations kept by the training forward
//   hprev    [T*B, D*Hp]    h_{t-1} kept by the training forward
//   lengths  [B]
//   dout     [T*B, D*Hp]    dL/d output of this layer
//   dgh      [T*B, D*GHp]   dL/d xg (columns GH..GHp stay 0), then from p.carry_off4 vec4s
//                           the carry [D, B, Hp]: dL/dh_n in, dL/dh0 out
//   dh_seq   [T*B, D*Hp]    dL/dh_t per step (FLAG_TRACE)

@group(0) @binding(0) var<uniform> p: BwdParams;
@group(0) @binding(1) var<storage, read> xg: array<S>;
@group(0) @binding(3) var<storage, read> hprev: array<S>;
@group(0) @binding(6) var<storage, read> lengths: array<u32>;
@group(0) @binding(7) var<storage, read> dout: array<S>;
@group(0) @binding(9) var<storage, read_write> dgh: array<S>;
@group(0) @binding(12) var<storage, read_write> dh_seq: array<S>;

// Index of units j.. of row b, direction dir, time t in the [T*B, D*Hp] sequences.
fn seq_index(t: u32, b: u32, dir: u32, j: u32) -> u32 {
    return ((t * p.B + b) * p.D * p.Hp + dir * p.Hp + j) / U;
}

// The map of backward step q: c -> a·c + a·dout (the identity at padded steps).
fn step_map(q: u32, len: u32, b: u32, dir: u32, j: u32) -> Affine {
    let s = p.T - 1u - q;
    if (s >= len) {
        return Affine(S(1.0), S(0.0));
    }
    let t = scan_time(dir, s, len);
    let a = lin_coeffs(pre_activations(t, b, dir, j)).a;
    return Affine(a, a * dout[seq_index(t, b, dir, j)]);
}

// Runs backward step q from the carry c, writes the step's gate gradients (and dL/dh_t);
// returns the carry into the step before.
fn run_step(q: u32, len: u32, b: u32, dir: u32, j: u32, c: S) -> S {
    let s = p.T - 1u - q;
    let GHp = p.GHp4 * 4u;
    let t = select(scan_time(dir, s, len), s, s >= len);
    let g0 = (t * p.B + b) * p.D * GHp + dir * GHp + j;
    let o = seq_index(t, b, dir, j);
    if (s >= len) {
        dgh[g0 / U] = S(0.0);
        dgh[(g0 + p.H) / U] = S(0.0);
        if (G > 2u) {
            dgh[(g0 + 2u * p.H) / U] = S(0.0);
        }
        if ((p.flags & FLAG_TRACE) != 0u) {
            dh_seq[o] = S(0.0);
        }
        return c;
    }
    let dh = dout[o] + c;
    if ((p.flags & FLAG_TRACE) != 0u) {
        dh_seq[o] = dh;
    }
    let v = pre_activations(t, b, dir, j);
    let dv = lin_backward(v, hprev[o], dh);
    dgh[g0 / U] = dv.g0;
    dgh[(g0 + p.H) / U] = dv.g1;
    if (G > 2u) {
        dgh[(g0 + 2u * p.H) / U] = dv.g2;
    }
    return lin_coeffs(v).a * dh;
}

// Where the carry of units j.. of row b, direction dir lives in dgh.
fn carry_index(b: u32, dir: u32, j: u32) -> u32 {
    return (p.carry_off4 * 4u + (dir * p.B + b) * p.Hp + j) / U;
}

fn load_state(b: u32, dir: u32, j: u32) -> S {
    return dgh[carry_index(b, dir, j)];
}

fn store_state(b: u32, dir: u32, j: u32, c: S) {
    dgh[carry_index(b, dir, j)] = c;
}
