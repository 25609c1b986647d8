// The time loop of a linear-recurrence layer (minGRU, minLSTM): h_t = a_t ⊙ h_{t-1} + b_t,
// (a_t, b_t) = lin_coeffs of the pre-activations xg at t (the cell file), over the steps
// p.step .. p.step + CHUNK of one dispatch. Two entry points:
// - `sequential`: one invocation per (unit j, batch row b, direction) walks the steps in
//   order: T dependent steps, B·H·D parallel lanes.
// - `chunked`: a workgroup of SU units x SC time chunks per (unit block, row, direction).
//   Each invocation composes its chunk's (a, b) pairs into one affine map (A, B) while
//   activating the gates (pass 1), reads the maps of the chunks before it from workgroup
//   memory to get its incoming h (the carry scan), then recomputes its chunk from that h
//   (pass 2, the fix-up): 2·T/SC + SC dependent steps, SC times the lanes.
// Products of a_t underflow towards 0 over long chunks, which is the exact answer's limit
// (a_t is in (0, 1)): no rescaling is needed, and A = 0 makes h_in irrelevant.
// The host prepends common.wgsl (StepParams, flags), the cell file, scan_common.wgsl and
// the constants SU, SC, CHUNK.
//
// Buffers (legend in src/spec.rs; Hp = H rounded up to 4, GH = G*H):
//   xg        [T*B, D*GH]   pre-activations W_ih·x + b_ih (the projection GEMM's output)
//   lengths   [B]
//   h_in      [D, B, Hp]    h before the dispatch's first step
//   h_state   [D, B, Hp]    h after its last step (the host swaps the two per dispatch)
//   out       [T*B, D*Hp]   h_t, 0 at padded steps (FLAG_WRITE_OUT)
//   hprev_seq [T*B, D*Hp]   h_{t-1} per step, 0 at padded steps (FLAG_TRAIN; the reserve
//                           backward reads, beside xg)
// Step s of a row of length len runs time t = s (dir 0) or len-1-s (dir 1); steps s >= len
// are padding at time s: the identity map, writing zeros.

@group(0) @binding(0) var<uniform> p: StepParams;
@group(0) @binding(1) var<storage, read> xg: array<f32>;
@group(0) @binding(4) var<storage, read> lengths: array<u32>;
@group(0) @binding(5) var<storage, read_write> h_state: array<f32>;
@group(0) @binding(7) var<storage, read_write> out: array<f32>;
@group(0) @binding(9) var<storage, read_write> hprev_seq: array<f32>;
@group(0) @binding(11) var<storage, read> h_in: array<f32>;

// (a, b) of step s: the identity (1, 0) at padded steps.
fn step_coeffs(s: u32, len: u32, b: u32, dir: u32, j: u32) -> vec2<f32> {
    if (s >= len) {
        return vec2<f32>(1.0, 0.0);
    }
    return lin_coeffs(pre_activations(scan_time(dir, s, len), b, dir, j));
}

// Runs step s from h and writes what it owes (output, reserve); returns h after it.
fn scan_step(s: u32, len: u32, b: u32, dir: u32, j: u32, h: f32) -> f32 {
    let col = dir * p.Hp4 * 4u + j;
    if (s >= len) {
        let o = (s * p.B + b) * p.out_ld + col;
        if ((p.flags & FLAG_WRITE_OUT) != 0u) {
            out[o] = 0.0;
        }
        if ((p.flags & FLAG_TRAIN) != 0u) {
            hprev_seq[o] = 0.0;
        }
        return h;
    }
    let t = scan_time(dir, s, len);
    let ab = lin_coeffs(pre_activations(t, b, dir, j));
    let o = (t * p.B + b) * p.out_ld + col;
    if ((p.flags & FLAG_TRAIN) != 0u) {
        hprev_seq[o] = h;
    }
    let hn = ab.x * h + ab.y;
    if ((p.flags & FLAG_WRITE_OUT) != 0u) {
        out[o] = hn;
    }
    return hn;
}

@compute @workgroup_size(64)
fn sequential(@builtin(global_invocation_id) gid: vec3<u32>) {
    let j = gid.x;
    let b = gid.y;
    let dir = gid.z;
    if (j >= p.H || b >= p.B) {
        return;
    }
    let si = (dir * p.B + b) * p.Hp4 * 4u + j;
    let len = lengths[b];
    let s_end = min(p.step + CHUNK, p.T);
    var h = h_in[si];
    for (var s = p.step; s < s_end; s++) {
        h = scan_step(s, len, b, dir, j, h);
    }
    h_state[si] = h;
}

// Each chunk's composed map: A in chunk_a, B in chunk_b, [SC, SU].
var<workgroup> chunk_a: array<f32, SC * SU>;
var<workgroup> chunk_b: array<f32, SC * SU>;

@compute @workgroup_size(SU, SC)
fn chunked(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) li: vec3<u32>) {
    let j = wg.x * SU + li.x;
    let b = wg.y;
    let dir = wg.z;
    let c = li.y;
    // no early return: the barrier below must be reached by every invocation
    let unit_ok = j < p.H;
    let s_end = min(p.step + CHUNK, p.T);
    let per_chunk = (s_end - p.step + SC - 1u) / SC;
    let c0 = min(p.step + c * per_chunk, s_end);
    let c1 = min(c0 + per_chunk, s_end);
    let len = lengths[b];
    // Pass 1: this chunk's map h -> A·h + B.
    var a_acc = 1.0;
    var b_acc = 0.0;
    if (unit_ok) {
        for (var s = c0; s < c1; s++) {
            let ab = step_coeffs(s, len, b, dir, j);
            a_acc = ab.x * a_acc;
            b_acc = ab.x * b_acc + ab.y;
        }
    }
    chunk_a[c * SU + li.x] = a_acc;
    chunk_b[c * SU + li.x] = b_acc;
    workgroupBarrier();
    if (!unit_ok) {
        return;
    }
    // The carry scan: h entering this chunk, from the maps of the chunks before it in order.
    let si = (dir * p.B + b) * p.Hp4 * 4u + j;
    var h = h_in[si];
    for (var k = 0u; k < c; k++) {
        h = chunk_a[k * SU + li.x] * h + chunk_b[k * SU + li.x];
    }
    // Pass 2, the fix-up: the chunk's steps from their true incoming h.
    for (var s = c0; s < c1; s++) {
        h = scan_step(s, len, b, dir, j, h);
    }
    if (c == SC - 1u) {
        h_state[si] = h;
    }
}
