//! Gradient-stability profile (Pascanu, Mikolov & Bengio 2013): how ‖dL/dh_t‖ grows or
//! decays as the gradient travels back from the loss, next to σ_max(W_hh), gate
//! saturation and the first non-finite step.
//!
//! Loss: the sum of the last layer's outputs at the last step (default), or at every step.
//! Then dL/dh at the last step is all ones, and for an RNN whose every Jacobian is ρ·I,
//! ‖dL/dh_t‖ = ρ^(T-1-t)·sqrt(H).

use crate::error::{Error, Result};
use crate::reference::{self, SeqBatch, StepTrace};
use crate::spec::RnnSpec;
use crate::weights::Weights;
use rand::{Rng, SeedableRng};
use serde::Serialize;

/// Growth per step below 1 - THRESHOLD is vanishing, above 1 + THRESHOLD exploding.
pub const GROWTH_THRESHOLD: f64 = 0.02;
/// A gate counts as saturated where its derivative is below this.
pub const SATURATION_DERIVATIVE: f64 = 0.01;

/// Which gradient the loss seeds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LossAt {
    /// The sum of the last layer's outputs at the last step.
    Last,
    /// The sum of the last layer's outputs at every step.
    Every,
}

/// The profile of one configuration.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The caller's name for the configuration.
    pub label: String,
    /// The cell's name (`CellKind::name`).
    pub cell: String,
    /// H.
    pub hidden: usize,
    /// L.
    pub layers: usize,
    /// T.
    pub seq: usize,
    /// B.
    pub batch: usize,
    /// Where the loss sits.
    pub loss_at: LossAt,
    /// batch-mean of ‖dL/dh_t‖ of the last layer (forward direction), t = 0..T-1
    pub grad_h_norm: Vec<f64>,
    /// batch-max of the same
    pub grad_h_norm_max: Vec<f64>,
    /// LSTM: batch-mean of ‖dL/dc_t‖
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grad_c_norm: Option<Vec<f64>>,
    /// exp of the least-squares slope of ln ‖dL/dh_t‖ against T-1-t
    pub growth_per_step: f64,
    /// `exploding` (growth above 1 + threshold, or a non-finite step), `vanishing` (growth
    /// below 1 - threshold, or a zero gradient at t = 0) or `stable`
    pub verdict: String,
    /// `GROWTH_THRESHOLD`, the margin the verdict used
    pub threshold: f64,
    /// σ_max of each W_hh (per layer and direction; for gated cells, of the whole [G*H, H])
    pub sigma_max: Vec<(String, f64)>,
    /// 1/γ, the σ_max below which the gradient must vanish (γ bounds the activation's
    /// derivative: 1 for tanh and relu; gated cells have no such bound)
    pub sigma_bound: Option<f64>,
    /// fraction of gate units (last layer, forward direction) with derivative < 0.01, per step
    pub saturation: Vec<f64>,
    /// LSTM: mean forget gate per step
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forget_mean: Option<Vec<f64>>,
    /// first step (in backward order: the step index t) whose gradient is NaN or Inf
    pub first_nonfinite_step: Option<usize>,
    /// The engine the trace came from, as the caller names it (the CLI: `cpu` or `gpu`).
    pub engine: String,
}

/// How the recurrent weights are initialised for a profile.
#[derive(Clone, Copy, Debug, Default)]
pub struct Init {
    /// every parameter U(-s, s) instead of PyTorch's U(-1/sqrt(H), 1/sqrt(H))
    pub scale: Option<f64>,
    /// rescale each H x H gate block of W_hh to this spectral radius (power iteration)
    pub spectral_radius: Option<f64>,
    /// each H x H gate block of W_hh a random orthogonal matrix (times the spectral radius)
    pub orthogonal: bool,
    /// LSTM: forget-gate bias (b_ih's f block; b_hh's set to 0), as Gers et al. (2000)
    /// and Jozefowicz et al. (2015) recommend to let gradients through c
    pub forget_bias: Option<f64>,
}

