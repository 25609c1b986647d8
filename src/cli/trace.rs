//! `wgpu-rnn trace`: the hidden state (and gates) of a model reading a text, drawn as a
//! heatmap (SVG and PNG) and optionally printed as JSON.

use super::common::{Cell, Nonlinearity, PrecisionArg};
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;
use wgpu_rnn::charlm::Vocab;
use wgpu_rnn::trace;
use wgpu_rnn::Gpu;

#[derive(Args)]
pub struct TraceArgs {
    #[arg(long, default_value = "abracadabra")]
    text: String,
    /// A char-model checkpoint; else a seeded model over the vocabulary "abrcd ".
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = Cell::Rnn, ignore_case = true)]
    cell: Cell,
    #[arg(long, value_enum, default_value_t = Nonlinearity::Tanh, ignore_case = true)]
    nonlinearity: Nonlinearity,
    #[arg(long, default_value_t = 16)]
    hidden: usize,
    #[arg(long, default_value_t = 3)]
    seed: u64,
    /// The heatmap as SVG, and as PNG beside it (same name, .png); LSTM adds c_t below h_t.
    /// A name ending in .png swaps the roles.
    #[arg(long, default_value = "trace.svg")]
    out: PathBuf,
    /// Which layer to show, 0-based (default: the last).
    #[arg(long)]
    layer: Option<usize>,
    /// Also show the gates (LSTM i, f, g, o; GRU r, z, n).
    #[arg(long)]
    gates: bool,
    /// Units drawn (the first N; default all up to 64). --json always has every unit.
    #[arg(long)]
    units: Option<usize>,
    /// Also compute ‖dL/dh_t‖ per character (L = the sum of the last layer's h after the
    /// last character, backpropagated through time): `grad_h_norm` in --json.
    #[arg(long)]
    grad: bool,
    /// Print the numbers as one JSON object on stdout.
    #[arg(long)]
    json: bool,
    /// How the weight matrices are stored on the device (default: the checkpoint's, else
    /// f32); f16 and bf16 round them to 16 bits.
    #[arg(long, value_enum, ignore_case = true)]
    precision: Option<PrecisionArg>,
}

pub fn run(a: TraceArgs) -> Result<()> {
    let (w, vocab) = match &a.checkpoint {
        Some(p) => trace::from_checkpoint(p)?,
        None => {
            let vocab = Vocab::from_text(trace::DEFAULT_VOCAB)?;
            (trace::seeded(&vocab, a.cell.kind(a.nonlinearity), a.hidden, a.seed)?, vocab)
        }
    };
    let w = match a.precision {
        Some(p) => w.to_precision(p.into()),
        None => w.to_precision(w.spec.precision),
    };
    let gpu = Gpu::new()?;
    let tr = trace::run(
        &gpu,
        &w,
        &vocab,
        &a.text,
        trace::TraceOptions { layer: a.layer, gates: a.gates, grad: a.grad },
    )?;
    let shown = a.units.unwrap_or(64).clamp(1, w.spec.hidden_size);
    let mut title = match &a.checkpoint {
        Some(p) => format!("{} reading {:?}", p.display(), a.text),
        None => {
            format!("{} H={} seed {} reading {:?}", w.spec.cell, w.spec.hidden_size, a.seed, a.text)
        }
    };
    if w.spec.precision.is_16bit() {
        title += &format!(", {} weights", w.spec.precision);
    }
    if w.spec.num_layers > 1 {
        title += &format!(", layer {}", tr.layer);
    }
    if shown < w.spec.hidden_size {
        title += &format!(", units 0..{} of {}", shown - 1, w.spec.hidden_size);
    }
    let drawn = tr.first_units(shown);
    let (svg, png) = if a.out.extension().is_some_and(|e| e.eq_ignore_ascii_case("png")) {
        (a.out.with_extension("svg"), a.out.clone())
    } else {
        (a.out.clone(), a.out.with_extension("png"))
    };
    trace::draw_svg(&drawn, &svg, &title)?;
    trace::draw_png(&drawn, &png, &title)?;
    if a.json {
        println!("{}", serde_json::to_string(&tr)?);
    }
    eprintln!("wrote {} and {}", svg.display(), png.display());
    Ok(())
}
