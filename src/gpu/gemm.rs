//! A standalone C = A·Bᵀ + bias on the GPU with any GEMM variant: the input projection
//! kernel on its own, for tests against its CPU twin and for the GEMM ceiling the
//! benchmarks compare the whole recurrent pass with.
//!
//!   a [M, K], b [N, K], bias \[N\] -> c [M, N]   (padded to Kp = K rounded up to 4 on upload)

use super::abi::GemmParams;
use super::context::{Gpu, Kernel};
use super::kernels::{hp, GemmVariant, LAVAPIPE_LOOP_BUDGET};
use super::layout::pad_rows;
use crate::error::{Error, Result};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Buffers and bind group for one GEMM shape.
pub struct GemmPlan {
    /// M, rows of A and C.
    pub m: usize,
    /// N, rows of B and columns of C.
    pub n: usize,
    /// K, the inner size (unpadded).
    pub k: usize,
    kernel: Arc<Kernel>,
    bind: wgpu::BindGroup,
    groups: (u32, u32),
    c: wgpu::Buffer,
    _keep: Vec<wgpu::Buffer>,
}

/// The CPU twin: plain f64 loops.
pub fn gemm_reference(
    a: &[f32],
    b: &[f32],
    bias: &[f32],
    m: usize,
    n: usize,
    k: usize,
) -> Vec<f64> {
    let mut c = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            let mut s = bias[j] as f64;
            for q in 0..k {
                s += a[i * k + q] as f64 * b[j * k + q] as f64;
            }
            c[i * n + j] = s;
        }
    }
    c
}

impl GemmPlan {
    /// Uploads a [M, K], b [N, K] and bias \[N\] and binds them to `variant`'s kernel; fails on
    /// sizes that do not match, an unsupported variant, or buffers or dispatches past the
    /// device's limits.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        gpu: &Gpu,
        variant: GemmVariant,
        a: &[f32],
        b: &[f32],
        bias: &[f32],
        m: usize,
        n: usize,
        k: usize,
    ) -> Result<Self> {
        if a.len() != m * k || b.len() != n * k || bias.len() != n || m == 0 || n == 0 || k == 0 {
            return Err(Error::shape(
                "gemm operands",
                format!("a [{m}, {k}], b [{n}, {k}], bias [{n}]"),
                format!("{}, {}, {} values", a.len(), b.len(), bias.len()),
            ));
        }
        if !variant.supported(gpu) {
            return Err(Error::Config(format!(
                "GEMM variant {} is not supported on {}",
                variant.name(),
                gpu.describe()
            )));
        }
        let kp = hp(k);
        // each invocation loops over K/4 chunks: past lavapipe's loop limit it would stop early
        let iterations = kp / 4 + 64;
        if gpu.caps.cpu_like && iterations > LAVAPIPE_LOOP_BUDGET {
            return Err(Error::DeviceLimit {
                what: format!("loop iterations per invocation of the GEMM with K = {k}"),
                value: iterations as u64,
                limit: LAVAPIPE_LOOP_BUDGET as u64,
                limit_name: "LAVAPIPE_LOOP_LIMIT".into(),
            });
        }
        for (what, bytes) in [("gemm a", m * kp * 4), ("gemm b", n * kp * 4), ("gemm c", m * n * 4)]
        {
            gpu.check_binding(what, bytes as u64)?;
        }
        let kernel = variant.kernel(gpu, crate::Precision::F32)?;
        let groups = variant.groups(m, n);
        gpu.check_groups("gemm (x)", groups.0)?;
        gpu.check_groups("gemm (y)", groups.1)?;
        let params = GemmParams { m: m as u32, n: n as u32, kp4: (kp / 4) as u32, pad: 0 };
        let pbuf = gpu.uniform_init("gemm params", bytemuck::bytes_of(&params));
        let abuf = gpu.storage_init("gemm a", &pad_rows(a, m, k, kp));
        let bbuf = gpu.storage_init("gemm b", &pad_rows(b, n, k, kp));
        let biasbuf = gpu.storage_init("gemm bias", bias);
        let c = gpu.storage("gemm c", (m * n * 4) as u64);
        let bind = kernel.bind(gpu, &[&pbuf, &abuf, &bbuf, &biasbuf, &c]);
        Ok(GemmPlan { m, n, k, kernel, bind, groups, c, _keep: vec![pbuf, abuf, bbuf, biasbuf] })
    }

    /// Records `reps` dispatches into one pass.
    pub fn encode(&self, enc: &mut wgpu::CommandEncoder, reps: usize) {
        let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("gemm"),
            timestamp_writes: None,
        });
        pass.set_pipeline(&self.kernel.pipeline);
        pass.set_bind_group(0, &self.bind, &[]);
        for _ in 0..reps {
            pass.dispatch_workgroups(self.groups.0, self.groups.1, 1);
        }
    }

    /// Runs once and reads C back.
    pub fn run(&self, gpu: &Gpu) -> Result<Vec<f32>> {
        let mut enc = gpu.device.create_command_encoder(&Default::default());
        self.encode(&mut enc, 1);
        gpu.queue.submit([enc.finish()]);
        gpu.read_f32(&self.c, self.m * self.n)
    }

    /// Wall time of one submit of `reps` dispatches, waited for.
    pub fn time(&self, gpu: &Gpu, reps: usize) -> Result<Duration> {
        let mut enc = gpu.device.create_command_encoder(&Default::default());
        self.encode(&mut enc, reps);
        let start = Instant::now();
        gpu.queue.submit([enc.finish()]);
        gpu.wait()?;
        Ok(start.elapsed())
    }

    /// FLOPs of one call, 2·M·N·K (the bias add not counted).
    pub fn flops(&self) -> f64 {
        2.0 * (self.m * self.n * self.k) as f64
    }
}
