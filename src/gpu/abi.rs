//! What the host and the WGSL kernels must agree on, in one place: the uniform blocks
//! (`#[repr(C)]` twins of the WGSL structs), the flag bits, and each kernel's binding list.
//! `tests/shaders.rs` checks every kernel permutation against these with naga.
//!
//! Depends on nothing else in the engine.

/// How a kernel sees one binding of its single bind group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Binding {
    /// A uniform block, optionally selected per dispatch with a dynamic offset.
    Uniform {
        /// Whether the block is one entry of a larger buffer, chosen per dispatch.
        dynamic: bool,
    },
    /// A read-only storage buffer (`var<storage, read>`).
    Read,
    /// A read-write storage buffer (`var<storage, read_write>`).
    ReadWrite,
}

/// Storage buffers in a binding list: what `max_storage_buffers_per_shader_stage` must allow.
pub const fn storage_buffers(bindings: &[Binding]) -> u32 {
    let mut n = 0;
    let mut i = 0;
    while i < bindings.len() {
        if !matches!(bindings[i], Binding::Uniform { .. }) {
            n += 1;
        }
        i += 1;
    }
    n
}

const U: Binding = Binding::Uniform { dynamic: false };
const UD: Binding = Binding::Uniform { dynamic: true };
const R: Binding = Binding::Read;
const W: Binding = Binding::ReadWrite;

/// gemm_*.wgsl: params, a, b, bias (read), c.
pub const GEMM_BINDINGS: [Binding; 5] = [U, R, R, R, W];

/// step*.wgsl and the persistent kernels: params (per step), xg, w_hh, b_hh, lengths (read),
/// h_state, c_state, out, then the reserve space hg_seq, hprev_seq, cprev_seq (read-write),
/// h_in (read). cprev_seq lives in hg_seq's buffer (`StepParams::cprev_off`), so the WGSL
/// declares 10 storage bindings (WebGPU adapters allow as few as 8 or 10).
pub const STEP_BINDINGS: [Binding; 12] = [UD, R, R, R, R, W, W, W, W, W, W, R];

/// step_fused_subgroup.wgsl at inference: params, x_in, w_ih, b_ih, w_hh, b_hh, lengths
/// (read), h_in, h_state, c_state, out (read-write; the persistent entry point binds h_in
/// and h_state to one buffer).
pub const FUSED_STEP_BINDINGS: [Binding; 11] = fused_bindings();

/// FUSED_STEP_BINDINGS, then the reserve space xg, hg, hprev, cprev (read-write).
pub const FUSED_TRAIN_BINDINGS: [Binding; 15] = fused_bindings();

/// A dynamic uniform, the fused step's 6 read-only bindings, then read-write ones.
const fn fused_bindings<const N: usize>() -> [Binding; N] {
    let mut b = [W; N];
    b[0] = UD;
    let mut i = 1;
    while i <= 6 {
        b[i] = R;
        i += 1;
    }
    b
}

/// backward_step*.wgsl and persistent_backward_subgroup.wgsl: params (per step), xg, hg,
/// hprev, cprev, w_hh, lengths, dout (read), dgx, dgh, dh_carry, dc, then the per-step trace
/// of dL/dh_t and dL/dc_t (read-write). cprev lives in hg's buffer, dh_carry in dgh's and
/// the dc trace in the dh trace's (offsets in `BwdParams`): the WGSL declares 10 storage
/// bindings, not 13, and a kernel's layout holds only the bindings its WGSL declares.
pub const BWD_BINDINGS: [Binding; 14] = [UD, R, R, R, R, R, R, R, W, W, W, W, W, W];

/// weight_grad*.wgsl: params, a, b (read), c (or the per-segment partials).
pub const WGRAD_BINDINGS: [Binding; 4] = [U, R, R, W];

/// weight_grad_reduce.wgsl: params, partials (read), dw, db.
pub const REDUCE_BINDINGS: [Binding; 4] = [U, R, W, W];

/// colsum.wgsl: params, a (read), c.
pub const COLSUM_BINDINGS: [Binding; 3] = [U, R, W];

/// gemm_nn*.wgsl: params, a, b (read), c.
pub const NN_BINDINGS: [Binding; 4] = [U, R, R, W];

