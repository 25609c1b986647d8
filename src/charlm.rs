//! Character-level language models (Karpathy's char-rnn): a vocabulary of the corpus's
//! characters, one-hot inputs, an RNN and a linear + softmax head trained with truncated
//! BPTT over B streams, checkpoints with PyTorch names plus the vocabulary, and sampling
//! one character at a time through the streaming API.
//!
//! Checkpoint (.safetensors, written atomically): the RNN's parameters under PyTorch's
//! names, `head.weight` [V, D*H], `head.bias` \[V\]; metadata `vocab` (a JSON string of the
//! characters in index order), `cell`, `nonlinearity`, `num_layers`, `hidden_size`,
//! `input_size` (= V), `bidirectional`, `bias`, `step` (updates done).

use crate::error::{Error, Result};
use crate::gpu::{Gpu, GpuModel};
use crate::io::{TensorFile, TensorWriter};
use crate::reference::SeqBatch;
use crate::spec::{CellKind, RnnSpec};
use crate::weights::Weights;
use rand::{Rng, SeedableRng};
use std::path::Path;

/// The default corpus of `wgpu-rnn train`: Macbeth and Hamlet (public domain), built by
/// `data/make_corpus.py`; 280 KB, 65 distinct characters.
pub const SHAKESPEARE: &str = include_str!("../data/shakespeare.txt");

/// The characters of a corpus, sorted; index = class.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vocab {
    /// The distinct characters, sorted; V = `chars.len()`.
    pub chars: Vec<char>,
}

impl Vocab {
    /// The distinct characters of `text`; fails with fewer than 2.
    pub fn from_text(text: &str) -> Result<Self> {
        let mut chars: Vec<char> = text.chars().collect();
        chars.sort_unstable();
        chars.dedup();
        if chars.len() < 2 {
            return Err(Error::Config(format!(
                "a corpus needs at least 2 distinct characters, found {}",
                chars.len()
            )));
        }
        Ok(Vocab { chars })
    }

    /// V, the number of characters.
    pub fn len(&self) -> usize {
        self.chars.len()
    }

    /// Whether it has no characters (never, for one built by `from_text`).
    pub fn is_empty(&self) -> bool {
        self.chars.is_empty()
    }

    /// The class of `c`; fails if `c` is not in the vocabulary.
    pub fn index(&self, c: char) -> Result<u32> {
        self.chars
            .binary_search(&c)
            .map(|i| i as u32)
            .map_err(|_| Error::Config(format!("character {c:?} is not in the model's vocabulary")))
    }

    /// The class of each character of `text`.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        text.chars().map(|c| self.index(c)).collect()
    }

    /// One-hot rows [n, V] for classes.
    pub fn one_hot(&self, ids: &[u32]) -> Vec<f32> {
        let v = self.len();
        let mut x = vec![0.0f32; ids.len() * v];
        for (r, &i) in ids.iter().enumerate() {
            x[r * v + i as usize] = 1.0;
        }
        x
    }

    fn to_json(&self) -> String {
        serde_json::to_string(&self.chars.iter().collect::<String>()).expect("string serialises")
    }

    fn from_json(s: &str) -> Result<Self> {
        let text: String =
            serde_json::from_str(s).map_err(|e| Error::Config(format!("checkpoint vocab: {e}")))?;
        Ok(Vocab { chars: text.chars().collect() })
    }
}

/// A trained model: RNN weights, head and vocabulary.
#[derive(Clone, Debug)]
pub struct Checkpoint {
    /// The RNN (input size V, unidirectional).
    pub weights: Weights,
    /// [V, D*H]
    pub head_weight: Vec<f32>,
    /// \[V\]
    pub head_bias: Vec<f32>,
    /// The characters the classes stand for.
    pub vocab: Vocab,
    /// Updates done so far.
    pub step: u64,
    /// How the training data was read (`Batcher::describe`), so that a resumed run can
    /// continue where this one stopped; None in checkpoints that predate it.
    pub data: Option<String>,
}

impl Checkpoint {
    /// Writes atomically: a crash mid-write leaves the previous file intact.
    #[cfg(feature = "native")]
    pub fn save(&self, path: &Path) -> Result<()> {
        self.writer().write(path)
    }

