//! The browser page in a real browser: `wgpu-rnn serve` serves web/dist (`make web`), and
//! headless Chromium, driven through ChromeDriver (WebDriver over HTTP), loads it on its
//! WebGPU (SwiftShader) and without WebGPU (the CPU reference in wasm). The page's trace
//! (`#trace-json`) must match `wgpu-rnn trace --json` with the same flags. Screenshots and
//! timings go to target/web-screenshots/.
//!
//! Needs `chromium` and `chromedriver` (`make browser`, or as root `apt-get install chromium
//! chromium-driver`) and the built page (`make web`); without them these tests fail saying so.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One browser at a time: two Chromium instances on a 2-core machine slow both past their
/// timeouts.
static BROWSER: Mutex<()> = Mutex::new(());

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn shots() -> PathBuf {
    let d = repo().join("target/web-screenshots");
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A process killed when dropped.
struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `wgpu-rnn serve --port 0` on the built page; its URL from the line it prints.
fn serve() -> (Proc, String) {
    let dist = repo().join("web/dist");
    assert!(
        dist.join("wgpu_rnn_web_bg.wasm").is_file(),
        "{} has no built page: run `make web` first",
        dist.display()
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_wgpu-rnn"))
        .args(["serve", "--port", "0", "--dir"])
        .arg(&dist)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = line.split_whitespace().last().unwrap_or("").to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "serve printed {line:?}");
    (Proc(child), url)
}

/// A minimal HTTP/1.1 client for ChromeDriver's JSON. ChromeDriver keeps connections open,
/// so the body is read by its Content-Length (or its chunks), not to the end of the stream.
fn http(port: u16, method: &str, path: &str, body: Option<&Value>) -> std::io::Result<Value> {
    let s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(300)))?;
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    write!(
        &s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut r = BufReader::new(s);
    let (mut length, mut chunked) = (None, false);
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
        let l = line.to_ascii_lowercase();
        if let Some(v) = l.strip_prefix("content-length:") {
            length = v.trim().parse::<usize>().ok();
        }
        chunked |= l.starts_with("transfer-encoding:") && l.contains("chunked");
    }
    let mut payload = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            r.read_line(&mut size)?;
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if n == 0 {
                break;
            }
            let mut chunk = vec![0u8; n + 2];
            r.read_exact(&mut chunk)?;
            payload.extend_from_slice(&chunk[..n]);
        }
    } else if let Some(n) = length {
        payload.resize(n, 0);
        r.read_exact(&mut payload)?;
    } else {
        r.read_to_end(&mut payload)?;
    }
    Ok(serde_json::from_slice(&payload).unwrap_or(Value::Null))
}

/// Headless Chromium under ChromeDriver, one session.
struct Browser {
    port: u16,
    session: String,
    _driver: Proc,
}

