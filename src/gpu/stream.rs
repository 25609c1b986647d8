//! Streaming: a batch of B sequences advanced a few steps per call, the state kept on the
//! GPU between calls, for real-time consumers. The stream owns its plan.

use super::context::Gpu;
use super::forward::{Output, StateInit};
use super::kernels::Variant;
use super::layout::{hp, unpad_rows, Input};
use super::model::{poisoned, GpuModel};
use super::plan::{Plan, PlanKey};
use crate::error::{Error, Result};

/// A batch of B streams advanced a few steps at a time with constant memory (real-time
/// use). Unidirectional models only: a reverse direction needs the whole sequence.
pub struct Stream<'m> {
    model: &'m GpuModel,
    b: usize,
    pub(crate) variant: Option<Variant>,
    plan: Option<Plan>,
    started: bool,
    pub(crate) h0: Option<Vec<f32>>,
    pub(crate) c0: Option<Vec<f32>>,
}

impl GpuModel {
    /// A stream state for `b` sequences, starting from zeros (or `with_state`).
    pub fn stream(&self, b: usize) -> Result<Stream<'_>> {
        if self.spec.bidirectional {
            return Err(Error::Config(
                "streaming needs a unidirectional model (bidirectional=true given)".into(),
            ));
        }
        if b == 0 {
            return Err(Error::shape("stream batch", ">= 1", 0));
        }
        Ok(Stream { model: self, b, variant: None, plan: None, started: false, h0: None, c0: None })
    }
}

impl Stream<'_> {
    /// Starts from the given states [L, B, H] instead of zeros.
    pub fn with_state(mut self, h0: Vec<f32>, c0: Option<Vec<f32>>) -> Self {
        self.h0 = Some(h0);
        self.c0 = c0;
        self
    }

    /// Runs every call with variant `v` instead of the rule's pick.
    pub fn with_variant(mut self, v: Variant) -> Self {
        self.variant = Some(v);
        self
    }

    /// Advances every stream by k = x.len() / (B*I) steps; x is [k, B, I]. Returns the last
    /// layer's outputs [k, B, H]; the state stays on the GPU.
    #[cfg(feature = "native")]
    pub fn step(&mut self, gpu: &Gpu, x: &[f32]) -> Result<Vec<f32>> {
        Ok(self.step_full(gpu, x)?.output)
    }

    /// Like `step`, also returning the states after the last step.
    #[cfg(feature = "native")]
    pub fn step_full(&mut self, gpu: &Gpu, x: &[f32]) -> Result<Output> {
        pollster::block_on(self.step_full_async(gpu, x))
    }

    /// `step` without blocking.
    pub async fn step_async(&mut self, gpu: &Gpu, x: &[f32]) -> Result<Vec<f32>> {
        Ok(self.step_full_async(gpu, x).await?.output)
    }

    /// `step_full` without blocking.
    pub async fn step_full_async(&mut self, gpu: &Gpu, x: &[f32]) -> Result<Output> {
        let s = &self.model.spec;
        let row = self.b * s.input_size;
        if x.is_empty() || !x.len().is_multiple_of(row) {
            return Err(Error::shape(
                "stream x",
                format!("[k, {}, {}]", self.b, s.input_size),
                format!("{} values", x.len()),
            ));
        }
        let k = x.len() / row;
        let variant = self.model.pick(gpu, self.b, self.variant)?;
        let key = PlanKey { t: k, b: self.b, variant, return_sequence: true };
        let same_plan = self.plan.as_ref().map(|p| p.key) == Some(key);
        if self.started && !same_plan {
            // A new chunk length: carry the state over through the host once.
            let prev = self.plan.as_ref().ok_or_else(|| poisoned("stream plan"))?;
            let hpad = hp(s.hidden_size);
            let n = s.num_layers * self.b;
            let mut got = gpu
                .read_many_async(&[(&prev.h_n, n * hpad), (&prev.c_n, n * s.hidden_size)])
                .await?;
            let c = got.pop().unwrap_or_default();
            self.h0 = Some(unpad_rows(&got.pop().unwrap_or_default(), n, s.hidden_size, hpad));
            self.c0 = s.cell.has_cell_state().then_some(c);
        }
        let carry = self.started && same_plan;
        let (h0, c0) = if carry { (None, None) } else { (self.h0.take(), self.c0.take()) };
        let input =
            Input { t: k, b: self.b, x, h0: h0.as_deref(), c0: c0.as_deref(), lengths: None };
        self.model.check_input(&input)?;
        let init = if carry { StateInit::Carry } else { StateInit::Host };
        if self.plan.as_ref().map(|p| p.key) != Some(key) {
            self.plan = None;
            self.plan = Some(self.model.build_plan(gpu, key)?);
        }
        let plan = self.plan.as_ref().ok_or_else(|| poisoned("stream plan"))?;
        let (staged, reads) = self.model.submit(gpu, plan, &input, init)?;
        let got = gpu.fetch(staged).await?;
        self.started = true;
        Ok(self.model.unpack(&reads, got))
    }
}
