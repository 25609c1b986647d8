//! GPU forward pass of every variant and cell against the CPU reference and PyTorch.

mod common;
use common::*;
use wgpu_rnn::check::compare;
use wgpu_rnn::error::Refusal;
use wgpu_rnn::gpu::kernels::PersistentShape;
use wgpu_rnn::reference::SeqBatch;
use wgpu_rnn::{CellKind, ForwardOptions, GpuModel, Input, Variant};

use wgpu_rnn::validate::{
    check_forward, matrix, prepare, variants_for, FORWARD_ATOL as ATOL, FORWARD_RTOL as RTOL,
};

/// The CI-sized validation matrix (the same code as `wgpu-rnn validate --quick`): every
/// cell, B in {1, 3, 64}, odd H, T in {1, 7}, 1-2 layers, both directions, lengths.
#[test]
fn every_variant_matches_the_reference() {
    let mut failures = vec![];
    let mut checked = 0;
    let cases = matrix(true, false);
    // on each context of gpus(): vec4 and u64-pair loads, bounds checks off and on
    for gpu in gpus() {
        for (i, case) in cases.iter().enumerate() {
            let p = prepare(*case, 100 + i as u64).unwrap();
            let variants = variants_for(gpu, &case.spec());
            // the linear cells have two variants (sequential and chunked scan), all of them
            let least = if case.cell.linear() { 2 } else { 3 };
            assert!(variants.len() >= least, "only {variants:?} run on {}", gpu.describe());
            for v in variants {
                for c in check_forward(gpu, &p, v).unwrap() {
                    checked += 1;
                    if !c.ok() {
                        failures.push(format!(
                            "{} {v} wide_loads={}: {c}",
                            case.label(),
                            gpu.caps.wide_loads
                        ));
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
    assert!(checked >= cases.len() * 3 * 2);
}

/// A larger shape per cell, hidden 128 at batch 1 (the persistent path) and batch 64.
#[test]
fn larger_shapes_match_the_reference() {
    let gpu = gpu();
    for cell in CellKind::ALL {
        // (16, 64, 70) and (4, 128, 70) span several chunks of the persistent kernels;
        // (45, 37, 6) two 32-row blocks of the subgroup step, the second ragged.
        for (b, h, t) in [(1, 128, 30), (64, 130, 5), (16, 64, 70), (4, 128, 70), (45, 37, 6)] {
            let case = wgpu_rnn::validate::Case {
                cell,
                input: 64,
                hidden: h,
                layers: 1,
                bidirectional: false,
                t,
                b,
                lengths: b > 1,
            };
            let p = prepare(case, 5).unwrap();
            for v in variants_for(gpu, &case.spec()) {
                for c in check_forward(gpu, &p, v).unwrap() {
                    assert!(c.ok(), "{} {v}: {c}", case.label());
                }
            }
        }
    }
}

/// fused-persistent over sequences whose loops would pass lavapipe's per-invocation loop
/// limit in one dispatch (every loop of a shader shares one counter of 65535 iterations,
/// past which they silently stop): the host splits them into chunks of steps, and the
/// results still match. Bidirectional with lengths puts both state halves and both
/// directions' time orders through the chunk boundaries; B = 40 leaves a ragged block.
#[test]
fn fused_persistent_chunks_match_the_reference() {
    let gpu = gpu();
    for (cell, h, b, bidirectional) in [
        (CellKind::RnnTanh, 256, 16, true),
        (CellKind::Lstm, 128, 40, false),
        (CellKind::Gru, 96, 33, true),
    ] {
        let case = wgpu_rnn::validate::Case {
            cell,
            input: 64,
            hidden: h,
            layers: 1,
            bidirectional,
            t: 100,
            b,
            lengths: true,
        };
        let chunk = wgpu_rnn::gpu::kernels::fused_persistent_chunk(&case.spec(), b, 64, false);
        assert!(chunk < case.t, "{}: one chunk of {chunk} steps covers T", case.label());
        let p = prepare(case, 21).unwrap();
        for c in check_forward(gpu, &p, Variant::FusedPersistent).unwrap() {
            assert!(c.ok(), "{} fused-persistent: {c}", case.label());
        }
    }
    // Where one step alone would pass the limit, the variant is refused with a reason.
    if gpu.caps.cpu_like {
        let big = wgpu_rnn::RnnSpec::new(CellKind::Lstm, 64, 2048);
        let why = Variant::FusedPersistent
            .unsupported(gpu, &big)
            .expect("H = 2048 refused on a CPU adapter");
        assert!(
            matches!(why, Refusal::LoopLimit { hidden: 2048, iterations, budget, .. } if iterations > budget),
            "{why:?}"
        );
        assert!(Variant::FusedPersistent
            .unsupported(gpu, &wgpu_rnn::RnnSpec::new(CellKind::Lstm, 512, 512))
            .is_none());
    }
}

/// The streamed persistent kernel at a hidden size where a few steps per dispatch pass
/// lavapipe's loop limit (issue #18: H = 4092 went wrong from step 3 on, its chunk never
/// below 4 steps): its chunk shrinks to fit, and where one step alone is too long the
/// variant is refused with a typed reason.
#[test]
fn persistent_stays_within_the_loop_limit() {
    let gpu = gpu();
    let case = wgpu_rnn::validate::Case {
        cell: CellKind::RnnTanh,
        input: 8,
        hidden: 4092,
        layers: 1,
        bidirectional: false,
        t: 6,
        b: 1,
        lengths: false,
    };
    let p = prepare(case, 5).unwrap();
    for c in check_forward(gpu, &p, Variant::Persistent).unwrap() {
        assert!(c.ok(), "{} persistent: {c}", case.label());
    }
    // Its chunk: below the 4 steps the multiply-add rule alone would give.
    let shape = PersistentShape::new(gpu, &case.spec(), 1).unwrap();
    if gpu.caps.cpu_like {
        assert!(shape.chunk < 4, "{shape:?}");
    }
    // Past the workgroup memory (32 KiB on lavapipe) or the loop budget: a typed refusal.
    let big = wgpu_rnn::RnnSpec::new(CellKind::RnnTanh, 8, 8192);
    let why = Variant::Persistent.unsupported(gpu, &big);
    assert!(
        matches!(why, Some(Refusal::LoopLimit { .. } | Refusal::WorkgroupMemory { .. }))
            || gpu.limits.max_compute_workgroup_storage_size >= 65536 && !gpu.caps.cpu_like,
        "{why:?}"
    );
}

#[test]
fn gpu_matches_pytorch_golden_fixtures() {
    let gpu = gpu();
    for name in FIXTURES {
        let g = Golden::load(name);
        let model = GpuModel::new(gpu, &g.weights).unwrap();
        for variant in Variant::ALL {
            if variant.unsupported(gpu, &g.weights.spec).is_some() {
                continue;
            }
            let input = g.input();
            let got = model
                .forward(
                    gpu,
                    &input,
                    ForwardOptions { variant: Some(variant), return_sequence: true },
                )
                .unwrap();
            assert_close(compare(
                &format!("{name} {variant} output"),
                &got.output,
                &g.get("output"),
                ATOL,
                RTOL,
            ));
            assert_close(compare(
                &format!("{name} {variant} h_n"),
                &got.h_n,
                &g.get("h_n"),
                ATOL,
                RTOL,
            ));
            if let Some(c_n) = g.opt("c_n") {
                assert_close(compare(&format!("{name} {variant} c_n"), &got.c_n, &c_n, ATOL, RTOL));
            }
        }
    }
}

/// Streaming k steps at a time (chunks of varying size) gives the full forward pass.
#[test]
fn streaming_matches_the_whole_sequence() {
    let gpu = gpu();
    for cell in CellKind::ALL {
        let spec = wgpu_rnn::RnnSpec::new(cell, 5, 19).layers(2);
        let w = wgpu_rnn::Weights::init(spec, 8).unwrap();
        let model = GpuModel::new(gpu, &w).unwrap();
        let (t, b) = (12, 3);
        let x = f32s(&random_vec(t * b * 5, 9, 1.0));
        let h0 = f32s(&random_vec(2 * b * 19, 10, 0.5));
        let c0 = cell.has_cell_state().then(|| f32s(&random_vec(2 * b * 19, 11, 0.5)));
        let full = model
            .forward(
                gpu,
                &Input { t, b, x: &x, h0: Some(&h0), c0: c0.as_deref(), lengths: None },
                ForwardOptions::default(),
            )
            .unwrap();
        // the rule's pick, and the fused variants (whose state between calls takes another
        // path: fused-persistent keeps both halves of h in one buffer); the linear cells'
        // two variants
        let variants = if cell.linear() {
            [None, Some(Variant::Sequential), Some(Variant::Scan)]
        } else {
            [None, Some(Variant::FusedSubgroup), Some(Variant::FusedPersistent)]
        };
        for variant in variants {
            let mut stream = model.stream(b).unwrap().with_state(h0.clone(), c0.clone());
            if let Some(v) = variant {
                stream = stream.with_variant(v);
            }
            let mut got = vec![];
            let mut last = None;
            let mut s0 = 0;
            for k in [1, 1, 4, 4, 2] {
                let out = stream.step_full(gpu, &x[s0 * b * 5..(s0 + k) * b * 5]).unwrap();
                got.extend_from_slice(&out.output);
                last = Some(out);
                s0 += k;
            }
            assert_eq!(s0, t);
            let label = format!("{cell} {variant:?}");
            assert_close(compare(
                &format!("{label} streamed output"),
                &got,
                &full.output,
                1e-6,
                1e-5,
            ));
            let last = last.unwrap();
            assert_close(compare(
                &format!("{label} streamed h_n"),
                &last.h_n,
                &full.h_n,
                1e-6,
                1e-5,
            ));
            assert_close(compare(
                &format!("{label} streamed c_n"),
                &last.c_n,
                &full.c_n,
                1e-6,
                1e-5,
            ));
        }
    }
    let bi = GpuModel::new(
        gpu,
        &wgpu_rnn::Weights::init(
            wgpu_rnn::RnnSpec::new(CellKind::Gru, 2, 3).bidirectional(true),
            1,
        )
        .unwrap(),
    )
    .unwrap();
    assert!(bi.stream(1).is_err());
}

/// Final states only: long sequences run in constant memory and agree with the full pass.
#[test]
fn final_only_runs_in_chunks_and_matches() {
    let gpu = gpu();
    let spec = wgpu_rnn::RnnSpec::new(CellKind::Lstm, 4, 9);
    let model = GpuModel::new(gpu, &wgpu_rnn::Weights::init(spec, 2).unwrap()).unwrap();
    let t = wgpu_rnn::gpu::forward::FINAL_ONLY_CHUNK * 2 + 37;
    let x = f32s(&random_vec(t * 2 * 4, 3, 1.0));
    let full = model.forward(gpu, &Input::new(&x, t, 2), ForwardOptions::default()).unwrap();
    let fin = model
        .forward(
            gpu,
            &Input::new(&x, t, 2),
            ForwardOptions { variant: None, return_sequence: false },
        )
        .unwrap();
    assert!(fin.output.is_empty());
    assert_close(compare("final-only h_n", &fin.h_n, &full.h_n, 1e-6, 1e-5));
    assert_close(compare("final-only c_n", &fin.c_n, &full.c_n, 1e-6, 1e-5));
}

/// `validate --full`'s cases at lavapipe's loop limit, forward, every variant the adapter
/// supports (issue #18).
#[test]
fn loop_limit_cases_match_the_reference_for_every_variant() {
    let gpu = gpu();
    let mut checked = 0;
    for (i, case) in wgpu_rnn::validate::loop_limit_cases().into_iter().enumerate() {
        let p = prepare(case, 300 + i as u64).unwrap();
        for v in wgpu_rnn::validate::variants_for(gpu, &case.spec()) {
            for c in check_forward(gpu, &p, v).unwrap() {
                assert!(c.ok(), "{} {v}: {c}", case.label());
            }
            checked += 1;
        }
    }
    assert!(checked >= 20, "{checked}");
}

/// A non-finite value that arises in the computation propagates as in PyTorch and is never
/// clamped into a finite one (issue #18: tanh's clamp turned NaN into ±1, and relu's max
/// turned it into 0). Here the tanh (or relu) gate's pre-activation of batch row 0 at t = 0
/// is inf + (-inf) = NaN in f32: that row's output and final state must be NaN for every
/// variant, while row 1 stays finite.
#[test]
fn non_finite_values_propagate_and_are_not_clamped() {
    let gpu = gpu();
    for cell in CellKind::ALL {
        let (i, h, t, b) = (4, 6, 3, 2);
        let spec = wgpu_rnn::RnnSpec::new(cell, i, h);
        let mut w = wgpu_rnn::Weights::init(spec, 4).unwrap();
        // the last gate is the tanh (or relu) one for every registered cell
        let gate = cell.gates() - 1;
        for row in gate * h..(gate + 1) * h {
            w.dir_mut(0, 0).w_ih[row * i] = 2.0;
            w.dir_mut(0, 0).w_ih[row * i + 1] = -2.0;
        }
        let mut x = vec![0.1f32; t * b * i];
        x[0] = 3e38; // t = 0, batch row 0: 2·3e38 = inf, -2·3e38 = -inf
        x[1] = 3e38;
        let model = GpuModel::new(gpu, &w).unwrap();
        for v in wgpu_rnn::validate::variants_for(gpu, &spec) {
            let opts = ForwardOptions { variant: Some(v), return_sequence: true };
            let out = model.forward(gpu, &Input::new(&x, t, b), opts).unwrap();
            for step in 0..t {
                let row0 = &out.output[(step * b) * h..(step * b + 1) * h];
                let row1 = &out.output[(step * b + 1) * h..(step * b + 2) * h];
                assert!(row0.iter().all(|y| y.is_nan()), "{cell} {v} t={step}: {row0:?}");
                assert!(row1.iter().all(|y| y.is_finite()), "{cell} {v} t={step}: {row1:?}");
            }
            assert!(out.h_n[..h].iter().all(|y| y.is_nan()), "{cell} {v} h_n {:?}", out.h_n);
        }
    }
}

/// Issue #18: weights holding NaN or Inf are refused when uploaded, naming the tensor and
/// the index, whether they came from a file or were set in memory.
#[test]
fn non_finite_weights_are_refused_on_upload() {
    let gpu = gpu();
    let mut w = wgpu_rnn::Weights::init(wgpu_rnn::RnnSpec::new(CellKind::Lstm, 3, 4), 1).unwrap();
    w.dir_mut(0, 0).w_hh[5] = f64::NAN;
    let err = GpuModel::new(gpu, &w).err().expect("refused").to_string();
    assert!(err.contains("weight_hh_l0") && err.contains("index 5"), "{err}");
}

/// Issue #18: a sequence whose buffers pass the device's binding limit (a long T) ran into
/// a device-limit error about an internal buffer; a unidirectional call without lengths
/// now runs in chunks that fit, its outputs concatenated, the same numbers as shorter calls.
#[test]
fn a_sequence_past_the_binding_limit_runs_in_chunks() {
    let gpu = gpu();
    let (i, h, b) = (4, 256, 1);
    let limit = gpu.limits.max_storage_buffer_binding_size.min(gpu.limits.max_buffer_size);
    // the projection xg holds T·B·4H floats: one chunk holds at most limit / (16·H) steps
    let t = (limit / (4 * 4 * h as u64)) as usize + 300;
    let spec = wgpu_rnn::RnnSpec::new(CellKind::Lstm, i, h);
    let model = GpuModel::new(gpu, &wgpu_rnn::Weights::init(spec, 3).unwrap()).unwrap();
    let x = f32s(&random_vec(t * b * i, 8, 1.0));
    let out = model.forward(gpu, &Input::new(&x, t, b), ForwardOptions::default()).unwrap();
    assert_eq!(out.output.len(), t * b * h);
    assert_eq!(&out.output[(t - 1) * h..], &out.h_n[..], "the last output is h_n");
    let head = 400;
    let short = model.forward(gpu, &Input::new(&x[..head * i], head, b), ForwardOptions::default());
    let c = compare("first steps", &out.output[..head * h], &short.unwrap().output, 1e-6, 1e-5);
    assert!(c.ok(), "{c}");
}

/// Issue #18's audit of loop counts: every input projection loops over the input width in
/// one invocation, so on a CPU adapter (lavapipe stops loops after 65535 iterations) an
/// input of 300,000 features is refused with a typed reason instead of computed wrong.
#[test]
fn inputs_wider_than_the_loop_limit_are_refused() {
    let gpu = gpu();
    let spec = wgpu_rnn::RnnSpec::new(CellKind::RnnTanh, 300_000, 4);
    let w = wgpu_rnn::Weights::init(spec, 1).unwrap();
    let model = GpuModel::new(gpu, &w).unwrap();
    let x: Vec<f32> = (0..300_000).map(|k| ((k % 13) as f32 - 6.0) * 0.01).collect();
    let got = model.forward(gpu, &Input::new(&x, 1, 1), ForwardOptions::default());
    if gpu.caps.cpu_like {
        // (the scan variants refuse this cell before they look at its input; they run the
        // same projection GEMM for the linear cells, and refuse such an input there)
        for v in Variant::ALL.into_iter().filter(|v| !v.is_scan()) {
            let why = v.unsupported(gpu, &spec);
            assert!(matches!(why, Some(Refusal::LoopLimit { .. })), "{v}: {why:?}");
        }
        let linear = wgpu_rnn::RnnSpec::new(CellKind::MinGru, 300_000, 4);
        for v in [Variant::Scan, Variant::Sequential] {
            let why = v.unsupported(gpu, &linear);
            assert!(matches!(why, Some(Refusal::LoopLimit { .. })), "{v}: {why:?}");
        }
        let err = got.unwrap_err();
        assert!(matches!(err, wgpu_rnn::Error::Unsupported { .. }), "{err}");
    } else {
        // No such limit on other adapters: the numbers must match the reference.
        let x64: Vec<f64> = x.iter().map(|&v| v as f64).collect();
        let batch = SeqBatch { t: 1, b: 1, x: &x64, h0: None, c0: None, lengths: None };
        let want = wgpu_rnn::reference::forward(&w, &batch).unwrap();
        let c = compare("output", &got.unwrap().output, &want.output, 1e-5, 1e-4);
        assert!(c.ok(), "{c}");
    }
}
