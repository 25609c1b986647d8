//! The CPU reference against PyTorch's golden fixtures and against finite differences.

mod common;
use common::*;
use wgpu_rnn::check::compare;
use wgpu_rnn::reference::{self, SeqBatch};
use wgpu_rnn::spec::ParamKind;
use wgpu_rnn::{CellKind, RnnSpec, Weights};

#[test]
fn reference_matches_pytorch_golden_forward_and_gradients() {
    for name in FIXTURES {
        let g = Golden::load(name);
        let fwd = reference::forward(&g.weights, &g.batch()).unwrap();
        let (atol, rtol) = (1e-6, 1e-6);
        assert_close(compare(&format!("{name} output"), &fwd.output, &g.get("output"), atol, rtol));
        assert_close(compare(&format!("{name} h_n"), &fwd.h_n, &g.get("h_n"), atol, rtol));
        if let Some(c_n) = g.opt("c_n") {
            assert_close(compare(&format!("{name} c_n"), &fwd.c_n, &c_n, atol, rtol));
        }
        let d_c_n = g.opt("d_c_n");
        let grads = reference::backward(
            &g.weights,
            &fwd,
            &g.get("d_output"),
            Some(&g.get("d_h_n")),
            d_c_n.as_deref(),
        )
        .unwrap();
        for (pname, _, values) in grads.weights.named() {
            assert_close(compare(
                &format!("{name} grad.{pname}"),
                values,
                &g.get(&format!("grad.{pname}")),
                atol,
                rtol,
            ));
        }
        assert_close(compare(&format!("{name} grad.x"), &grads.x, &g.get("grad.x"), atol, rtol));
        assert_close(compare(&format!("{name} grad.h0"), &grads.h0, &g.get("grad.h0"), atol, rtol));
        if let Some(gc0) = g.opt("grad.c0") {
            assert_close(compare(&format!("{name} grad.c0"), &grads.c0, &gc0, atol, rtol));
        }
    }
}

/// Central differences of the loss on every parameter and input, for every cell, with two
/// layers, both directions and uneven lengths.
#[test]
fn reference_gradients_match_finite_differences() {
    for cell in CellKind::ALL {
        let spec = RnnSpec::new(cell, 3, 4).layers(2).bidirectional(true);
        let (t, b) = (4, 3);
        let mut w = Weights::init(spec, 7).unwrap();
        let x = random_vec(t * b * 3, 1, 1.0);
        let n_state = 2 * 2 * b * 4;
        let h0 = random_vec(n_state, 2, 0.5);
        let c0 = random_vec(n_state, 3, 0.5);
        let c0 = cell.has_cell_state().then_some(c0);
        let lengths = vec![4, 1, 3];
        let dy = random_vec(t * b * 8, 4, 1.0);
        let dhn = random_vec(n_state, 5, 1.0);
        let dcn = cell.has_cell_state().then(|| random_vec(n_state, 6, 1.0));

        let run = |w: &Weights, x: &[f64], h0: &[f64], c0: Option<&[f64]>| {
            let batch = SeqBatch { t, b, x, h0: Some(h0), c0, lengths: Some(&lengths) };
            let f = reference::forward(w, &batch).unwrap();
            reference::loss(&f, &dy, Some(&dhn), dcn.as_deref())
        };
        let batch =
            SeqBatch { t, b, x: &x, h0: Some(&h0), c0: c0.as_deref(), lengths: Some(&lengths) };
        let fwd = reference::forward(&w, &batch).unwrap();
        let grads = reference::backward(&w, &fwd, &dy, Some(&dhn), dcn.as_deref()).unwrap();

        let eps = 1e-6;
        let check = |what: String, analytic: f64, plus: f64, minus: f64| {
            let numeric = (plus - minus) / (2.0 * eps);
            assert!(
                (analytic - numeric).abs() <= 1e-6 + 1e-5 * numeric.abs(),
                "{cell} {what}: analytic {analytic:.9e} vs finite difference {numeric:.9e}"
            );
        };
        for idx in 0..w.params.len() {
            for &kind in spec.param_kinds() {
                for i in 0..w.params[idx].get(kind).len() {
                    let orig = w.params[idx].get(kind)[i];
                    w.params[idx].get_mut(kind)[i] = orig + eps;
                    let plus = run(&w, &x, &h0, c0.as_deref());
                    w.params[idx].get_mut(kind)[i] = orig - eps;
                    let minus = run(&w, &x, &h0, c0.as_deref());
                    w.params[idx].get_mut(kind)[i] = orig;
                    check(
                        format!("param {idx} {kind:?}[{i}]"),
                        grads.weights.params[idx].get(kind)[i],
                        plus,
                        minus,
                    );
                }
            }
        }
        for i in 0..x.len() {
            let (mut xp, mut xm) = (x.clone(), x.clone());
            xp[i] += eps;
            xm[i] -= eps;
            check(
                format!("x[{i}]"),
                grads.x[i],
                run(&w, &xp, &h0, c0.as_deref()),
                run(&w, &xm, &h0, c0.as_deref()),
            );
        }
        for i in 0..h0.len() {
            let (mut hp, mut hm) = (h0.clone(), h0.clone());
            hp[i] += eps;
            hm[i] -= eps;
            check(
                format!("h0[{i}]"),
                grads.h0[i],
                run(&w, &x, &hp, c0.as_deref()),
                run(&w, &x, &hm, c0.as_deref()),
            );
        }
        if let Some(c0) = &c0 {
            for i in 0..c0.len() {
                let (mut cp, mut cm) = (c0.clone(), c0.clone());
                cp[i] += eps;
                cm[i] -= eps;
                check(
                    format!("c0[{i}]"),
                    grads.c0[i],
                    run(&w, &x, &h0, Some(&cp)),
                    run(&w, &x, &h0, Some(&cm)),
                );
            }
        }
        let _ = ParamKind::WeightIh;
    }
}

