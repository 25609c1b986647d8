// Input projection C = A·Bᵀ + bias, register-blocked without subgroups: one invocation
// computes an RM x 4 block of C (rows m0..m0+RM, columns n0..n0+4), loading vec4 chunks
// of K. Buffers in gemm_common.wgsl.

const WG: u32 = 64u;
const RM: u32 = 8u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let n0 = gid.x * 4u;
    let m0 = gid.y * RM;
    if (n0 >= p.N || m0 >= p.M) {
        return;
    }
    // Clamped rows keep loads in bounds; their results are never stored.
    let b0 = min(n0, p.N - 1u) * p.Kp4;
    let b1 = min(n0 + 1u, p.N - 1u) * p.Kp4;
    let b2 = min(n0 + 2u, p.N - 1u) * p.Kp4;
    let b3 = min(n0 + 3u, p.N - 1u) * p.Kp4;
    var acc: array<vec4<f32>, RM>;
    for (var r = 0u; r < RM; r++) {
        acc[r] = vec4<f32>(0.0);
    }
    for (var k = 0u; k < p.Kp4; k++) {
        let bm = mat4x4<f32>(ldw4(bw[b0 + k]), ldw4(bw[b1 + k]), ldw4(bw[b2 + k]), ldw4(bw[b3 + k]));
        for (var r = 0u; r < RM; r++) {
            acc[r] += ld4(a[min(m0 + r, p.M - 1u) * p.Kp4 + k]) * bm;
        }
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
