//! How far 16-bit weights move a model's outputs: for each cell and size, the GPU forward
//! pass at f16 and bf16 against the f64 reference on the unrounded f32 weights (PyTorch's
//! init, inputs from U(-1, 1)), and against the reference on the rounded weights (the
//! kernels' own error). Prints a Markdown table (the README's precision section).
//!
//!   cargo run --release --example precision_error [-- T B]

use wgpu_rnn::reference::{self, SeqBatch};
use wgpu_rnn::stability::random_input;
use wgpu_rnn::{CellKind, ForwardOptions, Gpu, GpuModel, Input, Precision, RnnSpec, Weights};

fn main() -> wgpu_rnn::Result<()> {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let (t, b) = (args.first().copied().unwrap_or(50), args.get(1).copied().unwrap_or(4));
    let gpu = Gpu::new()?;
    println!("T = {t}, B = {b}, I = H; max |error| over the output sequence\n");
    println!("| cell | H | f16 vs f32 model | bf16 vs f32 model | f16 vs rounded ref | bf16 vs rounded ref |");
    println!("|---|---|---|---|---|---|");
    for cell in CellKind::ALL {
        for h in [64, 256] {
            let spec = RnnSpec::new(cell, h, h);
            let w = Weights::init(spec, 1)?;
            let x = random_input(t, b, h, 12345);
            let xs: Vec<f64> = x.iter().map(|&v| v as f64).collect();
            let batch = SeqBatch { t, b, x: &xs, h0: None, c0: None, lengths: None };
            let exact = reference::forward(&w, &batch)?.output;
            let mut cols = vec![];
            let mut own = vec![];
            for p in [Precision::F16, Precision::Bf16] {
                let wp = w.to_precision(p);
                let model = GpuModel::new(&gpu, &wp)?;
                let got = model.forward(&gpu, &Input::new(&x, t, b), ForwardOptions::default())?;
                let rounded = reference::forward(&wp, &batch)?.output;
                let max = |want: &[f64]| {
                    got.output
                        .iter()
                        .zip(want)
                        .map(|(g, w)| (*g as f64 - w).abs())
                        .fold(0.0, f64::max)
                };
                cols.push(format!("{:.1e}", max(&exact)));
                own.push(format!("{:.1e}", max(&rounded)));
            }
            println!(
                "| {} | {h} | {} | {} | {} | {} |",
                cell.name(),
                cols[0],
                cols[1],
                own[0],
                own[1]
            );
        }
    }
    Ok(())
}
