//! Variant selection by measurement: `tune` times every forward variant the adapter
//! supports for a shape and caches the fastest in the user's cache directory
//! (`$WGPU_RNN_CACHE_DIR`, else `$XDG_CACHE_HOME/wgpu-rnn`, else `~/.cache/wgpu-rnn`),
//! keyed by adapter name, driver and shape. `Variant::auto` consults that cache first and
//! falls back to its rule.

use crate::error::{Error, Result};
use crate::gpu::{ForwardOptions, Gpu, GpuModel, Input, Variant};
use crate::spec::RnnSpec;
use crate::weights::Weights;
use std::time::Instant;

pub use crate::gpu::tuned::{cache_path, load};

/// The cache key of a shape on `gpu`'s adapter.
pub fn key(gpu: &Gpu, spec: &RnnSpec, b: usize) -> String {
    crate::gpu::tuned::key(&gpu.info, spec, b)
}

/// The cached variant for a shape, if tuned and still supported.
pub fn cached(gpu: &Gpu, spec: &RnnSpec, b: usize) -> Option<Variant> {
    crate::gpu::kernels::tuned(gpu, spec, b)
}

/// One variant's measurement.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Timing {
    /// The variant's name.
    pub variant: String,
    /// Median wall time of one forward call, ms.
    pub median_ms: f64,
}

/// Times every supported variant (median of `runs` after one warm-up), stores the fastest
/// in the cache atomically and returns all timings, fastest first.
pub fn tune(gpu: &Gpu, spec: RnnSpec, t: usize, b: usize, runs: usize) -> Result<Vec<Timing>> {
    let w = Weights::init(spec, 1)?;
    let model = GpuModel::new(gpu, &w)?;
    let x = vec![0.1f32; t * b * spec.input_size];
    let input = Input::new(&x, t, b);
    let mut out = vec![];
    for v in Variant::ALL {
        if v.unsupported(gpu, &spec).is_some() {
            continue;
        }
        let opts = ForwardOptions { variant: Some(v), return_sequence: true };
        model.forward_no_readback(gpu, &input, opts)?;
        let mut times: Vec<f64> = (0..runs.max(1))
            .map(|_| {
                let s = Instant::now();
                model
                    .forward_no_readback(gpu, &input, opts)
                    .map(|_| s.elapsed().as_secs_f64() * 1e3)
            })
            .collect::<Result<_>>()?;
        times.sort_by(|a, b| a.partial_cmp(b).unwrap());
        out.push(Timing { variant: v.name().into(), median_ms: times[times.len() / 2] });
    }
    out.sort_by(|a, b| a.median_ms.partial_cmp(&b.median_ms).unwrap());
    let path = cache_path().ok_or_else(|| {
        Error::Config("no cache directory (set WGPU_RNN_CACHE_DIR or HOME)".into())
    })?;
    let mut cache = load();
    cache.insert(key(gpu, &spec, b), out[0].variant.clone());
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|source| Error::Io { path: dir.display().to_string(), source })?;
    }
    let json = serde_json::to_vec_pretty(&cache).map_err(|e| Error::Config(e.to_string()))?;
    crate::io::write_atomic(&path, &json)?;
    gpu.forget_tuned();
    Ok(out)
}
