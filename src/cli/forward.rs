//! `wgpu-rnn forward`: a model over an input file, the outputs written to a file.

use super::common::{self, InputFile, KernelVariant, ModelArgs};
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;
use wgpu_rnn::io::TensorWriter;
use wgpu_rnn::{ForwardOptions, Gpu, GpuModel};

#[derive(Args)]
pub struct ForwardArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// x [T, B, I] and optionally h0, c0 [L*D, B, H] and lengths (int64 [B]).
    #[arg(long)]
    input: PathBuf,
    /// Written atomically: output [T, B, D*H], h_n (and c_n) [L*D, B, H].
    #[arg(long)]
    output: PathBuf,
    /// Force a kernel variant (default: the one `tune` cached for this shape, else a rule).
    #[arg(long, value_enum)]
    variant: Option<KernelVariant>,
    /// Write only h_n (and c_n), not the output sequence.
    #[arg(long)]
    final_only: bool,
}

pub fn run(a: ForwardArgs) -> Result<()> {
    let gpu = Gpu::new()?;
    let w = a.model.load_on(&gpu)?;
    let spec = w.spec;
    let inp = InputFile::load(&a.input, &spec)?;
    let (t, b) = (inp.t, inp.b);
    let state_shape = [spec.num_layers * spec.directions(), b, spec.hidden_size];
    let model = GpuModel::new(&gpu, &w)?;
    let out = model.forward(
        &gpu,
        &inp.input(),
        ForwardOptions { variant: common::variant(a.variant), return_sequence: !a.final_only },
    )?;
    let mut tw = TensorWriter::new();
    if !a.final_only {
        tw.add_f32("output", vec![t, b, spec.output_size()], out.output);
    }
    tw.add_f32("h_n", state_shape.to_vec(), out.h_n);
    if spec.cell.has_cell_state() {
        tw.add_f32("c_n", state_shape.to_vec(), out.c_n);
    }
    tw.meta("variant", out.variant.name());
    tw.write(&a.output)?;
    eprintln!("wrote {} ({spec}, T={t}, B={b}, variant {})", a.output.display(), out.variant);
    Ok(())
}
