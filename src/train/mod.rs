//! Training on the GPU: an RNN (any cell, layers, directions) under a linear output head
//! with a loss, global-norm gradient clipping and an optimizer, all recorded into one
//! command buffer per step. A step uploads the batch and reads back four numbers (loss,
//! gradient norm before clipping, clip scale, clipped); everything else stays on the GPU.
//! Truncated BPTT: with `carry_state` the final state of one step starts the next, without
//! gradient flowing across (min-char-rnn's `hprev`).
//!
//! Head buffers (R = T*B rows; Kp = D*Hp, the top layer's padded output width; Op = O
//! rounded up to 4; pad rows/columns stay zero):
//!   w_y [Op, Kp], b_y \[Op\], logits / dlogits [R, Op], row_loss \[R\], classes \[R\] u32,
//!   targets [R, O], stats \[4\] = (loss, grad norm, clip scale, clipped)

pub mod optim;

pub use optim::Optimizer;

use crate::error::{check_finite, Error, Result};
use crate::gpu::abi::{GemmParams, HeadParams, LossParams, NormParams};
use crate::gpu::context::{Dispatch, Gpu, Kernel};
use crate::gpu::grad_plan::{auto_training_variant, check_training_variant, GradKey, GradPlan};
use crate::gpu::kernels::{hp, Variant};
use crate::gpu::layout::pad_rows;
#[cfg(feature = "native")]
use crate::gpu::layout::unpad_rows;
use crate::gpu::shaders;
use crate::gpu::{GpuModel, Input};
use crate::spec::RnnSpec;
use crate::weights::Weights;
use rand::{Rng, SeedableRng};
use std::sync::Arc;

/// Elements per partial sum of the gradient norm (CHUNK in grad_norm.wgsl).
const NORM_CHUNK: usize = 1024;

/// What the head predicts and how it is scored.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Loss {
    /// Softmax over `classes` logits per token, mean negative log-likelihood (nats).
    CrossEntropy {
        /// O, the number of classes.
        classes: usize,
    },
    /// `outputs` values per token, mean squared error.
    Mse {
        /// O, the values per token.
        outputs: usize,
    },
}

impl Loss {
    /// O, the head's output width.
    pub fn outputs(&self) -> usize {
        match *self {
            Loss::CrossEntropy { classes } => classes,
            Loss::Mse { outputs } => outputs,
        }
    }
}

/// Targets of one batch: a class per token [T, B], or values [T, B, O].
#[derive(Clone, Copy, Debug)]
pub enum Targets<'a> {
    /// For `Loss::CrossEntropy`: [T, B] class indices, each below `classes`.
    Classes(&'a [u32]),
    /// For `Loss::Mse`: [T, B, O] finite values.
    Values(&'a [f32]),
}

/// How a `Trainer` trains.
#[derive(Clone, Debug)]
pub struct TrainConfig {
    /// The update rule and its hyperparameters.
    pub optimizer: Optimizer,
    /// The head's output width and loss.
    pub loss: Loss,
    /// Global-norm clipping threshold τ (g ← τ·g/‖g‖ when ‖g‖ > τ).
    pub clip_norm: Option<f32>,
    /// Elementwise clipping to [-c, c] after the norm clipping.
    pub clip_value: Option<f32>,
    /// Truncated BPTT: start each step from the previous step's final state.
    pub carry_state: bool,
    /// Per-step kernel variant (None: by rule).
    pub variant: Option<Variant>,
    /// Seed of the head's initialisation.
    pub seed: u64,
}

impl TrainConfig {
    /// `optimizer` and `loss` with no clipping, no carried state, the variant by rule and
    /// seed 0.
    pub fn new(optimizer: Optimizer, loss: Loss) -> Self {
        TrainConfig {
            optimizer,
            loss,
            clip_norm: None,
            clip_value: None,
            carry_state: false,
            variant: None,
            seed: 0,
        }
    }
}

/// What one step reports.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StepStats {
    /// The loss before the update: cross-entropy in nats averaged over the T·B tokens, or
    /// squared error averaged over all T·B·O values.
    pub loss: f32,
    /// global gradient norm before clipping
    pub grad_norm: f32,
    /// Whether norm clipping scaled the gradients down (`clip_value` does not count).
    pub clipped: bool,
}

struct ParamSlot {
    n: usize,
    opt_params: wgpu::Buffer,
    bind: wgpu::BindGroup,
    _state: [wgpu::Buffer; 2],
}

