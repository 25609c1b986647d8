// GRU cell for one hidden unit of one batch row, gates (r, z, n) in xg/hg components
// (x, y, z): n = tanh(xg_n + r*hg_n), h' = (1-z)*n + z*h. GPU twin of src/cells/gru.rs.

fn cell_update(xg: vec4<f32>, hg: vec4<f32>, h_prev: f32, c_prev: f32) -> vec2<f32> {
    let r = sigmoid(xg.x + hg.x);
    let z = sigmoid(xg.y + hg.y);
    let n = tanh_safe(xg.z + r * hg.z);
    return vec2<f32>((1.0 - z) * n + z * h_prev, 0.0);
}
