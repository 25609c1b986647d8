// Fused recurrent step with workgroup-shared tiles (the classic layout for discrete GPUs):
// a workgroup of WG invocations owns WG hidden units for RB batch rows; the RB rows of
// h_{t-1} are staged chunk by chunk (KC vec4 at a time) in workgroup memory and each
// invocation computes its unit's G gates for the RB rows, then bias, cell and state update
// as in step_reg.

const WG: u32 = 64u;
const RB: u32 = 4u;
const KC: u32 = 16u;   // vec4 chunks of h staged per round (64 floats per row)

var<workgroup> h_tile: array<vec4<f32>, 64>;   // [RB, KC]

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let j = gid.x;
    let jw = min(j, p.H - 1u);
    let b0 = gid.y * RB;
    let dir = gid.z;
    let hb = dir * p.B * p.Hp4;

    var acc: array<vec4<f32>, RB>;
    for (var r = 0u; r < RB; r++) {
        acc[r] = vec4<f32>(0.0);
    }
    for (var k0 = 0u; k0 < p.Hp4; k0 += KC) {
        // RB*KC = 64 = WG: each invocation stages one vec4 (zero past the row's end).
        let r = li / KC;
        let k = k0 + li % KC;
        let b = min(b0 + r, p.B - 1u);
        h_tile[li] = select(vec4<f32>(0.0), ld4(h_in[hb + b * p.Hp4 + min(k, p.Hp4 - 1u)]), k < p.Hp4);
        workgroupBarrier();
        let kn = min(KC, p.Hp4 - k0);
        for (var kk = 0u; kk < kn; kk++) {
            let wm = w_cols(dir, jw, k0 + kk);
            for (var rr = 0u; rr < RB; rr++) {
                acc[rr] += h_tile[rr * KC + kk] * wm;
            }
        }
        workgroupBarrier();
    }
    if (j >= p.H || b0 >= p.B) {
        return;
    }
    let t = time_of(p, dir, p.step);
    let bh = hh_bias(dir, j);
    for (var r = 0u; r < RB; r++) {
        if (b0 + r < p.B) {
            finish_unit(t, b0 + r, dir, j, acc[r] + bh, hb, lengths[b0 + r]);
        }
    }
}