impl Browser {
    fn new(webgpu: bool) -> Browser {
        for tool in ["chromium", "chromedriver"] {
            let found = Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .output()
                .is_ok_and(|o| o.status.success());
            assert!(
                found,
                "{tool} is missing: run `make browser` (as root: apt-get install chromium chromium-driver)"
            );
        }
        let port = free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let driver = Proc(driver);
        let start = Instant::now();
        while http(port, "GET", "/status", None).is_err() {
            assert!(start.elapsed() < Duration::from_secs(20), "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let profile = std::env::temp_dir().join(format!("wgpu-rnn-chromium-{port}"));
        let mut args = vec![
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--no-first-run".into(),
            "--window-size=1280,1000".into(),
            format!("--user-data-dir={}", profile.display()),
        ];
        if webgpu {
            args.push("--enable-unsafe-webgpu".into());
            args.push("--enable-features=Vulkan".into());
        }
        let caps = json!({"capabilities": {"alwaysMatch": {"goog:chromeOptions": {
            "binary": "/usr/bin/chromium", "args": args}}}});
        let got = http(port, "POST", "/session", Some(&caps)).unwrap();
        let session = got["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {got}"))
            .to_string();
        Browser { port, session, _driver: driver }
    }

    fn cmd(&self, method: &str, what: &str, body: Option<Value>) -> Value {
        let path = format!("/session/{}/{what}", self.session);
        let v = http(self.port, method, &path, body.as_ref()).unwrap();
        if let Some(err) = v["value"].get("error") {
            panic!("WebDriver {what}: {err} {}", v["value"]["message"]);
        }
        v["value"].clone()
    }

    fn js(&self, script: &str) -> Value {
        self.cmd("POST", "execute/sync", Some(json!({"script": script, "args": []})))
    }

    /// Loads `url` and waits (up to 3 minutes) for `<body data-ready="1">`.
    fn open(&self, url: &str) {
        self.cmd("POST", "url", Some(json!({ "url": url })));
        self.wait_for("document.body.dataset.ready === '1'", url);
    }

    fn wait_for(&self, condition: &str, what: &str) {
        let start = Instant::now();
        while self.js(&format!("return {condition};")) != json!(true) {
            assert!(
                start.elapsed() < Duration::from_secs(180),
                "{what}: `{condition}` still false after 3 minutes"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn body(&self, attr: &str) -> String {
        self.js(&format!("return document.body.dataset.{attr} || '';")).as_str().unwrap().into()
    }

    fn json_of(&self, id: &str) -> Value {
        let text = self.js(&format!(
            "const e = document.getElementById('{id}'); return e ? e.textContent : '';"
        ));
        serde_json::from_str(text.as_str().unwrap()).unwrap_or(Value::Null)
    }

    fn element(&self, css: &str) -> String {
        let v = self.cmd("POST", "element", Some(json!({"using": "css selector", "value": css})));
        v.as_object().and_then(|o| o.values().next()).and_then(|v| v.as_str()).unwrap().into()
    }

    fn click(&self, css: &str) {
        let id = self.element(css);
        self.cmd("POST", &format!("element/{id}/click"), Some(json!({})));
    }

    /// Moves the mouse to (x, y) from the top-left corner of the element `css`.
    fn hover(&self, css: &str, x: i64, y: i64) {
        let id = self.element(css);
        let rect = self.cmd("GET", &format!("element/{id}/rect"), None);
        let (w, h) = (rect["width"].as_f64().unwrap(), rect["height"].as_f64().unwrap());
        // WebDriver offsets are from the element's centre.
        let (dx, dy) = (x - (w / 2.0) as i64, y - (h / 2.0) as i64);
        let origin = json!({"element-6066-11e4-a52e-4f735466cecf": id});
        self.cmd(
            "POST",
            "actions",
            Some(json!({"actions": [{"type": "pointer", "id": "mouse",
                "parameters": {"pointerType": "mouse"},
                "actions": [{"type": "pointerMove", "duration": 0, "origin": origin, "x": dx, "y": dy}]}]})),
        );
    }

    fn screenshot(&self, name: &str) {
        let b64 = self.cmd("GET", "screenshot", None);
        let png = base64(b64.as_str().unwrap());
        assert!(png.starts_with(b"\x89PNG"), "{name}: not a PNG");
        std::fs::write(shots().join(name), png).unwrap();
    }

    fn resize(&self, width: u32, height: u32) {
        self.cmd("POST", "window/rect", Some(json!({"width": width, "height": height})));
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = http(self.port, "DELETE", &format!("/session/{}", self.session), None);
    }
}

fn base64(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        _ => 63,
    };
    let bytes: Vec<u8> = s.bytes().filter(|c| !b"=\r\n".contains(c)).map(val).collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, &v)| n | (v as u32) << (18 - 6 * i));
        out.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
    }
    out
}

