//! `.ci/ensure-gpu.sh`, which `make test` and `make bench` run first, must see an installed
//! Vulkan driver every time (issue #18: `ldconfig -p | grep -q` under `set -o pipefail`
//! lost the race when grep exited early, about 5 runs in 300, and then re-ran apt-get).
//! Here a stand-in `ldconfig` lists the loader first and then a long tail, so the early
//! exit happens on every run; a stand-in `id` makes a wrong "no driver" fail at once
//! instead of installing anything.

use std::process::Command;

#[test]
fn ensure_gpu_sees_an_installed_driver_whatever_ldconfig_prints_after_it() {
    let root = env!("CARGO_MANIFEST_DIR");
    let dir = std::env::temp_dir().join(format!("wgpu-rnn-ensure-gpu-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let script = |name: &str, body: &str| {
        let p = dir.join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        Command::new("chmod").arg("+x").arg(&p).status().unwrap();
    };
    script(
        "ldconfig",
        "echo '\tlibvulkan.so.1 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libvulkan.so.1'\n\
         yes '\tlibother.so.1 (libc6,x86-64) => /usr/lib/libother.so.1' | head -n 200000",
    );
    script("id", "echo 1000");
    script("apt-get", "echo 'apt-get must not run' >&2; exit 99");
    // an ICD manifest the script accepts, whatever this machine has installed
    let icd = dir.join("icd.json");
    std::fs::write(&icd, "{}").unwrap();
    let path = format!("{}:{}", dir.display(), std::env::var("PATH").unwrap_or_default());
    for run in 0..5 {
        let out = Command::new("bash")
            .arg(format!("{root}/.ci/ensure-gpu.sh"))
            .env("PATH", &path)
            .env("VK_DRIVER_FILES", &icd)
            .output()
            .unwrap();
        assert!(out.status.success(), "run {run}: {}", String::from_utf8_lossy(&out.stderr));
    }
}
