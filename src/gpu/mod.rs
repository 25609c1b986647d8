//! Everything that touches the GPU. The modules form a one-way graph, each using only
//! those before it (`tests/module_graph.rs` checks that the crate's graph has no cycle):
//! abi → shaders → tuned → context → layout → kernels → profile → recurrence →
//! grad_plan, plan → model → forward → stream → backward; gemm (the standalone GEMM)
//! uses context, layout and kernels.

pub mod abi;
pub mod backward;
pub mod context;
pub mod forward;
#[cfg(feature = "native")]
pub mod gemm;
pub mod grad_plan;
pub mod kernels;
pub mod layout;
pub mod model;
pub mod plan;
pub mod profile;
pub mod recurrence;
pub mod shaders;
pub mod stream;
#[cfg(feature = "native")]
pub mod tuned;

pub use backward::{GradInput, GradOutput, StepStates};
pub use context::{Caps, Gpu};
pub use forward::{ForwardOptions, Output};
pub use kernels::{GemmVariant, Variant};
pub use layout::Input;
pub use model::GpuModel;
pub use stream::Stream;