/// Seeded weights for a profile.
pub fn init_weights(spec: RnnSpec, seed: u64, init: Init) -> Result<Weights> {
    let mut w = match init.scale {
        Some(s) => Weights::init_uniform(spec, seed, s)?,
        None => Weights::init(spec, seed)?,
    };
    let h = spec.hidden_size;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ 0x0a7e);
    // the forget gate's rows (LSTM's f), from the cell registry
    let cell = spec.cell.cell();
    let forget = cell.gates.iter().position(|g| g.name == "f" && cell.has_cell_state);
    if let (Some(fb), Some(f)) = (init.forget_bias, forget) {
        if !spec.bias {
            return Err(Error::Config("--forget-bias needs a model with biases".into()));
        }
        for p in w.params.iter_mut() {
            p.b_ih[f * h..(f + 1) * h].iter_mut().for_each(|v| *v = fb);
            p.b_hh[f * h..(f + 1) * h].iter_mut().for_each(|v| *v = 0.0);
        }
    }
    // linear cells have no W_hh to shape (their recurrence is a_t ⊙ h, a_t in (0, 1))
    for p in w.params.iter_mut().filter(|_| spec.recurrent_weights()) {
        for g in 0..spec.gates() {
            let block = &mut p.w_hh[g * h * h..(g + 1) * h * h];
            if init.orthogonal {
                let q = random_orthogonal(h, &mut rng);
                block.copy_from_slice(&q);
            }
            if let Some(rho) = init.spectral_radius {
                let r = spectral_radius(block, h);
                if r > 0.0 {
                    block.iter_mut().for_each(|v| *v = ((*v * rho / r) as f32) as f64);
                }
            } else if init.orthogonal {
                block.iter_mut().for_each(|v| *v = (*v as f32) as f64);
            }
        }
    }
    Ok(w)
}

fn random_orthogonal(n: usize, rng: &mut rand::rngs::StdRng) -> Vec<f64> {
    // Gram-Schmidt on a Gaussian-ish matrix (sum of uniforms), rows orthonormal.
    let mut m: Vec<f64> =
        (0..n * n).map(|_| (0..4).map(|_| rng.random_range(-1.0..1.0)).sum::<f64>()).collect();
    for i in 0..n {
        for k in 0..i {
            let d: f64 = (0..n).map(|c| m[i * n + c] * m[k * n + c]).sum();
            for c in 0..n {
                m[i * n + c] -= d * m[k * n + c];
            }
        }
        let norm: f64 = (0..n).map(|c| m[i * n + c].powi(2)).sum::<f64>().sqrt();
        for c in 0..n {
            m[i * n + c] /= norm;
        }
    }
    m
}

/// Largest |eigenvalue| of a square matrix, estimated from ‖A^k v‖^(1/k) (k = 64).
pub fn spectral_radius(a: &[f64], n: usize) -> f64 {
    let mut v = vec![1.0 / (n as f64).sqrt(); n];
    let mut log_growth = 0.0;
    let k = 64;
    for _ in 0..k {
        let w: Vec<f64> = (0..n).map(|r| (0..n).map(|c| a[r * n + c] * v[c]).sum()).collect();
        let norm = w.iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm == 0.0 {
            return 0.0;
        }
        log_growth += norm.ln();
        v = w.iter().map(|x| x / norm).collect();
    }
    (log_growth / k as f64).exp()
}

/// Largest singular value of a rows x cols matrix by power iteration on AᵀA.
pub fn sigma_max(a: &[f64], rows: usize, cols: usize) -> f64 {
    let mut v = vec![1.0 / (cols as f64).sqrt(); cols];
    let mut s = 0.0;
    for _ in 0..200 {
        let av: Vec<f64> =
            (0..rows).map(|r| (0..cols).map(|c| a[r * cols + c] * v[c]).sum()).collect();
        let atav: Vec<f64> =
            (0..cols).map(|c| (0..rows).map(|r| a[r * cols + c] * av[r]).sum()).collect();
        let norm = atav.iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm == 0.0 {
            return 0.0;
        }
        let new_s = norm.sqrt();
        v = atav.iter().map(|x| x / norm).collect();
        if (new_s - s).abs() <= 1e-12 * new_s {
            return new_s;
        }
        s = new_s;
    }
    s
}

