// dL/dx = dGx·W_ih without subgroups and without a transposed copy of W_ih: one invocation
// computes an RM x 4 block of C (rows m0..m0+RM, the vec4 column chunk nq). A row chunk
// W_ih[n, 4nq..4nq+4] is one vec4, so per 4 gate rows n it loads 4 W vec4s and RM dGx
// vec4s for 16*RM FMAs. The reduction runs over both directions' gate rows: column
// dir*GHp + n of A pairs with row dir*GH + n of B.
//
// Buffers and parameters in gemm_nn_common.wgsl.

const WG: u32 = 64u;   // invocations per workgroup (along column chunks)
const RM: u32 = 8u;    // rows per invocation: 32 accumulators, the most that stay in registers

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let nq = gid.x;
    let m0 = gid.y * RM;
    if (nq >= p.N4 || m0 >= p.M) {
        return;
    }
    let lda4 = p.D * p.GHp4;
    var acc: array<vec4<f32>, RM>;
    for (var r = 0u; r < RM; r++) {
        acc[r] = vec4<f32>(0.0);
    }
    for (var dir = 0u; dir < p.D; dir++) {
        let first = dir * p.GH;
        let last = first + p.GH - 1u;     // rows past GH pair with A's zero padding
        for (var q = 0u; q < p.GHp4; q++) {
            let n = first + q * 4u;
            let bm = mat4x4<f32>(
                ldw4(bw[min(n, last) * p.N4 + nq]),
                ldw4(bw[min(n + 1u, last) * p.N4 + nq]),
                ldw4(bw[min(n + 2u, last) * p.N4 + nq]),
                ldw4(bw[min(n + 3u, last) * p.N4 + nq]),
            );
            for (var r = 0u; r < RM; r++) {
                let m = min(m0 + r, p.M - 1u);
                acc[r] += bm * ld4(a[m * lda4 + dir * p.GHp4 + q]);
            }
        }
    }
    for (var r = 0u; r < RM; r++) {
        if (m0 + r < p.M) {
            c[(m0 + r) * p.N4 + nq] = acc[r];
        }
    }
}
