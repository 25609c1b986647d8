// Parameters and bindings shared by the input-projection GEMMs (gemm_reg, gemm_subgroup,
// gemm_tiled), which the host prepends: C = A·Bᵀ + bias.
//
//   a    [M, Kp]  (X of one layer: M = T*B; rows padded to Kp, a multiple of 4, with zeros)
//   bw   [N, Kp]  (W_ih of both directions: N = D*G*H)
//   bias [N]      (b_ih)
//   c    [M, N]   (xg)

struct GemmParams {
    M: u32,
    N: u32,
    Kp4: u32,
    pad: u32,
}

@group(0) @binding(0) var<uniform> p: GemmParams;
@group(0) @binding(1) var<storage, read> a: array<V4>;
@group(0) @binding(2) var<storage, read> bw: array<W4>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;
