//! The trace drawn as a heatmap (SVG and PNG, plotters): units in rows, one column per
//! character, h_t above c_t and the gates.

use super::Trace;
use crate::error::{Error, Result};
use plotters::prelude::*;
use std::path::Path;

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

fn sequential(v: f32) -> RGBColor {
    // White (0) - dark green (1), for sigmoid gates.
    let a = v.clamp(0.0, 1.0);
    RGBColor((255.0 - 235.0 * a) as u8, (255.0 - 135.0 * a) as u8, (255.0 - 200.0 * a) as u8)
}

/// One heatmap of the picture: units x steps.
struct Panel<'a> {
    label: String,
    rows: &'a [Vec<f32>],
    /// sigmoid gates use a 0..1 sequential scale, everything else the diverging one
    unit_range: bool,
}

fn panels(trace: &Trace) -> Vec<Panel<'_>> {
    let scaled = |name: &str, rows: &'_ [Vec<f32>]| {
        let m = rows.iter().flatten().fold(0.0f32, |m, v| m.max(v.abs()));
        format!("{name} (|max| {m:.2})")
    };
    let mut p = vec![Panel { label: scaled("h_t", &trace.h), rows: &trace.h, unit_range: false }];
    if let Some(c) = &trace.c {
        p.push(Panel { label: scaled("c_t", c), rows: c, unit_range: false });
    }
    for g in &trace.gates {
        let sig = g.activation == "sigmoid";
        let label = if sig {
            format!("gate {} (sigmoid, white 0 .. green 1)", g.name)
        } else {
            scaled(&format!("gate {} (tanh)", g.name), &g.values)
        };
        p.push(Panel { label, rows: &g.values, unit_range: sig });
    }
    p
}

const CELL: u32 = 22;
const LEFT: u32 = 60;
/// Top of the first panel: below the title (18 px at y = 8) and the panel's label above it.
const TOP: u32 = 66;

fn size(trace: &Trace, title: &str) -> (u32, u32) {
    let panel_h = trace.hidden_size as u32 * CELL + 40;
    // Wide enough for the title too (about 9 px per character at 18 px).
    let width =
        (LEFT + trace.h.len() as u32 * CELL + 120).max(LEFT + 9 * title.chars().count() as u32);
    (width, TOP + panels(trace).len() as u32 * panel_h + 20)
}

/// Draws the picture on any plotters backend (SVG and PNG share this).
fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, plotters::coord::Shift>,
    trace: &Trace,
    title: &str,
) -> std::result::Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let t = trace.h.len();
    let hs = trace.hidden_size;
    let panels = panels(trace);
    let panel_h = hs as u32 * CELL + 40;
    root.fill(&WHITE)?;
    root.draw(&Text::new(title.to_string(), (LEFT as i32, 8), ("sans-serif", 18)))?;
    for (pi, p) in panels.iter().enumerate() {
        let y0 = (TOP + pi as u32 * panel_h) as i32;
        let scale = p.rows.iter().flatten().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-6);
        root.draw(&Text::new(p.label.clone(), (4, y0 - 20), ("sans-serif", 14)))?;
        for (step, col) in p.rows.iter().enumerate() {
            for (u, &v) in col.iter().enumerate() {
                let x = (LEFT + step as u32 * CELL) as i32;
                let y = y0 + (u as u32 * CELL) as i32;
                let colour = if p.unit_range { sequential(v) } else { diverging(v, scale) };
                root.draw(&Rectangle::new(
                    [(x, y), (x + CELL as i32 - 1, y + CELL as i32 - 1)],
                    colour.filled(),
                ))?;
            }
            // The character under every panel: each column is the state after reading it.
            let ch =
                trace.text.chars().nth(step).map(|c| if c == ' ' { '_' } else { c }).unwrap_or('?');
            let y = y0 + (hs as u32 * CELL) as i32 + 4;
            root.draw(&Text::new(
                ch.to_string(),
                ((LEFT + step as u32 * CELL + 6) as i32, y),
                ("monospace", 16),
            ))?;
        }
        for u in (0..hs).step_by(4.max(hs / 8)) {
            root.draw(&Text::new(
                format!("{u}"),
                (LEFT as i32 - 30, y0 + (u as u32 * CELL) as i32 + 4),
                ("sans-serif", 12),
            ))?;
        }
    }
    // Colour key of the diverging scale.
    let kx = (LEFT + t as u32 * CELL + 30) as i32;
    for i in 0..=20 {
        let v = 1.0 - i as f32 / 10.0;
        root.draw(&Rectangle::new(
            [(kx, TOP as i32 + i * 8), (kx + 16, TOP as i32 + i * 8 + 8)],
            diverging(v, 1.0).filled(),
        ))?;
    }
    root.draw(&Text::new("+max", (kx + 20, TOP as i32), ("sans-serif", 12)))?;
    root.draw(&Text::new("0", (kx + 20, TOP as i32 + 80), ("sans-serif", 12)))?;
    root.draw(&Text::new("-max", (kx + 20, TOP as i32 + 160), ("sans-serif", 12)))?;
    root.present()
}

fn plot_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Config(format!("trace plot {}: {e}", path.display()))
}

/// Draws the heatmap (h; c_t and the gates below it when recorded) as SVG, atomically.
pub fn draw_svg(trace: &Trace, path: &Path, title: &str) -> Result<()> {
    crate::plot::register_fonts();
    let mut svg = String::new();
    draw(SVGBackend::with_string(&mut svg, size(trace, title)).into_drawing_area(), trace, title)
        .map_err(|e| plot_error(path, e))?;
    crate::io::write_atomic(path, svg.as_bytes())
}

/// The same picture as PNG, atomically. Text uses fonts built into the binary (Hack for
/// the characters, Ubuntu Light for labels), so no system fonts are needed.
pub fn draw_png(trace: &Trace, path: &Path, title: &str) -> Result<()> {
    crate::plot::register_fonts();
    let (w, h) = size(trace, title);
    let mut rgb = vec![0u8; (w * h * 3) as usize];
    draw(BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area(), trace, title)
        .map_err(|e| plot_error(path, e))?;
    crate::plot::write_png(path, (w, h), rgb)
}
