//! Named throughput workloads and their measurement, shared by `wgpu-rnn bench` and the
//! criterion benches. Napkin math: forward FLOPs = 2·B·T·G·H·(I+H) (input projection plus
//! recurrent product; the gate arithmetic is O(B·T·G·H) and ignored), training = 3×.

use crate::check::compare;
use crate::error::Result;
use crate::gpu::backward::GradInput;
use crate::gpu::gemm::GemmPlan;
use crate::gpu::{ForwardOptions, GemmVariant, Gpu, GpuModel, Input, Variant};
use crate::reference::{self, SeqBatch};
use crate::spec::{CellKind, Precision, RnnSpec};
use crate::weights::Weights;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use std::time::Instant;

/// A benchmark shape: single layer, unidirectional, with biases; weights in `precision`.
#[derive(Clone, Debug, Serialize)]
pub struct Workload {
    /// The name `wgpu-rnn bench` selects it by, e.g. `lstm-b64`.
    pub name: String,
    /// The cell.
    #[serde(serialize_with = "ser_cell")]
    pub cell: CellKind,
    /// B.
    pub batch: usize,
    /// I.
    pub input: usize,
    /// H.
    pub hidden: usize,
    /// T.
    pub seq: usize,
    /// How the weight matrices are stored (f32 unless asked).
    #[serde(serialize_with = "ser_precision")]
    pub precision: Precision,
}

fn ser_precision<S: serde::Serializer>(
    p: &Precision,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(p.name())
}

fn ser_cell<S: serde::Serializer>(c: &CellKind, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(c.name())
}

impl Workload {
    /// A workload from its name, cell, B, I, H and T.
    pub fn new(
        name: &str,
        cell: CellKind,
        batch: usize,
        input: usize,
        hidden: usize,
        seq: usize,
    ) -> Self {
        Workload { name: name.into(), cell, batch, input, hidden, seq, precision: Precision::F32 }
    }
    /// The same shape with its weights stored in `p`.
    pub fn with_precision(mut self, p: Precision) -> Self {
        self.precision = p;
        self
    }
    /// Its model: one layer, unidirectional, with biases.
    pub fn spec(&self) -> RnnSpec {
        RnnSpec::new(self.cell, self.input, self.hidden).with_precision(self.precision)
    }

    /// Bytes of the weight matrices and biases as the kernels read them.
    pub fn weight_bytes(&self) -> u64 {
        crate::gpu::layout::weight_bytes(&self.spec())
    }

    /// Bytes training's forward keeps for backward (`ReserveLayout::bytes`): 16-bit
    /// weights keep the pre-activations and c_{t-1} in 16 bits and no xg.
    pub fn reserve_bytes(&self) -> u64 {
        crate::gpu::layout::ReserveLayout::of(&self.spec(), self.seq, self.batch).bytes(1)
    }

    /// Napkin bytes one timestep moves at least, weights read once per step as the
    /// per-step kernels do: W_hh, W_ih / T (its GEMM reads it once per call) and the
    /// activations, 4 bytes each: B·(G·H of xg read, H of h_{t-1} read, H of h_t and H of
    /// the output written, 2·H of c read and written for LSTM). Training (`train`) reads
    /// the weights again in backward and adds the reserve space written and read (twice
    /// `reserve_bytes` / T) and the gate gradients written and read (2·B·G·H, f32).
    pub fn bytes_per_step(&self, mode: Mode) -> f64 {
        let (b, h, gh) =
            (self.batch as f64, self.hidden as f64, (self.cell.gates() * self.hidden) as f64);
        let (w_ih, w_hh) = crate::gpu::layout::matrix_bytes(&self.spec(), 0);
        let (w_ih, w_hh) = (w_ih as f64 / self.seq as f64, w_hh as f64);
        let c = if self.cell.has_cell_state() { 2.0 * h } else { 0.0 };
        let act = 4.0 * b * (gh + 3.0 * h + c);
        let fwd = w_hh + w_ih + act;
        match mode {
            Mode::Fwd => fwd,
            Mode::Train => {
                let reserve = self.reserve_bytes() as f64 / self.seq as f64;
                2.0 * fwd + 2.0 * reserve + 4.0 * b * 2.0 * gh
            }
        }
    }
    /// Forward FLOPs: 2·B·T·G·H·(I+H) (linear cells 2·B·T·G·H·I: no W_hh).
    pub fn forward_flops(&self) -> f64 {
        self.spec().forward_flops(self.seq, self.batch)
    }

