//! The hidden-state trace shows exactly the forward outputs (and c_t and the gates).

mod common;
use wgpu_rnn::charlm::Vocab;
use wgpu_rnn::check::compare;
use wgpu_rnn::reference::{self, SeqBatch};
use wgpu_rnn::trace::{self, TraceOptions};
use wgpu_rnn::{CellKind, RnnSpec, Weights};

#[test]
fn trace_values_are_the_forward_outputs() {
    let gpu = common::gpu();
    let (vocab, text, ids, x) = abracadabra();
    let v = vocab.len();
    // Seeded one-layer demos, and a 2-layer model traced at its first layer.
    let models = [
        (trace::seeded(&vocab, CellKind::RnnTanh, 16, 3).unwrap(), None),
        (trace::seeded(&vocab, CellKind::Lstm, 16, 3).unwrap(), None),
        (Weights::init(RnnSpec::new(CellKind::Lstm, v, 13).layers(2), 4).unwrap(), Some(0)),
        (Weights::init(RnnSpec::new(CellKind::Gru, v, 9).layers(2), 5).unwrap(), None),
    ];
    for (w, layer) in models {
        let cell = w.spec.cell;
        let gates = cell != CellKind::RnnTanh;
        let tr =
            trace::run(gpu, &w, &vocab, text, TraceOptions { layer, gates, ..Default::default() })
                .unwrap();
        let l = layer.unwrap_or(w.spec.num_layers - 1);
        assert_eq!(tr.layer, l);
        // The reference over every prefix gives h_t and c_t of layer l at each step.
        let full = reference::forward(
            &w,
            &SeqBatch { t: ids.len(), b: 1, x: &x, h0: None, c0: None, lengths: None },
        )
        .unwrap();
        let h = w.spec.hidden_size;
        for step in 0..ids.len() {
            let prefix = prefix_forward(&w, &x, v, step + 1);
            let want_h = &prefix.h_n[l * h..(l + 1) * h];
            assert_close_all(compare(
                &format!("{cell} layer {l} trace h step {step}"),
                &tr.h[step],
                want_h,
                1e-5,
                1e-4,
            ));
            if let Some(c) = &tr.c {
                assert_close_all(compare(
                    &format!("{cell} layer {l} trace c step {step}"),
                    &c[step],
                    &prefix.c_n[l * h..(l + 1) * h],
                    1e-5,
                    1e-4,
                ));
            }
            if gates {
                let want = full.gates(l, 0, step, 0).unwrap();
                let got: Vec<f32> = tr.gates.iter().flat_map(|g| g.values[step].clone()).collect();
                assert_close_all(compare(
                    &format!("{cell} layer {l} gates step {step}"),
                    &got,
                    &want,
                    1e-5,
                    1e-4,
                ));
            }
        }
        if l == w.spec.num_layers - 1 {
            // The last layer's h_t is the model's output.
            assert_close_all(compare(
                &format!("{cell} trace = output"),
                &tr.h.concat(),
                &full.output,
                1e-5,
                1e-4,
            ));
        }
        assert_eq!(tr.gates.len(), if gates { w.spec.gates() } else { 0 });
        // Drawing a subset of units keeps their values exactly.
        let cut = tr.first_units(5);
        assert_eq!(cut.hidden_size, 5);
        assert!(cut.h.iter().zip(&tr.h).all(|(a, b)| a[..] == b[..5]));
        assert!(cut.gates.iter().zip(&tr.gates).all(|(a, b)| a
            .values
            .iter()
            .zip(&b.values)
            .all(|(x, y)| x[..] == y[..5])));
        let dir =
            std::env::temp_dir().join(format!("trace-{}-{}", std::process::id(), cell.name()));
        std::fs::create_dir_all(&dir).unwrap();
        trace::draw_svg(&tr, &dir.join("t.svg"), "test").unwrap();
        let svg = std::fs::read_to_string(dir.join("t.svg")).unwrap();
        let panels = 1 + tr.c.is_some() as usize + tr.gates.len();
        assert!(
            svg.matches("<rect").count() >= panels * 11 * h && svg.contains(">\nb\n</text>"),
            "heatmap cells and character labels"
        );
        trace::draw_png(&tr, &dir.join("t.png"), "test").unwrap();
        let png = std::fs::read(dir.join("t.png")).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        // IHDR: width and height follow the layout of the SVG.
        let dim = |o: usize| u32::from_be_bytes(png[o..o + 4].try_into().unwrap());
        assert!(
            svg.contains(&format!("width=\"{}\" height=\"{}\"", dim(16), dim(20))),
            "PNG {}x{} is the SVG's size",
            dim(16),
            dim(20)
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
    // A plain RNN has no gates to show, and the layer must exist.
    let w = trace::seeded(&vocab, CellKind::RnnTanh, 4, 1).unwrap();
    let err = trace::run(
        gpu,
        &w,
        &vocab,
        text,
        TraceOptions { layer: None, gates: true, ..Default::default() },
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("no gates"), "{err}");
    let err =
        trace::run(gpu, &w, &vocab, text, TraceOptions { layer: Some(1), ..Default::default() })
            .unwrap_err()
            .to_string();
    assert!(err.contains("--layer 1"), "{err}");
}

/// A 16-bit model's trace decodes its 16-bit reserve (two steps per word, GRU's n parts
/// apart): h_t is the reference's on the rounded weights to f32's tolerance; the gates and
/// c_t, computed from the rounded pre-activations and c_{t-1}, are within a few 16-bit steps
/// of the reference's. An odd H (unaligned columns) and an odd number of steps (a half-used
/// last word).
#[test]
fn a_16_bit_models_trace_decodes_its_16_bit_reserve() {
    use wgpu_rnn::Precision;
    let gpu = common::gpu();
    let (vocab, text, ids, x) = abracadabra();
    let v = vocab.len();
    for cell in [CellKind::Lstm, CellKind::Gru] {
        for p in [Precision::F16, Precision::Bf16] {
            let w = Weights::init(RnnSpec::new(cell, v, 13), 6).unwrap().to_precision(p);
            let opts = TraceOptions { layer: None, gates: true, ..Default::default() };
            let tr = trace::run(gpu, &w, &vocab, text, opts).unwrap();
            let full = reference::forward(
                &w,
                &SeqBatch { t: ids.len(), b: 1, x: &x, h0: None, c0: None, lengths: None },
            )
            .unwrap();
            assert_close_all(compare(
                &format!("{cell} {p} h"),
                &tr.h.concat(),
                &full.output,
                1e-5,
                1e-4,
            ));
            // gates in [-1, 1] from pre-activations one rounding away
            let u = p.unit_roundoff();
            for step in 0..ids.len() {
                let want = full.gates(0, 0, step, 0).unwrap();
                let got: Vec<f32> = tr.gates.iter().flat_map(|g| g.values[step].clone()).collect();
                assert_close_all(compare(
                    &format!("{cell} {p} gates {step}"),
                    &got,
                    &want,
                    8.0 * u,
                    0.0,
                ));
            }
            if let Some(c) = &tr.c {
                // c_t is the next step's kept c_{t-1} (rounded), the last step's c_n (f32)
                let mut want = vec![0.0; 0];
                for step in 0..ids.len() {
                    want.extend_from_slice(&prefix_forward(&w, &x, v, step + 1).c_n);
                }
                assert_close_all(compare(
                    &format!("{cell} {p} c"),
                    &c.concat(),
                    &want,
                    1e-5,
                    2.0 * u,
                ));
            }
        }
    }
}

/// The traced text, its vocabulary, ids and one-hot inputs [T, V].
fn abracadabra() -> (Vocab, &'static str, Vec<u32>, Vec<f64>) {
    let vocab = Vocab::from_text(trace::DEFAULT_VOCAB).unwrap();
    let text = "abracadabra";
    let ids = vocab.encode(text).unwrap();
    let x = vocab.one_hot(&ids).iter().map(|&v| v as f64).collect();
    (vocab, text, ids, x)
}

/// The reference over the first `t` steps of the one-row sequence `x` (`v` inputs a step):
/// its h_n and c_n are h_t and c_t of the full run.
fn prefix_forward(w: &Weights, x: &[f64], v: usize, t: usize) -> reference::Forward {
    let batch = SeqBatch { t, b: 1, x: &x[..t * v], h0: None, c0: None, lengths: None };
    reference::forward(w, &batch).unwrap()
}

fn assert_close_all(c: wgpu_rnn::check::Comparison) {
    assert!(c.ok(), "{c}");
}

/// The CPU twin of the trace (what the browser page computes without WebGPU) gives the
/// GPU's numbers for every cell, gates, c_t and ‖dL/dh_t‖ included, within the page's
/// contract tolerance (1e-5 + 1e-4·|ref|).
#[test]
fn cpu_trace_matches_the_gpu_trace() {
    let gpu = common::gpu();
    let vocab = Vocab::from_text(trace::DEFAULT_VOCAB).unwrap();
    let text = "abracadabra abracadabra";
    for cell in CellKind::ALL {
        let w = trace::seeded(&vocab, cell, 12, 7).unwrap();
        let gates = cell.cell().gates.len() > 1;
        let opts = TraceOptions { layer: None, gates, grad: true };
        let got = trace::run(gpu, &w, &vocab, text, opts).unwrap();
        let want = trace::run_cpu(&w, &vocab, text, opts).unwrap();
        let flat = |rows: &[Vec<f32>]| rows.concat();
        let what = |part: &str| format!("{cell} trace {part}");
        assert_close_all(compare(&what("h"), &flat(&got.h), &flat(&want.h), 1e-5, 1e-4));
        assert_eq!(got.c.is_some(), cell.has_cell_state());
        if let (Some(g), Some(w)) = (&got.c, &want.c) {
            assert_close_all(compare(&what("c"), &flat(g), &flat(w), 1e-5, 1e-4));
        }
        assert_eq!(got.gates.len(), want.gates.len());
        for (g, w) in got.gates.iter().zip(&want.gates) {
            assert_eq!(g.name, w.name);
            assert_close_all(compare(
                &what(&g.name),
                &flat(&g.values),
                &flat(&w.values),
                1e-5,
                1e-4,
            ));
        }
        let (gn, wn) = (got.grad_h_norm.unwrap(), want.grad_h_norm.unwrap());
        assert_eq!(gn.len(), text.len());
        // The loss is Σ h_T: its gradient at the last character is all ones.
        assert!((wn[text.len() - 1] - 12f64.sqrt()).abs() < 1e-9, "{wn:?}");
        // Norms span many decades: compare relative to each step's own size.
        assert_close_all(compare(&what("‖dL/dh_t‖"), &gn, &wn, 0.0, 1e-3));
    }
}
