//! Training on the GPU: one step against a CPU computation of the whole chain (head, loss,
//! BPTT, clipping, optimizer), determinism, and a small task the loss must go down on.

mod common;
use common::*;
use rand::{Rng, SeedableRng};
use wgpu_rnn::check::compare;
use wgpu_rnn::reference::{self, SeqBatch};
use wgpu_rnn::train::{Loss, Optimizer, Targets, TrainConfig, Trainer};
use wgpu_rnn::{CellKind, RnnSpec, Weights};

/// CPU twin of one step: loss, and the gradients of the RNN parameters and the head.
#[allow(clippy::too_many_arguments)]
fn cpu_step(
    w: &Weights,
    w_y: &[f32],
    b_y: &[f32],
    x: &[f64],
    t: usize,
    b: usize,
    classes: &[u32],
    o: usize,
) -> (f64, Weights, Vec<f64>, Vec<f64>) {
    cpu_step_from(w, w_y, b_y, x, t, b, classes, o, None, None)
}

#[allow(clippy::too_many_arguments)]
fn cpu_step_from(
    w: &Weights,
    w_y: &[f32],
    b_y: &[f32],
    x: &[f64],
    t: usize,
    b: usize,
    classes: &[u32],
    o: usize,
    h0: Option<&[f64]>,
    c0: Option<&[f64]>,
) -> (f64, Weights, Vec<f64>, Vec<f64>) {
    let s = w.spec;
    let k = s.output_size();
    let f = reference::forward(w, &SeqBatch { t, b, x, h0, c0, lengths: None }).unwrap();
    let r = t * b;
    let mut loss = 0.0;
    let mut dlog = vec![0.0; r * o];
    for row in 0..r {
        let h = &f.output[row * k..(row + 1) * k];
        let logits: Vec<f64> = (0..o)
            .map(|c| b_y[c] as f64 + (0..k).map(|j| w_y[c * k + j] as f64 * h[j]).sum::<f64>())
            .collect();
        let m = logits.iter().cloned().fold(f64::MIN, f64::max);
        let z: f64 = logits.iter().map(|l| (l - m).exp()).sum();
        let tgt = classes[row] as usize;
        loss += (z.ln() + m - logits[tgt]) / r as f64;
        for c in 0..o {
            dlog[row * o + c] =
                ((logits[c] - m).exp() / z - if c == tgt { 1.0 } else { 0.0 }) / r as f64;
        }
    }
    let mut dw_y = vec![0.0; o * k];
    let mut db_y = vec![0.0; o];
    let mut dout = vec![0.0; r * k];
    for row in 0..r {
        for c in 0..o {
            let d = dlog[row * o + c];
            db_y[c] += d;
            for j in 0..k {
                dw_y[c * k + j] += d * f.output[row * k + j];
                dout[row * k + j] += d * w_y[c * k + j] as f64;
            }
        }
    }
    let g = reference::backward(w, &f, &dout, None, None).unwrap();
    (loss, g.weights, dw_y, db_y)
}

fn setup(
    cell: CellKind,
    layers: usize,
    bi: bool,
) -> (Weights, Vec<f32>, Vec<u32>, usize, usize, usize) {
    let spec = RnnSpec::new(cell, 6, 10).layers(layers).bidirectional(bi);
    let w = Weights::init(spec, 5).unwrap();
    let (t, b, o) = (7, 3, 5);
    let x = f32s(&random_vec(t * b * 6, 6, 1.0));
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let classes: Vec<u32> = (0..t * b).map(|_| rng.random_range(0..o as u32)).collect();
    (w, x, classes, t, b, o)
}

