//! Everything that touches the GPU: the context, kernel variants and the forward pass.

pub mod abi;
pub mod backward;
pub mod context;
pub mod forward;
#[cfg(feature = "native")]
pub mod gemm;
pub mod kernels;
pub mod profile;
pub mod shaders;

pub use backward::StepStates;
pub use context::{Caps, Gpu};
pub use forward::{ForwardOptions, GpuModel, Input, Output, Stream};
pub use kernels::{GemmVariant, Variant};
