//! The maths of one cell for one batch row, in f64: the CPU twin of `shaders/<cell>.wgsl`.
//!
//! Every cell sees its gate pre-activations split in two halves, as cuDNN and PyTorch
//! compute them: `xg` = W_ih·x + b_ih and `hg` = W_hh·h + b_hh, each \[G*H\]. (GRU needs
//! them apart: n = tanh(xg_n + r * hg_n).) `backward` recomputes the activations from
//! the same inputs, so the forward pass only has to keep xg, hg, h_prev and c_prev.
//!
//! Every cell is described once, in `CELLS`: its name, PyTorch's names, its gates and their
//! activations, its WGSL file and its CPU twin. Adding a per-unit cell means its WGSL file,
//! its CPU twin, one `CellKind` variant with its `Cell` entry here, and its fixtures (see
//! the README, "Adding a cell").

pub mod gru;
pub mod linear;
pub mod lstm;
pub mod rnn;

use crate::error::{Error, Result};
use std::fmt;

/// Which recurrence a layer computes. Its description is `self.cell()`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CellKind {
    /// Elman RNN with tanh (PyTorch `nn.RNN`, nonlinearity "tanh").
    RnnTanh,
    /// Elman RNN with relu (PyTorch `nn.RNN`, nonlinearity "relu").
    RnnRelu,
    /// LSTM (PyTorch `nn.LSTM`).
    Lstm,
    /// GRU (PyTorch `nn.GRU`).
    Gru,
    /// minGRU (Feng et al. 2024): gates from x_t only, h_t = (1-z)·h_{t-1} + z·g(h̃).
    MinGru,
    /// minLSTM (Feng et al. 2024): h_t = f'·h_{t-1} + i'·g(h̃), f' + i' = 1.
    MinLstm,
}

/// Every registered cell: what `validate`, the tests and the kernel permutations iterate.
pub const CELLS: [Cell; 6] = [
    Cell {
        kind: CellKind::RnnTanh,
        name: "rnn_tanh",
        torch: ("rnn", "tanh"),
        gates: &[Gate { name: "h", activation: Activation::Tanh }],
        has_cell_state: false,
        split_h: false,
        linear: false,
        wgsl_file: "rnn.wgsl",
        wgsl: include_str!("../../shaders/rnn.wgsl"),
        wgsl_consts: "const RELU: bool = false;",
        forward: rnn::step_tanh,
        backward: rnn::step_backward_tanh,
        activations: rnn::activations_tanh,
    },
    Cell {
        kind: CellKind::RnnRelu,
        name: "rnn_relu",
        torch: ("rnn", "relu"),
        gates: &[Gate { name: "h", activation: Activation::Relu }],
        has_cell_state: false,
        split_h: false,
        linear: false,
        wgsl_file: "rnn.wgsl",
        wgsl: include_str!("../../shaders/rnn.wgsl"),
        wgsl_consts: "const RELU: bool = true;",
        forward: rnn::step_relu,
        backward: rnn::step_backward_relu,
        activations: rnn::activations_relu,
    },
    Cell {
        kind: CellKind::Lstm,
        name: "lstm",
        torch: ("lstm", "tanh"),
        gates: &[
            Gate { name: "i", activation: Activation::Sigmoid },
            Gate { name: "f", activation: Activation::Sigmoid },
            Gate { name: "g", activation: Activation::Tanh },
            Gate { name: "o", activation: Activation::Sigmoid },
        ],
        has_cell_state: true,
        split_h: false,
        linear: false,
        wgsl_file: "lstm.wgsl",
        wgsl: include_str!("../../shaders/lstm.wgsl"),
        wgsl_consts: "",
        forward: lstm::step,
        backward: lstm::step_backward,
        activations: lstm::activations,
    },
    Cell {
        kind: CellKind::Gru,
        name: "gru",
        torch: ("gru", "tanh"),
        gates: &[
            Gate { name: "r", activation: Activation::Sigmoid },
            Gate { name: "z", activation: Activation::Sigmoid },
            Gate { name: "n", activation: Activation::Tanh },
        ],
        has_cell_state: false,
        split_h: true,
        linear: false,
        wgsl_file: "gru.wgsl",
        wgsl: include_str!("../../shaders/gru.wgsl"),
        wgsl_consts: "",
        forward: gru::step,
        backward: gru::step_backward,
        activations: gru::activations,
    },
    Cell {
        kind: CellKind::MinGru,
        name: "mingru",
        torch: ("mingru", "none"),
        gates: &[
            Gate { name: "z", activation: Activation::Sigmoid },
            Gate { name: "h", activation: Activation::Positive },
        ],
        has_cell_state: false,
        split_h: false,
        linear: true,
        wgsl_file: "mingru.wgsl",
        wgsl: include_str!("../../shaders/mingru.wgsl"),
        wgsl_consts: "",
        forward: linear::mingru_step,
        backward: linear::mingru_step_backward,
        activations: linear::mingru_activations,
    },
    Cell {
        kind: CellKind::MinLstm,
        name: "minlstm",
        torch: ("minlstm", "none"),
        gates: &[
            Gate { name: "f", activation: Activation::Sigmoid },
            Gate { name: "i", activation: Activation::Sigmoid },
            Gate { name: "h", activation: Activation::Positive },
        ],
        has_cell_state: false,
        split_h: false,
        linear: true,
        wgsl_file: "minlstm.wgsl",
        wgsl: include_str!("../../shaders/minlstm.wgsl"),
        wgsl_consts: "",
        forward: linear::minlstm_step,
        backward: linear::minlstm_step_backward,
        activations: linear::minlstm_activations,
    },
];