    /// The checkpoint as `.safetensors` bytes (what `save` writes).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        self.writer().to_bytes()
    }

    fn writer(&self) -> TensorWriter {
        let mut w = TensorWriter::new();
        self.weights.write_into(&mut w);
        let (v, k) = (self.vocab.len(), self.weights.spec.output_size());
        w.add_f32("head.weight", vec![v, k], self.head_weight.clone());
        w.add_f32("head.bias", vec![v], self.head_bias.clone());
        w.meta("vocab", self.vocab.to_json()).meta("step", self.step.to_string());
        if let Some(d) = &self.data {
            w.meta("data", d.clone());
        }
        w
    }

    /// Reads a checkpoint written by `save`.
    #[cfg(feature = "native")]
    pub fn load(path: &Path) -> Result<Self> {
        Self::from_file(&TensorFile::open(path)?)
    }

    /// Reads a checkpoint from a parsed file (`TensorFile::from_bytes` in the browser).
    pub fn from_file(f: &TensorFile) -> Result<Self> {
        let path = Path::new(f.path());
        let m = f.metadata();
        let get = |k: &str| {
            m.get(k).cloned().ok_or_else(|| {
                Error::Config(format!("{}: no `{k}` in the checkpoint's metadata", path.display()))
            })
        };
        let vocab = Vocab::from_json(&get("vocab")?)?;
        let cell = CellKind::parse(&get("cell")?, &get("nonlinearity")?)?;
        let parse = |k: &str| -> Result<usize> {
            get(k)?.parse().map_err(|_| {
                Error::Config(format!("{}: metadata `{k}` is not a number", path.display()))
            })
        };
        let spec = RnnSpec {
            cell,
            input_size: parse("input_size")?,
            hidden_size: parse("hidden_size")?,
            num_layers: parse("num_layers")?,
            bidirectional: get("bidirectional")? == "true",
            bias: get("bias")? == "true",
            precision: f.precision()?,
        };
        if spec.input_size != vocab.len() || spec.bidirectional {
            return Err(Error::Config(format!(
                "{}: a char model needs a unidirectional RNN with input size = vocabulary size {}",
                path.display(),
                vocab.len()
            )));
        }
        let weights = Weights::from_file(f, spec)?;
        let (v, k) = (vocab.len(), spec.output_size());
        let to32 =
            |t: crate::io::Tensor| t.data.into_iter().map(|x| x as f32).collect::<Vec<f32>>();
        let head_weight = to32(f.float("head.weight", Some(&[v, k]))?);
        let head_bias = to32(f.float("head.bias", Some(&[v]))?);
        Ok(Checkpoint {
            weights,
            head_weight,
            head_bias,
            vocab,
            step: get("step")?.parse().unwrap_or(0),
            data: m.get("data").cloned(),
        })
    }

    /// Logits \[V\] of the head for one hidden vector \[H\].
    pub fn logits(&self, h: &[f32]) -> Vec<f32> {
        let k = h.len();
        (0..self.vocab.len())
            .map(|c| {
                self.head_bias[c]
                    + self.head_weight[c * k..(c + 1) * k]
                        .iter()
                        .zip(h)
                        .map(|(w, x)| w * x)
                        .sum::<f32>()
            })
            .collect()
    }
}

/// Softmax cross-entropy (nats per character) of a model over a text, run on the GPU as
/// `streams` parallel streams, each reading one contiguous segment of the text from a zero
/// state in chunks of `chunk` characters (the state carried). Batching the streams is what
/// makes validation cheap: one stream of 20000 characters is 20000 sequential steps of
/// B = 1. The last `(len - 1) % streams` predictions are left out so segments are equal.
#[cfg(feature = "native")]
pub fn evaluate(
    gpu: &Gpu,
    ck: &Checkpoint,
    model: &GpuModel,
    ids: &[u32],
    streams: usize,
    chunk: usize,
) -> Result<f64> {
    if streams == 0 || chunk == 0 {
        return Err(Error::Config(format!(
            "evaluation needs streams >= 1 and chunk >= 1, got {streams} and {chunk}"
        )));
    }
    let seg = (ids.len().max(1) - 1) / streams;
    if seg == 0 {
        return Err(Error::Config(format!(
            "evaluation text of {} characters is too short for {streams} streams",
            ids.len()
        )));
    }
    let mut stream = model.stream(streams)?;
    let (mut total, mut n) = (0.0f64, 0usize);
    let h = ck.weights.spec.hidden_size;
    for start in (0..seg).step_by(chunk) {
        let end = (start + chunk).min(seg);
        // Inputs [T, B]: step s of stream b reads ids[b * seg + s].
        let x: Vec<u32> =
            (start..end).flat_map(|s| (0..streams).map(move |b| ids[b * seg + s])).collect();
        let out = stream.step(gpu, &ck.vocab.one_hot(&x))?;
        for (k, s) in (start..end).enumerate() {
            for b in 0..streams {
                let row = k * streams + b;
                let logits = ck.logits(&out[row * h..(row + 1) * h]);
                let m = logits.iter().cloned().fold(f32::MIN, f32::max) as f64;
                let z: f64 = logits.iter().map(|&l| (l as f64 - m).exp()).sum();
                total += z.ln() + m - logits[ids[b * seg + s + 1] as usize] as f64;
                n += 1;
            }
        }
    }
    Ok(total / n as f64)
}

