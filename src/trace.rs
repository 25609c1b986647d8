//! The hidden-state trace: a model reads a text one character at a time and the hidden
//! state (units x timesteps, one column per character) is drawn as a heatmap with a
//! diverging colour scale, the picture that explains what an RNN carries forward.

use crate::charlm::{Checkpoint, Vocab};
use crate::error::{Error, Result};
use crate::gpu::{ForwardOptions, Gpu, GpuModel, Input};
use crate::spec::{CellKind, RnnSpec};
use crate::weights::Weights;
use plotters::prelude::*;
use std::path::Path;

/// The vocabulary of the classic demo when no checkpoint is given.
pub const DEFAULT_VOCAB: &str = "abrcd ";

/// Hidden states of one run.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Trace {
    pub text: String,
    pub cell: String,
    pub hidden_size: usize,
    /// h_t of the last layer: [T][H]
    pub h: Vec<Vec<f32>>,
    /// LSTM: c_t of the last layer: [T][H]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub c: Option<Vec<Vec<f32>>>,
}

/// A seeded model over `vocab` for the demo (one layer, PyTorch's init).
pub fn seeded(vocab: &Vocab, cell: CellKind, hidden: usize, seed: u64) -> Result<Weights> {
    Weights::init(RnnSpec::new(cell, vocab.len(), hidden), seed)
}

/// Runs `weights` over `text` (one stream) on the GPU.
pub fn run(gpu: &Gpu, weights: &Weights, vocab: &Vocab, text: &str) -> Result<Trace> {
    let ids = vocab.encode(text)?;
    if ids.is_empty() {
        return Err(Error::Config("trace needs a non-empty --text".into()));
    }
    let s = weights.spec;
    if s.bidirectional {
        return Err(Error::Config("trace shows a unidirectional model".into()));
    }
    let model = GpuModel::new(gpu, weights)?;
    let x = vocab.one_hot(&ids);
    let h_all = model.forward(gpu, &Input::new(&x, ids.len(), 1), ForwardOptions::default())?.output;
    let hs = s.hidden_size;
    let h: Vec<Vec<f32>> = h_all.chunks(hs).map(|c| c.to_vec()).collect();
    // c_t is not an output of the forward pass: step a stream one character at a time.
    let c = if s.cell.has_cell_state() {
        let mut stream = model.stream(1)?;
        let top = (s.num_layers - 1) * hs;
        let mut c = vec![];
        for &i in &ids {
            let out = stream.step_full(gpu, &vocab.one_hot(&[i]))?;
            c.push(out.c_n[top..top + hs].to_vec());
        }
        Some(c)
    } else {
        None
    };
    Ok(Trace { text: text.into(), cell: s.cell.name().into(), hidden_size: hs, h, c })
}

/// Loads a char-model checkpoint for a trace.
pub fn from_checkpoint(path: &Path) -> Result<(Weights, Vocab)> {
    let ck = Checkpoint::load(path)?;
    Ok((ck.weights, ck.vocab))
}

fn diverging(v: f32, scale: f32) -> RGBColor {
    // Blue (negative) - white (0) - red (positive).
    let a = (v / scale).clamp(-1.0, 1.0);
    let f = |x: f32| (255.0 * x).round() as u8;
    if a >= 0.0 {
        RGBColor(255, f(1.0 - a), f(1.0 - a))
    } else {
        RGBColor(f(1.0 + a), f(1.0 + a), 255)
    }
}

/// Draws the heatmap (h, and c below it for LSTM) as SVG, atomically.
pub fn draw_svg(trace: &Trace, path: &Path, title: &str) -> Result<()> {
    let t = trace.h.len();
    let hs = trace.hidden_size;
    let panels: Vec<(&str, &Vec<Vec<f32>>)> = std::iter::once(("h_t", &trace.h)).chain(trace.c.as_ref().map(|c| ("c_t", c))).collect();
    let cell = 22u32;
    let left = 60u32;
    let top = 50u32;
    let panel_h = hs as u32 * cell + 40;
    let width = left + t as u32 * cell + 120;
    let height = top + panels.len() as u32 * panel_h + 20;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        let err = |e: &dyn std::fmt::Display| Error::Config(format!("trace plot {}: {e}", path.display()));
        root.fill(&WHITE).map_err(|e| err(&e))?;
        root.draw(&Text::new(title.to_string(), (left as i32, 12), ("sans-serif", 18))).map_err(|e| err(&e))?;
        for (pi, (name, rows)) in panels.iter().enumerate() {
            let y0 = (top + pi as u32 * panel_h) as i32;
            let scale = rows.iter().flatten().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-6);
            root.draw(&Text::new(format!("{name} (|max| {scale:.2})"), (4, y0 - 18), ("sans-serif", 14))).map_err(|e| err(&e))?;
            for (step, col) in rows.iter().enumerate() {
                for (u, &v) in col.iter().enumerate() {
                    let x = (left + step as u32 * cell) as i32;
                    let y = y0 + (u as u32 * cell) as i32;
                    root.draw(&Rectangle::new([(x, y), (x + cell as i32 - 1, y + cell as i32 - 1)], diverging(v, scale).filled()))
                        .map_err(|e| err(&e))?;
                }
                if pi == panels.len() - 1 || pi == 0 {
                    let ch = trace.text.chars().nth(step).map(|c| if c == ' ' { '␣' } else { c }).unwrap_or('?');
                    let y = y0 + (hs as u32 * cell) as i32 + 4;
                    root.draw(&Text::new(ch.to_string(), ((left + step as u32 * cell + 6) as i32, y), ("monospace", 16))).map_err(|e| err(&e))?;
                }
            }
            for u in (0..hs).step_by(4.max(hs / 8)) {
                root.draw(&Text::new(format!("{u}"), (left as i32 - 30, y0 + (u as u32 * cell) as i32 + 4), ("sans-serif", 12))).map_err(|e| err(&e))?;
            }
        }
        // Colour key.
        let kx = (left + t as u32 * cell + 30) as i32;
        for i in 0..=20 {
            let v = 1.0 - i as f32 / 10.0;
            root.draw(&Rectangle::new([(kx, top as i32 + i * 8), (kx + 16, top as i32 + i * 8 + 8)], diverging(v, 1.0).filled())).map_err(|e| err(&e))?;
        }
        root.draw(&Text::new("+max", (kx + 20, top as i32), ("sans-serif", 12))).map_err(|e| err(&e))?;
        root.draw(&Text::new("0", (kx + 20, top as i32 + 80), ("sans-serif", 12))).map_err(|e| err(&e))?;
        root.draw(&Text::new("-max", (kx + 20, top as i32 + 160), ("sans-serif", 12))).map_err(|e| err(&e))?;
        root.present().map_err(|e| err(&e))?;
    }
    crate::io::write_atomic(path, svg.as_bytes())
}
