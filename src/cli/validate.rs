//! `wgpu-rnn validate`: every kernel variant against the CPU reference over a matrix of
//! shapes, forward and backward.

use super::common::{self, KernelVariant, PrecisionArg};
use anyhow::{bail, Result};
use clap::Args;
use wgpu_rnn::{validate, Gpu, Precision, Variant};

#[derive(Args)]
pub struct ValidateArgs {
    /// The CI-sized matrix (small H and T).
    #[arg(long)]
    quick: bool,
    /// Every combination of layers, directions and lengths for each shape.
    #[arg(long)]
    full: bool,
    /// Two shapes per cell (every variant, forward and backward): a check of a few minutes,
    /// e.g. under other subgroup widths (LP_NATIVE_VECTOR_WIDTH=128 or 512 on lavapipe).
    #[arg(long, conflicts_with_all = ["quick", "full"])]
    smoke: bool,
    /// Only this variant (default: every variant the adapter supports).
    #[arg(long, value_enum)]
    variant: Option<KernelVariant>,
    /// Skip the backward pass (gradients are checked for every training variant otherwise).
    #[arg(long)]
    no_backward: bool,
    /// Weight precisions to check, each against the reference on weights rounded to it
    /// (repeat or separate with commas: `--precision f32,f16,bf16`).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "f32")]
    precision: Vec<PrecisionArg>,
}

pub fn run(a: ValidateArgs) -> Result<()> {
    let gpu = Gpu::new()?;
    println!("adapter: {}", gpu.describe());
    let only = a.variant.map(Variant::from);
    // Forward over the inference matrix, backward over the training matrix.
    let (fwd, bwd) = if a.smoke {
        (validate::smoke_matrix(), validate::smoke_matrix())
    } else {
        (validate::matrix(a.quick, a.full), validate::grad_matrix(a.quick))
    };
    let mut jobs: Vec<(&str, validate::Case)> = fwd.into_iter().map(|c| ("fwd", c)).collect();
    if !a.no_backward {
        jobs.extend(bwd.into_iter().map(|c| ("bwd", c)));
    }
    let precisions = common::precisions(&a.precision);
    let jobs: Vec<(&str, validate::Case, Precision)> =
        precisions.iter().flat_map(|&p| jobs.iter().map(move |&(w, c)| (w, c, p))).collect();
    let (mut pass, mut fail) = (0, 0);
    println!(
        "{:<48} {:<4} {:<4} {:<19} {:>10} {:>10}  result",
        "case", "pass", "prec", "variant", "max abs", "max rel"
    );
    for (i, (which, case, precision)) in jobs.iter().enumerate() {
        let p = validate::prepare_at(*case, 1000 + i as u64, *precision)?;
        let supported = if *which == "fwd" {
            validate::variants_for(&gpu, &case.spec())
        } else {
            validate::training_variants_for(&gpu, &case.spec())
        };
        let variants = match only {
            Some(v) if supported.contains(&v) => vec![v],
            Some(_) => vec![],
            None => supported,
        };
        for v in variants {
            let cmps = if *which == "fwd" {
                validate::check_forward(&gpu, &p, v)?
            } else {
                validate::check_backward(&gpu, &p, v)?
            };
            let ok = cmps.iter().all(|c| c.ok());
            let max_abs = cmps.iter().map(|c| c.max_abs).fold(0.0, f64::max);
            let max_rel = cmps.iter().map(|c| c.max_rel).fold(0.0, f64::max);
            println!(
                "{:<48} {:<4} {:<4} {:<19} {:>10.2e} {:>10.2e}  {}",
                case.label(),
                which,
                precision.name(),
                v.name(),
                max_abs,
                max_rel,
                if ok { "PASS" } else { "FAIL" }
            );
            if ok {
                pass += 1;
            } else {
                fail += 1;
                for c in cmps.iter().filter(|c| !c.ok()) {
                    println!("    {c}");
                }
            }
        }
    }
    println!("validate: {pass} passed, {fail} failed");
    if fail > 0 {
        bail!("{fail} case(s) failed");
    }
    Ok(())
}