#[test]
fn one_sgd_step_matches_the_cpu_chain() {
    let gpu = gpu();
    // every registered cell, alternating 2 bidirectional layers and 1 forward layer
    let cases = CellKind::ALL.into_iter().enumerate().map(|(i, c)| (c, 2 - i % 2, i % 2 == 0));
    for (cell, layers, bi) in cases {
        let (w, x, classes, t, b, o) = setup(cell, layers, bi);
        let lr = 0.5;
        let cfg = TrainConfig::new(
            Optimizer::Sgd { lr, momentum: 0.0 },
            Loss::CrossEntropy { classes: o },
        );
        let mut tr = Trainer::new(gpu, &w, cfg, t, b).unwrap();
        let (w_y, b_y) = tr.head(gpu).unwrap();
        let xd: Vec<f64> = x.iter().map(|&v| v as f64).collect();
        let (loss, g, dw_y, db_y) = cpu_step(&w, &w_y, &b_y, &xd, t, b, &classes, o);
        let st = tr.step(gpu, &x, Targets::Classes(&classes)).unwrap();
        assert!(
            (st.loss as f64 - loss).abs() <= 1e-5 + 1e-5 * loss,
            "{cell}: loss {} vs {loss}",
            st.loss
        );
        let norm: f64 = g
            .named()
            .iter()
            .flat_map(|(_, _, v)| v.iter())
            .chain(dw_y.iter())
            .chain(db_y.iter())
            .map(|v| v * v)
            .sum::<f64>()
            .sqrt();
        assert!(
            (st.grad_norm as f64 - norm).abs() <= 1e-4 * norm,
            "{cell}: norm {} vs {norm}",
            st.grad_norm
        );
        let grads = tr.grads(gpu).unwrap().expect("a step was taken");
        for ((name, _, got), (_, _, want)) in grads.named().into_iter().zip(g.named()) {
            assert_close(compare(&format!("{cell} grad {name}"), got, want, 1e-5, 1e-3));
        }
        let after = tr.weights(gpu).unwrap();
        for ((name, _, got), ((_, _, w0), (_, _, gr))) in
            after.named().into_iter().zip(w.named().into_iter().zip(g.named()))
        {
            let want: Vec<f64> = w0.iter().zip(gr).map(|(a, d)| a - lr as f64 * d).collect();
            assert_close(compare(&format!("{cell} {name} after SGD"), got, &want, 1e-5, 1e-4));
        }
        let (w_y2, b_y2) = tr.head(gpu).unwrap();
        let want: Vec<f64> =
            w_y.iter().zip(&dw_y).map(|(&a, d)| a as f64 - lr as f64 * d).collect();
        assert_close(compare("W_y after SGD", &w_y2, &want, 1e-5, 1e-4));
        let want: Vec<f64> =
            b_y.iter().zip(&db_y).map(|(&a, d)| a as f64 - lr as f64 * d).collect();
        assert_close(compare("b_y after SGD", &b_y2, &want, 1e-5, 1e-4));
    }
}

#[test]
fn adam_first_step_and_norm_clipping_follow_pytorch_rules() {
    let gpu = gpu();
    let (w, x, classes, t, b, o) = setup(CellKind::Lstm, 1, false);
    let (lr, tau) = (0.01f32, 0.05f32);
    let mut cfg = TrainConfig::new(Optimizer::adam(lr), Loss::CrossEntropy { classes: o });
    cfg.clip_norm = Some(tau);
    let mut tr = Trainer::new(gpu, &w, cfg, t, b).unwrap();
    let (w_y, b_y) = tr.head(gpu).unwrap();
    let xd: Vec<f64> = x.iter().map(|&v| v as f64).collect();
    let (_, g, _, _) = cpu_step(&w, &w_y, &b_y, &xd, t, b, &classes, o);
    let st = tr.step(gpu, &x, Targets::Classes(&classes)).unwrap();
    assert!(st.clipped && st.grad_norm > tau, "norm {} should exceed {tau}", st.grad_norm);
    let scale = (tau / st.grad_norm) as f64;
    let after = tr.weights(gpu).unwrap();
    for ((name, _, got), ((_, _, w0), (_, _, gr))) in
        after.named().into_iter().zip(w.named().into_iter().zip(g.named()))
    {
        // Adam's first update: m̂ = g, v̂ = g², so Δ = lr·g/(|g| + eps), with g = scale·grad.
        let want: Vec<f64> = w0
            .iter()
            .zip(gr)
            .map(|(a, d)| {
                let gs = scale * d;
                a - lr as f64 * gs / (gs.abs() + 1e-8)
            })
            .collect();
        assert_close(compare(&format!("{name} after Adam"), got, &want, 2e-5, 1e-4));
    }
}

