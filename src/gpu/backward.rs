//! Training on the GPU: a forward pass that keeps the reserve space (per layer: xg, hg,
//! h_{t-1}, c_{t-1} per step, and the layer output), then backpropagation through time —
//! T+1 fused backward-step dispatches per layer (both directions in each), then the weight
//! gradients as fixed-order reductions over all T*B rows (no atomics: bitwise repeatable)
//! and dL/dx as one GEMM feeding the layer below. One command encoder, one submit.
//! Kernels per variant: subgroup → backward_step_subgroup, weight_grad_subgroup (+ its
//! segment reduce, bias gradients included), gemm_nn_subgroup; register/tiled (and GL,
//! which has no subgroups) → backward_step, weight_grad + colsum, gemm_nn. All read the
//! model's weight buffers directly.
//!
//! Buffers beyond forward.rs's (R = T*B rows; GHp = G*H rounded up to 4):
//!   per layer l: xg_l, hg_l [R, D*G*H]; hprev_l [R, D*Hp]; cprev_l [R, D*H]; out_l [R, D*Hp]
//!                dw_ih_l [D*G*H, Kp_l]; dw_hh_l [D, G*H, Hp]; db_ih_l, db_hh_l [D*G*H]
//!                dx_l [R, Kp_l] (dL/d input of layer l = dL/d out_{l-1})
//!   read in place: the model's w_ih_l [D*G*H, Kp_l] and w_hh_l [D, G*H, Hp] (an optimizer may
//!                update them between calls: backward never keeps a copy)
//!   shared:      dgx, dgh [R, D*GHp] (columns GH..GHp of each direction stay 0; dgx only for
//!                GRU: for the other cells dGx = dGh and dgh serves both); dout [R, D*Hp] (user's dL/d output)
//!                dh_carry [D, B, Hp]; dc [D, B, H]; d_h_n, dh0 [L*D, B, Hp]; d_c_n, dc0 [L*D, B, H]
//!                wpart [S, N1*N2 + N1 rounded to 4]: per row segment, the partial weight and
//!                bias gradients of the subgroup weight-gradient kernel (summed in segment order)

use super::abi::{
    self, BwdParams, ColsumParams, FusedParams, GemmParams, NnParams, ReduceParams, StepParams,
    WgradParams, WgradSgParams, FLAG_TRACE, FLAG_TRAIN, FLAG_WRITE_OUT,
};
use super::context::{Dispatch, Gpu, Kernel};
use super::forward::{pad_rows, step_entries, unpad_rows, GpuModel, Input};
use super::kernels::{
    self, hp, persistent_chunk, persistent_kernel, persistent_subgroup_kernel, step_groups,
    step_kernel, PersistentShape, Variant, GEMM_SUBGROUP_ROWS, SUBGROUP_LANES,
};
use super::shaders;

/// Storage buffers of the backward step kernels.
const BWD_STORAGE: u32 = abi::storage_buffers(&abi::BWD_BINDINGS);
use super::profile::{self, Profiler};
use crate::error::{check_finite, Error, Result};
use crate::weights::Weights;
use std::sync::Arc;

/// Units (one vec4 of a W_hh row) and batch rows per invocation of the backward step.
const BWD_UNITS: usize = 4;
const BWD_ROWS: usize = 8;
/// Invocations per workgroup of the non-subgroup backward kernels.
const BWD_WG: usize = 64;
/// Rows of C per invocation of gemm_nn.
const NN_ROWS: usize = 8;
/// Rows of C per workgroup of weight_grad_subgroup (a multiple of 4, one vec4 of A).
/// 32 rows against 8 on lstm-b64 train (alternating runs): weight-gradient GEMMs 521-626
/// ms vs 710-923; 16 rows 699 and 64 rows 616-625 (their accumulators spill further).
const WGRAD_SG_ROWS: usize = 32;
/// Row segments of weight_grad_subgroup: at least this many rows each (a multiple of the
/// 8 rows per broadcast round), at most this many segments (partials cost memory).
const WGRAD_SEG_MIN_ROWS: usize = 1024;
const WGRAD_MAX_SEGMENTS: usize = 8;

/// Upstream gradients of one training call: dL/d output [T, B, D*H] and optionally
/// dL/d h_n, dL/d c_n [L*D, B, H].
#[derive(Clone, Copy, Debug)]
pub struct GradInput<'a> {
    pub d_output: &'a [f32],
    pub d_h_n: Option<&'a [f32]>,
    pub d_c_n: Option<&'a [f32]>,
}

/// Forward results and every gradient of one training call.
#[derive(Clone, Debug)]
pub struct GradOutput {
    pub output: Vec<f32>,
    pub h_n: Vec<f32>,
    pub c_n: Vec<f32>,
    /// parameter gradients, in the weights' layout and PyTorch names
    pub weights: Weights,
    /// [T, B, I]
    pub x: Vec<f32>,
    /// [L*D, B, H]
    pub h0: Vec<f32>,
    /// [L*D, B, H] (LSTM; empty otherwise)
    pub c0: Vec<f32>,
    pub variant: Variant,
}

struct TrainLayer {
    /// the input GEMM (None: the fused step computes the projection itself)
    gemm: Option<Dispatch>,
    /// the forward step's bind groups, for dispatch i: step_bgs[i % 2] (see step.wgsl)
    step_bgs: [wgpu::BindGroup; 2],
    bwd_bg: wgpu::BindGroup,
    /// weight gradients, in order
    grads: Vec<Dispatch>,
    /// dL/d(layer input) = dGx · W_ih: feeds the layer below; for layer 0 only when the
    /// caller wants dL/dx
    dx_gemm: Dispatch,
    out: wgpu::Buffer,
    dw_ih: wgpu::Buffer,
    dw_hh: wgpu::Buffer,
    db_ih: wgpu::Buffer,
    db_hh: wgpu::Buffer,
    dx: wgpu::Buffer,
    _keep: Vec<wgpu::Buffer>,
}

/// The GPU buffers of a training call that a trainer (loss head, optimizer, carried
/// state) works with; layouts as in the module comment. Stable for the plan's lifetime.
pub(crate) struct TrainBuffers<'a> {
    /// [R, Ip] layer-0 input, [B] lengths
    pub x: &'a wgpu::Buffer,
    pub lengths: &'a wgpu::Buffer,
    /// initial and final states, [L*D, B, Hp] and [L*D, B, H]
    pub h0: &'a wgpu::Buffer,
    pub c0: &'a wgpu::Buffer,
    pub h_n: &'a wgpu::Buffer,
    pub c_n: &'a wgpu::Buffer,
    /// top layer output [R, D*Hp] and the gradient backward starts from, same layout
    pub out: &'a wgpu::Buffer,
    pub dout: &'a wgpu::Buffer,
    pub d_h_n: &'a wgpu::Buffer,
    pub d_c_n: &'a wgpu::Buffer,
    /// per layer: (dw_ih, dw_hh, db_ih, db_hh) in the weights' GPU layouts
    pub grads: Vec<[&'a wgpu::Buffer; 4]>,
}

impl GradPlan {
    pub(crate) fn buffers(&self) -> TrainBuffers<'_> {
        TrainBuffers {
            x: &self.x,
            lengths: &self.lengths,
            h0: &self.h0,
            c0: &self.c0,
            h_n: &self.h_n,
            c_n: &self.c_n,
            out: &self.layers.last().expect("at least one layer").out,
            dout: &self.dout,
            d_h_n: &self.d_h_n,
            d_c_n: &self.d_c_n,
            grads: self.layers.iter().map(|l| [&l.dw_ih, &l.dw_hh, &l.db_ih, &l.db_hh]).collect(),
        }
    }
}

