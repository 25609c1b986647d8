//! A network's weights on the GPU (`GpuModel`), uploaded once, with the plans of its most
//! recent shapes. Forward calls (forward.rs, stream.rs) and training calls (backward.rs)
//! add their methods; `Trainer` keeps a plan of its own.

use super::context::Gpu;
use super::grad_plan::{auto_training_variant, check_training_variant, GradKey, GradPlan};
use super::kernels::Variant;
#[cfg(feature = "native")]
use super::layout::{param_layout_reads, param_layout_unpack};
use super::layout::{upload_weights, Input, LayerWeights};
use super::plan::{Plan, PlanCache, PlanKey};
use crate::error::{check_finite, Error, Result};
use crate::reference::{check_batch, check_lengths};
use crate::spec::RnnSpec;
use crate::weights::Weights;
use std::sync::{Mutex, MutexGuard};

/// A network's weights on the GPU, ready for many forward and training calls.
pub struct GpuModel {
    /// The network these weights describe.
    pub spec: RnnSpec,
    pub(crate) layers: Vec<LayerWeights>,
    plans: Mutex<PlanCache>,
}

/// The error for a plan cache left unusable by a panic in another thread.
pub(crate) fn poisoned(what: &str) -> Error {
    Error::Device(format!("{what}: a previous call panicked while holding it"))
}

impl GpuModel {
    /// Uploads `w` in the padded GPU layouts, its weight matrices rounded to the spec's
    /// precision (`w.spec.precision`; see `Weights::to_precision`).
    pub fn new(gpu: &Gpu, w: &Weights) -> Result<Self> {
        Self::upload(gpu, w, false)
    }

    /// `new` for a model an optimizer on the GPU updates: a 16-bit one also keeps f32
    /// master copies of its weight matrices (mixed precision), which `read_weights` returns.
    pub fn new_training(gpu: &Gpu, w: &Weights) -> Result<Self> {
        Self::upload(gpu, w, true)
    }

    fn upload(gpu: &Gpu, w: &Weights, master: bool) -> Result<Self> {
        w.spec.validate()?;
        Self::check_precision(gpu, &w.spec)?;
        let layers = upload_weights(gpu, w, master)?;
        Ok(GpuModel { spec: w.spec, layers, plans: Mutex::new(PlanCache::default()) })
    }

    /// Fails when `spec`'s weight precision cannot run on `gpu`: f16 unpacking
    /// (`unpack2x16float`) needs `DownlevelFlags::SHADER_F16_IN_F32`, which old GL lacks;
    /// bf16 and f32 run everywhere.
    pub fn check_precision(gpu: &Gpu, spec: &RnnSpec) -> Result<()> {
        let flags = gpu.adapter.get_downlevel_capabilities().flags;
        if spec.precision == crate::Precision::F16
            && !flags.contains(wgpu::DownlevelFlags::SHADER_F16_IN_F32)
        {
            return Err(Error::Config(format!(
                "precision f16 needs unpack2x16float (DownlevelFlags::SHADER_F16_IN_F32), which {} lacks: use bf16 or f32",
                gpu.info.name
            )));
        }
        Ok(())
    }

    /// Bytes of the weight matrices and biases as the kernels read them.
    pub fn weight_bytes(&self) -> u64 {
        super::layout::weight_bytes(&self.spec)
    }

    /// Replaces the weights in place with `w`, which must describe the same network (an
    /// optimizer outside the engine, such as torch's, stepped them): no new buffers, and
    /// the cached plans stay valid.
    pub fn set_weights(&self, gpu: &Gpu, w: &Weights) -> Result<()> {
        if w.spec != self.spec {
            return Err(Error::Config(format!(
                "set_weights: the weights describe {}, the model is {}",
                w.spec, self.spec
            )));
        }
        super::layout::write_weights(gpu, &self.layers, w)
    }

    /// Fails when `spec`'s weights cannot be held by `gpu` (a binding past the device's
    /// limit), before anything is loaded or allocated.
    pub fn check_fits(gpu: &Gpu, spec: &RnnSpec) -> Result<()> {
        spec.validate()?;
        super::layout::check_fits(gpu, spec)
    }

    /// Checks a batch against the model: shapes, finite values, lengths in 1..=T.
    pub(crate) fn check_input(&self, input: &Input<'_>) -> Result<()> {
        check_batch(
            &self.spec,
            input.t,
            input.b,
            input.x.len(),
            input.h0.map(|v| v.len()),
            input.c0.map(|v| v.len()),
        )?;
        check_finite("x", input.x)?;
        if let Some(h0) = input.h0 {
            check_finite("h0", h0)?;
        }
        if let Some(c0) = input.c0 {
            check_finite("c0", c0)?;
        }
        if let Some(l) = input.lengths {
            check_lengths(l, input.t, input.b)?;
        }
        Ok(())
    }

