//! The inference plan: buffers and recorded dispatches of forward calls of one
//! (T, B, variant, return_sequence), built once and reused by every call of that shape
//! (`GpuModel::forward`, `Stream`).
//!
//! Buffers beyond the recurrence's (legend in src/spec.rs, layouts in layout.rs):
//! ```text
//!   x        [T*B, Ip]          layer 0 input
//!   xg       [T*B, D*G*H]       input projection of the current layer, incl. b_ih (a
//!                               16-byte stand-in when the step computes it)
//!   out[2]   [T*B, D*Hp]        layer outputs, ping-pong between layers
//!   h0, h_n  [L*D, B, Hp]       c0, c_n [L*D, B, H]
//!   lengths  [B] u32
//! ```

use super::context::Gpu;
use super::grad_plan::GradPlan;
use super::kernels::Variant;
use super::layout::{hp, pad_rows, write_input, Input, LayerWeights};
use super::profile::Profiler;
use super::recurrence::{LayerIo, Recipe, Recurrence, States};
use crate::error::Result;
use crate::spec::RnnSpec;

/// What an inference plan is built for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct PlanKey {
    pub(crate) t: usize,
    pub(crate) b: usize,
    pub(crate) variant: Variant,
    pub(crate) return_sequence: bool,
}

/// The plans a model keeps for its most recent shapes: one for inference, one for
/// training (`Trainer` owns its own).
#[derive(Default)]
pub(crate) struct PlanCache {
    pub(crate) forward: Option<Plan>,
    pub(crate) train: Option<GradPlan>,
}

/// Buffers and the recorded recurrence of forward calls of one `PlanKey`.
pub(crate) struct Plan {
    pub(crate) key: PlanKey,
    pub(crate) x: wgpu::Buffer,
    pub(crate) outs: Vec<wgpu::Buffer>,
    pub(crate) h0: wgpu::Buffer,
    pub(crate) c0: wgpu::Buffer,
    pub(crate) h_n: wgpu::Buffer,
    pub(crate) c_n: wgpu::Buffer,
    pub(crate) lengths: wgpu::Buffer,
    _xg: wgpu::Buffer,
    rec: Recurrence,
}

impl Plan {
    /// Allocates the buffers of `key` and builds its recurrence.
    pub(crate) fn build(
        gpu: &Gpu,
        spec: &RnnSpec,
        weights: &[LayerWeights],
        key: PlanKey,
    ) -> Result<Plan> {
        let s = spec;
        let (t, b) = (key.t, key.b);
        let (h, g, d, hpad) = (s.hidden_size, s.gates(), s.directions(), hp(s.hidden_size));
        let n_state = s.num_layers * d * b;
        let recipe = Recipe::inference(gpu, key.variant);
        let fused = recipe.recurrent.fused();
        let f = 4u64;
        let sizes = [
            ("x", (t * b * hp(s.input_size)) as u64 * f),
            ("xg", (t * b * d * g * h) as u64 * f),
            ("output", (t * b * d * hpad) as u64 * f),
            ("h_n", (n_state * hpad) as u64 * f),
        ];
        for (what, bytes) in sizes {
            // the fused variants have no input projection buffer
            if !(fused && what == "xg") {
                gpu.check_binding(what, bytes)?;
            }
        }
        let x = gpu.storage("x", sizes[0].1);
        let xg = gpu.storage("xg", if fused { 16 } else { sizes[1].1 });
        let outs: Vec<wgpu::Buffer> =
            (0..s.num_layers.min(2)).map(|_| gpu.storage("out", sizes[2].1)).collect();
        let lengths = gpu.storage("lengths", b as u64 * 4);
        let io: Vec<LayerIo<'_>> = (0..s.num_layers)
            .map(|l| LayerIo {
                input: if l == 0 { &x } else { &outs[(l - 1) % outs.len()] },
                out: &outs[l % outs.len()],
                xg: &xg,
                reserve: None,
                write_out: l + 1 < s.num_layers || key.return_sequence,
            })
            .collect();
        let rec = Recurrence::build(gpu, s, weights, t, b, recipe, &lengths, &io, false)?;
        Ok(Plan {
            key,
            x,
            outs,
            h0: gpu.storage("h0", sizes[3].1),
            c0: gpu.storage("c0", (n_state * h) as u64 * f),
            h_n: gpu.storage("h_n", sizes[3].1),
            c_n: gpu.storage("c_n", (n_state * h) as u64 * f),
            lengths,
            _xg: xg,
            rec,
        })
    }

    /// The last layer's output sequence [T*B, D*Hp].
    pub(crate) fn out(&self, spec: &RnnSpec) -> &wgpu::Buffer {
        &self.outs[(spec.num_layers - 1) % self.outs.len()]
    }

    /// Records a whole forward call (inputs already uploaded).
    pub(crate) fn record(
        &self,
        spec: &RnnSpec,
        enc: &mut wgpu::CommandEncoder,
        prof: Option<&mut Profiler>,
    ) {
        let states = States { h0: &self.h0, c0: &self.c0, h_n: &self.h_n, c_n: &self.c_n };
        self.rec.record(spec, enc, &states, prof);
    }

    /// Writes x and lengths into the plan's buffers.
    pub(crate) fn upload_x(&self, gpu: &Gpu, spec: &RnnSpec, input: &Input<'_>) -> Result<()> {
        write_input(gpu, spec, &self.x, &self.lengths, input)
    }

    /// Writes x, lengths and the initial states (zeros when absent).
    pub(crate) fn upload(&self, gpu: &Gpu, spec: &RnnSpec, input: &Input<'_>) -> Result<()> {
        self.upload_x(gpu, spec, input)?;
        let (h, hpad) = (spec.hidden_size, hp(spec.hidden_size));
        let n_state = spec.num_layers * spec.directions() * input.b;
        let h0 = input
            .h0
            .map(|v| pad_rows(v, n_state, h, hpad))
            .unwrap_or_else(|| vec![0.0; n_state * hpad]);
        gpu.queue.write_buffer(&self.h0, 0, bytemuck::cast_slice(&h0));
        if spec.cell.has_cell_state() {
            let c0 = input.c0.map(|v| v.to_vec()).unwrap_or_else(|| vec![0.0; n_state * h]);
            gpu.queue.write_buffer(&self.c0, 0, bytemuck::cast_slice(&c0));
        }
        Ok(())
    }
}
