//! The forward pass on the GPU: a model's cached plan for the call's shape, every dispatch
//! of a call recorded into one command encoder and one submit, one readback at the end.

use super::context::{Gpu, Staged};
use super::kernels::Variant;
use super::layout::{hp, unpad_rows, Input};
use super::model::GpuModel;
use super::plan::{Plan, PlanKey};
#[cfg(feature = "native")]
use super::profile::Profiler;
use crate::error::{Error, Result};

/// Choices for one forward call.
#[derive(Clone, Copy, Debug)]
pub struct ForwardOptions {
    /// Force a kernel variant; None picks by rule (`Variant::auto`).
    pub variant: Option<Variant>,
    /// Read back the output sequence; false returns only h_n (and c_n).
    pub return_sequence: bool,
}

impl Default for ForwardOptions {
    fn default() -> Self {
        ForwardOptions { variant: None, return_sequence: true }
    }
}

/// Results of a forward call.
#[derive(Clone, Debug)]
pub struct Output {
    /// [T, B, D*H] (empty when not requested)
    pub output: Vec<f32>,
    /// [L*D, B, H]
    pub h_n: Vec<f32>,
    /// [L*D, B, H] (LSTM; empty otherwise)
    pub c_n: Vec<f32>,
    /// The variant that computed it.
    pub variant: Variant,
}

/// Where a call's initial state comes from.
pub(crate) enum StateInit {
    /// Input's h0/c0 (zeros when absent)
    Host,
    /// h_n/c_n of the previous call on the same plan (streaming)
    Carry,
}

/// What a submitted forward call reads back (see `GpuModel::unpack`).
pub(crate) struct ForwardReads {
    t: usize,
    b: usize,
    return_sequence: bool,
    variant: Variant,
}

/// Steps per chunk of a final-states-only forward (`ForwardOptions::return_sequence` off).
pub const FINAL_ONLY_CHUNK: usize = 256;

impl GpuModel {
    /// Runs the network over a batch; see `Input` for shapes. With `return_sequence` off,
    /// a unidirectional call without lengths runs in chunks of `FINAL_ONLY_CHUNK` steps, so
    /// its GPU memory does not grow with T.
    #[cfg(feature = "native")]
    pub fn forward(&self, gpu: &Gpu, input: &Input<'_>, opts: ForwardOptions) -> Result<Output> {
        pollster::block_on(self.forward_async(gpu, input, opts))
    }

    /// `forward` without blocking (the browser's only way; natively it polls the device).
    pub async fn forward_async(
        &self,
        gpu: &Gpu,
        input: &Input<'_>,
        opts: ForwardOptions,
    ) -> Result<Output> {
        self.check_input(input)?;
        let chunkable = !self.spec.bidirectional && input.lengths.is_none();
        if chunkable && !opts.return_sequence && input.t > FINAL_ONLY_CHUNK {
            return self.forward_chunked_async(gpu, input, opts, FINAL_ONLY_CHUNK).await;
        }
        // A sequence whose buffers would pass the device's binding limit runs in chunks
        // that fit (the state carried on the GPU), its outputs concatenated.
        let fits = self.steps_per_call(gpu, input.b);
        if chunkable && input.t > fits {
            return self.forward_chunked_async(gpu, input, opts, fits).await;
        }
        if input.t > fits {
            let why = if self.spec.bidirectional {
                "a bidirectional model"
            } else {
                "a call with lengths"
            };
            return Err(Error::DeviceLimit {
                what: format!(
                    "steps of {why} in one call (only unidirectional calls without lengths run in chunks: split the sequence or the batch)"
                ),
                value: input.t as u64,
                limit: fits as u64,
                limit_name: format!("steps of B = {} per binding (max_storage_buffer_binding_size)", input.b),
            });
        }
        let key = self.plan_key(gpu, input, opts)?;
        let (staged, reads) =
            self.with_plan(gpu, key, |plan| self.submit(gpu, plan, input, StateInit::Host))?;
        let got = gpu.fetch(staged).await?;
        Ok(self.unpack(&reads, got))
    }

    fn plan_key(&self, gpu: &Gpu, input: &Input<'_>, opts: ForwardOptions) -> Result<PlanKey> {
        let variant = self.pick(gpu, input.b, opts.variant)?;
        Ok(PlanKey { t: input.t, b: input.b, variant, return_sequence: opts.return_sequence })
    }