/// Buffers and bind groups of training calls for one (T, B, variant).
pub(crate) struct GradPlan {
    key: (usize, usize, Variant, bool),
    /// per layer: dL/dh_t and dL/dc_t of every step [R, D*Hp] (trace plans only)
    #[cfg_attr(not(feature = "native"), allow(dead_code))]
    traces: Vec<[wgpu::Buffer; 2]>,
    x: wgpu::Buffer,
    lengths: wgpu::Buffer,
    h0: wgpu::Buffer,
    c0: wgpu::Buffer,
    /// h in and h out of the forward's recurrent kernel, swapped every dispatch
    /// (fused-persistent: both halves in h_state[0])
    h_state: [wgpu::Buffer; 2],
    /// where a layer's forward leaves h: (index into h_state, byte offset)
    h_last: (usize, u64),
    c_state: wgpu::Buffer,
    h_n: wgpu::Buffer,
    c_n: wgpu::Buffer,
    dout: wgpu::Buffer,
    d_h_n: wgpu::Buffer,
    d_c_n: wgpu::Buffer,
    dh_carry: wgpu::Buffer,
    dc: wgpu::Buffer,
    dh0: wgpu::Buffer,
    dc0: wgpu::Buffer,
    layers: Vec<TrainLayer>,
    step: Arc<Kernel>,
    step_groups: (u32, u32, u32),
    /// steps per dispatch of the forward recurrence (1, or the persistent chunk)
    fwd_chunk: usize,
    bwd: Arc<Kernel>,
    bwd_groups: (u32, u32, u32),
    /// backward steps per dispatch (1, or the persistent chunk)
    bwd_chunk: usize,
    /// dynamic-offset strides of the forward and backward step parameters
    align: u64,
    align_bwd: u64,
    _keep: Vec<wgpu::Buffer>,
}

/// The variant training uses when none is asked for: the forward's pick, except that a
/// `persistent` pick trains with its per-step kernel. Measured on lavapipe at lstm-b1
/// (alternating runs): the persistent-subgroup training forward beat per-step kernels
/// (268-355 vs 343-673 ms per call), while the streamed `persistent` one lost to them
/// (460-490 vs 385-395 ms): one workgroup per batch slice runs on one core, and it streams
/// W_hh from storage every step. The fused picks train with their fused forward (GPU time
/// of the training forward, 2 profiled runs of 5: lstm-b64 145 and 125 ms unfused against
/// 135 and 108 fused, rnn-b64 45 and 40 against 32 and 29).
pub fn auto_training_variant(gpu: &Gpu, spec: &crate::spec::RnnSpec, b: usize) -> Variant {
    match Variant::auto(gpu, spec, b) {
        v @ (Variant::PersistentSubgroup | Variant::FusedSubgroup | Variant::FusedPersistent) => v,
        v => training_variant(gpu, v),
    }
}

/// The per-step kernels (backward step, weight gradients, GEMMs) a variant trains with.
/// For the persistent and fused variants that is the best per-step kernel; their forward
/// recurrence runs in their own kernel, which writes the reserve space (`grad_plan`).
pub fn training_variant(gpu: &Gpu, v: Variant) -> Variant {
    match v {
        Variant::Persistent | Variant::PersistentSubgroup => {
            if Variant::Subgroup
                .unsupported(gpu, &crate::spec::RnnSpec::new(crate::spec::CellKind::Lstm, 1, 1))
                .is_none()
                && gpu.caps.cpu_like
            {
                Variant::Subgroup
            } else if gpu.caps.cpu_like {
                Variant::Register
            } else {
                Variant::Tiled
            }
        }
        Variant::FusedSubgroup | Variant::FusedPersistent => Variant::Subgroup,
        v => v,
    }
}

