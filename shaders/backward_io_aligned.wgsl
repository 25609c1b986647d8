// Backward-step bindings of the H-strided buffers when H % 4 == 0: every 4-unit group
// starts on a vec4, so each load or store below is one vector access (n is always 4).
// Shapes in backward_cell.wgsl; i is a float index, a multiple of 4.

@group(0) @binding(1) var<storage, read> xg: array<V4>;
@group(0) @binding(2) var<storage, read> hg: array<Saved4>;
@group(0) @binding(8) var<storage, read_write> dgx: array<vec4<f32>>;
@group(0) @binding(11) var<storage, read_write> dc: array<vec4<f32>>;

fn ld_xg(i: u32, n: u32) -> vec4<f32> { return ld4(xg[i / 4u]); }
// hg and cprev hold step t in the reserve's precision (reserve_*.wgsl); i indexes its rows
fn ld_hg(i: u32, t: u32, n: u32) -> vec4<f32> { return saved_values(hg[i / 4u], t); }
fn ld_cprev(i: u32, t: u32, n: u32) -> vec4<f32> {
    return saved_values(hg[(p.cprev_off + i) / 4u], t);
}
fn ld_dc(i: u32, n: u32) -> vec4<f32> { return dc[i / 4u]; }
fn st_dgx(i: u32, v: vec4<f32>, n: u32) { dgx[i / 4u] = v; }
fn st_dgh(i: u32, v: vec4<f32>, n: u32) { dgh[i / 4u] = v; }
fn st_dc(i: u32, v: vec4<f32>, n: u32) { dc[i / 4u] = v; }