/// loss.wgsl: params, logits, classes, targets (read), dlogits, row_loss.
pub const LOSS_BINDINGS: [Binding; 6] = [U, R, R, R, W, W];

/// head_grad.wgsl: params, dlogits, h, w_y (read), dw_y, db_y, dh.
pub const HEAD_BINDINGS: [Binding; 7] = [U, R, R, R, W, W, W];

/// grad_norm.wgsl: params, gradient (read), partials, stats.
pub const NORM_BINDINGS: [Binding; 4] = [U, R, W, W];

/// pack_weights.wgsl: params, master (read), packed.
pub const PACK_BINDINGS: [Binding; 3] = [U, R, W];

/// optim.wgsl: params, param (read-write), grad (read), m, v (read-write), stats (read).
pub const OPTIM_BINDINGS: [Binding; 6] = [U, W, R, W, W, R];

/// StepParams.flags: write the layer's output sequence.
pub const FLAG_WRITE_OUT: u32 = 1;
/// StepParams.flags: keep the reserve space (hg, h_{t-1}, c_{t-1} per step) for backward.
pub const FLAG_TRAIN: u32 = 2;
/// BwdParams.flags: record dL/dh_t and dL/dc_t of every step.
pub const FLAG_TRACE: u32 = 1;

/// The WGSL flag constants and their host values, checked by tests/shaders.rs.
pub const WGSL_FLAGS: [(&str, u32); 3] =
    [("FLAG_WRITE_OUT", FLAG_WRITE_OUT), ("FLAG_TRAIN", FLAG_TRAIN), ("FLAG_TRACE", FLAG_TRACE)];

/// One recurrent step (common.wgsl): shapes, the step counter and flags.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct StepParams {
    /// T
    pub t: u32,
    /// B
    pub b: u32,
    /// H
    pub h: u32,
    /// Hp/4
    pub hp4: u32,
    /// D
    pub d: u32,
    /// the step counter s (direction 1 runs t = T-1-s), or a persistent chunk's first step
    pub step: u32,
    /// row stride of the output: D*Hp
    pub out_ld: u32,
    /// FLAG_WRITE_OUT | FLAG_TRAIN
    pub flags: u32,
    /// training: where c_{t-1} starts in the hg reserve buffer (floats, a multiple of 4)
    pub cprev_off: u32,
    /// padding to 16 bytes
    pub pad: [u32; 3],
}

/// One step of the fused kernel (step_fused_subgroup.wgsl).
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct FusedParams {
    /// as for the unfused step
    pub step: StepParams,
    /// Kp/4 of the layer's input
    pub kp4: u32,
    /// padding to 16 bytes
    pub pad: [u32; 3],
}

/// The input-projection GEMM C[M, N] = A[M, K]·B[N, K]ᵀ + bias (gemm_common.wgsl).
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct GemmParams {
    /// M
    pub m: u32,
    /// N
    pub n: u32,
    /// Kp/4
    pub kp4: u32,
    /// padding
    pub pad: u32,
}

/// One backward step (backward_cell.wgsl).
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct BwdParams {
    /// T
    pub t: u32,
    /// B
    pub b: u32,
    /// H
    pub h: u32,
    /// Hp
    pub hp: u32,
    /// D
    pub d: u32,
    /// the backward step counter
    pub step: u32,
    /// GHp/4
    pub ghp4: u32,
    /// FLAG_TRACE
    pub flags: u32,
    /// where c_{t-1} starts in the hg reserve buffer (floats, a multiple of 4)
    pub cprev_off: u32,
    /// where dh_carry starts in dgh (vec4s)
    pub carry_off4: u32,
    /// where the dL/dc_t trace starts in the dL/dh_t trace buffer (vec4s)
    pub dc_seq_off4: u32,
    /// padding to 16 bytes
    pub pad: u32,
}

/// dW = Aᵀ·B over R rows (weight_grad.wgsl).
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct WgradParams {
    /// rows R
    pub r: u32,
    /// N1 (rows of dW)
    pub n1: u32,
    /// N2 (columns of dW)
    pub n2: u32,
    /// row stride of A / 4
    pub lda4: u32,
    /// row stride of B / 4
    pub ldb4: u32,
    /// column offset into A / 4
    pub a_off4: u32,
    /// column offset into B / 4
    pub b_off4: u32,
    /// offset of this block in dW
    pub c_off: u32,
}