/// Everything bound once the model's training plan exists.
struct Bound {
    head: Vec<Dispatch>,
    norm: Vec<Dispatch>,
    params: Vec<ParamSlot>,
    optim: Arc<Kernel>,
    /// 16-bit copies of the updated master weights (mixed precision)
    packs: Vec<Dispatch>,
    _partials: wgpu::Buffer,
}

/// An RNN + linear head + loss + optimizer, trained on the GPU.
pub struct Trainer {
    /// The RNN's spec.
    pub spec: RnnSpec,
    /// T of every batch.
    pub t: usize,
    /// B of every batch.
    pub b: usize,
    /// The settings it was built with.
    pub config: TrainConfig,
    model: GpuModel,
    w_y: wgpu::Buffer,
    b_y: wgpu::Buffer,
    dw_y: wgpu::Buffer,
    db_y: wgpu::Buffer,
    logits: wgpu::Buffer,
    dlogits: wgpu::Buffer,
    row_loss: wgpu::Buffer,
    classes: wgpu::Buffer,
    targets: wgpu::Buffer,
    stats: wgpu::Buffer,
    /// The trainer's own training plan (never the model's cached one, which a call through
    /// `model()` with another shape rebuilds) and the head and optimizer bound to it.
    plan: GradPlan,
    /// Set by `new` (binding needs the trainer's own buffers).
    bound: Option<Bound>,
    steps: u64,
    carried: bool,
    /// per-update statistics, in order (the training monitor)
    pub log: Vec<StepStats>,
}

impl Trainer {
    /// A trainer for batches of `b` sequences of `t` steps. The head is initialised like
    /// `nn.Linear` (U(-1/sqrt(D*H), 1/sqrt(D*H))) from `config.seed`.
    pub fn new(
        gpu: &Gpu,
        weights: &Weights,
        config: TrainConfig,
        t: usize,
        b: usize,
    ) -> Result<Self> {
        let spec = weights.spec;
        let o = config.loss.outputs();
        if o == 0 || t == 0 || b == 0 {
            return Err(Error::Config(format!(
                "trainer needs T, B and outputs >= 1 (T={t}, B={b}, outputs={o})"
            )));
        }
        config.optimizer.validate()?;
        let model = GpuModel::new_training(gpu, weights)?;
        let variant = config.variant.unwrap_or_else(|| auto_training_variant(gpu, &spec, b));
        check_training_variant(gpu, &spec, variant)?;
        let (d, hpad) = (spec.directions(), hp(spec.hidden_size));
        let kp = d * hpad;
        let op = hp(o);
        let r = t * b;
        let bound = 1.0 / ((d * spec.hidden_size) as f64).sqrt();
        let mut rng = rand::rngs::StdRng::seed_from_u64(config.seed ^ 0x5eed_4ead);
        let mut w_y = vec![0.0f32; op * kp];
        for row in 0..o {
            for dir in 0..d {
                for j in 0..spec.hidden_size {
                    w_y[row * kp + dir * hpad + j] = rng.random_range(-bound..bound) as f32;
                }
            }
        }
        let mut b_y = vec![0.0f32; op];
        for v in b_y.iter_mut().take(o) {
            *v = rng.random_range(-bound..bound) as f32;
        }
        for (what, n) in [("logits", r * op), ("head weight", op * kp)] {
            gpu.check_binding(what, (n * 4) as u64)?;
        }
        let plan = model.build_grad_plan(gpu, GradKey { t, b, variant, trace: false })?;
        let mut trainer = Trainer {
            spec,
            t,
            b,
            model,
            w_y: gpu.storage_init("w_y", &w_y),
            b_y: gpu.storage_init("b_y", &b_y),
            dw_y: gpu.storage("dw_y", (op * kp * 4) as u64),
            db_y: gpu.storage("db_y", (op * 4) as u64),
            logits: gpu.storage("logits", (r * op * 4) as u64),
            dlogits: gpu.storage("dlogits", (r * op * 4) as u64),
            row_loss: gpu.storage("row_loss", (r * 4) as u64),
            classes: gpu.storage("classes", (r * 4) as u64),
            targets: gpu.storage("targets", (r * o * 4) as u64),
            stats: gpu.storage("stats", 16),
            config,
            plan,
            bound: None,
            steps: 0,
            carried: false,
            log: vec![],
        };
        trainer.bound = Some(trainer.bind(gpu, &trainer.plan)?);
        Ok(trainer)
    }

