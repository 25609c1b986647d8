//! `wgpu-rnn forward`: a model over an input file, the outputs written to a file.

use super::common::{self, InputFile, KernelVariant, ModelArgs};
use anyhow::{bail, Result};
use clap::Args;
use std::path::PathBuf;
use wgpu_rnn::error::check_finite;
use wgpu_rnn::gpu::forward::FINAL_ONLY_CHUNK;
use wgpu_rnn::io::{TensorHeader, TensorShapes, TensorWriter};
use wgpu_rnn::{ForwardOptions, Gpu, GpuModel, RnnSpec, Variant};

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
    // Final states of a unidirectional model without lengths: x streams from the file in
    // chunks, so host memory stays flat however long the sequence.
    let header = TensorHeader::open(&a.input)?;
    if a.final_only && !spec.bidirectional && !header.contains("lengths") {
        let model = GpuModel::new(&gpu, &w)?;
        return run_streamed(&gpu, &model, &header, &a);
    }
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
    tw.meta("variant", out.variant.name()).meta("precision", spec.precision.name());
    tw.write(&a.output)?;
    eprintln!("wrote {} ({spec}, T={t}, B={b}, variant {})", a.output.display(), out.variant);
    Ok(())
}

/// `forward --final-only` reading x [T, B, I] from the file `FINAL_ONLY_CHUNK` steps at a
/// time into a `Stream`.
fn run_streamed(gpu: &Gpu, model: &GpuModel, f: &TensorHeader, a: &ForwardArgs) -> Result<()> {
    let spec = model.spec;
    common::check_input_names(&f.names(), &a.input)?;
    let xs = common::x_shape(f, f.path(), &spec)?;
    let (t, b, i) = (xs[0], xs[1], spec.input_size);
    let state_shape = [spec.num_layers, b, spec.hidden_size];
    let state = |name: &str| -> Result<Option<Vec<f32>>> {
        match f.shape(name) {
            None => Ok(None),
            Some(s) if s != state_shape => {
                bail!("tensor `{name}` in {} has shape {s:?}, expected {state_shape:?}", f.path())
            }
            Some(_) => Ok(Some(f.read_f32(name, 0, state_shape.iter().product())?)),
        }
    };
    let h0 = state("h0")?;
    if !spec.cell.has_cell_state() && f.contains("c0") {
        bail!("{} holds c0, but a {} cell has no cell state", f.path(), spec.cell);
    }
    let c0 = if spec.cell.has_cell_state() { state("c0")? } else { None };
    let mut stream = model.stream(b)?;
    if h0.is_some() || c0.is_some() {
        let zeros = vec![0.0; state_shape.iter().product()];
        stream = stream.with_state(h0.unwrap_or(zeros), c0);
    }
    if let Some(v) = common::variant(a.variant) {
        stream = stream.with_variant(v);
    }
    let mut last = None;
    for start in (0..t).step_by(FINAL_ONLY_CHUNK) {
        let steps = FINAL_ONLY_CHUNK.min(t - start);
        let x = f.read_f32("x", start * b * i, steps * b * i)?;
        // Checked here so that the index named is x's, not the chunk's.
        if let Err(wgpu_rnn::Error::NonFinite { index, value, .. }) = check_finite("x", &x) {
            return Err(wgpu_rnn::Error::NonFinite {
                what: "x".into(),
                index: start * b * i + index,
                value,
            }
            .into());
        }
        last = Some(stream.step_full(gpu, &x)?);
    }
    let Some(out) = last else { bail!("tensor `x` in {} has T = 0 steps", f.path()) };
    write_states(&spec, b, out.h_n, out.c_n, out.variant, a)?;
    eprintln!("streamed x from {} in chunks of {FINAL_ONLY_CHUNK} steps", a.input.display());
    eprintln!("wrote {} ({spec}, T={t}, B={b}, variant {})", a.output.display(), out.variant);
    Ok(())
}

fn write_states(
    spec: &RnnSpec,
    b: usize,
    h_n: Vec<f32>,
    c_n: Vec<f32>,
    variant: Variant,
    a: &ForwardArgs,
) -> Result<()> {
    let state_shape = vec![spec.num_layers * spec.directions(), b, spec.hidden_size];
    let mut tw = TensorWriter::new();
    tw.add_f32("h_n", state_shape.clone(), h_n);
    if spec.cell.has_cell_state() {
        tw.add_f32("c_n", state_shape, c_n);
    }
    tw.meta("variant", variant.name()).meta("precision", spec.precision.name());
    tw.write(&a.output)?;
    Ok(())
}
