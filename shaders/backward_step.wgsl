// One fused step of backpropagation through time without subgroups: one invocation owns
// UB = 4 consecutive hidden units k0..k0+4 of direction dir for RB = 8 batch rows. It
// computes dh = W_hhᵀ·dGh_{prev step} for that 8 x 4 block straight from the model's W_hh
// (a row chunk W_hh[n, k0..k0+4] is one vec4, so per 4 gate rows n it loads 4 W vec4s and
// 8 dGh vec4s for 128 FMAs), then runs backward_units (backward_cell.wgsl) per row.
// Buffers and parameters: backward_cell.wgsl.

const WG: u32 = 64u;   // invocations per workgroup (along units)
const RB: u32 = 8u;    // batch rows per invocation: 32 accumulators, the most that stay in registers
const UB: u32 = 4u;    // units per invocation: one vec4 column chunk of W_hh

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let k0 = gid.x * UB;
    let b0 = gid.y * RB;
    let dir = gid.z;
    if (k0 >= p.H || b0 >= p.B) {
        return;
    }
    let s = p.step;
    let row_ld = p.D * p.GHp4;
    var acc: array<vec4<f32>, RB>;
    for (var r = 0u; r < RB; r++) {
        acc[r] = vec4<f32>(0.0);
    }
    if (s > 0u) {
        let drow = bwd_time_prev(dir, s) * p.B * row_ld + dir * p.GHp4;
        for (var q = 0u; q < p.GHp4; q++) {
            let wm = w_rows(dir, q * 4u, k0 / 4u);
            for (var r = 0u; r < RB; r++) {
                let b = min(b0 + r, p.B - 1u);
                acc[r] += wm * dgh[drow + b * row_ld + q];
            }
        }
    }
    for (var r = 0u; r < RB; r++) {
        let b = b0 + r;
        if (b >= p.B) {
            break;
        }
        if (k0 < p.H) {
            backward_units(s, dir, b, k0, acc[r]);
        }
    }
}