impl GpuModel {
    pub(crate) fn grad_plan(
        &self,
        gpu: &Gpu,
        t: usize,
        b: usize,
        requested: Variant,
        trace: bool,
    ) -> Result<GradPlan> {
        let variant = training_variant(gpu, requested);
        let s = &self.spec;
        let (h, g, d, hpad) = (s.hidden_size, s.gates(), s.directions(), hp(s.hidden_size));
        let (gh, ghp) = (g * h, hp(g * h));
        let r = t * b;
        let n_state = s.num_layers * d * b;
        if gpu.limits.max_storage_buffers_per_shader_stage < BWD_STORAGE {
            return Err(Error::DeviceLimit {
                what: "storage buffers of the backward step kernel".into(),
                value: BWD_STORAGE as u64,
                limit: gpu.limits.max_storage_buffers_per_shader_stage as u64,
                limit_name: "max_storage_buffers_per_shader_stage".into(),
            });
        }
        let f = 4u64;
        for (what, n) in [
            ("x", r * hp(s.input_size)),
            ("xg", r * d * gh),
            ("dG", r * d * ghp),
            ("output", r * d * hpad),
            ("dx", r * hp(s.input_size).max(d * hpad)),
        ] {
            gpu.check_binding(what, n as u64 * f)?;
        }
        let x = gpu.storage("x", (r * hp(s.input_size)) as u64 * f);
        let lengths = gpu.storage("lengths", b as u64 * 4);
        let h0 = gpu.storage("h0", (n_state * hpad) as u64 * f);
        let c0 = gpu.storage("c0", (n_state * h) as u64 * f);
        let h_n = gpu.storage("h_n", (n_state * hpad) as u64 * f);
        let c_n = gpu.storage("c_n", (n_state * h) as u64 * f);
        // Fused variants run training's forward in the fused step, which keeps the reserve
        // space itself (where the device has its storage buffers; else the unfused kernels).
        let fused = matches!(requested, Variant::FusedSubgroup | Variant::FusedPersistent)
            && gpu.limits.max_storage_buffers_per_shader_stage
                >= kernels::FUSED_TRAIN_STORAGE_BUFFERS;
        let fused_persistent = fused && requested == Variant::FusedPersistent;
        let state_bytes = (d * b * hpad) as u64 * f;
        let h_state = [0, 1].map(|i| {
            gpu.storage(
                "h_state",
                if fused_persistent && i == 0 { 2 * state_bytes } else { state_bytes },
            )
        });
        let c_state = gpu.storage("c_state", (d * b * h) as u64 * f);
        let dout = gpu.storage("dout", (r * d * hpad) as u64 * f);
        let d_h_n = gpu.storage("d_h_n", (n_state * hpad) as u64 * f);
        let d_c_n = gpu.storage("d_c_n", (n_state * h) as u64 * f);
        let dh_carry = gpu.storage("dh_carry", (d * b * hpad) as u64 * f);
        let dc = gpu.storage("dc", (d * b * h) as u64 * f);
        let dh0 = gpu.storage("dh0", (n_state * hpad) as u64 * f);
        let dc0 = gpu.storage("dc0", (n_state * h) as u64 * f);
        // dGx = dGh for every cell but GRU: one buffer then (R*D*GHp floats saved), and a
        // 16-byte stand-in bound where the backward step would write dGx.
        let same_dg = s.cell.same_gate_grads();
        let dgx = gpu.storage("dgx", if same_dg { 16 } else { (r * d * ghp) as u64 * f });
        let dgh = gpu.storage("dgh", (r * d * ghp) as u64 * f);
        let dg_x = if same_dg { &dgh } else { &dgx };

        let gemm_v = variant.gemm(gpu);
        // the fused step computes the input projection itself
        let gemm = if fused { None } else { Some(gemm_v.kernel(gpu)?) };
        // The forward's recurrence: where a persistent variant was asked for (by rule for
        // small batches), that persistent kernel with the reserve-space writes, one dispatch
        // per chunk of steps; else the per-step kernel of the training variant.
        let kp_max = self.layers.iter().map(|lw| lw.kp).max().unwrap_or(0);
        let (step, step_groups, fwd_chunk) = match requested {
            _ if fused_persistent => {
                let chunk = kernels::fused_persistent_chunk(s, b, kp_max, true);
                let blocks = b.div_ceil(kernels::step_subgroup_rows(b));
                (
                    kernels::fused_kernel(gpu, s.cell, b, Some(chunk), true)?,
                    (blocks as u32, d as u32, 1),
                    chunk,
                )
            }
            _ if fused => {
                let g = step_groups(variant, s.cell, h, b);
                (
                    kernels::fused_kernel(gpu, s.cell, b, None, true)?,
                    (g.0 as u32, g.1 as u32, d as u32),
                    1,
                )
            }
            Variant::Persistent => {
                let shape = PersistentShape::new(gpu, s, b)?;
                (
                    persistent_kernel(gpu, s.cell, h, shape)?,
                    (b.div_ceil(shape.rows) as u32, d as u32, 1),
                    persistent_chunk(shape.rows, h),
                )
            }
            Variant::PersistentSubgroup => {
                let (k, rows) = persistent_subgroup_kernel(gpu, s.cell, h, b)?;
                (k, (b.div_ceil(rows) as u32, d as u32, 1), persistent_chunk(rows, h))
            }
            _ => {
                let g = step_groups(variant, s.cell, h, b);
                (step_kernel(gpu, variant, s.cell, b)?, (g.0 as u32, g.1 as u32, d as u32), 1)
            }
        };
        // Subgroup sharing where the forward uses it; the plain kernels elsewhere (GL has none).
        let sg = variant == Variant::Subgroup;
        // vec4 access to the H-strided reserve buffers needs every 4-unit group aligned.
        let aligned = h % 4 == 0;
        let rows = kernels::step_subgroup_rows(b);
        let unit_chunks = h.div_ceil(BWD_UNITS);
        // Small batches under persistent-subgroup: the persistent BPTT kernel, one dispatch
        // per chunk of steps; else one per-step dispatch per backward step.
        let (bwd, bwd_groups, bwd_chunk) = if sg && requested == Variant::PersistentSubgroup {
            let prow = b.min(kernels::PERSISTENT_SUBGROUP_ROWS);
            let lanes = SUBGROUP_LANES as usize;
            let wgp = (hpad / 4).div_ceil(lanes) * lanes;
            let ghp4 = (ghp / 4).div_ceil(lanes) * lanes;
            let chunk = persistent_chunk(prow, h);
            let k = gpu.kernel(&shaders::persistent_backward_subgroup(
                s.cell, aligned, prow, wgp, ghp4, chunk,
            ))?;
            (k, (b.div_ceil(prow) as u32, d as u32, 1), chunk)
        } else {
            let k = gpu.kernel(&shaders::backward_step(s.cell, aligned, sg.then_some(rows)))?;
            let groups = if sg {
                (
                    unit_chunks.div_ceil(SUBGROUP_LANES as usize) as u32,
                    b.div_ceil(rows) as u32,
                    d as u32,
                )
            } else {
                (unit_chunks.div_ceil(BWD_WG) as u32, b.div_ceil(BWD_ROWS) as u32, d as u32)
            };
            (k, groups, 1)
        };
        let wgrad = gpu.kernel(&shaders::weight_grad(sg.then_some(WGRAD_SG_ROWS)))?;
        let nn = gpu.kernel(&shaders::gemm_nn(sg.then_some(GEMM_SUBGROUP_ROWS)))?;
        let colsum = gpu.kernel(&shaders::colsum())?;
        let reduce = gpu.kernel(&shaders::weight_grad_reduce())?;
        // Subgroup weight gradients: rows split into `segs` segments of `seg_rows`, each
        // partial [N1*N2 + N1 rounded to 4] in `wpart`, summed in segment order.
        let part_ld_max =
            gh * self.layers.iter().map(|lw| lw.kp).max().unwrap_or(0).max(hpad) + hp(gh);
        let part_bytes = (part_ld_max * 4) as u64;
        let seg_cap = (gpu.limits.max_storage_buffer_binding_size.min(gpu.limits.max_buffer_size)
            / part_bytes)
            .max(1) as usize;
        let segs = r.div_ceil(WGRAD_SEG_MIN_ROWS).clamp(1, WGRAD_MAX_SEGMENTS.min(seg_cap));
        // On CPU adapters an invocation may loop at most kernels::LAVAPIPE_LOOP_LIMIT times in
        // all (past it lavapipe's loops stop silently): the subgroup kernel loops once per
        // SUBGROUP_LANES rows of its segment, so very long reductions take more segments;
        // the register/tiled kernel and colsum loop over every row and refuse such R.
        let loop_rows = kernels::LAVAPIPE_LOOP_BUDGET * SUBGROUP_LANES as usize;
        let segs = if gpu.caps.cpu_like && sg { segs.max(r.div_ceil(loop_rows)) } else { segs };
        if gpu.caps.cpu_like
            && (if sg { segs > seg_cap } else { r > kernels::LAVAPIPE_LOOP_BUDGET })
        {
            return Err(Error::DeviceLimit {
                what: format!("rows T*B of the weight-gradient reduction on a CPU adapter, which stops a shader's loops after {} iterations", kernels::LAVAPIPE_LOOP_LIMIT),
                value: r as u64,
                limit: if sg { (seg_cap * loop_rows) as u64 } else { kernels::LAVAPIPE_LOOP_BUDGET as u64 },
                limit_name: "LAVAPIPE_LOOP_LIMIT".into(),
            });
        }
        let seg_rows = r.div_ceil(segs).div_ceil(SUBGROUP_LANES as usize) * SUBGROUP_LANES as usize;
        let segs = r.div_ceil(seg_rows);
        let wpart = if sg {
            gpu.check_binding("weight-gradient partials", segs as u64 * part_bytes)?;
            gpu.storage("weight-gradient partials", segs as u64 * part_bytes)
        } else {
            gpu.storage("weight-gradient partials (unused)", 16)
        };
        for (what, n) in [
            ("step", step_groups.0.max(step_groups.1)),
            ("backward step", bwd_groups.0.max(bwd_groups.1)),
        ] {
            gpu.check_groups(what, n)?;
        }

        // The unfused steps' parameters, shared by every layer (the fused step's carry each
        // layer's input width and are built per layer; `align` is theirs then).
        let (step_params, mut align) = if fused {
            (None, 0)
        } else {
            let (p, a) = step_entries(
                gpu,
                "train step params",
                (0..t).map(|st| StepParams::new(s, t, b, st, FLAG_WRITE_OUT | FLAG_TRAIN)),
            );
            (Some(p), a)
        };
        let (bwd_params, align_bwd) = step_entries(
            gpu,
            "backward params",
            (0..=t).map(|st| BwdParams {
                t: t as u32,
                b: b as u32,
                h: h as u32,
                hp: hpad as u32,
                d: d as u32,
                step: st as u32,
                ghp4: (ghp / 4) as u32,
                flags: if trace { FLAG_TRACE } else { 0 },
            }),
        );

        // dL/dh_t, dL/dc_t per step and layer when tracing; a 16-byte stand-in otherwise
        // (the kernels touch these only with FLAG_TRACE set).
        let traces: Vec<[wgpu::Buffer; 2]> = (0..s.num_layers)
            .map(|_| {
                let bytes = if trace { (r * d * hpad) as u64 * f } else { 16 };
                [gpu.storage("dh trace", bytes), gpu.storage("dc trace", bytes)]
            })
            .collect();
        let mut layers: Vec<TrainLayer> = Vec::new();
        for (l, lw) in self.layers.iter().enumerate() {
            let kp = lw.kp;
            let xg = gpu.storage("xg", (r * d * gh) as u64 * f);
            let hg = gpu.storage("hg", (r * d * gh) as u64 * f);
            let hprev = gpu.storage("hprev", (r * d * hpad) as u64 * f);
            let cprev = gpu.storage("cprev", (r * d * h) as u64 * f);
            let out = gpu.storage("out", (r * d * hpad) as u64 * f);
            let dw_ih = gpu.storage("dw_ih", (d * gh * kp) as u64 * f);
            let dw_hh = gpu.storage("dw_hh", (d * gh * hpad) as u64 * f);
            let db_ih = gpu.storage("db_ih", (d * gh) as u64 * f);
            let db_hh = gpu.storage("db_hh", (d * gh) as u64 * f);
            let dx = gpu.storage("dx", (r * kp) as u64 * f);
            let input = if l == 0 { &x } else { &layers[l - 1].out };

            let mut params: Vec<wgpu::Buffer> = Vec::new();
            let gemm_d = match &gemm {
                Some(gemm) => {
                    let gp = gpu.uniform_init(
                        "gemm params",
                        bytemuck::bytes_of(&GemmParams {
                            m: r as u32,
                            n: (d * gh) as u32,
                            kp4: (kp / 4) as u32,
                            pad: 0,
                        }),
                    );
                    let (gx, gy) = gemm_v.groups(r, d * gh);
                    gpu.check_groups("input GEMM", gx.max(gy))?;
                    let dispatch = Dispatch {
                        bind: gemm.bind(gpu, &[&gp, input, &lw.w_ih, &lw.b_ih, &xg]),
                        kernel: gemm.clone(),
                        groups: (gx, gy, 1),
                    };
                    params.push(gp);
                    Some(dispatch)
                }
                None => None,
            };
            let step_bgs = if fused {
                // per layer: the step parameters carry this layer's input width
                let kp4 = (kp / 4) as u32;
                let entries = (0..t).map(|st| FusedParams {
                    step: StepParams::new(s, t, b, st, FLAG_WRITE_OUT | FLAG_TRAIN),
                    kp4,
                    pad: [0; 3],
                });
                let (fp, fused_align) = step_entries(gpu, "fused train step params", entries);
                align = fused_align;
                let bgs = [0, 1].map(|i| {
                    let (h_out, h_in) = if fused_persistent {
                        (&h_state[0], &h_state[0])
                    } else {
                        (&h_state[1 - i], &h_state[i])
                    };
                    let bufs = [
                        &fp, input, &lw.w_ih, &lw.b_ih, &lw.w_hh, &lw.b_hh, &lengths, h_in, h_out,
                        &c_state, &out, &xg, &hg, &hprev, &cprev,
                    ];
                    step.bind(gpu, &bufs)
                });
                params.push(fp);
                bgs
            } else {
                let step_params =
                    step_params.as_ref().expect("unfused plans build the shared step parameters");
                [0, 1].map(|i| {
                    let (h_out, h_in) = (&h_state[1 - i], &h_state[i]);
                    step.bind(
                        gpu,
                        &[
                            step_params,
                            &xg,
                            &lw.w_hh,
                            &lw.b_hh,
                            &lengths,
                            h_out,
                            &c_state,
                            &out,
                            &hg,
                            &hprev,
                            &cprev,
                            h_in,
                        ],
                    )
                })
            };

            let mut grads = Vec::new();
            let mut wg = |params: &mut Vec<wgpu::Buffer>,
                          a: &wgpu::Buffer,
                          bm: &wgpu::Buffer,
                          c: &wgpu::Buffer,
                          db: &wgpu::Buffer,
                          p: WgradParams|
             -> Result<()> {
                if !sg {
                    let pb = gpu.uniform_init("wgrad params", bytemuck::bytes_of(&p));
                    let groups = (
                        (p.n2 as usize).div_ceil(8).div_ceil(64) as u32,
                        (p.n1 as usize).div_ceil(4) as u32,
                        1,
                    );
                    gpu.check_groups("weight gradient", groups.1)?;
                    grads.push(Dispatch {
                        kernel: wgrad.clone(),
                        bind: wgrad.bind(gpu, &[&pb, a, bm, c]),
                        groups,
                    });
                    params.push(pb);
                    return Ok(());
                }
                // Partials per row segment (with the bias gradient), then their fixed-order sum.
                let (n1, n2) = (p.n1 as usize, p.n2 as usize);
                let part_ld = n1 * n2 + hp(n1);
                let sp = WgradSgParams {
                    r: p.r,
                    n1: p.n1,
                    n2: p.n2,
                    lda4: p.lda4,
                    ldb4: p.ldb4,
                    a_off4: p.a_off4,
                    b_off4: p.b_off4,
                    rs: seg_rows as u32,
                    part_ld: part_ld as u32,
                    pad: [0; 3],
                };
                let pb = gpu.uniform_init("wgrad params", bytemuck::bytes_of(&sp));
                let groups = (
                    (n2 / 4).div_ceil(SUBGROUP_LANES as usize) as u32,
                    n1.div_ceil(WGRAD_SG_ROWS) as u32,
                    segs as u32,
                );
                gpu.check_groups("weight gradient", groups.0.max(groups.1).max(groups.2))?;
                grads.push(Dispatch {
                    kernel: wgrad.clone(),
                    bind: wgrad.bind(gpu, &[&pb, a, bm, &wpart]),
                    groups,
                });
                params.push(pb);
                let rp = ReduceParams {
                    s: segs as u32,
                    part_ld4: (part_ld / 4) as u32,
                    nc: (n1 * n2) as u32,
                    n1: p.n1,
                    c_off: p.c_off,
                    db_off: p.c_off / p.n2, // c_off = dir*GH*N2
                    pad: [0; 2],
                };
                let rb = gpu.uniform_init("wgrad reduce params", bytemuck::bytes_of(&rp));
                let rgroups = ((part_ld / 4).div_ceil(64) as u32, 1, 1);
                gpu.check_groups("weight-gradient reduction", rgroups.0)?;
                grads.push(Dispatch {
                    kernel: reduce.clone(),
                    bind: reduce.bind(gpu, &[&rb, &wpart, c, db]),
                    groups: rgroups,
                });
                params.push(rb);
                Ok(())
            };
            for dir in 0..d {
                // dW_ih[dir] = dGx[dir]ᵀ · X,  dW_hh[dir] = dGh[dir]ᵀ · H_prev[dir]
                let ih = WgradParams {
                    r: r as u32,
                    n1: gh as u32,
                    n2: kp as u32,
                    lda4: (d * ghp / 4) as u32,
                    ldb4: (kp / 4) as u32,
                    a_off4: (dir * ghp / 4) as u32,
                    b_off4: 0,
                    c_off: (dir * gh * kp) as u32,
                };
                wg(&mut params, dg_x, input, &dw_ih, &db_ih, ih)?;
                let hh = WgradParams {
                    n2: hpad as u32,
                    ldb4: (d * hpad / 4) as u32,
                    b_off4: (dir * hpad / 4) as u32,
                    c_off: (dir * gh * hpad) as u32,
                    ..ih
                };
                wg(&mut params, &dgh, &hprev, &dw_hh, &db_hh, hh)?;
            }
            for dir in (0..d).filter(|_| !sg) {
                // db_ih, db_hh: column sums of dGx, dGh.
                let c = ColsumParams {
                    r: r as u32,
                    n: gh as u32,
                    lda: (d * ghp) as u32,
                    a_off: (dir * ghp) as u32,
                    c_off: (dir * gh) as u32,
                    pad: [0; 3],
                };
                for (a, out_b) in [(dg_x, &db_ih), (&dgh, &db_hh)] {
                    let pb = gpu.uniform_init("colsum params", bytemuck::bytes_of(&c));
                    grads.push(Dispatch {
                        kernel: colsum.clone(),
                        bind: colsum.bind(gpu, &[&pb, a, out_b]),
                        groups: (gh.div_ceil(64) as u32, 1, 1),
                    });
                    params.push(pb);
                }
            }
            // dL/dx = dGx · W_ih, reading the model's W_ih [D*GH, Kp] in place.
            let nnp = NnParams {
                m: r as u32,
                n4: (kp / 4) as u32,
                d: d as u32,
                gh: gh as u32,
                ghp4: (ghp / 4) as u32,
                pad: [0; 3],
            };
            let dxp = gpu.uniform_init("dx gemm params", bytemuck::bytes_of(&nnp));
            let (gx, gy) = if sg {
                ((kp / 4).div_ceil(SUBGROUP_LANES as usize), r.div_ceil(GEMM_SUBGROUP_ROWS))
            } else {
                ((kp / 4).div_ceil(BWD_WG), r.div_ceil(NN_ROWS))
            };
            gpu.check_groups("dx GEMM", gx.max(gy) as u32)?;
            let dx_gemm = Dispatch {
                bind: nn.bind(gpu, &[&dxp, dg_x, &lw.w_ih, &dx]),
                kernel: nn.clone(),
                groups: (gx as u32, gy as u32, 1),
            };
            params.push(dxp);
            // Bound to the user's dout; layers below the top are rebound once all exist.
            let [dh_tr, dc_tr] = &traces[l];
            let bwd_bg = bwd.bind(
                gpu,
                &[
                    &bwd_params,
                    &xg,
                    &hg,
                    &hprev,
                    &cprev,
                    &lw.w_hh,
                    &lengths,
                    &dout,
                    &dgx,
                    &dgh,
                    &dh_carry,
                    &dc,
                    dh_tr,
                    dc_tr,
                ],
            );
            let mut keep = vec![xg, hg, hprev, cprev];
            keep.extend(params);
            layers.push(TrainLayer {
                gemm: gemm_d,
                step_bgs,
                bwd_bg,
                grads,
                dx_gemm,
                out,
                dw_ih,
                dw_hh,
                db_ih,
                db_hh,
                dx,
                _keep: keep,
            });
        }
        // Layer l < L-1 receives dL/d out_l from layer l+1's dx.
        for l in 0..s.num_layers.saturating_sub(1) {
            // _keep starts with xg, hg, hprev, cprev (see above).
            let k = &layers[l]._keep;
            let [dh_tr, dc_tr] = &traces[l];
            let bg = bwd.bind(
                gpu,
                &[
                    &bwd_params,
                    &k[0],
                    &k[1],
                    &k[2],
                    &k[3],
                    &self.layers[l].w_hh,
                    &lengths,
                    &layers[l + 1].dx,
                    &dgx,
                    &dgh,
                    &dh_carry,
                    &dc,
                    dh_tr,
                    dc_tr,
                ],
            );
            layers[l].bwd_bg = bg;
        }
        Ok(GradPlan {
            key: (t, b, requested, trace),
            fwd_chunk,
            traces,
            x,
            lengths,
            h0,
            c0,
            h_state,
            c_state,
            h_n,
            c_n,
            dout,
            d_h_n,
            d_c_n,
            dh_carry,
            dc,
            dh0,
            dc0,
            layers,
            step,
            step_groups,
            bwd,
            bwd_groups,
            bwd_chunk,
            align,
            align_bwd,
            // the state before forward step s is in half s % 2 of fused-persistent's buffer
            h_last: if fused_persistent {
                (0, (t % 2) as u64 * state_bytes)
            } else {
                (t.div_ceil(fwd_chunk) % 2, 0)
            },
            _keep: [bwd_params, dgx, dgh, wpart].into_iter().chain(step_params).collect(),
        })
    }

