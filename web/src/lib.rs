//! The engine of the browser page (`web/static/index.html`): the same traces, seeded
//! initialisation and sampler as the native library, compiled to wasm32. With WebGPU the
//! library's WGSL kernels run on the browser's adapter; without it the CPU reference (f64)
//! computes the same numbers.
//!
//! JavaScript talks to `Engine` with JSON strings (`TraceRequest` in, the trace schema of
//! `wgpu-rnn trace --json` plus `Extras` out), which keeps the bindings small.

use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wgpu_rnn::charlm::{Checkpoint, Prediction, Vocab};
use wgpu_rnn::io::TensorFile;
use wgpu_rnn::trace::{self, Trace, TraceOptions};
use wgpu_rnn::{CellKind, Gpu, Weights};

/// Hidden sizes the page offers for a seeded model.
pub const HIDDEN_RANGE: std::ops::RangeInclusive<usize> = 4..=64;
/// The longest text the page traces (the heatmap stays readable and a trace quick).
pub const MAX_TEXT: usize = 200;

/// One trace the page asks for.
#[derive(Clone, Debug, Deserialize)]
pub struct TraceRequest {
    /// The characters read, one column each.
    pub text: String,
    /// "seeded" (default) or "trained" (the loaded checkpoint).
    #[serde(default = "seeded")]
    pub model: String,
    /// Seeded model: rnn, lstm, gru, mingru or minlstm (also rnn_tanh, rnn_relu).
    #[serde(default = "rnn")]
    pub cell: String,
    /// Seeded RNN: tanh or relu.
    #[serde(default = "tanh")]
    pub nonlinearity: String,
    /// Seeded model: H.
    #[serde(default = "sixteen")]
    pub hidden: usize,
    /// Seeded model: the initialisation's seed.
    #[serde(default = "three")]
    pub seed: u64,
    /// Record c_t's gates too.
    #[serde(default)]
    pub gates: bool,
    /// Record ‖dL/dh_t‖ (L = Σ h_T).
    #[serde(default)]
    pub grad: bool,
    /// Trained model: how many next-character predictions per column.
    #[serde(default)]
    pub top: usize,
}

fn seeded() -> String {
    "seeded".into()
}
fn rnn() -> String {
    "rnn".into()
}
fn tanh() -> String {
    "tanh".into()
}
fn sixteen() -> usize {
    16
}
fn three() -> u64 {
    3
}

/// What the page shows besides the trace.
#[derive(Clone, Debug, Serialize)]
pub struct Extras {
    /// "webgpu" or "cpu".
    pub backend: &'static str,
    /// The adapter (or "CPU reference (f64, wasm)").
    pub adapter: String,
    /// The seed of a seeded model.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// The characters the model reads.
    pub vocab: String,
    /// Trained model: the top predictions after each character, \[T\]\[top\].
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub predictions: Vec<Vec<Prediction>>,
}

#[derive(Serialize)]
struct Response<'a> {
    #[serde(flatten)]
    trace: &'a Trace,
    #[serde(flatten)]
    extras: Extras,
}

struct Inner {
    gpu: Option<Rc<Gpu>>,
    adapter: String,
    fallback_reason: String,
    trained: RefCell<Option<Rc<Checkpoint>>>,
}

/// The page's engine: WebGPU when the browser has it, else the CPU reference.
#[wasm_bindgen]
pub struct Engine {
    inner: Rc<Inner>,
}

fn js_error(e: impl std::fmt::Display) -> JsValue {
    JsError::new(&e.to_string()).into()
}

/// Opens the engine: WebGPU when `want_gpu` and the browser gives an adapter, else the CPU
/// reference (`Engine.fallbackReason` says why). Never fails: the page always computes.
#[wasm_bindgen(js_name = createEngine)]
pub async fn create_engine(want_gpu: bool) -> Engine {
    let (gpu, adapter, fallback_reason) = if want_gpu {
        match Gpu::new_async().await {
            Ok(g) => {
                let name = g.describe();
                (Some(Rc::new(g)), name, String::new())
            }
            Err(e) => (None, cpu_name(), e.to_string()),
        }
    } else {
        (None, cpu_name(), "WebGPU was not requested".into())
    };
    Engine { inner: Rc::new(Inner { gpu, adapter, fallback_reason, trained: RefCell::new(None) }) }
}

fn cpu_name() -> String {
    "CPU reference (f64, WebAssembly)".into()
}

#[wasm_bindgen]
impl Engine {
    /// "webgpu" or "cpu".
    #[wasm_bindgen(getter)]
    pub fn backend(&self) -> String {
        backend(&self.inner).into()
    }

    /// The adapter's description, or the CPU reference's name.
    #[wasm_bindgen(getter)]
    pub fn adapter(&self) -> String {
        self.inner.adapter.clone()
    }

    /// Why the engine computes on the CPU (empty on WebGPU).
    #[wasm_bindgen(getter, js_name = fallbackReason)]
    pub fn fallback_reason(&self) -> String {
        self.inner.fallback_reason.clone()
    }

    /// Loads a char-model checkpoint written by `wgpu-rnn train` (its `.safetensors`
    /// bytes); returns `{cell, hidden_size, num_layers, vocab, step}` as JSON.
    #[wasm_bindgen(js_name = loadCheckpoint)]
    pub fn load_checkpoint(&self, bytes: Vec<u8>) -> Result<String, JsValue> {
        let file = TensorFile::from_bytes("charlm.safetensors", bytes).map_err(js_error)?;
        let ck = Checkpoint::from_file(&file).map_err(js_error)?;
        let s = ck.weights.spec;
        let info = serde_json::json!({
            "cell": s.cell.name(),
            "hidden_size": s.hidden_size,
            "num_layers": s.num_layers,
            "vocab": ck.vocab.chars.iter().collect::<String>(),
            "step": ck.step,
        });
        *self.inner.trained.borrow_mut() = Some(Rc::new(ck));
        Ok(info.to_string())
    }