/// `wgpu-rnn trace --json --grad` with the page's parameters.
fn native_trace(args: &[&str]) -> Value {
    let out_svg = std::env::temp_dir().join(format!("web-native-{}.svg", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_wgpu-rnn"))
        .args(["trace", "--json", "--grad", "--out"])
        .arg(&out_svg)
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "trace {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn numbers(v: &Value) -> Vec<f64> {
    match v {
        Value::Number(n) => vec![n.as_f64().unwrap()],
        Value::Array(a) => a.iter().flat_map(numbers).collect(),
        _ => vec![],
    }
}

/// |got - want| <= 1e-5 + 1e-4·|want|; false when either is NaN.
fn within(got: f64, want: f64) -> bool {
    (got - want).abs() <= 1e-5 + 1e-4 * want.abs()
}

/// The page's contract: |page - native| <= 1e-5 + 1e-4·|native| for every number of h, c,
/// the gates and ‖dL/dh_t‖.
fn assert_same_trace(page: &Value, native: &Value, what: &str) {
    for key in ["text", "cell", "hidden_size", "layer"] {
        assert_eq!(page[key], native[key], "{what}: {key}");
    }
    let mut parts = vec![("h", &page["h"], &native["h"]), ("c", &page["c"], &native["c"])];
    parts.push(("grad_h_norm", &page["grad_h_norm"], &native["grad_h_norm"]));
    let gates = |v: &Value| v["gates"].as_array().cloned().unwrap_or_default();
    let (pg, ng) = (gates(page), gates(native));
    assert_eq!(pg.len(), ng.len(), "{what}: gates");
    let (pg, ng) = (Value::Array(pg), Value::Array(ng));
    let gate_values = |v: &Value| {
        Value::Array(v.as_array().unwrap().iter().map(|g| g["values"].clone()).collect())
    };
    let (pgv, ngv) = (gate_values(&pg), gate_values(&ng));
    parts.push(("gates", &pgv, &ngv));
    for (name, got, want) in parts {
        let (got, want) = (numbers(got), numbers(want));
        assert_eq!(
            got.len(),
            want.len(),
            "{what}: {name} has {} numbers, native {}",
            got.len(),
            want.len()
        );
        let bad: Vec<String> = got
            .iter()
            .zip(&want)
            .enumerate()
            .filter(|(_, (g, w))| !within(**g, **w))
            .take(5)
            .map(|(i, (g, w))| format!("[{i}] page {g:e} native {w:e}"))
            .collect();
        assert!(bad.is_empty(), "{what}: {name} differs: {}", bad.join(", "));
    }
}

/// (query, native trace flags)
const CASES: &[(&str, &[&str])] = &[
    (
        "text=abracadabra&cell=rnn&nonlinearity=tanh&hidden=16&seed=3",
        &[
            "--text",
            "abracadabra",
            "--cell",
            "rnn",
            "--nonlinearity",
            "tanh",
            "--hidden",
            "16",
            "--seed",
            "3",
        ],
    ),
    (
        "text=abba%20cab%20dad&cell=lstm&hidden=8&seed=11&gates=1",
        &["--text", "abba cab dad", "--cell", "lstm", "--hidden", "8", "--seed", "11", "--gates"],
    ),
    (
        "text=abracadabra%20abracadabra&cell=gru&hidden=32&seed=0&gates=1",
        &[
            "--text",
            "abracadabra abracadabra",
            "--cell",
            "gru",
            "--hidden",
            "32",
            "--seed",
            "0",
            "--gates",
        ],
    ),
    (
        "text=abracadabra%20dab&cell=mingru&hidden=12&seed=4&gates=1",
        &[
            "--text",
            "abracadabra dab",
            "--cell",
            "mingru",
            "--hidden",
            "12",
            "--seed",
            "4",
            "--gates",
        ],
    ),
    (
        "text=cab%20dab&cell=rnn&nonlinearity=relu&hidden=5&seed=7",
        &[
            "--text",
            "cab dab",
            "--cell",
            "rnn",
            "--nonlinearity",
            "relu",
            "--hidden",
            "5",
            "--seed",
            "7",
        ],
    ),
];

fn record_timing(line: &str) {
    eprintln!("{line}");
    let path = shots().join("timings.txt");
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
    writeln!(f, "{line}").unwrap();
}

fn check_cases(webgpu: bool) {
    let _one = BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let (_server, url) = serve();
    let browser = Browser::new(webgpu);
    let backend = if webgpu { "webgpu" } else { "cpu" };
    for (i, (query, flags)) in CASES.iter().enumerate() {
        browser.open(&format!("{url}?{query}"));
        assert_eq!(browser.body("error"), "", "{query}: the page reported an error");
        assert_eq!(browser.body("backend"), backend, "{query}");
        assert!(!browser.body("adapter").is_empty(), "{query}: no adapter named");
        let page = browser.json_of("trace-json");
        assert_eq!(page["backend"], backend, "{query}");
        assert_same_trace(&page, &native_trace(flags), &format!("{backend} {query}"));
        record_timing(&format!(
            "{backend} {query}: load to first full heatmap {} ms, trace (forward + BPTT) {} ms, adapter {}",
            browser.body("firstMs"),
            browser.body("traceMs"),
            browser.body("adapter")
        ));
        if i == 1 {
            browser.screenshot(&format!("{backend}-lstm-gates.png"));
        }
    }
    // The engine is named on the page, and the CPU path says why it is used.
    let engine = browser.js("return document.getElementById('engine').textContent;");
    let engine = engine.as_str().unwrap();
    if webgpu {
        assert!(engine.contains("WebGPU"), "{engine}");
    } else {
        assert!(engine.contains("No WebGPU") && engine.contains("CPU reference"), "{engine}");
        browser.open(&format!("{url}?{}", CASES[0].0));
        browser.screenshot("cpu-fallback.png");
    }
}

#[test]
fn webgpu_page_matches_the_native_engine() {
    check_cases(true);
}

#[test]
fn page_without_webgpu_computes_on_the_cpu_reference() {
    check_cases(false);
}

#[test]
fn bad_query_parameters_give_a_visible_message() {
    let _one = BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let (_server, url) = serve();
    let browser = Browser::new(true);
    for (query, needle) in [
        ("hidden=999", "hidden=999"),
        ("cell=transformer", "cell=transformer"),
        ("seed=-1", "seed=-1"),
        ("text=xyz", "'x'"),
    ] {
        browser.open(&format!("{url}?{query}"));
        let shown = browser.js(
            "const m = document.getElementById('message'); return m.hidden ? '' : m.textContent;",
        );
        let shown = shown.as_str().unwrap();
        assert!(shown.contains(needle), "{query}: message {shown:?} does not name {needle}");
        if query == "text=xyz" {
            browser.screenshot("bad-text.png");
        }
    }
}

#[test]
fn replay_reseed_hover_gates_gradients_and_the_trained_model_work() {
    let _one = BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let (_server, url) = serve();
    let browser = Browser::new(true);

    // Replay: the columns appear one by one at the chosen speed (4 per second here).
    browser.open(&format!("{url}?text=abracadabra&seed=3&speed=4"));
    assert_eq!(browser.body("revealed"), "11");
    browser.click("#replay");
    std::thread::sleep(Duration::from_millis(700));
    let mid: usize = browser.body("revealed").parse().unwrap();
    assert!((1..11).contains(&mid), "0.7 s into a replay at 4 columns/s, {mid} of 11 shown");
    browser.screenshot("replay-midway.png");
    browser.wait_for("document.body.dataset.revealed === '11'", "replay end");

    // Hover a unit's row: the text above is coloured by it; the column's values are shown.
    // The canvas is 34 px of unit numbers, 11 columns, 4 px of margin; rows start 18 px
    // down, 20 px apart for 16 units.
    let id = browser.element("#heatmap");
    let width = browser.cmd("GET", &format!("element/{id}/rect"), None)["width"].as_f64().unwrap();
    let column = (width - 38.0) / 11.0;
    browser.hover("#heatmap", (34.0 + 2.5 * column) as i64, 18 + 3 * 20 + 10);
    let coloured = browser.js(
        "return [...document.querySelectorAll('#karpathy span')].filter(s => s.style.background).length;",
    );
    assert_eq!(coloured, json!(11), "every character coloured by the hovered unit");
    let info = browser.js("return document.getElementById('column-info').textContent;");
    assert!(info.as_str().unwrap().contains("column 2"), "{info}");
    browser.screenshot("hover-unit.png");

    // ↻ weights: a new seed, shown, in the URL, and the numbers of that seed.
    let before = browser.json_of("trace-json");
    browser.click("#reseed");
    browser.wait_for(
        "JSON.parse(document.getElementById('trace-json').textContent).seed !== 3",
        "reseed",
    );
    let after = browser.json_of("trace-json");
    let seed = after["seed"].as_u64().unwrap();
    let shown = browser.js("return document.getElementById('seed').textContent;");
    assert_eq!(shown, json!(seed.to_string()));
    let href = browser.js("return location.search;");
    assert!(href.as_str().unwrap().contains(&format!("seed={seed}")), "{href}");
    assert_ne!(before["h"], after["h"]);
    let seed_flag = seed.to_string();
    assert_same_trace(
        &after,
        &native_trace(&[
            "--text",
            "abracadabra",
            "--cell",
            "rnn",
            "--hidden",
            "16",
            "--seed",
            &seed_flag,
        ]),
        "after ↻ weights",
    );

    // Gradient view: RNN and LSTM side by side, the RNN's gradient vanishing far faster.
    browser.open(&format!("{url}?text=abracadabra%20abracadabra%20abracadabra&hidden=16&seed=3"));
    browser.wait_for("!!document.getElementById('grad-compare-json')", "gradient comparison");
    let runs = browser.json_of("grad-compare-json");
    let decay = |label: &str| {
        let run = runs
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["label"].as_str().unwrap().starts_with(label))
            .unwrap();
        let n = numbers(&run["norms"]);
        n[0] / n[n.len() - 1]
    };
    let (rnn, lstm) = (decay("RNN tanh"), decay("LSTM"));
    assert!(
        rnn < lstm / 10.0,
        "over 35 characters RNN keeps {rnn:e} of the gradient, LSTM {lstm:e}"
    );
    browser.js("document.querySelector('.gradients').scrollIntoView();");
    browser.screenshot("gradients.png");

    // LSTM with c_t and the gates drawn (the JSON carries them).
    browser.open(&format!("{url}?text=abracadabra&cell=lstm&hidden=12&gates=1"));
    let tr = browser.json_of("trace-json");
    assert_eq!(tr["gates"].as_array().unwrap().len(), 4);
    assert!(tr["c"].is_array());

    // The trained model: its trace is the native one, with top-5 predictions per column.
    let text = "To be, or not to be";
    browser.open(&format!("{url}?model=trained&text=To%20be%2C%20or%20not%20to%20be"));
    assert_eq!(browser.body("error"), "");
    let tr = browser.json_of("trace-json");
    let ck = repo().join("web/static/charlm.safetensors");
    let native = native_trace(&["--checkpoint", ck.to_str().unwrap(), "--text", text]);
    assert_same_trace(&tr, &native, "trained model");
    let preds = tr["predictions"].as_array().unwrap();
    assert_eq!(preds.len(), text.chars().count());
    for col in preds {
        let p: Vec<f64> =
            col.as_array().unwrap().iter().map(|x| x["p"].as_f64().unwrap()).collect();
        assert_eq!(p.len(), 5);
        assert!(p.windows(2).all(|w| w[0] >= w[1]) && p.iter().sum::<f64>() <= 1.0 + 1e-5, "{p:?}");
    }
    // After "To be, or not to b" a trained model should expect "e" among its top 5.
    let last: Vec<&str> = preds[text.len() - 2]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["char"].as_str().unwrap())
        .collect();
    assert!(last.contains(&"e"), "after 'to b': {last:?}");
    browser.click("#sample");
    browser.wait_for("document.getElementById('sample-out').textContent.length > 0", "sample");
    let sample = browser.js("return document.getElementById('sample-out').textContent;");
    let sample = sample.as_str().unwrap();
    assert!(
        sample.starts_with(text) && sample.chars().count() == text.chars().count() + 200,
        "{sample:?}"
    );
    browser.screenshot("trained-model.png");

    // A phone's width: the page still lays out (the heatmap scrolls inside its box).
    browser.resize(390, 844);
    browser.open(&format!("{url}?text=abracadabra&cell=lstm&hidden=16"));
    let overflow =
        browser.js("return document.documentElement.scrollWidth <= window.innerWidth + 1;");
    assert_eq!(overflow, json!(true), "the page is wider than a phone");
    browser.screenshot("phone.png");
}

#[test]
fn serve_answers_with_mime_types_and_refuses_paths_outside_the_page() {
    let (_server, url) = serve();
    let port: u16 = url.trim_end_matches('/').rsplit(':').next().unwrap().parse().unwrap();
    let get = |path: &str| {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).unwrap();
        let text = String::from_utf8_lossy(&raw).to_string();
        text.split("\r\n\r\n").next().unwrap().to_lowercase()
    };
    assert!(get("/").contains("200 ok") && get("/").contains("text/html"));
    assert!(get("/wgpu_rnn_web_bg.wasm").contains("application/wasm"));
    assert!(get("/app.js?x=1").contains("text/javascript"));
    assert!(get("/nothing-here").contains("404"));
    assert!(get("/../Cargo.toml").contains("400"));
    assert!(get("/%2e%2e/Cargo.toml").contains("400"));
}
