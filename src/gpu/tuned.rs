//! The tune cache that `wgpu-rnn tune` writes (see `crate::tune`): the fastest variant per
//! adapter and shape, in `$WGPU_RNN_CACHE_DIR/tune.json` (else `$XDG_CACHE_HOME/wgpu-rnn`,
//! else `~/.cache/wgpu-rnn`). Read here, below the context, so that `Variant::auto` can
//! consult it without depending on the code that measures.

use crate::spec::RnnSpec;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The cache file.
pub fn cache_path() -> Option<PathBuf> {
    let dir = std::env::var_os("WGPU_RNN_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("wgpu-rnn")))
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache").join("wgpu-rnn"))
        })?;
    Some(dir.join("tune.json"))
}

/// The cache key of a shape on an adapter: its name, driver and the shape.
pub fn key(adapter: &wgpu::AdapterInfo, spec: &RnnSpec, b: usize) -> String {
    format!(
        "{}|{}|{}|{}|I{}|H{}|L{}|D{}|B{}",
        adapter.name,
        adapter.driver,
        adapter.driver_info,
        spec.cell.name(),
        spec.input_size,
        spec.hidden_size,
        spec.num_layers,
        spec.directions(),
        b
    )
}

/// The whole cache (empty when absent or unreadable).
pub fn load() -> BTreeMap<String, String> {
    cache_path()
        .and_then(|p| std::fs::read(p).ok())
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}
