// Shared definitions prepended to every recurrent kernel: activations and the per-call
// parameters of the step kernels.

fn sigmoid(x: f32) -> f32 {
    return 1.0 / (1.0 + exp(-x));
}

// x is NaN, written as !(x == x): on lavapipe `x != x` was false for NaN (measured).
fn is_nan(x: f32) -> bool {
    return !(x == x);
}

// tanh saturates to ±1 in f32 beyond |x| = 9.1; clamping keeps drivers whose tanh goes
// through exp from overflowing to NaN. A NaN argument stays NaN (clamp would make it ±15).
fn tanh_safe(x: f32) -> f32 {
    return select(tanh(clamp(x, -15.0, 15.0)), x, is_nan(x));
}

// max(x, 0) that keeps NaN (max's result for NaN is undefined and often 0).
fn relu(x: f32) -> f32 {
    return select(max(x, 0.0), x, is_nan(x));
}

// Shapes of one recurrent layer; `step` is the timestep counter s (dir 0 runs t = s,
// dir 1 runs t = T-1-s). One entry per step, selected with a dynamic offset.
struct StepParams {
    T: u32,
    B: u32,
    H: u32,
    Hp4: u32,      // Hp/4, Hp = H rounded up to 4 (row stride of W_hh and h)
    D: u32,
    step: u32,
    out_ld: u32,   // row stride of out: D*Hp
    flags: u32,    // FLAG_WRITE_OUT | FLAG_TRAIN
    cprev_off: u32, // where cprev_seq starts in hg_seq (floats; training's reserve)
    pad0: u32,
    pad1: u32,
    pad2: u32,
}

const FLAG_WRITE_OUT: u32 = 1u;   // write the output sequence
const FLAG_TRAIN: u32 = 2u;       // keep hg, h_prev, c_prev per step for backward

// Shapes of one backward step (backward_cell.wgsl, scan_backward.wgsl).
struct BwdParams {
    T: u32,
    B: u32,
    H: u32,
    Hp: u32,
    D: u32,
    step: u32,
    GHp4: u32,
    flags: u32,   // FLAG_TRACE: record dL/dh_t, dL/dc_t per step in dh_seq, dc_seq
    // Offsets of the buffers that share another's binding (so that the kernel fits
    // WebGPU's limit of storage buffers per stage): cprev in hg (floats), dh_carry in
    // dgh and dc_seq in dh_seq (vec4s).
    cprev_off: u32,
    carry_off4: u32,
    dc_seq_off4: u32,
    pad0: u32,
}

const FLAG_TRACE: u32 = 1u;

// Gradients of one cell step for one unit (see cell_backward in the cell files).
struct CellGrad {
    d_xg: vec4<f32>,
    d_hg: vec4<f32>,
    dh_direct: f32,
    dc_prev: f32,
}

// Time index of direction `dir` at step s.
fn time_of(p: StepParams, dir: u32, s: u32) -> u32 {
    return select(s, p.T - 1u - s, dir == 1u);
}