#[test]
fn training_is_bitwise_repeatable() {
    let gpu = gpu();
    let (w, x, classes, t, b, o) = setup(CellKind::Gru, 2, false);
    let run = || {
        let mut cfg = TrainConfig::new(Optimizer::adam(0.01), Loss::CrossEntropy { classes: o });
        cfg.clip_norm = Some(1.0);
        cfg.carry_state = true;
        let mut tr = Trainer::new(gpu, &w, cfg, t, b).unwrap();
        let losses: Vec<f32> =
            (0..3).map(|_| tr.step(gpu, &x, Targets::Classes(&classes)).unwrap().loss).collect();
        (losses, tr.weights(gpu).unwrap(), tr.head(gpu).unwrap())
    };
    let (a, b2) = (run(), run());
    assert_eq!(a.0, b2.0);
    assert_eq!(a.1, b2.1);
    assert_eq!(a.2, b2.2);
}

/// The adding problem (Hochreiter & Schmidhuber 1997): inputs are (value, marker) pairs and
/// the answer is the sum of the two marked values. Here every step is scored on the sum of
/// the marked values seen so far, so the net must remember the first marked value until
/// the second arrives. A 2-layer LSTM with Adam must bring the last step's error well below
/// the 0.167 of always predicting the mean.
#[test]
fn two_layer_lstm_learns_the_adding_problem() {
    let gpu = gpu();
    let (t, b, h) = (12, 32, 24);
    let spec = RnnSpec::new(CellKind::Lstm, 2, h).layers(2);
    let w = Weights::init(spec, 1).unwrap();
    let mut cfg = TrainConfig::new(Optimizer::adam(0.01), Loss::Mse { outputs: 1 });
    cfg.clip_norm = Some(1.0);
    let mut tr = Trainer::new(gpu, &w, cfg, t, b).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let batch = |rng: &mut rand::rngs::StdRng| {
        let mut x = vec![0.0f32; t * b * 2];
        let mut y = vec![0.0f32; t * b];
        for s in 0..b {
            let i = rng.random_range(0..t / 2);
            let j = rng.random_range(t / 2..t);
            let mut sum = 0.0;
            for step in 0..t {
                let v: f32 = rng.random_range(0.0..1.0);
                let mark = if step == i || step == j { 1.0 } else { 0.0 };
                x[(step * b + s) * 2] = v;
                x[(step * b + s) * 2 + 1] = mark;
                sum += v * mark;
                y[step * b + s] = sum;
            }
        }
        (x, y)
    };
    let mut first = vec![];
    let mut last = vec![];
    for it in 0..400 {
        let (x, y) = batch(&mut rng);
        let st = tr.step(gpu, &x, Targets::Values(&y)).unwrap();
        if it < 10 {
            first.push(st.loss);
        }
        if it >= 390 {
            last.push(st.loss);
        }
    }
    let (f, l) = (first.iter().sum::<f32>() / 10.0, last.iter().sum::<f32>() / 10.0);
    assert!(l < f / 10.0, "loss went from {f} to {l}");
    // The last step's predictions beat the mean predictor (MSE 1/6) clearly.
    let (x, y) = batch(&mut rng);
    let model = tr.model();
    let out = model.forward(gpu, &wgpu_rnn::Input::new(&x, t, b), Default::default()).unwrap();
    let (w_y, b_y) = tr.head(gpu).unwrap();
    let mut err = 0.0;
    for s in 0..b {
        let hrow = &out.output[((t - 1) * b + s) * h..((t - 1) * b + s + 1) * h];
        let pred: f32 = b_y[0] + hrow.iter().zip(&w_y).map(|(a, c)| a * c).sum::<f32>();
        err += (pred - y[(t - 1) * b + s]).powi(2) / b as f32;
    }
    eprintln!("adding problem: loss {f:.4} -> {l:.4}, last-step MSE {err:.4}");
    assert!(err < 0.05, "last-step MSE {err} (mean predictor: 0.167)");
}

