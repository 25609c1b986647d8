//! What the host machine can give: memory still available, read before large allocations
//! so that a model too big for the machine is an error with the numbers, not an abort.

use crate::error::{Error, Result};

/// Bytes the system can still give without swapping (Linux `MemAvailable`), if known.
pub fn available_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Fails when `bytes` (None: past what a usize can count) exceed the memory available,
/// naming `what` and both numbers; passes where the amount is unknown.
pub fn check_memory(what: &str, bytes: Option<u64>) -> Result<()> {
    let limit = available_memory();
    let Some(bytes) = bytes else {
        return Err(Error::DeviceLimit {
            what: format!("host memory bytes for {what}"),
            value: u64::MAX,
            limit: limit.unwrap_or(0),
            limit_name: "host memory (MemAvailable)".into(),
        });
    };
    match limit {
        Some(limit) if bytes > limit => Err(Error::DeviceLimit {
            what: format!("host memory bytes for {what}"),
            value: bytes,
            limit,
            limit_name: "host memory (MemAvailable)".into(),
        }),
        _ => Ok(()),
    }
}