    /// The RNN on the GPU (for forward passes with the trained weights).
    pub fn model(&self) -> &GpuModel {
        &self.model
    }

    /// Forgets the carried state: the next step starts from zeros.
    pub fn reset_state(&mut self) {
        self.carried = false;
    }

    /// The RNN's current parameters.
    #[cfg(feature = "native")]
    pub fn weights(&self, gpu: &Gpu) -> Result<Weights> {
        self.model.read_weights(gpu)
    }

    /// The gradients of the RNN's parameters from the last step (before clipping), under
    /// the parameters' layout and PyTorch names. None before the first step.
    #[cfg(feature = "native")]
    pub fn grads(&self, gpu: &Gpu) -> Result<Option<Weights>> {
        if self.steps == 0 {
            return Ok(None);
        }
        self.model.read_param_layout(gpu, &self.plan.buffers().grads).map(Some)
    }

    /// The head's parameters: W_y [O, D*H] and b_y \[O\].
    #[cfg(feature = "native")]
    pub fn head(&self, gpu: &Gpu) -> Result<(Vec<f32>, Vec<f32>)> {
        let (o, d, h, hpad) = (
            self.config.loss.outputs(),
            self.spec.directions(),
            self.spec.hidden_size,
            hp(self.spec.hidden_size),
        );
        let kp = d * hpad;
        let mut got = gpu.read_many(&[(&self.w_y, o * kp), (&self.b_y, o)])?;
        let b_y = got.pop().unwrap_or_default();
        let w_y = unpad_rows(&got.pop().unwrap_or_default(), o * d, h, hpad);
        Ok((w_y, b_y))
    }

    /// Replaces the head's parameters: W_y [O, D*H], b_y \[O\].
    pub fn set_head(&mut self, gpu: &Gpu, w_y: &[f32], b_y: &[f32]) -> Result<()> {
        let (o, d, h, hpad) = (
            self.config.loss.outputs(),
            self.spec.directions(),
            self.spec.hidden_size,
            hp(self.spec.hidden_size),
        );
        if w_y.len() != o * d * h || b_y.len() != o {
            return Err(Error::shape(
                "head",
                format!("w_y [{o}, {}], b_y [{o}]", d * h),
                format!("{} and {} values", w_y.len(), b_y.len()),
            ));
        }
        gpu.queue.write_buffer(&self.w_y, 0, bytemuck::cast_slice(&pad_rows(w_y, o * d, h, hpad)));
        gpu.queue.write_buffer(&self.b_y, 0, bytemuck::cast_slice(b_y));
        Ok(())
    }

    /// One update on a batch x [T, B, I] with targets; returns the loss before the update
    /// and the gradient norm before clipping.
    #[cfg(feature = "native")]
    pub fn step(&mut self, gpu: &Gpu, x: &[f32], targets: Targets<'_>) -> Result<StepStats> {
        pollster::block_on(self.step_async(gpu, x, targets))
    }

