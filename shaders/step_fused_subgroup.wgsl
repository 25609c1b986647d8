// Timestep with the input projection fused in: one invocation computes, for its lane's 4
// columns and RM batch rows, W_ih·x_t + W_hh·h_{t-1} + b_ih + b_hh as one GEMM with
// K = I + H, then the cell and the state update (`main`: one step per dispatch;
// `main_persistent`: the same for every unit block and a chunk of steps), and for
// training's forward the reserve space (the host prepends step_fused_reserve.wgsl, or the
// empty step_fused_noreserve.wgsl at inference). A workgroup is one subgroup of SG = 8
// lanes; per vec4 chunk of K each lane loads its 4 weight rows and RM/SG rows of x_t or
// h_{t-1}, shared across the subgroup by subgroupBroadcast (the load pattern of
// gemm_subgroup.wgsl). No separate input projection is stored and reloaded: on lavapipe
// the separate GEMM's stores and the step epilogue's 4 xg loads per row and unit cost
// about a third of the step (step_subgroup.wgsl), and at inference xg's T·B·D·G·H floats
// of memory are saved.
//
// A lane's 4 columns (UL, set by the host, is the units per lane):
//   LSTM (UL = 1): gates i, f, g, o of unit j = 8*wg.x + lane
//   GRU  (UL = 1): r, z (x and h parts summed), n's x part, n's h part (kept apart:
//                  n = tanh(W_in x + b_in + r·(W_hn h + b_hn)))
//   RNN  (UL = 4): units 4*(8*wg.x + lane)..+4
// RM and the `$` lines come from the host (kernels::unroll_rows): named accumulators, no
// array indexed by a loop counter (lavapipe keeps those in memory).
//
// Buffers (legend in src/spec.rs; Kp = layer input width rounded up to 4, Hp = H rounded
// up to 4, GH = G*H):
//   x_in    [T*B, Kp]     the layer's input (x, or the previous layer's out)
//   w_ih    [D*GH, Kp]    b_ih, b_hh [D*GH]
//   w_hh    [D, GH, Hp]   lengths [B]
//   h_in    [D, B, Hp]    h_{t-1};  h_state [D, B, Hp] h_t (the host swaps the two;
//                         main_persistent: both are one buffer [2, D, B, Hp])
//   c_state [D, B, H]     (LSTM) updated in place by the owning invocation
//   out     [T, B, D*Hp]

const SG: u32 = 8u;

struct FusedParams {
    s: StepParams,
    Kp4: u32,     // Kp/4: vec4 chunks of a row of x_in and w_ih
    pad0: u32,
    pad1: u32,
    pad2: u32,
}

@group(0) @binding(0) var<uniform> p: FusedParams;
@group(0) @binding(1) var<storage, read> x_in: array<V4>;
@group(0) @binding(2) var<storage, read> w_ih: array<W4>;
@group(0) @binding(3) var<storage, read> b_ih: array<f32>;
@group(0) @binding(4) var<storage, read> w_hh: array<W4>;
@group(0) @binding(5) var<storage, read> b_hh: array<f32>;
@group(0) @binding(6) var<storage, read> lengths: array<u32>;
@group(0) @binding(7) var<storage, read_write> h_in: array<V4>;
@group(0) @binding(8) var<storage, read_write> h_state: array<vec4<f32>>;
@group(0) @binding(9) var<storage, read_write> c_state: array<f32>;
@group(0) @binding(10) var<storage, read_write> out: array<vec4<f32>>;

// The 4 columns' W_ih rows at chunk k (xr: their first chunks). With SPLIT_H (GRU) the 4th
// column is the last gate's h part: zero here, and not loaded.
fn x_cols(xr: vec4<u32>, k: u32) -> mat4x4<f32> {
    var m = mat4x4<f32>(ldw4(w_ih[xr.x + k]), ldw4(w_ih[xr.y + k]), ldw4(w_ih[xr.z + k]), vec4<f32>(0.0));
    if (!SPLIT_H) {
        m[3] = ldw4(w_ih[xr.w + k]);
    }
    return m;
}

