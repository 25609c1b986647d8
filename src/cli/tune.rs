//! `wgpu-rnn tune`: time every forward variant for a shape on this adapter and cache the
//! fastest, which the default variant choice then reads.

use super::common::{self, Cell, Nonlinearity, WorkloadName};
use anyhow::Result;
use clap::Args;
use wgpu_rnn::{Gpu, RnnSpec};

#[derive(Args)]
pub struct TuneArgs {
    /// Named workloads (repeatable; default all) or a custom shape with --cell.
    #[arg(long, value_enum)]
    workload: Vec<WorkloadName>,
    #[arg(long, value_enum, ignore_case = true)]
    cell: Option<Cell>,
    #[arg(long, value_enum, default_value_t = Nonlinearity::Tanh, ignore_case = true)]
    nonlinearity: Nonlinearity,
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

pub fn run(a: TuneArgs) -> Result<()> {
    let gpu = Gpu::new()?;
    let shapes: Vec<(String, RnnSpec, usize, usize)> = if let Some(cell) = a.cell {
        let spec = RnnSpec::new(cell.kind(a.nonlinearity), a.input, a.hidden)
            .layers(a.layers)
            .bidirectional(a.bidirectional);
        vec![("custom".into(), spec, a.seq, a.batch)]
    } else {
        common::workloads(&a.workload)?
            .into_iter()
            .map(|w| (w.name.clone(), w.spec(), w.seq, w.batch))
            .collect()
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
