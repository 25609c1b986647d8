//! The input-projection GEMM variants on their own, against their CPU twin, at odd sizes.

mod common;
use common::*;
use wgpu_rnn::check::compare;
use wgpu_rnn::gpu::gemm::{gemm_reference, GemmPlan};
use wgpu_rnn::gpu::GemmVariant;

#[test]
fn every_gemm_variant_matches_its_cpu_twin() {
    let gpu = gpu();
    let mut ran = 0;
    for (m, n, k) in [(1, 1, 1), (37, 45, 13), (130, 67, 64), (9, 257, 3)] {
        let a = f32s(&random_vec(m * k, 1, 1.0));
        let b = f32s(&random_vec(n * k, 2, 1.0));
        let bias = f32s(&random_vec(n, 3, 1.0));
        let want = gemm_reference(&a, &b, &bias, m, n, k);
        for g in gpus() {
            for v in GemmVariant::ALL.into_iter().filter(|v| v.supported(g)) {
                let got = GemmPlan::new(g, v, &a, &b, &bias, m, n, k).unwrap().run(g).unwrap();
                assert_close(compare(
                    &format!("gemm {} wide_loads={} {m}x{n}x{k}", v.name(), g.caps.wide_loads),
                    &got,
                    &want,
                    1e-5,
                    1e-5,
                ));
                ran += 1;
            }
        }
    }
    assert!(ran >= 8, "only {ran} GEMM runs");
    // Bad shapes are errors, not panics.
    assert!(
        GemmPlan::new(gpu, GemmVariant::Register, &[1.0; 3], &[1.0; 2], &[0.0], 1, 1, 2).is_err()
    );
}
