// Weight gradient C = Aᵀ·B, reduced over the R = T*B rows in a fixed order (deterministic,
// no atomics): one invocation computes a 4 x 8 block of C (rows i0..i0+4 of Aᵀ, columns
// j0..j0+8 of B), loading per row r one vec4 of A and two of B.
//
//   a [R, lda] (vec4 rows; the block's columns start at a_off)   e.g. dG of one direction
//   b [R, ldb] (vec4 rows; columns start at b_off)               e.g. X or h_prev
//   c [N1, N2] (row-major, ldc = N2, starting at c_off)          e.g. dW_ih rows of that dir
// N1, N2, lda, ldb, a_off, b_off are in floats and multiples of 4 except N1 (bounds-checked).

const WG: u32 = 64u;

struct WgradParams {
    R: u32,
    N1: u32,
    N2: u32,
    lda4: u32,
    ldb4: u32,
    a_off4: u32,
    b_off4: u32,
    c_off: u32,
}

@group(0) @binding(0) var<uniform> p: WgradParams;
@group(0) @binding(1) var<storage, read> a: array<V4>;
@group(0) @binding(2) var<storage, read> bm: array<V4>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let jb = gid.x;          // block of 8 columns
    let ib = gid.y;          // block of 4 rows
    let j0 = jb * 8u;
    let i0 = ib * 4u;
    if (j0 >= p.N2 || i0 >= p.N1) {
        return;
    }
    let j1 = min(j0 + 4u, p.N2 - 4u);   // second column block (N2 is a multiple of 4)
    var acc0 = mat4x4<f32>(vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0));
    var acc1 = acc0;
    for (var r = 0u; r < p.R; r++) {
        let av = ld4(a[r * p.lda4 + p.a_off4 + ib]);
        let b0 = ld4(bm[r * p.ldb4 + p.b_off4 + j0 / 4u]);
        let b1 = ld4(bm[r * p.ldb4 + p.b_off4 + j1 / 4u]);
        // Outer products: column q of acc holds C[i0..i0+4, j+q].
        acc0 += mat4x4<f32>(av * b0.x, av * b0.y, av * b0.z, av * b0.w);
        acc1 += mat4x4<f32>(av * b1.x, av * b1.y, av * b1.z, av * b1.w);
    }
    for (var ii = 0u; ii < 4u; ii++) {
        let i = i0 + ii;
        if (i < p.N1) {
            for (var q = 0u; q < 4u; q++) {
                c[p.c_off + i * p.N2 + j0 + q] = acc0[q][ii];
                if (j0 + 4u < p.N2) {
                    c[p.c_off + i * p.N2 + j0 + 4u + q] = acc1[q][ii];
                }
            }
        }
    }
}