/// Random inputs U(-1, 1) [T, B, I], seeded.
pub fn random_input(t: usize, b: usize, i: usize, seed: u64) -> Vec<f32> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..t * b * i).map(|_| rng.random_range(-1.0f32..1.0)).collect()
}

/// dL/d(output) for the profile's loss: ones on the last layer's outputs at the last step,
/// or at every step.
pub fn loss_seed(spec: &RnnSpec, t: usize, b: usize, at: LossAt) -> Vec<f32> {
    let w = spec.output_size();
    let mut d = vec![0.0f32; t * b * w];
    let first = if at == LossAt::Last { t - 1 } else { 0 };
    d[first * b * w..].iter_mut().for_each(|v| *v = 1.0);
    d
}

pub use crate::gpu::backward::Trace;

/// Runs the CPU reference (f64) and extracts the trace.
pub fn trace_cpu(w: &Weights, x: &[f32], t: usize, b: usize, at: LossAt) -> Result<Trace> {
    let s = w.spec;
    let xd: Vec<f64> = x.iter().map(|&v| v as f64).collect();
    let fwd = reference::forward(w, &SeqBatch { t, b, x: &xd, h0: None, c0: None, lengths: None })?;
    let dy: Vec<f64> = loss_seed(&s, t, b, at).iter().map(|&v| v as f64).collect();
    let mut tr = StepTrace::default();
    reference::backward_traced(w, &fwd, &dy, None, None, Some(&mut tr))?;
    let h = s.hidden_size;
    let top = (s.num_layers - 1) * s.directions();
    let n = t * b * h;
    let dh = tr.dh[top * n..(top + 1) * n].to_vec();
    let dc = s.cell.has_cell_state().then(|| tr.dc[top * n..(top + 1) * n].to_vec());
    let mut gates = Vec::with_capacity(t * b * s.gates() * h);
    for step in 0..t {
        for row in 0..b {
            gates.extend(
                fwd.gates(s.num_layers - 1, 0, step, row)
                    .ok_or_else(|| Error::Config("padded step in a profile".into()))?,
            );
        }
    }
    Ok(Trace { dh, dc, gates })
}

