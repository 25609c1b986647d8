//! The forward recurrence of every layer, built once from two independent choices and
//! recorded the same way by inference, training, `Stream` and `Trainer`:
//! - the input projection: a separate GEMM variant over all T*B rows (into xg), or fused
//!   into the step (no xg at inference);
//! - the loop: one dispatch per step, or persistent kernels looping over chunks of steps.
//!
//! Per layer it records: h0/c0 into the state buffers, the projection GEMM, the recurrent
//! dispatches (both directions in each), the final state out.
//!
//! Buffers it owns (legend in src/spec.rs):
//! ```text
//!   h_state  2 x [D, B, Hp]   h in and h out of the recurrent kernel, swapped every dispatch
//!                             (fused-persistent: both halves in h_state[0], [2, D, B, Hp])
//!   c_state  [D, B, H]
//! ```

use super::abi::{FusedParams, GemmParams, FLAG_TRAIN, FLAG_WRITE_OUT};
use super::context::{Dispatch, Gpu, Kernel};
use super::kernels::{
    self, fused_kernel, fused_persistent_chunk, persistent_chunk, persistent_kernel,
    persistent_subgroup_kernel, scan_kernel, step_groups, step_kernel, step_subgroup_rows,
    GemmVariant, PersistentShape, Variant,
};
use super::layout::{hp, step_entries, step_params, LayerWeights, ReserveLayout};
use super::profile::{self, Profiler};
use super::shaders::{self, Storage};
use crate::error::Result;
use crate::spec::RnnSpec;
use std::sync::Arc;

/// How the recurrent kernel loops over time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recurrent {
    /// One dispatch per step of a per-step kernel (the variant's: tiled, register, subgroup).
    Step(Variant),
    /// One dispatch per step of the fused step (the projection computed inside it).
    FusedStep,
    /// Chunks of steps per dispatch, W_hh streamed from storage (persistent.wgsl).
    PersistentStreamed,
    /// Chunks of steps per dispatch, W_hh rows in registers (persistent_subgroup.wgsl).
    PersistentRegisters,
    /// Chunks of steps per dispatch of the fused step (its persistent entry point).
    FusedPersistent,
    /// A linear cell's whole time loop in one dispatch per chunk of steps (scan.wgsl).
    Scan(shaders::Scan),
}

impl Recurrent {
    /// Whether the step computes the input projection itself.
    pub fn fused(self) -> bool {
        matches!(self, Recurrent::FusedStep | Recurrent::FusedPersistent)
    }

    /// Whether one dispatch runs a chunk of steps.
    pub fn persistent(self) -> bool {
        matches!(
            self,
            Recurrent::PersistentStreamed
                | Recurrent::PersistentRegisters
                | Recurrent::FusedPersistent
                | Recurrent::Scan(_)
        )
    }
}

/// The two choices a forward recurrence is built from. `projection` is None exactly when
/// the recurrent kernel is fused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Recipe {
    /// The GEMM computing xg = W_ih·x + b_ih for all rows, or None (fused into the step).
    pub projection: Option<GemmVariant>,
    /// The recurrent kernel and its loop.
    pub recurrent: Recurrent,
}

impl Recipe {
    /// The recipe of a forward variant at inference.
    pub fn inference(gpu: &Gpu, v: Variant) -> Recipe {
        let recurrent = match v {
            Variant::Tiled | Variant::Register | Variant::Subgroup => Recurrent::Step(v),
            Variant::Persistent => Recurrent::PersistentStreamed,
            Variant::PersistentSubgroup => Recurrent::PersistentRegisters,
            Variant::FusedSubgroup => Recurrent::FusedStep,
            Variant::FusedPersistent => Recurrent::FusedPersistent,
            Variant::Scan | Variant::Sequential => Recurrent::Scan(v.scan().expect("scan")),
        };
        let projection = (!recurrent.fused()).then(|| v.gemm(gpu));
        Recipe { projection, recurrent }
    }

