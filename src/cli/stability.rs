//! `wgpu-rnn stability`: vanishing and exploding gradients of one model, a seeded
//! initialisation or a sweep of them; or the gradient norms of a training log.

use super::common::{
    at_least_one, finite, finite_non_negative, finite_positive, Cell, InputFile, ModelArgs,
    Nonlinearity,
};
use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use std::path::PathBuf;
use wgpu_rnn::plot::{line_chart, Series};
use wgpu_rnn::stability::{self, Init, LossAt};
use wgpu_rnn::{CellKind, Gpu, RnnSpec, Weights};

/// `--loss`: which gradient the loss seeds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Loss {
    /// The sum of the last layer's outputs at the last step
    #[value(name = "last")]
    Last,
    /// The sum of the last layer's outputs at every step
    #[value(name = "every")]
    Every,
}

impl From<Loss> for LossAt {
    fn from(l: Loss) -> LossAt {
        match l {
            Loss::Last => LossAt::Last,
            Loss::Every => LossAt::Every,
        }
    }
}

/// `--engine`: where the gradients are computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Engine {
    /// This engine's kernels
    #[value(name = "gpu")]
    Gpu,
    /// The f64 CPU reference
    #[value(name = "cpu")]
    Cpu,
}

impl Engine {
    /// As the reports name it.
    pub fn name(self) -> &'static str {
        match self {
            Engine::Gpu => "gpu",
            Engine::Cpu => "cpu",
        }
    }
}

#[derive(Args)]
pub struct StabilityArgs {
    /// Weights with PyTorch's names (sizes from the file); else a seeded initialisation.
    #[arg(long)]
    weights: Option<PathBuf>,
    /// The recurrent cell.
    #[arg(long, value_enum, default_value_t = Cell::Rnn, ignore_case = true)]
    cell: Cell,
    /// The activation of --cell rnn (other cells ignore it).
    #[arg(long, value_enum, default_value_t = Nonlinearity::Tanh, ignore_case = true)]
    nonlinearity: Nonlinearity,
    #[arg(long)]
    layers: Option<usize>,
    #[arg(long)]
    bidirectional: bool,
    /// Seeded initialisation: hidden size, input size, seed.
    #[arg(long, default_value_t = 64, value_parser = at_least_one::<usize>)]
    hidden: usize,
    #[arg(long, default_value_t = 8, value_parser = at_least_one::<usize>)]
    input_size: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Every parameter U(-s, s).
    #[arg(long, value_parser = finite_positive::<f64>, allow_negative_numbers = true)]
    init_scale: Option<f64>,
    /// Rescale each gate block of W_hh to this spectral radius.
    #[arg(long, value_parser = finite_non_negative::<f64>, allow_negative_numbers = true)]
    spectral_radius: Option<f64>,
    /// Each gate block of W_hh a random orthogonal matrix.
    #[arg(long)]
    orthogonal: bool,
    /// LSTM forget-gate bias (PyTorch's init leaves it near 0, so f ≈ 0.5); other cells ignore it.
    #[arg(long, value_parser = finite::<f64>, allow_negative_numbers = true)]
    forget_bias: Option<f64>,
    /// x [T, B, I] in `forward`'s format; else random U(-1, 1).
    #[arg(long)]
    input: Option<PathBuf>,
    #[arg(long, default_value_t = 8, value_parser = at_least_one::<usize>)]
    batch: usize,
    #[arg(long, default_value_t = 100, value_parser = at_least_one::<usize>)]
    seq: usize,
    /// Loss on the last step (default) or on every step: the sum of the last layer's outputs.
    #[arg(long, value_enum, default_value_t = Loss::Last)]
    loss: Loss,
    /// A sweep, e.g. spectral-radius=0.5:1.5:11 or init-scale=0.1:1:10 (from:to:count).
    #[arg(long)]
    sweep: Option<String>,
    /// Cells side by side (each with the same sizes, seed and input), or the cells of a
    /// sweep, e.g. gru,mingru.
    #[arg(long, value_enum, value_delimiter = ',', ignore_case = true)]
    cells: Vec<Cell>,
    /// Where the gradients are computed.
    #[arg(long, value_enum, default_value_t = Engine::Gpu)]
    engine: Engine,
    /// One JSON object on stdout instead of the table.
    #[arg(long)]
    json: bool,
    /// Draw log10 ‖dL/dh_t‖ against t (.svg or .png by the name).
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Plot a training log (gradient norm per update, clip events) instead.
    #[arg(long)]
    train_log: Option<PathBuf>,
}

