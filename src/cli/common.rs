//! What several subcommands share: the value enums of `--cell`, `--nonlinearity`,
//! `--variant` and `--workload`, the model arguments of `forward`/`grad` and the input
//! file they read.
//!
//! The value spellings are a contract scripts rely on: every value the command line ever
//! accepted keeps its meaning (the tests at the end check them against the library).

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use std::path::PathBuf;
use wgpu_rnn::bench::{self, Workload};
use wgpu_rnn::io::{TensorFile, TensorHeader, TensorShapes};
use wgpu_rnn::{CellKind, Input, Precision, RnnSpec, Variant, Weights};

/// `--cell` (with `ignore_case`: `LSTM` is `lstm`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Cell {
    /// Elman RNN with the activation of --nonlinearity
    #[value(name = "rnn")]
    Rnn,
    /// Elman RNN with tanh, whatever --nonlinearity says
    #[value(name = "rnn_tanh")]
    RnnTanh,
    /// Elman RNN with relu, whatever --nonlinearity says
    #[value(name = "rnn_relu")]
    RnnRelu,
    /// Long short-term memory (gates i, f, g, o)
    #[value(name = "lstm")]
    Lstm,
    /// Gated recurrent unit (gates r, z, n)
    #[value(name = "gru")]
    Gru,
    /// minGRU, a linear recurrence (gates z, h̃ from x_t only; time loop as a scan)
    #[value(name = "mingru")]
    MinGru,
    /// minLSTM, a linear recurrence (gates f, i, h̃ from x_t only; time loop as a scan)
    #[value(name = "minlstm")]
    MinLstm,
}

impl Cell {
    /// The library's cell: `rnn` takes its activation from `nonlinearity`, which every
    /// other cell ignores.
    pub fn kind(self, nonlinearity: Nonlinearity) -> CellKind {
        match (self, nonlinearity) {
            (Cell::Rnn, Nonlinearity::Tanh) | (Cell::RnnTanh, _) => CellKind::RnnTanh,
            (Cell::Rnn, Nonlinearity::Relu) | (Cell::RnnRelu, _) => CellKind::RnnRelu,
            (Cell::Lstm, _) => CellKind::Lstm,
            (Cell::Gru, _) => CellKind::Gru,
            (Cell::MinGru, _) => CellKind::MinGru,
            (Cell::MinLstm, _) => CellKind::MinLstm,
        }
    }
}

/// `--nonlinearity` (with `ignore_case`), the activation of `--cell rnn`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Nonlinearity {
    /// h' = tanh(W_ih x + b_ih + W_hh h + b_hh)
    #[value(name = "tanh")]
    Tanh,
    /// h' = max(0, W_ih x + b_ih + W_hh h + b_hh)
    #[value(name = "relu")]
    Relu,
}

/// `--variant`: a forward strategy (the library's `Variant`, spelled as its `name()`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum KernelVariant {
    /// Workgroup-shared tiles for the GEMM and the step (discrete GPUs)
    #[value(name = "tiled")]
    Tiled,
    /// Register blocking without subgroups (any adapter, the GL backend included)
    #[value(name = "register")]
    Register,
    /// Register blocking with subgroupBroadcast sharing (CPU adapters such as lavapipe)
    #[value(name = "subgroup")]
    Subgroup,
    /// The best GEMM plus one persistent kernel looping over all steps (small problems)
    #[value(name = "persistent")]
    Persistent,
    /// persistent with W_hh held in registers and h shared by subgroupBroadcast (small H)
    #[value(name = "persistent-subgroup")]
    PersistentSubgroup,
    /// subgroup with the input projection fused into every step
    #[value(name = "fused-subgroup")]
    FusedSubgroup,
    /// fused-subgroup's step looped over a chunk of steps in one workgroup per batch block
    #[value(name = "fused-persistent")]
    FusedPersistent,
    /// minGRU/minLSTM: the time loop as a chunked parallel scan (GPUs)
    #[value(name = "scan")]
    Scan,
    /// minGRU/minLSTM: one invocation per unit looping over time (CPU adapters, large B·H)
    #[value(name = "sequential")]
    Sequential,
}

impl From<KernelVariant> for Variant {
    fn from(v: KernelVariant) -> Variant {
        match v {
            KernelVariant::Tiled => Variant::Tiled,
            KernelVariant::Register => Variant::Register,
            KernelVariant::Subgroup => Variant::Subgroup,
            KernelVariant::Persistent => Variant::Persistent,
            KernelVariant::PersistentSubgroup => Variant::PersistentSubgroup,
            KernelVariant::FusedSubgroup => Variant::FusedSubgroup,
            KernelVariant::FusedPersistent => Variant::FusedPersistent,
            KernelVariant::Scan => Variant::Scan,
            KernelVariant::Sequential => Variant::Sequential,
        }
    }
}

