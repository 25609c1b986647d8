//! The cell specification: what network a set of weights describes.
//!
//! Shape legend (used in every comment of this crate; rightmost dimension fastest):
//!   T = timesteps, B = batch, I = input size (of layer 0), H = hidden size,
//!   G = gates per cell (RNN 1, GRU 3, LSTM 4, minGRU 2, minLSTM 3), D = directions (1 or 2), L = layers,
//!   I_k = input size of layer k (I for k = 0, D*H above).
//! Parameters follow PyTorch exactly: `weight_ih_l{k}[_reverse]` [G*H, I_k],
//! `weight_hh_l{k}[_reverse]` [G*H, H], `bias_ih_l{k}[_reverse]`, `bias_hh_l{k}[_reverse]` \[G*H\].
//! Gate order: LSTM i, f, g, o; GRU r, z, n; minGRU z, h̃; minLSTM f, i, h̃ (the linear
//! cells minGRU and minLSTM have only `weight_ih` and `bias_ih`). Sequences are [T, B, features]; states
//! [L*D, B, H] with index layer*D + direction.

pub use crate::cells::CellKind;
use crate::error::{Error, Result};
pub use crate::precision::Precision;
use std::fmt;

/// A whole (possibly stacked, bidirectional) recurrent network, like `nn.LSTM(...)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RnnSpec {
    /// The recurrence every layer computes.
    pub cell: CellKind,
    /// I: features per timestep of the input sequence.
    pub input_size: usize,
    /// H: hidden units per layer and direction.
    pub hidden_size: usize,
    /// L: stacked layers; layer k > 0 reads layer k-1's output [T, B, D*H].
    pub num_layers: usize,
    /// D = 2: each layer also runs a reverse direction over the sequence.
    pub bidirectional: bool,
    /// Whether the layers have `bias_ih` and `bias_hh` (PyTorch's `bias`).
    pub bias: bool,
    /// How the weight matrices are stored on the device (f32 unless asked).
    pub precision: Precision,
}

/// Which of the four tensors of one layer and direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamKind {
    /// `weight_ih`, [G*H, I_k].
    WeightIh,
    /// `weight_hh`, [G*H, H].
    WeightHh,
    /// `bias_ih`, \[G*H\].
    BiasIh,
    /// `bias_hh`, \[G*H\].
    BiasHh,
}

impl RnnSpec {
    /// One unidirectional layer with biases, PyTorch's defaults.
    pub fn new(cell: CellKind, input_size: usize, hidden_size: usize) -> Self {
        RnnSpec {
            cell,
            input_size,
            hidden_size,
            num_layers: 1,
            bidirectional: false,
            bias: true,
            precision: Precision::F32,
        }
    }
    /// Sets L, the number of stacked layers.
    pub fn layers(mut self, n: usize) -> Self {
        self.num_layers = n;
        self
    }
    /// Sets whether each layer runs in both directions (D = 2).
    pub fn bidirectional(mut self, on: bool) -> Self {
        self.bidirectional = on;
        self
    }
    /// Sets whether the layers have bias vectors.
    pub fn with_bias(mut self, on: bool) -> Self {
        self.bias = on;
        self
    }
    /// Sets how the weight matrices are stored on the device.
    pub fn with_precision(mut self, precision: Precision) -> Self {
        self.precision = precision;
        self
    }

    /// D: 1 or 2.
    pub fn directions(&self) -> usize {
        if self.bidirectional {
            2
        } else {
            1
        }
    }
    /// G.
    pub fn gates(&self) -> usize {
        self.cell.gates()
    }
    /// I_k: input width of layer `k`.
    pub fn layer_input_size(&self, k: usize) -> usize {
        if k == 0 {
            self.input_size
        } else {
            self.directions() * self.hidden_size
        }
    }
    /// Width of the output sequence: D*H.
    pub fn output_size(&self) -> usize {
        self.directions() * self.hidden_size
    }

    /// Checks that I, H and L are at least 1; `Error::Config` names the first that is 0.
    pub fn validate(&self) -> Result<()> {
        let bad =
            |what: &str, v: usize| Err(Error::Config(format!("{what} = {v} must be at least 1")));
        if self.input_size == 0 {
            return bad("input_size", 0);
        }
        if self.hidden_size == 0 {
            return bad("hidden_size", 0);
        }
        if self.num_layers == 0 {
            return bad("num_layers", 0);
        }
        Ok(())
    }

