//! Loading and saving weights: PyTorch names, shape errors, round trips.

use wgpu_rnn::io::{TensorFile, TensorWriter};
use wgpu_rnn::{CellKind, Error, RnnSpec, Weights};

fn tmp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("wgpu-rnn-test-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

#[test]
fn save_then_load_round_trips_with_pytorch_names() {
    let spec = RnnSpec::new(CellKind::Lstm, 5, 7).layers(2).bidirectional(true);
    let w = Weights::init(spec, 42).unwrap();
    let p = tmp("rt.safetensors");
    w.save(&p).unwrap();
    let f = TensorFile::open(&p).unwrap();
    assert!(f.contains("weight_ih_l1_reverse"));
    assert_eq!(f.shape("weight_ih_l1").unwrap(), vec![28, 14]);
    assert_eq!(Weights::infer_spec(&f, CellKind::Lstm).unwrap(), spec);
    assert_eq!(Weights::load(&p, spec).unwrap(), w);
}

#[test]
fn init_is_seeded_and_within_pytorch_bounds() {
    let spec = RnnSpec::new(CellKind::Gru, 3, 16);
    let a = Weights::init(spec, 1).unwrap();
    assert_eq!(a, Weights::init(spec, 1).unwrap());
    assert_ne!(a, Weights::init(spec, 2).unwrap());
    let k = 0.25;
    for (_, _, v) in a.named() {
        assert!(v.iter().all(|x| x.abs() <= k), "values outside U(-1/sqrt(H), 1/sqrt(H))");
        assert!(v.iter().any(|x| x.abs() > k / 2.0));
    }
}

#[test]
fn wrong_shape_names_the_tensor_and_both_shapes() {
    let spec = RnnSpec::new(CellKind::Lstm, 5, 7);
    let w = Weights::init(spec, 1).unwrap();
    let mut tw = TensorWriter::new();
    w.write_into(&mut tw);
    tw.add_f32("weight_hh_l0", vec![28, 6], vec![0.0; 168]);
    let p = tmp("bad.safetensors");
    tw.write(&p).unwrap();
    let err = Weights::load(&p, spec).unwrap_err();
    assert!(matches!(err, Error::TensorShape { .. }));
    let msg = err.to_string();
    assert!(
        msg.contains("weight_hh_l0") && msg.contains("[28, 7]") && msg.contains("[28, 6]"),
        "{msg}"
    );
}

#[test]
fn missing_and_unexpected_tensors_are_named() {
    let spec = RnnSpec::new(CellKind::RnnTanh, 2, 3);
    let w = Weights::init(spec, 1).unwrap();
    let p = tmp("two.safetensors");
    Weights::init(spec.layers(2), 1).unwrap().save(&p).unwrap();
    let err = Weights::load(&p, spec).unwrap_err().to_string();
    assert!(err.contains("unexpected tensor") && err.contains("_l1`"), "{err}");
    w.save(&p).unwrap();
    let err = Weights::load(&p, spec.layers(2)).unwrap_err().to_string();
    assert!(err.contains("missing tensor `weight_ih_l1`"), "{err}");
    // A GRU file read as LSTM: the gate count does not fit.
    Weights::init(RnnSpec::new(CellKind::Gru, 2, 3), 1).unwrap().save(&p).unwrap();
    let err = Weights::load_infer(&p, CellKind::Lstm).unwrap_err().to_string();
    assert!(err.contains("weight_hh_l0"), "{err}");
}

#[test]
fn pytorch_float64_fixture_loads() {
    let p = format!("{}/tests/fixtures/lstm_l2_bi_len.safetensors", env!("CARGO_MANIFEST_DIR"));
    // The fixture also holds PyTorch's inputs, outputs and gradients: the strict loader
    // names the first of them, `from_file_with` accepts them.
    let err = Weights::load_infer(&p, CellKind::Lstm).unwrap_err().to_string();
    assert!(err.contains("unexpected tensor `c0`"), "{err}");
    let f = TensorFile::open(&p).unwrap();
    let spec = Weights::infer_spec(&f, CellKind::Lstm).unwrap();
    let is_param = |n: &str| n.starts_with("weight_") || n.starts_with("bias_");
    let w = Weights::from_file_with(&f, spec, |n| !is_param(n)).unwrap();
    assert_eq!(w.spec, RnnSpec::new(CellKind::Lstm, 3, 4).layers(2).bidirectional(true));
}

/// A non-finite or non-positive init scale is an error naming it, not a panic (issue #18).
#[test]
fn init_uniform_refuses_a_bad_scale() {
    let spec = RnnSpec::new(CellKind::RnnTanh, 3, 4);
    for scale in [f64::INFINITY, f64::NAN, -1.0, 0.0] {
        let err = Weights::init_uniform(spec, 1, scale).unwrap_err().to_string();
        assert!(err.contains("scale"), "{scale}: {err}");
    }
    assert!(Weights::init_uniform(spec, 1, 0.5).is_ok());
}

/// Writes tensors (name, shape, values) as a safetensors file and returns its path.
fn file_of(name: &str, tensors: &[(&str, Vec<usize>, Vec<f32>)]) -> std::path::PathBuf {
    let mut tw = TensorWriter::new();
    for (n, shape, v) in tensors {
        tw.add_f32(*n, shape.clone(), v.clone());
    }
    let p = tmp(name);
    tw.write(&p).unwrap();
    p
}

/// The tensors of `Weights::init(spec)` plus `extra`, as (name, shape, values).
fn tensors_of(spec: RnnSpec) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    let w = Weights::init(spec, 2).unwrap();
    w.named().into_iter().map(|(n, s, v)| (n, s, v.iter().map(|&x| x as f32).collect())).collect()
}

