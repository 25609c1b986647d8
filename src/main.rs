//! The `wgpu-rnn` command line: info, init, forward, validate, bench.

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use wgpu_rnn::bench::{self, Mode, Workload};
use wgpu_rnn::gpu::kernels::Variant;
use wgpu_rnn::io::{TensorFile, TensorWriter};
use wgpu_rnn::validate;
use wgpu_rnn::{CellKind, ForwardOptions, Gpu, GpuModel, Input, RnnSpec, Weights};

#[derive(Parser)]
#[command(
    name = "wgpu-rnn",
    version,
    about = "RNN, LSTM and GRU on any GPU wgpu reaches (Vulkan, Metal, DX12, GL)"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Print the adapter, backend, driver and the limits and features this engine uses.
    Info,
    /// Write seeded random weights (PyTorch's init and names) to a .safetensors file.
    Init(InitArgs),
    /// Run a model over an input file on the GPU and write the outputs.
    Forward(ForwardArgs),
    /// Gradients of every parameter, x, h0 (and c0) on the GPU for a given dL/d(output).
    Grad(GradArgs),
    /// Check every kernel variant against the CPU reference over a matrix of shapes.
    Validate(ValidateArgs),
    /// Throughput of the named workloads (tokens/s, GFLOP/s).
    Bench(BenchArgs),
    /// The standalone input-projection GEMM C[M,N] = A[M,K]·B[N,K]ᵀ + bias: check, then time.
    Gemm(GemmArgs),
    /// Vanishing/exploding gradients: ‖dL/dh_t‖ per step, growth, σ_max(W_hh), saturation.
    Stability(StabilityArgs),
    /// Time every forward variant for a shape on this adapter and cache the fastest.
    Tune(TuneArgs),
    /// Train a character-level language model on a text file.
    Train(TrainArgs),
    /// Generate text from a char-model checkpoint (the text alone goes to stdout).
    Sample(SampleArgs),
    /// Draw the hidden state (units x characters) of a model reading a text.
    Trace(TraceArgs),
}

