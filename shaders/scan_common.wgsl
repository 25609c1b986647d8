// Helpers shared by the forward and backward scans (scan.wgsl, scan_backward.wgsl), whose
// parameter block `p` both name T, B, H and D; each declares `xg` [T*B, D*GH].

// The G pre-activations of unit j of row b at time t.
fn pre_activations(t: u32, b: u32, dir: u32, j: u32) -> vec4<f32> {
    let GH = G * p.H;
    let row = (t * p.B + b) * p.D * GH + dir * GH + j;
    var v = vec4<f32>(0.0);
    for (var g = 0u; g < G; g++) {
        v[g] = xg[row + g * p.H];
    }
    return v;
}

// Time of forward step s for a row of length len (s < len): t = s (dir 0), len-1-s (dir 1).
fn scan_time(dir: u32, s: u32, len: u32) -> u32 {
    return select(s, len - 1u - s, dir == 1u);
}
