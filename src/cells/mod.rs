//! The maths of one cell for one batch row, in f64: the CPU twin of `shaders/<cell>.wgsl`.
//!
//! Every cell sees its gate pre-activations split in two halves, as cuDNN and PyTorch
//! compute them: `xg` = W_ih·x + b_ih and `hg` = W_hh·h + b_hh, each [G*H]. (GRU needs
//! them apart: n = tanh(xg_n + r * hg_n).) `backward` recomputes the activations from
//! the same inputs, so the forward pass only has to keep xg, hg, h_prev and c_prev.

pub mod gru;
pub mod lstm;
pub mod rnn;

use crate::spec::CellKind;

/// Gradients of one step for one batch row.
pub struct StepGrads {
    /// dL/d xg [G*H]
    pub d_xg: Vec<f64>,
    /// dL/d hg [G*H]
    pub d_hg: Vec<f64>,
    /// dL/d h_prev through paths other than hg (GRU's z*h) [H]
    pub dh_prev_direct: Vec<f64>,
    /// dL/d c_prev [H] (LSTM; empty otherwise)
    pub dc_prev: Vec<f64>,
}

pub fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// One step: returns (h_new [H], c_new [H] or empty).
pub fn forward(
    cell: CellKind,
    xg: &[f64],
    hg: &[f64],
    h_prev: &[f64],
    c_prev: &[f64],
) -> (Vec<f64>, Vec<f64>) {
    match cell {
        CellKind::RnnTanh => (rnn::forward(xg, hg, false), vec![]),
        CellKind::RnnRelu => (rnn::forward(xg, hg, true), vec![]),
        CellKind::Lstm => lstm::forward(xg, hg, c_prev),
        CellKind::Gru => (gru::forward(xg, hg, h_prev), vec![]),
    }
}

/// One step backwards, given dL/dh_new and (LSTM) dL/dc_new.
pub fn backward(
    cell: CellKind,
    xg: &[f64],
    hg: &[f64],
    h_prev: &[f64],
    c_prev: &[f64],
    dh: &[f64],
    dc: &[f64],
) -> StepGrads {
    match cell {
        CellKind::RnnTanh => rnn::backward(xg, hg, dh, false),
        CellKind::RnnRelu => rnn::backward(xg, hg, dh, true),
        CellKind::Lstm => lstm::backward(xg, hg, c_prev, dh, dc),
        CellKind::Gru => gru::backward(xg, hg, h_prev, dh),
    }
}

/// The activated gates from the pre-activations, [G*H]: LSTM (i, f, g, o), GRU (r, z, n),
/// RNN the activation itself.
pub fn activations(cell: CellKind, xg: &[f64], hg: &[f64]) -> Vec<f64> {
    let h = xg.len() / cell.gates();
    match cell {
        CellKind::RnnTanh => rnn::forward(xg, hg, false),
        CellKind::RnnRelu => rnn::forward(xg, hg, true),
        CellKind::Lstm => (0..4 * h)
            .map(|k| {
                let a = xg[k] + hg[k];
                if k / h == 2 {
                    a.tanh()
                } else {
                    sigmoid(a)
                }
            })
            .collect(),
        CellKind::Gru => {
            let mut v = vec![0.0; 3 * h];
            for j in 0..h {
                v[j] = sigmoid(xg[j] + hg[j]);
                v[h + j] = sigmoid(xg[h + j] + hg[h + j]);
                v[2 * h + j] = (xg[2 * h + j] + v[j] * hg[2 * h + j]).tanh();
            }
            v
        }
    }
}