/// Generates `length` characters after `prime` (which is returned too). Temperature 0 is
/// greedy (argmax); otherwise softmax(logits / temperature) sampled from a seeded RNG.
#[cfg(feature = "native")]
pub fn sample(
    gpu: &Gpu,
    ck: &Checkpoint,
    prime: &str,
    length: usize,
    temperature: f32,
    seed: u64,
) -> Result<String> {
    pollster::block_on(sample_async(gpu, ck, prime, length, temperature, seed))
}

/// `sample` without blocking (the browser page's).
pub async fn sample_async(
    gpu: &Gpu,
    ck: &Checkpoint,
    prime: &str,
    length: usize,
    temperature: f32,
    seed: u64,
) -> Result<String> {
    let ids = check_sample(ck, prime, temperature)?;
    let model = GpuModel::new(gpu, &ck.weights)?;
    let mut stream = model.stream(1)?;
    let h = ck.weights.spec.hidden_size;
    let out = stream.step_async(gpu, &ck.vocab.one_hot(&ids)).await?;
    let mut last = out[(ids.len() - 1) * h..].to_vec();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut text = prime.to_string();
    for _ in 0..length {
        let next = pick_next(&ck.logits(&last), temperature, &mut rng);
        text.push(ck.vocab.chars[next]);
        last = stream.step_async(gpu, &ck.vocab.one_hot(&[next as u32])).await?;
    }
    Ok(text)
}

/// `sample` on the CPU reference (f64 states, carried one character at a time): the
/// page's sampler where the browser has no WebGPU.
pub fn sample_cpu(
    ck: &Checkpoint,
    prime: &str,
    length: usize,
    temperature: f32,
    seed: u64,
) -> Result<String> {
    let ids = check_sample(ck, prime, temperature)?;
    let w = &ck.weights;
    let h = w.spec.hidden_size;
    let one_hot =
        |ids: &[u32]| -> Vec<f64> { ck.vocab.one_hot(ids).iter().map(|&x| x as f64).collect() };
    let run = |ids: &[u32], state: Option<(&[f64], &[f64])>| {
        let x = one_hot(ids);
        let (h0, c0) = match state {
            Some((h0, c0)) => (Some(h0), (!c0.is_empty()).then_some(c0)),
            None => (None, None),
        };
        let batch = SeqBatch { t: ids.len(), b: 1, x: &x, h0, c0, lengths: None };
        crate::reference::forward(w, &batch)
    };
    let mut fwd = run(&ids, None)?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut text = prime.to_string();
    for _ in 0..length {
        let last: Vec<f32> = fwd.output[fwd.output.len() - h..].iter().map(|&x| x as f32).collect();
        let next = pick_next(&ck.logits(&last), temperature, &mut rng);
        text.push(ck.vocab.chars[next]);
        fwd = run(&[next as u32], Some((&fwd.h_n, &fwd.c_n)))?;
    }
    Ok(text)
}

fn check_sample(ck: &Checkpoint, prime: &str, temperature: f32) -> Result<Vec<u32>> {
    if prime.is_empty() {
        return Err(Error::Config("--prime must hold at least one character".into()));
    }
    if !(temperature >= 0.0 && temperature.is_finite()) {
        return Err(Error::Config(format!("temperature {temperature} must be >= 0")));
    }
    ck.vocab.encode(prime)
}