    /// The recipe of training's forward for a requested variant: the fused step keeps the
    /// reserve space itself where the device has its storage buffers (else the unfused
    /// kernels); the persistent variants loop in their kernels (with the reserve writes);
    /// the others run the per-step kernel of `kernels` (the training variant).
    pub fn training(gpu: &Gpu, requested: Variant, kernels: Variant) -> Recipe {
        let fused_ok =
            gpu.limits.max_storage_buffers_per_shader_stage >= kernels::FUSED_TRAIN_STORAGE_BUFFERS;
        let recurrent = match requested {
            Variant::FusedSubgroup if fused_ok => Recurrent::FusedStep,
            Variant::FusedPersistent if fused_ok => Recurrent::FusedPersistent,
            Variant::Persistent => Recurrent::PersistentStreamed,
            Variant::PersistentSubgroup => Recurrent::PersistentRegisters,
            Variant::Scan | Variant::Sequential => Recurrent::Scan(requested.scan().expect("scan")),
            Variant::Tiled
            | Variant::Register
            | Variant::Subgroup
            | Variant::FusedSubgroup
            | Variant::FusedPersistent => Recurrent::Step(kernels),
        };
        let projection = (!recurrent.fused()).then(|| kernels.gemm(gpu));
        Recipe { projection, recurrent }
    }
}

/// The reserve space of one layer that training's forward writes and backward reads:
/// xg [R, D*G*H] (also the projection's output), hg [R, D*G*H] (the fused step writes only
/// GRU's h part of n; the rest stays 0), hprev [R, D*Hp], cprev [R, D*H]. cprev is the tail
/// of hg's buffer from `layout.cprev_off`: one storage binding fewer for the step and backward
/// kernels, which must fit WebGPU's per-stage limit.
///
/// In 16 bits (`RnnSpec::reserve_precision`, reserve_16.wgsl) hg and cprev hold two steps
/// per u32 word ([T/2*B, ..] rows), hg the sums xg + hg the gates are recomputed from and,
/// for GRU, cprev the x part of n; backward then reads no xg, so every layer's projection
/// shares one xg buffer. h_{t-1} stays f32: it is the dW_hh GEMM's operand.
pub(crate) struct Reserve {
    pub(crate) xg: wgpu::Buffer,
    /// hg, then cprev from `layout.cprev_off`
    pub(crate) hg: wgpu::Buffer,
    pub(crate) hprev: wgpu::Buffer,
    /// the sizes and offsets of these buffers
    pub(crate) layout: ReserveLayout,
}

impl Reserve {
    /// Zeroed reserve buffers for T steps of B rows (`ReserveLayout`); `shared_xg` is the
    /// projection buffer the layers share in 16 bits (None: one of its own).
    pub(crate) fn new(
        gpu: &Gpu,
        spec: &RnnSpec,
        t: usize,
        b: usize,
        shared_xg: Option<&wgpu::Buffer>,
    ) -> Reserve {
        let l = ReserveLayout::of(spec, t, b);
        let f = 4u64;
        Reserve {
            xg: shared_xg.cloned().unwrap_or_else(|| gpu.storage("xg", l.xg as u64 * f)),
            hg: gpu.storage("hg and cprev", (l.cprev_off + l.cprev) as u64 * f),
            hprev: gpu.storage("hprev", l.hprev as u64 * f),
            layout: l,
        }
    }