    /// `step` without blocking.
    pub async fn step_async(
        &mut self,
        gpu: &Gpu,
        x: &[f32],
        targets: Targets<'_>,
    ) -> Result<StepStats> {
        let (t, b) = (self.t, self.b);
        let o = self.config.loss.outputs();
        let input = Input::new(x, t, b);
        self.model.check_input(&input)?;
        match (targets, self.config.loss) {
            (Targets::Classes(c), Loss::CrossEntropy { classes }) => {
                if c.len() != t * b {
                    return Err(Error::shape(
                        "targets",
                        format!("[{t}, {b}] classes"),
                        format!("{} values", c.len()),
                    ));
                }
                if let Some((i, &v)) = c.iter().enumerate().find(|(_, &v)| v as usize >= classes) {
                    return Err(Error::Config(format!(
                        "target class {v} at index {i} is not below {classes}"
                    )));
                }
                gpu.queue.write_buffer(&self.classes, 0, bytemuck::cast_slice(c));
            }
            (Targets::Values(v), Loss::Mse { .. }) => {
                if v.len() != t * b * o {
                    return Err(Error::shape(
                        "targets",
                        format!("[{t}, {b}, {o}]"),
                        format!("{} values", v.len()),
                    ));
                }
                check_finite("targets", v)?;
                gpu.queue.write_buffer(&self.targets, 0, bytemuck::cast_slice(v));
            }
            _ => {
                return Err(Error::Config(format!(
                    "targets do not fit the loss {:?}",
                    self.config.loss
                )))
            }
        }
        self.steps += 1;
        let carry = self.config.carry_state && self.carried;
        let this = &*self;
        let plan = &this.plan;
        let bound =
            this.bound.as_ref().ok_or_else(|| Error::Config("trainer has no bound plan".into()))?;
        let stats = {
            this.upload(gpu, plan, &input, carry)?;
            this.write_optimizer_params(gpu, bound);
            let mut enc = gpu.device.create_command_encoder(&Default::default());
            if carry {
                let bufs = plan.buffers();
                let s = &this.spec;
                let n_state = (s.num_layers * s.directions() * b) as u64;
                enc.copy_buffer_to_buffer(
                    bufs.h_n,
                    0,
                    bufs.h0,
                    0,
                    n_state * hp(s.hidden_size) as u64 * 4,
                );
                if s.cell.has_cell_state() {
                    enc.copy_buffer_to_buffer(
                        bufs.c_n,
                        0,
                        bufs.c0,
                        0,
                        n_state * s.hidden_size as u64 * 4,
                    );
                }
            }
            plan.record_forward(&this.spec, &mut enc, None);
            {
                let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("head"),
                    timestamp_writes: None,
                });
                for dsp in &bound.head {
                    dsp.record(&mut pass);
                }
            }
            plan.record_backward(&this.spec, &mut enc, None, false);
            {
                let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("clip+optim"),
                    timestamp_writes: None,
                });
                for dsp in &bound.norm {
                    dsp.record(&mut pass);
                }
                pass.set_pipeline(&bound.optim.pipeline);
                for slot in &bound.params {
                    pass.set_bind_group(0, &slot.bind, &[]);
                    let groups = slot.n.div_ceil(64);
                    let gx = groups.min(65535);
                    pass.dispatch_workgroups(gx as u32, groups.div_ceil(65535) as u32, 1);
                }
                for dsp in &bound.packs {
                    dsp.record(&mut pass);
                }
            }
            gpu.queue.submit([enc.finish()]);
            gpu.stage(&[(&this.stats, 4)])
        };
        let stats = gpu.fetch(stats).await?.pop().unwrap_or_default();
        if stats.len() < 4 {
            return Err(Error::Device(format!("training statistics: read {} of 4", stats.len())));
        }
        self.carried = true;
        let s = StepStats { loss: stats[0], grad_norm: stats[1], clipped: stats[3] > 0.5 };
        if !s.loss.is_finite() {
            return Err(Error::NonFinite {
                what: format!("loss at step {}", self.steps),
                index: 0,
                value: s.loss,
            });
        }
        self.log.push(s);
        Ok(s)
    }

    fn upload(&self, gpu: &Gpu, plan: &GradPlan, input: &Input<'_>, carry: bool) -> Result<()> {
        let s = &self.spec;
        let (t, b) = (self.t, self.b);
        let bufs = plan.buffers();
        let q = &gpu.queue;
        q.write_buffer(
            bufs.x,
            0,
            bytemuck::cast_slice(&pad_rows(input.x, t * b, s.input_size, hp(s.input_size))),
        );
        q.write_buffer(bufs.lengths, 0, bytemuck::cast_slice(&vec![t as u32; b]));
        let n_state = s.num_layers * s.directions() * b;
        let hz = vec![0.0f32; n_state * hp(s.hidden_size)];
        let cz = vec![0.0f32; n_state * s.hidden_size];
        if !carry {
            q.write_buffer(bufs.h0, 0, bytemuck::cast_slice(&hz));
            q.write_buffer(bufs.c0, 0, bytemuck::cast_slice(&cz));
        }
        // No gradient reaches the final states (truncated BPTT).
        q.write_buffer(bufs.d_h_n, 0, bytemuck::cast_slice(&hz));
        q.write_buffer(bufs.d_c_n, 0, bytemuck::cast_slice(&cz));
        Ok(())
    }

    fn write_optimizer_params(&self, gpu: &Gpu, bound: &Bound) {
        for slot in &bound.params {
            let p = self.config.optimizer.params(slot.n, self.steps, self.config.clip_value);
            gpu.queue.write_buffer(&slot.opt_params, 0, bytemuck::bytes_of(&p));
        }
    }

    /// Builds the head, norm and optimizer dispatches against the plan's buffers.
    fn bind(&self, gpu: &Gpu, plan: &GradPlan) -> Result<Bound> {
        let s = &self.spec;
        let (t, b) = (self.t, self.b);
        let r = t * b;
        let o = self.config.loss.outputs();
        let op = hp(o);
        let kp = s.directions() * hp(s.hidden_size);
        let bufs = plan.buffers();
        let mut head = vec![];

        // logits = out · W_yᵀ + b_y with the forward GEMM.
        let gv = crate::gpu::GemmVariant::best(gpu);
        let gemm = gv.kernel(gpu, crate::Precision::F32)?;
        let gp = gpu.uniform_init(
            "head gemm",
            bytemuck::bytes_of(&GemmParams {
                m: r as u32,
                n: op as u32,
                kp4: (kp / 4) as u32,
                pad: 0,
            }),
        );
        let (gx, gy) = gv.groups(r, op);
        gpu.check_groups("head GEMM", gx.max(gy))?;
        head.push(Dispatch {
            bind: gemm.bind(gpu, &[&gp, bufs.out, &self.w_y, &self.b_y, &self.logits]),
            kernel: gemm,
            groups: (gx, gy, 1),
        });

        let loss_k = gpu.kernel(&shaders::loss())?;
        let (mse, inv) = match self.config.loss {
            Loss::CrossEntropy { .. } => (0u32, 1.0 / r as f32),
            Loss::Mse { outputs } => (1u32, 1.0 / (r * outputs) as f32),
        };
        let lp = LossParams {
            r: r as u32,
            o: o as u32,
            op: op as u32,
            mse,
            inv_count: inv,
            pad: [0; 3],
        };
        let lpb = gpu.uniform_init("loss params", bytemuck::bytes_of(&lp));
        head.push(Dispatch {
            bind: loss_k.bind(
                gpu,
                &[&lpb, &self.logits, &self.classes, &self.targets, &self.dlogits, &self.row_loss],
            ),
            kernel: loss_k,
            groups: (r.div_ceil(64) as u32, 1, 1),
        });

        let hp_buf = gpu.uniform_init(
            "head params",
            bytemuck::bytes_of(&HeadParams {
                r: r as u32,
                op4: (op / 4) as u32,
                kp4: (kp / 4) as u32,
                pad: 0,
            }),
        );
        for (entry, groups) in [
            ("weights", ((kp / 4).div_ceil(64) as u32, (op / 4) as u32, 1)),
            ("bias", ((op / 4).div_ceil(64) as u32, 1, 1)),
            ("inputs", ((kp / 4).div_ceil(64) as u32, r as u32, 1)),
        ] {
            gpu.check_groups("head gradient", groups.0.max(groups.1))?;
            let k = gpu.kernel(&shaders::head_grad(entry))?;
            let bind = k.bind(
                gpu,
                &[&hp_buf, &self.dlogits, bufs.out, &self.w_y, &self.dw_y, &self.db_y, bufs.dout],
            );
            head.push(Dispatch { kernel: k, bind, groups });
        }

        // Parameters with their gradients: RNN layers (biases only when the spec has them),
        // then the head.
        let hpad = hp(s.hidden_size);
        let gh = s.gates() * s.hidden_size;
        let d = s.directions();
        let mut pairs: Vec<(&wgpu::Buffer, &wgpu::Buffer, usize)> = vec![];
        let mut packs = vec![];
        for (l, lw) in self.model.layers.iter().enumerate() {
            let [dw_ih, dw_hh, db_ih, db_hh] = bufs.grads[l];
            let hh = s.recurrent_weights();
            let [w_ih, w_hh, _, _] = lw.buffers();
            pairs.push((w_ih, dw_ih, d * gh * lw.kp));
            if hh {
                pairs.push((w_hh, dw_hh, d * gh * hpad));
            }
            if lw.master.is_some() {
                packs.push(pack_dispatch(gpu, s.precision, w_ih, &lw.w_ih, d * gh * lw.kp)?);
                if hh {
                    packs.push(pack_dispatch(gpu, s.precision, w_hh, &lw.w_hh, d * gh * hpad)?);
                }
            }
            if s.bias {
                pairs.push((&lw.b_ih, db_ih, d * gh));
            }
            if s.bias && hh {
                pairs.push((&lw.b_hh, db_hh, d * gh));
            }
        }
        pairs.push((&self.w_y, &self.dw_y, op * kp));
        pairs.push((&self.b_y, &self.db_y, op));

        let partial = gpu.kernel(&shaders::grad_norm("partial"))?;
        let finish = gpu.kernel(&shaders::grad_norm("finish"))?;
        let total_partials: usize = pairs.iter().map(|p| p.2.div_ceil(NORM_CHUNK)).sum();
        let partials = gpu.storage("partials", (total_partials * 4) as u64);
        let mut norm = vec![];
        let mut slot = 0usize;
        let max_norm = self.config.clip_norm.unwrap_or(0.0);
        for &(_, grad, n) in &pairs {
            let pb = gpu.uniform_init(
                "norm params",
                bytemuck::bytes_of(&NormParams {
                    n: n as u32,
                    slot: slot as u32,
                    rows: 0,
                    max_norm,
                }),
            );
            let chunks = n.div_ceil(NORM_CHUNK);
            norm.push(Dispatch {
                bind: partial.bind(gpu, &[&pb, grad, &partials, &self.stats]),
                kernel: partial.clone(),
                groups: (chunks.div_ceil(64) as u32, 1, 1),
            });
            slot += chunks;
        }
        let fb = gpu.uniform_init(
            "norm finish",
            bytemuck::bytes_of(&NormParams {
                n: total_partials as u32,
                slot: 0,
                rows: r as u32,
                max_norm,
            }),
        );
        norm.push(Dispatch {
            bind: finish.bind(gpu, &[&fb, &self.row_loss, &partials, &self.stats]),
            kernel: finish,
            groups: (1, 1, 1),
        });

        let optim = gpu.kernel(&shaders::optim())?;
        let mut params = vec![];
        for &(param, grad, n) in &pairs {
            let opt_params = gpu.uniform_init(
                "optim params",
                bytemuck::bytes_of(&self.config.optimizer.params(n, 1, None)),
            );
            let m = gpu.storage("optim m", (n * 4) as u64);
            let v = gpu.storage("optim v", (n * 4) as u64);
            let bind = optim.bind(gpu, &[&opt_params, param, grad, &m, &v, &self.stats]);
            params.push(ParamSlot { n, opt_params, bind, _state: [m, v] });
        }
        Ok(Bound { head, norm, params, optim, packs, _partials: partials })
    }
}

