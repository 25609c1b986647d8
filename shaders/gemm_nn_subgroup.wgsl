// dL/dx = dGx·W_ih with subgroup sharing and without a transposed copy of W_ih: a
// workgroup is one subgroup of SG = 8 lanes computing an 8 x 32 block of C; lane l owns
// the vec4 column chunk nq = 8*wg.x + l for all 8 rows. Per 4 gate rows n each lane loads
// its 4 W_ih row chunks W_ih[n..n+4, 4nq..4nq+4] and one row's dGx chunk, which the
// subgroup broadcasts: 5 loads feed 128 FMAs. The reduction runs over both directions'
// gate rows: column dir*GHp + n of A pairs with row dir*GH + n of B.
// Buffers and parameters in gemm_nn_common.wgsl.

const SG: u32 = 8u;    // lanes = rows of C per workgroup

@compute @workgroup_size(SG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
    let nq_own = wg.x * SG + lane;
    let nq = min(nq_own, p.N4 - 1u);           // lanes past N load a valid chunk, store nothing
    let m0 = wg.y * SG;
    let lda4 = p.D * p.GHp4;
    let my_row = min(m0 + lane, p.M - 1u) * lda4;
    var acc: array<vec4<f32>, SG>;
    for (var r = 0u; r < SG; r++) {
        acc[r] = vec4<f32>(0.0);
    }
    for (var dir = 0u; dir < p.D; dir++) {
        let first = dir * p.GH;
        let last = first + p.GH - 1u;     // rows past GH pair with A's zero padding
        let arow = my_row + dir * p.GHp4;
        for (var q = 0u; q < p.GHp4; q++) {
            let n = first + q * 4u;
            let bm = mat4x4<f32>(
                bw[min(n, last) * p.N4 + nq],
                bw[min(n + 1u, last) * p.N4 + nq],
                bw[min(n + 2u, last) * p.N4 + nq],
                bw[min(n + 3u, last) * p.N4 + nq],
            );
            let va = a[arow + q];
            acc[0] += bm * subgroupBroadcast(va, 0u);
            acc[1] += bm * subgroupBroadcast(va, 1u);
            acc[2] += bm * subgroupBroadcast(va, 2u);
            acc[3] += bm * subgroupBroadcast(va, 3u);
            acc[4] += bm * subgroupBroadcast(va, 4u);
            acc[5] += bm * subgroupBroadcast(va, 5u);
            acc[6] += bm * subgroupBroadcast(va, 6u);
            acc[7] += bm * subgroupBroadcast(va, 7u);
        }
    }
    if (nq_own < p.N4) {
        for (var r = 0u; r < SG; r++) {
            if (m0 + r < p.M) {
                c[(m0 + r) * p.N4 + nq] = acc[r];
            }
        }
    }
}
