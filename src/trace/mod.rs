//! The hidden-state trace: a model reads a text one character at a time and the hidden
//! state (units x timesteps, one column per character) is drawn as a heatmap with a
//! diverging colour scale, the picture that explains what an RNN carries forward.
//!
//! The same trace comes from the GPU (`run_async`, `run`) or the CPU reference (`run_cpu`):
//! the browser page computes with whichever it has, and `wgpu-rnn trace --json` prints the
//! same schema.

#[cfg(feature = "native")]
mod draw;
#[cfg(feature = "native")]
pub use draw::{draw_png, draw_svg};

#[cfg(feature = "native")]
use crate::charlm::Checkpoint;
use crate::charlm::Vocab;
use crate::error::{Error, Result};
use crate::gpu::{Gpu, GpuModel, Input};
use crate::reference::{self, SeqBatch};
use crate::spec::{CellKind, RnnSpec};
use crate::stability::{loss_seed, LossAt};
use crate::weights::Weights;
#[cfg(feature = "native")]
use std::path::Path;

/// The vocabulary of the classic demo when no checkpoint is given.
pub const DEFAULT_VOCAB: &str = "abrcd ";

/// What a trace records besides h_t.
#[derive(Clone, Copy, Debug, Default)]
pub struct TraceOptions {
    /// The layer to show (0 = the first; default the last when None).
    pub layer: Option<usize>,
    /// Also record the activated gates (LSTM i, f, g, o; GRU r, z, n).
    pub gates: bool,
    /// Also record ‖dL/dh_t‖ per character for L = the sum of the last layer's h at the
    /// last character, by backpropagation through time (`Trace::grad_h_norm`).
    pub grad: bool,
}

/// One gate's activations over the text: \[T\]\[H\].
#[derive(Clone, Debug, serde::Serialize)]
pub struct GateTrace {
    /// PyTorch's letter for the gate (LSTM i, f, g, o; GRU r, z, n).
    pub name: String,
    /// "sigmoid" (0..1) or "tanh" (-1..1)
    pub activation: String,
    /// The activated gate per character and unit: \[T\]\[H\].
    pub values: Vec<Vec<f32>>,
}

/// Hidden states of one run.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Trace {
    /// The text read, one timestep per character.
    pub text: String,
    /// The cell's name (`CellKind::name`).
    pub cell: String,
    /// H (units in the rows).
    pub hidden_size: usize,
    /// The layer shown (0 = the first).
    pub layer: usize,
    /// h_t of the layer: \[T\]\[H\]
    pub h: Vec<Vec<f32>>,
    /// LSTM: c_t of the layer: \[T\]\[H\]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub c: Option<Vec<Vec<f32>>>,
    /// With `TraceOptions::gates`: the activated gates in PyTorch's order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub gates: Vec<GateTrace>,
    /// With `TraceOptions::grad`: ‖dL/dh_t‖ of the last layer per character \[T\], for
    /// L = Σ h_T (the sum of the last layer's units after the last character).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grad_h_norm: Option<Vec<f64>>,
}

/// A seeded model over `vocab` for the demo (one layer, PyTorch's init).
pub fn seeded(vocab: &Vocab, cell: CellKind, hidden: usize, seed: u64) -> Result<Weights> {
    Weights::init(RnnSpec::new(cell, vocab.len(), hidden), seed)
}

/// Loads a char-model checkpoint for a trace.
#[cfg(feature = "native")]
pub fn from_checkpoint(path: &Path) -> Result<(Weights, Vocab)> {
    let ck = Checkpoint::load(path)?;
    Ok((ck.weights, ck.vocab))
}

/// A checked request: the encoded text, the layer shown and the gates recorded.
struct Request {
    ids: Vec<u32>,
    layer: usize,
    gates: &'static [crate::cells::Gate],
}

fn check(s: &RnnSpec, vocab: &Vocab, text: &str, opts: TraceOptions) -> Result<Request> {
    let ids = vocab.encode(text)?;
    if ids.is_empty() {
        return Err(Error::Config("trace needs a non-empty --text".into()));
    }
    if s.bidirectional {
        return Err(Error::Config("trace shows a unidirectional model".into()));
    }
    if s.input_size != vocab.len() {
        return Err(Error::Config(format!(
            "trace: the model reads {} features, the vocabulary has {} characters",
            s.input_size,
            vocab.len()
        )));
    }
    let layer = opts.layer.unwrap_or(s.num_layers - 1);
    if layer >= s.num_layers {
        return Err(Error::Config(format!(
            "--layer {layer}: the model has {} layers (0..{})",
            s.num_layers,
            s.num_layers - 1
        )));
    }
    // A single-gate cell's only activation is h_t itself: it has no gates to show.
    let all = s.cell.cell().gates;
    let gates = match (opts.gates, all.len() > 1) {
        (false, _) => &[][..],
        (true, true) => all,
        (true, false) => {
            return Err(Error::Config(format!(
                "--gates: a {} cell has no gates (its only activation is h_t)",
                s.cell
            )))
        }
    };
    Ok(Request { ids, layer, gates })
}

