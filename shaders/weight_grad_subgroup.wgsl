// Partial weight gradient C_z = Aᵀ·B over the rows of segment z = wg.z (RS rows each) with
// subgroup sharing; weight_grad_reduce.wgsl then sums the segments in a fixed order
// (deterministic, no atomics). Segments keep the rows that the running workgroups stream
// in cache: one pass over all R rows per workgroup re-read A and B from L3 and ran about
// 2x slower on lstm-b64 (measured).
// A workgroup is one subgroup of SG = 8 lanes computing an 8 x 32 block of C_z (rows
// i0..i0+8, columns 32*wg.x..+32); lane l owns the vec4 column chunk jq = 8*wg.x + l. Per
// 8 rows r of the reduction each lane loads its row r0+l of A's 8 block columns (2 vec4s)
// and the 8 rows' B chunks (8 vec4s); the A chunks reach the other lanes by
// subgroupBroadcast, so 10 loads feed 256 FMAs per lane.
// The same pass yields the segment's bias gradient: the column sums of A ride along as 2
// vec4 adds per round, summed per lane, then across lanes in lane order (fixed order:
// bitwise repeatable). Every workgroup computes them (uniform control flow for the
// broadcasts); those of column block 0 store them.
//
//   a [R, lda] (vec4 rows; the block's columns start at a_off)   e.g. dG of one direction
//   b [R, ldb] (vec4 rows; columns start at b_off)               e.g. X or h_prev
//   part [S, part_ld]: segment z's C_z [N1, N2] (row-major) at z*part_ld, then its column
//        sums [N1] at z*part_ld + N1*N2 (part_ld = N1*N2 + N1 rounded up to 4)
// N1, N2, lda, ldb, a_off, b_off are in floats and multiples of 4 except N1 (bounds-checked;
// A's columns N1..N1 rounded up to 4 must exist, as dG's zero padding does). RS is a
// multiple of SG.

const SG: u32 = 8u;    // lanes = rows of the reduction per broadcast round
const RC: u32 = 8u;    // rows of C per workgroup: 2 vec4 columns of A, 32 accumulators

struct WgradParams {
    R: u32,
    N1: u32,
    N2: u32,
    lda4: u32,
    ldb4: u32,
    a_off4: u32,
    b_off4: u32,
    RS: u32,          // rows per segment
    part_ld: u32,
}

@group(0) @binding(0) var<uniform> p: WgradParams;
@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> bm: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> part: array<f32>;

// Outer product of a row's B chunk with 4 of its A values: column q is the update of
// C[i0+q (+4 for hi), jq chunk].
fn outer(bv: vec4<f32>, av: vec4<f32>) -> mat4x4<f32> {
    return mat4x4<f32>(bv * av.x, bv * av.y, bv * av.z, bv * av.w);
}