#[derive(Args)]
struct TraceArgs {
    #[arg(long, default_value = "abracadabra")]
    text: String,
    /// A char-model checkpoint; else a seeded model over the vocabulary "abrcd ".
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    #[arg(long, default_value = "rnn")]
    cell: String,
    #[arg(long, default_value = "tanh")]
    nonlinearity: String,
    #[arg(long, default_value_t = 16)]
    hidden: usize,
    #[arg(long, default_value_t = 3)]
    seed: u64,
    /// The heatmap as SVG, and as PNG beside it (same name, .png); LSTM adds c_t below h_t.
    /// A name ending in .png swaps the roles.
    #[arg(long, default_value = "trace.svg")]
    out: PathBuf,
    /// Which layer to show, 0-based (default: the last).
    #[arg(long)]
    layer: Option<usize>,
    /// Also show the gates (LSTM i, f, g, o; GRU r, z, n).
    #[arg(long)]
    gates: bool,
    /// Units drawn (the first N; default all up to 64). --json always has every unit.
    #[arg(long)]
    units: Option<usize>,
    /// Print the numbers as one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct TrainArgs {
    /// The corpus (UTF-8 text); its last --val-fraction is held out for validation.
    /// Default: the shipped data/shakespeare.txt (Macbeth and Hamlet), built into the binary.
    #[arg(long)]
    text: Option<PathBuf>,
    /// Checkpoint, written atomically at every evaluation, at the end and on Ctrl-C.
    #[arg(long, default_value = "charlm.safetensors")]
    out: PathBuf,
    #[arg(long, default_value = "lstm")]
    cell: String,
    #[arg(long, default_value = "tanh")]
    nonlinearity: String,
    #[arg(long, default_value_t = 2)]
    layers: usize,
    #[arg(long, default_value_t = 256)]
    hidden: usize,
    #[arg(long, default_value_t = 64)]
    seq: usize,
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Updates to run (600: about 20 minutes on 2 CPU cores under lavapipe, where validation
    /// loss fell from 4.17 (uniform over 65 characters) to 1.83 nats/char).
    #[arg(long, default_value_t = 600)]
    steps: u64,
    #[arg(long, default_value_t = 2e-3)]
    lr: f32,
    /// Global gradient-norm clipping threshold (0: off).
    #[arg(long, default_value_t = 5.0)]
    clip: f32,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Continue from --out (weights, head, vocabulary and step count; Adam's moments restart).
    #[arg(long)]
    resume: bool,
    #[arg(long, default_value_t = 0.1)]
    val_fraction: f64,
    /// Steps between validations and checkpoints.
    #[arg(long, default_value_t = 100)]
    eval_every: u64,
    /// Characters of the held-out tail used per validation (from its start).
    #[arg(long, default_value_t = 20000)]
    val_chars: usize,
    /// Write the training log (loss, gradient norm, clipping per update) as JSON.
    #[arg(long)]
    log: Option<PathBuf>,
}

#[derive(Args)]
struct SampleArgs {
    #[arg(long)]
    checkpoint: PathBuf,
    #[arg(long, default_value = "The ")]
    prime: String,
    #[arg(long, default_value_t = 500)]
    length: usize,
    /// 0 = greedy (argmax).
    #[arg(long, default_value_t = 0.8)]
    temperature: f32,
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

#[derive(Args)]
struct TuneArgs {
    /// Named workloads (repeatable; default all) or a custom shape with --cell.
    #[arg(long)]
    workload: Vec<String>,
    #[arg(long)]
    cell: Option<String>,
    #[arg(long, default_value = "tanh")]
    nonlinearity: String,
    #[arg(long, default_value_t = 64)]
    batch: usize,
    #[arg(long, default_value_t = 256)]
    input: usize,
    #[arg(long, default_value_t = 256)]
    hidden: usize,
    #[arg(long, default_value_t = 100)]
    seq: usize,
    #[arg(long, default_value_t = 1)]
    layers: usize,
    #[arg(long)]
    bidirectional: bool,
    #[arg(long, default_value_t = 3)]
    runs: usize,
}

#[derive(Args)]
struct StabilityArgs {
    /// Weights with PyTorch's names (sizes from the file); else a seeded initialisation.
    #[arg(long)]
    weights: Option<PathBuf>,
    /// rnn, lstm or gru.
    #[arg(long, default_value = "rnn")]
    cell: String,
    /// tanh or relu (RNN only).
    #[arg(long, default_value = "tanh")]
    nonlinearity: String,
    #[arg(long)]
    layers: Option<usize>,
    #[arg(long)]
    bidirectional: bool,
    /// Seeded initialisation: hidden size, input size, seed.
    #[arg(long, default_value_t = 64)]
    hidden: usize,
    #[arg(long, default_value_t = 8)]
    input_size: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Every parameter U(-s, s).
    #[arg(long)]
    init_scale: Option<f64>,
    /// Rescale each gate block of W_hh to this spectral radius.
    #[arg(long)]
    spectral_radius: Option<f64>,
    /// Each gate block of W_hh a random orthogonal matrix.
    #[arg(long)]
    orthogonal: bool,
    /// LSTM forget-gate bias (PyTorch's init leaves it near 0, so f ≈ 0.5); other cells ignore it.
    #[arg(long)]
    forget_bias: Option<f64>,
    /// x [T, B, I] in `forward`'s format; else random U(-1, 1).
    #[arg(long)]
    input: Option<PathBuf>,
    #[arg(long, default_value_t = 8)]
    batch: usize,
    #[arg(long, default_value_t = 100)]
    seq: usize,
    /// Loss on the last step (default) or on every step: the sum of the last layer's outputs.
    #[arg(long, default_value = "last")]
    loss: String,
    /// A sweep, e.g. spectral-radius=0.5:1.5:11 or init-scale=0.1:1:10 (from:to:count).
    #[arg(long)]
    sweep: Option<String>,
    /// Cells of a sweep, e.g. rnn,lstm,gru.
    #[arg(long, value_delimiter = ',')]
    cells: Vec<String>,
    /// gpu (default) or cpu (the f64 reference).
    #[arg(long, default_value = "gpu")]
    engine: String,
    /// One JSON object on stdout instead of the table.
    #[arg(long)]
    json: bool,
    /// Draw log10 ‖dL/dh_t‖ against t (SVG).
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Plot a training log (gradient norm per update, clip events) instead.
    #[arg(long)]
    train_log: Option<PathBuf>,
}

#[derive(Args)]
struct GemmArgs {
    #[arg(long, default_value_t = 6400)]
    m: usize,
    #[arg(long, default_value_t = 1024)]
    n: usize,
    #[arg(long, default_value_t = 256)]
    k: usize,
    /// tiled, register or subgroup (default: all supported)
    #[arg(long)]
    variant: Option<String>,
    #[arg(long, default_value_t = 5)]
    runs: usize,
}

#[derive(Args)]
struct ModelArgs {
    /// Weights with PyTorch's names (safetensors.torch.save_file(model.state_dict(), path)).
    #[arg(long)]
    weights: PathBuf,
    /// rnn, lstm or gru.
    #[arg(long)]
    cell: String,
    /// Number of layers (checked against the weights; read from them when absent).
    #[arg(long)]
    layers: Option<usize>,
    /// The weights are bidirectional (checked against the weights).
    #[arg(long)]
    bidirectional: bool,
    /// tanh or relu (RNN only).
    #[arg(long, default_value = "tanh")]
    nonlinearity: String,
}

impl ModelArgs {
    fn load(&self) -> Result<Weights> {
        let cell = CellKind::parse(&self.cell, &self.nonlinearity)?;
        let file = TensorFile::open(&self.weights)?;
        let spec = Weights::infer_spec(&file, cell)?;
        if let Some(l) = self.layers {
            if l != spec.num_layers {
                bail!(
                    "--layers {l} given, but {} holds {} layer(s)",
                    self.weights.display(),
                    spec.num_layers
                );
            }
        }
        if self.bidirectional != spec.bidirectional {
            bail!(
                "--bidirectional is {}, but {} is {}",
                if self.bidirectional { "given" } else { "absent" },
                self.weights.display(),
                if spec.bidirectional {
                    "bidirectional (has *_reverse tensors)"
                } else {
                    "unidirectional"
                }
            );
        }
        Ok(Weights::from_file(&file, spec)?)
    }
}

#[derive(Args)]
struct InitArgs {
    #[arg(long, default_value = "lstm")]
    cell: String,
    #[arg(long, default_value = "tanh")]
    nonlinearity: String,
    #[arg(long)]
    input_size: usize,
    #[arg(long)]
    hidden_size: usize,
    #[arg(long, default_value_t = 1)]
    layers: usize,
    #[arg(long)]
    bidirectional: bool,
    #[arg(long)]
    no_bias: bool,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[arg(long)]
    out: PathBuf,
}

#[derive(Args)]
struct ForwardArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// x [T, B, I] and optionally h0, c0 [L*D, B, H] and lengths (int64 [B]).
    #[arg(long)]
    input: PathBuf,
    /// Written atomically: output [T, B, D*H], h_n (and c_n) [L*D, B, H].
    #[arg(long)]
    output: PathBuf,
    /// Force a kernel variant: tiled, register, subgroup or persistent.
    #[arg(long)]
    variant: Option<Variant>,
    /// Write only h_n (and c_n), not the output sequence.
    #[arg(long)]
    final_only: bool,
}

#[derive(Args)]
struct GradArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// x [T, B, I] and optionally h0, c0, lengths, as for `forward`.
    #[arg(long)]
    input: PathBuf,
    /// `output` = dL/d(output) [T, B, D*H], optionally `h_n`, `c_n` = dL/d final states.
    #[arg(long)]
    grad_output: PathBuf,
    /// Written atomically: the gradient of every parameter under its PyTorch name, plus
    /// `x`, `h0` (and `c0`).
    #[arg(long)]
    output: PathBuf,
    /// Force a kernel variant (persistent variants train with the best per-step kernel).
    #[arg(long)]
    variant: Option<Variant>,
}

#[derive(Args)]
struct ValidateArgs {
    /// The CI-sized matrix (small H and T).
    #[arg(long)]
    quick: bool,
    /// Every combination of layers, directions and lengths for each shape.
    #[arg(long)]
    full: bool,
    /// Only this variant (default: every variant the adapter supports).
    #[arg(long)]
    variant: Option<Variant>,
    /// Skip the backward pass (gradients are checked for every training variant otherwise).
    #[arg(long)]
    no_backward: bool,
}

#[derive(Args)]
struct BenchArgs {
    /// Named workload (repeatable): lstm-b1, lstm-b64, lstm-b256, gru-b64, rnn-b64. Default all.
    #[arg(long)]
    workload: Vec<String>,
    /// fwd, train or both.
    #[arg(long, default_value = "both")]
    mode: String,
    /// A custom shape instead of the named workloads: cell (rnn, lstm, gru) ...
    #[arg(long)]
    cell: Option<String>,
    #[arg(long, default_value_t = 64)]
    batch: usize,
    #[arg(long, default_value_t = 256)]
    input: usize,
    #[arg(long, default_value_t = 256)]
    hidden: usize,
    #[arg(long, default_value_t = 100)]
    seq: usize,
    /// Force a kernel variant.
    #[arg(long)]
    variant: Option<Variant>,
    /// Timed runs per case (after one checked warm-up run).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
    /// Skip the standalone GEMM ceiling measurement.
    #[arg(long)]
    no_ceiling: bool,
    /// Print the GPU time per kernel family (timestamp queries) instead of timing calls.
    #[arg(long)]
    profile: bool,
    /// Also time one forward pass of the f64 CPU reference on each workload.
    #[arg(long)]
    cpu_reference: bool,
    /// NAME=FILE (repeatable): another engine's timings, lines `workload fwd|train median_ms`
    /// (as benches/peers/ print them); adds its median / this engine's median per case.
    #[arg(long, value_name = "NAME=FILE")]
    compare: Vec<String>,
}

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Info => info(),
        Cmd::Init(a) => init(a),
        Cmd::Forward(a) => forward(a),
        Cmd::Grad(a) => grad(a),
        Cmd::Validate(a) => validate_cmd(a),
        Cmd::Bench(a) => bench_cmd(a),
        Cmd::Gemm(a) => gemm_cmd(a),
        Cmd::Stability(a) => stability_cmd(a),
        Cmd::Tune(a) => tune_cmd(a),
        Cmd::Train(a) => train_cmd(a),
        Cmd::Trace(a) => {
            use wgpu_rnn::trace;
            let (w, vocab) = match &a.checkpoint {
                Some(p) => trace::from_checkpoint(p)?,
                None => {
                    let vocab = wgpu_rnn::charlm::Vocab::from_text(trace::DEFAULT_VOCAB)?;
                    (
                        trace::seeded(
                            &vocab,
                            CellKind::parse(&a.cell, &a.nonlinearity)?,
                            a.hidden,
                            a.seed,
                        )?,
                        vocab,
                    )
                }
            };
            let gpu = Gpu::new()?;
            let tr = trace::run(
                &gpu,
                &w,
                &vocab,
                &a.text,
                trace::TraceOptions { layer: a.layer, gates: a.gates },
            )?;
            let shown = a.units.unwrap_or(64).clamp(1, w.spec.hidden_size);
            let mut title = match &a.checkpoint {
                Some(p) => format!("{} reading {:?}", p.display(), a.text),
                None => format!(
                    "{} H={} seed {} reading {:?}",
                    w.spec.cell, w.spec.hidden_size, a.seed, a.text
                ),
            };
            if w.spec.num_layers > 1 {
                title += &format!(", layer {}", tr.layer);
            }
            if shown < w.spec.hidden_size {
                title += &format!(", units 0..{} of {}", shown - 1, w.spec.hidden_size);
            }
            let drawn = tr.first_units(shown);
            let (svg, png) = if a.out.extension().is_some_and(|e| e.eq_ignore_ascii_case("png")) {
                (a.out.with_extension("svg"), a.out.clone())
            } else {
                (a.out.clone(), a.out.with_extension("png"))
            };
            trace::draw_svg(&drawn, &svg, &title)?;
            trace::draw_png(&drawn, &png, &title)?;
            if a.json {
                println!("{}", serde_json::to_string(&tr)?);
            }
            eprintln!("wrote {} and {}", svg.display(), png.display());
            Ok(())
        }
        Cmd::Sample(a) => {
            let gpu = Gpu::new()?;
            let ck = wgpu_rnn::charlm::Checkpoint::load(&a.checkpoint)?;
            let text =
                wgpu_rnn::charlm::sample(&gpu, &ck, &a.prime, a.length, a.temperature, a.seed)?;
            println!("{text}");
            Ok(())
        }
    }
}