/// Issue #18: a rank error names the tensor that has the wrong rank.
#[test]
fn a_rank_error_names_the_tensor_with_the_wrong_rank() {
    let spec = RnnSpec::new(CellKind::Lstm, 2, 3);
    for (bad, shape) in [("weight_ih_l0", vec![12, 2, 1]), ("weight_hh_l0", vec![36])] {
        let mut t = tensors_of(spec);
        for (n, s, _) in t.iter_mut() {
            if n == bad {
                *s = shape.clone();
            }
        }
        let t: Vec<(&str, Vec<usize>, Vec<f32>)> =
            t.iter().map(|(n, s, v)| (n.as_str(), s.clone(), v.clone())).collect();
        let p = file_of("rank.safetensors", &t);
        let err = Weights::load_infer(&p, CellKind::Lstm).unwrap_err().to_string();
        assert!(err.contains(bad) && err.contains(&format!("{shape:?}")), "{bad}: {err}");
    }
}

/// Issue #18: unknown tensors in a weight file are refused with the expected names, except
/// a checkpoint's `head.*`; duplicate names are reported as duplicates.
#[test]
fn unknown_and_duplicate_tensors_are_refused() {
    let spec = RnnSpec::new(CellKind::Gru, 2, 3);
    let mut t = tensors_of(spec);
    t.push(("foo".into(), vec![1], vec![0.0]));
    let t: Vec<(&str, Vec<usize>, Vec<f32>)> =
        t.iter().map(|(n, s, v)| (n.as_str(), s.clone(), v.clone())).collect();
    let p = file_of("foo.safetensors", &t);
    let err = Weights::load(&p, spec).unwrap_err().to_string();
    assert!(err.contains("`foo`") && err.contains("weight_hh_l0"), "{err}");
    let mut t = tensors_of(spec);
    t.push(("head.weight".into(), vec![1, 3], vec![0.0; 3]));
    let t: Vec<(&str, Vec<usize>, Vec<f32>)> =
        t.iter().map(|(n, s, v)| (n.as_str(), s.clone(), v.clone())).collect();
    assert!(Weights::load(file_of("head.safetensors", &t), spec).is_ok());
    // A header naming one tensor twice (written by hand: writers refuse to).
    let header = r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#;
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(&[0u8; 8]);
    let err = TensorFile::from_bytes("dup.safetensors", bytes).err().expect("refused").to_string();
    assert!(err.contains("duplicate") && err.contains("`a`"), "{err}");
}

/// Issue #18: weights holding NaN or Inf are refused at load, naming the tensor and index
/// (a NaN in weight_hh_l0 of an LSTM used to give finite outputs).
#[test]
fn non_finite_weights_are_refused_at_load() {
    let spec = RnnSpec::new(CellKind::Lstm, 2, 3);
    for bad in [f32::NAN, f32::INFINITY] {
        let mut t = tensors_of(spec);
        for (n, _, v) in t.iter_mut() {
            if n == "weight_hh_l0" {
                v[7] = bad;
            }
        }
        let t: Vec<(&str, Vec<usize>, Vec<f32>)> =
            t.iter().map(|(n, s, v)| (n.as_str(), s.clone(), v.clone())).collect();
        let err = Weights::load(file_of("nan.safetensors", &t), spec).unwrap_err().to_string();
        assert!(err.contains("weight_hh_l0") && err.contains("index 7"), "{err}");
    }
}

/// Issue #18: parameters that cannot fit in host memory are refused before allocation,
/// with the numbers (an LSTM with H = 20000 aborted the process allocating 12.8 GB).
#[test]
fn parameters_past_host_memory_are_refused_before_allocation() {
    let spec = RnnSpec::new(CellKind::Lstm, 4, 1 << 20); // about 35 TB in f64
    let err = Weights::init(spec, 0).unwrap_err().to_string();
    assert!(err.contains("memory") && err.contains("bytes"), "{err}");
    let err = Weights::init_uniform(spec, 0, 0.1).unwrap_err().to_string();
    assert!(err.contains("memory"), "{err}");
}
