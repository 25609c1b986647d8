//! `wgpu-rnn sample`: text generated from a char-model checkpoint.

use anyhow::Result;
use clap::Args;
use std::path::PathBuf;
use wgpu_rnn::charlm::{self, Checkpoint};
use wgpu_rnn::Gpu;

#[derive(Args)]
pub struct SampleArgs {
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

pub fn run(a: SampleArgs) -> Result<()> {
    let gpu = Gpu::new()?;
    let ck = Checkpoint::load(&a.checkpoint)?;
    let text = charlm::sample(&gpu, &ck, &a.prime, a.length, a.temperature, a.seed)?;
    println!("{text}");
    Ok(())
}
