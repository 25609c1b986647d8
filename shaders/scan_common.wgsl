// Helpers shared by the forward and backward scans (scan.wgsl, scan_backward.wgsl), whose
// parameter block `p` both name T, B, H and D. An invocation handles U consecutive hidden
// units at once (U = 4 where H % 4 == 0: vec4 loads, which on lavapipe cost what a scalar
// load does; else U = 1): values of one gate for those units are an `S` (vec4<f32> or f32),
// and the buffers are arrays of S indexed by float index / U. The host prepends U and S.

// The pre-activations of the units j..j+U-1 (minGRU uses g0, g1; minLSTM g0, g1, g2).
struct Pre {
    g0: S,
    g1: S,
    g2: S,
}

// A step as an affine map of the state: x -> a·x + b.
struct Affine {
    a: S,
    b: S,
}

fn sigmoid_s(x: S) -> S {
    return 1.0 / (1.0 + exp(-x));
}

// The linear cells' positive activation g: v + 0.5 for v >= 0, σ(v) below (NaN stays NaN).
fn positive(v: S) -> S {
    return select(sigmoid_s(v), v + 0.5, v >= S(0.0));
}

// g'(v).
fn positive_derivative(v: S) -> S {
    let s = sigmoid_s(v);
    return select(s * (1.0 - s), S(1.0), v >= S(0.0));
}

// The pre-activations of units j.. of row b at time t (xg [T*B, D*GH]).
fn pre_activations(t: u32, b: u32, dir: u32, j: u32) -> Pre {
    let GH = G * p.H;
    let row = (t * p.B + b) * p.D * GH + dir * GH + j;
    var v = Pre(S(0.0), S(0.0), S(0.0));
    v.g0 = xg[row / U];
    v.g1 = xg[(row + p.H) / U];
    if (G > 2u) {
        v.g2 = xg[(row + 2u * p.H) / U];
    }
    return v;
}

// Time of forward step s for a row of length len (s < len): t = s (dir 0), len-1-s (dir 1).
fn scan_time(dir: u32, s: u32, len: u32) -> u32 {
    return select(s, len - 1u - s, dir == 1u);
}