    fn encode_train(
        &self,
        plan: &GradPlan,
        enc: &mut wgpu::CommandEncoder,
        mut prof: Option<&mut Profiler>,
        input_grad: bool,
    ) {
        self.encode_forward_train(plan, enc, prof.as_deref_mut());
        self.encode_backward(plan, enc, prof, input_grad);
    }

    /// Records the training forward (reserve space kept) of every layer.
    pub(crate) fn encode_forward_train(
        &self,
        plan: &GradPlan,
        enc: &mut wgpu::CommandEncoder,
        mut prof: Option<&mut Profiler>,
    ) {
        let s = &self.spec;
        let (t, b, d) = (plan.key.0, plan.key.1, s.directions());
        let hpad = hp(s.hidden_size);
        let state_bytes = (d * b * hpad * 4) as u64;
        let c_bytes = (d * b * s.hidden_size * 4) as u64;
        let lstm = s.cell.has_cell_state();
        for (l, tl) in plan.layers.iter().enumerate() {
            enc.copy_buffer_to_buffer(
                &plan.h0,
                l as u64 * state_bytes,
                &plan.h_state[0],
                0,
                state_bytes,
            );
            if lstm {
                enc.copy_buffer_to_buffer(&plan.c0, l as u64 * c_bytes, &plan.c_state, 0, c_bytes);
            }
            if let Some(gemm) = &tl.gemm {
                let tw = prof.as_deref_mut().and_then(|p| p.pass(profile::INPUT_GEMM));
                let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("input gemm"),
                    timestamp_writes: tw,
                });
                gemm.record(&mut pass);
            }
            {
                let family =
                    if tl.gemm.is_some() { profile::RECURRENT_STEP } else { profile::FUSED_STEP };
                let tw = prof.as_deref_mut().and_then(|p| p.pass(family));
                let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("recurrent"),
                    timestamp_writes: tw,
                });
                pass.set_pipeline(&plan.step.pipeline);
                let (gx, gy, gz) = plan.step_groups;
                for (i, st) in (0..t).step_by(plan.fwd_chunk).enumerate() {
                    pass.set_bind_group(0, &tl.step_bgs[i % 2], &[(st as u64 * plan.align) as u32]);
                    pass.dispatch_workgroups(gx, gy, gz);
                }
            }
            let (last, offset) = plan.h_last;
            enc.copy_buffer_to_buffer(
                &plan.h_state[last],
                offset,
                &plan.h_n,
                l as u64 * state_bytes,
                state_bytes,
            );
            if lstm {
                enc.copy_buffer_to_buffer(&plan.c_state, 0, &plan.c_n, l as u64 * c_bytes, c_bytes);
            }
        }
    }

    /// Records backpropagation through time of every layer, from `dout`, `d_h_n` and `d_c_n`
    /// in the plan, to the gradient buffers, `dh0` and `dc0`, and with `input_grad` also to
    /// `dx` of layer 0 (dL/dx of the network input: one GEMM, a third of the
    /// weight-gradient family's FLOPs, that training never needs).
    pub(crate) fn encode_backward(
        &self,
        plan: &GradPlan,
        enc: &mut wgpu::CommandEncoder,
        mut prof: Option<&mut Profiler>,
        input_grad: bool,
    ) {
        let s = &self.spec;
        let (t, b, d) = (plan.key.0, plan.key.1, s.directions());
        let hpad = hp(s.hidden_size);
        let state_bytes = (d * b * hpad * 4) as u64;
        let c_bytes = (d * b * s.hidden_size * 4) as u64;
        let lstm = s.cell.has_cell_state();
        for (l, tl) in plan.layers.iter().enumerate().rev() {
            enc.copy_buffer_to_buffer(
                &plan.d_h_n,
                l as u64 * state_bytes,
                &plan.dh_carry,
                0,
                state_bytes,
            );
            if lstm {
                enc.copy_buffer_to_buffer(&plan.d_c_n, l as u64 * c_bytes, &plan.dc, 0, c_bytes);
            }
            {
                let tw = prof.as_deref_mut().and_then(|p| p.pass(profile::BACKWARD_STEP));
                let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("backward"),
                    timestamp_writes: tw,
                });
                pass.set_pipeline(&plan.bwd.pipeline);
                let (gx, gy, gz) = plan.bwd_groups;
                for st in (0..=t).step_by(plan.bwd_chunk) {
                    pass.set_bind_group(0, &tl.bwd_bg, &[(st as u64 * plan.align_bwd) as u32]);
                    pass.dispatch_workgroups(gx, gy, gz);
                }
            }
            enc.copy_buffer_to_buffer(
                &plan.dh_carry,
                0,
                &plan.dh0,
                l as u64 * state_bytes,
                state_bytes,
            );
            if lstm {
                enc.copy_buffer_to_buffer(&plan.dc, 0, &plan.dc0, l as u64 * c_bytes, c_bytes);
            }
            {
                let tw = prof.as_deref_mut().and_then(|p| p.pass(profile::WEIGHT_GRAD));
                let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("weight grads"),
                    timestamp_writes: tw,
                });
                for dsp in &tl.grads {
                    dsp.record(&mut pass);
                }
                if l > 0 || input_grad {
                    tl.dx_gemm.record(&mut pass);
                }
            }
        }
    }

    fn check_grad_input(&self, input: &Input<'_>, g: &GradInput<'_>) -> Result<()> {
        let s = &self.spec;
        let n_out = input.t * input.b * s.output_size();
        if g.d_output.len() != n_out {
            return Err(Error::shape(
                "d_output",
                format!("[{}, {}, {}]", input.t, input.b, s.output_size()),
                format!("{} values", g.d_output.len()),
            ));
        }
        check_finite("d_output", g.d_output)?;
        let n_state = s.num_layers * s.directions() * input.b * s.hidden_size;
        for (name, v) in [("d_h_n", g.d_h_n), ("d_c_n", g.d_c_n)] {
            if let Some(v) = v {
                if v.len() != n_state {
                    return Err(Error::shape(name, format!("{n_state} values"), v.len()));
                }
                check_finite(name, v)?;
            }
        }
        if g.d_c_n.is_some() && !s.cell.has_cell_state() {
            return Err(Error::Config(format!(
                "d_c_n given, but a {} cell has no cell state",
                s.cell
            )));
        }
        Ok(())
    }

    fn upload_train(
        &self,
        gpu: &Gpu,
        plan: &GradPlan,
        input: &Input<'_>,
        g: &GradInput<'_>,
    ) -> Result<()> {
        let s = &self.spec;
        let (t, b, h, hpad) = (input.t, input.b, s.hidden_size, hp(s.hidden_size));
        let n_state = s.num_layers * s.directions() * b;
        let q = &gpu.queue;
        q.write_buffer(
            &plan.x,
            0,
            bytemuck::cast_slice(&pad_rows(input.x, t * b, s.input_size, hp(s.input_size))),
        );
        let lengths: Vec<u32> = match input.lengths {
            Some(l) => {
                crate::reference::check_lengths(l, t, b)?.iter().map(|&v| v as u32).collect()
            }
            None => vec![t as u32; b],
        };
        q.write_buffer(&plan.lengths, 0, bytemuck::cast_slice(&lengths));
        let pad_or_zero = |v: Option<&[f32]>, cols: usize, colsp: usize| match v {
            Some(v) => pad_rows(v, n_state, cols, colsp),
            None => vec![0.0; n_state * colsp],
        };
        q.write_buffer(&plan.h0, 0, bytemuck::cast_slice(&pad_or_zero(input.h0, h, hpad)));
        q.write_buffer(&plan.d_h_n, 0, bytemuck::cast_slice(&pad_or_zero(g.d_h_n, h, hpad)));
        if s.cell.has_cell_state() {
            q.write_buffer(&plan.c0, 0, bytemuck::cast_slice(&pad_or_zero(input.c0, h, h)));
            q.write_buffer(&plan.d_c_n, 0, bytemuck::cast_slice(&pad_or_zero(g.d_c_n, h, h)));
        }
        q.write_buffer(
            &plan.dout,
            0,
            bytemuck::cast_slice(&pad_rows(g.d_output, t * b * s.directions(), h, hpad)),
        );
        Ok(())
    }

    pub(crate) fn with_grad_plan<T>(
        &self,
        gpu: &Gpu,
        input: &Input<'_>,
        variant: Option<Variant>,
        f: impl FnOnce(&GradPlan) -> Result<T>,
    ) -> Result<T> {
        self.with_grad_plan_opts(gpu, input, variant, false, f)
    }

    /// `with_grad_plan`, optionally with a plan that records the per-step trace.
    fn with_grad_plan_opts<T>(
        &self,
        gpu: &Gpu,
        input: &Input<'_>,
        variant: Option<Variant>,
        trace: bool,
        f: impl FnOnce(&GradPlan) -> Result<T>,
    ) -> Result<T> {
        let v = variant.unwrap_or_else(|| auto_training_variant(gpu, &self.spec, input.b));
        training_variant(gpu, v).check_supported(gpu, &self.spec)?;
        v.check_supported(gpu, &self.spec)?;
        let key = (input.t, input.b, v, trace);
        let mut slot = self.grad_plan.lock().unwrap();
        if slot.as_ref().map(|p| p.key) != Some(key) {
            *slot = None;
            *slot = Some(self.grad_plan(gpu, input.t, input.b, v, trace)?);
        }
        f(slot.as_ref().unwrap())
    }

    /// Forward and backward through time: the gradient of
    /// L = Σ output·d_output + Σ h_n·d_h_n + Σ c_n·d_c_n with respect to every parameter,
    /// x, h0 and c0, plus the forward results.
    #[cfg(feature = "native")]
    pub fn forward_backward(
        &self,
        gpu: &Gpu,
        input: &Input<'_>,
        grad: &GradInput<'_>,
        variant: Option<Variant>,
    ) -> Result<GradOutput> {
        pollster::block_on(self.forward_backward_async(gpu, input, grad, variant))
    }

    /// `forward_backward` without blocking.
    pub async fn forward_backward_async(
        &self,
        gpu: &Gpu,
        input: &Input<'_>,
        grad: &GradInput<'_>,
        variant: Option<Variant>,
    ) -> Result<GradOutput> {
        self.train_async(gpu, input, grad, variant, true).await
    }

    /// `weight_grads` without blocking.
    pub async fn weight_grads_async(
        &self,
        gpu: &Gpu,
        input: &Input<'_>,
        grad: &GradInput<'_>,
        variant: Option<Variant>,
    ) -> Result<GradOutput> {
        self.train_async(gpu, input, grad, variant, false).await
    }

    /// One training call, its results staged under the plan's lock and read after it.
    async fn train_async(
        &self,
        gpu: &Gpu,
        input: &Input<'_>,
        grad: &GradInput<'_>,
        variant: Option<Variant>,
        input_grad: bool,
    ) -> Result<GradOutput> {
        let (staged, v) = self.run_train(gpu, input, grad, variant, input_grad, |plan| {
            Ok((gpu.stage(&self.grad_reads(plan, input, input_grad)), plan.key.2))
        })?;
        let got = gpu.fetch(staged).await?;
        Ok(self.unpack_grads(input, input_grad, v, got))
    }

    /// One training call (upload, forward, backward) waited for, nothing read back.
    pub fn forward_backward_no_readback(
        &self,
        gpu: &Gpu,
        input: &Input<'_>,
        grad: &GradInput<'_>,
        variant: Option<Variant>,
    ) -> Result<Variant> {
        self.run_train(gpu, input, grad, variant, true, |plan| gpu.wait().map(|_| plan.key.2))
    }

    /// `forward_backward` without dL/dx of the network input (`GradOutput::x` is empty):
    /// what training needs (every parameter, h0 and c0), one GEMM less — PyTorch's backward
    /// when x does not require grad.
    #[cfg(feature = "native")]
    pub fn weight_grads(
        &self,
        gpu: &Gpu,
        input: &Input<'_>,
        grad: &GradInput<'_>,
        variant: Option<Variant>,
    ) -> Result<GradOutput> {
        pollster::block_on(self.weight_grads_async(gpu, input, grad, variant))
    }

    /// `weight_grads` waited for, nothing read back.
    pub fn weight_grads_no_readback(
        &self,
        gpu: &Gpu,
        input: &Input<'_>,
        grad: &GradInput<'_>,
        variant: Option<Variant>,
    ) -> Result<Variant> {
        self.run_train(gpu, input, grad, variant, false, |plan| gpu.wait().map(|_| plan.key.2))
    }

    /// Checks, uploads, records forward + backward in one encoder, submits, then `finish`.
    fn run_train<T>(
        &self,
        gpu: &Gpu,
        input: &Input<'_>,
        grad: &GradInput<'_>,
        variant: Option<Variant>,
        input_grad: bool,
        finish: impl FnOnce(&GradPlan) -> Result<T>,
    ) -> Result<T> {
        self.check_input_pub(input)?;
        self.check_grad_input(input, grad)?;
        self.with_grad_plan(gpu, input, variant, |plan| {
            self.upload_train(gpu, plan, input, grad)?;
            let mut enc = gpu.device.create_command_encoder(&Default::default());
            self.encode_train(plan, &mut enc, None, input_grad);
            gpu.queue.submit([enc.finish()]);
            finish(plan)
        })
    }

    /// GPU time per kernel family of one training call (dL/dx of the network input
    /// included when `input_grad`), in ms.
    #[cfg(feature = "native")]
    pub fn profile_train(
        &self,
        gpu: &Gpu,
        input: &Input<'_>,
        grad: &GradInput<'_>,
        variant: Option<Variant>,
        input_grad: bool,
    ) -> Result<Vec<(&'static str, f64)>> {
        self.run_train(gpu, input, grad, variant, input_grad, |_| gpu.wait())?;
        self.with_grad_plan(gpu, input, variant, |plan| {
            let mut prof = Profiler::new(gpu, 4 * self.spec.num_layers as u32)?;
            let mut enc = gpu.device.create_command_encoder(&Default::default());
            self.encode_train(plan, &mut enc, Some(&mut prof), input_grad);
            prof.resolve(&mut enc);
            gpu.queue.submit([enc.finish()]);
            prof.read(gpu)
        })
    }

    /// The reads of a training call's results: outputs, states, dL/dx (when `input_grad`),
    /// dL/dh0, dL/dc0, then the parameter gradients.
    fn grad_reads<'p>(
        &self,
        plan: &'p GradPlan,
        input: &Input<'_>,
        input_grad: bool,
    ) -> Vec<(&'p wgpu::Buffer, usize)> {
        let s = &self.spec;
        let (t, b) = (input.t, input.b);
        let (h, d, hpad) = (s.hidden_size, s.directions(), hp(s.hidden_size));
        let n_state = s.num_layers * d * b;
        let (top, bottom) = (&plan.layers[plan.layers.len() - 1], &plan.layers[0]);
        let mut reads: Vec<(&wgpu::Buffer, usize)> = vec![
            (&top.out, t * b * d * hpad),
            (&plan.h_n, n_state * hpad),
            (&plan.c_n, n_state * h),
            (&bottom.dx, if input_grad { t * b * self.layers[0].kp } else { 0 }),
            (&plan.dh0, n_state * hpad),
            (&plan.dc0, n_state * h),
        ];
        let grads: Vec<[&'p wgpu::Buffer; 4]> =
            plan.layers.iter().map(|l| [&l.dw_ih, &l.dw_hh, &l.db_ih, &l.db_hh]).collect();
        reads.extend(self.param_layout_reads(&grads));
        reads
    }

    /// A training call's results from the values of `grad_reads`.
    fn unpack_grads(
        &self,
        input: &Input<'_>,
        input_grad: bool,
        variant: Variant,
        got: Vec<Vec<f32>>,
    ) -> GradOutput {
        let s = &self.spec;
        let (t, b) = (input.t, input.b);
        let (h, d, hpad) = (s.hidden_size, s.directions(), hp(s.hidden_size));
        let n_state = s.num_layers * d * b;
        let mut it = got.into_iter();
        let output = unpad_rows(&it.next().unwrap_or_default(), t * b * d, h, hpad);
        let h_n = unpad_rows(&it.next().unwrap_or_default(), n_state, h, hpad);
        let c_n = if s.cell.has_cell_state() {
            it.next().unwrap_or_default()
        } else {
            it.next();
            vec![]
        };
        let x = if input_grad {
            unpad_rows(&it.next().unwrap_or_default(), t * b, s.input_size, hp(s.input_size))
        } else {
            it.next();
            vec![]
        };
        let h0 = unpad_rows(&it.next().unwrap_or_default(), n_state, h, hpad);
        let c0 = if s.cell.has_cell_state() {
            it.next().unwrap_or_default()
        } else {
            it.next();
            vec![]
        };
        let gw = self.param_layout_unpack(&mut it);
        GradOutput { output, h_n, c_n, weights: gw, x, h0, c0, variant }
    }
}

