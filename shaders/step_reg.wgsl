// Fused recurrent step, register-blocked without subgroups: one invocation computes, for
// one hidden unit j of direction dir and RB batch rows, the G gate pre-activations
// W_hh[dir]·h_{t-1} + b_hh, adds the input projection, applies the cell and writes h_t and
// c_t (see step.wgsl for the buffers).

const WG: u32 = 64u;
const RB: u32 = 4u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let j = gid.x;
    let b0 = gid.y * RB;
    let dir = gid.z;
    if (j >= p.H || b0 >= p.B) {
        return;
    }
    let hb = dir * p.B * p.Hp4;

    var acc: array<vec4<f32>, RB>;
    for (var r = 0u; r < RB; r++) {
        acc[r] = vec4<f32>(0.0);
    }
    for (var k = 0u; k < p.Hp4; k++) {
        let wm = w_cols(dir, j, k);
        for (var r = 0u; r < RB; r++) {
            let b = min(b0 + r, p.B - 1u);
            acc[r] += ld4(h_in[hb + b * p.Hp4 + k]) * wm;
        }
    }
    let t = time_of(p, dir, p.step);
    let bh = hh_bias(dir, j);
    for (var r = 0u; r < RB; r++) {
        if (b0 + r < p.B) {
            finish_unit(t, b0 + r, dir, j, acc[r] + bh, hb, lengths[b0 + r]);
        }
    }
}
