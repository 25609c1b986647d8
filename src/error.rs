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