/// Rounds the f32 master weight matrix `master` ([n] values, n a multiple of 4) into the
/// 16-bit copy `packed` the kernels read (pack_weights.wgsl).
fn pack_dispatch(
    gpu: &Gpu,
    p: crate::Precision,
    master: &wgpu::Buffer,
    packed: &wgpu::Buffer,
    n: usize,
) -> Result<Dispatch> {
    let k = gpu.kernel(&shaders::pack_weights(p))?;
    let n4 = n / 4;
    let params = gpu.uniform_init(
        "pack params",
        bytemuck::bytes_of(&crate::gpu::abi::PackParams { n4: n4 as u32, pad: [0; 3] }),
    );
    let groups = n4.div_ceil(64);
    let groups = (groups.min(65535) as u32, groups.div_ceil(65535) as u32, 1);
    gpu.check_groups("weight pack", groups.1)?;
    Ok(Dispatch { bind: k.bind(gpu, &[&params, master, packed]), kernel: k, groups })
}

#[cfg(feature = "native")]
/// Writes a training log (one object per update: loss, grad_norm, clipped) as JSON,
/// atomically: `{"steps": [...]}`.
pub fn write_log(path: &std::path::Path, log: &[StepStats]) -> Result<()> {
    let json = serde_json::to_vec_pretty(&serde_json::json!({ "steps": log }))
        .map_err(|e| Error::Config(format!("training log: {e}")))?;
    crate::io::write_atomic(path, &json)
}

#[cfg(feature = "native")]
/// Reads a log written by `write_log`.
pub fn read_log(path: &std::path::Path) -> Result<Vec<StepStats>> {
    #[derive(serde::Deserialize)]
    struct Log {
        steps: Vec<StepStats>,
    }
    let bytes = std::fs::read(path)
        .map_err(|source| Error::Io { path: path.display().to_string(), source })?;
    let log: Log = serde_json::from_slice(&bytes)
        .map_err(|e| Error::Config(format!("training log {}: {e}", path.display())))?;
    Ok(log.steps)
}
