// Backpropagation through the time loop of a linear-recurrence layer (minGRU, minLSTM),
// over backward steps p.step .. p.step + CHUNK of one dispatch. Backward step q runs the
// forward step s = T-1-q. With carry c = dL/dh_s through later steps (d_h_n at the row's
// last step), dL/dh_s = dout_s + c, and the carry into step s-1 is a_s·(dout_s + c): again
// an affine map c -> a_s·c + a_s·dout_s, so the same two entry points as scan.wgsl apply:
// - `sequential`: one invocation per (unit, row, direction) walks the steps backwards.
// - `chunked`: SU units x SC chunks per workgroup; pass 1 composes each chunk's maps, the
//   carry scan gives each chunk its incoming carry, pass 2 recomputes the chunk and writes
//   the gate gradients (lin_backward of the cell file).
// Gate gradients of padded steps (s >= length, time s) are written as 0: the weight
// gradients that follow sum over every row. No atomics: each value has one writer.
// The host prepends common.wgsl (BwdParams), the cell file, scan_common.wgsl and SU, SC,
// CHUNK.
//
// Buffers (legend in src/spec.rs; Hp = H rounded up to 4, GH = G*H, GHp = GH rounded to 4):
//   xg       [T*B, D*GH]    pre-activations kept by the training forward
//   hprev    [T*B, D*Hp]    h_{t-1} kept by the training forward
//   lengths  [B]
//   dout     [T*B, D*Hp]    dL/d output of this layer
//   dgh      [T*B, D*GHp]   dL/d xg (columns GH..GHp stay 0), then from p.carry_off4 vec4s
//                           the carry [D, B, Hp]: dL/dh_n in, dL/dh0 out
//   dh_seq   [T*B, D*Hp]    dL/dh_t per step (FLAG_TRACE)

@group(0) @binding(0) var<uniform> p: BwdParams;
@group(0) @binding(1) var<storage, read> xg: array<f32>;
@group(0) @binding(3) var<storage, read> hprev: array<f32>;
@group(0) @binding(6) var<storage, read> lengths: array<u32>;
@group(0) @binding(7) var<storage, read> dout: array<f32>;
@group(0) @binding(9) var<storage, read_write> dgh: array<f32>;
@group(0) @binding(12) var<storage, read_write> dh_seq: array<f32>;

// Index of unit j of row b, direction dir, time t in the [T*B, D*Hp] sequences.
fn seq_index(t: u32, b: u32, dir: u32, j: u32) -> u32 {
    return (t * p.B + b) * p.D * p.Hp + dir * p.Hp + j;
}

// The map of backward step q: c -> a·c + a·dout (the identity at padded steps).
fn back_coeffs(q: u32, len: u32, b: u32, dir: u32, j: u32) -> vec2<f32> {
    let s = p.T - 1u - q;
    if (s >= len) {
        return vec2<f32>(1.0, 0.0);
    }
    let t = scan_time(dir, s, len);
    let a = lin_coeffs(pre_activations(t, b, dir, j)).x;
    return vec2<f32>(a, a * dout[seq_index(t, b, dir, j)]);
}

// Runs backward step q from the carry c, writes the step's gate gradients (and dL/dh_t);
// returns the carry into the step before.
fn back_step(q: u32, len: u32, b: u32, dir: u32, j: u32, c: f32) -> f32 {
    let s = p.T - 1u - q;
    let GHp = p.GHp4 * 4u;
    let t = select(scan_time(dir, s, len), s, s >= len);
    let g0 = (t * p.B + b) * p.D * GHp + dir * GHp + j;
    let o = seq_index(t, b, dir, j);
    if (s >= len) {
        for (var g = 0u; g < G; g++) {
            dgh[g0 + g * p.H] = 0.0;
        }
        if ((p.flags & FLAG_TRACE) != 0u) {
            dh_seq[o] = 0.0;
        }
        return c;
    }
    let dh = dout[o] + c;
    if ((p.flags & FLAG_TRACE) != 0u) {
        dh_seq[o] = dh;
    }
    let v = pre_activations(t, b, dir, j);
    let dv = lin_backward(v, hprev[o], dh);
    for (var g = 0u; g < G; g++) {
        dgh[g0 + g * p.H] = dv[g];
    }
    return lin_coeffs(v).x * dh;
}

// Where the carry of unit j of row b, direction dir lives in dgh.
fn carry_index(b: u32, dir: u32, j: u32) -> u32 {
    return p.carry_off4 * 4u + (dir * p.B + b) * p.Hp + j;
}

@compute @workgroup_size(64)
fn sequential(@builtin(global_invocation_id) gid: vec3<u32>) {
    let j = gid.x;
    let b = gid.y;
    let dir = gid.z;
    if (j >= p.H || b >= p.B) {
        return;
    }
    let len = lengths[b];
    let q_end = min(p.step + CHUNK, p.T);
    let ci = carry_index(b, dir, j);
    var c = dgh[ci];
    for (var q = p.step; q < q_end; q++) {
        c = back_step(q, len, b, dir, j, c);
    }
    dgh[ci] = c;
}

var<workgroup> chunk_a: array<f32, SC * SU>;
var<workgroup> chunk_b: array<f32, SC * SU>;

@compute @workgroup_size(SU, SC)
fn chunked(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) li: vec3<u32>) {
    let j = wg.x * SU + li.x;
    let b = wg.y;
    let dir = wg.z;
    let c_idx = li.y;
    let unit_ok = j < p.H;
    let q_end = min(p.step + CHUNK, p.T);
    let per_chunk = (q_end - min(p.step, q_end) + SC - 1u) / SC;
    let c0 = min(p.step + c_idx * per_chunk, q_end);
    let c1 = min(c0 + per_chunk, q_end);
    let len = lengths[b];
    var carry_in = 0.0;
    var a_acc = 1.0;
    var b_acc = 0.0;
    if (unit_ok) {
        // read before the barrier: the last chunk overwrites it after
        carry_in = dgh[carry_index(b, dir, j)];
        for (var q = c0; q < c1; q++) {
            let ab = back_coeffs(q, len, b, dir, j);
            a_acc = ab.x * a_acc;
            b_acc = ab.x * b_acc + ab.y;
        }
    }
    chunk_a[c_idx * SU + li.x] = a_acc;
    chunk_b[c_idx * SU + li.x] = b_acc;
    workgroupBarrier();
    if (!unit_ok) {
        return;
    }
    var c = carry_in;
    for (var k = 0u; k < c_idx; k++) {
        c = chunk_a[k * SU + li.x] * c + chunk_b[k * SU + li.x];
    }
    for (var q = c0; q < c1; q++) {
        c = back_step(q, len, b, dir, j, c);
    }
    if (c_idx == SC - 1u) {
        dgh[carry_index(b, dir, j)] = c;
    }
}
