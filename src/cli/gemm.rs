//! `wgpu-rnn gemm`: the standalone input-projection GEMM, checked against its CPU twin,
//! then timed.

use anyhow::Result;
use clap::{Args, ValueEnum};
use wgpu_rnn::gpu::gemm::{gemm_reference, GemmPlan};
use wgpu_rnn::gpu::GemmVariant;
use wgpu_rnn::Gpu;

/// `--variant` of `gemm`: an input-projection GEMM kernel (the library's `GemmVariant`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum GemmKernel {
    /// Workgroup-shared tiles (discrete GPUs)
    #[value(name = "tiled")]
    Tiled,
    /// Register blocking without subgroups (any adapter)
    #[value(name = "register")]
    Register,
    /// Register blocking with subgroupBroadcast sharing (CPU adapters such as lavapipe)
    #[value(name = "subgroup")]
    Subgroup,
}

impl From<GemmKernel> for GemmVariant {
    fn from(k: GemmKernel) -> GemmVariant {
        match k {
            GemmKernel::Tiled => GemmVariant::Tiled,
            GemmKernel::Register => GemmVariant::Register,
            GemmKernel::Subgroup => GemmVariant::Subgroup,
        }
    }
}

#[derive(Args)]
pub struct GemmArgs {
    #[arg(long, default_value_t = 6400)]
    m: usize,
    #[arg(long, default_value_t = 1024)]
    n: usize,
    #[arg(long, default_value_t = 256)]
    k: usize,
    /// Only this kernel (default: all supported)
    #[arg(long, value_enum)]
    variant: Option<GemmKernel>,
    #[arg(long, default_value_t = 5)]
    runs: usize,
}

pub fn run(a: GemmArgs) -> Result<()> {
    let gpu = Gpu::new()?;
    let (m, n, k) = (a.m, a.n, a.k);
    let gen = |len: usize, seed: u32| -> Vec<f32> {
        (0..len)
            .map(|i| {
                (((i as u32).wrapping_mul(2654435761).wrapping_add(seed) >> 8) % 2001) as f32
                    / 1000.0
                    - 1.0
            })
            .collect()
    };
    let (av, bv, bias) = (gen(m * k, 1), gen(n * k, 2), gen(n, 3));
    // Check the first rows only: the reference is O(MNK) in f64.
    let rows = m.min(16);
    let want = gemm_reference(&av[..rows * k], &bv, &bias, rows, n, k);
    println!("adapter: {}", gpu.describe());
    println!(
        "C[{m}, {n}] = A[{m}, {k}]·B[{n}, {k}]ᵀ + bias: {:.3} GFLOP per call",
        2.0 * (m * n * k) as f64 / 1e9
    );
    let only = a.variant.map(GemmVariant::from);
    for v in GemmVariant::ALL {
        if only.is_some_and(|want| want != v) || !v.supported(&gpu) {
            continue;
        }
        let plan = GemmPlan::new(&gpu, v, &av, &bv, &bias, m, n, k)?;
        let got = plan.run(&gpu)?;
        let c = wgpu_rnn::check::compare("C", &got[..rows * n], &want, 1e-4, 1e-4);
        let mut t: Vec<f64> = (0..a.runs.max(1))
            .map(|_| plan.time(&gpu, 1).map(|d| d.as_secs_f64() * 1e3))
            .collect::<wgpu_rnn::Result<_>>()?;
        t.sort_by(|x, y| x.partial_cmp(y).unwrap());
        let med = t[t.len() / 2];
        println!(
            "{:<9} median {:>9.2} ms  {:>7.2} GFLOP/s  check {}",
            v.name(),
            med,
            plan.flops() / med / 1e6,
            if c.ok() { "ok".to_string() } else { c.to_string() }
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_library_gemm_variant_has_its_name_and_nothing_else() {
        assert_eq!(GemmKernel::value_variants().len(), GemmVariant::ALL.len());
        for v in GemmVariant::ALL {
            let k = GemmKernel::from_str(v.name(), false).unwrap();
            assert_eq!(GemmVariant::from(k), v);
        }
    }
}
