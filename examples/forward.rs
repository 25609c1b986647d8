//! The README's library example: a 2-layer bidirectional LSTM with PyTorch's names, saved
//! and loaded as .safetensors, run over a batch on the GPU and checked against the f64 CPU
//! reference. `cargo run --release --example forward`
use wgpu_rnn::reference::{self, SeqBatch};
use wgpu_rnn::{CellKind, ForwardOptions, Gpu, GpuModel, Input, RnnSpec, Weights};

fn main() -> wgpu_rnn::Result<()> {
    let (t, b) = (20, 4);
    let gpu = Gpu::new()?; // honours WGPU_BACKEND and WGPU_ADAPTER_NAME
    let spec = RnnSpec::new(CellKind::Lstm, 64, 128).layers(2).bidirectional(true);
    let path = std::env::temp_dir().join("wgpu-rnn-example-forward.safetensors");
    Weights::init(spec, 7)?.save(&path)?; // PyTorch's init and parameter names
    let weights = Weights::load(&path, spec)?; // or a PyTorch state_dict saved by safetensors
    let model = GpuModel::new(&gpu, &weights)?; // uploaded once, reused by every call
    let x: Vec<f32> = (0..t * b * 64).map(|i| (i as f32 * 0.37).sin()).collect(); // [T, B, I]
    let out = model.forward(&gpu, &Input::new(&x, t, b), ForwardOptions::default())?;
    // out.output [T, B, D*H], out.h_n and out.c_n [L*D, B, H]
    let x64: Vec<f64> = x.iter().map(|&v| v as f64).collect();
    let batch = SeqBatch { t, b, x: &x64, h0: None, c0: None, lengths: None };
    let want = reference::forward(&weights, &batch)?;
    let err = out.output.iter().zip(&want.output).map(|(g, w)| (*g as f64 - w).abs());
    let max_err = err.fold(0.0, f64::max);
    println!(
        "{spec} on {}: variant {}, output {} values, max |GPU - CPU reference| = {max_err:.2e}",
        gpu.info.name,
        out.variant,
        out.output.len()
    );
    if max_err > 1e-4 {
        return Err(wgpu_rnn::Error::Config(format!("GPU and reference differ by {max_err}")));
    }
    std::fs::remove_file(&path).ok();
    Ok(())
}
