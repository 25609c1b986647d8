//! The one error type of the library: every fallible call returns `Result<T, Error>`.

use thiserror::Error;

/// What went wrong, naming the offending value.
#[derive(Debug, Error)]
pub enum Error {
    #[error("invalid shape for {what}: expected {expected}, found {found}")]
    Shape { what: String, expected: String, found: String },

    #[error("invalid configuration: {0}")]
    Config(String),

    #[error("missing tensor `{name}` (expected shape {expected})")]
    MissingTensor { name: String, expected: String },

    #[error("unexpected tensor `{name}` for {spec}")]
    UnexpectedTensor { name: String, spec: String },

    #[error("tensor `{name}` has dtype {found}, expected {expected}")]
    Dtype { name: String, expected: String, found: String },

    #[error("tensor `{name}` has shape {found:?}, expected {expected:?}")]
    TensorShape { name: String, expected: Vec<usize>, found: Vec<usize> },

    #[error("{what} contains a non-finite value ({value}) at flat index {index}")]
    NonFinite { what: String, index: usize, value: f32 },

    #[error("lengths[{index}] = {value} is out of range 1..={max}")]
    Length { index: usize, value: i64, max: usize },

    #[error("{what} = {value} exceeds the device limit {limit} ({limit_name})")]
    DeviceLimit { what: String, value: u64, limit: u64, limit_name: String },

    #[error(
        "no GPU adapter found ({detail}). On Linux without a GPU install a software Vulkan \
         driver: `apt-get install mesa-vulkan-drivers` (lavapipe), or run `make setup`"
    )]
    NoAdapter { detail: String },

    #[error("{variant} cannot run here: {reason}")]
    Unsupported { variant: String, reason: Refusal },

    #[error("GPU device error: {0}")]
    Device(String),

    #[error("safetensors error in {path}: {msg}")]
    SafeTensors { path: String, msg: String },

    #[error("I/O error on {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T> = std::result::Result<T, Error>;

/// Why a kernel variant cannot run for a model on an adapter: a typed reason, so callers
/// (and tests) match the cause instead of a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Needs subgroup operations with at least `min_lanes` lanes; the adapter's subgroup
    /// sizes are `sizes` (None: no `Features::SUBGROUP`).
    NoSubgroups { min_lanes: u32, sizes: Option<(u32, u32)> },
    /// One step runs about `iterations` loop iterations per invocation, past the `budget` a
    /// CPU adapter (lavapipe) allows one dispatch before its loops stop silently.
    LoopLimit { iterations: usize, budget: usize, hidden: usize, input: usize },
    /// Needs `needed` bytes of workgroup memory; the device has `limit`.
    WorkgroupMemory { needed: u64, limit: u64 },
    /// Needs `needed` storage buffers per shader stage; the device has `limit`.
    StorageBuffers { needed: u32, limit: u32 },
    /// Keeps W_hh rows in registers, which holds up to H = `max`.
    HiddenSize { hidden: usize, max: usize },
    /// Needs `needed` invocations per workgroup; the device has `limit`.
    Invocations { needed: u32, limit: u32 },
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