// The 4 columns' W_hh rows at chunk k. With SPLIT_H (GRU) the 3rd
// column is the last gate's x part: zero here.
fn h_cols(hr: vec4<u32>, k: u32) -> mat4x4<f32> {
    var m = mat4x4<f32>(ldw4(w_hh[hr.x + k]), ldw4(w_hh[hr.y + k]), vec4<f32>(0.0), ldw4(w_hh[hr.w + k]));
    if (!SPLIT_H) {
        m[2] = ldw4(w_hh[hr.z + k]);
    }
    return m;
}

// Cell and state update of unit j of row b (LSTM, GRU) from its 4 pre-activations a
// (biases included). Past the row's length: output 0, state carried unchanged.
fn finish_unit(sp: StepParams, t: u32, b: u32, dir: u32, j: u32, a: vec4<f32>, len: u32, hr0: u32, hw0: u32) {
    let hi = (dir * sp.B + b) * sp.Hp4 + j / 4u;
    let o4 = ((t * sp.B + b) * sp.out_ld + dir * sp.Hp4 * 4u + j) / 4u;
    let write_out = (sp.flags & FLAG_WRITE_OUT) != 0u;
    let valid = t < len;
    // LSTM's update does not read h_{t-1}: skip its load at valid inference steps.
    var h_prev = 0.0;
    if (!HAS_C || !valid || TRAIN) {
        h_prev = ld4(h_in[hr0 + hi])[j % 4u];
    }
    if (valid) {
        var xg = a;
        var hg = vec4<f32>(0.0);
        if (SPLIT_H) {
            xg = vec4<f32>(a.xyz, 0.0);
            hg = vec4<f32>(0.0, 0.0, a.w, 0.0);
        }
        let ci = (dir * sp.B + b) * sp.H + j;
        var c_prev = 0.0;
        if (HAS_C) {
            c_prev = c_state[ci];
        }
        let hc = cell_update(xg, hg, h_prev, c_prev);
        keep_unit(sp, t, b, dir, j, xg, hg, h_prev, c_prev);
        h_state[hw0 + hi][j % 4u] = hc.x;
        if (HAS_C) {
            c_state[ci] = hc.y;
        }
        if (write_out) {
            out[o4][j % 4u] = hc.x;
        }
    } else {
        clear_unit(sp, t, b, dir, j);
        h_state[hw0 + hi][j % 4u] = h_prev;
        if (write_out) {
            out[o4][j % 4u] = 0.0;
        }
    }
}

// Cell and state update of the 4 units j0.. of row b (RNN): h and the output as one vec4
// store each. Units past H (pad columns) get 0.
fn finish_units(sp: StepParams, t: u32, b: u32, dir: u32, j0: u32, a: vec4<f32>, len: u32, hr0: u32, hw0: u32) {
    let hi = (dir * sp.B + b) * sp.Hp4 + j0 / 4u;
    let o4 = ((t * sp.B + b) * sp.out_ld + dir * sp.Hp4 * 4u + j0) / 4u;
    let write_out = (sp.flags & FLAG_WRITE_OUT) != 0u;
    if (t < len) {
        let n = min(4u, sp.H - j0);
        var h = vec4<f32>(0.0);
        for (var u = 0u; u < 4u; u++) {
            if (u < n) {
                h[u] = cell_update(vec4<f32>(a[u], 0.0, 0.0, 0.0), vec4<f32>(0.0), 0.0, 0.0).x;
            }
        }
        if (TRAIN) {
            keep_units(sp, t, b, dir, j0, a, ld4(h_in[hr0 + hi]), n);
        }
        h_state[hw0 + hi] = h;
        if (write_out) {
            out[o4] = h;
        }
    } else {
        clear_units(sp, t, b, dir, j0);
        h_state[hw0 + hi] = ld4(h_in[hr0 + hi]);
        if (write_out) {
            out[o4] = vec4<f32>(0.0);
        }
    }
}

