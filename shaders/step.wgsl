// Bindings and the per-unit epilogue shared by the fused step kernels (step_reg,
// step_subgroup, step_tiled). The host prepends common.wgsl and the cell file.
//
// Buffers (legend in src/spec.rs; Hp = H rounded up to 4, GH = G*H):
//   xg      [T*B, D*GH]      input projection incl. b_ih
//   w_hh    [D, GH, Hp]      vec4 rows
//   b_hh    [D, GH]
//   lengths [B]              valid steps per row
//   h_in    [D, B, Hp]       h_{t-1}, the state the previous dispatch left (V4 rows)
//   h_state [D, B, Hp]       h_t. Two buffers the host swaps between dispatches: a
//                            binding only read can be read as V4 (u64 pairs on lavapipe)
//   c_state [D, B, H]        (LSTM) updated in place by the owning invocation
//   out     [T, B, D*Hp]
// and, when training (FLAG_TRAIN), the reserve space backward reads:
//   hg_seq    [T*B, D*GH]    W_hh·h_{t-1} + b_hh per step; in 16 bits (reserve_16.wgsl,
//                            rows of step pairs [T/2*B, D*GH]) the sums xg + hg instead,
//                            except GRU's n, whose x part goes to cprev_seq
//   hprev_seq [T*B, D*Hp]    h_{t-1} per step (0 at padded steps), f32
//   cprev_seq [T*B, D*H]     c_{t-1} per step (LSTM), in hg_seq's buffer from p.cprev_off:
//                            one binding fewer, so the kernel fits WebGPU's limit of
//                            storage buffers per stage (10 on SwiftShader)

@group(0) @binding(0) var<uniform> p: StepParams;
@group(0) @binding(1) var<storage, read> xg: array<f32>;
@group(0) @binding(2) var<storage, read> w_hh: array<W4>;
@group(0) @binding(3) var<storage, read> b_hh: array<f32>;
@group(0) @binding(4) var<storage, read> lengths: array<u32>;
@group(0) @binding(5) var<storage, read_write> h_state: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> c_state: array<f32>;
@group(0) @binding(7) var<storage, read_write> out: array<f32>;
@group(0) @binding(8) var<storage, read_write> hg_seq: array<Saved>;
@group(0) @binding(9) var<storage, read_write> hprev_seq: array<f32>;
@group(0) @binding(11) var<storage, read> h_in: array<V4>;

// Applies the cell to unit j of row b and writes h_t, c_t and the output (0 past the
// row's length, where the state is carried unchanged). hb: direction dir's rows in h_in
// and h_state; len: row b's length (lengths[b]).
fn finish_unit(t: u32, b: u32, dir: u32, j: u32, hg: vec4<f32>, hb: u32, len: u32) {
    let GH = G * p.H;
    let hp = p.Hp4 * 4u;
    let ci = (dir * p.B + b) * p.H + j;
    let o = (t * p.B + b) * p.out_ld + dir * hp + j;
    let valid = t < len;
    // LSTM's update does not read h_{t-1}: at valid inference steps skip its load (lavapipe
    // pays per load, and this epilogue runs once per row and unit).
    var h_prev = 0.0;
    if (!HAS_C || !valid || (p.flags & FLAG_TRAIN) != 0u) {
        h_prev = ld4(h_in[hb + b * p.Hp4 + j / 4u])[j % 4u];
    }
    if (valid) {
        var x = vec4<f32>(0.0);
        let xrow = (t * p.B + b) * p.D * GH + dir * GH + j;
        for (var g = 0u; g < G; g++) {
            x[g] = xg[xrow + g * p.H];
        }
        var c_prev = 0.0;
        if (HAS_C) {
            c_prev = c_state[ci];
        }
        let hc = cell_update(x, hg, h_prev, c_prev);
        if ((p.flags & FLAG_TRAIN) != 0u) {
            keep_reserve(t, b, dir, j, x, hg, h_prev, c_prev);
        }
        h_state[hb + b * p.Hp4 + j / 4u][j % 4u] = hc.x;
        if (HAS_C) {
            c_state[ci] = hc.y;
        }
        if ((p.flags & FLAG_WRITE_OUT) != 0u) {
            out[o] = hc.x;
        }
    } else {
        h_state[hb + b * p.Hp4 + j / 4u][j % 4u] = h_prev;
        if ((p.flags & FLAG_WRITE_OUT) != 0u) {
            out[o] = 0.0;
        }
        if ((p.flags & FLAG_TRAIN) != 0u) {
            hprev_seq[o] = 0.0;
        }
    }
}

// The reserve space of unit j of row b at a valid step t (FLAG_TRAIN): its recurrent
// pre-activations hg (x its input ones), h_{t-1} and c_{t-1}. Padded steps store
// h_{t-1} = 0 instead. In 16 bits backward reads only these (not xg), so they hold what it
// recomputes the gates from: one rounding of xg + hg per gate, GRU's n parts apart.
fn keep_reserve(t: u32, b: u32, dir: u32, j: u32, x: vec4<f32>, hg: vec4<f32>, h_prev: f32, c_prev: f32) {
    let GH = G * p.H;
    let row = saved_row(t, b, p.B);
    let gi = row * p.D * GH + dir * GH + j;
    for (var g = 0u; g < G; g++) {
        let sum = SAVED16 && !(SPLIT_H && g == 2u);
        let v = select(hg[g], x[g] + hg[g], sum);
        hg_seq[gi + g * p.H] = saved_word(hg_seq[gi + g * p.H], v, t);
    }
    hprev_seq[(t * p.B + b) * p.out_ld + dir * p.Hp4 * 4u + j] = h_prev;
    if (HAS_C || (SAVED16 && SPLIT_H)) {
        let ci = p.cprev_off + row * p.D * p.H + dir * p.H + j;
        hg_seq[ci] = saved_word(hg_seq[ci], select(c_prev, x[2], SPLIT_H), t);
    }
}

// b_hh of unit j's G gates.
fn hh_bias(dir: u32, j: u32) -> vec4<f32> {
    var bh = vec4<f32>(0.0);
    for (var g = 0u; g < G; g++) {
        bh[g] = b_hh[dir * G * p.H + g * p.H + j];
    }
    return bh;
}

// Unit j's G rows of W_hh[dir] at column chunk k, as matrix columns (absent gates zero),
// so that h * m = (h·w_0, .., h·w_{G-1}).
fn w_cols(dir: u32, j: u32, k: u32) -> mat4x4<f32> {
    let w0 = (dir * G * p.H + j) * p.Hp4;
    let ws = p.H * p.Hp4;
    var m = mat4x4<f32>(ldw4(w_hh[w0 + k]), vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0));
    if (G > 1u) {
        m[1] = ldw4(w_hh[w0 + ws + k]);
        m[2] = ldw4(w_hh[w0 + 2u * ws + k]);
    }
    if (G > 3u) {
        m[3] = ldw4(w_hh[w0 + 3u * ws + k]);
    }
    return m;
}
