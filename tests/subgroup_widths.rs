//! The kernels under other subgroup widths (issue #18): lavapipe reports 4-lane subgroups
//! with LP_NATIVE_VECTOR_WIDTH=128 and 16-lane ones with 512 (real GPUs have 32 or 64).
//! `validate --smoke` runs every variant forward and backward on two shapes per cell: at
//! 4 lanes the subgroup variants must be refused cleanly and the rest pass; at 16 lanes
//! everything must pass. On other adapters the variable has no effect and both runs are
//! ordinary smoke checks.

use std::process::Command;

fn validate_smoke(width: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_wgpu-rnn"))
        .args(["validate", "--smoke"])
        .env("LP_NATIVE_VECTOR_WIDTH", width)
        .env("XDG_RUNTIME_DIR", "/tmp")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "width {width}: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn every_variant_passes_or_is_refused_at_4_and_16_lanes() {
    for width in ["128", "512"] {
        let out = validate_smoke(width);
        let summary = out.lines().last().unwrap_or_default().to_string();
        assert!(summary.contains(" 0 failed"), "width {width}: {summary}");
        let ran = |variant: &str| out.lines().any(|l| l.contains(&format!(" {variant} ")));
        let lanes4 = out.contains("llvmpipe (LLVM") && out.contains("128 bits");
        let lanes16 = out.contains("llvmpipe (LLVM") && out.contains("512 bits");
        if lanes4 {
            assert!(!ran("subgroup") && !ran("fused-persistent"), "4 lanes ran subgroup kernels");
            assert!(ran("register") && ran("persistent"), "width {width}: {summary}");
        }
        if lanes16 {
            for v in ["subgroup", "fused-subgroup", "fused-persistent", "persistent-subgroup"] {
                assert!(ran(v), "16 lanes did not run {v}");
            }
        }
    }
}