    /// The pre-activations and c_{t-1} of every step in the f32 layout (xg, hg
    /// [T*B, D*G*H], cprev [T*B, D*H]) from the staged xg, hg and cprev (`layout.hg` and
    /// `layout.cprev` elements; u32 words in 16 bits, as f32 bits).
    pub(crate) fn unpack(
        spec: &RnnSpec,
        t: usize,
        b: usize,
        xg: Vec<f32>,
        hg: Vec<f32>,
        cprev: Vec<f32>,
    ) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        let precision = spec.reserve_precision();
        if !precision.is_16bit() {
            return (xg, hg, cprev);
        }
        // step t, row b of a [T/2*B, width] word buffer
        let value = |v: &[f32], width: usize, row: usize, col: usize| -> f32 {
            let (tt, bb) = (row / b, row % b);
            let word = v[((tt / 2) * b + bb) * width + col].to_bits();
            let bits = if tt % 2 == 0 { word & 0xffff } else { word >> 16 };
            precision.from_bits(bits as u16)
        };
        let (h, d) = (spec.hidden_size, spec.directions());
        let gh = spec.gates() * h;
        let split = spec.cell.cell().split_h;
        let (mut xs, mut hs) = (vec![0f32; t * b * d * gh], vec![0f32; t * b * d * gh]);
        let mut cs = vec![0f32; if spec.cell.has_cell_state() { t * b * d * h } else { 0 }];
        for row in 0..t * b {
            for col in 0..d * gh {
                let v = value(&hg, d * gh, row, col);
                let (dir, unit) = (col / gh, col % gh);
                if split && unit / h == 2 {
                    // GRU's n: hg_n here, xg_n in cprev
                    hs[row * d * gh + col] = v;
                    xs[row * d * gh + col] = value(&cprev, d * h, row, dir * h + unit % h);
                } else {
                    xs[row * d * gh + col] = v;
                }
            }
            if !cs.is_empty() {
                for col in 0..d * h {
                    cs[row * d * h + col] = value(&cprev, d * h, row, col);
                }
            }
        }
        (xs, hs, cs)
    }
}

/// What one layer's recurrence reads and writes.
pub(crate) struct LayerIo<'a> {
    /// the layer's input [R, Kp]
    pub(crate) input: &'a wgpu::Buffer,
    /// its output sequence [R, D*Hp]
    pub(crate) out: &'a wgpu::Buffer,
    /// the projection's output [R, D*G*H] (a stand-in when fused)
    pub(crate) xg: &'a wgpu::Buffer,
    /// training: the reserve space kept for backward (its xg is `xg`)
    pub(crate) reserve: Option<&'a Reserve>,
    /// write the output sequence (off for the last layer of a final-states-only call)
    pub(crate) write_out: bool,
}

/// The initial and final states a recording reads and writes: h0, h_n [L*D, B, Hp],
/// c0, c_n [L*D, B, H].
pub(crate) struct States<'a> {
    pub(crate) h0: &'a wgpu::Buffer,
    pub(crate) c0: &'a wgpu::Buffer,
    pub(crate) h_n: &'a wgpu::Buffer,
    pub(crate) c_n: &'a wgpu::Buffer,
}

struct RecurrentLayer {
    /// the projection GEMM (None: fused into the step)
    gemm: Option<Dispatch>,
    /// the recurrent kernel's bind groups, for dispatch i: step_bgs[i % 2]
    step_bgs: [wgpu::BindGroup; 2],
    _params: Vec<wgpu::Buffer>,
}

/// The forward recurrence of every layer for one (T, B, recipe).
pub(crate) struct Recurrence {
    pub(crate) recipe: Recipe,
    t: usize,
    b: usize,
    kernel: Arc<Kernel>,
    groups: (u32, u32, u32),
    /// steps per dispatch (1, or the persistent chunk)
    chunk: usize,
    /// stride of the per-step uniform entries
    align: u64,
    layers: Vec<RecurrentLayer>,
    h_state: [wgpu::Buffer; 2],
    c_state: wgpu::Buffer,
    /// where a layer's last dispatch leaves h: (index into h_state, byte offset)
    h_last: (usize, u64),
}

