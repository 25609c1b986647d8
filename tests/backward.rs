//! GPU backpropagation through time against the CPU reference and PyTorch's gradients.

mod common;
use common::*;
use wgpu_rnn::check::compare;
use wgpu_rnn::gpu::backward::GradInput;
use wgpu_rnn::reference::{self, SeqBatch};
use wgpu_rnn::{CellKind, Gpu, GpuModel, Input, RnnSpec, Variant, Weights};

const ATOL: f64 = 1e-4;
const RTOL: f64 = 1e-3;

#[allow(clippy::too_many_arguments)]
fn check(
    cell: CellKind,
    i: usize,
    h: usize,
    layers: usize,
    bi: bool,
    t: usize,
    b: usize,
    lengths: bool,
    variant: Variant,
) {
    check_on(gpu(), cell, i, h, layers, bi, t, b, lengths, variant)
}

#[allow(clippy::too_many_arguments)]
fn check_on(
    gpu: &Gpu,
    cell: CellKind,
    i: usize,
    h: usize,
    layers: usize,
    bi: bool,
    t: usize,
    b: usize,
    lengths: bool,
    variant: Variant,
) {
    let spec = RnnSpec::new(cell, i, h).layers(layers).bidirectional(bi);
    let w = Weights::init(spec, 21).unwrap();
    let x = random_vec(t * b * i, 22, 1.0);
    let n_state = layers * spec.directions() * b * h;
    let h0 = random_vec(n_state, 23, 0.5);
    let c0 = cell.has_cell_state().then(|| random_vec(n_state, 24, 0.5));
    let lens: Option<Vec<usize>> =
        lengths.then(|| (0..b).map(|k| if k == 0 { t } else { 1 + (k * 5) % t }).collect());
    let dy = random_vec(t * b * spec.output_size(), 25, 1.0);
    let dhn = random_vec(n_state, 26, 1.0);
    let dcn = cell.has_cell_state().then(|| random_vec(n_state, 27, 1.0));
    let batch =
        SeqBatch { t, b, x: &x, h0: Some(&h0), c0: c0.as_deref(), lengths: lens.as_deref() };
    let fwd = reference::forward(&w, &batch).unwrap();
    let want = reference::backward(&w, &fwd, &dy, Some(&dhn), dcn.as_deref()).unwrap();

    let model = GpuModel::new(gpu, &w).unwrap();
    let (xf, h0f, c0f, dyf, dhnf, dcnf) = (
        f32s(&x),
        f32s(&h0),
        c0.as_deref().map(f32s),
        f32s(&dy),
        f32s(&dhn),
        dcn.as_deref().map(f32s),
    );
    let l64: Option<Vec<i64>> = lens.map(|l| l.iter().map(|&v| v as i64).collect());
    let input = Input { t, b, x: &xf, h0: Some(&h0f), c0: c0f.as_deref(), lengths: l64.as_deref() };
    let grad = GradInput { d_output: &dyf, d_h_n: Some(&dhnf), d_c_n: dcnf.as_deref() };
    let got = model.forward_backward(gpu, &input, &grad, Some(variant)).unwrap();
    let label = format!(
        "{variant} wide_loads={} {cell} I={i} H={h} L={layers} bi={bi} T={t} B={b} len={lengths}",
        gpu.caps.wide_loads
    );
    assert_close(compare(&format!("{label} output"), &got.output, &fwd.output, 1e-5, 1e-4));
    for ((name, _, g), (_, _, wnt)) in got.weights.named().into_iter().zip(want.weights.named()) {
        assert_close(compare(&format!("{label} grad {name}"), g, wnt, ATOL, RTOL));
    }
    assert_close(compare(&format!("{label} grad x"), &got.x, &want.x, ATOL, RTOL));
    assert_close(compare(&format!("{label} grad h0"), &got.h0, &want.h0, ATOL, RTOL));
    assert_close(compare(&format!("{label} grad c0"), &got.c0, &want.c0, ATOL, RTOL));
}

