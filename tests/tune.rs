//! `tune` measures, caches per adapter and shape, and the rule then returns the cached
//! choice.

mod common;
use wgpu_rnn::gpu::Variant;
use wgpu_rnn::{CellKind, RnnSpec};

#[test]
fn tune_caches_the_fastest_variant_and_auto_uses_it() {
    let dir = std::env::temp_dir().join(format!("wgpu-rnn-tune-{}", std::process::id()));
    std::env::set_var("WGPU_RNN_CACHE_DIR", &dir);
    let gpu = common::gpu();
    let spec = RnnSpec::new(CellKind::Gru, 8, 16);
    let timings = wgpu_rnn::tune::tune(gpu, spec, 5, 2, 1).unwrap();
    assert!(timings.len() >= 3);
    assert!(timings.windows(2).all(|w| w[0].median_ms <= w[1].median_ms));
    let best: Variant = timings[0].variant.parse().unwrap();
    assert_eq!(Variant::auto(gpu, &spec, 2), best);
    let cache = std::fs::read_to_string(dir.join("tune.json")).unwrap();
    assert!(cache.contains(&gpu.info.name) && cache.contains("gru|I8|H16|L1|D1|B2"), "{cache}");
    // Another shape is not in the cache: the rule decides.
    assert_eq!(wgpu_rnn::tune::cached(gpu, &spec, 3), None);
}