pub fn run(a: StabilityArgs) -> Result<()> {
    // Options are checked before any work (a bad plot name used to fail at the end).
    if let Some(p) = &a.plot {
        wgpu_rnn::plot::plot_format(p)?;
    }
    if let Some(log) = &a.train_log {
        return train_log(log, a.plot.as_deref());
    }
    let at = LossAt::from(a.loss);
    // Configurations: (label, weights).
    let mut configs: Vec<(String, Weights)> = vec![];
    let base_init = Init {
        scale: a.init_scale,
        spectral_radius: a.spectral_radius,
        orthogonal: a.orthogonal,
        forget_bias: a.forget_bias,
    };
    let seeded = |cell: CellKind, init: Init| -> Result<Weights> {
        let spec = RnnSpec::new(cell, a.input_size, a.hidden)
            .layers(a.layers.unwrap_or(1))
            .bidirectional(a.bidirectional);
        Ok(stability::init_weights(spec, a.seed, init)?)
    };
    if let Some(sw) = &a.sweep {
        let (param, range) = sw
            .split_once('=')
            .with_context(|| format!("--sweep {sw}: expected NAME=FROM:TO:COUNT"))?;
        let parts: Vec<&str> = range.split(':').collect();
        if parts.len() != 3 {
            bail!("--sweep {sw}: expected NAME=FROM:TO:COUNT");
        }
        let (from, to, count): (f64, f64, usize) =
            (parts[0].parse()?, parts[1].parse()?, parts[2].parse()?);
        if count == 0 {
            bail!("--sweep {sw}: COUNT must be at least 1");
        }
        let cells: Vec<CellKind> = if a.cells.is_empty() {
            vec![a.cell.kind(a.nonlinearity)]
        } else {
            a.cells.iter().map(|c| c.kind(a.nonlinearity)).collect()
        };
        for cell in cells {
            for i in 0..count {
                let v = if count == 1 {
                    from
                } else {
                    from + (to - from) * i as f64 / (count - 1) as f64
                };
                let init = match param {
                    "spectral-radius" => Init { spectral_radius: Some(v), ..base_init },
                    "init-scale" => Init { scale: Some(v), ..base_init },
                    p => bail!("--sweep {p}: expected spectral-radius or init-scale"),
                };
                configs.push((format!("{} {param}={v:.3}", cell.name()), seeded(cell, init)?));
            }
        }
    } else if let Some(path) = &a.weights {
        let m = ModelArgs {
            weights: path.clone(),
            cell: a.cell,
            layers: a.layers,
            bidirectional: a.bidirectional,
            nonlinearity: a.nonlinearity,
            precision: Default::default(),
        };
        configs.push((path.display().to_string(), m.load()?));
    } else if !a.cells.is_empty() {
        for c in &a.cells {
            let cell = c.kind(a.nonlinearity);
            configs.push((cell.name().to_string(), seeded(cell, base_init)?));
        }
    } else {
        let cell = a.cell.kind(a.nonlinearity);
        configs.push((cell.name().to_string(), seeded(cell, base_init)?));
    }
    let gpu = match a.engine {
        Engine::Gpu => Some(Gpu::new()?),
        Engine::Cpu => None,
    };
    let mut reports = vec![];
    for (label, w) in &configs {
        let spec = w.spec;
        let (x, t, b) = match &a.input {
            Some(p) => {
                let f = InputFile::load(p, &spec)?;
                (f.x, f.t, f.b)
            }
            None => (
                stability::random_input(a.seq, a.batch, spec.input_size, a.seed + 1),
                a.seq,
                a.batch,
            ),
        };
        let tr = match &gpu {
            Some(g) => stability::trace_gpu(g, w, &x, t, b, at)?,
            None => stability::trace_cpu(w, &x, t, b, at)?,
        };
        let report = stability::summarize(label, w, &tr, t, b, at, a.engine.name());
        if let (Some(_), Some(step)) = (&gpu, report.first_nonfinite_step) {
            // f32 overflowed on the GPU: say so, and whether the f64 reference agrees.
            let cpu = stability::summarize(
                label,
                w,
                &stability::trace_cpu(w, &x, t, b, at)?,
                t,
                b,
                at,
                "cpu",
            );
            eprintln!(
                "{label}: f32 overflowed on the GPU: ‖dL/dh_t‖ is not finite from step {step} back to 0; {}",
                match cpu.first_nonfinite_step {
                    Some(s) => format!("the f64 reference overflows too, from step {s}"),
                    None => format!(
                        "the f64 reference (--engine cpu) stays finite there (‖dL/dh_0‖ = {:.3e}), so the two disagree because of f32's range",
                        cpu.grad_h_norm[0]
                    ),
                }
            );
        }
        reports.push(report);
    }
    if a.json {
        println!("{}", serde_json::to_string(&serde_json::json!({ "configs": reports }))?);
    } else {
        println!(
            "{:<28} {:>9} {:>11} {:>11} {:>9} {:>10} {:>8}  verdict",
            "config", "σmax(Whh)", "‖g_T-1‖", "‖g_0‖", "growth", "saturated", "NaN at"
        );
        for r in &reports {
            // linear cells have no W_hh: no σ_max
            let smax = match r.sigma_max.iter().map(|s| s.1).reduce(f64::max) {
                Some(v) => format!("{v:.3}"),
                None => "-".into(),
            };
            let sat = r.saturation.iter().sum::<f64>() / r.saturation.len() as f64;
            println!(
                "{:<28} {:>9} {:>11.3e} {:>11.3e} {:>9.4} {:>9.1}% {:>8}  {} (threshold ±{})",
                r.label,
                smax,
                r.grad_h_norm[r.seq - 1],
                r.grad_h_norm[0],
                r.growth_per_step,
                100.0 * sat,
                r.first_nonfinite_step.map(|s| s.to_string()).unwrap_or_else(|| "-".into()),
                r.verdict,
                r.threshold
            );
        }
    }
    if let Some(p) = &a.plot {
        let series: Vec<Series> = reports
            .iter()
            .map(|r| Series {
                label: r.label.clone(),
                points: r
                    .grad_h_norm
                    .iter()
                    .enumerate()
                    .map(|(t, g)| (t as f64, g.log10()))
                    .collect(),
            })
            .collect();
        line_chart(
            p,
            "Gradient reaching each step: log10 ||dL/dh_t||",
            "timestep t",
            "log10 ||dL/dh_t||",
            &series,
        )?;
        eprintln!("wrote {}", p.display());
    }
    Ok(())
}