    /// Computes one trace (`TraceRequest` as JSON); resolves to the trace JSON.
    pub fn trace(&self, request: String) -> js_sys::Promise {
        let inner = self.inner.clone();
        wasm_bindgen_futures::future_to_promise(async move {
            let req: TraceRequest = serde_json::from_str(&request).map_err(js_error)?;
            let json = trace_json(&inner, &req).await.map_err(js_error)?;
            Ok(JsValue::from_str(&json))
        })
    }

    /// Samples `length` characters after `prime` from the trained model (temperature 0 is
    /// greedy); resolves to the prime plus the continuation.
    pub fn sample(
        &self,
        prime: String,
        length: usize,
        temperature: f32,
        seed: u32,
    ) -> js_sys::Promise {
        let inner = self.inner.clone();
        wasm_bindgen_futures::future_to_promise(async move {
            let ck = trained(&inner).map_err(js_error)?;
            let text = match &inner.gpu {
                Some(gpu) => {
                    wgpu_rnn::charlm::sample_async(
                        gpu,
                        &ck,
                        &prime,
                        length,
                        temperature,
                        seed as u64,
                    )
                    .await
                }
                None => wgpu_rnn::charlm::sample_cpu(&ck, &prime, length, temperature, seed as u64),
            }
            .map_err(js_error)?;
            Ok(JsValue::from_str(&text))
        })
    }
}

fn backend(inner: &Inner) -> &'static str {
    if inner.gpu.is_some() {
        "webgpu"
    } else {
        "cpu"
    }
}

fn trained(inner: &Inner) -> Result<Rc<Checkpoint>, String> {
    inner.trained.borrow().clone().ok_or_else(|| "the trained model is not loaded".to_string())
}

/// Checks a request and builds its model: (weights, vocabulary, checkpoint if trained).
pub fn request_model(
    req: &TraceRequest,
    trained: Option<Rc<Checkpoint>>,
) -> Result<(Weights, Vocab, Option<Rc<Checkpoint>>), String> {
    let n = req.text.chars().count();
    if n == 0 {
        return Err("type at least one character".into());
    }
    if n > MAX_TEXT {
        return Err(format!("the text has {n} characters; the page traces at most {MAX_TEXT}"));
    }
    match req.model.as_str() {
        "seeded" => {
            let cell = CellKind::parse(&req.cell, &req.nonlinearity).map_err(|e| e.to_string())?;
            if !HIDDEN_RANGE.contains(&req.hidden) {
                return Err(format!(
                    "hidden={} is outside {}..={}",
                    req.hidden,
                    HIDDEN_RANGE.start(),
                    HIDDEN_RANGE.end()
                ));
            }
            let vocab = Vocab::from_text(trace::DEFAULT_VOCAB).map_err(|e| e.to_string())?;
            check_alphabet(&req.text, &vocab)?;
            let w = trace::seeded(&vocab, cell, req.hidden, req.seed).map_err(|e| e.to_string())?;
            Ok((w, vocab, None))
        }
        "trained" => {
            let ck = trained.ok_or("the trained model is not loaded")?;
            check_alphabet(&req.text, &ck.vocab)?;
            Ok((ck.weights.clone(), ck.vocab.clone(), Some(ck)))
        }
        other => Err(format!("model={other} is not one of seeded, trained")),
    }
}

/// Names every character outside the model's alphabet.
fn check_alphabet(text: &str, vocab: &Vocab) -> Result<(), String> {
    let mut bad: Vec<char> = text.chars().filter(|c| vocab.index(*c).is_err()).collect();
    bad.sort_unstable();
    bad.dedup();
    if bad.is_empty() {
        return Ok(());
    }
    let shown: String = bad.iter().map(|c| format!("{c:?}")).collect::<Vec<_>>().join(" ");
    let alphabet: String = vocab.chars.iter().collect();
    if vocab.len() <= 8 {
        Err(format!("{shown} not in the alphabet {alphabet:?}"))
    } else {
        Err(format!("{shown} not in the model's {} characters", vocab.len()))
    }
}

async fn trace_json(inner: &Inner, req: &TraceRequest) -> Result<String, String> {
    let (w, vocab, ck) = request_model(req, inner.trained.borrow().clone())?;
    let gates = req.gates && w.spec.cell.cell().gates.len() > 1;
    let opts = TraceOptions { layer: None, gates, grad: req.grad };
    let tr = match &inner.gpu {
        Some(gpu) => trace::run_async(gpu, &w, &vocab, &req.text, opts).await,
        None => trace::run_cpu(&w, &vocab, &req.text, opts),
    }
    .map_err(|e| e.to_string())?;
    let predictions = match (&ck, req.top) {
        (Some(ck), k) if k > 0 => tr.h.iter().map(|h| ck.top_k(h, k)).collect(),
        _ => vec![],
    };
    let extras = Extras {
        backend: backend(inner),
        adapter: inner.adapter.clone(),
        seed: ck.is_none().then_some(req.seed),
        vocab: vocab.chars.iter().collect(),
        predictions,
    };
    serde_json::to_string(&Response { trace: &tr, extras }).map_err(|e| e.to_string())
}