/// `--precision`: how the weight matrices are stored on the device (the library's
/// `Precision`, spelled as its `name()`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum PrecisionArg {
    /// 32-bit floats
    #[default]
    #[value(name = "f32")]
    F32,
    /// IEEE half precision, two per u32 (f32 arithmetic)
    #[value(name = "f16")]
    F16,
    /// bfloat16, two per u32 (f32 arithmetic)
    #[value(name = "bf16")]
    Bf16,
}

impl From<PrecisionArg> for Precision {
    fn from(p: PrecisionArg) -> Precision {
        match p {
            PrecisionArg::F32 => Precision::F32,
            PrecisionArg::F16 => Precision::F16,
            PrecisionArg::Bf16 => Precision::Bf16,
        }
    }
}

/// The precisions of a repeatable `--precision` list, each once, in the order given.
pub fn precisions(args: &[PrecisionArg]) -> Vec<Precision> {
    let mut out: Vec<Precision> = vec![];
    for p in args.iter().map(|&p| Precision::from(p)) {
        if !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

/// An optional `--variant` as the library takes it.
pub fn variant(v: Option<KernelVariant>) -> Option<Variant> {
    v.map(Variant::from)
}

/// `--workload`: the named shapes of `wgpu_rnn::bench::workloads()` (single layer,
/// unidirectional; B = batch, I = input, H = hidden size, T = steps).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum WorkloadName {
    /// lstm, B=1, I=64, H=128, T=1000
    #[value(name = "lstm-b1")]
    LstmB1,
    /// lstm, B=64, I=256, H=256, T=100
    #[value(name = "lstm-b64")]
    LstmB64,
    /// lstm, B=256, I=512, H=512, T=50
    #[value(name = "lstm-b256")]
    LstmB256,
    /// gru, B=64, I=256, H=256, T=100
    #[value(name = "gru-b64")]
    GruB64,
    /// rnn_tanh, B=64, I=256, H=256, T=100
    #[value(name = "rnn-b64")]
    RnnB64,
    /// mingru, B=64, I=256, H=256, T=100
    #[value(name = "mingru-b64")]
    MinGruB64,
    /// minlstm, B=64, I=256, H=256, T=100
    #[value(name = "minlstm-b64")]
    MinLstmB64,
    /// mingru, B=8, I=256, H=256, T=4096
    #[value(name = "mingru-t4096")]
    MinGruT4096,
    /// gru, B=8, I=256, H=256, T=4096
    #[value(name = "gru-t4096")]
    GruT4096,
}

impl WorkloadName {
    pub fn name(self) -> &'static str {
        match self {
            WorkloadName::LstmB1 => "lstm-b1",
            WorkloadName::LstmB64 => "lstm-b64",
            WorkloadName::LstmB256 => "lstm-b256",
            WorkloadName::GruB64 => "gru-b64",
            WorkloadName::RnnB64 => "rnn-b64",
            WorkloadName::MinGruB64 => "mingru-b64",
            WorkloadName::MinLstmB64 => "minlstm-b64",
            WorkloadName::MinGruT4096 => "mingru-t4096",
            WorkloadName::GruT4096 => "gru-t4096",
        }
    }
}

/// The library's workloads named by `names`, in that order; all of them when `names` is
/// empty.
pub fn workloads(names: &[WorkloadName]) -> Result<Vec<Workload>> {
    let all = bench::workloads();
    if names.is_empty() {
        return Ok(all);
    }
    names
        .iter()
        .map(|n| {
            all.iter()
                .find(|w| w.name == n.name())
                .cloned()
                .with_context(|| format!("workload `{}` is not in this build's list", n.name()))
        })
        .collect()
}

#[derive(Args)]
pub struct ModelArgs {
    /// Weights with PyTorch's names (safetensors.torch.save_file(model.state_dict(), path)).
    #[arg(long)]
    pub weights: PathBuf,
    /// The recurrent cell.
    #[arg(long, value_enum, ignore_case = true)]
    pub cell: Cell,
    /// Number of layers (checked against the weights; read from them when absent).
    #[arg(long)]
    pub layers: Option<usize>,
    /// The weights are bidirectional (checked against the weights; read from them when
    /// absent).
    #[arg(long)]
    pub bidirectional: bool,
    /// The activation of --cell rnn (other cells ignore it).
    #[arg(long, value_enum, default_value_t = Nonlinearity::Tanh, ignore_case = true)]
    pub nonlinearity: Nonlinearity,
    /// How the weight matrices are stored on the device: f16 and bf16 round them to 16
    /// bits (arithmetic stays f32); an F16 or BF16 file loads bit for bit.
    #[arg(long, value_enum, default_value_t = PrecisionArg::F32, ignore_case = true)]
    pub precision: PrecisionArg,
}