    /// K of the workload's gate GEMMs: I+H (linear cells: I).
    pub fn gemm_k(&self) -> usize {
        self.input + if self.cell.linear() { 0 } else { self.hidden }
    }
}

/// The named workloads of `wgpu-rnn bench`.
pub fn workloads() -> Vec<Workload> {
    vec![
        Workload::new("lstm-b1", CellKind::Lstm, 1, 64, 128, 1000),
        Workload::new("lstm-b64", CellKind::Lstm, 64, 256, 256, 100),
        Workload::new("lstm-b256", CellKind::Lstm, 256, 512, 512, 50),
        Workload::new("gru-b64", CellKind::Gru, 64, 256, 256, 100),
        Workload::new("rnn-b64", CellKind::RnnTanh, 64, 256, 256, 100),
        Workload::new("mingru-b64", CellKind::MinGru, 64, 256, 256, 100),
        Workload::new("minlstm-b64", CellKind::MinLstm, 64, 256, 256, 100),
        Workload::new("mingru-t4096", CellKind::MinGru, 8, 256, 256, 4096),
        Workload::new("gru-t4096", CellKind::Gru, 8, 256, 256, 4096),
    ]
}

/// What a case times.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The forward pass (`fwd`).
    Fwd,
    /// Forward plus backpropagation through time to all weight gradients (`train`).
    Train,
}

/// One measured case.
#[derive(Clone, Debug, Serialize)]
pub struct CaseResult {
    /// The workload measured.
    pub workload: Workload,
    /// Forward or training.
    pub mode: Mode,
    /// The kernel variant that ran (the engine's pick unless one was asked for).
    pub variant: String,
    /// Every timed call's wall time in ms, in the order they ran.
    pub runs_ms: Vec<f64>,
    /// The median of `runs_ms`.
    pub median_ms: f64,
    /// The fastest timed call, ms.
    pub min_ms: f64,
    /// The slowest timed call, ms.
    pub max_ms: f64,
    /// B·T timesteps processed per second at the median time.
    pub tokens_per_s: f64,
    /// GFLOP/s at the median time, by the napkin math of the module docs (training: 3× the
    /// forward FLOPs).
    pub gflops: f64,
    /// the best standalone GEMM on the same FLOPs ([T*B, I+H] x [G*H, I+H]ᵀ), median of
    /// calls interleaved with this case's
    pub gemm_ceiling_gflops: Option<f64>,
    /// gflops / gemm_ceiling_gflops (forward: the share of the GEMM ceiling reached)
    pub ceiling_share: Option<f64>,
    /// Bytes of the weight matrices (in the workload's precision) and biases.
    pub weight_bytes: u64,
    /// Napkin bytes moved per timestep (`Workload::bytes_per_step`).
    pub bytes_per_step: f64,
    /// Training (`train`): bytes its forward keeps for backward (`Workload::reserve_bytes`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reserve_bytes: Option<u64>,
    /// Whether the checked call matched the CPU reference within tolerance.
    pub check_ok: bool,
    /// What the check compared and its max abs error, for the report.
    pub check: String,
    /// `--compare`: per peer, its median ms divided by this case's (> 1: this engine is faster)
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub speedup: std::collections::BTreeMap<String, f64>,
}

/// Another engine's timings for `--compare`: lines `workload mode median_ms ...` (what
/// benches/peers/pytorch.py and the burn harness print); blank lines and `#` comments are
/// skipped. Returns (workload, mode) -> median ms.
pub fn parse_peer_timings(text: &str) -> Result<std::collections::BTreeMap<(String, String), f64>> {
    let mut out = std::collections::BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        let ms = f.get(2).and_then(|v| v.parse::<f64>().ok()).filter(|v| v.is_finite() && *v > 0.0);
        match (f.len() >= 3, ms, f.get(1)) {
            (true, Some(ms), Some(&mode)) if mode == "fwd" || mode == "train" => {
                out.insert((f[0].to_string(), mode.to_string()), ms);
            }
            _ => {
                return Err(crate::Error::Config(format!(
                "peer timings line {}: expected `workload fwd|train median_ms ...`, got `{line}`",
                i + 1
            )))
            }
        }
    }
    Ok(out)
}

fn random(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect()
}

fn summarize(mut runs: Vec<f64>) -> (f64, f64, f64, Vec<f64>) {
    let orig = runs.clone();
    runs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = runs.len();
    let median = if n % 2 == 1 { runs[n / 2] } else { 0.5 * (runs[n / 2 - 1] + runs[n / 2]) };
    (median, runs[0], runs[n - 1], orig)
}

