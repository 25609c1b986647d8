// Parameters and bindings shared by the dL/dx kernels (gemm_nn, gemm_nn_subgroup), which
// the host prepends: C = A·B with B = W_ih read in place.
//
//   a  [M, D*GHp]    dGx (vec4 rows; columns GH..GHp of each direction are 0)
//   bw [D*GH, N]     W_ih of the layer, the model's buffer read in place (N = Kp)
//   c  [M, N]        dL/dx
// N is a multiple of 4 (Kp); N4 = N/4.

struct NnParams {
    M: u32,
    N4: u32,
    D: u32,
    GH: u32,
    GHp4: u32,
    pad0: u32,
    pad1: u32,
    pad2: u32,
}

@group(0) @binding(0) var<uniform> p: NnParams;
@group(0) @binding(1) var<storage, read> a: array<V4>;
@group(0) @binding(2) var<storage, read> bw: array<W4>;
@group(0) @binding(3) var<storage, read_write> c: array<vec4<f32>>;
