//! Criterion benches, one group per kernel family and cell: `gemm` (input projection, every
//! GEMM variant), `lstm`, `gru`, `rnn`, `mingru`, `minlstm` (whole forward pass, every
//! variant: the scan variants for the linear cells, also at T = 4096), `backward`
//! (forward + BPTT to all weight gradients, every training variant; minGRU's both scans). Each iteration
//! is waited for on the device (`iter_custom`). With `CI` set the sizes are tiny: CI only
//! proves the benches run.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::time::{Duration, Instant};
use wgpu_rnn::gpu::gemm::GemmPlan;
use wgpu_rnn::gpu::GemmVariant;
use wgpu_rnn::{CellKind, ForwardOptions, Gpu, GpuModel, Input, RnnSpec, Variant, Weights};

fn ci() -> bool {
    std::env::var_os("CI").is_some()
}

fn gpu() -> &'static Gpu {
    static GPU: std::sync::OnceLock<Gpu> = std::sync::OnceLock::new();
    GPU.get_or_init(|| Gpu::new().unwrap_or_else(|e| panic!("benches need a GPU adapter: {e}")))
}

fn gemm(c: &mut Criterion) {
    let gpu = gpu();
    let shapes: &[(usize, usize, usize)] =
        if ci() { &[(64, 64, 33)] } else { &[(6400, 1024, 256), (12800, 2048, 512)] };
    let mut g = c.benchmark_group("gemm");
    for &(m, n, k) in shapes {
        let a = vec![0.5f32; m * k];
        let b = vec![0.25f32; n * k];
        let bias = vec![0.0f32; n];
        g.throughput(Throughput::Elements((2 * m * n * k) as u64));
        for v in GemmVariant::ALL.into_iter().filter(|v| v.supported(gpu)) {
            let plan = GemmPlan::new(gpu, v, &a, &b, &bias, m, n, k).unwrap();
            g.bench_with_input(
                BenchmarkId::new(v.name(), format!("{m}x{n}x{k}")),
                &plan,
                |bch, plan| bch.iter_custom(|iters| plan.time(gpu, iters as usize).unwrap()),
            );
        }
    }
    g.finish();
}

fn cell_group(c: &mut Criterion, cell: CellKind) {
    let gpu = gpu();
    let name = match cell {
        CellKind::RnnTanh | CellKind::RnnRelu => "rnn",
        c => c.name(),
    };
    let shapes: &[(usize, usize, usize, usize)] = if ci() {
        &[(2, 8, 17, 5)]
    } else if cell.linear() {
        &[(64, 256, 256, 100), (8, 256, 256, 4096)]
    } else {
        &[(1, 64, 128, 1000), (64, 256, 256, 100)]
    };
    let mut g = c.benchmark_group(name);
    for &(b, i, h, t) in shapes {
        let spec = RnnSpec::new(cell, i, h);
        let model = GpuModel::new(gpu, &Weights::init(spec, 1).unwrap()).unwrap();
        let x = vec![0.1f32; t * b * i];
        g.throughput(Throughput::Elements((b * t) as u64));
        for v in Variant::ALL.into_iter().filter(|v| v.unsupported(gpu, &spec).is_none()) {
            let opts = ForwardOptions { variant: Some(v), return_sequence: true };
            model.forward_no_readback(gpu, &Input::new(&x, t, b), opts).unwrap();
            g.bench_function(BenchmarkId::new(v.name(), format!("B{b}_I{i}_H{h}_T{t}")), |bch| {
                bch.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let start = Instant::now();
                        model.forward_no_readback(gpu, &Input::new(&x, t, b), opts).unwrap();
                        total += start.elapsed();
                    }
                    total
                })
            });
        }
    }
    g.finish();
}

/// Forward + BPTT to all weight gradients (loss = sum of outputs), every training variant.
fn backward(c: &mut Criterion) {
    use wgpu_rnn::gpu::backward::GradInput;
    let gpu = gpu();
    let shapes: &[(usize, usize, usize, usize)] =
        if ci() { &[(2, 8, 17, 5)] } else { &[(1, 64, 128, 200), (64, 256, 256, 100)] };
    let mut g = c.benchmark_group("backward");
    let cases = shapes.iter().flat_map(|&s| [(CellKind::Lstm, s), (CellKind::MinGru, s)]);
    for (cell, (b, i, h, t)) in cases {
        let spec = RnnSpec::new(cell, i, h);
        let model = GpuModel::new(gpu, &Weights::init(spec, 1).unwrap()).unwrap();
        let x = vec![0.1f32; t * b * i];
        let dy = vec![1.0f32; t * b * h];
        let grad = GradInput { d_output: &dy, d_h_n: None, d_c_n: None };
        g.throughput(Throughput::Elements((b * t) as u64));
        let variants = [
            Variant::Tiled,
            Variant::Register,
            Variant::Subgroup,
            Variant::Scan,
            Variant::Sequential,
        ];
        for v in variants.into_iter().filter(|v| v.unsupported(gpu, &spec).is_none()) {
            model.weight_grads_no_readback(gpu, &Input::new(&x, t, b), &grad, Some(v)).unwrap();
            g.bench_function(
                BenchmarkId::new(v.name(), format!("{cell}_B{b}_I{i}_H{h}_T{t}")),
                |bch| {
                    bch.iter_custom(|iters| {
                        let start = Instant::now();
                        for _ in 0..iters {
                            model
                                .weight_grads_no_readback(
                                    gpu,
                                    &Input::new(&x, t, b),
                                    &grad,
                                    Some(v),
                                )
                                .unwrap();
                        }
                        start.elapsed()
                    })
                },
            );
        }
    }
    g.finish();
}

fn lstm(c: &mut Criterion) {
    cell_group(c, CellKind::Lstm)
}
fn gru(c: &mut Criterion) {
    cell_group(c, CellKind::Gru)
}
fn rnn(c: &mut Criterion) {
    cell_group(c, CellKind::RnnTanh)
}
fn mingru(c: &mut Criterion) {
    cell_group(c, CellKind::MinGru)
}
fn minlstm(c: &mut Criterion) {
    cell_group(c, CellKind::MinLstm)
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).measurement_time(Duration::from_secs(if ci() { 1 } else { 5 }));
    targets = gemm, lstm, gru, rnn, mingru, minlstm, backward
}
criterion_main!(benches);