fn info() -> Result<()> {
    let gpu = Gpu::new()?;
    let i = &gpu.info;
    let l = &gpu.limits;
    println!("adapter:  {}", i.name);
    println!("backend:  {:?}", i.backend);
    println!("type:     {:?}", i.device_type);
    println!("driver:   {} ({})", i.driver, i.driver_info);
    println!("vendor:   0x{:04x}  device: 0x{:04x}", i.vendor, i.device);
    println!(
        "features: subgroups={} (sizes {}..{}), timestamps={}, int64={}, wide_loads={}",
        gpu.caps.subgroups,
        gpu.caps.subgroup_min_size,
        gpu.caps.subgroup_max_size,
        gpu.caps.timestamps,
        gpu.features.contains(wgpu::Features::SHADER_INT64),
        gpu.caps.wide_loads
    );
    println!("limits:");
    println!("  max_storage_buffer_binding_size      {}", l.max_storage_buffer_binding_size);
    println!("  max_buffer_size                      {}", l.max_buffer_size);
    println!("  max_compute_workgroup_storage_size   {}", l.max_compute_workgroup_storage_size);
    println!("  max_compute_invocations_per_workgroup {}", l.max_compute_invocations_per_workgroup);
    println!("  max_compute_workgroup_size_x         {}", l.max_compute_workgroup_size_x);
    println!("  max_compute_workgroups_per_dimension {}", l.max_compute_workgroups_per_dimension);
    println!("  max_storage_buffers_per_shader_stage {}", l.max_storage_buffers_per_shader_stage);
    println!("  min_uniform_buffer_offset_alignment  {}", l.min_uniform_buffer_offset_alignment);
    println!("variants (lstm, H=128 / H=512):");
    for v in Variant::ALL {
        let small = v.unsupported(&gpu, &RnnSpec::new(CellKind::Lstm, 64, 128));
        let big = v.unsupported(&gpu, &RnnSpec::new(CellKind::Lstm, 64, 512));
        let say = |r: Option<String>| r.map(|w| format!("no: {w}")).unwrap_or_else(|| "yes".into());
        println!("  {:<19} {} / {}", v.name(), say(small), say(big));
    }
    for (b, h) in [(1usize, 128usize), (64, 256), (256, 512)] {
        println!(
            "  default for lstm B={b} H={h}: {}",
            Variant::auto(&gpu, &RnnSpec::new(CellKind::Lstm, 64, h), b)
        );
    }
    Ok(())
}

