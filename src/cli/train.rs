//! `wgpu-rnn train`: a character-level language model on a text file, checkpointed
//! atomically at every evaluation, at the end and on Ctrl-C.

use super::common::{
    at_least_one, finite_non_negative, finite_positive, Cell, Nonlinearity, PrecisionArg,
};
use anyhow::{bail, Context, Result};
use clap::Args;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use wgpu_rnn::charlm::{self, Batcher, Checkpoint, Vocab};
use wgpu_rnn::train::{Loss, Optimizer, Targets, TrainConfig, Trainer};
use wgpu_rnn::{Gpu, GpuModel, RnnSpec, Weights};

#[derive(Args)]
pub struct TrainArgs {
    /// The corpus (UTF-8 text); its last --val-fraction is held out for validation.
    /// Default: the shipped data/shakespeare.txt (Macbeth and Hamlet), built into the binary.
    #[arg(long)]
    text: Option<PathBuf>,
    /// Checkpoint, written atomically at every evaluation, at the end and on Ctrl-C.
    #[arg(long, default_value = "charlm.safetensors")]
    out: PathBuf,
    /// The recurrent cell [default: lstm]. With --resume the checkpoint's; a different
    /// value given is refused.
    #[arg(long, value_enum, ignore_case = true)]
    cell: Option<Cell>,
    /// The activation of --cell rnn [default: tanh].
    #[arg(long, value_enum, ignore_case = true)]
    nonlinearity: Option<Nonlinearity>,
    /// Layers [default: 2] (with --resume: the checkpoint's; a different value is refused).
    #[arg(long, value_parser = at_least_one::<usize>)]
    layers: Option<usize>,
    /// Hidden size [default: 256] (with --resume: the checkpoint's; a different value is
    /// refused).
    #[arg(long, value_parser = at_least_one::<usize>)]
    hidden: Option<usize>,
    #[arg(long, default_value_t = 64, value_parser = at_least_one::<usize>)]
    seq: usize,
    #[arg(long, default_value_t = 32, value_parser = at_least_one::<usize>)]
    batch: usize,
    /// Updates to run (600: about 20 minutes on 2 CPU cores under lavapipe, where validation
    /// loss fell from 4.17 (uniform over 65 characters) to 1.83 nats/char).
    #[arg(long, default_value_t = 600)]
    steps: u64,
    #[arg(long, default_value_t = 2e-3, value_parser = finite_positive::<f32>)]
    lr: f32,
    /// Global gradient-norm clipping threshold (0: off).
    #[arg(long, default_value_t = 5.0, value_parser = finite_non_negative::<f32>, allow_negative_numbers = true)]
    clip: f32,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Continue from --out (weights, head, vocabulary and step count; Adam's moments restart).
    #[arg(long)]
    resume: bool,
    #[arg(long, default_value_t = 0.1)]
    val_fraction: f64,
    /// Steps between validations and checkpoints.
    #[arg(long, default_value_t = 100, value_parser = at_least_one::<u64>)]
    eval_every: u64,
    /// Characters of the held-out tail used per validation (from its start).
    #[arg(long, default_value_t = 20000)]
    val_chars: usize,
    /// Write the training log (loss, gradient norm, clipping per update) as JSON.
    #[arg(long)]
    log: Option<PathBuf>,
    /// Mixed precision: f16 or bf16 weight matrices feed the kernels, rounded after every
    /// update from f32 master weights (the checkpoint stores them in that dtype)
    /// [default: f32, or with --resume the checkpoint's].
    #[arg(long, value_enum, ignore_case = true)]
    precision: Option<PrecisionArg>,
}

pub fn run(a: TrainArgs) -> Result<()> {
    let (text, corpus) = match &a.text {
        Some(p) => (
            std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
            p.display().to_string(),
        ),
        None => (charlm::SHAKESPEARE.to_string(), "the shipped data/shakespeare.txt".to_string()),
    };
    if !(0.0..0.9).contains(&a.val_fraction) {
        bail!("--val-fraction {} must be in [0, 0.9)", a.val_fraction);
    }
    let resumed = if a.resume { Some(Checkpoint::load(&a.out)?) } else { None };
    let vocab = match &resumed {
        Some(ck) => ck.vocab.clone(),
        None => Vocab::from_text(&text)?,
    };
    let ids = vocab.encode(&text)?;
    let split = ((ids.len() as f64) * (1.0 - a.val_fraction)) as usize;
    let (train_ids, val_ids) = ids.split_at(split);
    let val_ids = &val_ids[..val_ids.len().min(a.val_chars)];
    let nonlinearity = a.nonlinearity.unwrap_or(Nonlinearity::Tanh);
    let spec = match &resumed {
        Some(ck) => {
            // The checkpoint fixes the model: a flag saying otherwise is refused, not ignored.
            let s = ck.weights.spec;
            let given_cell = a.cell.map(|c| c.kind(nonlinearity));
            for (flag, given, saved) in [
                ("--cell/--nonlinearity", given_cell.map(|c| c.to_string()), s.cell.to_string()),
                ("--layers", a.layers.map(|v| v.to_string()), s.num_layers.to_string()),
                ("--hidden", a.hidden.map(|v| v.to_string()), s.hidden_size.to_string()),
            ] {
                if let Some(given) = given.filter(|g| *g != saved) {
                    bail!(
                        "{flag} {given} given, but the checkpoint {} holds {saved}: resuming keeps the checkpoint's model (drop the flag, or train anew without --resume)",
                        a.out.display()
                    );
                }
            }
            s
        }
        None => RnnSpec::new(
            a.cell.unwrap_or(Cell::Lstm).kind(nonlinearity),
            vocab.len(),
            a.hidden.unwrap_or(256),
        )
        .layers(a.layers.unwrap_or(2)),
    };
    let spec = match a.precision {
        Some(p) => spec.with_precision(p.into()),
        None => spec,
    };
    let weights = match &resumed {
        Some(ck) => Weights { spec, ..ck.weights.clone() },
        None => Weights::init(spec, a.seed)?,
    };
    let gpu = Gpu::new()?;
    let mut cfg =
        TrainConfig::new(Optimizer::adam(a.lr), Loss::CrossEntropy { classes: vocab.len() });
    cfg.clip_norm = (a.clip > 0.0).then_some(a.clip);
    cfg.carry_state = true;
    cfg.seed = a.seed;
    let mut tr = Trainer::new(&gpu, &weights, cfg, a.seq, a.batch)?;
    let mut step0 = 0;
    if let Some(ck) = &resumed {
        tr.set_head(&gpu, &ck.head_weight, &ck.head_bias)?;
        step0 = ck.step;
    }
    let mut batcher = Batcher::new(train_ids.len(), a.batch, a.seq, a.seed)?;
    let data = batcher.describe(a.seed);
    if let Some(ck) = &resumed {
        // The data position: rebuilt when the batches are read as before, else restarted.
        if ck.data.as_deref() == Some(data.as_str()) {
            batcher.skip(ck.step);
            eprintln!("resume: data position restored after {} batches", ck.step);
        } else {
            eprintln!(
                "resume: the data position restarts from the corpus start (the checkpoint read {}, this run reads {data})",
                ck.data.as_deref().unwrap_or("an unrecorded layout")
            );
        }
        eprintln!("resume: Adam's moments are not saved in checkpoints; they restart at zero");
    }
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        ctrlc::set_handler(move || stop.store(true, Ordering::SeqCst))
            .context("installing the SIGINT/SIGTERM handler")?;
    }
    eprintln!(
        "{spec} on {corpus}: vocabulary {} chars, {} training / {} validation chars, {} on {}",
        vocab.len(),
        train_ids.len(),
        val_ids.len(),
        if resumed.is_some() { format!("resuming at step {step0}") } else { "fresh".into() },
        gpu.describe()
    );
    let checkpoint = |tr: &Trainer, step: u64| -> Result<Checkpoint> {
        let (head_weight, head_bias) = tr.head(&gpu)?;
        let ck = Checkpoint {
            weights: tr.weights(&gpu)?,
            head_weight,
            head_bias,
            vocab: vocab.clone(),
            step,
            data: Some(data.clone()),
        };
        ck.save(&a.out)?;
        Ok(ck)
    };
    let validate = |ck: &Checkpoint| -> Result<f64> {
        if val_ids.len() < 2 {
            return Ok(f64::NAN);
        }
        let model = GpuModel::new(&gpu, &ck.weights)?;
        Ok(charlm::evaluate(&gpu, ck, &model, val_ids, a.batch, 256)?)
    };
    let bar = indicatif::ProgressBar::new(a.steps);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:30} {pos}/{len} [{elapsed_precise}<{eta_precise}] {msg}",
        )
        .unwrap(),
    );
    let start = std::time::Instant::now();
    let mut step = step0;
    let mut curve = vec![];
    for i in 0..a.steps {
        if stop.load(Ordering::SeqCst) {
            bar.abandon_with_message("interrupted");
            let ck = checkpoint(&tr, step)?;
            eprintln!(
                "interrupted (SIGINT or SIGTERM): saved {} at step {}",
                a.out.display(),
                ck.step
            );
            write_log(&a.log, &tr)?;
            std::process::exit(130);
        }
        let (x, y, wrapped) = batcher.next(train_ids);
        if wrapped {
            tr.reset_state();
        }
        let st = tr.step(&gpu, &vocab.one_hot(&x), Targets::Classes(&y))?;
        step += 1;
        let secs = start.elapsed().as_secs_f64();
        bar.set_message(format!(
            "loss {:.3} |g| {:.2}{} {:.2} steps/s {:.0} tok/s",
            st.loss,
            st.grad_norm,
            if st.clipped { " clipped" } else { "" },
            (i + 1) as f64 / secs,
            ((i + 1) as usize * a.seq * a.batch) as f64 / secs
        ));
        bar.inc(1);
        if (i + 1) % a.eval_every == 0 || i + 1 == a.steps {
            let ck = checkpoint(&tr, step)?;
            let v = validate(&ck)?;
            curve.push((step, st.loss, v));
            let line = format!(
                "step {step}: train loss {:.4}, validation loss {v:.4} nats/char, saved {}",
                st.loss,
                a.out.display()
            );
            bar.suspend(|| eprintln!("{line}"));
        }
    }
    bar.finish();
    write_log(&a.log, &tr)?;
    eprintln!("validation curve (step, train loss, validation loss):");
    for (s, l, v) in curve {
        eprintln!("  {s:>6} {l:.4} {v:.4}");
    }
    Ok(())
}

fn write_log(path: &Option<PathBuf>, tr: &Trainer) -> Result<()> {
    if let Some(p) = path {
        wgpu_rnn::train::write_log(p, &tr.log)?;
    }
    Ok(())
}
