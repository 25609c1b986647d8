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
    let w = Weights::load_infer(&p, CellKind::Lstm).unwrap();
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
