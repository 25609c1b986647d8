//! Training on the GPU: an LSTM with a linear head learns to predict the next character of
//! "abracadabra " (cross-entropy, Adam, global-norm clipping, truncated BPTT carrying the
//! state between batches). `cargo run --release --example training`
use wgpu_rnn::charlm::Vocab;
use wgpu_rnn::train::{Loss, Optimizer, Targets, TrainConfig, Trainer};
use wgpu_rnn::{CellKind, Gpu, RnnSpec, Weights};

fn main() -> wgpu_rnn::Result<()> {
    let text = "abracadabra ".repeat(40);
    let vocab = Vocab::from_text(&text)?;
    let ids = vocab.encode(&text)?;
    let ids = &ids;
    let (t, b) = (12, 4);
    let gpu = Gpu::new()?;
    let weights = Weights::init(RnnSpec::new(CellKind::Lstm, vocab.len(), 32), 3)?;
    let mut config =
        TrainConfig::new(Optimizer::adam(0.02), Loss::CrossEntropy { classes: vocab.len() });
    config.clip_norm = Some(1.0);
    config.carry_state = true;
    let mut trainer = Trainer::new(&gpu, &weights, config, t, b)?;
    // B streams over the text; batch k holds steps k*T..(k+1)*T of each, [T, B] time-major
    let seg = (ids.len() - 1) / b;
    let (mut first, mut last) = (None, 0.0);
    for epoch in 0..15 {
        trainer.reset_state();
        for start in (0..seg - t).step_by(t) {
            let pick = |off: usize| -> Vec<u32> {
                (0..t).flat_map(|s| (0..b).map(move |r| ids[r * seg + start + s + off])).collect()
            };
            let (inputs, targets) = (pick(0), pick(1));
            let stats = trainer.step(&gpu, &vocab.one_hot(&inputs), Targets::Classes(&targets))?;
            first.get_or_insert(stats.loss);
            last = stats.loss;
        }
        if epoch % 5 == 4 {
            println!("epoch {epoch:2}: loss {last:.3} nats");
        }
    }
    let first = first.unwrap_or(f32::NAN);
    println!("loss {first:.3} -> {last:.3} nats over {} updates", trainer.log.len());
    if last.is_nan() || first.is_nan() || last >= 0.5 * first {
        return Err(wgpu_rnn::Error::Config(format!("loss did not halve: {first} -> {last}")));
    }
    Ok(())
}
