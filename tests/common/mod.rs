//! Helpers shared by the integration tests: golden fixtures and random data.
#![allow(dead_code)]

use rand::{Rng, SeedableRng};
use wgpu_rnn::io::TensorFile;
use wgpu_rnn::{CellKind, RnnSpec, Weights};

pub const FIXTURES: &[&str] = &[
    "rnn_tanh",
    "rnn_relu",
    "lstm",
    "gru",
    "rnn_tanh_l2_bi_len",
    "rnn_relu_l2_bi_len",
    "lstm_l2_bi_len",
    "gru_l2_bi_len",
    "lstm_nobias_l2",
    "mingru",
    "minlstm",
    "mingru_l2_bi_len",
    "minlstm_l2_bi_len",
    "minlstm_nobias_l2",
];

/// A PyTorch golden case (see tests/fixtures/make_golden.py).
pub struct Golden {
    pub name: String,
    pub file: TensorFile,
    pub weights: Weights,
    pub t: usize,
    pub b: usize,
    pub x: Vec<f64>,
    pub h0: Vec<f64>,
    pub c0: Option<Vec<f64>>,
    pub lengths: Option<Vec<usize>>,
    /// x, h0, c0 and lengths as the GPU takes them
    x32: Vec<f32>,
    h0_32: Vec<f32>,
    c0_32: Option<Vec<f32>>,
    lengths_i64: Option<Vec<i64>>,
}

impl Golden {
    pub fn load(name: &str) -> Golden {
        let path = format!("{}/tests/fixtures/{name}.safetensors", env!("CARGO_MANIFEST_DIR"));
        let file = TensorFile::open(&path).expect("fixture");
        let m = file.metadata();
        let cell = CellKind::parse(&m["cell"], &m["nonlinearity"]).unwrap();
        let spec = RnnSpec {
            cell,
            input_size: m["input_size"].parse().unwrap(),
            hidden_size: m["hidden_size"].parse().unwrap(),
            num_layers: m["num_layers"].parse().unwrap(),
            bidirectional: m["bidirectional"] == "true",
            bias: m["bias"] == "true",
            precision: wgpu_rnn::Precision::F32,
        };
        // the fixture also holds the inputs and PyTorch's outputs and gradients
        let is_param = |n: &str| n.starts_with("weight_") || n.starts_with("bias_");
        let weights = Weights::from_file_with(&file, spec, |n| !is_param(n)).expect("weights");
        let x = file.float("x", None).unwrap();
        let (t, b) = (x.shape[0], x.shape[1]);
        let h0 = file.float("h0", None).unwrap().data;
        let c0 = file.contains("c0").then(|| file.float("c0", None).unwrap().data);
        let lengths = file
            .contains("lengths")
            .then(|| file.int("lengths", None).unwrap().iter().map(|&v| v as usize).collect());
        let (x32, h0_32, c0_32) = (f32s(&x.data), f32s(&h0), c0.as_deref().map(f32s));
        let lengths_i64 =
            lengths.as_ref().map(|l: &Vec<usize>| l.iter().map(|&v| v as i64).collect());
        Golden {
            name: name.into(),
            file,
            weights,
            t,
            b,
            x: x.data,
            h0,
            c0,
            lengths,
            x32,
            h0_32,
            c0_32,
            lengths_i64,
        }
    }

    /// The fixture's inputs for the f64 reference.
    pub fn batch(&self) -> wgpu_rnn::reference::SeqBatch<'_> {
        wgpu_rnn::reference::SeqBatch {
            t: self.t,
            b: self.b,
            x: &self.x,
            h0: Some(&self.h0),
            c0: self.c0.as_deref(),
            lengths: self.lengths.as_deref(),
        }
    }

    /// The fixture's inputs for the GPU (f32).
    pub fn input(&self) -> wgpu_rnn::Input<'_> {
        wgpu_rnn::Input {
            t: self.t,
            b: self.b,
            x: &self.x32,
            h0: Some(&self.h0_32),
            c0: self.c0_32.as_deref(),
            lengths: self.lengths_i64.as_deref(),
        }
    }

    pub fn get(&self, name: &str) -> Vec<f64> {
        self.file.float(name, None).unwrap().data
    }
    pub fn opt(&self, name: &str) -> Option<Vec<f64>> {
        self.file.contains(name).then(|| self.get(name))
    }
}

pub fn random_vec(n: usize, seed: u64, scale: f64) -> Vec<f64> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..n).map(|_| (rng.random_range(-scale..scale) as f32) as f64).collect()
}

/// Panics with the comparison's report unless it passes.
pub fn assert_close(c: wgpu_rnn::check::Comparison) {
    assert!(c.ok(), "{c}");
}

/// The one GPU context of a test binary (pipelines compile once per process). Fails, never
/// skips, when there is no adapter.
pub fn gpu() -> &'static wgpu_rnn::Gpu {
    static GPU: std::sync::OnceLock<wgpu_rnn::Gpu> = std::sync::OnceLock::new();
    GPU.get_or_init(|| match wgpu_rnn::Gpu::new() {
        Ok(g) => g,
        Err(e) => panic!("GPU tests need an adapter: {e}"),
    })
}

/// The contexts whose kernels the variant tests run: `gpu()`, and a second one with the
/// other `caps.bounds_checks` setting (the trusted kernels built with naga's runtime bounds
/// checks) and, where the adapter has `Features::SHADER_INT64`, the other
/// `caps.wide_loads` setting, so both the vec4 and the u64-pair loads
/// (shaders/loads_*.wgsl) are checked on lavapipe.
pub fn gpus() -> Vec<&'static wgpu_rnn::Gpu> {
    static OTHER: std::sync::OnceLock<wgpu_rnn::Gpu> = std::sync::OnceLock::new();
    let other = OTHER.get_or_init(|| {
        let mut g = wgpu_rnn::Gpu::new().expect("GPU tests need an adapter");
        if g.features.contains(wgpu::Features::SHADER_INT64) {
            g.caps.wide_loads = !g.caps.wide_loads;
        }
        g.caps.bounds_checks = !g.caps.bounds_checks;
        g
    });
    vec![gpu(), other]
}

pub fn f32s(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}
