//! The one error type of the library: every fallible call returns `Result<T, Error>`.

use thiserror::Error;

/// What went wrong, naming the offending value.
#[derive(Debug, Error)]
pub enum Error {
    /// An input buffer or size does not fit the model or the rest of the call.
    #[error("invalid shape for {what}: expected {expected}, found {found}")]
    Shape {
        /// The offending input, e.g. `x`, `h0` or `lengths`.
        what: String,
        /// The shape or size it needs, e.g. `[T, B, I] (N values)`.
        expected: String,
        /// What it has.
        found: String,
    },

    /// A setting, spec, argument or file content that makes no sense; the message says which.
    #[error("invalid configuration: {0}")]
    Config(String),

    /// A tensor file lacks a tensor the call needs.
    #[error("missing tensor `{name}` (expected shape {expected})")]
    MissingTensor {
        /// The tensor's name, e.g. `weight_hh_l0`.
        name: String,
        /// The shape it should have, or `any`.
        expected: String,
    },

    /// A weight file holds a tensor that the spec has no use for (a checkpoint's `head.*`
    /// excepted).
    #[error("unexpected tensor `{name}` for {spec}; expected {expected}")]
    UnexpectedTensor {
        /// The tensor's name.
        name: String,
        /// The spec the file was loaded for, as displayed.
        spec: String,
        /// The names the spec expects, comma-separated.
        expected: String,
    },

    /// A tensor in a file has an element type the call cannot read.
    #[error("tensor `{name}` has dtype {found}, expected {expected}")]
    Dtype {
        /// The tensor's name.
        name: String,
        /// The dtypes accepted, e.g. `I64 or I32`.
        expected: String,
        /// The tensor's dtype.
        found: String,
    },

    /// A tensor in a file has the wrong shape.
    #[error("tensor `{name}` has shape {found:?}, expected {expected:?}")]
    TensorShape {
        /// The tensor's name.
        name: String,
        /// The shape it needs.
        expected: Vec<usize>,
        /// The shape it has.
        found: Vec<usize>,
    },

    /// A NaN or infinity where only finite numbers may be (input data, a training loss).
    #[error("{what} contains a non-finite value ({value}) at flat index {index}")]
    NonFinite {
        /// The offending buffer or quantity.
        what: String,
        /// The flat index of the first non-finite value.
        index: usize,
        /// That value (NaN, inf or -inf).
        value: f32,
    },

    /// A sequence length outside 1..=T.
    #[error("lengths[{index}] = {value} is out of range 1..={max}")]
    Length {
        /// The batch row b whose length is wrong.
        index: usize,
        /// The length given.
        value: i64,
        /// T, the largest length allowed.
        max: usize,
    },

    /// A buffer, dispatch or kernel needs more than the device allows.
    #[error("{what} = {value} exceeds the device limit {limit} ({limit_name})")]
    DeviceLimit {
        /// What is too large, with its unit, e.g. `x buffer bytes`.
        what: String,
        /// How much of it the call needs.
        value: u64,
        /// The most the device allows.
        limit: u64,
        /// The limit's name, e.g. `max_storage_buffer_binding_size`.
        limit_name: String,
    },

