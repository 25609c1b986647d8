//! The hidden-state trace shows exactly the forward outputs (and c_t for LSTM).

mod common;
use wgpu_rnn::charlm::Vocab;
use wgpu_rnn::check::compare;
use wgpu_rnn::reference::{self, SeqBatch};
use wgpu_rnn::{trace, CellKind};

#[test]
fn trace_values_are_the_forward_outputs() {
    let gpu = common::gpu();
    let vocab = Vocab::from_text(trace::DEFAULT_VOCAB).unwrap();
    for cell in [CellKind::RnnTanh, CellKind::Lstm] {
        let w = trace::seeded(&vocab, cell, 16, 3).unwrap();
        let text = "abracadabra";
        let tr = trace::run(gpu, &w, &vocab, text).unwrap();
        let ids = vocab.encode(text).unwrap();
        let x: Vec<f64> = vocab.one_hot(&ids).iter().map(|&v| v as f64).collect();
        // The reference, one step at a time, gives h_t and c_t of every prefix.
        let full = reference::forward(&w, &SeqBatch { t: ids.len(), b: 1, x: &x, h0: None, c0: None, lengths: None }).unwrap();
        let h: Vec<f32> = tr.h.concat();
        assert_close_all(compare(&format!("{cell} trace h"), &h, &full.output, 1e-5, 1e-4));
        if let Some(c) = &tr.c {
            for (step, ct) in c.iter().enumerate() {
                let v = vocab.len();
                let prefix = reference::forward(&w, &SeqBatch { t: step + 1, b: 1, x: &x[..(step + 1) * v], h0: None, c0: None, lengths: None }).unwrap();
                assert_close_all(compare(&format!("{cell} trace c step {step}"), ct, &prefix.c_n, 1e-5, 1e-4));
            }
        }
        let path = std::env::temp_dir().join(format!("trace-{}-{}.svg", std::process::id(), cell.name()));
        trace::draw_svg(&tr, &path, "test").unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.matches("<rect").count() >= 11 * 16 && svg.contains(">\nb\n</text>"), "heatmap cells and character labels");
    }
}

fn assert_close_all(c: wgpu_rnn::check::Comparison) {
    assert!(c.ok(), "{c}");
}
