//! 16-bit weights (f16, bf16): every variant against the reference on rounded weights, the
//! PyTorch fixtures, the GPU's rounding against the host's, mixed-precision training and
//! 16-bit files.

mod common;
use common::*;
use wgpu_rnn::check::compare;
use wgpu_rnn::gpu::backward::GradInput;
use wgpu_rnn::gpu::shaders;
use wgpu_rnn::io::TensorFile;
use wgpu_rnn::reference::{self, SeqBatch};
use wgpu_rnn::train::{Loss, Optimizer, Targets, TrainConfig, Trainer};
use wgpu_rnn::validate::{
    check_backward, check_forward, prepare_at, smoke_matrix, training_variants_for, variants_for,
};
use wgpu_rnn::{CellKind, ForwardOptions, GpuModel, Input, Precision, RnnSpec, Weights};

const SIXTEEN: [Precision; 2] = [Precision::F16, Precision::Bf16];

/// The smoke matrix (every cell, two layers both ways with lengths at H = 17, and a ragged
/// row block at H = 36) with f16 and bf16 weights: every variant, forward in both load
/// modes (the packed weights load as u32 pairs or as one u64), backward in the default
/// one, each within f32's tolerances of the reference on the rounded weights (and, for
/// backward, the rounded reserve: `check_backward`).
#[test]
fn every_variant_matches_the_rounded_reference() {
    let mut failures = vec![];
    let mut checked = 0;
    for (i, case) in smoke_matrix().into_iter().enumerate() {
        for p in SIXTEEN {
            let prep = prepare_at(case, 300 + i as u64, p).unwrap();
            for (k, gpu) in gpus().into_iter().enumerate() {
                for v in variants_for(gpu, &prep.weights.spec) {
                    let mut cmps = check_forward(gpu, &prep, v).unwrap();
                    if k == 0 {
                        cmps.extend(check_backward(gpu, &prep, v).unwrap());
                    }
                    for c in cmps {
                        checked += 1;
                        if !c.ok() {
                            let wide = gpu.caps.wide_loads;
                            failures.push(format!("{} {p} {v} wide={wide}: {c}", case.label()));
                        }
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
    assert!(checked > 300, "only {checked} comparisons");
    // the training variants are the forward ones
    let spec = smoke_matrix()[0].spec().with_precision(Precision::F16);
    assert_eq!(training_variants_for(gpu(), &spec), variants_for(gpu(), &spec));
}

/// Every PyTorch fixture with 16-bit weights: the GPU matches the f64 reference on the
/// rounded weights to f32's tolerance (the rounding is the only approximation), and
/// differs from PyTorch's f32 model by about what the rounding explains.
#[test]
fn golden_fixtures_match_with_rounded_weights() {
    let gpu = gpu();
    for name in FIXTURES {
        let g = Golden::load(name);
        for p in SIXTEEN {
            let w = Weights { spec: g.weights.spec.with_precision(p), ..g.weights.clone() };
            let rounded = w.to_precision(p);
            let want = reference::forward(&rounded, &g.batch()).unwrap();
            let model = GpuModel::new(gpu, &w).unwrap();
            let got = model.forward(gpu, &g.input(), ForwardOptions::default()).unwrap();
            let c = compare("output", &got.output, &want.output, 1e-5, 1e-4);
            assert!(c.ok(), "{name} {p}: {c}");
            // PyTorch's own output (unrounded weights): off by the rounding, not more
            let torch = g.get("output");
            let err = got.output.iter().zip(&torch).map(|(a, b)| (*a as f64 - b).abs());
            let err = err.fold(0.0, f64::max);
            let scale = 64.0 * p.unit_roundoff();
            assert!(err > 0.0 && err < scale, "{name} {p}: max |16-bit − PyTorch f32| = {err:.2e}");
        }
    }
}

/// pack_weights.wgsl (the GPU's rounding after each mixed-precision update) gives the same
/// bits as the host's `Precision::pack` on ties, subnormals, overflow, infinities and
/// random values.
#[test]
fn the_gpu_rounds_weights_like_the_host() {
    let gpu = gpu();
    let mut v: Vec<f32> = vec![
        0.0,
        -0.0,
        1.0,
        -2.5,
        65504.0,
        65519.0,
        65520.0,
        1e6,
        -1e6,
        6.1e-5,
        5.96e-8,
        2.98e-8,
        2.99e-8,
        1e-10,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::MAX,
        f32::MIN_POSITIVE,
        3.0e38,
    ];
    // exact ties of f16 and of bf16 neighbours, and one ulp either side
    for bits in [0x3c00u16, 0x3c01, 0x0001, 0x03ff, 0x7bfe] {
        let (a, b) = (Precision::F16.from_bits(bits), Precision::F16.from_bits(bits + 1));
        let mid = (a + b) / 2.0;
        v.extend([mid, f32::from_bits(mid.to_bits() + 1), f32::from_bits(mid.to_bits() - 1)]);
    }
    for bits in [0x3f80u16, 0x3f81, 0x0001, 0x7f7e] {
        let (a, b) = (Precision::Bf16.from_bits(bits), Precision::Bf16.from_bits(bits + 1));
        let mid = ((a as f64 + b as f64) / 2.0) as f32;
        v.extend([mid, f32::from_bits(mid.to_bits() + 1), -mid]);
    }
    v.extend(random_vec(4000, 9, 4.0).iter().map(|&x| x as f32));
    v.extend(random_vec(1000, 10, 1e-4).iter().map(|&x| x as f32));
    v.resize(v.len().div_ceil(4) * 4, 0.5);
    for p in SIXTEEN {
        let k = gpu.kernel(&shaders::pack_weights(p)).unwrap();
        let n4 = v.len() / 4;
        let params = wgpu_rnn::gpu::abi::PackParams { n4: n4 as u32, pad: [0; 3] };
        let pb = gpu.uniform_init("pack params", bytemuck::bytes_of(&params));
        let master = gpu.storage_init("master", &v);
        let packed = gpu.storage("packed", (v.len() * 2) as u64);
        let bind = k.bind(gpu, &[&pb, &master, &packed]);
        let mut enc = gpu.device.create_command_encoder(&Default::default());
        {
            let mut pass = enc.begin_compute_pass(&Default::default());
            pass.set_pipeline(&k.pipeline);
            pass.set_bind_group(0, &bind, &[]);
            pass.dispatch_workgroups(n4.div_ceil(64) as u32, 1, 1);
        }
        gpu.queue.submit([enc.finish()]);
        let got: Vec<u32> =
            gpu.read_f32(&packed, v.len() / 2).unwrap().iter().map(|x| x.to_bits()).collect();
        let want = p.pack(&v);
        let bad: Vec<String> = got
            .iter()
            .zip(&want)
            .enumerate()
            .filter(|(_, (g, w))| g != w)
            .take(5)
            .map(|(i, (g, w))| {
                format!("[{i}] {:?}: got {g:#010x} want {w:#010x}", &v[2 * i..2 * i + 2])
            })
            .collect();
        assert!(bad.is_empty(), "{p}:\n{}", bad.join("\n"));
        // NaN stays NaN
        let nan = gpu.storage_init("nan", &[f32::NAN, 1.0, -f32::NAN, 2.0]);
        let one = gpu.uniform_init(
            "one",
            bytemuck::bytes_of(&wgpu_rnn::gpu::abi::PackParams { n4: 1, pad: [0; 3] }),
        );
        let bind = k.bind(gpu, &[&one, &nan, &packed]);
        let mut enc = gpu.device.create_command_encoder(&Default::default());
        {
            let mut pass = enc.begin_compute_pass(&Default::default());
            pass.set_pipeline(&k.pipeline);
            pass.set_bind_group(0, &bind, &[]);
            pass.dispatch_workgroups(1, 1, 1);
        }
        gpu.queue.submit([enc.finish()]);
        let got: Vec<u32> = gpu.read_f32(&packed, 2).unwrap().iter().map(|x| x.to_bits()).collect();
        let vals = p.unpack(&got, 4);
        assert!(
            vals[0].is_nan() && vals[2].is_nan() && vals[1] == 1.0 && vals[3] == 2.0,
            "{p}: {vals:?}"
        );
    }
}

/// Mixed precision: the optimizer updates f32 masters (which leave the 16-bit grid), the
/// kernels read their rounding, and the loss falls as in f32.
#[test]
fn mixed_precision_training_updates_f32_masters() {
    let gpu = gpu();
    let (t, b, classes) = (8, 4, 5);
    let x: Vec<f32> = (0..t * b * classes)
        .map(|i| if i % classes == (i / classes) % 3 { 1.0 } else { 0.0 })
        .collect();
    let y: Vec<u32> = (0..t * b).map(|i| ((i + 1) % 3) as u32).collect();
    let mut losses = vec![];
    for p in [Precision::F32, Precision::F16, Precision::Bf16] {
        let spec = RnnSpec::new(CellKind::Lstm, classes, 12).with_precision(p);
        let w = Weights::init(spec, 4).unwrap();
        let cfg = TrainConfig::new(Optimizer::adam(2e-2), Loss::CrossEntropy { classes });
        let mut tr = Trainer::new(gpu, &w, cfg, t, b).unwrap();
        let first = tr.step(gpu, &x, Targets::Classes(&y)).unwrap().loss;
        let mut last = first;
        for _ in 0..40 {
            last = tr.step(gpu, &x, Targets::Classes(&y)).unwrap().loss;
        }
        assert!(last < 0.5 * first, "{p}: loss {first} -> {last}");
        losses.push(last);
        let trained = tr.weights(gpu).unwrap();
        assert_eq!(trained.spec.precision, p);
        if p != Precision::F32 {
            // the masters are f32: off the 16-bit grid after 41 Adam steps
            let off = trained.params[0].w_hh.iter().filter(|&&v| p.round(v) != v).count();
            assert!(off > trained.params[0].w_hh.len() / 2, "{p}: only {off} masters off the grid");
        }
        // the model's forward is the reference on the rounded masters: the packed copy
        // the kernels read was refreshed after the last update
        let xs: Vec<f64> = x.iter().map(|&v| v as f64).collect();
        let want = reference::forward(
            &trained.to_precision(p),
            &SeqBatch { t, b, x: &xs, h0: None, c0: None, lengths: None },
        )
        .unwrap();
        let got =
            tr.model().forward(gpu, &Input::new(&x, t, b), ForwardOptions::default()).unwrap();
        let c = compare("output", &got.output, &want.output, 1e-5, 1e-4);
        assert!(c.ok(), "{p}: {c}");
    }
    // 16-bit training ends near f32's loss on this toy task
    for l in &losses[1..] {
        assert!((l - losses[0]).abs() < 0.1 * losses[0] + 0.02, "{losses:?}");
    }
}

/// Training with 16-bit weights keeps its reserve space (the gates' pre-activations and
/// c_{t-1}) in 16 bits: every variant's gradients sit on the reference that rounds those
/// activations (`Saved::GPU_RESERVE`), at least 4 times closer (2-norm) than to the
/// reference that keeps them exact, with an odd T (the last word half used) and padded
/// rows. For LSTM it keeps under 40% of f32's bytes per layer (3.5 of 10 floats per unit
/// and step: the sums xg + hg and c_{t-1} in 16 bits, h_{t-1} in f32, no xg).
#[test]
fn training_keeps_a_16_bit_reserve_that_the_reference_models() {
    use wgpu_rnn::gpu::layout::ReserveLayout;
    use wgpu_rnn::validate::Case;
    let gpu = gpu();
    for cell in [CellKind::Lstm, CellKind::Gru, CellKind::RnnTanh] {
        let case = Case {
            cell,
            input: 9,
            hidden: 20,
            layers: 2,
            bidirectional: true,
            t: 7,
            b: 3,
            lengths: true,
        };
        for p in SIXTEEN {
            let prep = prepare_at(case, 41, p).unwrap();
            let spec = prep.weights.spec;
            assert_eq!(spec.reserve_precision(), p);
            let n_state = spec.num_layers * spec.directions() * case.b * spec.hidden_size;
            let noise = |n: usize, k: usize| -> Vec<f32> {
                (0..n).map(|i| (((i * 7919 + k * 104729) % 2001) as f32 / 1000.0) - 1.0).collect()
            };
            let dy = noise(prep.want.output.len(), 1);
            let dhn = noise(n_state, 2);
            let dcn = spec.cell.has_cell_state().then(|| noise(n_state, 3));
            let f64s = |v: &[f32]| v.iter().map(|&x| x as f64).collect::<Vec<f64>>();
            let exact = reference::backward(
                &prep.rounded,
                &prep.want,
                &f64s(&dy),
                Some(&f64s(&dhn)),
                dcn.as_deref().map(f64s).as_deref(),
            )
            .unwrap();
            let mut rounded_fwd = prep.want.clone();
            rounded_fwd.round_saved(p, &reference::Saved::GPU_RESERVE);
            let rounded = reference::backward(
                &prep.rounded,
                &rounded_fwd,
                &f64s(&dy),
                Some(&f64s(&dhn)),
                dcn.as_deref().map(f64s).as_deref(),
            )
            .unwrap();
            let model = GpuModel::new(gpu, &prep.weights).unwrap();
            let input = Input {
                t: case.t,
                b: case.b,
                x: &prep.x,
                h0: Some(&prep.h0),
                c0: prep.c0.as_deref(),
                lengths: prep.lengths.as_deref(),
            };
            let grad = GradInput { d_output: &dy, d_h_n: Some(&dhn), d_c_n: dcn.as_deref() };
            for v in training_variants_for(gpu, &spec) {
                let got = model.forward_backward(gpu, &input, &grad, Some(v)).unwrap();
                // ‖got - want‖ over every gradient tensor
                let dist = |want: &reference::Grads| -> f64 {
                    let mut pairs: Vec<(Vec<f64>, &[f64])> = got
                        .weights
                        .named()
                        .into_iter()
                        .zip(want.weights.named())
                        .map(|((_, _, g), (_, _, w))| (g.clone(), w.as_slice()))
                        .collect();
                    pairs.push((f64s(&got.x), &want.x));
                    pairs.push((f64s(&got.h0), &want.h0));
                    pairs.push((f64s(&got.c0), &want.c0));
                    let sq = pairs.iter().flat_map(|(g, w)| g.iter().zip(*w));
                    sq.map(|(g, w)| (g - w).powi(2)).sum::<f64>().sqrt()
                };
                let (to_rounded, to_exact) = (dist(&rounded), dist(&exact));
                assert!(
                    to_rounded * 4.0 < to_exact,
                    "{cell} {p} {v}: {to_rounded:.3e} from the rounded-reserve reference, \
                     {to_exact:.3e} from the exact one"
                );
            }
        }
    }
    let lstm = RnnSpec::new(CellKind::Lstm, 256, 256);
    let f32_bytes = ReserveLayout::of(&lstm, 100, 64).bytes(2);
    for p in SIXTEEN {
        let bytes = ReserveLayout::of(&lstm.with_precision(p), 100, 64).bytes(2);
        assert!(10 * bytes < 4 * f32_bytes, "{p}: {bytes} of f32's {f32_bytes} bytes");
    }
}

/// A 16-bit model saves F16 / BF16 tensors (half the bytes) and loads back bit for bit:
/// the device holds exactly the file's values, and reading them back gives them again.
#[test]
fn sixteen_bit_files_keep_their_dtype_and_load_exactly() {
    let gpu = gpu();
    let dir = std::env::temp_dir().join(format!("wgpu-rnn-precision-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let spec = RnnSpec::new(CellKind::Gru, 10, 9).layers(2).bidirectional(true);
    let w32 = Weights::init(spec, 7).unwrap();
    let f32_path = dir.join("gru32.safetensors");
    w32.save(&f32_path).unwrap();
    for p in SIXTEEN {
        let w = w32.to_precision(p);
        let path = dir.join(format!("gru_{p}.safetensors"));
        w.save(&path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        for (name, view) in st.tensors() {
            let want = if name.starts_with("weight_") { p.dtype() } else { "F32" };
            assert_eq!(format!("{:?}", view.dtype()), want, "{name}");
        }
        let (small, big) = (bytes.len(), std::fs::metadata(&f32_path).unwrap().len() as usize);
        assert!(small * 10 < big * 6, "{p}: {small} bytes vs f32's {big}");
        let file = TensorFile::open(&path).unwrap();
        assert_eq!(file.metadata()["precision"], p.name());
        let loaded = Weights::from_file(&file, spec.with_precision(p)).unwrap();
        assert_eq!(loaded, w, "{p}: the file's values");
        let model = GpuModel::new(gpu, &loaded).unwrap();
        assert_eq!(model.read_weights(gpu).unwrap(), w, "{p}: the device's values");
        assert!(model.weight_bytes() * 10 < GpuModel::new(gpu, &w32).unwrap().weight_bytes() * 6);
        // gradients of a 16-bit model are those of its rounded weights and reserve
        let (t, b) = (3, 2);
        let x = f32s(&random_vec(t * b * 10, 3, 1.0));
        let dy = vec![1.0f32; t * b * 18];
        let got = model
            .forward_backward(
                gpu,
                &Input::new(&x, t, b),
                &GradInput { d_output: &dy, d_h_n: None, d_c_n: None },
                None,
            )
            .unwrap();
        let xs: Vec<f64> = x.iter().map(|&v| v as f64).collect();
        let mut fwd =
            reference::forward(&w, &SeqBatch { t, b, x: &xs, h0: None, c0: None, lengths: None })
                .unwrap();
        fwd.round_reserve();
        let dyd = vec![1.0; dy.len()];
        let want = reference::backward(&w, &fwd, &dyd, None, None).unwrap();
        for ((name, _, g), (_, _, r)) in got.weights.named().into_iter().zip(want.weights.named()) {
            let c = compare(&name, g, r, 1e-4, 1e-3);
            assert!(c.ok(), "{p}: {c}");
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}
