//! GPU forward pass of every variant and cell against the CPU reference and PyTorch.

mod common;
use common::*;
use wgpu_rnn::check::compare;
use wgpu_rnn::reference::{self, SeqBatch};
use wgpu_rnn::{CellKind, ForwardOptions, GpuModel, Input, RnnSpec, Variant, Weights};

const ATOL: f64 = 1e-5;
const RTOL: f64 = 1e-4;

struct Case {
    cell: CellKind,
    i: usize,
    h: usize,
    layers: usize,
    bi: bool,
    t: usize,
    b: usize,
    lengths: bool,
}

fn run_case(c: &Case, variant: Variant) -> Result<(), String> {
    let gpu = gpu();
    let spec = RnnSpec::new(c.cell, c.i, c.h).layers(c.layers).bidirectional(c.bi);
    if let Some(why) = variant.unsupported(gpu, &spec) {
        return Err(format!("unsupported: {why}"));
    }
    let w = Weights::init(spec, 11).unwrap();
    let x = random_vec(c.t * c.b * c.i, 12, 1.0);
    let n_state = c.layers * spec.directions() * c.b * c.h;
    let h0 = random_vec(n_state, 13, 0.5);
    let c0 = c.cell.has_cell_state().then(|| random_vec(n_state, 14, 0.5));
    let lengths: Option<Vec<usize>> = c.lengths.then(|| (0..c.b).map(|i| 1 + (i * 7 + c.t - 1) % c.t).collect());
    let want = reference::forward(
        &w,
        &SeqBatch { t: c.t, b: c.b, x: &x, h0: Some(&h0), c0: c0.as_deref(), lengths: lengths.as_deref() },
    )
    .unwrap();
    let model = GpuModel::new(gpu, &w).unwrap();
    let (xf, h0f, c0f) = (f32s(&x), f32s(&h0), c0.as_deref().map(f32s));
    let lens: Option<Vec<i64>> = lengths.map(|l| l.iter().map(|&v| v as i64).collect());
    let input = Input { t: c.t, b: c.b, x: &xf, h0: Some(&h0f), c0: c0f.as_deref(), lengths: lens.as_deref() };
    let got = model.forward(gpu, &input, ForwardOptions { variant: Some(variant), return_sequence: true }).unwrap();
    let label = format!(
        "{variant} {} I={} H={} L={} bi={} T={} B={} len={}",
        c.cell, c.i, c.h, c.layers, c.bi, c.t, c.b, c.lengths
    );
    let mut errs = vec![];
    for cmp in [
        compare(&format!("{label} output"), &got.output, &want.output, ATOL, RTOL),
        compare(&format!("{label} h_n"), &got.h_n, &want.h_n, ATOL, RTOL),
        compare(&format!("{label} c_n"), &got.c_n, &want.c_n, ATOL, RTOL),
    ] {
        if !cmp.ok() {
            errs.push(cmp.to_string());
        }
    }
    if errs.is_empty() { Ok(()) } else { Err(errs.join("\n")) }
}

fn matrix() -> Vec<Case> {
    let mut v = vec![];
    for cell in [CellKind::RnnTanh, CellKind::RnnRelu, CellKind::Lstm, CellKind::Gru] {
        v.push(Case { cell, i: 5, h: 17, layers: 2, bi: true, t: 7, b: 3, lengths: true });
        v.push(Case { cell, i: 3, h: 1, layers: 1, bi: false, t: 1, b: 1, lengths: false });
        v.push(Case { cell, i: 9, h: 33, layers: 1, bi: false, t: 7, b: 19, lengths: true });
    }
    v.push(Case { cell: CellKind::Lstm, i: 64, h: 128, layers: 1, bi: false, t: 20, b: 1, lengths: false });
    v.push(Case { cell: CellKind::Gru, i: 16, h: 70, layers: 2, bi: true, t: 5, b: 64, lengths: true });
    v
}

#[test]
fn every_variant_matches_the_reference() {
    let mut failures = vec![];
    let mut ran = 0;
    for variant in Variant::ALL {
        for c in matrix() {
            match run_case(&c, variant) {
                Ok(()) => ran += 1,
                Err(e) if e.starts_with("unsupported") && variant == Variant::Subgroup && !gpu().caps.cpu_like => {}
                Err(e) => failures.push(e),
            }
        }
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
    assert!(ran >= 3 * matrix().len(), "only {ran} cases ran");
}

#[test]
fn gpu_matches_pytorch_golden_fixtures() {
    let gpu = gpu();
    for name in FIXTURES {
        let g = Golden::load(name);
        let model = GpuModel::new(gpu, &g.weights).unwrap();
        let (x, h0) = (f32s(&g.x), f32s(&g.h0));
        let c0 = g.c0.as_deref().map(f32s);
        let lens: Option<Vec<i64>> = g.lengths.as_ref().map(|l| l.iter().map(|&v| v as i64).collect());
        for variant in Variant::ALL {
            if variant.unsupported(gpu, &g.weights.spec).is_some() {
                continue;
            }
            let input = Input { t: g.t, b: g.b, x: &x, h0: Some(&h0), c0: c0.as_deref(), lengths: lens.as_deref() };
            let got = model.forward(gpu, &input, ForwardOptions { variant: Some(variant), return_sequence: true }).unwrap();
            assert_close(compare(&format!("{name} {variant} output"), &got.output, &g.get("output"), ATOL, RTOL));
            assert_close(compare(&format!("{name} {variant} h_n"), &got.h_n, &g.get("h_n"), ATOL, RTOL));
            if let Some(c_n) = g.opt("c_n") {
                assert_close(compare(&format!("{name} {variant} c_n"), &got.c_n, &c_n, ATOL, RTOL));
            }
        }
    }
}
