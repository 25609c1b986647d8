//! GRU, gates r, z, n (PyTorch order): n = tanh(xg_n + r*hg_n), h' = (1-z)*n + z*h.
//! CPU twin of `shaders/gru.wgsl`.

use super::{sigmoid, StepGrads};

/// One step: returns h' \[H\] from xg, hg \[3H\] and h_prev \[H\].
pub fn forward(xg: &[f64], hg: &[f64], h_prev: &[f64]) -> Vec<f64> {
    let h = h_prev.len();
    (0..h)
        .map(|j| {
            let r = sigmoid(xg[j] + hg[j]);
            let z = sigmoid(xg[h + j] + hg[h + j]);
            let n = (xg[2 * h + j] + r * hg[2 * h + j]).tanh();
            (1.0 - z) * n + z * h_prev[j]
        })
        .collect()
}

/// One step backwards from dL/dh' (`dh`, \[H\]), recomputing the gates. d_xg and d_hg
/// \[3H\] differ in the n block (d_hg_n = d_xg_n·r); `dh_prev_direct` is dh·z, the path
/// through h' = ... + z*h that bypasses hg.
pub fn backward(xg: &[f64], hg: &[f64], h_prev: &[f64], dh: &[f64]) -> StepGrads {
    let h = h_prev.len();
    let mut d_xg = vec![0.0; 3 * h];
    let mut d_hg = vec![0.0; 3 * h];
    let mut direct = vec![0.0; h];
    for j in 0..h {
        let r = sigmoid(xg[j] + hg[j]);
        let z = sigmoid(xg[h + j] + hg[h + j]);
        let n = (xg[2 * h + j] + r * hg[2 * h + j]).tanh();
        let dan = dh[j] * (1.0 - z) * (1.0 - n * n);
        let dar = dan * hg[2 * h + j] * r * (1.0 - r);
        let daz = dh[j] * (h_prev[j] - n) * z * (1.0 - z);
        d_xg[j] = dar;
        d_hg[j] = dar;
        d_xg[h + j] = daz;
        d_hg[h + j] = daz;
        d_xg[2 * h + j] = dan;
        d_hg[2 * h + j] = dan * r;
        direct[j] = dh[j] * z;
    }
    StepGrads { d_xg, d_hg, dh_prev_direct: direct, dc_prev: vec![] }
}

/// Registry form of `forward`.
pub fn step(xg: &[f64], hg: &[f64], h_prev: &[f64], _c_prev: &[f64]) -> (Vec<f64>, Vec<f64>) {
    (forward(xg, hg, h_prev), vec![])
}

/// Registry form of `backward`.
pub fn step_backward(
    xg: &[f64],
    hg: &[f64],
    h_prev: &[f64],
    _c_prev: &[f64],
    dh: &[f64],
    _dc: &[f64],
) -> StepGrads {
    backward(xg, hg, h_prev, dh)
}

/// The activated gates r, z, n \[3H\].
pub fn activations(xg: &[f64], hg: &[f64]) -> Vec<f64> {
    let h = xg.len() / 3;
    let mut v = vec![0.0; 3 * h];
    for j in 0..h {
        v[j] = sigmoid(xg[j] + hg[j]);
        v[h + j] = sigmoid(xg[h + j] + hg[h + j]);
        v[2 * h + j] = (xg[2 * h + j] + v[j] * hg[2 * h + j]).tanh();
    }
    v
}
