// The reserve space the fused step keeps when it runs training's forward (the host
// prepends this file, or step_fused_noreserve.wgsl at inference): per valid step the
// pre-activations in the split backward_cell.wgsl reads, h_{t-1} and c_{t-1}. The backward
// recomputes the gates from xg + hg (LSTM, RNN) and from r, z = xg + hg, n = xg_n + r·hg_n
// (GRU), so the fused sums go to xg whole and hg holds only GRU's h part of n; every other
// entry of hg stays the zero the buffer was created with. In 16 bits (reserve_16.wgsl) the
// layout is step.wgsl's keep_reserve: the sums go to hg (GRU's n: hg_n there, xg_n in
// cprev_seq) and xg_seq is not written.
//
//   xg_seq    [T*B, D*GH]    hg_seq [T*B, D*GH] (16 bits: [T/2*B, D*GH] u32)
//   hprev_seq [T*B, D*Hp]    (vec4 rows; 0 at padded steps)
//   cprev_seq [T*B, D*H]     (LSTM) in hg_seq from sp.cprev_off, as in step.wgsl

const TRAIN: bool = true;

@group(0) @binding(11) var<storage, read_write> xg_seq: array<f32>;
@group(0) @binding(12) var<storage, read_write> hg_seq: array<Saved>;
@group(0) @binding(13) var<storage, read_write> hprev_seq: array<vec4<f32>>;

// Unit j of row b at valid step t (LSTM, GRU).
fn keep_unit(sp: StepParams, t: u32, b: u32, dir: u32, j: u32, xg: vec4<f32>, hg: vec4<f32>, h_prev: f32, c_prev: f32) {
    let GH = G * sp.H;
    let xrow = (t * sp.B + b) * sp.D * GH + dir * GH + j;
    let srow = saved_row(t, b, sp.B);
    let gi = srow * sp.D * GH + dir * GH + j;
    if (SAVED16) {
        for (var g = 0u; g < G; g++) {
            let v = select(xg[g] + hg[g], hg[g], SPLIT_H && g == 2u);
            hg_seq[gi + g * sp.H] = saved_word(hg_seq[gi + g * sp.H], v, t);
        }
    } else {
        for (var g = 0u; g < G; g++) {
            xg_seq[xrow + g * sp.H] = xg[g];
        }
        if (SPLIT_H) {
            hg_seq[gi + 2u * sp.H] = saved_word(hg_seq[gi + 2u * sp.H], hg.z, t);
        }
    }
    let o = (t * sp.B + b) * sp.out_ld + dir * sp.Hp4 * 4u + j;
    hprev_seq[o / 4u][o % 4u] = h_prev;
    if (HAS_C || (SAVED16 && SPLIT_H)) {
        let ci = sp.cprev_off + srow * sp.D * sp.H + dir * sp.H + j;
        hg_seq[ci] = saved_word(hg_seq[ci], select(c_prev, xg.z, SPLIT_H), t);
    }
}

// Units j0..j0+n of row b at valid step t (RNN): a = their pre-activations.
fn keep_units(sp: StepParams, t: u32, b: u32, dir: u32, j0: u32, a: vec4<f32>, h_prev: vec4<f32>, n: u32) {
    let xrow = (t * sp.B + b) * sp.D * sp.H + dir * sp.H + j0;
    let srow = saved_row(t, b, sp.B) * sp.D * sp.H + dir * sp.H + j0;
    for (var u = 0u; u < 4u; u++) {
        if (u < n) {
            if (SAVED16) {
                hg_seq[srow + u] = saved_word(hg_seq[srow + u], a[u], t);
            } else {
                xg_seq[xrow + u] = a[u];
            }
        }
    }
    hprev_seq[((t * sp.B + b) * sp.out_ld + dir * sp.Hp4 * 4u + j0) / 4u] = h_prev;
}

// A padded step (t >= the row's length): h_{t-1} = 0, as the unfused step keeps it.
fn clear_unit(sp: StepParams, t: u32, b: u32, dir: u32, j: u32) {
    let o = (t * sp.B + b) * sp.out_ld + dir * sp.Hp4 * 4u + j;
    hprev_seq[o / 4u][o % 4u] = 0.0;
}

fn clear_units(sp: StepParams, t: u32, b: u32, dir: u32, j0: u32) {
    hprev_seq[((t * sp.B + b) * sp.out_ld + dir * sp.Hp4 * 4u + j0) / 4u] = vec4<f32>(0.0);
}
