//! Line charts as SVG or PNG (plotters): one line per series, labelled axes, legend; and
//! the fonts every plot of the crate draws its text with.

use crate::error::{Error, Result};
use plotters::prelude::*;
use std::path::Path;

/// One named line.
pub struct Series {
    /// Its legend entry.
    pub label: String,
    /// (x, y) points, joined in this order.
    pub points: Vec<(f64, f64)>,
}

/// Registers the fonts plots draw text with, once per process: Ubuntu Light as
/// "sans-serif" and Hack as "monospace", both built into the binary (epaint_default_fonts),
/// so no system fonts are needed. Every plot, SVG or PNG, needs them for its text layout.
pub fn register_fonts() {
    static FONTS: std::sync::Once = std::sync::Once::new();
    FONTS.call_once(|| {
        // Both are valid TrueType files.
        let _ = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            epaint_default_fonts::UBUNTU_LIGHT,
        );
        let _ = plotters::style::register_font(
            "monospace",
            FontStyle::Normal,
            epaint_default_fonts::HACK_REGULAR,
        );
    });
}

/// Encodes an RGB buffer of `size` as PNG and writes it to `path` atomically.
pub fn write_png(path: &Path, size: (u32, u32), rgb: Vec<u8>) -> Result<()> {
    let err = |e: &dyn std::fmt::Display| Error::Config(format!("plot {}: {e}", path.display()));
    let img = image::RgbImage::from_raw(size.0, size.1, rgb).ok_or_else(|| err(&"buffer size"))?;
    let mut png = std::io::Cursor::new(Vec::new());
    img.write_to(&mut png, image::ImageOutputFormat::Png).map_err(|e| err(&e))?;
    crate::io::write_atomic(path, png.get_ref())
}

/// The image format a plot path asks for by its extension: SVG or PNG.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlotFormat {
    /// `.svg`
    Svg,
    /// `.png`
    Png,
}

/// The format of `path`, or an error naming it when it is neither .svg nor .png (checked
/// before any work, so a long computation does not end in this error).
pub fn plot_format(path: &Path) -> Result<PlotFormat> {
    match path.extension().and_then(|e| e.to_str()).map(|e| e.to_ascii_lowercase()).as_deref() {
        Some("svg") => Ok(PlotFormat::Svg),
        Some("png") => Ok(PlotFormat::Png),
        _ => Err(Error::Config(format!(
            "plot {}: the name must end in .svg or .png",
            path.display()
        ))),
    }
}

/// Size of a line chart in pixels.
const CHART: (u32, u32) = (960, 600);

/// Writes a line chart to `path` (SVG or PNG by its extension) atomically. Non-finite
/// points are dropped.
pub fn line_chart(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
) -> Result<()> {
    register_fonts();
    match plot_format(path)? {
        PlotFormat::Svg => {
            let mut svg = String::new();
            let root = SVGBackend::with_string(&mut svg, CHART).into_drawing_area();
            draw_chart(root, path, title, x_label, y_label, series)?;
            crate::io::write_atomic(path, svg.as_bytes())
        }
        PlotFormat::Png => {
            let mut rgb = vec![0u8; (CHART.0 * CHART.1 * 3) as usize];
            let root = BitMapBackend::with_buffer(&mut rgb, CHART).into_drawing_area();
            draw_chart(root, path, title, x_label, y_label, series)?;
            write_png(path, CHART, rgb)
        }
    }
}

fn draw_chart<DB: DrawingBackend>(
    root: DrawingArea<DB, plotters::coord::Shift>,
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let pts: Vec<(f64, f64)> = series
        .iter()
        .flat_map(|s| s.points.iter().copied())
        .filter(|p| p.0.is_finite() && p.1.is_finite())
        .collect();
    if pts.is_empty() {
        return Err(Error::Config(format!("plot {}: no finite points", path.display())));
    }
    let (mut x0, mut x1) =
        pts.iter().fold((f64::MAX, f64::MIN), |a, p| (a.0.min(p.0), a.1.max(p.0)));
    let (mut y0, mut y1) =
        pts.iter().fold((f64::MAX, f64::MIN), |a, p| (a.0.min(p.1), a.1.max(p.1)));
    if x1 <= x0 {
        x1 = x0 + 1.0;
        x0 -= 1.0;
    }
    if y1 <= y0 {
        y1 = y0 + 1.0;
        y0 -= 1.0;
    }
    let pad = 0.05 * (y1 - y0);
    {
        let err =
            |e: &dyn std::fmt::Display| Error::Config(format!("plot {}: {e}", path.display()));
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 22))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(72)
            .build_cartesian_2d(x0..x1, (y0 - pad)..(y1 + pad))
            .map_err(|e| err(&e))?;
        chart.configure_mesh().x_desc(x_label).y_desc(y_label).draw().map_err(|e| err(&e))?;
        for (i, s) in series.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            let line: Vec<(f64, f64)> =
                s.points.iter().copied().filter(|p| p.0.is_finite() && p.1.is_finite()).collect();
            chart
                .draw_series(LineSeries::new(line, color.stroke_width(2)))
                .map_err(|e| err(&e))?
                .label(s.label.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(|e| err(&e))?;
        root.present().map_err(|e| err(&e))?;
    }
    Ok(())
}
