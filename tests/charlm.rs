//! A character-level language model learns "abracadabra " and reproduces it.

mod common;
use wgpu_rnn::charlm::{self, Checkpoint, Vocab};
use wgpu_rnn::train::{Loss, Optimizer, Targets, TrainConfig, Trainer};
use wgpu_rnn::{CellKind, RnnSpec, Weights};

#[test]
fn learns_abracadabra_and_samples_it_back() {
    let gpu = common::gpu();
    let text = "abracadabra ".repeat(40);
    let vocab = Vocab::from_text(&text).unwrap();
    let ids = vocab.encode(&text).unwrap();
    let (t, b) = (24, 4);
    let spec = RnnSpec::new(CellKind::Lstm, vocab.len(), 32);
    let w = Weights::init(spec, 1).unwrap();
    let mut cfg = TrainConfig::new(Optimizer::adam(0.02), Loss::CrossEntropy { classes: vocab.len() });
    cfg.clip_norm = Some(5.0);
    cfg.carry_state = true;
    let mut tr = Trainer::new(gpu, &w, cfg, t, b).unwrap();
    // Streams start at word boundaries, so a fresh (zero) state always precedes "abracadabra".
    let starts = [0, 12 * 9, 12 * 18, 12 * 27];
    let mut pos = starts;
    let mut last = f32::MAX;
    for _ in 0..250 {
        if pos.iter().any(|&p| p + t + 1 > ids.len()) {
            pos = starts;
            tr.reset_state();
        }
        let mut x = vec![];
        let mut y = vec![];
        for s in 0..t {
            for p in pos {
                x.push(ids[p + s]);
                y.push(ids[p + s + 1]);
            }
        }
        last = tr.step(gpu, &vocab.one_hot(&x), Targets::Classes(&y)).unwrap().loss;
        pos.iter_mut().for_each(|p| *p += t);
    }
    eprintln!("abracadabra: final training loss {last:.4} nats/char");
    assert!(last < 0.1, "loss {last}");
    let (head_weight, head_bias) = tr.head(gpu).unwrap();
    let ck = Checkpoint { weights: tr.weights(gpu).unwrap(), head_weight, head_bias, vocab, step: 250 };
    let path = std::env::temp_dir().join(format!("abra-{}.safetensors", std::process::id()));
    ck.save(&path).unwrap();
    let ck = Checkpoint::load(&path).unwrap();
    assert_eq!(charlm::sample(gpu, &ck, "a", 10, 0.0, 1).unwrap(), "abracadabra");
    // Sampling is reproducible for a seed.
    let a = charlm::sample(gpu, &ck, "abra", 30, 0.8, 7).unwrap();
    assert_eq!(a, charlm::sample(gpu, &ck, "abra", 30, 0.8, 7).unwrap());
    assert!(a.starts_with("abra") && a.chars().count() == 34);
}