impl Recurrence {
    /// Builds the kernels, state buffers and bind groups of every layer. `io[l]` names
    /// layer l's buffers; with `train` every step keeps the reserve space (each `io` entry
    /// then has one).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn build(
        gpu: &Gpu,
        spec: &RnnSpec,
        weights: &[LayerWeights],
        t: usize,
        b: usize,
        recipe: Recipe,
        lengths: &wgpu::Buffer,
        io: &[LayerIo<'_>],
        train: bool,
    ) -> Result<Recurrence> {
        let s = spec;
        let (h, g, d, hpad) = (s.hidden_size, s.gates(), s.directions(), hp(s.hidden_size));
        let f = 4u64;
        let rec = recipe.recurrent;
        let in_place = rec == Recurrent::FusedPersistent;
        let state_bytes = (d * b * hpad) as u64 * f;
        let h_state = [0, 1].map(|i| {
            gpu.storage("h_state", if in_place && i == 0 { 2 * state_bytes } else { state_bytes })
        });
        let c_state = gpu.storage("c_state", (d * b * h) as u64 * f);

        let kp_max = weights.iter().map(|lw| lw.kp).max().unwrap_or(0);
        let st = if train { Storage::training(s) } else { Storage::inference(s.precision) };
        let (kernel, groups, chunk) = match rec {
            Recurrent::Step(v) => {
                let g = step_groups(v, s.cell, h, b);
                (step_kernel(gpu, v, s.cell, b, st)?, (g.0 as u32, g.1 as u32, d as u32), 1)
            }
            Recurrent::FusedStep => {
                let g = step_groups(Variant::FusedSubgroup, s.cell, h, b);
                (
                    fused_kernel(gpu, s.cell, b, None, train, st)?,
                    (g.0 as u32, g.1 as u32, d as u32),
                    1,
                )
            }
            Recurrent::PersistentStreamed => {
                let shape = PersistentShape::new(gpu, s, b)?;
                let k = persistent_kernel(gpu, s.cell, h, shape, st)?;
                (k, (b.div_ceil(shape.rows) as u32, d as u32, 1), shape.chunk)
            }
            Recurrent::PersistentRegisters => {
                let (k, rows) = persistent_subgroup_kernel(gpu, s.cell, h, b, st)?;
                (k, (b.div_ceil(rows) as u32, d as u32, 1), persistent_chunk(rows, h))
            }
            Recurrent::FusedPersistent => {
                let chunk = fused_persistent_chunk(s, b, kp_max, train);
                let k = fused_kernel(gpu, s.cell, b, Some(chunk), train, st)?;
                (k, (b.div_ceil(step_subgroup_rows(b)) as u32, d as u32, 1), chunk)
            }
            Recurrent::Scan(kind) => scan_kernel(gpu, s.cell, kind, false, (h, b, d))?,
        };
        gpu.check_groups("recurrent step (x)", groups.0)?;
        gpu.check_groups("recurrent step (y)", groups.1)?;
        let gemm =
            recipe.projection.map(|v| v.kernel(gpu, s.precision).map(|k| (v, k))).transpose()?;

        let mut align = 0;
        let mut layers = Vec::with_capacity(weights.len());
        for (lw, io) in weights.iter().zip(io) {
            let mut flags = if io.write_out { FLAG_WRITE_OUT } else { 0 };
            if train {
                flags |= FLAG_TRAIN;
            }
            // One entry per step; a persistent dispatch reads the entry of its chunk's first
            // step.
            let cprev_off = io.reserve.map_or(0, |r| r.layout.cprev_off);
            let per_step = (0..t).map(|step| step_params(s, t, b, step, flags, cprev_off));
            let (params, al) = if rec.fused() {
                let kp4 = (lw.kp / 4) as u32;
                let fused = per_step.map(|step| FusedParams { step, kp4, pad: [0; 3] });
                step_entries(gpu, "fused step params", fused)
            } else {
                step_entries(gpu, "step params", per_step)
            };
            align = al;
            let mut keep = vec![params];
            let gemm = match &gemm {
                Some((v, k)) => {
                    let gp = GemmParams {
                        m: (t * b) as u32,
                        n: (d * g * h) as u32,
                        kp4: (lw.kp / 4) as u32,
                        pad: 0,
                    };
                    let gp = gpu.uniform_init("gemm params", bytemuck::bytes_of(&gp));
                    let (gx, gy) = v.groups(t * b, d * g * h);
                    gpu.check_groups("input GEMM (x)", gx)?;
                    gpu.check_groups("input GEMM (y)", gy)?;
                    let bind = k.bind(gpu, &[&gp, io.input, &lw.w_ih, &lw.b_ih, io.xg]);
                    keep.push(gp);
                    Some(Dispatch { kernel: k.clone(), bind, groups: (gx, gy, 1) })
                }
                None => None,
            };
            let params = &keep[0];
            let step_bgs = [0, 1].map(|i| {
                let (h_out, h_in) = if in_place {
                    (&h_state[0], &h_state[0])
                } else {
                    (&h_state[1 - i], &h_state[i])
                };
                match (rec.fused(), io.reserve) {
                    (true, Some(r)) => kernel.bind(
                        gpu,
                        &[
                            params, io.input, &lw.w_ih, &lw.b_ih, &lw.w_hh, &lw.b_hh, lengths,
                            h_in, h_out, &c_state, io.out, &r.xg, &r.hg, &r.hprev, &r.hg,
                        ],
                    ),
                    (true, None) => kernel.bind(
                        gpu,
                        &[
                            params, io.input, &lw.w_ih, &lw.b_ih, &lw.w_hh, &lw.b_hh, lengths,
                            h_in, h_out, &c_state, io.out,
                        ],
                    ),
                    (false, reserve) => {
                        // At inference the reserve bindings are never written: any buffer.
                        // (cprev's place is not declared: it lives in hg's buffer.)
                        let [hg, hprev, cprev] = match reserve {
                            Some(r) => [&r.hg, &r.hprev, &r.hg],
                            None => [&c_state, &c_state, &c_state],
                        };
                        kernel.bind(
                            gpu,
                            &[
                                params, io.xg, &lw.w_hh, &lw.b_hh, lengths, h_out, &c_state,
                                io.out, hg, hprev, cprev, h_in,
                            ],
                        )
                    }
                }
            });
            layers.push(RecurrentLayer { gemm, step_bgs, _params: keep });
        }
        let dispatches = t.div_ceil(chunk);
        Ok(Recurrence {
            recipe,
            t,
            b,
            kernel,
            groups,
            chunk,
            align,
            layers,
            // the state before step s is in half s % 2 of fused-persistent's buffer
            h_last: if in_place { (0, (t % 2) as u64 * state_bytes) } else { (dispatches % 2, 0) },
            h_state,
            c_state,
        })
    }

