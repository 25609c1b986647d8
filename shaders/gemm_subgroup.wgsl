// Input projection C = A·Bᵀ + bias with subgroup sharing: a workgroup is one subgroup of
// SG = 8 lanes computing an 8 x 32 block of C; lane l owns columns n0+4l..n0+4l+4 for all
// 8 rows. Per vec4 chunk of K each lane loads one row of A and its 4 rows of B; the A
// chunks reach the other lanes by subgroupBroadcast, so 5 loads feed 128 FMAs. (16 rows
// per block spill the 64 accumulators on lavapipe and run 2.4x slower: measured.)
// Buffers in gemm_common.wgsl.

const SG: u32 = 8u;
const RM: u32 = 8u;

@compute @workgroup_size(SG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
    let n0 = wg.x * SG * 4u + lane * 4u;
    let m0 = wg.y * RM;
    let b0 = min(n0, p.N - 1u) * p.Kp4;
    let b1 = min(n0 + 1u, p.N - 1u) * p.Kp4;
    let b2 = min(n0 + 2u, p.N - 1u) * p.Kp4;
    let b3 = min(n0 + 3u, p.N - 1u) * p.Kp4;
    let ra = min(m0 + lane, p.M - 1u) * p.Kp4;
    var acc: array<vec4<f32>, RM>;
    for (var r = 0u; r < RM; r++) {
        acc[r] = vec4<f32>(0.0);
    }
    for (var k = 0u; k < p.Kp4; k++) {
        let bm = mat4x4<f32>(bw[b0 + k], bw[b1 + k], bw[b2 + k], bw[b3 + k]);
        let va = a[ra + k];
        acc[0] += subgroupBroadcast(va, 0u) * bm;
        acc[1] += subgroupBroadcast(va, 1u) * bm;
        acc[2] += subgroupBroadcast(va, 2u) * bm;
        acc[3] += subgroupBroadcast(va, 3u) * bm;
        acc[4] += subgroupBroadcast(va, 4u) * bm;
        acc[5] += subgroupBroadcast(va, 5u) * bm;
        acc[6] += subgroupBroadcast(va, 6u) * bm;
        acc[7] += subgroupBroadcast(va, 7u) * bm;
    }
    for (var r = 0u; r < RM; r++) {
        let m = m0 + r;
        for (var q = 0u; q < 4u; q++) {
            let n = n0 + q;
            if (m < p.M && n < p.N) {
                c[m * p.N + n] = acc[r][q] + bias[n];
            }
        }
    }
}