fn init(a: InitArgs) -> Result<()> {
    let cell = CellKind::parse(&a.cell, &a.nonlinearity)?;
    let spec = RnnSpec::new(cell, a.input_size, a.hidden_size)
        .layers(a.layers)
        .bidirectional(a.bidirectional)
        .with_bias(!a.no_bias);
    Weights::init(spec, a.seed)?.save(&a.out)?;
    eprintln!("wrote {} ({spec}, {} parameters)", a.out.display(), spec.num_params());
    Ok(())
}

/// x, h0, c0 and lengths from an input file in `forward`'s format.
struct InputFile {
    t: usize,
    b: usize,
    x: Vec<f32>,
    h0: Option<Vec<f32>>,
    c0: Option<Vec<f32>>,
    lengths: Option<Vec<i64>>,
}

impl InputFile {
    fn load(path: &std::path::Path, spec: &RnnSpec) -> Result<Self> {
        let f = TensorFile::open(path)?;
        let xs = f.x_shape(spec)?;
        let (t, b) = (xs[0], xs[1]);
        let x =
            f.float("x", Some(&[t, b, spec.input_size]))?.data.iter().map(|&v| v as f32).collect();
        let state_shape = [spec.num_layers * spec.directions(), b, spec.hidden_size];
        let load_state = |name: &str| -> Result<Option<Vec<f32>>> {
            if !f.contains(name) {
                return Ok(None);
            }
            Ok(Some(f.float(name, Some(&state_shape))?.data.iter().map(|&v| v as f32).collect()))
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

    fn input(&self) -> Input<'_> {
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

fn grad(a: GradArgs) -> Result<()> {
    use wgpu_rnn::gpu::backward::GradInput;
    let w = a.model.load()?;
    let spec = w.spec;
    let inp = InputFile::load(&a.input, &spec)?;
    let (t, b) = (inp.t, inp.b);
    let g = TensorFile::open(&a.grad_output)?;
    let f32s = |v: Vec<f64>| v.into_iter().map(|x| x as f32).collect::<Vec<f32>>();
    let d_output = f32s(g.float("output", Some(&[t, b, spec.output_size()]))?.data);
    let state_shape = [spec.num_layers * spec.directions(), b, spec.hidden_size];
    let d_h_n =
        if g.contains("h_n") { Some(f32s(g.float("h_n", Some(&state_shape))?.data)) } else { None };
    let d_c_n = if g.contains("c_n") {
        if !spec.cell.has_cell_state() {
            bail!(
                "{} holds c_n, but a {} cell has no cell state",
                a.grad_output.display(),
                spec.cell
            );
        }
        Some(f32s(g.float("c_n", Some(&state_shape))?.data))
    } else {
        None
    };
    let gpu = Gpu::new()?;
    let model = GpuModel::new(&gpu, &w)?;
    let out = model.forward_backward(
        &gpu,
        &inp.input(),
        &GradInput { d_output: &d_output, d_h_n: d_h_n.as_deref(), d_c_n: d_c_n.as_deref() },
        a.variant,
    )?;
    let mut tw = TensorWriter::new();
    out.weights.write_into(&mut tw);
    tw.add_f32("x", vec![t, b, spec.input_size], out.x);
    tw.add_f32("h0", state_shape.to_vec(), out.h0);
    if spec.cell.has_cell_state() {
        tw.add_f32("c0", state_shape.to_vec(), out.c0);
    }
    tw.meta("variant", out.variant.name());
    tw.write(&a.output)?;
    eprintln!("wrote {} ({spec}, T={t}, B={b}, variant {})", a.output.display(), out.variant);
    Ok(())
}

fn forward(a: ForwardArgs) -> Result<()> {
    let w = a.model.load()?;
    let spec = w.spec;
    let inp = InputFile::load(&a.input, &spec)?;
    let (t, b) = (inp.t, inp.b);
    let state_shape = [spec.num_layers * spec.directions(), b, spec.hidden_size];
    let gpu = Gpu::new()?;
    let model = GpuModel::new(&gpu, &w)?;
    let out = model.forward(
        &gpu,
        &inp.input(),
        ForwardOptions { variant: a.variant, return_sequence: !a.final_only },
    )?;
    let mut tw = TensorWriter::new();
    if !a.final_only {
        tw.add_f32("output", vec![t, b, spec.output_size()], out.output);
    }
    tw.add_f32("h_n", state_shape.to_vec(), out.h_n);
    if spec.cell.has_cell_state() {
        tw.add_f32("c_n", state_shape.to_vec(), out.c_n);
    }
    tw.meta("variant", out.variant.name());
    tw.write(&a.output)?;
    eprintln!("wrote {} ({spec}, T={t}, B={b}, variant {})", a.output.display(), out.variant);
    Ok(())
}

trait XShape {
    fn x_shape(&self, spec: &RnnSpec) -> Result<Vec<usize>>;
}

impl XShape for TensorFile {
    /// x must be [T, B, I] with I from the weights.
    fn x_shape(&self, spec: &RnnSpec) -> Result<Vec<usize>> {
        let s = self.shape("x").with_context(|| {
            format!("{} has no tensor `x` [T, B, {}]", self.path(), spec.input_size)
        })?;
        if s.len() != 3 || s[2] != spec.input_size {
            bail!("tensor `x` in {} has shape {s:?}, expected [T, B, {}] (input size from the weights)", self.path(), spec.input_size);
        }
        Ok(s)
    }
}

fn validate_cmd(a: ValidateArgs) -> Result<()> {
    let gpu = Gpu::new()?;
    println!("adapter: {}", gpu.describe());
    // Forward over the inference matrix, backward over the training matrix.
    let mut jobs: Vec<(&str, validate::Case)> =
        validate::matrix(a.quick, a.full).into_iter().map(|c| ("fwd", c)).collect();
    if !a.no_backward {
        jobs.extend(validate::grad_matrix(a.quick).into_iter().map(|c| ("bwd", c)));
    }
    let (mut pass, mut fail) = (0, 0);
    println!(
        "{:<48} {:<4} {:<19} {:>10} {:>10}  result",
        "case", "pass", "variant", "max abs", "max rel"
    );
    for (i, (which, case)) in jobs.iter().enumerate() {
        let p = validate::prepare(*case, 1000 + i as u64)?;
        let supported = if *which == "fwd" {
            validate::variants_for(&gpu, &case.spec())
        } else {
            validate::training_variants_for(&gpu, &case.spec())
        };
        let variants = match a.variant {
            Some(v) if supported.contains(&v) => vec![v],
            Some(_) => vec![],
            None => supported,
        };
        for v in variants {
            let cmps = if *which == "fwd" {
                validate::check_forward(&gpu, &p, v)?
            } else {
                validate::check_backward(&gpu, &p, v)?
            };
            let ok = cmps.iter().all(|c| c.ok());
            let max_abs = cmps.iter().map(|c| c.max_abs).fold(0.0, f64::max);
            let max_rel = cmps.iter().map(|c| c.max_rel).fold(0.0, f64::max);
            println!(
                "{:<48} {:<4} {:<19} {:>10.2e} {:>10.2e}  {}",
                case.label(),
                which,
                v.name(),
                max_abs,
                max_rel,
                if ok { "PASS" } else { "FAIL" }
            );
            if ok {
                pass += 1;
            } else {
                fail += 1;
                for c in cmps.iter().filter(|c| !c.ok()) {
                    println!("    {c}");
                }
            }
        }
    }
    println!("validate: {pass} passed, {fail} failed");
    if fail > 0 {
        bail!("{fail} case(s) failed");
    }
    Ok(())
}

fn bench_cmd(a: BenchArgs) -> Result<()> {
    let gpu = Gpu::new()?;
    let wls: Vec<Workload> = if let Some(cell) = &a.cell {
        let c = CellKind::parse(cell, "tanh")?;
        vec![Workload::new("custom", c, a.batch, a.input, a.hidden, a.seq)]
    } else if a.workload.is_empty() {
        bench::workloads()
    } else {
        let all = bench::workloads();
        a.workload
            .iter()
            .map(|n| {
                all.iter().find(|w| &w.name == n).cloned().with_context(|| {
                    format!(
                        "unknown workload `{n}` (one of {})",
                        all.iter().map(|w| w.name.clone()).collect::<Vec<_>>().join(", ")
                    )
                })
            })
            .collect::<Result<_>>()?
    };
    let modes = match a.mode.as_str() {
        "fwd" => vec![Mode::Fwd],
        "train" => vec![Mode::Train],
        "both" => vec![Mode::Fwd, Mode::Train],
        m => bail!("--mode {m}: expected fwd, train or both"),
    };
    if a.profile {
        println!("adapter: {}", gpu.describe());
        for wl in &wls {
            for &mode in &modes {
                let fams = bench::profile(&gpu, wl, mode, a.variant, a.runs)?;
                let total: f64 = fams.iter().map(|f| f.1).sum();
                println!(
                    "{} {}: {:.2} ms of GPU time",
                    wl.name,
                    format!("{mode:?}").to_lowercase(),
                    total
                );
                for (label, ms, share) in fams {
                    println!("  {label:<36} {ms:>10.2} ms {:>6.1}%", share * 100.0);
                }
            }
        }
        return Ok(());
    }
    let mut peers = vec![];
    for c in &a.compare {
        let (name, file) =
            c.split_once('=').with_context(|| format!("--compare {c}: expected NAME=FILE"))?;
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("--compare {c}: reading {file}"))?;
        peers.push((
            name.to_string(),
            bench::parse_peer_timings(&text).with_context(|| format!("--compare {c}"))?,
        ));
    }
    if !a.json {
        println!("adapter: {}", gpu.describe());
        println!(
            "{:<10} {:<5} {:<19} {:>9} {:>9} {:>9} {:>12} {:>8} {:>9} {:>6}  check",
            "workload",
            "mode",
            "variant",
            "median ms",
            "min ms",
            "max ms",
            "tokens/s",
            "GFLOP/s",
            "GEMM ceil",
            "share"
        );
    }
    let mut results = vec![];
    let mut all_ok = true;
    for wl in &wls {
        let ceiling =
            if a.no_ceiling { None } else { Some(bench::Ceiling::for_workload(&gpu, wl)?) };
        for &mode in &modes {
            let mut r = match mode {
                Mode::Fwd => bench::bench_forward(&gpu, wl, a.variant, a.runs, ceiling.as_ref())?,
                Mode::Train => bench::bench_train(&gpu, wl, a.variant, a.runs, ceiling.as_ref())?,
            };
            all_ok &= r.check_ok;
            let mode_name = format!("{mode:?}").to_lowercase();
            for (name, t) in &peers {
                if let Some(ms) = t.get(&(wl.name.clone(), mode_name.clone())) {
                    r.speedup.insert(name.clone(), ms / r.median_ms);
                }
            }
            let vs: String = r.speedup.iter().map(|(n, x)| format!(", {x:.2}x {n}")).collect();
            if !a.json {
                println!(
                    "{:<10} {:<5} {:<19} {:>9.2} {:>9.2} {:>9.2} {:>12.0} {:>8.2} {:>9} {:>6}  {} ({}){vs}",
                    wl.name,
                    format!("{:?}", mode).to_lowercase(),
                    r.variant,
                    r.median_ms,
                    r.min_ms,
                    r.max_ms,
                    r.tokens_per_s,
                    r.gflops,
                    r.gemm_ceiling_gflops.map(|c| format!("{c:.2}")).unwrap_or_else(|| "-".into()),
                    r.ceiling_share.map(|x| format!("{:.0}%", x * 100.0)).unwrap_or_else(|| "-".into()),
                    if r.check_ok { "ok" } else { "MISMATCH" },
                    r.check
                );
            }
            results.push(r);
        }
        if a.cpu_reference {
            let w = Weights::init(wl.spec(), 1)?;
            let x: Vec<f64> = wgpu_rnn::stability::random_input(wl.seq, wl.batch, wl.input, 2)
                .iter()
                .map(|&v| v as f64)
                .collect();
            let start = std::time::Instant::now();
            wgpu_rnn::reference::forward(
                &w,
                &wgpu_rnn::reference::SeqBatch {
                    t: wl.seq,
                    b: wl.batch,
                    x: &x,
                    h0: None,
                    c0: None,
                    lengths: None,
                },
            )?;
            let ms = start.elapsed().as_secs_f64() * 1e3;
            if !a.json {
                println!(
                    "{:<10} {:<5} {:<19} {:>9.2}  (f64 CPU reference, one run, {:.2} GFLOP/s)",
                    wl.name,
                    "fwd",
                    "cpu-ref",
                    ms,
                    wl.forward_flops() / ms / 1e6
                );
            }
        }
    }
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({ "adapter": gpu.describe(), "results": results })
            )?
        );
    }
    if !all_ok {
        bail!("a result did not match the CPU reference");
    }
    Ok(())
}

