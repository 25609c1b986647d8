//! A character-level language model learns "abracadabra " and reproduces it.

mod common;
use wgpu_rnn::charlm::{self, Batcher, Checkpoint, Vocab};
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
    let mut cfg =
        TrainConfig::new(Optimizer::adam(0.02), Loss::CrossEntropy { classes: vocab.len() });
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
    let ck = Checkpoint {
        weights: tr.weights(gpu).unwrap(),
        head_weight,
        head_bias,
        vocab,
        step: 250,
        data: None,
    };
    let path = std::env::temp_dir().join(format!("abra-{}.safetensors", std::process::id()));
    ck.save(&path).unwrap();
    let ck = Checkpoint::load(&path).unwrap();
    assert_eq!(charlm::sample(gpu, &ck, "a", 10, 0.0, 1).unwrap(), "abracadabra");
    // Sampling is reproducible for a seed.
    let a = charlm::sample(gpu, &ck, "abra", 30, 0.8, 7).unwrap();
    assert_eq!(a, charlm::sample(gpu, &ck, "abra", 30, 0.8, 7).unwrap());
    assert!(a.starts_with("abra") && a.chars().count() == 34);
}

/// Validation loss: the GPU evaluation (several streams, state carried across chunks) equals
/// the f64 reference run over the same segments, and one stream equals the plain definition.
#[test]
fn evaluate_matches_the_reference_over_segments() {
    use rand::{Rng, SeedableRng};
    use wgpu_rnn::gpu::GpuModel;
    use wgpu_rnn::reference::{self, SeqBatch};
    let gpu = common::gpu();
    let text = "the quick brown fox jumps over the lazy dog; ".repeat(3);
    let vocab = Vocab::from_text(&text).unwrap();
    let ids = vocab.encode(&text).unwrap();
    let (v, h) = (vocab.len(), 19);
    let weights = Weights::init(RnnSpec::new(CellKind::Gru, v, h).layers(2), 5).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(9);
    let head_weight: Vec<f32> = (0..v * h).map(|_| rng.random_range(-1.0..1.0)).collect();
    let head_bias: Vec<f32> = (0..v).map(|_| rng.random_range(-0.5..0.5)).collect();
    let ck = Checkpoint { weights, head_weight, head_bias, vocab, step: 0, data: None };
    let model = GpuModel::new(gpu, &ck.weights).unwrap();
    // The reference: stream b reads ids[b*seg .. (b+1)*seg] from a zero state.
    let ids_ref = &ids;
    let want = |streams: usize| -> f64 {
        let ids = ids_ref;
        let seg = (ids.len() - 1) / streams;
        let x: Vec<f64> = (0..seg)
            .flat_map(|s| (0..streams).map(move |b| ids[b * seg + s]))
            .flat_map(|c| (0..v).map(move |k| (k == c as usize) as u8 as f64))
            .collect();
        let f = reference::forward(
            &ck.weights,
            &SeqBatch { t: seg, b: streams, x: &x, h0: None, c0: None, lengths: None },
        )
        .unwrap();
        let mut total = 0.0;
        for s in 0..seg {
            for b in 0..streams {
                let hv = &f.output[(s * streams + b) * h..(s * streams + b + 1) * h];
                let logits: Vec<f64> = (0..v)
                    .map(|c| {
                        ck.head_bias[c] as f64
                            + (0..h).map(|k| ck.head_weight[c * h + k] as f64 * hv[k]).sum::<f64>()
                    })
                    .collect();
                let z: f64 = logits.iter().map(|l| l.exp()).sum();
                total += z.ln() - logits[ids[b * seg + s + 1] as usize];
            }
        }
        total / (seg * streams) as f64
    };
    for (streams, chunk) in [(1, 50), (4, 7), (5, 1000)] {
        let got = charlm::evaluate(gpu, &ck, &model, &ids, streams, chunk).unwrap();
        let expected = want(streams);
        eprintln!("streams {streams} chunk {chunk}: gpu {got:.6} reference {expected:.6}");
        assert!(
            (got - expected).abs() <= 1e-4 * expected.abs(),
            "streams {streams}, chunk {chunk}: {got} vs {expected}"
        );
    }
    assert!(
        charlm::evaluate(gpu, &ck, &model, &ids[..3], 4, 8).is_err(),
        "too short for 4 streams"
    );
}

/// `Batcher::skip(n)` leaves the streams where n batches would (what `train --resume`
/// uses to continue the data position, issue #18), wraps included.
#[test]
fn batcher_skip_matches_reading_the_batches() {
    let ids: Vec<u32> = (0..97).map(|i| (i % 7) as u32).collect();
    for n in [0u64, 1, 5, 40] {
        let mut read = Batcher::new(ids.len(), 3, 8, 4).unwrap();
        for _ in 0..n {
            read.next(&ids);
        }
        let mut skipped = Batcher::new(ids.len(), 3, 8, 4).unwrap();
        skipped.skip(n);
        assert_eq!(read.next(&ids), skipped.next(&ids), "after {n} batches");
    }
}

/// The browser page's CPU sampler (the reference, f64) writes what the GPU sampler writes,
/// greedy and at a temperature with the same seed, for the page's trained model; and
/// `top_k` is softmax's k largest, most likely first.
#[test]
fn cpu_sampler_and_top_k_match_the_gpu() {
    let gpu = common::gpu();
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("web/static/charlm.safetensors");
    let ck = Checkpoint::load(&path).unwrap();
    for (temperature, seed) in [(0.0, 0), (0.8, 5)] {
        let g = charlm::sample(gpu, &ck, "To be, or", 60, temperature, seed).unwrap();
        let c = charlm::sample_cpu(&ck, "To be, or", 60, temperature, seed).unwrap();
        assert_eq!(g, c, "temperature {temperature}");
        assert_eq!(c.chars().count(), "To be, or".len() + 60);
    }
    let h: Vec<f32> =
        (0..ck.weights.spec.hidden_size).map(|i| ((i * 7 % 11) as f32 - 5.0) / 5.0).collect();
    let logits = ck.logits(&h);
    let top = ck.top_k(&h, 5);
    assert_eq!(top.len(), 5);
    let m = logits.iter().cloned().fold(f32::MIN, f32::max) as f64;
    let z: f64 = logits.iter().map(|&l| (l as f64 - m).exp()).sum();
    let mut order: Vec<usize> = (0..logits.len()).collect();
    order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]));
    for (pred, &want) in top.iter().zip(&order) {
        assert_eq!(pred.char, ck.vocab.chars[want]);
        let p = ((logits[want] as f64 - m).exp() / z) as f32;
        assert!((pred.p - p).abs() < 1e-6, "{} {p}", pred.p);
    }
    assert!(charlm::sample_cpu(&ck, "", 5, 0.0, 0).is_err());
    assert!(charlm::sample_cpu(&ck, "ab", 5, -1.0, 0).is_err());
}