    /// The parameter kinds present, in PyTorch's order (linear cells have no `_hh` ones).
    pub fn param_kinds(&self) -> &'static [ParamKind] {
        use ParamKind::*;
        match (self.cell.linear(), self.bias) {
            (false, true) => &[WeightIh, WeightHh, BiasIh, BiasHh],
            (false, false) => &[WeightIh, WeightHh],
            (true, true) => &[WeightIh, BiasIh],
            (true, false) => &[WeightIh],
        }
    }

    /// How training's forward keeps the pre-activations and c_{t-1} that backward reads
    /// (the reserve space): in the weights' precision for the cells with W_hh, so that
    /// 16-bit training keeps them in 16 bits; in f32 for the linear cells, whose reserve
    /// (xg and h_{t-1}) the projection GEMM and the scan write.
    pub fn reserve_precision(&self) -> Precision {
        if self.recurrent_weights() {
            self.precision
        } else {
            Precision::F32
        }
    }

    /// Whether the layers have W_hh (every cell but the linear ones).
    pub fn recurrent_weights(&self) -> bool {
        !self.cell.linear()
    }

    /// PyTorch's name, e.g. `weight_hh_l1_reverse`.
    pub fn param_name(&self, kind: ParamKind, layer: usize, dir: usize) -> String {
        let base = match kind {
            ParamKind::WeightIh => "weight_ih",
            ParamKind::WeightHh => "weight_hh",
            ParamKind::BiasIh => "bias_ih",
            ParamKind::BiasHh => "bias_hh",
        };
        let suffix = if dir == 1 { "_reverse" } else { "" };
        format!("{base}_l{layer}{suffix}")
    }

    /// PyTorch's shape of a parameter.
    pub fn param_shape(&self, kind: ParamKind, layer: usize) -> Vec<usize> {
        let gh = self.gates() * self.hidden_size;
        match kind {
            ParamKind::WeightIh => vec![gh, self.layer_input_size(layer)],
            ParamKind::WeightHh => vec![gh, self.hidden_size],
            ParamKind::BiasIh | ParamKind::BiasHh => vec![gh],
        }
    }

    /// All (name, shape) pairs in PyTorch's `named_parameters()` order.
    pub fn param_list(&self) -> Vec<(String, Vec<usize>)> {
        let mut out = Vec::new();
        for layer in 0..self.num_layers {
            for dir in 0..self.directions() {
                for &kind in self.param_kinds() {
                    out.push((self.param_name(kind, layer, dir), self.param_shape(kind, layer)));
                }
            }
        }
        out
    }

    /// Bytes of the parameters at `bytes_per_value`, or None past what a u64 counts.
    pub fn param_bytes(&self, bytes_per_value: u64) -> Option<u64> {
        let mut total = 0u64;
        for layer in 0..self.num_layers {
            for &kind in self.param_kinds() {
                let n = self
                    .param_shape(kind, layer)
                    .iter()
                    .try_fold(1u64, |a, &d| a.checked_mul(d as u64))?;
                total = total.checked_add(n.checked_mul(self.directions() as u64)?)?;
            }
        }
        total.checked_mul(bytes_per_value)
    }

    /// Total number of parameters.
    pub fn num_params(&self) -> usize {
        self.param_list().iter().map(|(_, s)| s.iter().product::<usize>()).sum()
    }

    /// Forward FLOPs of the gate matrix products for `t` timesteps of `b` rows:
    /// 2·B·T·G·H·(I_k+H) per layer and direction, summed over all of them (linear cells:
    /// 2·B·T·G·H·I_k, as they have no W_hh; their elementwise scan is not counted).
    pub fn forward_flops(&self, t: usize, b: usize) -> f64 {
        let hh = if self.recurrent_weights() { self.hidden_size } else { 0 };
        let mut f = 0.0;
        for k in 0..self.num_layers {
            f += 2.0
                * (b * t) as f64
                * (self.gates() * self.hidden_size) as f64
                * (self.layer_input_size(k) + hh) as f64
                * self.directions() as f64;
        }
        f
    }
}

impl fmt::Display for RnnSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}(I={}, H={}, layers={}, bidirectional={}, bias={})",
            self.cell,
            self.input_size,
            self.hidden_size,
            self.num_layers,
            self.bidirectional,
            self.bias
        )?;
        if self.precision != Precision::F32 {
            write!(f, " in {}", self.precision)?;
        }
        Ok(())
    }
}
