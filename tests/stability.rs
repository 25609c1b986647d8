//! The gradient-stability profile: the textbook case where every Jacobian is ρ·I.

mod common;
use common::*;
use wgpu_rnn::stability::{self, LossAt};
use wgpu_rnn::{CellKind, RnnSpec, Weights};

/// RNN(relu) with W_hh = ρ·I, positive W_ih, inputs and biases: every pre-activation is
/// positive, so dL/dh_t = ρ^(T-1-t)·1 and ‖dL/dh_t‖ = ρ^(T-1-t)·sqrt(H).
fn identity_rnn(rho: f64, h: usize) -> Weights {
    let spec = RnnSpec::new(CellKind::RnnRelu, 3, h);
    let mut w = Weights::init(spec, 1).unwrap();
    let p = &mut w.params[0];
    p.w_ih.iter_mut().for_each(|v| *v = v.abs() + 0.01);
    p.b_ih.iter_mut().for_each(|v| *v = v.abs() + 0.01);
    p.b_hh.iter_mut().for_each(|v| *v = v.abs() + 0.01);
    p.w_hh.iter_mut().for_each(|v| *v = 0.0);
    for j in 0..h {
        p.w_hh[j * h + j] = rho;
    }
    w
}

fn positive_input(t: usize, b: usize) -> Vec<f32> {
    stability::random_input(t, b, 3, 4).iter().map(|v| v.abs() + 0.05).collect()
}

fn check_rho(report: &stability::Report, rho: f64, h: usize, t: usize) {
    for step in 0..t {
        let want = rho.powi((t - 1 - step) as i32) * (h as f64).sqrt();
        let got = report.grad_h_norm[step];
        assert!((got - want).abs() <= 1e-3 * want, "rho {rho} step {step}: {got} vs {want}");
    }
    assert!(
        (report.growth_per_step - rho).abs() < 1e-3,
        "growth {} vs {rho}",
        report.growth_per_step
    );
}

#[test]
fn cpu_norms_follow_rho_power() {
    let (t, b, h) = (50, 2, 8);
    for rho in [0.9, 1.0, 1.1] {
        let w = identity_rnn(rho, h);
        let tr = stability::trace_cpu(&w, &positive_input(t, b), t, b, LossAt::Last).unwrap();
        let r = stability::summarize("rho", &w, &tr, t, b, LossAt::Last, "cpu");
        check_rho(&r, rho, h, t);
        let want = if rho < 0.98 {
            "vanishing"
        } else if rho > 1.02 {
            "exploding"
        } else {
            "stable"
        };
        assert_eq!(r.verdict, want);
        assert!((r.sigma_max[0].1 - rho).abs() < 1e-9);
    }
}

#[test]
fn gpu_norms_follow_rho_power() {
    let (t, b, h) = (50, 2, 8);
    for rho in [0.9, 1.0, 1.1] {
        let w = identity_rnn(rho, h);
        let tr =
            stability::trace_gpu(gpu(), &w, &positive_input(t, b), t, b, LossAt::Last).unwrap();
        check_rho(&stability::summarize("rho", &w, &tr, t, b, LossAt::Last, "gpu"), rho, h, t);
    }
}

/// Per-step norms, saturation and forget gates from the GPU agree with the f64 reference.
#[test]
fn gpu_trace_matches_the_reference() {
    for (cell, layers) in [(CellKind::Lstm, 2), (CellKind::Gru, 1), (CellKind::RnnTanh, 1)] {
        let spec = RnnSpec::new(cell, 5, 12).layers(layers);
        let w = stability::init_weights(
            spec,
            3,
            stability::Init { spectral_radius: Some(1.2), ..Default::default() },
        )
        .unwrap();
        let (t, b) = (30, 3);
        let x = stability::random_input(t, b, 5, 9);
        for at in [LossAt::Last, LossAt::Every] {
            let g = stability::summarize(
                "g",
                &w,
                &stability::trace_gpu(gpu(), &w, &x, t, b, at).unwrap(),
                t,
                b,
                at,
                "gpu",
            );
            let c = stability::summarize(
                "c",
                &w,
                &stability::trace_cpu(&w, &x, t, b, at).unwrap(),
                t,
                b,
                at,
                "cpu",
            );
            for step in 0..t {
                let (gn, cn) = (g.grad_h_norm[step], c.grad_h_norm[step]);
                assert!(
                    (gn - cn).abs() <= 1e-4 * cn + 1e-7,
                    "{cell} {at:?} step {step}: gpu {gn} vs cpu {cn}"
                );
                if let (Some(gc), Some(cc)) = (&g.grad_c_norm, &c.grad_c_norm) {
                    assert!(
                        (gc[step] - cc[step]).abs() <= 1e-4 * cc[step] + 1e-7,
                        "{cell} dc step {step}"
                    );
                }
                assert!(
                    (g.saturation[step] - c.saturation[step]).abs() <= 0.02,
                    "{cell} saturation step {step}"
                );
            }
            assert_eq!(g.verdict, c.verdict);
        }
    }
}