    /// wgpu found no adapter to run on.
    #[error(
        "no GPU adapter found ({detail}). On Linux without a GPU install a software Vulkan \
         driver: `apt-get install mesa-vulkan-drivers` (lavapipe), or run `make setup`"
    )]
    NoAdapter {
        /// wgpu's reason, or the adapters `WGPU_ADAPTER_NAME` matched none of.
        detail: String,
    },

    /// A kernel variant cannot run this model on this adapter.
    #[error("{variant} cannot run here: {reason}")]
    Unsupported {
        /// The variant's name.
        variant: String,
        /// Why not.
        reason: Refusal,
    },

    /// wgpu failed: requesting the device, building a pipeline or reading a buffer back.
    #[error("GPU device error: {0}")]
    Device(String),

    /// A safetensors file could not be parsed or written.
    #[error("safetensors error in {path}: {msg}")]
    SafeTensors {
        /// The file, or `<memory>` for bytes not from a file.
        path: String,
        /// The safetensors crate's message.
        msg: String,
    },

    /// Reading or writing a file or directory failed.
    #[error("I/O error on {path}")]
    Io {
        /// The file or directory.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// `std::result::Result` with the crate's [`Error`](enum@Error).
pub type Result<T> = std::result::Result<T, Error>;

/// Why a kernel variant cannot run for a model on an adapter: a typed reason, so callers
/// (and tests) match the cause instead of a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Needs subgroup operations with at least `min_lanes` lanes; the adapter's subgroup
    /// sizes are `sizes` (None: no `Features::SUBGROUP`).
    NoSubgroups {
        /// The smallest subgroup size the variant works with.
        min_lanes: u32,
        /// The adapter's (min, max) subgroup sizes.
        sizes: Option<(u32, u32)>,
    },
    /// One step runs about `iterations` loop iterations per invocation, past the `budget` a
    /// CPU adapter (lavapipe) allows one dispatch before its loops stop silently.
    LoopLimit {
        /// Loop iterations per invocation in one step.
        iterations: usize,
        /// The iterations the CPU adapter allows one dispatch.
        budget: usize,
        /// H of the model.
        hidden: usize,
        /// I of the model.
        input: usize,
    },
    /// Needs `needed` bytes of workgroup memory; the device has `limit`.
    WorkgroupMemory {
        /// Bytes the variant needs.
        needed: u64,
        /// `max_compute_workgroup_storage_size`.
        limit: u64,
    },
    /// Needs `needed` storage buffers per shader stage; the device has `limit`.
    StorageBuffers {
        /// Storage buffers the variant binds.
        needed: u32,
        /// `max_storage_buffers_per_shader_stage`.
        limit: u32,
    },
    /// Keeps W_hh rows in registers, which holds up to H = `max`.
    HiddenSize {
        /// H of the model.
        hidden: usize,
        /// The largest H the variant supports.
        max: usize,
    },
    /// Needs `needed` invocations per workgroup; the device has `limit`.
    Invocations {
        /// Invocations per workgroup the variant needs: H rounded up to a multiple of 32.
        needed: u32,
        /// `max_compute_invocations_per_workgroup`.
        limit: u32,
    },
    /// Runs the other family of cells: the scan variants run the linear cells (minGRU,
    /// minLSTM), every other variant the cells with W_hh.
    Cell {
        /// The model's cell.
        cell: &'static str,
        /// The variants that run it.
        use_instead: &'static str,
    },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::NoSubgroups { min_lanes, sizes: None } => {
                write!(f, "needs Features::SUBGROUP with subgroups of at least {min_lanes} lanes (the adapter has no SUBGROUP)")
            }
            Refusal::NoSubgroups { min_lanes, sizes: Some((lo, hi)) } => {
                write!(f, "needs subgroups of at least {min_lanes} lanes (the adapter's are {lo}..{hi})")
            }
            Refusal::LoopLimit { iterations, budget, hidden, input } => write!(
                f,
                "one step of H = {hidden}, input {input} runs about {iterations} loop iterations per invocation, past the {budget} a CPU adapter (lavapipe) allows a dispatch"
            ),
            Refusal::WorkgroupMemory { needed, limit } => {
                write!(f, "needs {needed} bytes of workgroup memory, the device has {limit}")
            }
            Refusal::StorageBuffers { needed, limit } => write!(
                f,
                "needs {needed} storage buffers per shader stage, the device has {limit}"
            ),
            Refusal::HiddenSize { hidden, max } => {
                write!(f, "keeps W_hh rows in registers: H = {hidden} > {max}")
            }
            Refusal::Invocations { needed, limit } => write!(
                f,
                "needs {needed} invocations per workgroup (one per hidden unit), the device allows {limit}"
            ),
            Refusal::Cell { cell, use_instead } => {
                write!(f, "does not run {cell} cells (use {use_instead})")
            }
        }
    }
}

impl Error {
    pub(crate) fn shape(
        what: impl Into<String>,
        expected: impl ToString,
        found: impl ToString,
    ) -> Self {
        Error::Shape { what: what.into(), expected: expected.to_string(), found: found.to_string() }
    }
}

/// Fails on the first NaN or Inf in `data`, naming `what` and the flat index.
pub fn check_finite(what: &str, data: &[f32]) -> Result<()> {
    // Branch-free blocks vectorize; `position` alone (an early exit) does not.
    if data.chunks(4096).all(|c| c.iter().fold(true, |ok, v| ok & v.is_finite())) {
        return Ok(());
    }
    match data.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(Error::NonFinite { what: what.into(), index, value: data[index] }),
        None => Ok(()),
    }
}
