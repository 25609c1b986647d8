//! Recurrent-layer micro-benchmark for burn 0.22.1 (wgpu backend pinned to Vulkan).
//!
//! peers [--workload NAME]... [--runs N] [--mode fwd|train|both]
//!
//! Prints one line per case: `workload mode median_ms min_ms max_ms`.

use std::time::Instant;

use burn::module::{Module, ModuleVisitor, Param};
use burn::nn::{Gru, GruConfig, Lstm, LstmConfig, Rnn, RnnConfig};
use burn::tensor::wgpu::WgpuBackend;
use burn::tensor::{Device, Distribution, Gradients, Tensor, s};

#[derive(Clone, Copy, Debug)]
enum Cell {
    Lstm,
    Gru,
    Rnn,
}

#[derive(Clone, Copy, Debug)]
struct Workload {
    name: &'static str,
    cell: Cell,
    b: usize,
    i: usize,
    h: usize,
    t: usize,
}

const WORKLOADS: &[Workload] = &[
    Workload { name: "lstm-b1", cell: Cell::Lstm, b: 1, i: 64, h: 128, t: 1000 },
    Workload { name: "lstm-b64", cell: Cell::Lstm, b: 64, i: 256, h: 256, t: 100 },
    Workload { name: "lstm-b256", cell: Cell::Lstm, b: 256, i: 512, h: 512, t: 50 },
    Workload { name: "gru-b64", cell: Cell::Gru, b: 64, i: 256, h: 256, t: 100 },
    Workload { name: "rnn-b64", cell: Cell::Rnn, b: 64, i: 256, h: 256, t: 100 },
];

const WARMUP: usize = 2;

/// A single-layer, unidirectional, batch-first recurrent layer with biases.
enum Model {
    Lstm(Lstm),
    Gru(Gru),
    Rnn(Rnn),
}

impl Model {
    fn new(w: &Workload, device: &Device) -> Self {
        match w.cell {
            // batch_first defaults to true; bias = true; default activations
            // (sigmoid gates, tanh cell/hidden) as in PyTorch.
            Cell::Lstm => Model::Lstm(LstmConfig::new(w.i, w.h, true).init(device)),
            // reset_after = true is the PyTorch formulation (also burn's default).
            // Gru::forward is always batch-first ([B, T, I]).
            Cell::Gru => Model::Gru(
                GruConfig::new(w.i, w.h, true)
                    .with_reset_after(true)
                    .init(device),
            ),
            // hidden_activation defaults to tanh; set explicitly anyway.
            Cell::Rnn => Model::Rnn(
                RnnConfig::new(w.i, w.h, true)
                    .with_hidden_activation(burn::nn::activation::ActivationConfig::Tanh)
                    .init(device),
            ),
        }
    }

    /// Zero initial state (`None`), returns the full output sequence [B, T, H].
    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        match self {
            Model::Lstm(m) => m.forward(x, None).0,
            Model::Gru(m) => m.forward(x, None),
            Model::Rnn(m) => m.forward(x, None).0,
        }
    }

    /// One weight whose gradient is read back (one element) to close a train step.
    fn probe_weight(&self) -> &Param<Tensor<2>> {
        match self {
            Model::Lstm(m) => &m.input_gate.input_transform.weight,
            Model::Gru(m) => &m.update_gate.input_transform.weight,
            Model::Rnn(m) => &m.gate.input_transform.weight,
        }
    }

    fn visit<V: ModuleVisitor>(&self, v: &mut V) {
        match self {
            Model::Lstm(m) => m.visit(v),
            Model::Gru(m) => m.visit(v),
            Model::Rnn(m) => m.visit(v),
        }
    }
}

/// Counts float parameters and how many of them received a gradient.
struct GradCounter<'a> {
    grads: &'a Gradients,
    params: usize,
    with_grad: usize,
    numel: usize,
}

impl ModuleVisitor for GradCounter<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.params += 1;
        self.numel += param.shape().num_elements();
        if param.grad(self.grads).is_some() {
            self.with_grad += 1;
        }
    }
}

/// Read back a single element; this blocks until every kernel queued before it
/// on the (single, in-order) stream has finished.
fn read_one<const D: usize>(t: Tensor<D>) -> f32 {
    let ranges: [std::ops::Range<usize>; D] = std::array::from_fn(|_| 0..1);
    t.slice(ranges).into_data().try_to_vec::<f32>().unwrap()[0]
}