fn gemm_cmd(a: GemmArgs) -> Result<()> {
    use wgpu_rnn::gpu::gemm::{gemm_reference, GemmPlan};
    use wgpu_rnn::gpu::GemmVariant;
    let gpu = Gpu::new()?;
    let (m, n, k) = (a.m, a.n, a.k);
    let gen = |len: usize, seed: u32| -> Vec<f32> {
        (0..len)
            .map(|i| {
                (((i as u32).wrapping_mul(2654435761).wrapping_add(seed) >> 8) % 2001) as f32
                    / 1000.0
                    - 1.0
            })
            .collect()
    };
    let (av, bv, bias) = (gen(m * k, 1), gen(n * k, 2), gen(n, 3));
    // Check the first rows only: the reference is O(MNK) in f64.
    let rows = m.min(16);
    let want = gemm_reference(&av[..rows * k], &bv, &bias, rows, n, k);
    println!("adapter: {}", gpu.describe());
    println!(
        "C[{m}, {n}] = A[{m}, {k}]·B[{n}, {k}]ᵀ + bias: {:.3} GFLOP per call",
        2.0 * (m * n * k) as f64 / 1e9
    );
    for v in GemmVariant::ALL {
        if a.variant.as_deref().is_some_and(|want| want != v.name()) || !v.supported(&gpu) {
            continue;
        }
        let plan = GemmPlan::new(&gpu, v, &av, &bv, &bias, m, n, k)?;
        let got = plan.run(&gpu)?;
        let c = wgpu_rnn::check::compare("C", &got[..rows * n], &want, 1e-4, 1e-4);
        let mut t: Vec<f64> = (0..a.runs.max(1))
            .map(|_| plan.time(&gpu, 1).map(|d| d.as_secs_f64() * 1e3))
            .collect::<wgpu_rnn::Result<_>>()?;
        t.sort_by(|x, y| x.partial_cmp(y).unwrap());
        let med = t[t.len() / 2];
        println!(
            "{:<9} median {:>9.2} ms  {:>7.2} GFLOP/s  check {}",
            v.name(),
            med,
            plan.flops() / med / 1e6,
            if c.ok() { "ok".to_string() } else { c.to_string() }
        );
    }
    Ok(())
}

