// One step of backpropagation through time, fused: one invocation owns hidden unit k of
// direction dir for RB batch rows. It first completes dL/dh_t for its unit,
//   dh = W_hhᵀ·dGh_{prev step} + dh_carry (+ dL/d out_t at valid steps),
// then recomputes the cell's gates from the stored pre-activations and writes the gate
// gradients dGx (w.r.t. W_ih·x + b_ih) and dGh (w.r.t. W_hh·h + b_hh) of step t, the carry
// dh_carry = dL/dh_{t-1} minus its W_hh part, and dc = dL/dc_{t-1}. Backward step s runs
// time t = T-1-s (dir 0) or t = s (dir 1); the extra step s = T only completes dh, which
// then is dL/dh0. Padded steps (t >= length) pass dh and dc through unchanged.
//
// Buffers (legend in src/spec.rs; GH = G*H, GHp = GH rounded up to 4):
//   xg, hg      [T*B, D*GH]   pre-activations stored by the training forward
//   hprev       [T*B, D*Hp]   h_{t-1};  cprev [T*B, D*H] c_{t-1} (LSTM)
//   w_hh_t      [D, Hp, GHp]  W_hh transposed (vec4 rows over gates)
//   dout        [T*B, D*Hp]   dL/d output of this layer
//   dgx, dgh    [T*B, D*GHp]  gate gradients (dgh read as vec4 rows by the next step)
//   dh_carry    [D, B, Hp];   dc [D, B, H]

const WG: u32 = 64u;
const RB: u32 = 4u;

struct BwdParams {
    T: u32,
    B: u32,
    H: u32,
    Hp: u32,
    D: u32,
    step: u32,
    GHp4: u32,
    pad: u32,
}

@group(0) @binding(0) var<uniform> p: BwdParams;
@group(0) @binding(1) var<storage, read> xg: array<f32>;
@group(0) @binding(2) var<storage, read> hg: array<f32>;
@group(0) @binding(3) var<storage, read> hprev: array<f32>;
@group(0) @binding(4) var<storage, read> cprev: array<f32>;
@group(0) @binding(5) var<storage, read> w_hh_t: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read> lengths: array<u32>;
@group(0) @binding(7) var<storage, read> dout: array<f32>;
@group(0) @binding(8) var<storage, read_write> dgx: array<f32>;
@group(0) @binding(9) var<storage, read_write> dgh: array<vec4<f32>>;
@group(0) @binding(10) var<storage, read_write> dh_carry: array<f32>;
@group(0) @binding(11) var<storage, read_write> dc: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let k = gid.x;
    let b0 = gid.y * RB;
    let dir = gid.z;
    if (k >= p.H || b0 >= p.B) {
        return;
    }
    let GH = G * p.H;
    let s = p.step;
    // Time of this step and of the previous backward step (whose dGh feeds dh).
    let t = select(p.T - 1u - s, s, dir == 1u);                // wraps for s = T: unused
    let t_prev = select(p.T - s, s - 1u, dir == 1u);           // valid when s > 0
    let row_ld = p.D * p.GHp4;                                   // vec4 per dgh row

    var acc: array<f32, RB>;
    for (var r = 0u; r < RB; r++) {
        acc[r] = 0.0;
    }
    if (s > 0u) {
        let wrow = (dir * p.Hp + k) * p.GHp4;
        for (var q = 0u; q < p.GHp4; q++) {
            let w = w_hh_t[wrow + q];
            for (var r = 0u; r < RB; r++) {
                let b = min(b0 + r, p.B - 1u);
                acc[r] += dot(dgh[(t_prev * p.B + b) * row_ld + dir * p.GHp4 + q], w);
            }
        }
    }
    for (var r = 0u; r < RB; r++) {
        let b = b0 + r;
        if (b >= p.B) {
            break;
        }
        let si = (dir * p.B + b) * p.Hp + k;
        let ci = (dir * p.B + b) * p.H + k;
        var dh = acc[r] + dh_carry[si];
        let valid = s < p.T && t < lengths[b];
        if (!valid) {
            dh_carry[si] = dh;
            if (s < p.T) {
                let grow = (t * p.B + b) * row_ld * 4u + dir * p.GHp4 * 4u + k;
                for (var g = 0u; g < G; g++) {
                    dgx[grow + g * p.H] = 0.0;
                    dgh[(grow + g * p.H) / 4u][(grow + g * p.H) % 4u] = 0.0;
                }
            }
            continue;
        }
        dh += dout[(t * p.B + b) * p.D * p.Hp + dir * p.Hp + k];
        let xrow = (t * p.B + b) * p.D * GH + dir * GH + k;
        var x = vec4<f32>(0.0);
        var hh = vec4<f32>(0.0);
        for (var g = 0u; g < G; g++) {
            x[g] = xg[xrow + g * p.H];
            hh[g] = hg[xrow + g * p.H];
        }
        let h_prev = hprev[(t * p.B + b) * p.D * p.Hp + dir * p.Hp + k];
        var c_prev = 0.0;
        var dcv = 0.0;
        if (HAS_C) {
            c_prev = cprev[(t * p.B + b) * p.D * p.H + dir * p.H + k];
            dcv = dc[ci];
        }
        let cg = cell_backward(x, hh, h_prev, c_prev, dh, dcv);
        let grow = (t * p.B + b) * row_ld * 4u + dir * p.GHp4 * 4u + k;
        for (var g = 0u; g < G; g++) {
            let i = grow + g * p.H;
            dgx[i] = cg.d_xg[g];
            dgh[i / 4u][i % 4u] = cg.d_hg[g];
        }
        dh_carry[si] = cg.dh_direct;
        if (HAS_C) {
            dc[ci] = cg.dc_prev;
        }
    }
}
