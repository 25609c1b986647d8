// Backward-step bindings of the H-strided buffers when H % 4 == 0: every 4-unit group
// starts on a vec4, so each load or store below is one vector access (n is always 4).
// Shapes in backward_cell.wgsl; i is a float index, a multiple of 4.

@group(0) @binding(1) var<storage, read> xg: array<V4>;
@group(0) @binding(2) var<storage, read> hg: array<V4>;
@group(0) @binding(8) var<storage, read_write> dgx: array<vec4<f32>>;
@group(0) @binding(11) var<storage, read_write> dc: array<vec4<f32>>;

fn ld_xg(i: u32, n: u32) -> vec4<f32> { return ld4(xg[i / 4u]); }
fn ld_hg(i: u32, n: u32) -> vec4<f32> { return ld4(hg[i / 4u]); }
fn ld_cprev(i: u32, n: u32) -> vec4<f32> { return ld4(hg[(p.cprev_off + i) / 4u]); }
fn ld_dc(i: u32, n: u32) -> vec4<f32> { return dc[i / 4u]; }
fn st_dgx(i: u32, v: vec4<f32>, n: u32) { dgx[i / 4u] = v; }
fn st_dgh(i: u32, v: vec4<f32>, n: u32) { dgh[i / 4u] = v; }
fn st_dc(i: u32, v: vec4<f32>, n: u32) { dc[i / 4u] = v; }