fn stability_cmd(a: StabilityArgs) -> Result<()> {
    use wgpu_rnn::plot::{line_chart, Series};
    use wgpu_rnn::stability::{self, Init, LossAt};
    if let Some(log) = &a.train_log {
        let steps = wgpu_rnn::train::read_log(log)?;
        let clipped = steps.iter().filter(|s| s.clipped).count();
        println!(
            "{}: {} updates, {} clipped, final gradient norm {:.4}",
            log.display(),
            steps.len(),
            clipped,
            steps.last().map_or(f32::NAN, |s| s.grad_norm)
        );
        if let Some(p) = &a.plot {
            let norm = Series {
                label: "gradient norm (before clipping)".into(),
                points: steps
                    .iter()
                    .enumerate()
                    .map(|(i, s)| (i as f64, (s.grad_norm as f64).log10()))
                    .collect(),
            };
            let clips = Series {
                label: "clipped (log10 norm where clipped)".into(),
                points: steps
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| s.clipped)
                    .map(|(i, s)| (i as f64, (s.grad_norm as f64).log10()))
                    .collect(),
            };
            let mut series = vec![norm];
            if !clips.points.is_empty() {
                series.push(clips);
            }
            line_chart(p, "Global gradient norm per update", "update", "log10 ||g||", &series)?;
            eprintln!("wrote {}", p.display());
        }
        return Ok(());
    }
    let at = match a.loss.as_str() {
        "last" => LossAt::Last,
        "every" => LossAt::Every,
        l => bail!("--loss {l}: expected last or every"),
    };
    let gpu_engine = match a.engine.as_str() {
        "gpu" => true,
        "cpu" => false,
        e => bail!("--engine {e}: expected gpu or cpu"),
    };
    // Configurations: (label, weights).
    let mut configs: Vec<(String, Weights)> = vec![];
    let base_init = Init {
        scale: a.init_scale,
        spectral_radius: a.spectral_radius,
        orthogonal: a.orthogonal,
        forget_bias: a.forget_bias,
    };
    let seeded = |cell: CellKind, init: Init| -> Result<Weights> {
        let spec = RnnSpec::new(cell, a.input_size, a.hidden)
            .layers(a.layers.unwrap_or(1))
            .bidirectional(a.bidirectional);
        Ok(stability::init_weights(spec, a.seed, init)?)
    };
    if let Some(sw) = &a.sweep {
        let (param, range) = sw
            .split_once('=')
            .with_context(|| format!("--sweep {sw}: expected NAME=FROM:TO:COUNT"))?;
        let parts: Vec<&str> = range.split(':').collect();
        if parts.len() != 3 {
            bail!("--sweep {sw}: expected NAME=FROM:TO:COUNT");
        }
        let (from, to, count): (f64, f64, usize) =
            (parts[0].parse()?, parts[1].parse()?, parts[2].parse()?);
        if count == 0 {
            bail!("--sweep {sw}: COUNT must be at least 1");
        }
        let cells: Vec<CellKind> = if a.cells.is_empty() {
            vec![CellKind::parse(&a.cell, &a.nonlinearity)?]
        } else {
            a.cells
                .iter()
                .map(|c| CellKind::parse(c, &a.nonlinearity))
                .collect::<wgpu_rnn::Result<_>>()?
        };
        for cell in cells {
            for i in 0..count {
                let v = if count == 1 {
                    from
                } else {
                    from + (to - from) * i as f64 / (count - 1) as f64
                };
                let init = match param {
                    "spectral-radius" => Init { spectral_radius: Some(v), ..base_init },
                    "init-scale" => Init { scale: Some(v), ..base_init },
                    p => bail!("--sweep {p}: expected spectral-radius or init-scale"),
                };
                configs.push((format!("{} {param}={v:.3}", cell.name()), seeded(cell, init)?));
            }
        }
    } else if let Some(path) = &a.weights {
        let m = ModelArgs {
            weights: path.clone(),
            cell: a.cell.clone(),
            layers: a.layers,
            bidirectional: a.bidirectional,
            nonlinearity: a.nonlinearity.clone(),
        };
        configs.push((path.display().to_string(), m.load()?));
    } else {
        let cell = CellKind::parse(&a.cell, &a.nonlinearity)?;
        configs.push((cell.name().to_string(), seeded(cell, base_init)?));
    }
    let gpu = if gpu_engine { Some(Gpu::new()?) } else { None };
    let mut reports = vec![];
    for (label, w) in &configs {
        let spec = w.spec;
        let (x, t, b) = match &a.input {
            Some(p) => {
                let f = InputFile::load(p, &spec)?;
                (f.x, f.t, f.b)
            }
            None => (
                stability::random_input(a.seq, a.batch, spec.input_size, a.seed + 1),
                a.seq,
                a.batch,
            ),
        };
        let tr = match &gpu {
            Some(g) => stability::trace_gpu(g, w, &x, t, b, at)?,
            None => stability::trace_cpu(w, &x, t, b, at)?,
        };
        reports.push(stability::summarize(
            label,
            w,
            &tr,
            t,
            b,
            at,
            if gpu_engine { "gpu" } else { "cpu" },
        ));
    }
    if a.json {
        println!("{}", serde_json::to_string(&serde_json::json!({ "configs": reports }))?);
    } else {
        println!(
            "{:<28} {:>9} {:>11} {:>11} {:>9} {:>10} {:>8}  verdict",
            "config", "σmax(Whh)", "‖g_T-1‖", "‖g_0‖", "growth", "saturated", "NaN at"
        );
        for r in &reports {
            let smax = r.sigma_max.iter().map(|s| s.1).fold(0.0, f64::max);
            let sat = r.saturation.iter().sum::<f64>() / r.saturation.len() as f64;
            println!(
                "{:<28} {:>9.3} {:>11.3e} {:>11.3e} {:>9.4} {:>9.1}% {:>8}  {} (threshold ±{})",
                r.label,
                smax,
                r.grad_h_norm[r.seq - 1],
                r.grad_h_norm[0],
                r.growth_per_step,
                100.0 * sat,
                r.first_nonfinite_step.map(|s| s.to_string()).unwrap_or_else(|| "-".into()),
                r.verdict,
                r.threshold
            );
        }
    }
    if let Some(p) = &a.plot {
        let series: Vec<Series> = reports
            .iter()
            .map(|r| Series {
                label: r.label.clone(),
                points: r
                    .grad_h_norm
                    .iter()
                    .enumerate()
                    .map(|(t, g)| (t as f64, g.log10()))
                    .collect(),
            })
            .collect();
        line_chart(
            p,
            "Gradient reaching each step: log10 ||dL/dh_t||",
            "timestep t",
            "log10 ||dL/dh_t||",
            &series,
        )?;
        eprintln!("wrote {}", p.display());
    }
    Ok(())
}

