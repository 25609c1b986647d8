// Backward-step bindings of the H-strided buffers when H % 4 != 0: a 4-unit group may
// straddle vec4 boundaries, so units are accessed one by one, only the n < 4 that exist
// (units past H read as 0). Shapes in backward_cell.wgsl; i is a float index.

@group(0) @binding(1) var<storage, read> xg: array<f32>;
@group(0) @binding(2) var<storage, read> hg: array<Saved>;
@group(0) @binding(8) var<storage, read_write> dgx: array<f32>;
@group(0) @binding(11) var<storage, read_write> dc: array<f32>;

fn ld_xg(i: u32, n: u32) -> vec4<f32> {
    var v = vec4<f32>(0.0);
    for (var u = 0u; u < n; u++) { v[u] = xg[i + u]; }
    return v;
}
// hg and cprev hold step t in the reserve's precision (reserve_*.wgsl); i indexes its rows
fn ld_hg(i: u32, t: u32, n: u32) -> vec4<f32> {
    var v = vec4<f32>(0.0);
    for (var u = 0u; u < n; u++) { v[u] = saved_value(hg[i + u], t); }
    return v;
}
fn ld_cprev(i: u32, t: u32, n: u32) -> vec4<f32> {
    var v = vec4<f32>(0.0);
    for (var u = 0u; u < n; u++) { v[u] = saved_value(hg[p.cprev_off + i + u], t); }
    return v;
}
fn ld_dc(i: u32, n: u32) -> vec4<f32> {
    var v = vec4<f32>(0.0);
    for (var u = 0u; u < n; u++) { v[u] = dc[i + u]; }
    return v;
}
fn st_dgx(i: u32, v: vec4<f32>, n: u32) {
    for (var u = 0u; u < n; u++) { dgx[i + u] = v[u]; }
}
fn st_dgh(i: u32, v: vec4<f32>, n: u32) {
    for (var u = 0u; u < n; u++) { dgh[(i + u) / 4u][(i + u) % 4u] = v[u]; }
}
fn st_dc(i: u32, v: vec4<f32>, n: u32) {
    for (var u = 0u; u < n; u++) { dc[i + u] = v[u]; }
}
