//! Streaming: a GRU advanced a few steps at a time with its state kept on the GPU, as a
//! real-time consumer would, giving the same final state as one call over the whole
//! sequence. `cargo run --release --example streaming`
use wgpu_rnn::{CellKind, ForwardOptions, Gpu, GpuModel, Input, RnnSpec, Weights};

fn main() -> wgpu_rnn::Result<()> {
    let (t, b, i) = (60, 3, 16);
    let gpu = Gpu::new()?;
    let weights = Weights::init(RnnSpec::new(CellKind::Gru, i, 32), 1)?;
    let model = GpuModel::new(&gpu, &weights)?;
    let x: Vec<f32> = (0..t * b * i).map(|k| (k as f32 * 0.11).cos()).collect(); // [T, B, I]

    let mut stream = model.stream(b)?;
    let mut last = None;
    for chunk in x.chunks(10 * b * i) {
        // 10 steps per call; outputs [10, B, H] come back, the state stays on the GPU
        last = Some(stream.step_full(&gpu, chunk)?);
    }
    let streamed = last.expect("at least one chunk");
    let whole = model.forward(&gpu, &Input::new(&x, t, b), ForwardOptions::default())?;
    let diff =
        streamed.h_n.iter().zip(&whole.h_n).map(|(a, w)| (a - w).abs()).fold(0.0f32, f32::max);
    println!("streamed {t} steps in chunks of 10: max |h_n - h_n of one call| = {diff:.2e}");
    if diff > 1e-5 {
        return Err(wgpu_rnn::Error::Config(format!("streaming differs by {diff}")));
    }
    Ok(())
}
