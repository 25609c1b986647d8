//! Vanilla RNN: h' = act(xg + hg), act = tanh or relu. CPU twin of `shaders/rnn.wgsl`.

use super::StepGrads;

/// One step: h' = act(xg + hg), act = tanh, or max(·, 0) when `relu`; xg, hg, h' are \[H\].
pub fn forward(xg: &[f64], hg: &[f64], relu: bool) -> Vec<f64> {
    xg.iter().zip(hg).map(|(a, b)| act(a + b, relu)).collect()
}

fn act(a: f64, relu: bool) -> f64 {
    if relu {
        // f64::max(NaN, 0) is 0: a NaN must stay NaN
        if a.is_nan() {
            a
        } else {
            a.max(0.0)
        }
    } else {
        a.tanh()
    }
}

/// One step backwards from dL/dh' (`dh`, \[H\]): d_xg = d_hg = dh·act'(xg + hg);
/// `dh_prev_direct` is zero (h_prev only enters through hg) and `dc_prev` empty.
pub fn backward(xg: &[f64], hg: &[f64], dh: &[f64], relu: bool) -> StepGrads {
    let da: Vec<f64> = (0..dh.len())
        .map(|j| {
            let a = xg[j] + hg[j];
            let d = if relu {
                if a.is_nan() {
                    a // propagates, as PyTorch's would
                } else if a > 0.0 {
                    1.0
                } else {
                    0.0
                }
            } else {
                1.0 - a.tanh().powi(2)
            };
            dh[j] * d
        })
        .collect();
    StepGrads { d_xg: da.clone(), d_hg: da, dh_prev_direct: vec![0.0; dh.len()], dc_prev: vec![] }
}

/// Registry form of `forward` with tanh.
pub fn step_tanh(xg: &[f64], hg: &[f64], _h_prev: &[f64], _c_prev: &[f64]) -> (Vec<f64>, Vec<f64>) {
    (forward(xg, hg, false), vec![])
}

/// Registry form of `forward` with relu.
pub fn step_relu(xg: &[f64], hg: &[f64], _h_prev: &[f64], _c_prev: &[f64]) -> (Vec<f64>, Vec<f64>) {
    (forward(xg, hg, true), vec![])
}

/// Registry form of `backward` with tanh.
pub fn step_backward_tanh(
    xg: &[f64],
    hg: &[f64],
    _h_prev: &[f64],
    _c_prev: &[f64],
    dh: &[f64],
    _dc: &[f64],
) -> StepGrads {
    backward(xg, hg, dh, false)
}

/// Registry form of `backward` with relu.
pub fn step_backward_relu(
    xg: &[f64],
    hg: &[f64],
    _h_prev: &[f64],
    _c_prev: &[f64],
    dh: &[f64],
    _dc: &[f64],
) -> StepGrads {
    backward(xg, hg, dh, true)
}

/// The activated value (the new h) with tanh.
pub fn activations_tanh(xg: &[f64], hg: &[f64]) -> Vec<f64> {
    forward(xg, hg, false)
}

/// The activated value (the new h) with relu.
pub fn activations_relu(xg: &[f64], hg: &[f64]) -> Vec<f64> {
    forward(xg, hg, true)
}
