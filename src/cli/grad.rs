//! `wgpu-rnn grad`: every gradient for a given dL/d(output), from files to a file.

use super::common::{self, InputFile, KernelVariant, ModelArgs};
use anyhow::{bail, Result};
use clap::Args;
use std::path::PathBuf;
use wgpu_rnn::gpu::backward::GradInput;
use wgpu_rnn::io::{TensorFile, TensorWriter};
use wgpu_rnn::{Gpu, GpuModel};

#[derive(Args)]
pub struct GradArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// x [T, B, I] and optionally h0, c0, lengths, as for `forward`.
    #[arg(long)]
    input: PathBuf,
    /// `output` = dL/d(output) [T, B, D*H], optionally `h_n`, `c_n` = dL/d final states.
    #[arg(long)]
    grad_output: PathBuf,
    /// Written atomically: the gradient of every parameter under its PyTorch name, plus
    /// `x`, `h0` (and `c0`).
    #[arg(long)]
    output: PathBuf,
    /// Force a kernel variant (persistent variants train with the best per-step kernel).
    #[arg(long, value_enum)]
    variant: Option<KernelVariant>,
}

pub fn run(a: GradArgs) -> Result<()> {
    let gpu = Gpu::new()?;
    let w = a.model.load_on(&gpu)?;
    let spec = w.spec;
    let inp = InputFile::load(&a.input, &spec)?;
    let (t, b) = (inp.t, inp.b);
    let g = TensorFile::open(&a.grad_output)?;
    let f32s = |v: Vec<f64>| v.into_iter().map(|x| x as f32).collect::<Vec<f32>>();
    let d_output = f32s(g.float("output", Some(&[t, b, spec.output_size()]))?.data);
    let state_shape = [spec.num_layers * spec.directions(), b, spec.hidden_size];
    let d_h_n =
        if g.contains("h_n") { Some(f32s(g.float("h_n", Some(&state_shape))?.data)) } else { None };
    let d_c_n = if g.contains("c_n") {
        if !spec.cell.has_cell_state() {
            bail!(
                "{} holds c_n, but a {} cell has no cell state",
                a.grad_output.display(),
                spec.cell
            );
        }
        Some(f32s(g.float("c_n", Some(&state_shape))?.data))
    } else {
        None
    };
    let model = GpuModel::new(&gpu, &w)?;
    let out = model.forward_backward(
        &gpu,
        &inp.input(),
        &GradInput { d_output: &d_output, d_h_n: d_h_n.as_deref(), d_c_n: d_c_n.as_deref() },
        common::variant(a.variant),
    )?;
    let mut tw = TensorWriter::new();
    out.weights.write_into(&mut tw);
    tw.add_f32("x", vec![t, b, spec.input_size], out.x);
    tw.add_f32("h0", state_shape.to_vec(), out.h0);
    if spec.cell.has_cell_state() {
        tw.add_f32("c0", state_shape.to_vec(), out.c0);
    }
    tw.meta("variant", out.variant.name()).meta("precision", spec.precision.name());
    tw.write(&a.output)?;
    eprintln!("wrote {} ({spec}, T={t}, B={b}, variant {})", a.output.display(), out.variant);
    Ok(())
}
