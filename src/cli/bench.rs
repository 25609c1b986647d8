//! `wgpu-rnn bench`: throughput of the named workloads or a custom shape, checked against
//! the CPU reference, optionally beside another engine's timings or as a GPU profile.

use super::common::{self, Cell, KernelVariant, Nonlinearity, PrecisionArg, WorkloadName};
use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use wgpu_rnn::bench::{self, CaseResult, Mode, Workload};
use wgpu_rnn::{Gpu, Variant, Weights};

/// `--mode`: which passes to time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BenchMode {
    /// The forward pass (inference)
    #[value(name = "fwd")]
    Fwd,
    /// One training step: forward, backward and the weight gradients
    #[value(name = "train")]
    Train,
    /// fwd, then train
    #[value(name = "both")]
    Both,
}

impl BenchMode {
    /// The library's modes, in the order they run.
    pub fn modes(self) -> Vec<Mode> {
        match self {
            BenchMode::Fwd => vec![Mode::Fwd],
            BenchMode::Train => vec![Mode::Train],
            BenchMode::Both => vec![Mode::Fwd, Mode::Train],
        }
    }
}

#[derive(Args)]
pub struct BenchArgs {
    /// Named workload (repeatable). Default all.
    #[arg(long, value_enum)]
    workload: Vec<WorkloadName>,
    /// Which passes to time.
    #[arg(long, value_enum, default_value_t = BenchMode::Both)]
    mode: BenchMode,
    /// A custom shape instead of the named workloads: this cell (rnn: tanh) with --batch,
    /// --input, --hidden and --seq.
    #[arg(long, value_enum, ignore_case = true)]
    cell: Option<Cell>,
    #[arg(long, default_value_t = 64)]
    batch: usize,
    #[arg(long, default_value_t = 256)]
    input: usize,
    #[arg(long, default_value_t = 256)]
    hidden: usize,
    #[arg(long, default_value_t = 100)]
    seq: usize,
    /// Force a kernel variant; repeatable: each workload runs with every given variant
    /// that runs its cell (the scan variants run minGRU and minLSTM, the others the rest).
    #[arg(long, value_enum)]
    variant: Vec<KernelVariant>,
    /// Time the cases against each other: every case is prepared and checked first, then
    /// the timed calls go round all cases (workloads x variants) of a mode, one call each
    /// per round, so that all see the same states of the machine (no GEMM ceiling).
    #[arg(long)]
    alternate: bool,
    /// Timed runs per case (after one checked warm-up run).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Weight precision (repeat or separate with commas): every workload runs at each, so
    /// `--precision f32,f16 --alternate` times them against each other.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "f32", ignore_case = true)]
    precision: Vec<PrecisionArg>,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
    /// Skip the standalone GEMM ceiling measurement.
    #[arg(long)]
    no_ceiling: bool,
    /// Print the GPU time per kernel family (timestamp queries) instead of timing calls.
    #[arg(long)]
    profile: bool,
    /// Also time one forward pass of the f64 CPU reference on each workload.
    #[arg(long)]
    cpu_reference: bool,
    /// NAME=FILE (repeatable): another engine's timings, lines `workload fwd|train median_ms`
    /// (as benches/peers/ print them); adds its median / this engine's median per case.
    #[arg(long, value_name = "NAME=FILE")]
    compare: Vec<String>,
}

/// The variants to run `wl` with: the engine's pick (None), or each asked-for variant
/// that runs its cell.
fn variants_for(wl: &Workload, asked: &[Variant]) -> Vec<Option<Variant>> {
    if asked.is_empty() {
        return vec![None];
    }
    asked.iter().filter(|v| v.is_scan() == wl.cell.linear()).map(|&v| Some(v)).collect()
}

