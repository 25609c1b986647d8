// Persistent backpropagation through time with register-resident weights, for the small
// batches that persistent_subgroup.wgsl runs forward: one workgroup owns direction wg.y
// and the batch slice of BS rows starting at BS*wg.x and loops over backward steps
// p.step .. min(p.step + CHUNK, T + 1) inside one dispatch. Invocation li owns the UB = 4
// hidden units k0 = 4*li..k0+4: its W_hh[n, k0..k0+4] for all G*H gate rows n stay in
// named private variables for the whole dispatch (GHP4 chunks of 4 rows), so a step reads
// from storage only the previous step's dGh row (each lane one vec4 chunk in 8, shared by
// subgroupBroadcast) and what backward_units (backward_cell.wgsl) reads per unit. The
// per-step kernel (backward_step_subgroup) instead streams all of W_hh every step through
// per-lane gathers. storageBarrier() between steps: step s+1 reads the dGh row that every
// invocation of this workgroup wrote at step s.
//
// The host prepends BS, WGP (Hp/4 rounded up to SG), GHP4 (GHp/4 rounded up to SG) and
// CHUNK, and unrolls the `$` lines over the GHP4 chunks (kernels::unroll: `$r` = chunk,
// `$g` = its group of SG chunks, `$l` = the lane holding it). Named variables, not an
// array: lavapipe keeps a loop-indexed array in scratch memory, one gather per lane.
// Buffers and parameters: backward_cell.wgsl.

const SG: u32 = 8u;
const UB: u32 = 4u;    // units per invocation

// W_hh[dir] rows 4q..4q+4 at column chunk kq (w_rows), zero for pad chunks past GHp4.
fn w_chunk(dir: u32, q: u32, kq: u32) -> mat4x4<f32> {
    if (q < p.GHp4) {
        return w_rows(dir, q * 4u, kq);
    }
    return mat4x4<f32>(vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0));
}

// Chunk q of a dGh row, zero past the row.
fn dg_chunk(row: u32, q: u32) -> vec4<f32> {
    if (q < p.GHp4) {
        return dgh[row + q];
    }
    return vec4<f32>(0.0);
}

@compute @workgroup_size(WGP)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32,
        @builtin(subgroup_invocation_id) lane: u32) {
    let dir = wg.y;
    let b0 = wg.x * BS;
    let nb = min(BS, p.B - b0);
    let k0 = li * UB;
    let kq = min(k0, p.Hp - UB) / UB;          // invocations past Hp load a valid chunk, store nothing
    let row_ld = p.D * p.GHp4;
    let w$r = w_chunk(dir, $ru, kq);
    let end = min(p.step + CHUNK, p.T + 1u);
    for (var s = p.step; s < end; s++) {
        for (var r = 0u; r < BS; r++) {
            var acc = vec4<f32>(0.0);
            if (s > 0u) {
                let row = bwd_time_prev(dir, s) * p.B * row_ld + min(b0 + r, p.B - 1u) * row_ld + dir * p.GHp4;
                let dg$g = dg_chunk(row, $gu * SG + lane);
                acc += w$r * subgroupBroadcast(dg$g, $lu);
            }
            if (r < nb && k0 < p.H) {
                backward_units(s, dir, b0 + r, k0, acc);
            }
        }
        storageBarrier();
    }
}
