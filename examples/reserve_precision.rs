//! How far storing training's saved activations (the reserve space: xg, hg, h_{t-1},
//! c_{t-1}) in 16 bits moves the gradients, next to what 16-bit weights already move them:
//! the f64 reference's backward with the weights rounded, then with each saved activation
//! rounded as well (`Forward::round_saved`), then with what the GPU's 16-bit reserve rounds
//! (`Saved::GPU_RESERVE`: the sums xg + hg and c_{t-1}), against the backward of the f32
//! model. CPU only. Prints a Markdown table (the README's precision section).
//!
//! The error of a run is `Grads::relative_error`: the largest over the gradient tensors
//! (every parameter, x, h0, c0) of ‖g - g_f32‖ / ‖g_f32‖.
//!
//!   cargo run --release --example reserve_precision [-- T B]

use wgpu_rnn::reference::{self, Saved, SeqBatch};
use wgpu_rnn::stability::random_input;
use wgpu_rnn::{CellKind, Precision, RnnSpec, Weights};

fn main() -> wgpu_rnn::Result<()> {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let (t, b) = (args.first().copied().unwrap_or(50), args.get(1).copied().unwrap_or(4));
    println!(
        "T = {t}, B = {b}, I = H; relative gradient error against the f32 model (see the doc)\n"
    );
    println!("| cell | H | precision | weights | + xg | + hg | + h_prev | + c_prev | + all saved | all ÷ weights | + GPU reserve | GPU ÷ weights |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for cell in CellKind::ALL {
        for h in [64, 256] {
            let spec = RnnSpec::new(cell, h, h);
            let w = Weights::init(spec, 1)?;
            let widen = |v: Vec<f32>| v.into_iter().map(f64::from).collect::<Vec<f64>>();
            let x = widen(random_input(t, b, h, 12345));
            let d_out = widen(random_input(t, b, h, 777));
            let batch = SeqBatch { t, b, x: &x, h0: None, c0: None, lengths: None };
            let grad = |w: &Weights, round: Option<(Precision, &[Saved])>| {
                let mut fwd = reference::forward(w, &batch)?;
                if let Some((p, which)) = round {
                    fwd.round_saved(p, which);
                }
                reference::backward(w, &fwd, &d_out, None, None)
            };
            let exact = grad(&w, None)?;
            for p in [Precision::F16, Precision::Bf16] {
                let wp = w.to_precision(p);
                let base = grad(&wp, None)?.relative_error(&exact);
                let mut cols = vec![format!("{base:.1e}")];
                for s in Saved::ALL {
                    let applies = match s {
                        Saved::Hg => spec.recurrent_weights(),
                        Saved::CPrev => cell.has_cell_state(),
                        Saved::Xg | Saved::HPrev => true,
                        Saved::Gates => false,
                    };
                    cols.push(if applies {
                        format!("{:.1e}", grad(&wp, Some((p, &[s])))?.relative_error(&exact))
                    } else {
                        "—".into()
                    });
                }
                let all = grad(&wp, Some((p, &Saved::ALL)))?.relative_error(&exact);
                cols.push(format!("{all:.1e}"));
                cols.push(format!("{:.2}", all / base));
                // the linear cells' reserve stays f32 on the GPU
                if spec.with_precision(p).reserve_precision() == Precision::F32 {
                    cols.extend(["— (f32)".to_string(), "1.00".into()]);
                } else {
                    let kept = grad(&wp, Some((p, &Saved::GPU_RESERVE)))?.relative_error(&exact);
                    cols.push(format!("{kept:.1e}"));
                    cols.push(format!("{:.2}", kept / base));
                }
                println!("| {} | {h} | {} | {} |", cell.name(), p.name(), cols.join(" | "));
            }
        }
    }
    Ok(())
}