fn tune_cmd(a: TuneArgs) -> Result<()> {
    let gpu = Gpu::new()?;
    let shapes: Vec<(String, RnnSpec, usize, usize)> = if let Some(cell) = &a.cell {
        let spec = RnnSpec::new(CellKind::parse(cell, &a.nonlinearity)?, a.input, a.hidden)
            .layers(a.layers)
            .bidirectional(a.bidirectional);
        vec![("custom".into(), spec, a.seq, a.batch)]
    } else {
        let all = bench::workloads();
        let names: Vec<String> = if a.workload.is_empty() {
            all.iter().map(|w| w.name.clone()).collect()
        } else {
            a.workload.clone()
        };
        names
            .iter()
            .map(|n| {
                let w = all
                    .iter()
                    .find(|w| &w.name == n)
                    .with_context(|| format!("unknown workload `{n}`"))?;
                Ok((w.name.clone(), w.spec(), w.seq, w.batch))
            })
            .collect::<Result<_>>()?
    };
    println!("adapter: {}", gpu.describe());
    for (name, spec, t, b) in shapes {
        let timings = wgpu_rnn::tune::tune(&gpu, spec, t, b, a.runs)?;
        let list: Vec<String> =
            timings.iter().map(|t| format!("{} {:.2} ms", t.variant, t.median_ms)).collect();
        println!(
            "{name} ({spec}, T={t}, B={b}): {} -> cached {}",
            list.join(", "),
            timings[0].variant
        );
    }
    if let Some(p) = wgpu_rnn::tune::cache_path() {
        println!("cache: {}", p.display());
    }
    Ok(())
}

