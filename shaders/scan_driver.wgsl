// The two loops over time shared by scan.wgsl (forward) and scan_backward.wgsl: each walks
// the steps i = p.step .. p.step + CHUNK of one dispatch for every (U units from j, batch
// row b, direction), where step i is an affine map of the carried state, x -> A·x + B. The
// kernel file defines what a step is:
//   step_map(i, len, b, dir, j) -> Affine      its (A, B), without side effects
//   run_step(i, len, b, dir, j, x) -> S        the state after it, writing its outputs
//   load_state(b, dir, j) -> S, store_state(b, dir, j, x)
// - `sequential`: one invocation per (units j.., b, dir) runs the steps in order.
// - `chunked`: a workgroup of SU unit groups x SC time chunks per (SU·U units, b, dir). Each
//   invocation composes its chunk's maps into one (pass 1), reads the maps of the chunks
//   before it from workgroup memory to get its incoming state (the carry scan), then runs
//   its chunk from that state (pass 2, the fix-up): 2·CHUNK/SC + SC dependent steps
//   instead of CHUNK, SC times the lanes, about twice the arithmetic.

@compute @workgroup_size(64)
fn sequential(@builtin(global_invocation_id) gid: vec3<u32>) {
    let j = gid.x * U;
    let b = gid.y;
    let dir = gid.z;
    if (j >= p.H || b >= p.B) {
        return;
    }
    let len = lengths[b];
    let end = min(p.step + CHUNK, p.T);
    var x = load_state(b, dir, j);
    for (var i = p.step; i < end; i++) {
        x = run_step(i, len, b, dir, j, x);
    }
    store_state(b, dir, j, x);
}

// Each chunk's composed map: A in chunk_a, B in chunk_b, [SC, SU].
var<workgroup> chunk_a: array<S, SC * SU>;
var<workgroup> chunk_b: array<S, SC * SU>;

@compute @workgroup_size(SU, SC)
fn chunked(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) li: vec3<u32>) {
    let j = (wg.x * SU + li.x) * U;
    let b = wg.y;
    let dir = wg.z;
    let c = li.y;
    // no early return before the barrier: every invocation must reach it
    let unit_ok = j < p.H;
    let end = min(p.step + CHUNK, p.T);
    let per_chunk = (end - min(p.step, end) + SC - 1u) / SC;
    let c0 = min(p.step + c * per_chunk, end);
    let c1 = min(c0 + per_chunk, end);
    let len = lengths[b];
    var x_in = S(0.0);
    var a_acc = S(1.0);
    var b_acc = S(0.0);
    if (unit_ok) {
        // read before the barrier: the last chunk stores the state after it
        x_in = load_state(b, dir, j);
        for (var i = c0; i < c1; i++) {
            let m = step_map(i, len, b, dir, j);
            a_acc = m.a * a_acc;
            b_acc = m.a * b_acc + m.b;
        }
    }
    chunk_a[c * SU + li.x] = a_acc;
    chunk_b[c * SU + li.x] = b_acc;
    workgroupBarrier();
    if (!unit_ok) {
        return;
    }
    var x = x_in;
    for (var k = 0u; k < c; k++) {
        x = chunk_a[k * SU + li.x] * x + chunk_b[k * SU + li.x];
    }
    for (var i = c0; i < c1; i++) {
        x = run_step(i, len, b, dir, j, x);
    }
    if (c == SC - 1u) {
        store_state(b, dir, j, x);
    }
}
