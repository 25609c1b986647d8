// Input projection C = A·Bᵀ + bias with workgroup-shared tiles (the classic layout for
// discrete GPUs): a 16 x 16 workgroup computes a 64 x 64 block of C, each invocation a
// 4 x 4 sub-block; per round the workgroup stages 64 rows x 4 vec4 (16 floats of K) of
// A and of B in workgroup memory. Buffers in gemm_common.wgsl.

const TS: u32 = 16u;     // invocations per side
const BM: u32 = 64u;     // rows (and columns) per workgroup
const KC4: u32 = 4u;     // vec4 chunks of K per round

var<workgroup> ta: array<vec4<f32>, 256>;   // [BM, KC4]
var<workgroup> tb: array<vec4<f32>, 256>;   // [BM, KC4]

@compute @workgroup_size(TS, TS)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let m0 = wg.y * BM;
    let n0 = wg.x * BM;
    var acc: array<vec4<f32>, 4>;
    for (var r = 0u; r < 4u; r++) {
        acc[r] = vec4<f32>(0.0);
    }
    // Staging: invocation li loads row li/4, chunk li%4 of each tile.
    let sr = li / KC4;
    let sk = li % KC4;
    let am = min(m0 + sr, p.M - 1u) * p.Kp4;
    let bn = min(n0 + sr, p.N - 1u) * p.Kp4;
    for (var k0 = 0u; k0 < p.Kp4; k0 += KC4) {
        let k = k0 + sk;
        let inside = k < p.Kp4;
        let kc = min(k, p.Kp4 - 1u);
        ta[li] = select(vec4<f32>(0.0), ld4(a[am + kc]), inside);
        tb[li] = select(vec4<f32>(0.0), ldw4(bw[bn + kc]), inside);
        workgroupBarrier();
        for (var kk = 0u; kk < KC4; kk++) {
            let bm = mat4x4<f32>(
                tb[(lid.x * 4u) * KC4 + kk], tb[(lid.x * 4u + 1u) * KC4 + kk],
                tb[(lid.x * 4u + 2u) * KC4 + kk], tb[(lid.x * 4u + 3u) * KC4 + kk]);
            for (var r = 0u; r < 4u; r++) {
                acc[r] += ta[(lid.y * 4u + r) * KC4 + kk] * bm;
            }
        }
        workgroupBarrier();
    }
    for (var r = 0u; r < 4u; r++) {
        let m = m0 + lid.y * 4u + r;
        for (var q = 0u; q < 4u; q++) {
            let n = n0 + lid.x * 4u + q;
            if (m < p.M && n < p.N) {
                c[m * p.N + n] = acc[r][q] + bias[n];
            }
        }
    }
}