/// SGD with momentum (two steps), Adagrad and elementwise clipping follow torch.optim's
/// rules; truncated BPTT starts step 2 from step 1's final state.
#[test]
fn momentum_adagrad_clip_value_and_carried_state() {
    let gpu = gpu();
    let (w, x, classes, t, b, o) = setup(CellKind::Lstm, 1, false);
    let xd: Vec<f64> = x.iter().map(|&v| v as f64).collect();
    let updated = |opt: Optimizer, clip_value: Option<f32>, f: &dyn Fn(f64, f64) -> f64| {
        let mut cfg = TrainConfig::new(opt, Loss::CrossEntropy { classes: o });
        cfg.clip_value = clip_value;
        let mut tr = Trainer::new(gpu, &w, cfg, t, b).unwrap();
        let (w_y, b_y) = tr.head(gpu).unwrap();
        let (_, g, _, _) = cpu_step(&w, &w_y, &b_y, &xd, t, b, &classes, o);
        tr.step(gpu, &x, Targets::Classes(&classes)).unwrap();
        let after = tr.weights(gpu).unwrap();
        for ((name, _, got), ((_, _, w0), (_, _, gr))) in
            after.named().into_iter().zip(w.named().into_iter().zip(g.named()))
        {
            let want: Vec<f64> = w0.iter().zip(gr).map(|(&a, &d)| f(a, d)).collect();
            assert_close(compare(&format!("{opt:?} {name}"), got, &want, 2e-5, 1e-4));
        }
        tr
    };
    let (lr, c) = (0.3f64, 0.002f64);
    updated(Optimizer::Adagrad { lr: lr as f32, eps: 1e-10 }, None, &|a, g| {
        a - lr * g / ((g * g).sqrt() + 1e-10)
    });
    updated(Optimizer::Sgd { lr: lr as f32, momentum: 0.0 }, Some(c as f32), &|a, g| {
        a - lr * g.clamp(-c, c)
    });
    // Momentum: the second update is lr·(m·g1 + g2), g2 taken at the updated weights.
    let m = 0.9;
    let mut tr =
        updated(Optimizer::Sgd { lr: lr as f32, momentum: m as f32 }, None, &|a, g| a - lr * g);
    let w1 = tr.weights(gpu).unwrap();
    let (w_y1, b_y1) = tr.head(gpu).unwrap();
    let (_, g2, _, _) = cpu_step(&w1, &w_y1, &b_y1, &xd, t, b, &classes, o);
    let (w_y0, b_y0) = Trainer::new(
        gpu,
        &w,
        TrainConfig::new(Optimizer::adam(0.1), Loss::CrossEntropy { classes: o }),
        t,
        b,
    )
    .unwrap()
    .head(gpu)
    .unwrap();
    let (_, g1, _, _) = cpu_step(&w, &w_y0, &b_y0, &xd, t, b, &classes, o);
    tr.step(gpu, &x, Targets::Classes(&classes)).unwrap();
    let w2 = tr.weights(gpu).unwrap();
    for ((name, _, got), ((_, _, a), ((_, _, d1), (_, _, d2)))) in w2
        .named()
        .into_iter()
        .zip(w1.named().into_iter().zip(g1.named().into_iter().zip(g2.named())))
    {
        let want: Vec<f64> = a
            .iter()
            .zip(d1.iter().zip(d2))
            .map(|(&a, (&d1, &d2))| a - lr * (m * d1 + d2))
            .collect();
        assert_close(compare(&format!("momentum step 2 {name}"), got, &want, 2e-5, 1e-4));
    }

    // Truncated BPTT: with carry_state, step 2's loss is that of a forward from step 1's h_n.
    let mut cfg = TrainConfig::new(
        Optimizer::Sgd { lr: 0.1, momentum: 0.0 },
        Loss::CrossEntropy { classes: o },
    );
    cfg.carry_state = true;
    let mut tr = Trainer::new(gpu, &w, cfg, t, b).unwrap();
    tr.step(gpu, &x, Targets::Classes(&classes)).unwrap();
    let first =
        reference::forward(&w, &SeqBatch { t, b, x: &xd, h0: None, c0: None, lengths: None })
            .unwrap();
    let (w1, (w_y1, b_y1)) = (tr.weights(gpu).unwrap(), tr.head(gpu).unwrap());
    let x2: Vec<f32> = x.iter().map(|v| -v).collect();
    let x2d: Vec<f64> = x2.iter().map(|&v| v as f64).collect();
    let (want, _, _, _) = cpu_step_from(
        &w1,
        &w_y1,
        &b_y1,
        &x2d,
        t,
        b,
        &classes,
        o,
        Some(&first.h_n),
        Some(&first.c_n),
    );
    let (fresh, _, _, _) = cpu_step(&w1, &w_y1, &b_y1, &x2d, t, b, &classes, o);
    let got = tr.step(gpu, &x2, Targets::Classes(&classes)).unwrap().loss as f64;
    assert!(
        (got - want).abs() <= 1e-5 * want,
        "carried-state loss {got} vs {want} (from zeros: {fresh})"
    );
    assert!((fresh - want).abs() > 1e-4, "the test needs the carried state to matter");
}