    /// Uploads, records and submits a forward call of `plan`, and stages its results for
    /// readback.
    pub(crate) fn submit(
        &self,
        gpu: &Gpu,
        plan: &Plan,
        input: &Input<'_>,
        init: StateInit,
    ) -> Result<(Staged, ForwardReads)> {
        let s = &self.spec;
        let (t, b) = (input.t, input.b);
        let (h, d, hpad) = (s.hidden_size, s.directions(), hp(s.hidden_size));
        let n_state = s.num_layers * d * b;
        let mut enc = gpu.device.create_command_encoder(&Default::default());
        match init {
            StateInit::Host => plan.upload(gpu, s, input)?,
            StateInit::Carry => {
                plan.upload_x(gpu, s, input)?;
                enc.copy_buffer_to_buffer(&plan.h_n, 0, &plan.h0, 0, (n_state * hpad * 4) as u64);
                if s.cell.has_cell_state() {
                    enc.copy_buffer_to_buffer(&plan.c_n, 0, &plan.c0, 0, (n_state * h * 4) as u64);
                }
            }
        }
        plan.record(s, &mut enc, None);
        gpu.queue.submit([enc.finish()]);
        let mut reads: Vec<(&wgpu::Buffer, usize)> = vec![(&plan.h_n, n_state * hpad)];
        if s.cell.has_cell_state() {
            reads.push((&plan.c_n, n_state * h));
        }
        if plan.key.return_sequence {
            reads.push((plan.out(s), t * b * d * hpad));
        }
        let reads_of = ForwardReads {
            t,
            b,
            return_sequence: plan.key.return_sequence,
            variant: plan.key.variant,
        };
        Ok((gpu.stage(&reads), reads_of))
    }

    /// The results of a forward call from its staged readback.
    pub(crate) fn unpack(&self, r: &ForwardReads, got: Vec<Vec<f32>>) -> Output {
        let s = &self.spec;
        let (h, d, hpad) = (s.hidden_size, s.directions(), hp(s.hidden_size));
        let n_state = s.num_layers * d * r.b;
        let mut got = got.into_iter();
        let h_n = unpad_rows(&got.next().unwrap_or_default(), n_state, h, hpad);
        let c_n = if s.cell.has_cell_state() { got.next().unwrap_or_default() } else { vec![] };
        let output = if r.return_sequence {
            // [T*B, D*Hp] -> [T*B, D*H]: every direction's block loses its padding.
            unpad_rows(&got.next().unwrap_or_default(), r.t * r.b * d, h, hpad)
        } else {
            vec![]
        };
        Output { output, h_n, c_n, variant: r.variant }
    }

    /// The most steps of a batch of `b` whose sequence buffers (x, the projection, the
    /// output) each fit in one binding of the device.
    fn steps_per_call(&self, gpu: &Gpu, b: usize) -> usize {
        let s = &self.spec;
        let limit = gpu.limits.max_storage_buffer_binding_size.min(gpu.limits.max_buffer_size);
        let widest = hp(s.input_size)
            .max(s.directions() * s.gates() * s.hidden_size)
            .max(s.directions() * hp(s.hidden_size));
        ((limit / (b * widest * 4).max(1) as u64) as usize).max(1)
    }

    /// A unidirectional call without lengths as a stream of `steps`-step chunks; the output
    /// sequence is concatenated when asked for, else only the final states are kept.
    async fn forward_chunked_async(
        &self,
        gpu: &Gpu,
        input: &Input<'_>,
        opts: ForwardOptions,
        steps: usize,
    ) -> Result<Output> {
        let mut stream = self.stream(input.b)?;
        stream.h0 = input.h0.map(|v| v.to_vec());
        stream.c0 = input.c0.map(|v| v.to_vec());
        stream.variant = opts.variant;
        let row = input.b * self.spec.input_size;
        let mut output = Vec::new();
        let mut last = None;
        for chunk in input.x.chunks(steps * row) {
            let mut out = stream.step_full_async(gpu, chunk).await?;
            if opts.return_sequence {
                output.append(&mut out.output);
            }
            last = Some(out);
        }
        let mut out = last.ok_or_else(|| Error::shape("x", "T >= 1 steps", 0))?;
        out.output = output;
        Ok(out)
    }

    /// One whole forward call (upload, all dispatches, one submit) waited for but not read
    /// back: what benchmarks time. The first call of a shape builds its plan.
    pub fn forward_no_readback(
        &self,
        gpu: &Gpu,
        input: &Input<'_>,
        opts: ForwardOptions,
    ) -> Result<Variant> {
        self.check_input(input)?;
        let key = self.plan_key(gpu, input, opts)?;
        self.with_plan(gpu, key, |plan| {
            plan.upload(gpu, &self.spec, input)?;
            let mut enc = gpu.device.create_command_encoder(&Default::default());
            plan.record(&self.spec, &mut enc, None);
            gpu.queue.submit([enc.finish()]);
            gpu.wait()
        })?;
        Ok(key.variant)
    }

    /// GPU time per kernel family for one forward call, in ms (needs TIMESTAMP_QUERY).
    #[cfg(feature = "native")]
    pub fn profile_forward(
        &self,
        gpu: &Gpu,
        input: &Input<'_>,
        opts: ForwardOptions,
    ) -> Result<Vec<(&'static str, f64)>> {
        self.forward_no_readback(gpu, input, opts)?; // builds the plan, warms the pipelines
        let key = self.plan_key(gpu, input, opts)?;
        self.with_plan(gpu, key, |plan| {
            let mut prof = Profiler::new(gpu, 2 * self.spec.num_layers as u32)?;
            let mut enc = gpu.device.create_command_encoder(&Default::default());
            plan.record(&self.spec, &mut enc, Some(&mut prof));
            prof.resolve(&mut enc);
            gpu.queue.submit([enc.finish()]);
            prof.read(gpu)
        })
    }
}
