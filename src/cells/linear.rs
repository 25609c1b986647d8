//! The linear-recurrence cells of Feng et al., "Were RNNs All We Needed?" (2024): minGRU
//! and minLSTM. Their gates read x_t only, so each step is h_t = a_t ⊙ h_{t-1} + b_t with
//! (a_t, b_t) a function of xg = W_ih·x_t + b_ih alone; the GPU runs the time loop as a
//! scan. CPU twins of `shaders/mingru.wgsl` and `shaders/minlstm.wgsl`.
//!
//! g(v) = v + 0.5 for v >= 0, σ(v) below: the paper's positive activation (continuous at
//! 0, and g(v) >= 0.5 exactly when v >= 0, so its derivative can be read off its output).
//! - minGRU, xg rows (z, h̃): a = 1 - z, b = z·g(v_h), z = σ(v_z).
//! - minLSTM, xg rows (f, i, h̃): f' = f/(f+i), i' = i/(f+i), a = f', b = i'·g(v_h).

use super::{sigmoid, StepGrads};

/// The paper's positive activation g.
pub fn positive(v: f64) -> f64 {
    if v >= 0.0 {
        v + 0.5
    } else {
        sigmoid(v)
    }
}

/// g'(v).
pub fn positive_derivative(v: f64) -> f64 {
    if v >= 0.0 {
        1.0
    } else {
        let s = sigmoid(v);
        s * (1.0 - s)
    }
}

/// minGRU's (a, b) of unit j: a = 1 - z, b = z·g(v_h).
fn mingru_ab(xg: &[f64], h: usize, j: usize) -> (f64, f64) {
    let z = sigmoid(xg[j]);
    (1.0 - z, z * positive(xg[h + j]))
}

/// minLSTM's (a, b) of unit j: a = f/(f+i), b = i/(f+i)·g(v_h).
fn minlstm_ab(xg: &[f64], h: usize, j: usize) -> (f64, f64) {
    let f = sigmoid(xg[j]);
    let i = sigmoid(xg[h + j]);
    let s = f + i;
    (f / s, i / s * positive(xg[2 * h + j]))
}

fn step_with(
    ab: fn(&[f64], usize, usize) -> (f64, f64),
    xg: &[f64],
    h_prev: &[f64],
) -> (Vec<f64>, Vec<f64>) {
    let h = h_prev.len();
    let hn = (0..h)
        .map(|j| {
            let (a, b) = ab(xg, h, j);
            a * h_prev[j] + b
        })
        .collect();
    (hn, vec![])
}

/// minGRU step: (xg \[2H\], hg ignored (no W_hh), h_prev, c_prev ignored) -> (h', []).
pub fn mingru_step(xg: &[f64], _hg: &[f64], h_prev: &[f64], _c: &[f64]) -> (Vec<f64>, Vec<f64>) {
    step_with(mingru_ab, xg, h_prev)
}

/// minLSTM step: (xg \[3H\], hg ignored, h_prev, c_prev ignored) -> (h', []).
pub fn minlstm_step(xg: &[f64], _hg: &[f64], h_prev: &[f64], _c: &[f64]) -> (Vec<f64>, Vec<f64>) {
    step_with(minlstm_ab, xg, h_prev)
}

/// minGRU backward from dL/dh' (`dh`): d_xg \[2H\]; d_hg is zero (there is no W_hh) and
/// dh_prev_direct = a·dh carries the whole gradient to h_{t-1}.
pub fn mingru_step_backward(
    xg: &[f64],
    _hg: &[f64],
    h_prev: &[f64],
    _c: &[f64],
    dh: &[f64],
    _dc: &[f64],
) -> StepGrads {
    let h = h_prev.len();
    let mut d_xg = vec![0.0; 2 * h];
    let mut direct = vec![0.0; h];
    for j in 0..h {
        let z = sigmoid(xg[j]);
        let vh = xg[h + j];
        // h' = (1 - z)·h_prev + z·g(v_h)
        d_xg[j] = dh[j] * (positive(vh) - h_prev[j]) * z * (1.0 - z);
        d_xg[h + j] = dh[j] * z * positive_derivative(vh);
        direct[j] = dh[j] * (1.0 - z);
    }
    StepGrads { d_xg, d_hg: vec![0.0; 2 * h], dh_prev_direct: direct, dc_prev: vec![] }
}