impl ModelArgs {
    /// The weights, checked first against what `gpu` can hold (before they are converted).
    pub fn load_on(&self, gpu: &wgpu_rnn::Gpu) -> Result<Weights> {
        self.load_with(Some(gpu))
    }

    pub fn load(&self) -> Result<Weights> {
        self.load_with(None)
    }

    fn load_with(&self, gpu: Option<&wgpu_rnn::Gpu>) -> Result<Weights> {
        let cell = self.cell.kind(self.nonlinearity);
        // The header alone first: sizes are checked against the device and the host before
        // a large file is read.
        let header = TensorHeader::open(&self.weights)?;
        let spec = Weights::infer_spec(&header, cell)?.with_precision(self.precision.into());
        if let Some(l) = self.layers {
            if l != spec.num_layers {
                bail!(
                    "--layers {l} given, but {} holds {} layer(s)",
                    self.weights.display(),
                    spec.num_layers
                );
            }
        }
        // Read from the file like --layers; only a contradiction is refused.
        if self.bidirectional && !spec.bidirectional {
            bail!(
                "--bidirectional is given, but {} is unidirectional (no *_reverse tensors)",
                self.weights.display()
            );
        }
        if let Some(gpu) = gpu {
            wgpu_rnn::GpuModel::check_fits(gpu, &spec)?;
        }
        // The file's bytes, then its parameters in f64.
        let host = spec.param_bytes(8).and_then(|p| p.checked_add(header.file_bytes()));
        wgpu_rnn::host::check_memory(&format!("reading {}", self.weights.display()), host)?;
        let file = TensorFile::open(&self.weights)?;
        Ok(Weights::from_file(&file, spec)?)
    }
}

/// x, h0, c0 and lengths from an input file in `forward`'s format.
pub struct InputFile {
    pub t: usize,
    pub b: usize,
    pub x: Vec<f32>,
    pub h0: Option<Vec<f32>>,
    pub c0: Option<Vec<f32>>,
    pub lengths: Option<Vec<i64>>,
}

impl InputFile {
    pub fn load(path: &std::path::Path, spec: &RnnSpec) -> Result<Self> {
        let f = TensorFile::open(path)?;
        check_input_names(&f.names(), path)?;
        let xs = x_shape(&f, f.path(), spec)?;
        let (t, b) = (xs[0], xs[1]);
        let x = f.float32("x", Some(&[t, b, spec.input_size]))?;
        let state_shape = [spec.num_layers * spec.directions(), b, spec.hidden_size];
        let load_state = |name: &str| -> Result<Option<Vec<f32>>> {
            if !f.contains(name) {
                return Ok(None);
            }
            Ok(Some(f.float32(name, Some(&state_shape))?))
        };
        let h0 = load_state("h0")?;
        if !spec.cell.has_cell_state() && f.contains("c0") {
            bail!("{} holds c0, but a {} cell has no cell state", path.display(), spec.cell);
        }
        let c0 = if spec.cell.has_cell_state() { load_state("c0")? } else { None };
        let lengths =
            if f.contains("lengths") { Some(f.int("lengths", Some(&[b]))?) } else { None };
        Ok(InputFile { t, b, x, h0, c0, lengths })
    }

    pub fn input(&self) -> Input<'_> {
        Input {
            t: self.t,
            b: self.b,
            x: &self.x,
            h0: self.h0.as_deref(),
            c0: self.c0.as_deref(),
            lengths: self.lengths.as_deref(),
        }
    }
}

/// Refuses a tensor that is not one of an input file's.
pub fn check_input_names(names: &[String], path: &std::path::Path) -> Result<()> {
    const NAMES: [&str; 4] = ["x", "h0", "c0", "lengths"];
    if let Some(name) = names.iter().find(|n| !NAMES.contains(&n.as_str())) {
        bail!(
            "{} holds a tensor `{name}`, which is not an input; expected {}",
            path.display(),
            NAMES.join(", ")
        );
    }
    Ok(())
}