/// Rows of the batch the reference checks (rows are independent, so a few suffice).
const CHECK_ROWS: usize = 2;

/// A case ready to time: the model on the GPU, its input, and the result of its checked
/// warm-up call.
pub struct Prepared {
    wl: Workload,
    mode: Mode,
    variant: Option<Variant>,
    /// the variant the checked call ran
    ran: Variant,
    model: GpuModel,
    x: Vec<f32>,
    ones: Vec<f32>,
    check_ok: bool,
    check: String,
}

impl Prepared {
    /// Runs the case once (the warm-up) and checks it against the CPU reference.
    pub fn new(gpu: &Gpu, wl: &Workload, mode: Mode, variant: Option<Variant>) -> Result<Self> {
        let spec = wl.spec();
        let w = Weights::init(spec, 1)?;
        let model = GpuModel::new(gpu, &w)?;
        // the reference computes with the weights the model rounded to its precision
        let w = w.to_precision(spec.precision);
        let x = random(wl.seq * wl.batch * wl.input, 2);
        let ones = vec![1.0f32; wl.seq * wl.batch * wl.hidden];
        let rows = wl.batch.min(CHECK_ROWS);
        let xs = first_rows(&x, wl.seq, wl.batch, wl.input, rows);
        let want_f = reference::forward(
            &w,
            &SeqBatch { t: wl.seq, b: rows, x: &xs, h0: None, c0: None, lengths: None },
        )?;
        let input = Input::new(&x, wl.seq, wl.batch);
        let (ran, cmp, check) = match mode {
            Mode::Fwd => {
                let opts = ForwardOptions { variant, return_sequence: true };
                let got = model.forward(gpu, &input, opts)?;
                let got_rows = first_rows(&got.output, wl.seq, wl.batch, wl.hidden, rows);
                let cmp = compare(
                    "output",
                    &got_rows,
                    &want_f.output,
                    crate::validate::FORWARD_ATOL,
                    crate::validate::FORWARD_RTOL,
                );
                let check =
                    format!("max abs err {:.2e} vs CPU reference on {rows} rows", cmp.max_abs);
                (got.variant, cmp, check)
            }
            Mode::Train => {
                // The check compares dL/dh0 (and dL/dc0) of the first rows with the CPU
                // reference: it sits at the end of the whole backward chain, and rows are
                // independent under this loss, so a few rows suffice.
                let grad = GradInput { d_output: &ones, d_h_n: None, d_c_n: None };
                let got = model.weight_grads(gpu, &input, &grad, variant)?;
                let dy = vec![1.0; wl.seq * rows * wl.hidden];
                // a 16-bit reserve rounds the saved activations; so does the reference
                let mut kept = want_f.clone();
                kept.round_reserve();
                let want = reference::backward(&w, &kept, &dy, None, None)?;
                // h0, c0: [1, B, H] for this single-layer model; the first rows lead.
                let n = rows * wl.hidden;
                let mut got_s: Vec<f32> = got.h0[..n].to_vec();
                let mut want_s: Vec<f64> = want.h0.clone();
                if spec.cell.has_cell_state() {
                    got_s.extend_from_slice(&got.c0[..n]);
                    want_s.extend_from_slice(&want.c0);
                }
                let cmp = compare("dh0", &got_s, &want_s, 1e-4, 1e-3);
                let check = format!(
                    "dL/dh0{} max abs err {:.2e} vs CPU reference on {rows} rows",
                    if spec.cell.has_cell_state() { ", dL/dc0" } else { "" },
                    cmp.max_abs
                );
                (got.variant, cmp, check)
            }
        };
        Ok(Prepared {
            wl: wl.clone(),
            mode,
            variant,
            ran,
            model,
            x,
            ones,
            check_ok: cmp.ok(),
            check,
        })
    }

    /// One timed call: waited for, nothing read back (training: no dL/dx of the network
    /// input, which training does not need).
    pub fn call(&self, gpu: &Gpu) -> Result<()> {
        let wl = &self.wl;
        let input = Input::new(&self.x, wl.seq, wl.batch);
        match self.mode {
            Mode::Fwd => {
                let opts = ForwardOptions { variant: self.variant, return_sequence: true };
                self.model.forward_no_readback(gpu, &input, opts).map(|_| ())
            }
            Mode::Train => {
                let grad = GradInput { d_output: &self.ones, d_h_n: None, d_c_n: None };
                self.model.weight_grads_no_readback(gpu, &input, &grad, self.variant).map(|_| ())
            }
        }
    }