/// minLSTM backward from dL/dh' (`dh`): d_xg \[3H\], d_hg zero, dh_prev_direct = f'·dh.
pub fn minlstm_step_backward(
    xg: &[f64],
    _hg: &[f64],
    h_prev: &[f64],
    _c: &[f64],
    dh: &[f64],
    _dc: &[f64],
) -> StepGrads {
    let h = h_prev.len();
    let mut d_xg = vec![0.0; 3 * h];
    let mut direct = vec![0.0; h];
    for j in 0..h {
        let f = sigmoid(xg[j]);
        let i = sigmoid(xg[h + j]);
        let vh = xg[2 * h + j];
        let s = f + i;
        let (fn_, in_) = (f / s, i / s);
        // h' = f'·h_prev + i'·g(v_h), f' = f/s, i' = i/s
        let d_fn = dh[j] * h_prev[j];
        let d_in = dh[j] * positive(vh);
        let df = (d_fn - d_in) * i / (s * s);
        let di = (d_in - d_fn) * f / (s * s);
        d_xg[j] = df * f * (1.0 - f);
        d_xg[h + j] = di * i * (1.0 - i);
        d_xg[2 * h + j] = dh[j] * in_ * positive_derivative(vh);
        direct[j] = dh[j] * fn_;
    }
    StepGrads { d_xg, d_hg: vec![0.0; 3 * h], dh_prev_direct: direct, dc_prev: vec![] }
}

/// minGRU's activated gates z, g(v_h) \[2H\].
pub fn mingru_activations(xg: &[f64], _hg: &[f64]) -> Vec<f64> {
    let h = xg.len() / 2;
    let mut v = vec![0.0; 2 * h];
    for j in 0..h {
        v[j] = sigmoid(xg[j]);
        v[h + j] = positive(xg[h + j]);
    }
    v
}

/// minLSTM's activated gates f, i, g(v_h) \[3H\] (before the normalisation by f + i).
pub fn minlstm_activations(xg: &[f64], _hg: &[f64]) -> Vec<f64> {
    let h = xg.len() / 3;
    let mut v = vec![0.0; 3 * h];
    for j in 0..h {
        v[j] = sigmoid(xg[j]);
        v[h + j] = sigmoid(xg[h + j]);
        v[2 * h + j] = positive(xg[2 * h + j]);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The backward of one step against central differences of its forward.
    fn check(step: super::super::StepFn, back: super::super::StepBackwardFn, g: usize) {
        let h = 3;
        let xg: Vec<f64> = (0..g * h).map(|i| ((i * 7 % 11) as f64 - 5.0) * 0.37 + 0.05).collect();
        let hp: Vec<f64> = (0..h).map(|i| 0.3 - 0.4 * i as f64).collect();
        let dh: Vec<f64> = (0..h).map(|i| 1.0 + 0.5 * i as f64).collect();
        let loss = |xg: &[f64], hp: &[f64]| -> f64 {
            step(xg, &[], hp, &[]).0.iter().zip(&dh).map(|(a, b)| a * b).sum()
        };
        let grads = back(&xg, &[], &hp, &[], &dh, &[]);
        let eps = 1e-6;
        for k in 0..g * h {
            let (mut p, mut m) = (xg.clone(), xg.clone());
            p[k] += eps;
            m[k] -= eps;
            let fd = (loss(&p, &hp) - loss(&m, &hp)) / (2.0 * eps);
            assert!((fd - grads.d_xg[k]).abs() < 1e-7, "d_xg[{k}]: fd {fd} got {}", grads.d_xg[k]);
        }
        for k in 0..h {
            let (mut p, mut m) = (hp.clone(), hp.clone());
            p[k] += eps;
            m[k] -= eps;
            let fd = (loss(&xg, &p) - loss(&xg, &m)) / (2.0 * eps);
            let got = grads.dh_prev_direct[k];
            assert!((fd - got).abs() < 1e-7, "dh_prev[{k}]: fd {fd} got {got}");
        }
    }

    #[test]
    fn step_backward_matches_finite_differences() {
        check(mingru_step, mingru_step_backward, 2);
        check(minlstm_step, minlstm_step_backward, 3);
    }

    #[test]
    fn positive_activation_is_continuous_and_above_zero() {
        assert_eq!(positive(0.0), 0.5);
        assert!((positive(-1e-12) - 0.5).abs() < 1e-12);
        assert!(positive(-40.0) > 0.0);
        assert_eq!(positive(2.0), 2.5);
    }
}
