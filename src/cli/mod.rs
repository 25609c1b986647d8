//! The subcommands of the `wgpu-rnn` binary, one module each (its arguments and its `run`),
//! and what several of them share (`common`). Part of the binary only: the library stays
//! free of clap.

pub mod bench;
pub mod common;
pub mod forward;
pub mod gemm;
pub mod grad;
pub mod info;
pub mod init;
pub mod sample;
pub mod serve;
pub mod stability;
pub mod trace;
pub mod train;
pub mod tune;
pub mod validate;