/// A forward/backward through `trainer.model()` with another T and B must not disturb the
/// trainer: its head and optimizer stay bound to the trainer's own buffers, so the steps
/// after it give the same losses and weights as steps without it.
#[test]
fn model_calls_between_steps_leave_training_unchanged() {
    use wgpu_rnn::gpu::backward::GradInput;
    use wgpu_rnn::Input;
    let gpu = gpu();
    let (w, x, classes, t, b, o) = setup(CellKind::Lstm, 1, false);
    let run = |interleave: bool| {
        let cfg = TrainConfig::new(
            Optimizer::Sgd { lr: 0.5, momentum: 0.0 },
            Loss::CrossEntropy { classes: o },
        );
        let mut tr = Trainer::new(gpu, &w, cfg, t, b).unwrap();
        let mut losses = vec![tr.step(gpu, &x, Targets::Classes(&classes)).unwrap().loss];
        if interleave {
            let (t2, b2) = (t + 2, b + 1);
            let x2 = vec![0.25f32; t2 * b2 * 6];
            let dy = vec![1.0f32; t2 * b2 * 10];
            let grad = GradInput { d_output: &dy, d_h_n: None, d_c_n: None };
            tr.model().forward_backward(gpu, &Input::new(&x2, t2, b2), &grad, None).unwrap();
        }
        for _ in 0..2 {
            losses.push(tr.step(gpu, &x, Targets::Classes(&classes)).unwrap().loss);
        }
        (losses, tr.weights(gpu).unwrap(), tr.grads(gpu).unwrap().unwrap())
    };
    let (plain, interleaved) = (run(false), run(true));
    assert_eq!(plain.0, interleaved.0, "losses with and without a model call between steps");
    assert_eq!(plain.1, interleaved.1, "weights after the steps");
    assert_eq!(plain.2, interleaved.2, "gradients of the last step");
}
