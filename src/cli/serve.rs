//! `wgpu-rnn serve`: the browser page (`make web` builds it into web/dist) over HTTP on
//! 127.0.0.1, with the MIME types a browser insists on (application/wasm for the engine,
//! text/javascript for the module). GET and HEAD of files only; one thread per connection.

use anyhow::{bail, Context, Result};
use clap::Args;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};

#[derive(Args)]
pub struct ServeArgs {
    /// The port on 127.0.0.1 (0: any free port; the URL printed names it).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// The built page [default: ./web/dist, else the dist of the source tree this binary
    /// was built from].
    #[arg(long)]
    dir: Option<PathBuf>,
}

/// Where the page is: --dir, else ./web/dist, else the build tree's web/dist.
fn page_dir(dir: Option<PathBuf>) -> Result<PathBuf> {
    let candidates = match dir {
        Some(d) => vec![d],
        None => {
            vec![PathBuf::from("web/dist"), Path::new(env!("CARGO_MANIFEST_DIR")).join("web/dist")]
        }
    };
    for d in &candidates {
        if d.join("index.html").is_file() {
            return Ok(d.clone());
        }
    }
    let tried: Vec<String> = candidates.iter().map(|d| d.display().to_string()).collect();
    bail!(
        "no built page (index.html) in {}: run `make web` in the source tree first",
        tried.join(" or ")
    )
}

pub fn run(a: ServeArgs) -> Result<()> {
    let dir = page_dir(a.dir)?;
    let listener = TcpListener::bind(("127.0.0.1", a.port))
        .with_context(|| format!("listening on 127.0.0.1:{}", a.port))?;
    let port = listener.local_addr()?.port();
    println!("serving {} at http://127.0.0.1:{port}/", dir.display());
    std::io::stdout().flush()?;
    for conn in listener.incoming() {
        let Ok(stream) = conn else { continue };
        let dir = dir.clone();
        std::thread::spawn(move || {
            // A client that hangs up mid-request is its own business.
            let _ = handle(stream, &dir);
        });
    }
    Ok(())
}

fn mime(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "wasm" => "application/wasm",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "txt" | "md" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// Decodes %XX escapes; None for a malformed escape or a result that is not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The file a request path names inside `dir`, or None for one that leaves it.
fn resolve(dir: &Path, target: &str) -> Option<PathBuf> {
    let path = target.split(['?', '#']).next().unwrap_or("/");
    let path = percent_decode(path)?;
    let rel = Path::new(path.trim_start_matches('/'));
    if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
        return None;
    }
    let full = dir.join(rel);
    Some(if full.is_dir() { full.join("index.html") } else { full })
}

fn handle(stream: TcpStream, dir: &Path) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    // The headers carry nothing this server uses; read them off the connection.
    let mut header = String::new();
    while reader.read_line(&mut header)? > 2 {
        header.clear();
    }
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (status, kind, body) = if method != "GET" && method != "HEAD" {
        ("405 Method Not Allowed", "text/plain", b"GET or HEAD only\n".to_vec())
    } else {
        match resolve(dir, target) {
            None => ("400 Bad Request", "text/plain", b"bad path\n".to_vec()),
            Some(file) => match std::fs::read(&file) {
                Ok(bytes) => ("200 OK", mime(&file), bytes),
                Err(_) => {
                    ("404 Not Found", "text/plain", format!("{target}: not found\n").into_bytes())
                }
            },
        }
    };
    let mut out = stream;
    write!(
        out,
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    if method != "HEAD" {
        out.write_all(&body)?;
    }
    out.flush()
}