/// Assembles a trace from flat per-step states: h and c [T, H], gates [T, G*H].
fn assemble(
    spec: &RnnSpec,
    text: &str,
    req: &Request,
    h: &[f32],
    c: &[f32],
    gates: &[f32],
    grad_h_norm: Option<Vec<f64>>,
) -> Trace {
    let hs = spec.hidden_size;
    let rows = |v: &[f32]| -> Vec<Vec<f32>> { v.chunks(hs).map(|c| c.to_vec()).collect() };
    let g = spec.gates() * hs;
    let gates = req
        .gates
        .iter()
        .enumerate()
        .map(|(k, gate)| GateTrace {
            name: gate.name.to_string(),
            activation: gate.activation.name().to_string(),
            values: gates.chunks(g).map(|row| row[k * hs..(k + 1) * hs].to_vec()).collect(),
        })
        .collect();
    Trace {
        text: text.into(),
        cell: spec.cell.name().into(),
        hidden_size: hs,
        layer: req.layer,
        h: rows(h),
        c: spec.cell.has_cell_state().then(|| rows(c)),
        gates,
        grad_h_norm,
    }
}

/// ‖row‖ of each [H] row of `dh` [T, H].
fn row_norms(dh: &[f64], h: usize) -> Vec<f64> {
    dh.chunks(h).map(|r| r.iter().map(|v| v * v).sum::<f64>().sqrt()).collect()
}

/// Runs `weights` over `text` (one stream) on the GPU: one forward pass that keeps the
/// per-step states (h_t, c_t and the gates come from the same pass), and with
/// `opts.grad` one forward-backward pass for ‖dL/dh_t‖.
#[cfg(feature = "native")]
pub fn run(
    gpu: &Gpu,
    weights: &Weights,
    vocab: &Vocab,
    text: &str,
    opts: TraceOptions,
) -> Result<Trace> {
    pollster::block_on(run_async(gpu, weights, vocab, text, opts))
}

/// `run` without blocking: what the browser page calls.
pub async fn run_async(
    gpu: &Gpu,
    weights: &Weights,
    vocab: &Vocab,
    text: &str,
    opts: TraceOptions,
) -> Result<Trace> {
    let model = GpuModel::new(gpu, weights)?;
    run_model_async(gpu, &model, vocab, text, opts).await
}

/// `run_async` with the weights already on the GPU (the page keeps its model between
/// traces of different texts).
pub async fn run_model_async(
    gpu: &Gpu,
    model: &GpuModel,
    vocab: &Vocab,
    text: &str,
    opts: TraceOptions,
) -> Result<Trace> {
    let s = model.spec;
    let req = check(&s, vocab, text, opts)?;
    let x = vocab.one_hot(&req.ids);
    let t = req.ids.len();
    let input = Input::new(&x, t, 1);
    // With the gradient: one call that runs the forward and BPTT and reads both back.
    let seed = opts.grad.then(|| loss_seed(&s, t, 1, LossAt::Last));
    let (st, dh) =
        model.forward_states_traced_async(gpu, &input, req.layer, 0, seed.as_deref()).await?;
    let grad = dh.map(|dh| row_norms(&dh, s.hidden_size));
    Ok(assemble(&s, text, &req, &st.h, &st.c, &st.gates, grad))
}

/// The same trace from the CPU reference (f64, rounded to f32 at the end): the page's
/// engine where the browser has no WebGPU.
pub fn run_cpu(weights: &Weights, vocab: &Vocab, text: &str, opts: TraceOptions) -> Result<Trace> {
    let s = weights.spec;
    let req = check(&s, vocab, text, opts)?;
    let t = req.ids.len();
    let x: Vec<f64> = vocab.one_hot(&req.ids).iter().map(|&v| v as f64).collect();
    let batch = SeqBatch { t, b: 1, x: &x, h0: None, c0: None, lengths: None };
    let fwd = reference::forward(weights, &batch)?;
    let (h, c, gates) = fwd.step_states(req.layer, 0)?;
    let grad = if opts.grad {
        let dy: Vec<f64> = loss_seed(&s, t, 1, LossAt::Last).iter().map(|&v| v as f64).collect();
        let mut tr = reference::StepTrace::default();
        reference::backward_traced(weights, &fwd, &dy, None, None, Some(&mut tr))?;
        let top = (s.num_layers - 1) * s.directions();
        let n = t * s.hidden_size;
        Some(row_norms(&tr.dh[top * n..(top + 1) * n], s.hidden_size))
    } else {
        None
    };
    let f32s = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
    Ok(assemble(&s, text, &req, &f32s(&h), &f32s(&c), &f32s(&gates), grad))
}

impl Trace {
    /// The same trace restricted to units 0..n (for drawing a wide model legibly).
    pub fn first_units(&self, n: usize) -> Trace {
        let n = n.clamp(1, self.hidden_size);
        let cut =
            |rows: &[Vec<f32>]| -> Vec<Vec<f32>> { rows.iter().map(|r| r[..n].to_vec()).collect() };
        Trace {
            text: self.text.clone(),
            cell: self.cell.clone(),
            hidden_size: n,
            layer: self.layer,
            h: cut(&self.h),
            c: self.c.as_deref().map(cut),
            gates: self
                .gates
                .iter()
                .map(|g| GateTrace {
                    name: g.name.clone(),
                    activation: g.activation.clone(),
                    values: cut(&g.values),
                })
                .collect(),
            grad_h_norm: self.grad_h_norm.clone(),
        }
    }
}