/// The subgroup weight gradient, per row segment (weight_grad_subgroup.wgsl).
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct WgradSgParams {
    /// rows R
    pub r: u32,
    /// N1
    pub n1: u32,
    /// N2
    pub n2: u32,
    /// row stride of A / 4
    pub lda4: u32,
    /// row stride of B / 4
    pub ldb4: u32,
    /// column offset into A / 4
    pub a_off4: u32,
    /// column offset into B / 4
    pub b_off4: u32,
    /// rows per segment
    pub rs: u32,
    /// floats per partial
    pub part_ld: u32,
    /// padding
    pub pad: [u32; 3],
}

/// The fixed-order sum of the weight-gradient partials (weight_grad_reduce.wgsl).
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct ReduceParams {
    /// segments S
    pub s: u32,
    /// floats per partial / 4
    pub part_ld4: u32,
    /// N1*N2
    pub nc: u32,
    /// N1
    pub n1: u32,
    /// offset into dW
    pub c_off: u32,
    /// offset into db
    pub db_off: u32,
    /// padding
    pub pad: [u32; 2],
}

/// dX = dG·W (gemm_nn_common.wgsl).
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct NnParams {
    /// rows M
    pub m: u32,
    /// columns of C / 4
    pub n4: u32,
    /// D
    pub d: u32,
    /// G*H
    pub gh: u32,
    /// GHp/4
    pub ghp4: u32,
    /// padding
    pub pad: [u32; 3],
}

/// Column sums (colsum.wgsl).
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct ColsumParams {
    /// rows R
    pub r: u32,
    /// columns summed
    pub n: u32,
    /// row stride of A
    pub lda: u32,
    /// column offset into A
    pub a_off: u32,
    /// offset into C
    pub c_off: u32,
    /// padding
    pub pad: [u32; 3],
}

/// The loss over the head's logits (loss.wgsl).
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct LossParams {
    /// rows R
    pub r: u32,
    /// outputs O
    pub o: u32,
    /// O rounded up to 4
    pub op: u32,
    /// 1: mean squared error, 0: cross-entropy
    pub mse: u32,
    /// 1/R (cross-entropy) or 1/(R·O) (MSE)
    pub inv_count: f32,
    /// padding
    pub pad: [u32; 3],
}

/// The head's gradients (head_grad.wgsl).
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct HeadParams {
    /// rows R
    pub r: u32,
    /// Op/4
    pub op4: u32,
    /// Kp/4
    pub kp4: u32,
    /// padding
    pub pad: u32,
}

/// The global gradient norm (grad_norm.wgsl).
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct NormParams {
    /// elements of this gradient buffer (partial) or partials (finish)
    pub n: u32,
    /// first partial of this buffer
    pub slot: u32,
    /// row_loss entries (finish)
    pub rows: u32,
    /// clipping threshold; <= 0: none
    pub max_norm: f32,
}

/// One pack of an f32 weight matrix into 16 bits (pack_weights.wgsl).
#[repr(C)]
#[derive(Clone, Copy, Default, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct PackParams {
    /// vec4 chunks
    pub n4: u32,
    /// std140 padding
    pub pad: [u32; 3],
}

/// One optimizer update (optim.wgsl).
#[repr(C)]
#[derive(Clone, Copy, Default, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct OptParams {
    /// elements
    pub n: u32,
    /// 0 SGD, 1 Adagrad, 2 Adam
    pub kind: u32,
    /// learning rate
    pub lr: f32,
    /// SGD momentum, or Adam's beta1
    pub momentum: f32,
    /// Adam's beta2
    pub beta2: f32,
    /// Adagrad's and Adam's eps
    pub eps: f32,
    /// Adam's bias correction 1 - beta1^t
    pub bc1: f32,
    /// Adam's bias correction 1 - beta2^t
    pub bc2: f32,
    /// elementwise clipping bound (0: none)
    pub clip_value: f32,
    /// padding
    pub pad: [u32; 3],
}