/// The shape of `x`, which must be [T, B, I] with I from the weights.
pub fn x_shape(f: &impl TensorShapes, path: &str, spec: &RnnSpec) -> Result<Vec<usize>> {
    let s = f
        .shape("x")
        .with_context(|| format!("{path} has no tensor `x` [T, B, {}]", spec.input_size))?;
    if s.len() != 3 || s[2] != spec.input_size {
        bail!(
            "tensor `x` in {path} has shape {s:?}, expected [T, B, {}] (input size from the weights)",
            spec.input_size
        );
    }
    Ok(s)
}

/// Value parser of counts and sizes that must be at least 1 (a 0 would divide by zero or
/// index an empty sequence).
pub fn at_least_one<T: std::str::FromStr + PartialOrd + From<u8>>(s: &str) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    let v: T = s.parse().map_err(|e| format!("{e}"))?;
    if v < T::from(1) {
        return Err(format!("{s} is below 1"));
    }
    Ok(v)
}

/// Value parser of a finite number (NaN and infinities refused).
pub fn finite<T: std::str::FromStr + Into<f64> + Copy>(s: &str) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    let v: T = s.parse().map_err(|e| format!("{e}"))?;
    if !v.into().is_finite() {
        return Err(format!("{s} is not a finite number"));
    }
    Ok(v)
}

/// Value parser of a finite number >= 0.
pub fn finite_non_negative<T: std::str::FromStr + Into<f64> + Copy>(s: &str) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    let v: T = finite(s)?;
    if v.into() < 0.0 {
        return Err(format!("{s} is negative"));
    }
    Ok(v)
}

/// Value parser of a finite number > 0.
pub fn finite_positive<T: std::str::FromStr + Into<f64> + Copy>(s: &str) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    let v: T = finite(s)?;
    if v.into() <= 0.0 {
        return Err(format!("{s} is not above 0"));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse<T: ValueEnum>(s: &str, ignore_case: bool) -> T {
        T::from_str(s, ignore_case).unwrap_or_else(|e| panic!("`{s}` rejected: {e}"))
    }

    #[test]
    fn cell_spellings_mean_what_cell_kind_parse_says() {
        let cells = ["rnn", "rnn_tanh", "rnn_relu", "lstm", "gru", "LSTM", "Rnn", "RNN_RELU"];
        for c in cells {
            for n in ["tanh", "relu", "TANH", "Relu"] {
                let want = CellKind::parse(c, n).unwrap();
                assert_eq!(parse::<Cell>(c, true).kind(parse(n, true)), want, "{c} {n}");
            }
        }
        for c in Cell::value_variants() {
            let name = c.to_possible_value().unwrap().get_name().to_string();
            assert!(CellKind::parse(&name, "tanh").is_ok(), "{name}");
        }
        assert_eq!(Nonlinearity::value_variants().len(), 2);
    }

    #[test]
    fn precision_lists_keep_each_precision_once_in_the_order_given() {
        use PrecisionArg::*;
        let got = precisions(&[F16, F32, F16, Bf16, F32]);
        assert_eq!(got, [Precision::F16, Precision::F32, Precision::Bf16]);
        for p in PrecisionArg::value_variants() {
            let name = p.to_possible_value().unwrap().get_name().to_string();
            assert_eq!(Precision::from(*p).name(), name, "--precision {name}");
        }
    }

    #[test]
    fn every_library_variant_has_its_name_and_nothing_else() {
        assert_eq!(KernelVariant::value_variants().len(), Variant::ALL.len());
        for v in Variant::ALL {
            assert_eq!(Variant::from(parse::<KernelVariant>(v.name(), false)), v);
        }
    }

    #[test]
    fn workload_names_and_help_match_the_library() {
        let all = bench::workloads();
        assert_eq!(WorkloadName::value_variants().len(), all.len());
        for w in &all {
            let n: WorkloadName = parse(&w.name, false);
            assert_eq!(n.name(), w.name);
            let pv = n.to_possible_value().unwrap();
            let help = pv.get_help().unwrap().to_string();
            let want =
                format!("{}, B={}, I={}, H={}, T={}", w.cell, w.batch, w.input, w.hidden, w.seq);
            assert_eq!(help, want, "the --help line of {}", w.name);
        }
        let picked = workloads(&[WorkloadName::GruB64, WorkloadName::LstmB1]).unwrap();
        assert_eq!(
            picked.iter().map(|w| w.name.as_str()).collect::<Vec<_>>(),
            ["gru-b64", "lstm-b1"]
        );
    }
}
