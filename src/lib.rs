//! wgpu-rnn: recurrent neural networks (RNN, LSTM, GRU) on any GPU wgpu reaches, in
//! hand-written WGSL, with PyTorch's maths, gate order and parameter names.
//!
//! Shape legend, used in every comment (rightmost dimension fastest): T = timesteps,
//! B = batch, I = input size, H = hidden size, G = gates (RNN 1, GRU 3, LSTM 4),
//! D = directions, L = layers. Sequences are [T, B, features], states [L*D, B, H].

#![warn(missing_docs)]

#[cfg(feature = "native")]
pub mod bench;
pub mod cells;
pub mod charlm;
pub mod check;
pub mod error;
pub mod gpu;
#[cfg(feature = "native")]
pub mod host;
pub mod io;
#[cfg(feature = "native")]
pub mod plot;
pub mod precision;
pub mod reference;
pub mod spec;
pub mod stability;
pub mod trace;
pub mod train;
#[cfg(feature = "native")]
pub mod tune;
#[cfg(feature = "native")]
pub mod validate;
pub mod weights;

pub use error::{Error, Result};
pub use gpu::{ForwardOptions, Gpu, GpuModel, Input, Output, Stream, Variant};
pub use precision::Precision;
pub use spec::{CellKind, RnnSpec};
pub use weights::Weights;