/// `--train-log`: the global gradient norm per update of a training log, and its clips.
fn train_log(log: &std::path::Path, plot: Option<&std::path::Path>) -> Result<()> {
    let steps = wgpu_rnn::train::read_log(log)?;
    let clipped = steps.iter().filter(|s| s.clipped).count();
    println!(
        "{}: {} updates, {} clipped, final gradient norm {:.4}",
        log.display(),
        steps.len(),
        clipped,
        steps.last().map_or(f32::NAN, |s| s.grad_norm)
    );
    if let Some(p) = plot {
        let norm = Series {
            label: "gradient norm (before clipping)".into(),
            points: steps
                .iter()
                .enumerate()
                .map(|(i, s)| (i as f64, (s.grad_norm as f64).log10()))
                .collect(),
        };
        let clips = Series {
            label: "clipped (log10 norm where clipped)".into(),
            points: steps
                .iter()
                .enumerate()
                .filter(|(_, s)| s.clipped)
                .map(|(i, s)| (i as f64, (s.grad_norm as f64).log10()))
                .collect(),
        };
        let mut series = vec![norm];
        if !clips.points.is_empty() {
            series.push(clips);
        }
        line_chart(p, "Global gradient norm per update", "update", "log10 ||g||", &series)?;
        eprintln!("wrote {}", p.display());
    }
    Ok(())
}