fn train_cmd(a: TrainArgs) -> Result<()> {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use wgpu_rnn::charlm::{self, Batcher, Checkpoint, Vocab};
    use wgpu_rnn::train::{Loss, Optimizer, Targets, TrainConfig, Trainer};
    let (text, corpus) = match &a.text {
        Some(p) => (
            std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
            p.display().to_string(),
        ),
        None => (charlm::SHAKESPEARE.to_string(), "the shipped data/shakespeare.txt".to_string()),
    };
    if !(0.0..0.9).contains(&a.val_fraction) {
        bail!("--val-fraction {} must be in [0, 0.9)", a.val_fraction);
    }
    let resumed = if a.resume { Some(Checkpoint::load(&a.out)?) } else { None };
    let vocab = match &resumed {
        Some(ck) => ck.vocab.clone(),
        None => Vocab::from_text(&text)?,
    };
    let ids = vocab.encode(&text)?;
    let split = ((ids.len() as f64) * (1.0 - a.val_fraction)) as usize;
    let (train_ids, val_ids) = ids.split_at(split);
    let val_ids = &val_ids[..val_ids.len().min(a.val_chars)];
    let spec = match &resumed {
        Some(ck) => ck.weights.spec,
        None => RnnSpec::new(CellKind::parse(&a.cell, &a.nonlinearity)?, vocab.len(), a.hidden)
            .layers(a.layers),
    };
    let weights = match &resumed {
        Some(ck) => ck.weights.clone(),
        None => Weights::init(spec, a.seed)?,
    };
    let gpu = Gpu::new()?;
    let mut cfg =
        TrainConfig::new(Optimizer::adam(a.lr), Loss::CrossEntropy { classes: vocab.len() });
    cfg.clip_norm = (a.clip > 0.0).then_some(a.clip);
    cfg.carry_state = true;
    cfg.seed = a.seed;
    let mut tr = Trainer::new(&gpu, &weights, cfg, a.seq, a.batch)?;
    let mut step0 = 0;
    if let Some(ck) = &resumed {
        tr.set_head(&gpu, &ck.head_weight, &ck.head_bias)?;
        step0 = ck.step;
    }
    let mut batcher = Batcher::new(train_ids.len(), a.batch, a.seq, a.seed)?;
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        ctrlc::set_handler(move || stop.store(true, Ordering::SeqCst))
            .context("installing the Ctrl-C handler")?;
    }
    eprintln!(
        "{spec} on {corpus}: vocabulary {} chars, {} training / {} validation chars, {} on {}",
        vocab.len(),
        train_ids.len(),
        val_ids.len(),
        if resumed.is_some() { format!("resuming at step {step0}") } else { "fresh".into() },
        gpu.describe()
    );
    let checkpoint = |tr: &Trainer, step: u64| -> Result<Checkpoint> {
        let (head_weight, head_bias) = tr.head(&gpu)?;
        let ck = Checkpoint {
            weights: tr.weights(&gpu)?,
            head_weight,
            head_bias,
            vocab: vocab.clone(),
            step,
        };
        ck.save(&a.out)?;
        Ok(ck)
    };
    let validate = |ck: &Checkpoint| -> Result<f64> {
        if val_ids.len() < 2 {
            return Ok(f64::NAN);
        }
        let model = GpuModel::new(&gpu, &ck.weights)?;
        Ok(charlm::evaluate(&gpu, ck, &model, val_ids, a.batch, 256)?)
    };
    let bar = indicatif::ProgressBar::new(a.steps);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:30} {pos}/{len} [{elapsed_precise}<{eta_precise}] {msg}",
        )
        .unwrap(),
    );
    let start = std::time::Instant::now();
    let mut step = step0;
    let mut curve = vec![];
    for i in 0..a.steps {
        if stop.load(Ordering::SeqCst) {
            bar.abandon_with_message("interrupted");
            let ck = checkpoint(&tr, step)?;
            eprintln!("Ctrl-C: saved {} at step {}", a.out.display(), ck.step);
            write_train_log(&a.log, &tr)?;
            std::process::exit(130);
        }
        let (x, y, wrapped) = batcher.next(train_ids);
        if wrapped {
            tr.reset_state();
        }
        let st = tr.step(&gpu, &vocab.one_hot(&x), Targets::Classes(&y))?;
        step += 1;
        let secs = start.elapsed().as_secs_f64();
        bar.set_message(format!(
            "loss {:.3} |g| {:.2}{} {:.2} steps/s {:.0} tok/s",
            st.loss,
            st.grad_norm,
            if st.clipped { " clipped" } else { "" },
            (i + 1) as f64 / secs,
            ((i + 1) as usize * a.seq * a.batch) as f64 / secs
        ));
        bar.inc(1);
        if (i + 1) % a.eval_every == 0 || i + 1 == a.steps {
            let ck = checkpoint(&tr, step)?;
            let v = validate(&ck)?;
            curve.push((step, st.loss, v));
            let line = format!(
                "step {step}: train loss {:.4}, validation loss {v:.4} nats/char, saved {}",
                st.loss,
                a.out.display()
            );
            bar.suspend(|| eprintln!("{line}"));
        }
    }
    bar.finish();
    write_train_log(&a.log, &tr)?;
    eprintln!("validation curve (step, train loss, validation loss):");
    for (s, l, v) in curve {
        eprintln!("  {s:>6} {l:.4} {v:.4}");
    }
    Ok(())
}

fn write_train_log(path: &Option<PathBuf>, tr: &wgpu_rnn::train::Trainer) -> Result<()> {
    if let Some(p) = path {
        wgpu_rnn::train::write_log(p, &tr.log)?;
    }
    Ok(())
}