fn fwd_step(model: &Model, x: &Tensor<3>, device: &Device, t: usize) -> f32 {
    let out = model.forward(x.clone());
    device.sync().expect("device sync failed");
    // Last time step, first batch/feature: depends on the whole recurrence.
    read_one(out.slice(s![0..1, (t - 1)..t, 0..1]))
}

fn train_step(model: &Model, x: &Tensor<3>, device: &Device, check: bool) -> f32 {
    let out = model.forward(x.clone());
    let loss = out.sum();
    let grads = loss.backward();
    if check {
        let mut c = GradCounter { grads: &grads, params: 0, with_grad: 0, numel: 0 };
        model.visit(&mut c);
        assert!(
            c.params > 0 && c.params == c.with_grad,
            "only {}/{} parameters received a gradient",
            c.with_grad,
            c.params
        );
        eprintln!("  [check] {}/{} params have grads ({} weights)", c.with_grad, c.params, c.numel);
    }
    let g = model
        .probe_weight()
        .grad(&grads)
        .expect("probe weight has no gradient");
    device.sync().expect("device sync failed");
    read_one(g)
}

fn stats(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = v.len();
    let median = if n % 2 == 1 { v[n / 2] } else { 0.5 * (v[n / 2 - 1] + v[n / 2]) };
    (median, v[0], v[n - 1])
}

fn run_case(w: &Workload, train: bool, runs: usize, device: &Device) {
    // fwd: plain (inference) device, no graph recording; train: autodiff device.
    let dev = if train { device.clone().autodiff() } else { device.clone() };
    let model = Model::new(w, &dev);
    let x: Tensor<3> = Tensor::random([w.b, w.t, w.i], Distribution::Normal(0.0, 1.0), &dev);
    device.sync().expect("device sync failed");

    let mode = if train { "train" } else { "fwd" };
    let step = |check: bool| -> f32 {
        if train {
            train_step(&model, &x, &dev, check)
        } else {
            fwd_step(&model, &x, &dev, w.t)
        }
    };

    for k in 0..WARMUP {
        let t0 = Instant::now();
        let v = step(k == 0);
        eprintln!(
            "  [warmup {}] {} {}: {:.3} ms (probe value {v:.6})",
            k + 1,
            w.name,
            mode,
            t0.elapsed().as_secs_f64() * 1e3
        );
        assert!(v.is_finite(), "non-finite result");
    }

    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t0 = Instant::now();
        let v = step(false);
        times.push(t0.elapsed().as_secs_f64() * 1e3);
        std::hint::black_box(v);
    }
    let (med, min, max) = stats(times);
    println!("{} {} {:.3} {:.3} {:.3}", w.name, mode, med, min, max);
}

fn usage() -> ! {
    eprintln!("usage: peers [--workload NAME]... [--runs N] [--mode fwd|train|both]");
    eprintln!(
        "workloads: {}",
        WORKLOADS.iter().map(|w| w.name).collect::<Vec<_>>().join(", ")
    );
    std::process::exit(2);
}

fn main() {
    let mut names: Vec<String> = Vec::new();
    let mut runs = 5usize;
    let mut mode = "both".to_string();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--workload" => names.push(args.next().unwrap_or_else(|| usage())),
            "--runs" => {
                runs = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|&n: &usize| n > 0)
                    .unwrap_or_else(|| usage())
            }
            "--mode" => mode = args.next().unwrap_or_else(|| usage()),
            "-h" | "--help" => usage(),
            _ => usage(),
        }
    }
    let modes: &[bool] = match mode.as_str() {
        "fwd" => &[false],
        "train" => &[true],
        "both" => &[false, true],
        _ => usage(),
    };
    let selected: Vec<&Workload> = if names.is_empty() {
        WORKLOADS.iter().collect()
    } else {
        names
            .iter()
            .map(|n| {
                WORKLOADS.iter().find(|w| w.name == n).unwrap_or_else(|| {
                    eprintln!("unknown workload {n}");
                    usage()
                })
            })
            .collect()
    };

    // wgpu runtime pinned to the Vulkan graphics API (no silent fallback to GL).
    let device = Device::wgpu_options()
        .graphics_api(WgpuBackend::Vulkan)
        .init()
        .expect("failed to initialise wgpu on Vulkan");
    device.seed(0);
    eprintln!("device: {device:?}");

    for w in selected {
        for &train in modes {
            run_case(w, train, runs, &device);
        }
    }
}
