//! The training plan: training's forward (the same `Recurrence` as inference, keeping the
//! reserve space), then backpropagation through time — T+1 fused backward-step dispatches
//! per layer (both directions in each), the weight gradients as fixed-order reductions
//! over all T*B rows (no atomics: bitwise repeatable), and dL/dx as one GEMM feeding the
//! layer below. Kernels per variant: subgroup → backward_step_subgroup,
//! weight_grad_subgroup (+ its segment reduce, bias gradients included), gemm_nn_subgroup;
//! register/tiled (and GL, which has no subgroups) → backward_step, weight_grad + colsum,
//! gemm_nn. All read the model's weight buffers in place (an optimizer may update them
//! between calls: backward never keeps a copy).
//!
//! Buffers (R = T*B rows; GHp = G*H rounded up to 4; layouts in layout.rs):
//! ```text
//!   x [R, Ip]; lengths [B]; h0, h_n [L*D, B, Hp]; c0, c_n [L*D, B, H]
//!   per layer l: the reserve (recurrence.rs); out_l [R, D*Hp]
//!                dw_ih_l [D*G*H, Kp_l]; dw_hh_l [D, G*H, Hp]; db_ih_l, db_hh_l [D*G*H]
//!                dx_l [R, Kp_l] (dL/d input of layer l = dL/d out_{l-1})
//!   shared:      xg [R, D*G*H] in 16 bits (every layer's projection; Reserve)
//!                dgx, dgh [R, D*GHp] (columns GH..GHp of each direction stay 0; dgx only for
//!                cells with a split h part: for the others dGx = dGh and dgh serves both);
//!                dout [R, D*Hp] (user's dL/d output); dh_carry [D, B, Hp] (dgh's tail);
//!                dc [D, B, H];
//!                d_h_n, dh0 [L*D, B, Hp]; d_c_n, dc0 [L*D, B, H]
//!                wpart [S, N1*N2 + N1 rounded to 4]: per row segment, the partial weight and
//!                bias gradients of the subgroup weight-gradient kernel (summed in segment order)
//!                traces [R, D*Hp] x 2 per layer, in one buffer: dL/dh_t, then dL/dc_t
//!                (trace plans only)
//! ```

use super::abi::{
    BwdParams, ColsumParams, NnParams, ReduceParams, WgradParams, WgradSgParams, FLAG_TRACE,
};
use super::context::{Dispatch, Gpu, Kernel};
use super::kernels::{
    self, persistent_chunk, Variant, GEMM_SUBGROUP_ROWS, LAVAPIPE_LOOP_BUDGET, LAVAPIPE_LOOP_LIMIT,
    SUBGROUP_LANES,
};
use super::layout::{hp, step_entries, write_input, Input, LayerWeights, ReserveLayout};
use super::profile::{self, Profiler};
use super::recurrence::{LayerIo, Recipe, Recurrence, Reserve, States};
use super::shaders::{self, Storage};
use crate::error::{Error, Result};
use crate::spec::{CellKind, RnnSpec};
use std::sync::Arc;

/// Storage buffers of the backward step kernels.
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

/// The variant training uses when none is asked for: the forward's pick, except that a
/// `persistent` pick trains with its per-step kernel. Measured on lavapipe at lstm-b1
/// (alternating runs): the persistent-subgroup training forward beat per-step kernels
/// (268-355 vs 343-673 ms per call), while the streamed `persistent` one lost to them
/// (460-490 vs 385-395 ms): one workgroup per batch slice runs on one core, and it streams
/// W_hh from storage every step. The fused picks train with their fused forward (GPU time
/// of the training forward, 2 profiled runs of 5: lstm-b64 145 and 125 ms unfused against
/// 135 and 108 fused, rnn-b64 45 and 40 against 32 and 29).
pub fn auto_training_variant(gpu: &Gpu, spec: &RnnSpec, b: usize) -> Variant {
    match Variant::auto(gpu, spec, b) {
        v @ (Variant::PersistentSubgroup | Variant::FusedSubgroup | Variant::FusedPersistent) => v,
        v => training_variant(gpu, v),
    }
}

