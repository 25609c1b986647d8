//! `wgpu-rnn init`: seeded random weights with PyTorch's initialisation and names.

use super::common::{Cell, Nonlinearity};
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;
use wgpu_rnn::{RnnSpec, Weights};

#[derive(Args)]
pub struct InitArgs {
    #[arg(long, value_enum, default_value_t = Cell::Lstm, ignore_case = true)]
    cell: Cell,
    #[arg(long, value_enum, default_value_t = Nonlinearity::Tanh, ignore_case = true)]
    nonlinearity: Nonlinearity,
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

pub fn run(a: InitArgs) -> Result<()> {
    let cell = a.cell.kind(a.nonlinearity);
    let spec = RnnSpec::new(cell, a.input_size, a.hidden_size)
        .layers(a.layers)
        .bidirectional(a.bidirectional)
        .with_bias(!a.no_bias);
    // f64 parameters, their f32 copy and the serialized file: 16 bytes each
    wgpu_rnn::host::check_memory(&format!("initialising {spec}"), spec.param_bytes(16))?;
    Weights::init(spec, a.seed)?.save(&a.out)?;
    eprintln!("wrote {} ({spec}, {} parameters)", a.out.display(), spec.num_params());
    Ok(())
}