impl GpuModel {
    /// Forward and backward with dL/d(output) = `d_output` (no gradient at the final
    /// states), recording dL/dh_t (and dL/dc_t) of every step of the last layer's forward
    /// direction and its activated gates: the GPU engine of `stability`.
    #[cfg(feature = "native")]
    pub fn trace_steps(
        &self,
        gpu: &Gpu,
        input: &Input<'_>,
        d_output: &[f32],
    ) -> Result<crate::stability::Trace> {
        self.check_input_pub(input)?;
        let grad = GradInput { d_output, d_h_n: None, d_c_n: None };
        self.check_grad_input(input, &grad)?;
        let s = self.spec;
        let (t, b) = (input.t, input.b);
        let (h, g, d, hpad) = (s.hidden_size, s.gates(), s.directions(), hp(s.hidden_size));
        self.with_grad_plan_opts(gpu, input, None, true, |plan| {
            self.upload_train(gpu, plan, input, &grad)?;
            let mut enc = gpu.device.create_command_encoder(&Default::default());
            self.encode_train(plan, &mut enc, None, true);
            gpu.queue.submit([enc.finish()]);
            let top = s.num_layers - 1;
            let [dh_tr, dc_tr] = &plan.traces[top];
            let k = &plan.layers[top]._keep;
            let got = gpu.read_many(&[
                (dh_tr, t * b * d * hpad),
                (dc_tr, t * b * d * hpad),
                (&k[0], t * b * d * g * h),
                (&k[1], t * b * d * g * h),
            ])?;
            // Forward direction (dir 0) of every row: [T, B, H] and gates [T, B, G*H].
            let dir0 = |v: &[f32], width: usize| -> Vec<f64> {
                (0..t * b)
                    .flat_map(|row| {
                        v[row * d * width..row * d * width + width]
                            .iter()
                            .map(|&x| x as f64)
                            .collect::<Vec<_>>()
                    })
                    .collect()
            };
            let unpad = |v: Vec<f64>| {
                unpad_rows(&v.iter().map(|&x| x as f32).collect::<Vec<_>>(), t * b, h, hpad)
                    .into_iter()
                    .map(|x| x as f64)
                    .collect::<Vec<f64>>()
            };
            let dh = unpad(dir0(&got[0], hpad));
            let dc = s.cell.has_cell_state().then(|| unpad(dir0(&got[1], hpad)));
            let (xg, hg) = (dir0(&got[2], g * h), dir0(&got[3], g * h));
            let mut gates = Vec::with_capacity(t * b * g * h);
            for row in 0..t * b {
                let r = row * g * h..(row + 1) * g * h;
                gates.extend(crate::cells::activations(s.cell, &xg[r.clone()], &hg[r]));
            }
            Ok(crate::stability::Trace { dh, dc, gates })
        })
    }
}