/// The per-step kernels (backward step, weight gradients, GEMMs) a variant trains with.
/// For the persistent and fused variants that is the best per-step kernel; their forward
/// recurrence runs in their own kernel, which writes the reserve space.
pub fn training_variant(gpu: &Gpu, v: Variant) -> Variant {
    match v {
        Variant::Persistent | Variant::PersistentSubgroup => {
            let any = RnnSpec::new(CellKind::Lstm, 1, 1);
            if Variant::Subgroup.unsupported(gpu, &any).is_none() && gpu.caps.cpu_like {
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

/// Fails with a typed refusal when `v`, or the kernels it trains with, cannot run.
pub(crate) fn check_training_variant(gpu: &Gpu, spec: &RnnSpec, v: Variant) -> Result<()> {
    training_variant(gpu, v).check_supported(gpu, spec)?;
    v.check_supported(gpu, spec)
}

/// What a training plan is built for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct GradKey {
    pub(crate) t: usize,
    pub(crate) b: usize,
    /// the variant asked for (its forward recurrence; backward runs its training variant)
    pub(crate) variant: Variant,
    /// record dL/dh_t and dL/dc_t of every step
    pub(crate) trace: bool,
}

/// The buffers of one layer of a training plan.
pub(crate) struct LayerBuffers {
    /// what training's forward keeps for backward
    pub(crate) reserve: Reserve,
    /// the layer's output sequence [R, D*Hp]
    pub(crate) out: wgpu::Buffer,
    pub(crate) dw_ih: wgpu::Buffer,
    pub(crate) dw_hh: wgpu::Buffer,
    pub(crate) db_ih: wgpu::Buffer,
    pub(crate) db_hh: wgpu::Buffer,
    /// dL/d(layer input) [R, Kp]
    pub(crate) dx: wgpu::Buffer,
    /// per-step dL/dh_t [R, D*Hp], then dL/dc_t [R, D*Hp] from `trace_dc_off` floats (one
    /// binding for both; a 32-byte stand-in unless tracing)
    pub(crate) trace_dh: wgpu::Buffer,
    pub(crate) trace_dc_off: usize,
}

impl LayerBuffers {
    fn new(
        gpu: &Gpu,
        spec: &RnnSpec,
        lw: &LayerWeights,
        (t, b): (usize, usize),
        shared_xg: Option<&wgpu::Buffer>,
        trace: bool,
    ) -> Self {
        let r = t * b;
        let (d, gh, hpad) =
            (spec.directions(), spec.gates() * spec.hidden_size, hp(spec.hidden_size));
        let f = 4u64;
        let trace_dc_off = if trace { r * d * hpad } else { 4 };
        // linear cells have no W_hh, b_hh: 16-byte stand-ins for their gradients
        let hh = if spec.recurrent_weights() { d * gh } else { 0 };
        LayerBuffers {
            reserve: Reserve::new(gpu, spec, t, b, shared_xg),
            out: gpu.storage("out", (r * d * hpad) as u64 * f),
            dw_ih: gpu.storage("dw_ih", (d * gh * lw.kp) as u64 * f),
            dw_hh: gpu.storage("dw_hh", (hh * hpad).max(4) as u64 * f),
            db_ih: gpu.storage("db_ih", (d * gh) as u64 * f),
            db_hh: gpu.storage("db_hh", hh.max(4) as u64 * f),
            dx: gpu.storage("dx", (r * lw.kp) as u64 * f),
            trace_dh: gpu.storage("dh and dc trace", 2 * trace_dc_off as u64 * f),
            trace_dc_off,
        }
    }

    /// The gradient buffers in `Weights` order: dw_ih, dw_hh, db_ih, db_hh.
    pub(crate) fn grads(&self) -> [&wgpu::Buffer; 4] {
        [&self.dw_ih, &self.dw_hh, &self.db_ih, &self.db_hh]
    }
}

/// The backward dispatches of one layer.
struct LayerBackward {
    /// the backward step's bind group
    bwd_bg: wgpu::BindGroup,
    /// weight gradients, in order
    grads: Vec<Dispatch>,
    /// dL/d(layer input) = dGx · W_ih: feeds the layer below; for layer 0 only when the
    /// caller wants dL/dx
    dx_gemm: Dispatch,
    _params: Vec<wgpu::Buffer>,
}

/// The GPU buffers of a training plan that a trainer (loss head, optimizer, carried
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

/// Buffers and recorded dispatches of training calls for one `GradKey`.
pub(crate) struct GradPlan {
    pub(crate) key: GradKey,
    pub(crate) x: wgpu::Buffer,
    pub(crate) lengths: wgpu::Buffer,
    pub(crate) h0: wgpu::Buffer,
    pub(crate) c0: wgpu::Buffer,
    pub(crate) h_n: wgpu::Buffer,
    pub(crate) c_n: wgpu::Buffer,
    /// the gradient backward starts from: dL/d output [R, D*Hp], dL/dh_n, dL/dc_n
    pub(crate) dout: wgpu::Buffer,
    pub(crate) d_h_n: wgpu::Buffer,
    pub(crate) d_c_n: wgpu::Buffer,
    /// dL/dh0, dL/dc0
    pub(crate) dh0: wgpu::Buffer,
    pub(crate) dc0: wgpu::Buffer,
    pub(crate) layers: Vec<LayerBuffers>,
    backward: Vec<LayerBackward>,
    rec: Recurrence,
    /// dL/d gates' h part, then dh_carry [D, B, Hp] from `carry_bytes`
    dgh: wgpu::Buffer,
    carry_bytes: u64,
    dc: wgpu::Buffer,
    bwd: Arc<Kernel>,
    bwd_groups: (u32, u32, u32),
    /// backward steps per dispatch (1, or the persistent chunk)
    bwd_chunk: usize,
    /// dynamic-offset stride of the backward step parameters
    align_bwd: u64,
    _shared: [wgpu::Buffer; 3],
}

impl GradPlan {
    /// Allocates the buffers of `key`, builds its forward recurrence and its backward
    /// dispatches.
    pub(crate) fn build(
        gpu: &Gpu,
        spec: &RnnSpec,
        weights: &[LayerWeights],
        key: GradKey,
    ) -> Result<GradPlan> {
        let GradKey { t, b, variant: requested, trace } = key;
        let variant = training_variant(gpu, requested);
        let s = spec;
        let (h, g, d, hpad) = (s.hidden_size, s.gates(), s.directions(), hp(s.hidden_size));
        let (gh, ghp) = (g * h, hp(g * h));
        let r = t * b;
        let n_state = s.num_layers * d * b;
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

        // Per layer: the reserve, the output, the gradients. A 16-bit reserve does not keep
        // xg, so the layers' projections share one buffer.
        let rl = ReserveLayout::of(s, t, b);
        let shared_xg = rl.shared_xg.then(|| gpu.storage("xg (shared)", rl.xg as u64 * f));
        let layers: Vec<LayerBuffers> = weights
            .iter()
            .map(|lw| LayerBuffers::new(gpu, s, lw, (t, b), shared_xg.as_ref(), trace))
            .collect();

        // Training's forward: the same recurrence as inference, keeping the reserve.
        let recipe = Recipe::training(gpu, requested, variant);
        let io: Vec<LayerIo<'_>> = (0..s.num_layers)
            .map(|l| LayerIo {
                input: if l == 0 { &x } else { &layers[l - 1].out },
                out: &layers[l].out,
                xg: &layers[l].reserve.xg,
                reserve: Some(&layers[l].reserve),
                write_out: true,
            })
            .collect();
        let rec = Recurrence::build(gpu, s, weights, t, b, recipe, &lengths, &io, true)?;
        drop(io);

        let dout = gpu.storage("dout", (r * d * hpad) as u64 * f);
        let dc = gpu.storage("dc", (d * b * h) as u64 * f);
        // dGx = dGh for every cell without a split h part: one buffer then (R*D*GHp floats
        // saved), and a 16-byte stand-in bound where the backward step would write dGx.
        let same_dg = s.cell.same_gate_grads();
        let dgx = gpu.storage("dgx", if same_dg { 16 } else { (r * d * ghp) as u64 * f });
        // dh_carry [D, B, Hp] is dgh's tail: one storage binding fewer for the backward step.
        let carry_off = r * d * ghp;
        let dgh = gpu.storage("dgh and dh_carry", (carry_off + d * b * hpad) as u64 * f);
        let dg_x = if same_dg { &dgh } else { &dgx };

        // Subgroup sharing where the forward uses it (linear cells: where their projection
        // GEMM does); the plain kernels elsewhere (GL has none).
        let linear = s.cell.linear();
        let sg = variant == Variant::Subgroup
            || (linear && kernels::GemmVariant::best(gpu) == kernels::GemmVariant::Subgroup);
        // vec4 access to the H-strided reserve buffers needs every 4-unit group aligned.
        let aligned = h % 4 == 0;
        let rows = kernels::step_subgroup_rows(b);
        let unit_chunks = h.div_ceil(BWD_UNITS);
        // Small batches under persistent-subgroup: the persistent BPTT kernel, one dispatch
        // per chunk of steps; else one per-step dispatch per backward step.
        let (bwd, bwd_groups, bwd_chunk) = if let Some(kind) = variant.scan() {
            // linear cells: the whole reverse time loop per dispatch (scan_backward.wgsl)
            kernels::scan_kernel(gpu, s.cell, kind, true, (h, b, d))?
        } else if sg && requested == Variant::PersistentSubgroup {
            let prow = b.min(kernels::PERSISTENT_SUBGROUP_ROWS);
            let lanes = SUBGROUP_LANES as usize;
            let wgp = (hpad / 4).div_ceil(lanes) * lanes;
            let ghp4 = (ghp / 4).div_ceil(lanes) * lanes;
            let chunk = persistent_chunk(prow, h);
            let src =
                shaders::persistent_backward_subgroup(s.cell, aligned, prow, wgp, ghp4, chunk);
            (
                gpu.kernel(&src.with_storage(Storage::training(s)))?,
                (b.div_ceil(prow) as u32, d as u32, 1),
                chunk,
            )
        } else {
            let src = shaders::backward_step(s.cell, aligned, sg.then_some(rows));
            let k = gpu.kernel(&src.with_storage(Storage::training(s)))?;
            let groups = if sg {
                let x = unit_chunks.div_ceil(SUBGROUP_LANES as usize) as u32;
                (x, b.div_ceil(rows) as u32, d as u32)
            } else {
                (unit_chunks.div_ceil(BWD_WG) as u32, b.div_ceil(BWD_ROWS) as u32, d as u32)
            };
            (k, groups, 1)
        };
        let wgrad = gpu.kernel(&shaders::weight_grad(sg.then_some(WGRAD_SG_ROWS)))?;
        let nn_src = shaders::gemm_nn(sg.then_some(GEMM_SUBGROUP_ROWS));
        let nn = gpu.kernel(&nn_src.with_weights(s.precision))?;
        let colsum = gpu.kernel(&shaders::colsum())?;
        let reduce = gpu.kernel(&shaders::weight_grad_reduce())?;
        // Subgroup weight gradients: rows split into `segs` segments of `seg_rows`, each
        // partial [N1*N2 + N1 rounded to 4] in `wpart`, summed in segment order.
        let part_ld_max = gh * weights.iter().map(|lw| lw.kp).max().unwrap_or(0).max(hpad) + hp(gh);
        let part_bytes = (part_ld_max * 4) as u64;
        let seg_cap = (gpu.limits.max_storage_buffer_binding_size.min(gpu.limits.max_buffer_size)
            / part_bytes)
            .max(1) as usize;
        let segs = r.div_ceil(WGRAD_SEG_MIN_ROWS).clamp(1, WGRAD_MAX_SEGMENTS.min(seg_cap));
        // On CPU adapters an invocation may loop at most LAVAPIPE_LOOP_LIMIT times in all
        // (past it lavapipe's loops stop silently): the subgroup kernel loops once per
        // SUBGROUP_LANES rows of its segment, so very long reductions take more segments;
        // the register/tiled kernel and colsum loop over every row and refuse such R.
        let loop_rows = LAVAPIPE_LOOP_BUDGET * SUBGROUP_LANES as usize;
        let segs = if gpu.caps.cpu_like && sg { segs.max(r.div_ceil(loop_rows)) } else { segs };
        if gpu.caps.cpu_like && (if sg { segs > seg_cap } else { r > LAVAPIPE_LOOP_BUDGET }) {
            return Err(Error::DeviceLimit {
                what: format!(
                    "rows T*B of the weight-gradient reduction on a CPU adapter, which stops a shader's loops after {LAVAPIPE_LOOP_LIMIT} iterations"
                ),
                value: r as u64,
                limit: if sg { (seg_cap * loop_rows) as u64 } else { LAVAPIPE_LOOP_BUDGET as u64 },
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
        gpu.check_groups("backward step", bwd_groups.0.max(bwd_groups.1))?;

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
                cprev_off: layers[0].reserve.layout.cprev_off as u32,
                carry_off4: (carry_off / 4) as u32,
                dc_seq_off4: (layers[0].trace_dc_off / 4) as u32,
                pad: 0,
            }),
        );

        let mut backward = Vec::with_capacity(layers.len());
        for (l, (lw, layer)) in weights.iter().zip(&layers).enumerate() {
            let kp = lw.kp;
            let mut params: Vec<wgpu::Buffer> = Vec::new();
            let mut grads = Vec::new();
            let input = if l == 0 { &x } else { &layers[l - 1].out };
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
                wg(&mut params, dg_x, input, &layer.dw_ih, &layer.db_ih, ih)?;
                if linear {
                    continue; // no W_hh
                }
                let hh = WgradParams {
                    n2: hpad as u32,
                    ldb4: (d * hpad / 4) as u32,
                    b_off4: (dir * hpad / 4) as u32,
                    c_off: (dir * gh * hpad) as u32,
                    ..ih
                };
                wg(&mut params, &dgh, &layer.reserve.hprev, &layer.dw_hh, &layer.db_hh, hh)?;
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
                let hh_too = if linear { 1 } else { 2 };
                for (a, out_b) in
                    [(dg_x, &layer.db_ih), (&dgh, &layer.db_hh)].into_iter().take(hh_too)
                {
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
                bind: nn.bind(gpu, &[&dxp, dg_x, &lw.w_ih, &layer.dx]),
                kernel: nn.clone(),
                groups: (gx as u32, gy as u32, 1),
            };
            params.push(dxp);
            // The top layer starts from the user's dL/d output; layer l < L-1 from layer
            // l+1's dL/d input.
            let layer_dout = if l + 1 == layers.len() { &dout } else { &layers[l + 1].dx };
            let rs = &layer.reserve;
            let bwd_bg = bwd.bind(
                gpu,
                &[
                    &bwd_params,
                    &rs.xg,
                    &rs.hg,
                    &rs.hprev,
                    &rs.hg, // cprev: in hg's buffer (not declared)
                    &lw.w_hh,
                    &lengths,
                    layer_dout,
                    &dgx,
                    &dgh,
                    &dgh, // dh_carry: in dgh's buffer (not declared)
                    &dc,
                    &layer.trace_dh,
                    &layer.trace_dh, // the dc trace: in the dh trace's buffer (not declared)
                ],
            );
            backward.push(LayerBackward { bwd_bg, grads, dx_gemm, _params: params });
        }
        Ok(GradPlan {
            key,
            x,
            lengths,
            h0: gpu.storage("h0", (n_state * hpad) as u64 * f),
            c0: gpu.storage("c0", (n_state * h) as u64 * f),
            h_n: gpu.storage("h_n", (n_state * hpad) as u64 * f),
            c_n: gpu.storage("c_n", (n_state * h) as u64 * f),
            dout,
            d_h_n: gpu.storage("d_h_n", (n_state * hpad) as u64 * f),
            d_c_n: gpu.storage("d_c_n", (n_state * h) as u64 * f),
            dh0: gpu.storage("dh0", (n_state * hpad) as u64 * f),
            dc0: gpu.storage("dc0", (n_state * h) as u64 * f),
            layers,
            backward,
            rec,
            carry_bytes: carry_off as u64 * f,
            dc,
            bwd,
            bwd_groups,
            bwd_chunk,
            align_bwd,
            dgh,
            _shared: [bwd_params, dgx, wpart],
        })
    }

    /// The top layer's output sequence [R, D*Hp].
    pub(crate) fn out(&self) -> &wgpu::Buffer {
        &self.layers[self.layers.len() - 1].out
    }

    /// The buffers a trainer (loss head, optimizer, carried state) works with.
    pub(crate) fn buffers(&self) -> TrainBuffers<'_> {
        TrainBuffers {
            x: &self.x,
            lengths: &self.lengths,
            h0: &self.h0,
            c0: &self.c0,
            h_n: &self.h_n,
            c_n: &self.c_n,
            out: self.out(),
            dout: &self.dout,
            d_h_n: &self.d_h_n,
            d_c_n: &self.d_c_n,
            grads: self.layers.iter().map(|l| l.grads()).collect(),
        }
    }

    /// Records the training forward (reserve space kept) of every layer.
    pub(crate) fn record_forward(
        &self,
        spec: &RnnSpec,
        enc: &mut wgpu::CommandEncoder,
        prof: Option<&mut Profiler>,
    ) {
        let states = States { h0: &self.h0, c0: &self.c0, h_n: &self.h_n, c_n: &self.c_n };
        self.rec.record(spec, enc, &states, prof);
    }

    /// Records backpropagation through time of every layer, from `dout`, `d_h_n` and
    /// `d_c_n`, to the gradient buffers, `dh0` and `dc0`, and with `input_grad` also to `dx`
    /// of layer 0 (dL/dx of the network input: one GEMM, a third of the weight-gradient
    /// family's FLOPs, that training never needs).
    pub(crate) fn record_backward(
        &self,
        spec: &RnnSpec,
        enc: &mut wgpu::CommandEncoder,
        mut prof: Option<&mut Profiler>,
        input_grad: bool,
    ) {
        let (t, b, d) = (self.key.t, self.key.b, spec.directions());
        let state_bytes = (d * b * hp(spec.hidden_size) * 4) as u64;
        let c_bytes = (d * b * spec.hidden_size * 4) as u64;
        let lstm = spec.cell.has_cell_state();
        for (l, tl) in self.backward.iter().enumerate().rev() {
            let lo = l as u64;
            enc.copy_buffer_to_buffer(
                &self.d_h_n,
                lo * state_bytes,
                &self.dgh,
                self.carry_bytes,
                state_bytes,
            );
            if lstm {
                enc.copy_buffer_to_buffer(&self.d_c_n, lo * c_bytes, &self.dc, 0, c_bytes);
            }
            {
                let tw = prof.as_deref_mut().and_then(|p| p.pass(profile::BACKWARD_STEP));
                let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("backward"),
                    timestamp_writes: tw,
                });
                pass.set_pipeline(&self.bwd.pipeline);
                let (gx, gy, gz) = self.bwd_groups;
                for st in (0..=t).step_by(self.bwd_chunk) {
                    pass.set_bind_group(0, &tl.bwd_bg, &[(st as u64 * self.align_bwd) as u32]);
                    pass.dispatch_workgroups(gx, gy, gz);
                }
            }
            enc.copy_buffer_to_buffer(
                &self.dgh,
                self.carry_bytes,
                &self.dh0,
                lo * state_bytes,
                state_bytes,
            );
            if lstm {
                enc.copy_buffer_to_buffer(&self.dc, 0, &self.dc0, lo * c_bytes, c_bytes);
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

    /// Writes x and lengths (all T when None).
    pub(crate) fn upload_x(&self, gpu: &Gpu, spec: &RnnSpec, input: &Input<'_>) -> Result<()> {
        write_input(gpu, spec, &self.x, &self.lengths, input)
    }
}
