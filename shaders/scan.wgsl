// The time loop of a linear-recurrence layer (minGRU, minLSTM): h_t = a_t ⊙ h_{t-1} + b_t,
// (a_t, b_t) = lin_coeffs of the pre-activations xg at t (the cell file), activated inside
// the loop. The loops themselves (`sequential`, and `chunked`: the parallel scan with
// chunk maps, carry scan and fix-up) are scan_driver.wgsl's; this file says what a step is.
// Products of a_t underflow towards 0 over long chunks, which is the exact answer's limit
// (a_t is in (0, 1)): no rescaling is needed, and A = 0 makes h_in irrelevant.
// The host prepends common.wgsl (StepParams, flags), the cell file, scan_common.wgsl and
// the constants SU, SC, CHUNK, and appends scan_driver.wgsl.
//
// Buffers (legend in src/spec.rs; Hp = H rounded up to 4, GH = G*H):
//   xg        [T*B, D*GH]   pre-activations W_ih·x + b_ih (the projection GEMM's output)
//   lengths   [B]
//   h_in      [D, B, Hp]    h before the dispatch's first step
//   h_state   [D, B, Hp]    h after its last step (the host swaps the two per dispatch)
//   out       [T*B, D*Hp]   h_t, 0 at padded steps (FLAG_WRITE_OUT)
//   hprev_seq [T*B, D*Hp]   h_{t-1} per step, 0 at padded steps (FLAG_TRAIN; the reserve
//                           backward reads, beside xg)
// Step s of a row of length len runs time t = s (dir 0) or len-1-s (dir 1); steps s >= len
// are padding at time s: the identity map, writing zeros.

@group(0) @binding(0) var<uniform> p: StepParams;
@group(0) @binding(1) var<storage, read> xg: array<S>;
@group(0) @binding(4) var<storage, read> lengths: array<u32>;
@group(0) @binding(5) var<storage, read_write> h_state: array<S>;
@group(0) @binding(7) var<storage, read_write> out: array<S>;
@group(0) @binding(9) var<storage, read_write> hprev_seq: array<S>;
@group(0) @binding(11) var<storage, read> h_in: array<S>;

// (a, b) of step s: the identity (1, 0) at padded steps.
fn step_map(s: u32, len: u32, b: u32, dir: u32, j: u32) -> Affine {
    if (s >= len) {
        return Affine(S(1.0), S(0.0));
    }
    return lin_coeffs(pre_activations(scan_time(dir, s, len), b, dir, j));
}

// Runs step s from h and writes what it owes (output, reserve); returns h after it.
fn run_step(s: u32, len: u32, b: u32, dir: u32, j: u32, h: S) -> S {
    let col = dir * p.Hp4 * 4u + j;
    if (s >= len) {
        let o = ((s * p.B + b) * p.out_ld + col) / U;
        if ((p.flags & FLAG_WRITE_OUT) != 0u) {
            out[o] = S(0.0);
        }
        if ((p.flags & FLAG_TRAIN) != 0u) {
            hprev_seq[o] = S(0.0);
        }
        return h;
    }
    let t = scan_time(dir, s, len);
    let ab = lin_coeffs(pre_activations(t, b, dir, j));
    let o = ((t * p.B + b) * p.out_ld + col) / U;
    if ((p.flags & FLAG_TRAIN) != 0u) {
        hprev_seq[o] = h;
    }
    let hn = ab.a * h + ab.b;
    if ((p.flags & FLAG_WRITE_OUT) != 0u) {
        out[o] = hn;
    }
    return hn;
}

fn state_index(b: u32, dir: u32, j: u32) -> u32 {
    return ((dir * p.B + b) * p.Hp4 * 4u + j) / U;
}

fn load_state(b: u32, dir: u32, j: u32) -> S {
    return h_in[state_index(b, dir, j)];
}

fn store_state(b: u32, dir: u32, j: u32, h: S) {
    h_state[state_index(b, dir, j)] = h;
}
