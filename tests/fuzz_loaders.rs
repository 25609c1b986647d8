//! The weight and input loaders under random byte mutations of valid files (seeded, 1,200
//! per run): every outcome is a value or an error, never a panic (issue #18).

use rand::{Rng, SeedableRng};
use wgpu_rnn::io::{TensorFile, TensorWriter};
use wgpu_rnn::{CellKind, RnnSpec, Weights};

/// A valid weights file and a valid input file (x, h0, c0, lengths), as bytes.
fn valid_files() -> Vec<Vec<u8>> {
    let spec = RnnSpec::new(CellKind::Lstm, 3, 4).layers(2).bidirectional(true);
    let mut weights = TensorWriter::new();
    Weights::init(spec, 1).unwrap().write_into(&mut weights);
    let mut input = TensorWriter::new();
    input.add_f32("x", vec![5, 2, 3], vec![0.5; 30]);
    input.add_f32("h0", vec![4, 2, 4], vec![0.1; 32]);
    input.add_f32("c0", vec![4, 2, 4], vec![0.2; 32]);
    vec![weights.to_bytes().unwrap(), input.to_bytes().unwrap()]
}

/// Everything a loader does with a file, results ignored: only panics matter here.
fn load_everything(bytes: Vec<u8>) {
    let Ok(f) = TensorFile::from_bytes("fuzz.safetensors", bytes) else { return };
    let _ = f.names();
    let _ = f.metadata();
    for name in f.names() {
        let _ = f.shape(&name);
        let _ = f.float(&name, None);
        let _ = f.float32(&name, None);
        let _ = f.int(&name, None);
    }
    for cell in CellKind::ALL {
        if let Ok(spec) = Weights::infer_spec(&f, cell) {
            let _ = Weights::from_file(&f, spec);
        }
    }
}

#[test]
fn mutated_files_give_errors_not_panics() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5afe);
    let mut panics = Vec::new();
    let mut runs = 0;
    for original in valid_files() {
        for _ in 0..600 {
            let mut bytes = original.clone();
            match rng.random_range(0..4) {
                // flip a few bytes anywhere
                0 => {
                    for _ in 0..rng.random_range(1..5) {
                        let i = rng.random_range(0..bytes.len());
                        bytes[i] = rng.random();
                    }
                }
                // a byte of the header (length prefix and JSON), where parsing decides
                1 => {
                    let header = (8 + u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize)
                        .min(bytes.len());
                    let i = rng.random_range(0..header);
                    bytes[i] = rng.random();
                }
                // truncate
                2 => bytes.truncate(rng.random_range(0..bytes.len())),
                // append garbage
                _ => bytes.extend((0..rng.random_range(1..64)).map(|_| rng.random::<u8>())),
            }
            runs += 1;
            let copy = bytes.clone();
            if std::panic::catch_unwind(|| load_everything(copy)).is_err() {
                panics.push(bytes);
            }
        }
    }
    assert!(runs >= 1000);
    assert!(panics.is_empty(), "{} of {runs} mutated files panicked a loader", panics.len());
}