pub fn run(a: BenchArgs) -> Result<()> {
    let gpu = Gpu::new()?;
    let asked: Vec<Variant> = a.variant.iter().map(|&v| Variant::from(v)).collect();
    let wls: Vec<Workload> = if let Some(cell) = a.cell {
        let c = cell.kind(Nonlinearity::Tanh);
        vec![Workload::new("custom", c, a.batch, a.input, a.hidden, a.seq)]
    } else {
        common::workloads(&a.workload)?
    };
    let precisions = common::precisions(&a.precision);
    let wls: Vec<Workload> = wls
        .iter()
        .flat_map(|wl| precisions.iter().map(|&p| wl.clone().with_precision(p)))
        .collect();
    let modes = a.mode.modes();
    for wl in &wls {
        if variants_for(wl, &asked).is_empty() {
            let names: Vec<&str> = asked.iter().map(|v| v.name()).collect();
            bail!(
                "workload {}: no --variant given runs a {} cell ({}); add {}",
                wl.name,
                wl.cell,
                names.join(", "),
                if wl.cell.linear() { "scan or sequential" } else { "one of the others" }
            );
        }
    }
    if a.profile {
        println!("adapter: {}", gpu.describe());
        for wl in &wls {
            for (&mode, variant) in
                modes.iter().flat_map(|m| variants_for(wl, &asked).into_iter().map(move |v| (m, v)))
            {
                let fams = bench::profile(&gpu, wl, mode, variant, a.runs)?;
                let total: f64 = fams.iter().map(|f| f.1).sum();
                println!(
                    "{} {} {}: {:.2} ms of GPU time",
                    wl.name,
                    wl.precision,
                    format!("{mode:?}").to_lowercase(),
                    total
                );
                for (label, ms, share) in fams {
                    println!("  {label:<36} {ms:>10.2} ms {:>6.1}%", share * 100.0);
                }
            }
        }
        return Ok(());
    }
    let mut peers = vec![];
    for c in &a.compare {
        let (name, file) =
            c.split_once('=').with_context(|| format!("--compare {c}: expected NAME=FILE"))?;
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("--compare {c}: reading {file}"))?;
        peers.push((
            name.to_string(),
            bench::parse_peer_timings(&text).with_context(|| format!("--compare {c}"))?,
        ));
    }
    if !a.json {
        println!("adapter: {}", gpu.describe());
        println!(
            "{:<10} {:<5} {:<4} {:<19} {:>9} {:>9} {:>9} {:>12} {:>8} {:>9} {:>6}  check",
            "workload",
            "mode",
            "prec",
            "variant",
            "median ms",
            "min ms",
            "max ms",
            "tokens/s",
            "GFLOP/s",
            "GEMM ceil",
            "share"
        );
    }
    let mut measured: Vec<(usize, CaseResult)> = vec![];
    if a.alternate {
        for &mode in &modes {
            let mut cases = vec![];
            let mut at = vec![];
            for (i, wl) in wls.iter().enumerate() {
                for v in variants_for(wl, &asked) {
                    cases.push(bench::Prepared::new(&gpu, wl, mode, v)?);
                    at.push(i);
                }
            }
            measured.extend(at.into_iter().zip(bench::bench_alternating(&gpu, &cases, a.runs)?));
        }
        measured.sort_by_key(|(i, r)| (*i, r.mode == Mode::Train));
    }
    let mut results = vec![];
    let mut all_ok = true;
    for (i, wl) in wls.iter().enumerate() {
        let ceiling = if a.no_ceiling || a.alternate {
            None
        } else {
            Some(bench::Ceiling::for_workload(&gpu, wl)?)
        };
        let mut these: Vec<CaseResult> =
            measured.iter().filter(|(k, _)| *k == i).map(|(_, r)| r.clone()).collect();
        if !a.alternate {
            for &mode in &modes {
                for variant in variants_for(wl, &asked) {
                    these.push(bench::bench_case(
                        &gpu,
                        wl,
                        mode,
                        variant,
                        a.runs,
                        ceiling.as_ref(),
                    )?);
                }
            }
        }
        for mut r in these {
            let mode = r.mode;
            all_ok &= r.check_ok;
            let mode_name = format!("{mode:?}").to_lowercase();
            for (name, t) in &peers {
                if let Some(ms) = t.get(&(wl.name.clone(), mode_name.clone())) {
                    r.speedup.insert(name.clone(), ms / r.median_ms);
                }
            }
            let vs: String = r.speedup.iter().map(|(n, x)| format!(", {x:.2}x {n}")).collect();
            if !a.json {
                println!(
                    "{:<10} {:<5} {:<4} {:<19} {:>9.2} {:>9.2} {:>9.2} {:>12.0} {:>8.2} {:>9} {:>6}  {} ({}){vs}",
                    wl.name,
                    format!("{:?}", mode).to_lowercase(),
                    wl.precision.name(),
                    r.variant,
                    r.median_ms,
                    r.min_ms,
                    r.max_ms,
                    r.tokens_per_s,
                    r.gflops,
                    r.gemm_ceiling_gflops.map(|c| format!("{c:.2}")).unwrap_or_else(|| "-".into()),
                    r.ceiling_share.map(|x| format!("{:.0}%", x * 100.0)).unwrap_or_else(|| "-".into()),
                    if r.check_ok { "ok" } else { "MISMATCH" },
                    r.check
                );
            }
            results.push(r);
        }
        if a.cpu_reference {
            let w = Weights::init(wl.spec(), 1)?;
            let x: Vec<f64> = wgpu_rnn::stability::random_input(wl.seq, wl.batch, wl.input, 2)
                .iter()
                .map(|&v| v as f64)
                .collect();
            let start = std::time::Instant::now();
            wgpu_rnn::reference::forward(
                &w,
                &wgpu_rnn::reference::SeqBatch {
                    t: wl.seq,
                    b: wl.batch,
                    x: &x,
                    h0: None,
                    c0: None,
                    lengths: None,
                },
            )?;
            let ms = start.elapsed().as_secs_f64() * 1e3;
            if !a.json {
                println!(
                    "{:<10} {:<5} {:<19} {:>9.2}  (f64 CPU reference, one run, {:.2} GFLOP/s)",
                    wl.name,
                    "fwd",
                    "cpu-ref",
                    ms,
                    wl.forward_flops() / ms / 1e6
                );
            }
        }
    }
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({ "adapter": gpu.describe(), "results": results })
            )?
        );
    }
    if !all_ok {
        bail!("a result did not match the CPU reference");
    }
    Ok(())
}
