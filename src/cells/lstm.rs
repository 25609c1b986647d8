//! LSTM, gates i, f, g, o (PyTorch order): c' = f*c + i*g, h' = o*tanh(c').
//! CPU twin of `shaders/lstm.wgsl`.

use super::{sigmoid, StepGrads};

struct Gates {
    i: f64,
    f: f64,
    g: f64,
    o: f64,
}

fn gates(xg: &[f64], hg: &[f64], h: usize, j: usize) -> Gates {
    let a = |k: usize| xg[k * h + j] + hg[k * h + j];
    Gates { i: sigmoid(a(0)), f: sigmoid(a(1)), g: a(2).tanh(), o: sigmoid(a(3)) }
}

/// One step: returns (h' \[H\], c' \[H\]) from xg, hg \[4H\] and c_prev \[H\] (H is
/// `c_prev.len()`).
pub fn forward(xg: &[f64], hg: &[f64], c_prev: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let h = c_prev.len();
    let mut h_new = vec![0.0; h];
    let mut c_new = vec![0.0; h];
    for j in 0..h {
        let g = gates(xg, hg, h, j);
        c_new[j] = g.f * c_prev[j] + g.i * g.g;
        h_new[j] = g.o * c_new[j].tanh();
    }
    (h_new, c_new)
}

/// One step backwards from dL/dh' (`dh`) and dL/dc' (`dc`), both \[H\], recomputing the
/// gates: d_xg = d_hg \[4H\], `dc_prev` \[H\], `dh_prev_direct` zero.
pub fn backward(xg: &[f64], hg: &[f64], c_prev: &[f64], dh: &[f64], dc: &[f64]) -> StepGrads {
    let h = c_prev.len();
    let mut da = vec![0.0; 4 * h];
    let mut dc_prev = vec![0.0; h];
    for j in 0..h {
        let g = gates(xg, hg, h, j);
        let c = g.f * c_prev[j] + g.i * g.g;
        let tc = c.tanh();
        let dct = dc[j] + dh[j] * g.o * (1.0 - tc * tc);
        da[j] = dct * g.g * g.i * (1.0 - g.i);
        da[h + j] = dct * c_prev[j] * g.f * (1.0 - g.f);
        da[2 * h + j] = dct * g.i * (1.0 - g.g * g.g);
        da[3 * h + j] = dh[j] * tc * g.o * (1.0 - g.o);
        dc_prev[j] = dct * g.f;
    }
    StepGrads { d_xg: da.clone(), d_hg: da, dh_prev_direct: vec![0.0; h], dc_prev }
}

/// Registry form of `forward`.
pub fn step(xg: &[f64], hg: &[f64], _h_prev: &[f64], c_prev: &[f64]) -> (Vec<f64>, Vec<f64>) {
    forward(xg, hg, c_prev)
}

/// Registry form of `backward`.
pub fn step_backward(
    xg: &[f64],
    hg: &[f64],
    _h_prev: &[f64],
    c_prev: &[f64],
    dh: &[f64],
    dc: &[f64],
) -> StepGrads {
    backward(xg, hg, c_prev, dh, dc)
}

/// The activated gates i, f, g, o \[4H\].
pub fn activations(xg: &[f64], hg: &[f64]) -> Vec<f64> {
    let h = xg.len() / 4;
    (0..4 * h)
        .map(|k| {
            let a = xg[k] + hg[k];
            if k / h == 2 {
                a.tanh()
            } else {
                sigmoid(a)
            }
        })
        .collect()
}