#[test]
fn backward_matches_reference_for_every_cell() {
    for cell in CellKind::ALL {
        // the linear cells run both their variants (sequential and chunked scan)
        let variants: &[Variant] = if cell.linear() {
            &[Variant::Sequential, Variant::Scan]
        } else {
            &[Variant::Register]
        };
        for &v in variants {
            check(cell, 5, 7, 2, true, 9, 5, true, v);
            check(cell, 3, 7, 1, false, 1, 1, false, v);
            if cell.linear() {
                // H % 4 == 0: the scans' 4-unit (vec4) invocations
                check(cell, 5, 12, 2, true, 9, 5, true, v);
            }
        }
    }
}

/// minGRU and minLSTM over more steps than one dispatch of the sequential scan runs
/// (`SCAN_SEQUENTIAL_STEPS`, sized for lavapipe's loop limit) and long enough that the
/// chunked scan's 16 chunks run 2500 steps each, forward and backward, both directions
/// with uneven lengths.
#[test]
fn linear_cells_over_more_steps_than_one_dispatch() {
    let t = wgpu_rnn::gpu::kernels::SCAN_SEQUENTIAL_STEPS + 7232;
    for (cell, h) in [(CellKind::MinGru, 5), (CellKind::MinLstm, 8)] {
        for v in [Variant::Sequential, Variant::Scan] {
            check(cell, 3, h, 1, true, t, 2, true, v);
        }
    }
}

#[test]
fn backward_matches_reference_for_every_step_variant() {
    // Persistent variants: the forward recurrence runs in the persistent kernel (reserve
    // space written from it), backward in the per-step kernels.
    // Every variant on each context of gpus() (vec4 and u64-pair loads, bounds checks off
    // and on).
    for (gpu, v) in gpus().into_iter().flat_map(|g| Variant::ALL.map(|v| (g, v))) {
        if v.unsupported(gpu, &RnnSpec::new(CellKind::Lstm, 1, 1)).is_some() {
            continue;
        }
        check_on(gpu, CellKind::Lstm, 9, 33, 2, true, 6, 9, true, v);
        check_on(gpu, CellKind::Gru, 16, 64, 1, false, 9, 32, false, v);
        check_on(gpu, CellKind::Lstm, 12, 32, 1, true, 5, 11, true, v);
        check_on(gpu, CellKind::RnnTanh, 7, 12, 2, true, 4, 3, false, v);
        // T*B = 1320 rows: more than one weight-gradient row segment, with a ragged tail
        check_on(gpu, CellKind::Lstm, 8, 16, 1, false, 40, 33, true, v);
        // H = 64, 9 rows: the persistent forward runs in 2 chunks (56 + 4 steps)
        check_on(gpu, CellKind::Gru, 6, 64, 1, false, 60, 9, true, v);
        // H = 128, 3 rows: persistent-subgroup's forward and backward run in 2 chunks of
        // 42 steps each way
        check_on(gpu, CellKind::Lstm, 5, 128, 1, true, 50, 3, true, v);
        if v == Variant::FusedPersistent {
            // training's fused-persistent forward in 5 chunks: one would pass lavapipe's
            // loop limit (tested: chunks of 119 steps fail)
            let spec = RnnSpec::new(CellKind::Lstm, 8, 128).bidirectional(true);
            let chunk = wgpu_rnn::gpu::kernels::fused_persistent_chunk(&spec, 16, 8, true);
            assert!(chunk < 120, "one chunk of {chunk} steps");
            check_on(gpu, CellKind::Lstm, 8, 128, 1, true, 120, 16, true, v);
        }
    }
}

/// The scans have no cross-invocation reductions in the time loop and the weight gradients
/// sum in a fixed order: minGRU's gradients repeat bit for bit under both scans.
#[test]
fn linear_cell_backward_is_bitwise_repeatable() {
    let gpu = gpu();
    let spec = RnnSpec::new(CellKind::MinGru, 8, 24).layers(2).bidirectional(true);
    let model = GpuModel::new(gpu, &Weights::init(spec, 3).unwrap()).unwrap();
    let x = f32s(&random_vec(300 * 4 * 8, 1, 1.0));
    let dy = f32s(&random_vec(300 * 4 * 48, 2, 1.0));
    for v in [Variant::Scan, Variant::Sequential] {
        let run = || {
            let grad = GradInput { d_output: &dy, d_h_n: None, d_c_n: None };
            model.forward_backward(gpu, &Input::new(&x, 300, 4), &grad, Some(v)).unwrap()
        };
        let (a, b) = (run(), run());
        assert_eq!(a.weights, b.weights, "{v}");
        assert_eq!((&a.x, &a.h0), (&b.x, &b.h0), "{v}");
    }
}