#[test]
fn padded_steps_output_zero_and_freeze_the_state() {
    let spec = RnnSpec::new(CellKind::Gru, 2, 3).bidirectional(true);
    let w = Weights::init(spec, 1).unwrap();
    let (t, b) = (5, 2);
    let x = random_vec(t * b * 2, 9, 1.0);
    let full = reference::forward(
        &w,
        &SeqBatch { t, b, x: &x, h0: None, c0: None, lengths: Some(&[5, 2]) },
    )
    .unwrap();
    // Row 1 alone over its 2 steps must give the same output and final state.
    let x1: Vec<f64> = (0..2).flat_map(|s| x[(s * b + 1) * 2..(s * b + 2) * 2].to_vec()).collect();
    let short =
        reference::forward(&w, &SeqBatch { t: 2, b: 1, x: &x1, h0: None, c0: None, lengths: None })
            .unwrap();
    for s in 0..t {
        let row = &full.output[(s * b + 1) * 6..(s * b + 2) * 6];
        if s < 2 {
            assert_eq!(row, &short.output[s * 6..(s + 1) * 6]);
        } else {
            assert!(
                row.iter().all(|&v| v == 0.0),
                "step {s} past the length must be zero: {row:?}"
            );
        }
    }
    for d in 0..2 {
        assert_eq!(&full.h_n[(d * b + 1) * 3..(d * b + 2) * 3], &short.h_n[d * 3..(d + 1) * 3]);
    }
}

/// The measurement behind storing training's saved activations in 16 bits
/// (examples/reserve_precision.rs prints it for more sizes): for the smooth cells, rounding
/// all of them to f16 or bf16 on top of the weights adds less gradient error than rounding
/// the weights alone causes. relu, minGRU and minLSTM are left out: their gradients jump at a
/// kink wherever any rounding moves a pre-activation across it, so their error is set by
/// which units happen to cross, not by the precision. What the GPU rounds
/// (`Saved::GPU_RESERVE`) adds at most a quarter.
#[test]
fn rounding_the_saved_activations_at_most_doubles_the_weight_rounding_gradient_error() {
    use wgpu_rnn::reference::Saved;
    use wgpu_rnn::Precision;
    for cell in [CellKind::RnnTanh, CellKind::Lstm, CellKind::Gru] {
        let spec = RnnSpec::new(cell, 24, 32).layers(2);
        let (t, b) = (20, 3);
        let w = Weights::init(spec, 11).unwrap();
        let x = random_vec(t * b * 24, 21, 1.0);
        let dy = random_vec(t * b * 32, 22, 1.0);
        let batch = SeqBatch { t, b, x: &x, h0: None, c0: None, lengths: None };
        let grad = |w: &Weights, round: Option<(Precision, &[Saved])>| {
            let mut fwd = reference::forward(w, &batch).unwrap();
            let output = fwd.output.clone();
            if let Some((p, which)) = round {
                fwd.round_saved(p, which);
            }
            assert_eq!(fwd.output, output, "round_saved leaves the forward results alone");
            reference::backward(w, &fwd, &dy, None, None).unwrap()
        };
        let exact = grad(&w, None);
        for p in [Precision::F16, Precision::Bf16] {
            let wp = w.to_precision(p);
            let weights_only = grad(&wp, None).relative_error(&exact);
            let all = grad(&wp, Some((p, &Saved::ALL))).relative_error(&exact);
            let u = p.unit_roundoff();
            assert!(
                weights_only > 0.1 * u && weights_only < 10.0 * u,
                "{cell} {p}: weights alone moved the gradients by {weights_only:.2e} (u = {u:.1e})"
            );
            assert!(
                all > weights_only && all <= 2.0 * weights_only,
                "{cell} {p}: saved activations rounded too: {all:.2e} vs {weights_only:.2e}"
            );
            // what the GPU's 16-bit reserve rounds (the sums once, c_{t-1}; h_{t-1} kept)
            let gpu = grad(&wp, Some((p, &Saved::GPU_RESERVE))).relative_error(&exact);
            assert!(
                gpu != weights_only && gpu <= 1.25 * weights_only,
                "{cell} {p}: the GPU's reserve rounded: {gpu:.2e} vs {weights_only:.2e}, all {all:.2e}"
            );
        }
    }
}