    /// The result of the timed calls `times` (ms) and the ceiling's GFLOP/s.
    pub fn result(&self, times: Vec<f64>, ceil: Option<f64>) -> CaseResult {
        let wl = &self.wl;
        let (median, min, max, runs_ms) = summarize(times);
        let flops = match self.mode {
            Mode::Fwd => wl.forward_flops(),
            Mode::Train => 3.0 * wl.forward_flops(),
        };
        let gflops = flops / (median / 1e3) / 1e9;
        CaseResult {
            workload: wl.clone(),
            mode: self.mode,
            variant: self.ran.to_string(),
            runs_ms,
            median_ms: median,
            min_ms: min,
            max_ms: max,
            tokens_per_s: (wl.batch * wl.seq) as f64 / (median / 1e3),
            gflops,
            gemm_ceiling_gflops: ceil,
            ceiling_share: ceil.map(|c| gflops / c),
            weight_bytes: wl.weight_bytes(),
            bytes_per_step: wl.bytes_per_step(self.mode),
            reserve_bytes: (self.mode == Mode::Train).then(|| wl.reserve_bytes()),
            check_ok: self.check_ok,
            check: self.check.clone(),
            speedup: Default::default(),
        }
    }
}

/// Times one case (forward, or training: forward + BPTT to all weight gradients with
/// loss = sum of outputs): one checked call (also the warm-up), then `runs` timed calls,
/// each one submit waited for, nothing read back, each followed by a call of `ceiling`.
pub fn bench_case(
    gpu: &Gpu,
    wl: &Workload,
    mode: Mode,
    variant: Option<Variant>,
    runs: usize,
    ceiling: Option<&Ceiling>,
) -> Result<CaseResult> {
    let case = Prepared::new(gpu, wl, mode, variant)?;
    let (times, ceil) = timed_runs(gpu, runs, ceiling, || case.call(gpu))?;
    Ok(case.result(times, ceil))
}

/// Times cases against each other: each is prepared (and checked) first, then the timed
/// calls go round the cases `runs` times, one call of each per round, so that every case
/// sees the same states of a noisy machine.
pub fn bench_alternating(gpu: &Gpu, cases: &[Prepared], runs: usize) -> Result<Vec<CaseResult>> {
    let mut times = vec![Vec::with_capacity(runs); cases.len()];
    for _ in 0..runs.max(1) {
        for (case, t) in cases.iter().zip(times.iter_mut()) {
            let start = Instant::now();
            case.call(gpu)?;
            t.push(start.elapsed().as_secs_f64() * 1e3);
        }
    }
    Ok(cases.iter().zip(times).map(|(c, t)| c.result(t, None)).collect())
}

/// Rows the ceiling GEMM runs at most. GFLOP/s does not depend on M once every core has
/// many workgroups: on lavapipe C[12800, 2048] (K 512) ran at 12.6 GFLOP/s and C[3200, 2048]
/// at 11.4 (measured), while the full lstm-b256 shape costs 13 s of `bench` per ceiling.
pub const CEILING_MAX_ROWS: usize = 4096;

/// Timed runs of the ceiling GEMM (its median): with 3, one run in ten came out 30% low on
/// this project's machine, skewing the ratio the table is read for.
pub const CEILING_RUNS: usize = 7;

/// The GEMM ceiling: the GEMM variant the engine picks for this adapter
/// (`GemmVariant::best`) on C [m, n] with inner size k (m capped at `CEILING_MAX_ROWS`),
/// timed one call at a time between a case's timed calls, so that both see the same state
/// of a noisy machine (`wgpu-rnn gemm` times every variant).
pub struct Ceiling {
    plan: GemmPlan,
    /// The GEMM variant timed.
    pub variant: GemmVariant,
}

impl Ceiling {
    /// Builds the plan and runs it once (warm-up).
    pub fn new(gpu: &Gpu, m: usize, n: usize, k: usize) -> Result<Self> {
        let m = m.min(CEILING_MAX_ROWS);
        let variant = GemmVariant::best(gpu);
        let plan = GemmPlan::new(
            gpu,
            variant,
            &random(m * k, 3),
            &random(n * k, 4),
            &random(n, 5),
            m,
            n,
            k,
        )?;
        plan.time(gpu, 1)?;
        Ok(Ceiling { plan, variant })
    }

    /// The ceiling of a workload: [B·T, I+H] x [G·H, I+H]ᵀ (linear cells: K = I).
    pub fn for_workload(gpu: &Gpu, wl: &Workload) -> Result<Self> {
        Ceiling::new(gpu, wl.batch * wl.seq, wl.cell.gates() * wl.hidden, wl.gemm_k())
    }