/// Norms, fitted growth, verdict, σ_max and saturation from a trace.
pub fn summarize(
    label: &str,
    w: &Weights,
    tr: &Trace,
    t: usize,
    b: usize,
    at: LossAt,
    engine: &str,
) -> Report {
    let s = w.spec;
    let h = s.hidden_size;
    let norms = |v: &[f64]| -> (Vec<f64>, Vec<f64>) {
        let mut mean = vec![0.0; t];
        let mut max = vec![0.0f64; t];
        for step in 0..t {
            for row in 0..b {
                let o = (step * b + row) * h;
                let n = v[o..o + h].iter().map(|x| x * x).sum::<f64>().sqrt();
                mean[step] += n / b as f64;
                max[step] =
                    if n.is_nan() || max[step].is_nan() { f64::NAN } else { max[step].max(n) };
            }
        }
        (mean, max)
    };
    let (grad_h_norm, grad_h_norm_max) = norms(&tr.dh);
    let grad_c_norm = tr.dc.as_ref().map(|dc| norms(dc).0);
    let first_nonfinite_step = (0..t).rev().find(|&step| !grad_h_norm[step].is_finite());
    // Least squares of ln‖g_t‖ on distance d = T-1-t over the finite, non-zero norms.
    let pts: Vec<(f64, f64)> = (0..t)
        .filter(|&step| grad_h_norm[step].is_finite() && grad_h_norm[step] > 0.0)
        .map(|step| ((t - 1 - step) as f64, grad_h_norm[step].ln()))
        .collect();
    let growth_per_step = if pts.len() >= 2 {
        let n = pts.len() as f64;
        let (mx, my) =
            (pts.iter().map(|p| p.0).sum::<f64>() / n, pts.iter().map(|p| p.1).sum::<f64>() / n);
        let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
        let sxx: f64 = pts.iter().map(|p| (p.0 - mx).powi(2)).sum();
        if sxx > 0.0 {
            (sxy / sxx).exp()
        } else {
            1.0
        }
    } else {
        f64::NAN
    };
    let verdict = if first_nonfinite_step.is_some() || growth_per_step > 1.0 + GROWTH_THRESHOLD {
        "exploding"
    } else if growth_per_step < 1.0 - GROWTH_THRESHOLD
        || grad_h_norm.first().is_some_and(|&g| g == 0.0)
    {
        "vanishing"
    } else {
        "stable"
    };
    let mut sigma = vec![];
    for l in (0..s.num_layers).filter(|_| s.recurrent_weights()) {
        for dir in 0..s.directions() {
            let name = s.param_name(crate::spec::ParamKind::WeightHh, l, dir);
            sigma.push((name, sigma_max(&w.dir(l, dir).w_hh, s.gates() * h, h)));
        }
    }
    // Single-gate cells (the vanilla RNNs) have activations with |f'| <= 1: their
    // gradients must vanish once σ_max(W_hh) < 1 (Pascanu et al. 2013).
    let cell = s.cell.cell();
    let sigma_bound = (cell.gates.len() == 1).then_some(1.0);
    // the LSTM's forget gate, whose mean activation the report follows
    let forget_gate = cell.gates.iter().position(|g| g.name == "f" && cell.has_cell_state);
    // Saturation: derivative of each activated gate below SATURATION_DERIVATIVE.
    let g = s.gates() * h;
    let mut saturation = vec![0.0; t];
    let mut forget = vec![0.0; t];
    for step in 0..t {
        let mut sat = 0usize;
        for row in 0..b {
            let gv = &tr.gates[(step * b + row) * g..(step * b + row + 1) * g];
            for (k, &a) in gv.iter().enumerate() {
                let deriv = cell.gates[k / h].activation.derivative_at_output(a);
                if deriv < SATURATION_DERIVATIVE {
                    sat += 1;
                }
                if forget_gate == Some(k / h) {
                    forget[step] += a / (b * h) as f64;
                }
            }
        }
        saturation[step] = sat as f64 / (b * g) as f64;
    }
    Report {
        label: label.into(),
        cell: s.cell.name().into(),
        hidden: h,
        layers: s.num_layers,
        seq: t,
        batch: b,
        loss_at: at,
        grad_h_norm,
        grad_h_norm_max,
        grad_c_norm,
        growth_per_step,
        verdict: verdict.into(),
        threshold: GROWTH_THRESHOLD,
        sigma_max: sigma,
        sigma_bound,
        saturation,
        forget_mean: forget_gate.map(|_| forget),
        first_nonfinite_step,
        engine: engine.into(),
    }
}

/// The same trace from the GPU: forward and BPTT on the device, dL/dh_t (and dL/dc_t) of
/// every step of the last layer read back from the backward pass, gates from the reserve
/// space.
#[cfg(feature = "native")]
pub fn trace_gpu(
    gpu: &crate::gpu::Gpu,
    w: &Weights,
    x: &[f32],
    t: usize,
    b: usize,
    at: LossAt,
) -> Result<Trace> {
    let model = crate::gpu::GpuModel::new(gpu, w)?;
    let dy = loss_seed(&w.spec, t, b, at);
    model.trace_steps(gpu, &crate::gpu::Input::new(x, t, b), &dy)
}
