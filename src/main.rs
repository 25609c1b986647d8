//! The `wgpu-rnn` command line, one module per subcommand under `cli/`:
//! - `info`: the adapter, backend, driver, limits and features, and which variants run here
//! - `init`: seeded random weights (PyTorch's init and names) to a .safetensors file
//! - `forward`: a model over an input file on the GPU, the outputs to a file
//! - `grad`: gradients of every parameter, x, h0 (and c0) for a given dL/d(output)
//! - `validate`: every kernel variant against the CPU reference over a matrix of shapes
//! - `bench`: throughput of the named workloads (tokens/s, GFLOP/s)
//! - `gemm`: the standalone input-projection GEMM, checked, then timed
//! - `stability`: vanishing/exploding gradients (‖dL/dh_t‖ per step, growth, σ_max(W_hh))
//! - `tune`: time every forward variant for a shape and cache the fastest
//! - `train`: a character-level language model on a text file
//! - `sample`: text generated from a char-model checkpoint
//! - `trace`: a drawing of the hidden state (units x characters) of a model reading a text
//! - `serve`: the browser page (web/dist, built by `make web`) on 127.0.0.1

mod cli;

use anyhow::Result;
use clap::{Parser, Subcommand};

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
    Init(cli::init::InitArgs),
    /// Run a model over an input file on the GPU and write the outputs.
    Forward(cli::forward::ForwardArgs),
    /// Gradients of every parameter, x, h0 (and c0) on the GPU for a given dL/d(output).
    Grad(cli::grad::GradArgs),
    /// Check every kernel variant against the CPU reference over a matrix of shapes.
    Validate(cli::validate::ValidateArgs),
    /// Throughput of the named workloads (tokens/s, GFLOP/s).
    Bench(cli::bench::BenchArgs),
    /// The standalone input-projection GEMM C[M,N] = A[M,K]·B[N,K]ᵀ + bias: check, then time.
    Gemm(cli::gemm::GemmArgs),
    /// Vanishing/exploding gradients: ‖dL/dh_t‖ per step, growth, σ_max(W_hh), saturation.
    Stability(cli::stability::StabilityArgs),
    /// Time every forward variant for a shape on this adapter and cache the fastest.
    Tune(cli::tune::TuneArgs),
    /// Train a character-level language model on a text file.
    Train(cli::train::TrainArgs),
    /// Generate text from a char-model checkpoint (the text alone goes to stdout).
    Sample(cli::sample::SampleArgs),
    /// Draw the hidden state (units x characters) of a model reading a text.
    Trace(cli::trace::TraceArgs),
    /// Serve the browser page (built by `make web` into web/dist) on 127.0.0.1.
    Serve(cli::serve::ServeArgs),
}

fn main() {
    // Rust ignores SIGPIPE, so a closed stdout (`wgpu-rnn ... | head`) made every print
    // panic; the default action ends the process quietly, as Unix tools do.
    #[cfg(unix)]
    // SAFETY: called first in main, before any other thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    if let Err(e) = run() {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    match Cli::parse().cmd {
        Cmd::Info => cli::info::run(),
        Cmd::Init(a) => cli::init::run(a),
        Cmd::Forward(a) => cli::forward::run(a),
        Cmd::Grad(a) => cli::grad::run(a),
        Cmd::Validate(a) => cli::validate::run(a),
        Cmd::Bench(a) => cli::bench::run(a),
        Cmd::Gemm(a) => cli::gemm::run(a),
        Cmd::Stability(a) => cli::stability::run(a),
        Cmd::Tune(a) => cli::tune::run(a),
        Cmd::Train(a) => cli::train::run(a),
        Cmd::Sample(a) => cli::sample::run(a),
        Cmd::Trace(a) => cli::trace::run(a),
        Cmd::Serve(a) => cli::serve::run(a),
    }
}