/// A gate's activation function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    /// 1 / (1 + e^-x)
    Sigmoid,
    /// tanh x
    Tanh,
    /// max(x, 0)
    Relu,
    /// The linear cells' g: x + 0.5 for x >= 0, 1 / (1 + e^-x) below.
    Positive,
}

impl Activation {
    /// Its name, as plots and reports print it.
    pub fn name(self) -> &'static str {
        match self {
            Activation::Sigmoid => "sigmoid",
            Activation::Tanh => "tanh",
            Activation::Relu => "relu",
            Activation::Positive => "g",
        }
    }

    /// The derivative at the point where the activation's output is `y`.
    pub fn derivative_at_output(self, y: f64) -> f64 {
        match self {
            Activation::Sigmoid => y * (1.0 - y),
            Activation::Tanh => 1.0 - y * y,
            Activation::Relu => f64::from(u8::from(y > 0.0)),
            // g >= 0.5 exactly where its argument is >= 0 (slope 1); below it is σ.
            Activation::Positive if y >= 0.5 => 1.0,
            Activation::Positive => y * (1.0 - y),
        }
    }
}

/// One gate: a block of H rows of the weight matrices.
#[derive(Clone, Copy, Debug)]
pub struct Gate {
    /// PyTorch's letter for it (LSTM i, f, g, o; GRU r, z, n; RNN h).
    pub name: &'static str,
    /// What turns its pre-activation into its value.
    pub activation: Activation,
}

/// CPU twin of one step: (xg, hg, h_prev, c_prev) -> (h_new \[H\], c_new \[H\] or empty).
pub type StepFn = fn(&[f64], &[f64], &[f64], &[f64]) -> (Vec<f64>, Vec<f64>);
/// CPU twin of one step backwards: (xg, hg, h_prev, c_prev, dh, dc) -> gradients.
pub type StepBackwardFn = fn(&[f64], &[f64], &[f64], &[f64], &[f64], &[f64]) -> StepGrads;
/// The activated gates \[G*H\] from the pre-activations (xg, hg).
pub type ActivationsFn = fn(&[f64], &[f64]) -> Vec<f64>;

/// Everything the engine knows about one cell.
#[derive(Clone, Copy, Debug)]
pub struct Cell {
    /// Which cell this describes.
    pub kind: CellKind,
    /// Name in the CLI, kernel cache keys, bench groups and reports.
    pub name: &'static str,
    /// PyTorch's module kind and nonlinearity, as checkpoint metadata writes them.
    pub torch: (&'static str, &'static str),
    /// Gates in the row order of PyTorch's weight matrices (G = their count).
    pub gates: &'static [Gate],
    /// Carries a cell state c beside h (LSTM).
    pub has_cell_state: bool,
    /// The last gate's recurrent part is kept apart from its input part (GRU's
    /// n = tanh(xg_n + r·hg_n)): the fused step gives it the 4th column of its 4 (so this
    /// needs G = 3), and backward keeps dL/dxg and dL/dhg in two buffers.
    pub split_h: bool,
    /// A linear recurrence h_t = a_t ⊙ h_{t-1} + b_t whose gates read x_t only: no
    /// `weight_hh`/`bias_hh`, and the time loop runs as a scan (scan*.wgsl).
    pub linear: bool,
    /// The WGSL file (in shaders/) with `cell_update` and `cell_backward` (linear cells:
    /// `lin_coeffs` and `lin_backward`).
    pub wgsl_file: &'static str,
    /// Its source.
    pub wgsl: &'static str,
    /// WGSL constants the file reads, set per cell (RNN's RELU).
    pub wgsl_consts: &'static str,
    /// CPU twin of the forward step.
    pub forward: StepFn,
    /// CPU twin of the backward step.
    pub backward: StepBackwardFn,
    /// CPU twin of the gate activations (what traces and stability reports show).
    pub activations: ActivationsFn,
}

