//! The `wgpu-rnn` binary: PyTorch interop through files, errors on bad input.

mod common;
use std::process::Command;
use wgpu_rnn::check::compare;
use wgpu_rnn::io::{TensorFile, TensorWriter};
use wgpu_rnn::{CellKind, RnnSpec, Weights};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_wgpu-rnn"));
    c.env("XDG_RUNTIME_DIR", "/tmp");
    c
}

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn tmp(name: &str) -> String {
    let d = std::env::temp_dir().join(format!("wgpu-rnn-cli-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name).display().to_string()
}

/// With `--layers 2 --bidirectional` stated, and with both left to the file (issue #18:
/// layers were inferred but `--bidirectional` was demanded).
#[test]
fn forward_reproduces_pytorch_from_its_own_files() {
    let out = tmp("interop_out.safetensors");
    for stated in [&["--layers", "2", "--bidirectional"][..], &[]] {
        let st = bin()
            .args([
                "forward",
                "--weights",
                &fixture("interop_lstm_l2_bi.weights.safetensors"),
                "--cell",
                "lstm",
            ])
            .args(stated)
            .args(["--input", &fixture("interop_lstm_l2_bi.input.safetensors")])
            .args(["--output", &out])
            .output()
            .unwrap();
        assert!(st.status.success(), "{stated:?}: {}", String::from_utf8_lossy(&st.stderr));
        let got = TensorFile::open(&out).unwrap();
        let want = TensorFile::open(fixture("interop_lstm_l2_bi.expected.safetensors")).unwrap();
        for name in ["output", "h_n", "c_n"] {
            let (g, w) = (got.float(name, None).unwrap(), want.float(name, None).unwrap());
            assert_eq!(g.shape, w.shape, "{name}");
            let c = compare(name, &g.data, &w.data, 1e-4, 1e-4);
            assert!(c.ok(), "{c}");
        }
    }
}

#[test]
fn a_wrong_weight_shape_is_a_one_line_error_naming_the_tensor() {
    let spec = RnnSpec::new(CellKind::Gru, 4, 6);
    let mut tw = TensorWriter::new();
    Weights::init(spec, 1).unwrap().write_into(&mut tw);
    tw.add_f32("bias_hh_l0", vec![17], vec![0.0; 17]);
    let w = tmp("bad_bias.safetensors");
    tw.write(&w).unwrap();
    let mut x = TensorWriter::new();
    x.add_f32("x", vec![2, 1, 4], vec![0.0; 8]);
    let xin = tmp("x_ok.safetensors");
    x.write(&xin).unwrap();
    let st = bin()
        .args([
            "forward",
            "--weights",
            &w,
            "--cell",
            "gru",
            "--input",
            &xin,
            "--output",
            &tmp("o.safetensors"),
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&st.stderr).trim().to_string();
    assert_eq!(st.status.code(), Some(1));
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("bias_hh_l0") && err.contains("[18]") && err.contains("[17]"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn bad_inputs_get_clear_errors() {
    let spec = RnnSpec::new(CellKind::Lstm, 4, 6);
    let w = tmp("ok_lstm.safetensors");
    Weights::init(spec, 1).unwrap().save(&w).unwrap();
    let run = |tensors: &dyn Fn(&mut TensorWriter), extra: &[&str]| -> String {
        let mut x = TensorWriter::new();
        tensors(&mut x);
        let p = tmp("in.safetensors");
        x.write(&p).unwrap();
        let st = bin()
            .args([
                "forward",
                "--weights",
                &w,
                "--cell",
                "lstm",
                "--input",
                &p,
                "--output",
                &tmp("o2.safetensors"),
            ])
            .args(extra)
            .output()
            .unwrap();
        assert!(!st.status.success());
        String::from_utf8_lossy(&st.stderr).to_string()
    };
    let e = run(
        &|x| {
            x.add_f32("x", vec![2, 1, 5], vec![0.0; 10]);
        },
        &[],
    );
    assert!(e.contains("[2, 1, 5]") && e.contains("[T, B, 4]"), "{e}");
    // Issue #18: a typo such as `h_0` ran from a zero state; unknown names are refused.
    let e = run(
        &|x| {
            x.add_f32("x", vec![2, 1, 4], vec![0.0; 8]);
            x.add_f32("h_0", vec![1, 1, 6], vec![0.5; 6]);
        },
        &[],
    );
    assert!(e.contains("`h_0`") && e.contains("h0"), "{e}");
    let e = run(
        &|x| {
            x.add_f32("x", vec![2, 1, 4], vec![0.0, 1.0, f32::NAN, 0.0, 0.0, 0.0, 0.0, 0.0]);
        },
        &[],
    );
    assert!(e.contains("non-finite") && e.contains("index 2"), "{e}");
    let e = run(
        &|x| {
            x.add_f32("x", vec![3, 2, 4], vec![0.0; 24]);
            x.add("lengths", vec![2], wgpu_rnn::io::Data::I64(vec![3, 4]));
        },
        &[],
    );
    assert!(e.contains("lengths[1] = 4"), "{e}");
    let e = run(
        &|x| {
            x.add_f32("x", vec![3, 2, 4], vec![0.0; 24]);
            x.add("lengths", vec![2], wgpu_rnn::io::Data::I64(vec![0, 3]));
        },
        &[],
    );
    assert!(e.contains("lengths[0] = 0"), "{e}");
    let e = run(
        &|x| {
            x.add_f32("x", vec![3, 2, 4], vec![0.0; 24]);
            x.add_f32("h0", vec![1, 3, 6], vec![0.0; 18]);
        },
        &[],
    );
    assert!(e.contains("h0") && e.contains("[1, 2, 6]"), "{e}");
    let e = run(
        &|x| {
            x.add_f32("x", vec![3, 2, 4], vec![0.0; 24]);
        },
        &["--bidirectional"],
    );
    assert!(e.contains("--bidirectional"), "{e}");
    assert!(!e.contains("panicked"), "{e}");
}

#[test]
fn final_only_writes_states_without_the_sequence() {
    let out = tmp("final_only.safetensors");
    let st = bin()
        .args([
            "forward",
            "--weights",
            &fixture("interop_lstm_l2_bi.weights.safetensors"),
            "--cell",
            "lstm",
        ])
        .args([
            "--bidirectional",
            "--input",
            &fixture("interop_lstm_l2_bi.input.safetensors"),
            "--output",
            &out,
            "--final-only",
        ])
        .output()
        .unwrap();
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    let got = TensorFile::open(&out).unwrap();
    assert!(!got.contains("output"));
    let want = TensorFile::open(fixture("interop_lstm_l2_bi.expected.safetensors")).unwrap();
    let c = compare(
        "h_n",
        &got.float("h_n", None).unwrap().data,
        &want.float("h_n", None).unwrap().data,
        1e-4,
        1e-4,
    );
    assert!(c.ok(), "{c}");
}

#[test]
fn info_names_the_adapter_and_limits() {
    let st = bin().arg("info").output().unwrap();
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    let s = String::from_utf8_lossy(&st.stdout);
    assert!(s.contains("adapter:") && s.contains("max_storage_buffer_binding_size"), "{s}");
    let _ = common::FIXTURES;
}

#[test]
fn grad_reproduces_pytorch_autograd_from_its_own_files() {
    let out = tmp("interop_grads.safetensors");
    let st = bin()
        .args([
            "grad",
            "--weights",
            &fixture("interop_lstm_l2_bi.weights.safetensors"),
            "--cell",
            "lstm",
        ])
        .args([
            "--layers",
            "2",
            "--bidirectional",
            "--input",
            &fixture("interop_lstm_l2_bi.input.safetensors"),
        ])
        .args([
            "--grad-output",
            &fixture("interop_lstm_l2_bi.grad_output.safetensors"),
            "--output",
            &out,
        ])
        .output()
        .unwrap();
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    let got = TensorFile::open(&out).unwrap();
    let want = TensorFile::open(fixture("interop_lstm_l2_bi.grads.safetensors")).unwrap();
    let names = want.names();
    assert_eq!(names.len(), 4 * 2 * 2 + 3);
    for name in names {
        let (g, w) = (got.float(&name, None).unwrap(), want.float(&name, None).unwrap());
        assert_eq!(g.shape, w.shape, "{name}");
        // 1e-4 relative, with an absolute floor for entries near zero.
        let c = compare(&name, &g.data, &w.data, 1e-5, 1e-4);
        assert!(c.ok(), "{c}");
    }
}

#[test]
fn train_sample_resume_and_a_killed_checkpoint_write() {
    let text = tmp("abra.txt");
    std::fs::write(&text, "abracadabra ".repeat(100)).unwrap();
    let ck = tmp("abra_ck.safetensors");
    let train = |extra: &[&str], env: Option<(&str, &str)>| {
        let mut c = bin();
        c.args([
            "train", "--text", &text, "--out", &ck, "--hidden", "24", "--layers", "1", "--seq",
            "12", "--batch", "4",
        ]);
        c.args(["--lr", "0.02", "--eval-every", "60"]).args(extra);
        if let Some((k, v)) = env {
            c.env(k, v);
        }
        c.output().unwrap()
    };
    let st = train(&["--steps", "120"], None);
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    let log = String::from_utf8_lossy(&st.stderr);
    assert!(log.contains("step 120: train loss"), "{log}");
    let before = std::fs::read(&ck).unwrap();
    let saved = wgpu_rnn::charlm::Checkpoint::load(std::path::Path::new(&ck)).unwrap();
    assert_eq!(saved.step, 120);
    // Greedy sampling: only the text goes to stdout.
    let s = bin()
        .args([
            "sample",
            "--checkpoint",
            &ck,
            "--prime",
            "abra",
            "--length",
            "20",
            "--temperature",
            "0",
        ])
        .output()
        .unwrap();
    assert!(s.status.success(), "{}", String::from_utf8_lossy(&s.stderr));
    let out = String::from_utf8_lossy(&s.stdout).trim_end_matches('\n').to_string();
    assert!(out.starts_with("abra") && out.chars().count() == 24, "{out}");
    // Once past the prime's ambiguity the model follows the text exactly.
    assert!("abracadabra ".repeat(4).contains(&out[8..]), "{out}");
    // A resumed run killed in the middle of writing its checkpoint leaves the old one whole.
    let st = train(&["--steps", "60", "--resume"], Some(("WGPU_RNN_ABORT_AFTER_BYTES", "1000")));
    assert!(!st.status.success());
    assert_eq!(std::fs::read(&ck).unwrap(), before, "the previous checkpoint changed");
    assert_eq!(wgpu_rnn::charlm::Checkpoint::load(std::path::Path::new(&ck)).unwrap().step, 120);
    let temporaries = || -> Vec<String> {
        let dir = std::path::Path::new(&ck).parent().unwrap();
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .filter(|n| n.starts_with(".abra_ck.safetensors.tmp."))
            .collect()
    };
    assert_eq!(temporaries().len(), 1, "the killed write leaves its temporary file");
    // Issue #18: a model flag that contradicts the checkpoint is refused, not ignored.
    // (the helper states --hidden 24 and --layers 1, which the checkpoint has)
    let st = train(&["--steps", "60", "--resume", "--cell", "gru"], None);
    let err = String::from_utf8_lossy(&st.stderr);
    assert!(!st.status.success() && err.contains("gru") && err.contains("lstm"), "{err}");
    // Resuming properly continues the step count and the data position, and the next write
    // of the same name removes the dead writer's temporary file (issue #18).
    let st = train(&["--steps", "60", "--resume"], None);
    let err = String::from_utf8_lossy(&st.stderr);
    assert!(st.status.success(), "{err}");
    assert!(err.contains("data position restored after 120 batches"), "{err}");
    assert!(err.contains("Adam's moments are not saved"), "{err}");
    assert_eq!(wgpu_rnn::charlm::Checkpoint::load(std::path::Path::new(&ck)).unwrap().step, 180);
    assert_eq!(temporaries(), Vec::<String>::new());
    // The trace of the trained LSTM: SVG and PNG, and JSON with h, c and the four gates.
    let svg = tmp("abra_trace.svg");
    let st = bin()
        .args([
            "trace",
            "--checkpoint",
            &ck,
            "--text",
            "abracadabra",
            "--gates",
            "--json",
            "--out",
            &svg,
        ])
        .output()
        .unwrap();
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    let v: serde_json::Value = serde_json::from_slice(&st.stdout).unwrap();
    assert_eq!(v["h"].as_array().unwrap().len(), 11);
    assert_eq!(v["c"][10].as_array().unwrap().len(), 24);
    let gates: Vec<&str> =
        v["gates"].as_array().unwrap().iter().map(|g| g["name"].as_str().unwrap()).collect();
    assert_eq!(gates, ["i", "f", "g", "o"]);
    assert!(std::fs::read_to_string(&svg).unwrap().starts_with("<svg"));
    assert!(std::fs::read(svg.replace(".svg", ".png")).unwrap().starts_with(b"\x89PNG"));
}

#[test]
fn train_defaults_to_the_shipped_corpus() {
    let ck = tmp("shipped_ck.safetensors");
    let st = bin()
        .args([
            "train",
            "--out",
            &ck,
            "--hidden",
            "8",
            "--layers",
            "1",
            "--seq",
            "16",
            "--batch",
            "4",
            "--steps",
            "2",
            "--val-chars",
            "2000",
        ])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&st.stderr);
    assert!(st.status.success(), "{log}");
    assert!(
        log.contains("on the shipped data/shakespeare.txt") && log.contains("step 2: train loss"),
        "{log}"
    );
    let saved = wgpu_rnn::charlm::Checkpoint::load(std::path::Path::new(&ck)).unwrap();
    // Every character of Macbeth and Hamlet, newline included.
    assert_eq!(saved.vocab.len(), 65);
    assert!(saved.vocab.chars.contains(&'M') && saved.vocab.chars.contains(&'\n'));
}

#[test]
fn stability_json_has_the_documented_fields() {
    let st = bin()
        .args([
            "stability",
            "--cell",
            "rnn",
            "--nonlinearity",
            "relu",
            "--hidden",
            "16",
            "--seq",
            "20",
            "--batch",
            "2",
        ])
        .args(["--sweep", "spectral-radius=0.5:1.5:3", "--json"])
        .output()
        .unwrap();
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    let v: serde_json::Value = serde_json::from_slice(&st.stdout).unwrap();
    let configs = v["configs"].as_array().unwrap();
    assert_eq!(configs.len(), 3);
    for c in configs {
        assert_eq!(c["grad_h_norm"].as_array().unwrap().len(), 20);
        assert_eq!(c["grad_h_norm_max"].as_array().unwrap().len(), 20);
        assert!(c["label"].is_string() && c["cell"] == "rnn_relu" && c["verdict"].is_string());
    }
}

#[test]
fn bench_compares_with_peer_timings_and_profiles() {
    let peers = tmp("peer_timings.txt");
    std::fs::write(&peers, "# a peer\ncustom fwd 1000.0 990 1010\ncustom train 4000.0\n").unwrap();
    let shape = [
        "bench", "--cell", "lstm", "--batch", "4", "--input", "8", "--hidden", "16", "--seq", "5",
        "--runs", "3",
    ];
    let st =
        bin().args(shape).args(["--json", "--compare", &format!("peer={peers}")]).output().unwrap();
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    let v: serde_json::Value = serde_json::from_slice(&st.stdout).unwrap();
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    for (r, peer_ms) in results.iter().zip([1000.0, 4000.0]) {
        let median = r["median_ms"].as_f64().unwrap();
        let speedup = r["speedup"]["peer"].as_f64().unwrap();
        assert!((speedup - peer_ms / median).abs() <= 1e-9 * speedup, "{r}");
        assert_eq!(r["check_ok"], true, "{r}");
    }
    // a malformed peer file is an error naming the line
    std::fs::write(&peers, "custom fwd fast\n").unwrap();
    let st = bin().args(shape).args(["--compare", &format!("peer={peers}")]).output().unwrap();
    assert!(!st.status.success());
    assert!(
        String::from_utf8_lossy(&st.stderr).contains("line 1"),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );

    let st = bin().args(shape).arg("--profile").output().unwrap();
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    let out = String::from_utf8_lossy(&st.stdout);
    for family in ["input GEMM", "recurrent step", "backward step", "weight-gradient GEMMs"] {
        assert!(out.contains(family), "no {family} in:\n{out}");
    }
    // the fused variant's forward has one family, its step with the input projection in it
    let st = bin()
        .args(shape)
        .args(["--profile", "--mode", "fwd", "--variant", "fused-subgroup"])
        .output()
        .unwrap();
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    let out = String::from_utf8_lossy(&st.stdout);
    assert!(
        out.contains("fused step (input GEMM + recurrent)") && !out.contains("input GEMM  "),
        "{out}"
    );
}

/// Hostile values (issue #18): each is refused with an error naming the option or value,
/// never a panic (exit 101) or an abort.
#[test]
fn hostile_option_values_are_refused_without_panics() {
    let train = ["train", "--steps", "1", "--hidden", "4", "--seq", "4", "--batch", "2"];
    let stability = ["stability", "--engine", "cpu", "--hidden", "4", "--seq", "5", "--batch", "2"];
    let cases: Vec<(Vec<&str>, &str)> = vec![
        ([&train[..], &["--eval-every", "0"]].concat(), "--eval-every"),
        ([&train[..], &["--clip", "-1"]].concat(), "--clip"),
        ([&train[..], &["--clip", "nan"]].concat(), "--clip"),
        ([&train[..], &["--lr", "inf"]].concat(), "--lr"),
        ([&stability[..], &["--seq", "0"]].concat(), "--seq"),
        ([&stability[..], &["--batch", "0"]].concat(), "--batch"),
        ([&stability[..], &["--init-scale", "inf"]].concat(), "--init-scale"),
        ([&stability[..], &["--init-scale", "nan"]].concat(), "--init-scale"),
        ([&stability[..], &["--spectral-radius", "nan"]].concat(), "--spectral-radius"),
        ([&stability[..], &["--forget-bias", "inf"]].concat(), "--forget-bias"),
    ];
    for (args, names) in cases {
        let out = bin().args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert_ne!(out.status.code(), Some(101), "{args:?} panicked: {err}");
        assert!(!err.contains("panicked") && err.contains(names), "{args:?}: {err}");
    }
}

/// An OS error is printed once, not once per level of the error chain (issue #18).
#[test]
fn an_os_error_is_printed_once() {
    let out = bin()
        .args(["forward", "--weights", "/nonexistent/w.safetensors", "--cell", "lstm"])
        .args(["--input", "/nonexistent/x.safetensors", "--output", &tmp("never.safetensors")])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert_eq!(err.matches("os error 2").count(), 1, "{err}");
    assert!(err.contains("/nonexistent/w.safetensors"), "{err}");
}

/// `wgpu-rnn ... | head` closing the pipe ends the program quietly, as Unix tools do
/// (issue #18: it panicked with "failed printing to stdout: Broken pipe").
#[test]
fn a_closed_stdout_pipe_is_not_a_panic() {
    use std::process::Stdio;
    let mut child = bin()
        .args(["stability", "--engine", "cpu", "--hidden", "4", "--seq", "20", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader goes away before anything is written
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked") && !err.contains("Broken pipe"), "{err}");
    assert_ne!(out.status.code(), Some(101), "{err}");
}

/// SIGTERM is treated like Ctrl-C: training saves its checkpoint and exits (issue #18: up to
/// `--eval-every` steps of work were lost).
#[test]
fn sigterm_saves_the_training_checkpoint() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let text = tmp("term.txt");
    std::fs::write(&text, "abracadabra ".repeat(100)).unwrap();
    let ck = tmp("term_ck.safetensors");
    let _ = std::fs::remove_file(&ck);
    let mut child = bin()
        .args(["train", "--text", &text, "--out", &ck, "--hidden", "8", "--layers", "1"])
        .args(["--seq", "8", "--batch", "2", "--steps", "1000000", "--eval-every", "1000000"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The line announcing the run comes after the signal handler is installed.
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    while !seen.contains("fresh") {
        let mut line = String::new();
        assert!(err.read_line(&mut line).unwrap() > 0, "train ended early: {seen}");
        seen.push_str(&line);
    }
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let term = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(term.success());
    let status = child.wait().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut err, &mut rest).unwrap();
    assert_eq!(status.code(), Some(130), "{seen}{rest}");
    assert!(rest.contains("saved"), "{rest}");
    let saved = wgpu_rnn::charlm::Checkpoint::load(std::path::Path::new(&ck)).unwrap();
    assert!(saved.step >= 1, "checkpoint at step {}", saved.step);
}

/// Every plot the CLI writes, written as a user would and its file checked (issue #18:
/// `stability --plot` always failed with FontUnavailable; fonts were registered only by
/// `trace`). SVG and PNG for both of stability's plots.
#[test]
fn stability_plots_are_written_as_svg_and_png() {
    let log = tmp("plot_log.json");
    let steps: Vec<wgpu_rnn::train::StepStats> = (0..20)
        .map(|i| wgpu_rnn::train::StepStats {
            loss: 2.0 - i as f32 * 0.05,
            grad_norm: 1.0 + (i % 5) as f32,
            clipped: i % 5 == 4,
        })
        .collect();
    wgpu_rnn::train::write_log(std::path::Path::new(&log), &steps).unwrap();
    for ext in ["svg", "png"] {
        let profile = tmp(&format!("profile.{ext}"));
        let st = bin()
            .args(["stability", "--engine", "cpu", "--hidden", "4", "--seq", "12", "--plot"])
            .arg(&profile)
            .output()
            .unwrap();
        assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
        let train = tmp(&format!("train_log.{ext}"));
        let st = bin().args(["stability", "--train-log", &log, "--plot", &train]).output().unwrap();
        assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
        for p in [&profile, &train] {
            let bytes = std::fs::read(p).unwrap();
            if ext == "svg" {
                let svg = String::from_utf8(bytes).unwrap();
                assert!(svg.starts_with("<svg") && svg.contains("<text"), "{p}");
            } else {
                assert!(bytes.starts_with(b"\x89PNG") && bytes.len() > 2000, "{p}");
            }
        }
    }
}

/// Issue #18: `init` with a hidden size whose parameters cannot fit in memory ends with an
/// error giving the numbers, not an allocation abort (SIGABRT).
#[test]
fn init_past_host_memory_is_an_error_not_an_abort() {
    let out = bin()
        .args(["init", "--cell", "lstm", "--input-size", "4", "--hidden-size", "1000000"])
        .args(["--out", &tmp("huge.safetensors")])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("memory") && err.contains("bytes"), "{err}");
}

/// An input file holding only `x` (in the temp folder); returns its path.
fn x_file(name: &str, shape: [usize; 3], x: Vec<f32>) -> String {
    let path = tmp(name);
    let mut w = wgpu_rnn::io::TensorWriter::new();
    w.add_f32("x", shape.to_vec(), x);
    w.write(&path).unwrap();
    path
}

/// `forward` of an LSTM weight file over an input file, the output to the temp folder.
fn forward_lstm(weights: &str, input: &str, out: &str) -> std::process::Output {
    bin()
        .args(["forward", "--weights", weights, "--cell", "lstm", "--input", input])
        .args(["--output", &tmp(out)])
        .output()
        .unwrap()
}

/// Issue #18: a model too big for the device is refused from the file's header, before its
/// tensors are read. The file here is a header declaring 6.4 GB of LSTM weights (H = 20000)
/// with no data at all: reading it whole would fail as a truncated file instead.
#[test]
fn a_model_past_the_device_is_refused_from_its_header() {
    let (g, h, i) = (4 * 20000usize, 20000usize, 4usize);
    let header = format!(
        r#"{{"weight_ih_l0":{{"dtype":"F32","shape":[{g},{i}],"data_offsets":[0,{a}]}},"weight_hh_l0":{{"dtype":"F32","shape":[{g},{h}],"data_offsets":[{a},{b}]}}}}"#,
        a = g * i * 4,
        b = g * i * 4 + g * h * 4
    );
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    let weights = tmp("header-only-6GB.safetensors");
    std::fs::write(&weights, bytes).unwrap();
    let input = x_file("header-only-x.safetensors", [2, 1, i], vec![0.5; 2 * i]);
    let out = forward_lstm(&weights, &input, "header-only-out.safetensors");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("exceeds") && !err.contains("Incomplete"), "{err}");
}

/// Issue #18: a relu RNN with spectral radius 60 overflows f32 in BPTT. The GPU engine
/// reported ‖dL/dh_0‖ = 0 (the NaN hidden by relu's derivative); now the overflow
/// propagates, the first non-finite step is named, and the disagreement with the f64
/// reference is said.
#[test]
fn stability_names_the_step_where_f32_overflowed() {
    let out = bin()
        .args(["stability", "--cell", "rnn", "--nonlinearity", "relu"])
        .args(["--spectral-radius", "60", "--hidden", "16", "--seq", "60", "--json"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let r = &v["configs"][0];
    assert!(r["first_nonfinite_step"].as_u64().is_some(), "{r}");
    assert_eq!(r["verdict"], "exploding", "{r}");
    assert!(err.contains("f32 overflowed on the GPU") && err.contains("f64 reference"), "{err}");
}

/// Issue #18: `forward --final-only` streams x from the file in chunks (host memory flat),
/// and gives the final states of reading it whole; a bidirectional model too long for one
/// call says how to get through.
#[test]
fn final_only_streams_the_input_and_long_bidirectional_calls_say_what_to_do() {
    let model = tmp("stream-model.safetensors");
    let ok = bin()
        .args([
            "init",
            "--cell",
            "lstm",
            "--input-size",
            "3",
            "--hidden-size",
            "6",
            "--layers",
            "2",
        ])
        .args(["--seed", "4", "--out", &model])
        .status()
        .unwrap();
    assert!(ok.success());
    let (t, b, i, h) = (700usize, 2usize, 3usize, 6usize);
    let x: Vec<f32> = (0..t * b * i).map(|k| (k * 37 % 101) as f32 / 50.0 - 1.0).collect();
    let h0: Vec<f32> = (0..2 * b * h).map(|k| (k as f32 / 24.0) - 0.5).collect();
    let input = tmp("stream-x.safetensors");
    let mut w = wgpu_rnn::io::TensorWriter::new();
    w.add_f32("x", vec![t, b, i], x).add_f32("h0", vec![2, b, h], h0);
    w.write(&input).unwrap();
    let run = |final_only: bool, out: &str| {
        let mut c = bin();
        c.args([
            "forward",
            "--weights",
            &model,
            "--cell",
            "lstm",
            "--input",
            &input,
            "--output",
            out,
        ]);
        if final_only {
            c.arg("--final-only");
        }
        let o = c.output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        assert!(o.status.success(), "{err}");
        (wgpu_rnn::io::TensorFile::open(out).unwrap(), err)
    };
    let (streamed, log) = run(true, &tmp("stream-out-final.safetensors"));
    assert!(log.contains("streamed x") && log.contains("chunks of 256"), "{log}");
    let (whole, _) = run(false, &tmp("stream-out-whole.safetensors"));
    // A NaN in the third chunk is named by its index in x, not in the chunk.
    let mut bad: Vec<f32> = vec![0.1; t * b * i];
    bad[600 * b * i + 4] = f32::NAN;
    let nan_x = x_file("stream-nan.safetensors", [t, b, i], bad);
    let mut c = bin();
    c.args(["forward", "--weights", &model, "--cell", "lstm", "--input", &nan_x, "--final-only"]);
    let o = c.args(["--output", &tmp("stream-nan-out.safetensors")]).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains(&format!("{}", 600 * b * i + 4)), "{err}");
    for name in ["h_n", "c_n"] {
        let (s, w) = (streamed.float32(name, None).unwrap(), whole.float32(name, None).unwrap());
        let c = wgpu_rnn::check::compare(name, &s, &w, 1e-5, 1e-4);
        assert!(c.ok(), "{c}");
    }

    // Bidirectional LSTM, H = 8: 64 floats per step in its widest sequence buffer, so past
    // 524288 steps no binding of lavapipe's 128 MiB holds the call.
    let bi = tmp("stream-bi.safetensors");
    let ok = bin()
        .args([
            "init",
            "--cell",
            "lstm",
            "--input-size",
            "1",
            "--hidden-size",
            "8",
            "--bidirectional",
        ])
        .args(["--out", &bi])
        .status()
        .unwrap();
    assert!(ok.success());
    let t = 600_000;
    let long = x_file("stream-long.safetensors", [t, 1, 1], vec![0.25; t]);
    let o = forward_lstm(&bi, &long, "stream-long-out.safetensors");
    let err = String::from_utf8_lossy(&o.stderr);
    let gpu = wgpu_rnn::Gpu::new().unwrap();
    let limit = gpu.limits.max_storage_buffer_binding_size.min(gpu.limits.max_buffer_size);
    if (t as u64) * 64 * 4 <= limit {
        // An adapter whose bindings hold the whole call runs it.
        assert!(o.status.success(), "{err}");
    } else {
        assert!(err.contains("bidirectional") && err.contains("split the sequence"), "{err}");
    }
}

/// minGRU and minLSTM through `forward` and `grad` as a user runs them: the golden
/// fixtures' weights and inputs written as files (2 layers, both directions, lengths), both
/// scan variants, against PyTorch's numbers in the fixture.
#[test]
fn linear_cells_forward_and_grad_reproduce_their_golden_fixtures() {
    for (name, cell) in [("mingru_l2_bi_len", "mingru"), ("minlstm_l2_bi_len", "minlstm")] {
        let g = common::Golden::load(name);
        let weights = tmp(&format!("{name}.weights.safetensors"));
        g.weights.save(&weights).unwrap();
        let f32s = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
        let spec = g.weights.spec;
        let states = vec![spec.num_layers * spec.directions(), g.b, spec.hidden_size];
        let input = tmp(&format!("{name}.input.safetensors"));
        let mut w = TensorWriter::new();
        w.add_f32("x", vec![g.t, g.b, spec.input_size], f32s(&g.x));
        w.add_f32("h0", states.clone(), f32s(&g.h0));
        let lengths: Vec<i64> = g.lengths.as_ref().unwrap().iter().map(|&l| l as i64).collect();
        w.add("lengths", vec![g.b], wgpu_rnn::io::Data::I64(lengths));
        w.write(&input).unwrap();
        let dy = tmp(&format!("{name}.dy.safetensors"));
        let mut w = TensorWriter::new();
        w.add_f32("output", vec![g.t, g.b, spec.output_size()], f32s(&g.get("d_output")));
        w.add_f32("h_n", states, f32s(&g.get("d_h_n")));
        w.write(&dy).unwrap();
        for variant in ["scan", "sequential"] {
            let out = tmp(&format!("{name}.{variant}.out.safetensors"));
            let st = bin()
                .args(["forward", "--weights", &weights, "--cell", cell, "--input", &input])
                .args(["--output", &out, "--variant", variant])
                .output()
                .unwrap();
            assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
            let got = TensorFile::open(&out).unwrap();
            for t in ["output", "h_n"] {
                let c = compare(t, &got.float(t, None).unwrap().data, &g.get(t), 1e-5, 1e-4);
                assert!(c.ok(), "{name} {variant}: {c}");
            }
            let grads = tmp(&format!("{name}.{variant}.grads.safetensors"));
            let st = bin()
                .args(["grad", "--weights", &weights, "--cell", cell, "--input", &input])
                .args(["--grad-output", &dy, "--output", &grads, "--variant", variant])
                .output()
                .unwrap();
            assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
            let got = TensorFile::open(&grads).unwrap();
            for t in got.names() {
                let want = g.get(&format!("grad.{t}"));
                let c = compare(&t, &got.float(&t, None).unwrap().data, &want, 1e-4, 1e-3);
                assert!(c.ok(), "{name} {variant}: {c}");
            }
        }
        // The other family's variants and cells are refused with a one-line reason.
        let st = bin()
            .args(["forward", "--weights", &weights, "--cell", cell, "--input", &input])
            .args(["--output", &tmp("refused.safetensors"), "--variant", "subgroup"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&st.stderr);
        assert!(!st.status.success() && err.contains("use scan or sequential"), "{err}");
        let st = bin()
            .args(["forward", "--weights", &weights, "--cell", "gru", "--input", &input])
            .args(["--output", &tmp("refused.safetensors")])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&st.stderr);
        assert!(!st.status.success() && err.contains("weight_hh_l0"), "{err}");
    }
}

/// `bench --variant` repeated and `--alternate`: each named workload runs with the given
/// variants that run its cell, timed round-robin, every case checked against the reference;
/// a workload no given variant can run is refused up front.
#[test]
fn bench_alternates_variants_and_skips_those_of_the_other_cells() {
    let st = bin()
        .args(["bench", "--workload", "mingru-b64", "--workload", "gru-b64", "--mode", "fwd"])
        .args(["--variant", "scan", "--variant", "sequential", "--variant", "register"])
        .args(["--alternate", "--runs", "2", "--json"])
        .output()
        .unwrap();
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    let v: serde_json::Value = serde_json::from_slice(&st.stdout).unwrap();
    let got: Vec<(String, String)> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert_eq!(r["check_ok"], true, "{r}");
            assert_eq!(r["runs_ms"].as_array().unwrap().len(), 2, "{r}");
            assert!(r["tokens_per_s"].as_f64().unwrap() > 0.0, "{r}");
            (r["workload"]["name"].as_str().unwrap().into(), r["variant"].as_str().unwrap().into())
        })
        .collect();
    let want = [("mingru-b64", "scan"), ("mingru-b64", "sequential"), ("gru-b64", "register")];
    let want: Vec<(String, String)> =
        want.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
    assert_eq!(got, want);
    let st = bin()
        .args(["bench", "--workload", "minlstm-b64", "--variant", "subgroup", "--runs", "1"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&st.stderr);
    assert!(!st.status.success() && err.contains("add scan or sequential"), "{err}");
}

/// `stability --cells gru,mingru` without a sweep: the cells side by side, same sizes, seed
/// and input, each with its own per-step norms, and a plot with a line each.
#[test]
fn stability_compares_cells_side_by_side() {
    let plot = tmp("cells.svg");
    let st = bin()
        .args(["stability", "--cells", "gru,mingru", "--hidden", "12", "--seq", "30"])
        .args(["--batch", "2", "--json", "--plot", &plot])
        .output()
        .unwrap();
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    let v: serde_json::Value = serde_json::from_slice(&st.stdout).unwrap();
    let configs = v["configs"].as_array().unwrap();
    let cells: Vec<&str> = configs.iter().map(|c| c["cell"].as_str().unwrap()).collect();
    assert_eq!(cells, ["gru", "mingru"]);
    for c in configs {
        let norms = c["grad_h_norm"].as_array().unwrap();
        assert_eq!(norms.len(), 30);
        // the loss is the sum of h at the last step: its gradient there is all ones
        assert!((norms[29].as_f64().unwrap() - 12f64.sqrt()).abs() < 1e-4, "{c}");
        assert!(norms[0].as_f64().unwrap() < norms[29].as_f64().unwrap(), "{c}");
    }
    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(svg.contains("gru") && svg.contains("mingru"), "both cells in the legend");
    // the table: minGRU has no W_hh, so no σ_max
    let st = bin()
        .args(["stability", "--cells", "gru,mingru", "--hidden", "12", "--seq", "30"])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&st.stdout);
    let row = |cell: &str| {
        let line = out.lines().find(|l| l.starts_with(&format!("{cell} "))).unwrap();
        line.split_whitespace().nth(1).unwrap().to_string()
    };
    assert!(row("gru").parse::<f64>().unwrap() > 0.0, "{out}");
    assert_eq!(row("mingru"), "-", "{out}");
}

/// `--precision` as a user runs it: `forward` with f16 and bf16 weights writes its output
/// (tagged with the precision) within the rounding's reach of PyTorch's f32 result, and
/// `bench --precision f32,f16` reports half the weight bytes for f16 and, training, under
/// 40% of the reserve bytes.
#[test]
fn precision_flag_runs_forward_and_bench_in_16_bits() {
    let want = TensorFile::open(fixture("interop_lstm_l2_bi.expected.safetensors")).unwrap();
    let want = want.float("output", None).unwrap().data;
    for (p, reach) in [("f16", 1e-2), ("bf16", 5e-2)] {
        let out = tmp(&format!("precision_{p}.safetensors"));
        let st = bin()
            .args(["forward", "--weights", &fixture("interop_lstm_l2_bi.weights.safetensors")])
            .args(["--cell", "lstm", "--precision", p])
            .args(["--input", &fixture("interop_lstm_l2_bi.input.safetensors"), "--output", &out])
            .output()
            .unwrap();
        assert!(st.status.success(), "{p}: {}", String::from_utf8_lossy(&st.stderr));
        let got = TensorFile::open(&out).unwrap();
        assert_eq!(got.metadata()["precision"], p);
        let got = got.float("output", None).unwrap().data;
        let err = got.iter().zip(&want).map(|(g, w)| (g - w).abs()).fold(0.0, f64::max);
        assert!(err > 0.0 && err < reach, "{p}: max |16-bit - PyTorch f32| = {err:e}");
    }
    let st = bin()
        .args(["bench", "--workload", "lstm-b1", "--mode", "fwd", "--precision", "f32,f16"])
        .args(["--alternate", "--runs", "1", "--json"])
        .output()
        .unwrap();
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    let v: serde_json::Value = serde_json::from_slice(&st.stdout).unwrap();
    let r = v["results"].as_array().unwrap();
    assert_eq!(r.len(), 2);
    let bytes = |i: usize| r[i]["weight_bytes"].as_f64().unwrap();
    assert_eq!(r[1]["workload"]["precision"], "f16");
    assert!(r.iter().all(|c| c["check_ok"] == true && c["bytes_per_step"].as_f64().unwrap() > 0.0));
    assert!(bytes(1) < 0.55 * bytes(0), "{} vs {}", bytes(1), bytes(0));
    // training: the f16 run keeps its reserve in 16 bits (odd T: a half-used last word)
    // and its gradients pass the check against the reference that rounds it the same way
    let st = bin()
        .args(["bench", "--cell", "lstm", "--batch", "3", "--input", "12", "--hidden", "20"])
        .args(["--seq", "9", "--mode", "train", "--precision", "f32,f16", "--runs", "1"])
        .arg("--json")
        .output()
        .unwrap();
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    let v: serde_json::Value = serde_json::from_slice(&st.stdout).unwrap();
    let r = v["results"].as_array().unwrap();
    assert!(r.iter().all(|c| c["check_ok"] == true), "{r:?}");
    let reserve = |i: usize| r[i]["reserve_bytes"].as_f64().unwrap();
    assert!(reserve(1) < 0.4 * reserve(0), "{} vs {}", reserve(1), reserve(0));
}

/// `--precision` on `grad`, `train`, `trace` and `validate` as a user runs them: grad's
/// file is tagged and near PyTorch's f32 gradients; train's checkpoint keeps F16 weight
/// matrices and trace reads it back in f16; validate checks bf16 against the reference on
/// rounded weights and says so in its table.
#[test]
fn precision_flag_runs_grad_train_trace_and_validate() {
    let out = tmp("precision_grads.safetensors");
    let st = bin()
        .args(["grad", "--weights", &fixture("interop_lstm_l2_bi.weights.safetensors")])
        .args(["--cell", "lstm", "--precision", "f16"])
        .args(["--input", &fixture("interop_lstm_l2_bi.input.safetensors")])
        .args(["--grad-output", &fixture("interop_lstm_l2_bi.grad_output.safetensors")])
        .args(["--output", &out])
        .output()
        .unwrap();
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    let got = TensorFile::open(&out).unwrap();
    assert_eq!(got.metadata()["precision"], "f16");
    let want = TensorFile::open(fixture("interop_lstm_l2_bi.grads.safetensors")).unwrap();
    let (g, w) = (got.float("x", None).unwrap().data, want.float("x", None).unwrap().data);
    let err = g.iter().zip(&w).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    assert!(err > 0.0 && err < 1e-2, "dL/dx: max |f16 - PyTorch f32| = {err:e}");

    let text = tmp("precision_abra.txt");
    std::fs::write(&text, "abracadabra ".repeat(40)).unwrap();
    let ck = tmp("precision_ck.safetensors");
    let st = bin()
        .args(["train", "--text", &text, "--out", &ck, "--hidden", "8", "--layers", "1"])
        .args(["--seq", "8", "--batch", "2", "--steps", "3", "--precision", "f16"])
        .output()
        .unwrap();
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    let bytes = std::fs::read(&ck).unwrap();
    let st_file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    for (name, view) in st_file.tensors() {
        let want = if name.starts_with("weight_") { "F16" } else { "F32" };
        assert_eq!(format!("{:?}", view.dtype()), want, "{name}");
    }
    let svg = tmp("precision_trace.svg");
    let st = bin()
        .args(["trace", "--checkpoint", &ck, "--text", "abra", "--out", &svg, "--json"])
        .output()
        .unwrap();
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    let drawn = std::fs::read_to_string(&svg).unwrap();
    assert!(drawn.contains("f16 weights"), "the title names the precision");
    assert!(std::fs::metadata(tmp("precision_trace.png")).unwrap().len() > 0);

    let st = bin()
        .args(["validate", "--smoke", "--no-backward", "--variant", "register"])
        .args(["--precision", "bf16"])
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&st.stdout);
    assert!(st.status.success(), "{table}");
    let rows: Vec<&str> = table.lines().filter(|l| l.ends_with("PASS")).collect();
    // two shapes for each of the four cells `register` runs (not minGRU, minLSTM)
    assert!(rows.len() >= 8 && rows.iter().all(|l| l.contains(" bf16 ")), "{table}");
}