#[test]
fn backward_is_bitwise_repeatable() {
    let gpu = gpu();
    let spec = RnnSpec::new(CellKind::Lstm, 8, 24).layers(2);
    let model = GpuModel::new(gpu, &Weights::init(spec, 3).unwrap()).unwrap();
    let x = f32s(&random_vec(10 * 4 * 8, 1, 1.0));
    let dy = f32s(&random_vec(10 * 4 * 24, 2, 1.0));
    let run = || {
        model
            .forward_backward(
                gpu,
                &Input::new(&x, 10, 4),
                &GradInput { d_output: &dy, d_h_n: None, d_c_n: None },
                None,
            )
            .unwrap()
    };
    let (a, b) = (run(), run());
    assert_eq!(a.weights, b.weights);
    assert_eq!(a.x, b.x);
    // Without dL/dx of the input (what training and `bench` run) every other gradient is
    // the same, bit for bit, and x is left out; a full call after it still has dL/dx.
    let w = model
        .weight_grads(
            gpu,
            &Input::new(&x, 10, 4),
            &GradInput { d_output: &dy, d_h_n: None, d_c_n: None },
            None,
        )
        .unwrap();
    assert_eq!(w.weights, a.weights);
    assert_eq!((&w.h0, &w.c0, &w.output), (&a.h0, &a.c0, &a.output));
    assert!(w.x.is_empty() && !a.x.is_empty());
    assert_eq!(run().x, a.x);
}

#[test]
fn gpu_gradients_match_pytorch_golden_fixtures() {
    let gpu = gpu();
    for name in FIXTURES {
        let g = Golden::load(name);
        let model = GpuModel::new(gpu, &g.weights).unwrap();
        let input = g.input();
        let (dy, dhn) = (f32s(&g.get("d_output")), f32s(&g.get("d_h_n")));
        let dcn = g.opt("d_c_n").map(|v| f32s(&v));
        let got = model
            .forward_backward(
                gpu,
                &input,
                &GradInput { d_output: &dy, d_h_n: Some(&dhn), d_c_n: dcn.as_deref() },
                None,
            )
            .unwrap();
        for (pname, _, values) in got.weights.named() {
            assert_close(compare(
                &format!("{name} grad.{pname}"),
                values,
                &g.get(&format!("grad.{pname}")),
                ATOL,
                RTOL,
            ));
        }
        assert_close(compare(&format!("{name} grad.x"), &got.x, &g.get("grad.x"), ATOL, RTOL));
        assert_close(compare(&format!("{name} grad.h0"), &got.h0, &g.get("grad.h0"), ATOL, RTOL));
        if let Some(gc0) = g.opt("grad.c0") {
            assert_close(compare(&format!("{name} grad.c0"), &got.c0, &gc0, ATOL, RTOL));
        }
    }
}

/// On a CPU adapter (lavapipe stops a shader's loops after 65535 iterations in all) the
/// register weight-gradient kernel, which loops over every row, refuses T*B past that
/// with an error naming the limit instead of returning wrong gradients.
#[test]
fn long_reductions_are_refused_where_loops_would_stop() {
    let gpu = gpu();
    if !gpu.caps.cpu_like {
        return;
    }
    let model =
        GpuModel::new(gpu, &Weights::init(RnnSpec::new(CellKind::RnnTanh, 1, 1), 1).unwrap())
            .unwrap();
    let (t, b) = (30000, 2);
    let x = vec![0.5f32; t * b];
    let dy = vec![1.0f32; t * b];
    let err = model
        .weight_grads(
            gpu,
            &Input::new(&x, t, b),
            &GradInput { d_output: &dy, d_h_n: None, d_c_n: None },
            Some(Variant::Register),
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("LAVAPIPE_LOOP_LIMIT") && err.contains("60000"), "{err}");
}