    /// The forward variant for batches of `b`: `forced`, else the rule's, if it can run.
    pub(crate) fn pick(&self, gpu: &Gpu, b: usize, forced: Option<Variant>) -> Result<Variant> {
        let v = forced.unwrap_or_else(|| Variant::auto(gpu, &self.spec, b));
        v.check_supported(gpu, &self.spec)?;
        Ok(v)
    }

    /// A new inference plan for `key` (not cached: `Stream` keeps its own).
    pub(crate) fn build_plan(&self, gpu: &Gpu, key: PlanKey) -> Result<Plan> {
        Plan::build(gpu, &self.spec, &self.layers, key)
    }

    /// A new training plan for `key` (not cached: `Trainer` keeps its own).
    pub(crate) fn build_grad_plan(&self, gpu: &Gpu, key: GradKey) -> Result<GradPlan> {
        check_training_variant(gpu, &self.spec, key.variant)?;
        GradPlan::build(gpu, &self.spec, &self.layers, key)
    }

    /// Reads the parameters back from the GPU (after training updated them in place): the
    /// f32 masters of a model that trains in 16 bits, else the stored values.
    #[cfg(feature = "native")]
    pub fn read_weights(&self, gpu: &Gpu) -> Result<Weights> {
        let bufs: Vec<[&wgpu::Buffer; 4]> = self.layers.iter().map(|lw| lw.buffers()).collect();
        let masters = self.layers.iter().all(|lw| lw.master.is_some());
        let stored = if masters { crate::Precision::F32 } else { self.spec.precision };
        let got = gpu.read_many(&param_layout_reads(&self.spec, &self.layers, &bufs, stored))?;
        Ok(param_layout_unpack(&self.spec, &self.layers, &mut got.into_iter(), stored))
    }

    /// Reads per-layer [w_ih, w_hh, b_ih, b_hh]-shaped buffers in the GPU layouts (the
    /// weights, or their gradients) back into a `Weights` with PyTorch's layouts.
    #[cfg(feature = "native")]
    pub(crate) fn read_param_layout(
        &self,
        gpu: &Gpu,
        bufs: &[[&wgpu::Buffer; 4]],
    ) -> Result<Weights> {
        let f32 = crate::Precision::F32;
        let got = gpu.read_many(&param_layout_reads(&self.spec, &self.layers, bufs, f32))?;
        Ok(param_layout_unpack(&self.spec, &self.layers, &mut got.into_iter(), f32))
    }

    fn plans(&self) -> Result<MutexGuard<'_, PlanCache>> {
        self.plans.lock().map_err(|_| poisoned("plan cache"))
    }

    /// Runs `f` on the cached inference plan of `key`, built first if the cache holds
    /// another shape (its buffers are freed before the new ones are allocated).
    pub(crate) fn with_plan<T>(
        &self,
        gpu: &Gpu,
        key: PlanKey,
        f: impl FnOnce(&Plan) -> Result<T>,
    ) -> Result<T> {
        let mut cache = self.plans()?;
        if cache.forward.as_ref().map(|p| p.key) != Some(key) {
            cache.forward = None;
            cache.forward = Some(self.build_plan(gpu, key)?);
        }
        f(cache.forward.as_ref().ok_or_else(|| poisoned("plan cache"))?)
    }

    /// Runs `f` on the cached training plan for a batch of `input`'s shape (`variant`, else
    /// the training rule's), built first if the cache holds another.
    pub(crate) fn with_grad_plan<T>(
        &self,
        gpu: &Gpu,
        input: &Input<'_>,
        variant: Option<Variant>,
        trace: bool,
        f: impl FnOnce(&GradPlan) -> Result<T>,
    ) -> Result<T> {
        let v = variant.unwrap_or_else(|| auto_training_variant(gpu, &self.spec, input.b));
        let key = GradKey { t: input.t, b: input.b, variant: v, trace };
        let mut cache = self.plans()?;
        if cache.train.as_ref().map(|p| p.key) != Some(key) {
            cache.train = None;
            cache.train = Some(self.build_grad_plan(gpu, key)?);
        }
        f(cache.train.as_ref().ok_or_else(|| poisoned("plan cache"))?)
    }
}