    /// Records every layer: its initial state from `states`, the projection, the recurrent
    /// dispatches, its final state into `states`.
    pub(crate) fn record(
        &self,
        spec: &RnnSpec,
        enc: &mut wgpu::CommandEncoder,
        states: &States<'_>,
        mut prof: Option<&mut Profiler>,
    ) {
        let (b, d) = (self.b, spec.directions());
        let state_bytes = (d * b * hp(spec.hidden_size) * 4) as u64;
        let c_bytes = (d * b * spec.hidden_size * 4) as u64;
        let lstm = spec.cell.has_cell_state();
        for (l, layer) in self.layers.iter().enumerate() {
            let l = l as u64;
            enc.copy_buffer_to_buffer(states.h0, l * state_bytes, &self.h_state[0], 0, state_bytes);
            if lstm {
                enc.copy_buffer_to_buffer(states.c0, l * c_bytes, &self.c_state, 0, c_bytes);
            }
            if let Some(gemm) = &layer.gemm {
                let tw = prof.as_deref_mut().and_then(|p| p.pass(profile::INPUT_GEMM));
                let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("input gemm"),
                    timestamp_writes: tw,
                });
                gemm.record(&mut pass);
            }
            {
                let family = if self.recipe.recurrent.fused() {
                    profile::FUSED_STEP
                } else {
                    profile::RECURRENT_STEP
                };
                let tw = prof.as_deref_mut().and_then(|p| p.pass(family));
                let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("recurrent"),
                    timestamp_writes: tw,
                });
                pass.set_pipeline(&self.kernel.pipeline);
                let (gx, gy, gz) = self.groups;
                for (i, step) in (0..self.t).step_by(self.chunk).enumerate() {
                    let offset = (step as u64 * self.align) as u32;
                    pass.set_bind_group(0, &layer.step_bgs[i % 2], &[offset]);
                    pass.dispatch_workgroups(gx, gy, gz);
                }
            }
            let (last, offset) = self.h_last;
            enc.copy_buffer_to_buffer(
                &self.h_state[last],
                offset,
                states.h_n,
                l * state_bytes,
                state_bytes,
            );
            if lstm {
                enc.copy_buffer_to_buffer(&self.c_state, 0, states.c_n, l * c_bytes, c_bytes);
            }
        }
    }
}