@compute @workgroup_size(SG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
    let n2q = p.N2 / 4u;
    let jq_own = wg.x * SG + lane;
    let jq = p.b_off4 + min(jq_own, n2q - 1u);   // lanes past N2 load a valid chunk, store nothing
    let i0 = wg.y * RC;
    let n1q = (p.N1 + 3u) / 4u;
    let ia = p.a_off4 + i0 / 4u;
    let ib = p.a_off4 + min(i0 / 4u + 1u, n1q - 1u);
    var lo = mat4x4<f32>(vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0));
    var hi = lo;
    var sum_lo = vec4<f32>(0.0);     // this lane's rows' share of the column sums
    var sum_hi = vec4<f32>(0.0);
    let r_end = min(p.R, (wg.z + 1u) * p.RS);
    for (var r0 = wg.z * p.RS; r0 < r_end; r0 += SG) {
        let ra = min(r0 + lane, p.R - 1u) * p.lda4;
        // rows past R contribute 0 (their B rows are clamped to a valid row); RS is a
        // multiple of SG, so only the last segment has such rows
        let live = r0 + lane < r_end;
        let alo = select(vec4<f32>(0.0), a[ra + ia], live);
        let ahi = select(vec4<f32>(0.0), a[ra + ib], live);
        sum_lo += alo;
        sum_hi += ahi;
        let last = p.R - 1u;
        var bv = bm[min(r0, last) * p.ldb4 + jq];
        lo += outer(bv, subgroupBroadcast(alo, 0u));
        hi += outer(bv, subgroupBroadcast(ahi, 0u));
        bv = bm[min(r0 + 1u, last) * p.ldb4 + jq];
        lo += outer(bv, subgroupBroadcast(alo, 1u));
        hi += outer(bv, subgroupBroadcast(ahi, 1u));
        bv = bm[min(r0 + 2u, last) * p.ldb4 + jq];
        lo += outer(bv, subgroupBroadcast(alo, 2u));
        hi += outer(bv, subgroupBroadcast(ahi, 2u));
        bv = bm[min(r0 + 3u, last) * p.ldb4 + jq];
        lo += outer(bv, subgroupBroadcast(alo, 3u));
        hi += outer(bv, subgroupBroadcast(ahi, 3u));
        bv = bm[min(r0 + 4u, last) * p.ldb4 + jq];
        lo += outer(bv, subgroupBroadcast(alo, 4u));
        hi += outer(bv, subgroupBroadcast(ahi, 4u));
        bv = bm[min(r0 + 5u, last) * p.ldb4 + jq];
        lo += outer(bv, subgroupBroadcast(alo, 5u));
        hi += outer(bv, subgroupBroadcast(ahi, 5u));
        bv = bm[min(r0 + 6u, last) * p.ldb4 + jq];
        lo += outer(bv, subgroupBroadcast(alo, 6u));
        hi += outer(bv, subgroupBroadcast(ahi, 6u));
        bv = bm[min(r0 + 7u, last) * p.ldb4 + jq];
        lo += outer(bv, subgroupBroadcast(alo, 7u));
        hi += outer(bv, subgroupBroadcast(ahi, 7u));
    }
    // Lane-order reduction of the column sums (all lanes take part in the broadcasts).
    var tot_lo = subgroupBroadcast(sum_lo, 0u);
    var tot_hi = subgroupBroadcast(sum_hi, 0u);
    tot_lo += subgroupBroadcast(sum_lo, 1u);
    tot_hi += subgroupBroadcast(sum_hi, 1u);
    tot_lo += subgroupBroadcast(sum_lo, 2u);
    tot_hi += subgroupBroadcast(sum_hi, 2u);
    tot_lo += subgroupBroadcast(sum_lo, 3u);
    tot_hi += subgroupBroadcast(sum_hi, 3u);
    tot_lo += subgroupBroadcast(sum_lo, 4u);
    tot_hi += subgroupBroadcast(sum_hi, 4u);
    tot_lo += subgroupBroadcast(sum_lo, 5u);
    tot_hi += subgroupBroadcast(sum_hi, 5u);
    tot_lo += subgroupBroadcast(sum_lo, 6u);
    tot_hi += subgroupBroadcast(sum_hi, 6u);
    tot_lo += subgroupBroadcast(sum_lo, 7u);
    tot_hi += subgroupBroadcast(sum_hi, 7u);
    let base = wg.z * p.part_ld;
    if (wg.x == 0u && lane < RC) {
        let i = i0 + lane;
        let v = select(tot_hi[lane % 4u], tot_lo[lane % 4u], lane < 4u);
        if (i < p.N1) {
            part[base + p.N1 * p.N2 + i] = v;
        }
    }
    if (jq_own >= n2q) {
        return;
    }
    let j0 = jq_own * 4u;
    for (var q = 0u; q < 4u; q++) {
        let i = i0 + q;
        if (i < p.N1) {
            for (var e = 0u; e < 4u; e++) {
                part[base + i * p.N2 + j0 + e] = lo[q][e];
            }
        }
        if (i + 4u < p.N1) {
            for (var e = 0u; e < 4u; e++) {
                part[base + (i + 4u) * p.N2 + j0 + e] = hi[q][e];
            }
        }
    }
}