/// Per-step states of one layer and direction from a forward pass that keeps the reserve
/// space: what `trace` draws. Rows are [T, B]; steps beyond a row's length are not
/// meaningful.
#[derive(Clone, Debug)]
pub struct StepStates {
    /// h_t: [T, B, H]
    pub h: Vec<f32>,
    /// c_t (LSTM; empty otherwise): [T, B, H]
    pub c: Vec<f32>,
    /// activated gates: [T, B, G*H] (LSTM i, f, g, o; GRU r, z, n; RNN the new h)
    pub gates: Vec<f32>,
}

impl GpuModel {
    /// Runs the training forward (no backward) and reads back h_t, c_t and the activated
    /// gates of every step of `layer`, direction `dir`.
    #[cfg(feature = "native")]
    pub fn forward_states(
        &self,
        gpu: &Gpu,
        input: &Input<'_>,
        layer: usize,
        dir: usize,
    ) -> Result<StepStates> {
        let s = self.spec;
        if layer >= s.num_layers || dir >= s.directions() {
            return Err(Error::Config(format!(
                "layer {layer} direction {dir}: the model has {} layers and {} directions",
                s.num_layers,
                s.directions()
            )));
        }
        self.check_input_pub(input)?;
        let (t, b) = (input.t, input.b);
        let (h, g, d, hpad) = (s.hidden_size, s.gates(), s.directions(), hp(s.hidden_size));
        let zeros = vec![0.0f32; t * b * d * h];
        let grad = GradInput { d_output: &zeros, d_h_n: None, d_c_n: None };
        self.with_grad_plan(gpu, input, None, |plan| {
            self.upload_train(gpu, plan, input, &grad)?;
            let mut enc = gpu.device.create_command_encoder(&Default::default());
            self.encode_forward_train(plan, &mut enc, None);
            gpu.queue.submit([enc.finish()]);
            let tl = &plan.layers[layer];
            // _keep starts with xg, hg, hprev, cprev.
            let k = &tl._keep;
            let n_state = s.num_layers * d * b;
            let got = gpu.read_many(&[
                (&tl.out, t * b * d * hpad),
                (&k[0], t * b * d * g * h),
                (&k[1], t * b * d * g * h),
                (&k[3], t * b * d * h),
                (&plan.c_n, n_state * h),
            ])?;
            // Row r's slice of `width` values for this direction.
            let pick = |v: &[f32], width: usize, keep: usize| -> Vec<f32> {
                (0..t * b)
                    .flat_map(|r| v[(r * d + dir) * width..(r * d + dir) * width + keep].to_vec())
                    .collect()
            };
            let hs = pick(&got[0], hpad, h);
            let (xg, hg) = (pick(&got[1], g * h, g * h), pick(&got[2], g * h, g * h));
            let mut gates = Vec::with_capacity(t * b * g * h);
            for r in 0..t * b {
                let span = r * g * h..(r + 1) * g * h;
                let as64 = |v: &[f32]| v.iter().map(|&x| x as f64).collect::<Vec<f64>>();
                gates.extend(
                    crate::cells::activations(s.cell, &as64(&xg[span.clone()]), &as64(&hg[span]))
                        .into_iter()
                        .map(|x| x as f32),
                );
            }
            // c_t is the c_{t-1} the next step kept; the last step's is c_n (the reverse
            // direction runs backwards in time: its next step is t-1, its last is step 0).
            let len = |row: usize| input.lengths.map_or(t, |l| l[row] as usize);
            let c = if s.cell.has_cell_state() {
                let cprev = pick(&got[3], h, h);
                let c_n = &got[4][((layer * d + dir) * b) * h..((layer * d + dir) * b + b) * h];
                let mut c = vec![0.0f32; t * b * h];
                for st in 0..t {
                    let next = if dir == 0 { st + 1 } else { st.wrapping_sub(1) };
                    for row in 0..b {
                        let dst = (st * b + row) * h..(st * b + row + 1) * h;
                        if next < len(row) {
                            c[dst].copy_from_slice(
                                &cprev[(next * b + row) * h..(next * b + row + 1) * h],
                            );
                        } else {
                            c[dst].copy_from_slice(&c_n[row * h..(row + 1) * h]);
                        }
                    }
                }
                c
            } else {
                vec![]
            };
            Ok(StepStates { h: hs, c, gates })
        })
    }
}