impl CellKind {
    /// Every registered cell kind, in `CELLS` order.
    pub const ALL: [CellKind; CELLS.len()] = {
        let mut all = [CellKind::RnnTanh; CELLS.len()];
        let mut i = 0;
        while i < CELLS.len() {
            all[i] = CELLS[i].kind;
            i += 1;
        }
        all
    };

    /// This cell's description.
    pub fn cell(self) -> &'static Cell {
        match self {
            CellKind::RnnTanh => &CELLS[0],
            CellKind::RnnRelu => &CELLS[1],
            CellKind::Lstm => &CELLS[2],
            CellKind::Gru => &CELLS[3],
            CellKind::MinGru => &CELLS[4],
            CellKind::MinLstm => &CELLS[5],
        }
    }

    /// Gates per hidden unit (G).
    pub fn gates(self) -> usize {
        self.cell().gates.len()
    }

    /// Short name, as used by the CLI, shaders and bench groups.
    pub fn name(self) -> &'static str {
        self.cell().name
    }

    /// Parses `cell` (a registered name such as `lstm`, or PyTorch's `rnn` with
    /// `nonlinearity` `tanh` or `relu`).
    pub fn parse(cell: &str, nonlinearity: &str) -> Result<Self> {
        let (cell, nl) = (cell.to_ascii_lowercase(), nonlinearity.to_ascii_lowercase());
        if let Some(c) = CELLS.iter().find(|c| c.name == cell) {
            return Ok(c.kind);
        }
        let torch: Vec<&Cell> = CELLS.iter().filter(|c| c.torch.0 == cell).collect();
        match torch.iter().find(|c| torch.len() == 1 || c.torch.1 == nl) {
            Some(c) => Ok(c.kind),
            None if !torch.is_empty() => {
                let ok: Vec<&str> = torch.iter().map(|c| c.torch.1).collect();
                Err(Error::Config(format!(
                    "nonlinearity `{nl}` is not one of {} for cell `{cell}`",
                    ok.join(", ")
                )))
            }
            None => {
                let mut names: Vec<&str> = CELLS.iter().map(|c| c.torch.0).collect();
                names.dedup();
                Err(Error::Config(format!("cell `{cell}` is not one of {}", names.join(", "))))
            }
        }
    }

    /// Whether the cell is a linear recurrence run as a scan (minGRU, minLSTM): no W_hh.
    pub fn linear(self) -> bool {
        self.cell().linear
    }

    /// Whether the cell carries a cell state c (LSTM).
    pub fn has_cell_state(self) -> bool {
        self.cell().has_cell_state
    }

    /// Whether dL/d(W_ih·x + b_ih) equals dL/d(W_hh·h + b_hh) gate by gate: true except for
    /// cells that keep a gate's recurrent part apart (GRU). Backward then keeps one buffer.
    pub fn same_gate_grads(self) -> bool {
        !self.cell().split_h
    }
}

impl fmt::Display for CellKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Gradients of one step for one batch row.
pub struct StepGrads {
    /// dL/d xg \[G*H\]
    pub d_xg: Vec<f64>,
    /// dL/d hg \[G*H\]
    pub d_hg: Vec<f64>,
    /// dL/d h_prev through paths other than hg (GRU's z*h) \[H\]
    pub dh_prev_direct: Vec<f64>,
    /// dL/d c_prev \[H\] (LSTM; empty otherwise)
    pub dc_prev: Vec<f64>,
}

/// The logistic function.
pub fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// One step: returns (h_new \[H\], c_new \[H\] or empty).
pub fn forward(
    cell: CellKind,
    xg: &[f64],
    hg: &[f64],
    h_prev: &[f64],
    c_prev: &[f64],
) -> (Vec<f64>, Vec<f64>) {
    (cell.cell().forward)(xg, hg, h_prev, c_prev)
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
    (cell.cell().backward)(xg, hg, h_prev, c_prev, dh, dc)
}

/// The activated gates from the pre-activations, \[G*H\]: LSTM (i, f, g, o), GRU (r, z, n),
/// RNN the activation itself.
pub fn activations(cell: CellKind, xg: &[f64], hg: &[f64]) -> Vec<f64> {
    (cell.cell().activations)(xg, hg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_entries_are_in_kind_order_and_consistent() {
        for (i, c) in CELLS.iter().enumerate() {
            assert!(std::ptr::eq(c.kind.cell(), &CELLS[i]), "{} at {i}", c.name);
            assert_eq!(CellKind::parse(c.name, "tanh").unwrap(), c.kind);
            assert_eq!(CellKind::parse(c.torch.0, c.torch.1).unwrap(), c.kind);
            // the fused step has 4 accumulator columns per unit; a split h part takes the 4th
            assert!(c.gates.len() <= 4 && (!c.split_h || c.gates.len() == 3), "{}", c.name);
        }
    }
}
