//! Everything that touches the GPU: the context, kernel variants and the forward pass.

pub mod backward;
pub mod context;
pub mod forward;
pub mod gemm;
pub mod kernels;
pub mod profile;

pub use backward::StepStates;
pub use context::{Caps, Gpu};
pub use forward::{ForwardOptions, GpuModel, Input, Output, Stream};
pub use kernels::{GemmVariant, Variant};