// One step s for the lane's columns (unit block ub) and row block rb of direction dir:
// reads h_{t-1} at h_in[hr0 + ..], writes h_t at h_state[hw0 + ..] (offsets of the state
// halves in the persistent kernel, 0 per step). Every lane reaches the broadcasts.
fn fused_step(ub: u32, rb: u32, dir: u32, lane: u32, s: u32, hr0: u32, hw0: u32) {
    let sp = p.s;
    let j = (ub * SG + lane) * UL;
    let jw = min(j, sp.H - 1u);
    let b0 = rb * RM;
    let t = time_of(sp, dir, s);

    // The lane's 4 columns as weight rows (clamped: lanes past H load valid rows and store
    // nothing; GRU's columns 2 and 3 are both gate n, each read from one matrix).
    var rows = vec4<u32>(0u);
    for (var c = 0u; c < 4u; c++) {
        if (UL == 4u) {
            rows[c] = dir * sp.H + min(j + c, sp.H - 1u);
        } else {
            rows[c] = dir * G * sp.H + min(c, G - 1u) * sp.H + jw;
        }
    }
    let xr = rows * p.Kp4;
    let hr = rows * sp.Hp4;
    let xrow$g = (t * sp.B + min(b0 + $gu * SG + lane, sp.B - 1u)) * p.Kp4;
    let hrow$g = hr0 + (dir * sp.B + min(b0 + $gu * SG + lane, sp.B - 1u)) * sp.Hp4;

    var a$r = vec4<f32>(0.0);
    for (var k = 0u; k < p.Kp4; k++) {
        let wm = x_cols(xr, k);
        let x$g = ld4(x_in[xrow$g + k]);
        a$r += subgroupBroadcast(x$g, $lu) * wm;
    }
    for (var k = 0u; k < sp.Hp4; k++) {
        let wm = h_cols(hr, k);
        let h$g = ld4(h_in[hrow$g + k]);
        a$r += subgroupBroadcast(h$g, $lu) * wm;
    }
    // The rows' lengths: RM/SG loads per lane, broadcast before any lane returns.
    var lens: array<u32, RM>;
    let len$g = lengths[min(b0 + $gu * SG + lane, sp.B - 1u)];
    lens[$ru] = subgroupBroadcast(len$g, $lu);
    if (j >= sp.H) {
        return;
    }
    // Both biases per column, once per lane. GRU: b_in on n's x part, b_hn on its h part.
    var bias = vec4<f32>(0.0);
    for (var c = 0u; c < 4u; c++) {
        let bi = select(b_ih[rows[c]], 0.0, SPLIT_H && c == 3u);
        let bh = select(b_hh[rows[c]], 0.0, SPLIT_H && c == 2u);
        bias[c] = bi + bh;
    }
    // The epilogue as one loop over the rows (32 inlined copies ran slower, step_subgroup).
    var pre: array<vec4<f32>, RM>;
    pre[$ru] = a$r;
    let n = min(RM, sp.B - b0);
    for (var r = 0u; r < n; r++) {
        if (UL == 4u) {
            finish_units(sp, t, b0 + r, dir, j, pre[r] + bias, lens[r], hr0, hw0);
        } else {
            finish_unit(sp, t, b0 + r, dir, j, pre[r] + bias, lens[r], hr0, hw0);
        }
    }
}

// One step per dispatch: workgroup (unit block, row block, direction).
@compute @workgroup_size(SG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
    fused_step(wg.x, wg.y, wg.z, lane, p.s.step, 0u, 0u);
}

// Persistent: one subgroup owns row block wg.x of direction wg.y, loops over every unit
// block and steps p.s.step .. +CHUNK (the host sizes CHUNK under lavapipe's loop limit,
// kernels::fused_persistent_chunk). h_in and h_state are then one buffer [2, D, B, Hp]:
// the state before step s is in half s % 2. step_barrier (from the host) orders a step's
// h stores before the next step's loads.
@compute @workgroup_size(SG)
fn main_persistent(@builtin(workgroup_id) wg: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
    let half = p.s.D * p.s.B * p.s.Hp4;
    let end = min(p.s.step + CHUNK, p.s.T);
    let blocks = (p.s.H + SG * UL - 1u) / (SG * UL);
    for (var s = p.s.step; s < end; s++) {
        for (var ub = 0u; ub < blocks; ub++) {
            fused_step(ub, wg.x, wg.y, lane, s, (s & 1u) * half, ((s + 1u) & 1u) * half);
        }
        step_barrier();
    }
}
