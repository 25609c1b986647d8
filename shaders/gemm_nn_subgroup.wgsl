// dL/dx = dGx·W_ih with subgroup sharing and without a transposed copy of W_ih: a
// workgroup is one subgroup of SG = 8 lanes computing an RM x 32 block of C; lane l owns
// the vec4 column chunk nq = 8*wg.x + l for all RM rows. Per 4 gate rows n each lane loads
// its 4 W_ih row chunks W_ih[n..n+4, 4nq..4nq+4] and RM/SG rows' dGx chunks, which the
// subgroup broadcasts: 4 + RM/SG loads feed 16*RM FMAs. The reduction runs over both
// directions' gate rows: column dir*GHp + n of A pairs with row dir*GH + n of B.
// RM and the `$` lines come from the host (kernels::unroll_rows; named accumulators, see
// gemm_subgroup.wgsl). Buffers and parameters in gemm_nn_common.wgsl.

const SG: u32 = 8u;    // lanes

@compute @workgroup_size(SG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
    let nq_own = wg.x * SG + lane;
    let nq = min(nq_own, p.N4 - 1u);           // lanes past N load a valid chunk, store nothing
    let m0 = wg.y * RM;
    let lda4 = p.D * p.GHp4;
    let row$g = min(m0 + $gu * SG + lane, p.M - 1u) * lda4;
    var acc$r = vec4<f32>(0.0);
    for (var dir = 0u; dir < p.D; dir++) {
        let first = dir * p.GH;
        let last = first + p.GH - 1u;     // rows past GH pair with A's zero padding
        let aoff = dir * p.GHp4;
        for (var q = 0u; q < p.GHp4; q++) {
            let n = first + q * 4u;
            let bm = mat4x4<f32>(
                ldw4(bw[min(n, last) * p.N4 + nq]),
                ldw4(bw[min(n + 1u, last) * p.N4 + nq]),
                ldw4(bw[min(n + 2u, last) * p.N4 + nq]),
                ldw4(bw[min(n + 3u, last) * p.N4 + nq]),
            );
            let va$g = ld4(a[row$g + aoff + q]);
            acc$r += bm * subgroupBroadcast(va$g, $lu);
        }
    }
    if (nq_own < p.N4) {
        if (m0 + $ru < p.M) { c[(m0 + $ru) * p.N4 + nq] = acc$r; }
    }
}
