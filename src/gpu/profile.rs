//! GPU time per kernel family from timestamp queries: every profiled compute pass gets a
//! begin/end timestamp pair (needs only `Features::TIMESTAMP_QUERY`), and passes are
//! grouped by their family label.

use super::context::Gpu;
use crate::error::{Error, Result};

// Kernel families as users see them.

/// The input projection of a layer, one GEMM over all T·B rows.
pub const INPUT_GEMM: &str = "input GEMM";
/// The recurrent steps of a layer (with the input projection done separately).
pub const RECURRENT_STEP: &str = "recurrent step";
/// The recurrent step with the input projection fused in (Variant::FusedSubgroup).
pub const FUSED_STEP: &str = "fused step (input GEMM + recurrent)";
/// The backward recurrent steps of a layer (BPTT).
pub const BACKWARD_STEP: &str = "backward step";
/// A layer's weight-gradient GEMMs, plus the GEMM for the gradient of its input where that
/// is needed.
pub const WEIGHT_GRAD: &str = "weight-gradient GEMMs";
/// The optimizer update (no profiled pass records it yet).
pub const OPTIMIZER: &str = "optimizer";

/// Collects timestamp pairs for up to `cap` passes.
pub struct Profiler {
    queries: wgpu::QuerySet,
    resolve: wgpu::Buffer,
    labels: Vec<&'static str>,
    cap: u32,
}

impl Profiler {
    /// A profiler with room for `cap` passes; fails when the device lacks
    /// `Features::TIMESTAMP_QUERY`.
    pub fn new(gpu: &Gpu, cap: u32) -> Result<Self> {
        if !gpu.features.contains(wgpu::Features::TIMESTAMP_QUERY) {
            return Err(Error::Config(format!(
                "{} has no TIMESTAMP_QUERY: no per-kernel profile",
                gpu.info.name
            )));
        }
        let count = 2 * cap;
        let queries = gpu.device.create_query_set(&wgpu::QuerySetDescriptor {
            label: Some("profile"),
            ty: wgpu::QueryType::Timestamp,
            count,
        });
        let resolve = gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("profile resolve"),
            size: (count as u64 * 8).div_ceil(256) * 256,
            usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        Ok(Profiler { queries, resolve, labels: vec![], cap })
    }

    /// Timestamp writes for the next pass, labelled with its family (None once full).
    pub fn pass(&mut self, family: &'static str) -> Option<wgpu::ComputePassTimestampWrites<'_>> {
        let i = self.labels.len() as u32;
        if i >= self.cap {
            return None;
        }
        self.labels.push(family);
        Some(wgpu::ComputePassTimestampWrites {
            query_set: &self.queries,
            beginning_of_pass_write_index: Some(2 * i),
            end_of_pass_write_index: Some(2 * i + 1),
        })
    }

    /// Resolves the timestamps written so far (record after the profiled passes).
    pub fn resolve(&self, enc: &mut wgpu::CommandEncoder) {
        let n = 2 * self.labels.len() as u32;
        if n > 0 {
            enc.resolve_query_set(&self.queries, 0..n, &self.resolve, 0);
        }
    }

    /// (family, milliseconds) summed per family, in first-seen order. Call after submit.
    #[cfg(feature = "native")]
    pub fn read(&self, gpu: &Gpu) -> Result<Vec<(&'static str, f64)>> {
        let n = 2 * self.labels.len();
        let raw = gpu.read_many(&[(&self.resolve, 2 * n)])?.pop().unwrap();
        let ticks: &[u64] = bytemuck::cast_slice(&raw);
        let period = gpu.queue.get_timestamp_period() as f64;
        let mut out: Vec<(&'static str, f64)> = vec![];
        for (i, label) in self.labels.iter().enumerate() {
            let ms = ticks[2 * i + 1].saturating_sub(ticks[2 * i]) as f64 * period / 1e6;
            match out.iter_mut().find(|(l, _)| l == label) {
                Some(e) => e.1 += ms,
                None => out.push((label, ms)),
            }
        }
        Ok(out)
    }
}
