// Partial weight gradient C_z = Aᵀ·B over the rows of segment z = wg.z (RS rows each) with
// subgroup sharing; weight_grad_reduce.wgsl then sums the segments in a fixed order
// (deterministic, no atomics). Segments keep the rows that the running workgroups stream
// in cache: one pass over all R rows per workgroup re-read A and B from L3 and ran about
// 2x slower on lstm-b64 (measured).
// A workgroup is one subgroup of SG = 8 lanes computing an RM x 32 block of C_z (rows
// i0..i0+RM, columns 32*wg.x..+32); lane l owns the vec4 column chunk jq = 8*wg.x + l. Per
// 8 rows r of the reduction each lane loads its row r0+l of A's RM block columns (RM/4
// vec4s) and the 8 rows' B chunks (8 vec4s); the A chunks reach the other lanes by
// subgroupBroadcast, so RM/4 + 8 loads feed 32*RM FMAs per lane. RM = 32 (16 loads, 1024
// FMAs) against RM = 8 (10 loads, 256 FMAs): see WGRAD_SG_ROWS for the measurement.
// The same pass yields the segment's bias gradient: the column sums of A ride along as
// RM/4 vec4 adds per round, summed per lane, then across lanes in lane order (fixed order:
// bitwise repeatable). Every workgroup computes them (uniform control flow for the
// broadcasts); lane 0 of column block 0 stores them.
//
// RM and the `$` lines come from the host (kernels::unroll with groups of 4 rows = one
// vec4 column chunk of A: `$g` = chunk, `$l` = component; `$s` = broadcast lane, `$q` =
// first lane of a quad).
//
//   a [R, lda] (vec4 rows; the block's columns start at a_off)   e.g. dG of one direction
//   b [R, ldb] (vec4 rows; columns start at b_off)               e.g. X or h_prev
//   part [S, part_ld]: segment z's C_z [N1, N2] (row-major) at z*part_ld, then its column
//        sums [N1] at z*part_ld + N1*N2 (part_ld = N1*N2 + N1 rounded up to 4)
// N1, N2, lda, ldb, a_off, b_off are in floats and multiples of 4 except N1 (bounds-checked;
// A's columns N1..N1 rounded up to 4 must exist, as dG's zero padding does). RS is a
// multiple of SG.

const SG: u32 = 8u;    // lanes = rows of the reduction per broadcast round

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
    pad0: u32,
    pad1: u32,
    pad2: u32,
}

@group(0) @binding(0) var<uniform> p: WgradParams;
@group(0) @binding(1) var<storage, read> a: array<V4>;
@group(0) @binding(2) var<storage, read> bm: array<V4>;
@group(0) @binding(3) var<storage, read_write> part: array<f32>;

// C_z[i, j0..j0+4] (row i of the partial) where it exists.
fn store_row(base: u32, i: u32, j0: u32, v: vec4<f32>) {
    if (i < p.N1) {
        for (var e = 0u; e < 4u; e++) {
            part[base + i * p.N2 + j0 + e] = v[e];
        }
    }
}

// Column sums of A for columns i0..i0+4 where they exist.
fn store_sums(base: u32, i0: u32, v: vec4<f32>) {
    for (var e = 0u; e < 4u; e++) {
        if (i0 + e < p.N1) {
            part[base + p.N1 * p.N2 + i0 + e] = v[e];
        }
    }
}

@compute @workgroup_size(SG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
    let n2q = p.N2 / 4u;
    let jq_own = wg.x * SG + lane;
    let jq = p.b_off4 + min(jq_own, n2q - 1u);   // lanes past N2 load a valid chunk, store nothing
    let i0 = wg.y * RM;
    let n1q = (p.N1 + 3u) / 4u;
    let ia$g = p.a_off4 + min(i0 / 4u + $gu, n1q - 1u);
    var acc$r = vec4<f32>(0.0);
    var sum$g = vec4<f32>(0.0);     // this lane's rows' share of the column sums
    let r_end = min(p.R, (wg.z + 1u) * p.RS);
    let last = p.R - 1u;
    for (var r0 = wg.z * p.RS; r0 < r_end; r0 += SG) {
        let ra = min(r0 + lane, last) * p.lda4;
        // rows past R contribute 0 (their B rows are clamped to a valid row); RS is a
        // multiple of SG, so only the last segment has such rows
        let live = r0 + lane < r_end;
        let av$g = select(vec4<f32>(0.0), ld4(a[ra + ia$g]), live);
        sum$g += av$g;
        // The 8 rows in quads q = 0, 4: one mat4x4 * vec4 (16 FMAs) per accumulator and
        // quad, not 4 FMAs per row, because the RM accumulators spill on lavapipe and each
        // update loads and stores one (weight-gradient GEMMs at lstm-b64: 164 -> 121 ms).
        // $quads {
        {
            let bq = mat4x4<f32>(
                ld4(bm[min(r0 + $qu, last) * p.ldb4 + jq]),
                ld4(bm[min(r0 + $qu + 1u, last) * p.ldb4 + jq]),
                ld4(bm[min(r0 + $qu + 2u, last) * p.ldb4 + jq]),
                ld4(bm[min(r0 + $qu + 3u, last) * p.ldb4 + jq]),
            );
            let x0$g = subgroupBroadcast(av$g, $qu);
            let x1$g = subgroupBroadcast(av$g, $qu + 1u);
            let x2$g = subgroupBroadcast(av$g, $qu + 2u);
            let x3$g = subgroupBroadcast(av$g, $qu + 3u);
            acc$r += bq * vec4<f32>(x0$g[$l], x1$g[$l], x2$g[$l], x3$g[$l]);
        }
        // }
    }
    // Lane-order reduction of the column sums (all lanes take part in the broadcasts).
    var tot$g = vec4<f32>(0.0);
    // $lanes {
    tot$g += subgroupBroadcast(sum$g, $su);
    // }
    let base = wg.z * p.part_ld;
    if (wg.x == 0u && lane == 0u) {
        store_sums(base, i0 + $gu * 4u, tot$g);
    }
    if (jq_own >= n2q) {
        return;
    }
    store_row(base, i0 + $ru, jq_own * 4u, acc$r);
}