/// The next class: argmax at temperature 0, else a draw from softmax(logits / temperature).
fn pick_next(logits: &[f32], temperature: f32, rng: &mut rand::rngs::StdRng) -> usize {
    if temperature == 0.0 {
        return logits
            .iter()
            .enumerate()
            .fold((0, f32::MIN), |a, (i, &l)| if l > a.1 { (i, l) } else { a })
            .0;
    }
    let m = logits.iter().cloned().fold(f32::MIN, f32::max);
    let p: Vec<f64> = logits.iter().map(|&l| (((l - m) / temperature) as f64).exp()).collect();
    let z: f64 = p.iter().sum();
    let mut u = rng.random_range(0.0..z);
    for (i, &pi) in p.iter().enumerate() {
        if u < pi {
            return i;
        }
        u -= pi;
    }
    p.len() - 1
}

/// One predicted next character and its probability.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Prediction {
    /// The character.
    pub char: char,
    /// softmax(logits) of it.
    pub p: f32,
}

impl Checkpoint {
    /// The `k` most likely next characters after hidden state `h` \[H\], most likely first
    /// (ties by vocabulary order).
    pub fn top_k(&self, h: &[f32], k: usize) -> Vec<Prediction> {
        let logits = self.logits(h);
        let m = logits.iter().cloned().fold(f32::MIN, f32::max) as f64;
        let e: Vec<f64> = logits.iter().map(|&l| (l as f64 - m).exp()).collect();
        let z: f64 = e.iter().sum();
        let mut order: Vec<usize> = (0..e.len()).collect();
        order.sort_by(|&a, &b| e[b].total_cmp(&e[a]).then(a.cmp(&b)));
        order
            .into_iter()
            .take(k)
            .map(|i| Prediction { char: self.vocab.chars[i], p: (e[i] / z) as f32 })
            .collect()
    }
}

/// B streams through the training text, each advancing `t` characters per step; a stream
/// that would run past the end restarts at its offset (the carried state is reset then).
pub struct Batcher {
    starts: Vec<usize>,
    pos: Vec<usize>,
    t: usize,
    limit: usize,
}

impl Batcher {
    /// `b` streams over a text of `len` characters, `t` per step, their offsets spread
    /// evenly with a little seeded jitter; fails if the text is shorter than `t` + 1.
    pub fn new(len: usize, b: usize, t: usize, seed: u64) -> Result<Self> {
        if len < t + 1 {
            return Err(Error::Config(format!(
                "training text of {len} characters is shorter than --seq {t} + 1"
            )));
        }
        let span = len - t - 1;
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let starts: Vec<usize> = (0..b)
            .map(|i| {
                if b == 1 {
                    0
                } else {
                    (i * span) / b + rng.random_range(0..=span / (4 * b).max(1))
                }
            })
            .map(|s| s.min(span))
            .collect();
        Ok(Batcher { pos: starts.clone(), starts, t, limit: len })
    }

    /// The reading settings whose positions `skip` can rebuild: streams, steps per batch,
    /// the text's length and the seed of the offsets.
    pub fn describe(&self, seed: u64) -> String {
        format!("streams={};seq={};chars={};seed={seed}", self.pos.len(), self.t, self.limit)
    }

    /// Advances as `n` calls of `next` would (the positions after `n` batches).
    pub fn skip(&mut self, n: u64) {
        for _ in 0..n {
            for (p, s) in self.pos.iter_mut().zip(&self.starts) {
                if *p + self.t + 1 > self.limit {
                    *p = *s;
                }
                *p += self.t;
            }
        }
    }

    /// Inputs [T, B] and targets [T, B] (the next characters); true when a stream wrapped.
    pub fn next(&mut self, ids: &[u32]) -> (Vec<u32>, Vec<u32>, bool) {
        let b = self.pos.len();
        let mut wrapped = false;
        for i in 0..b {
            if self.pos[i] + self.t + 1 > self.limit {
                self.pos[i] = self.starts[i];
                wrapped = true;
            }
        }
        let mut x = vec![0u32; self.t * b];
        let mut y = vec![0u32; self.t * b];
        for s in 0..self.t {
            for i in 0..b {
                x[s * b + i] = ids[self.pos[i] + s];
                y[s * b + i] = ids[self.pos[i] + s + 1];
            }
        }
        for p in self.pos.iter_mut() {
            *p += self.t;
        }
        (x, y, wrapped)
    }
}
