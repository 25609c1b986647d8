// Bias gradient: one invocation sums one column of A [R, lda] over the R rows in a fixed
// order (deterministic): c[c_off + n] = Σ_r a[r*lda + a_off + n] for n < N.

const WG: u32 = 64u;

struct ColsumParams {
    R: u32,
    N: u32,
    lda: u32,
    a_off: u32,
    c_off: u32,
    pad0: u32,
    pad1: u32,
    pad2: u32,
}

@group(0) @binding(0) var<uniform> p: ColsumParams;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read_write> c: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let n = gid.x;
    if (n >= p.N) {
        return;
    }
    var s = 0.0;
    for (var r = 0u; r < p.R; r++) {
        s += a[r * p.lda + p.a_off + n];
    }
    c[p.c_off + n] = s;
}