    /// GFLOP/s of one timed call.
    pub fn run_once(&self, gpu: &Gpu) -> Result<f64> {
        Ok(self.plan.flops() / self.plan.time(gpu, 1)?.as_secs_f64() / 1e9)
    }
}

/// The ceiling's median GFLOP/s over the calls `between` collected, topped up to
/// `CEILING_RUNS` calls.
fn ceiling_median(gpu: &Gpu, ceiling: &Ceiling, mut gflops: Vec<f64>) -> Result<f64> {
    while gflops.len() < CEILING_RUNS {
        gflops.push(ceiling.run_once(gpu)?);
    }
    Ok(summarize(gflops).0)
}

/// Times `runs` calls of `call` (at least one), each followed by one ceiling call when a
/// ceiling is given; returns the call times in ms and the ceiling's median GFLOP/s.
fn timed_runs(
    gpu: &Gpu,
    runs: usize,
    ceiling: Option<&Ceiling>,
    mut call: impl FnMut() -> Result<()>,
) -> Result<(Vec<f64>, Option<f64>)> {
    let mut times = Vec::with_capacity(runs);
    let mut ceil = vec![];
    for _ in 0..runs.max(1) {
        let start = Instant::now();
        call()?;
        times.push(start.elapsed().as_secs_f64() * 1e3);
        if let Some(c) = ceiling {
            ceil.push(c.run_once(gpu)?);
        }
    }
    let ceil = ceiling.map(|c| ceiling_median(gpu, c, ceil)).transpose()?;
    Ok((times, ceil))
}

/// Rows 0..rows of every timestep of a [T, B, W] tensor, as f64 [T, rows, W].
fn first_rows<T: Copy + Into<f64>>(v: &[T], t: usize, b: usize, w: usize, rows: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(t * rows * w);
    for s in 0..t {
        out.extend(v[s * b * w..(s * b + rows) * w].iter().map(|&a| a.into()));
    }
    out
}

/// GPU time per kernel family of a call of a workload (forward or training), the median of
/// `runs` profiled calls after a warm-up, as (family, ms, share of the total).
pub fn profile(
    gpu: &Gpu,
    wl: &Workload,
    mode: Mode,
    variant: Option<Variant>,
    runs: usize,
) -> Result<Vec<(&'static str, f64, f64)>> {
    let w = Weights::init(wl.spec(), 1)?;
    let model = GpuModel::new(gpu, &w)?;
    let x = random(wl.seq * wl.batch * wl.input, 2);
    let input = Input::new(&x, wl.seq, wl.batch);
    let opts = ForwardOptions { variant, return_sequence: true };
    let ones = vec![1.0f32; wl.seq * wl.batch * wl.hidden];
    // One profiled call is noisy (the first after the warm-up ran up to 1.5x slower here):
    // the median over `runs` calls, per family.
    let mut calls = vec![];
    for _ in 0..runs.max(1) {
        calls.push(match mode {
            Mode::Fwd => model.profile_forward(gpu, &input, opts)?,
            Mode::Train => model.profile_train(
                gpu,
                &input,
                &GradInput { d_output: &ones, d_h_n: None, d_c_n: None },
                variant,
                false,
            )?,
        });
    }
    let fam: Vec<(&'static str, f64)> = calls[0]
        .iter()
        .enumerate()
        .map(|(i, &(label, _))| (label, summarize(calls.iter().map(|c| c[i].1).collect()).0))
        .collect();
    let total: f64 = fam.iter().map(|f| f.1).sum();
    Ok(fam.into_iter().map(|(l, ms)| (l, ms, if total > 0.0 { ms / total } else { 0.0 })).collect())
}

#[cfg(test)]
mod tests {
    use super::parse_peer_timings;

    #[test]
    fn peer_timings_parse_and_reject_bad_lines() {
        let t =
            parse_peer_timings("# burn\nlstm-b64 fwd 1137.4 1118.9 1161.0\n\nrnn-b64 train 1157\n")
                .unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t[&("lstm-b64".to_string(), "fwd".to_string())], 1137.4);
        assert_eq!(t[&("rnn-b64".to_string(), "train".to_string())], 1157.0);
        for bad in ["lstm-b64 fwd", "lstm-b64 back 3.0", "lstm-b64 fwd -1", "lstm-b64 fwd x"] {
            let e = parse_peer_timings(bad).unwrap_err().to_string();
            assert!(e.contains("line 1"), "{e}");
        }
    }
}
