// Input projection C = A·Bᵀ + bias with subgroup sharing: a workgroup is one subgroup of
// SG = 8 lanes computing an RM x 32 block of C; lane l owns columns n0+4l..n0+4l+4 for all
// RM rows. Per vec4 chunk of K each lane loads its 4 rows of B and RM/SG rows of A; the A
// chunks reach the other lanes by subgroupBroadcast, so RM/SG + 4 loads feed 16*RM FMAs.
// On lavapipe every load costs ~100 cycles and FMAs almost nothing, so RM = 32 (8 loads,
// 512 FMAs) beat RM = 8 by 1.5x and RM = 16 by 1.2x, although its 128 accumulators spill
// (measured on C[6400, 1024], K 256, alternating binaries).
//
// RM (a multiple of SG) is prepended by the host, which also expands the lines holding `$`
// (kernels::unroll_rows): `$r` = row 0..RM, `$l` = its lane (r % SG), `$g` = its group of
// SG rows. Accumulators are named variables, never an array indexed by a loop counter,
// which lavapipe would keep in memory. Buffers in gemm_common.wgsl.

const SG: u32 = 8u;

// Row m of the block, bias included by the caller.
fn store_row(m: u32, n0: u32, v: vec4<f32>) {
    if (m >= p.M) {
        return;
    }
    for (var q = 0u; q < 4u; q++) {
        if (n0 + q < p.N) {
            c[m * p.N + n0 + q] = v[q];
        }
    }
}

@compute @workgroup_size(SG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
    let n0 = wg.x * SG * 4u + lane * 4u;
    let m0 = wg.y * RM;
    let b0 = min(n0, p.N - 1u) * p.Kp4;
    let b1 = min(n0 + 1u, p.N - 1u) * p.Kp4;
    let b2 = min(n0 + 2u, p.N - 1u) * p.Kp4;
    let b3 = min(n0 + 3u, p.N - 1u) * p.Kp4;
    let ra$g = min(m0 + $gu * SG + lane, p.M - 1u) * p.Kp4;
    var acc$r = vec4<f32>(0.0);
    for (var k = 0u; k < p.Kp4; k++) {
        let bm = mat4x4<f32>(ldw4(bw[b0 + k]), ldw4(bw[b1 + k]), ldw4(bw[b2 + k]), ldw4(bw[b3 + k]));
        let va$g = ld4(a[ra$g + k]);
        acc$r += subgroupBroadcast(va$g, $lu) * bm;
    }
    // the lane's 4 bias values once, not per row (the per-row loads cost ~10% at K = 256)
    let bv = vec4<f32>(bias[min(n0, p.N - 1u)], bias[min(n0 + 1u, p.N - 1u)], bias[min(n0 + 2u, p.N - 1u)], bias[min(n0 + 3u, p.N - 1u)]);
    store_row(m0 + $ru, n0, acc$r + bv);
}
