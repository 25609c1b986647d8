// Sum of the S segment partials weight_grad_subgroup wrote, in segment order (fixed order:
// bitwise repeatable): one invocation sums one vec4 of a partial and stores its 4 floats
// to the weight gradient (first N1*N2 floats of a partial) or the bias gradient (next N1).
//
//   part [S, part_ld]   (part_ld = N1*N2 + N1 rounded up to 4, a multiple of 4)
//   c    [N1, N2] at c_off;  db [N1] at db_off  (row-major, as the weights' GPU layouts)

const WG: u32 = 64u;

struct ReduceParams {
    S: u32,
    part_ld4: u32,
    NC: u32,          // N1*N2: floats of C in a partial
    N1: u32,
    c_off: u32,
    db_off: u32,
    pad0: u32,
    pad1: u32,
}

@group(0) @binding(0) var<uniform> p: ReduceParams;
@group(0) @binding(1) var<storage, read> part: array<V4>;
@group(0) @binding(2) var<storage, read_write> c: array<f32>;
@group(0) @binding(3) var<storage, read_write> db: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let q = gid.x;
    if (q >= p.part_ld4) {
        return;
    }
    var v = ld4(part[q]);
    for (var z = 1u; z < p.S; z++) {
        v += ld4(part[z * p.part_ld4 + q]);
    }
    for (var e = 0u; e < 4u; e++) {
        let i = q * 4u + e;
        if (i < p.NC) {
            c[p.c_off + i] = v[e];
        } else if (i - p.NC < p.N1) {
            db[p.db_off + i - p.NC] = v[e];
        }
    }
}
