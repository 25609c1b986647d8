// Global gradient norm for clipping (Pascanu et al. 2013), in a fixed order so it is
// bitwise repeatable. Entry `partial`: one invocation sums the squares of one CHUNK-sized
// slice of one gradient buffer into partials[slot + i]. Entry `finish` (one invocation):
// norm = sqrt(Σ partials in order), scale = min(1, max_norm / norm) when clipping, and
// the summed loss; written to stats = (loss, norm, scale, clipped).

const WG: u32 = 64u;
const CHUNK: u32 = 1024u;

struct NormParams {
    n: u32,          // elements in this gradient buffer (partial) | partial count (finish)
    slot: u32,       // first partial of this buffer
    rows: u32,       // row_loss entries (finish)
    max_norm: f32,   // <= 0: no clipping
}

@group(0) @binding(0) var<uniform> p: NormParams;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read_write> partials: array<f32>;
@group(0) @binding(3) var<storage, read_write> stats: array<f32>;

@compute @workgroup_size(WG)
fn partial(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x;
    let start = c * CHUNK;
    if (start >= p.n) {
        return;
    }
    let end = min(start + CHUNK, p.n);
    var s = 0.0;
    for (var i = start; i < end; i++) {
        s += g[i] * g[i];
    }
    partials[p.slot + c] = s;
}

// Here `g` is the row losses [rows].
@compute @workgroup_size(1)
fn finish() {
    var s = 0.0;
    for (var i = 0u; i < p.n; i++) {
        s += partials[i];
    }
    var loss = 0.0;
    for (var i = 0u; i < p.rows; i++) {
        loss += g[i];
    }
    let norm = sqrt(s);
    var scale = 1.0;
    if (p.max_norm > 0.0 && norm > p.max_norm) {
        scale = p.max_norm / norm;
    }
    stats[0] = loss;
    stats[1] = norm;
    stats[2] = scale;
    stats[3] = select(0.0, 1.0, scale < 1.0);
}
