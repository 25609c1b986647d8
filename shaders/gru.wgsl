// GRU cell for one hidden unit of one batch row, gates (r, z, n) in xg/hg components
// (x, y, z): n = tanh(xg_n + r*hg_n), h' = (1-z)*n + z*h. GPU twin of src/cells/gru.rs.

fn cell_update(xg: vec4<f32>, hg: vec4<f32>, h_prev: f32, c_prev: f32) -> vec2<f32> {
    let r = sigmoid(xg.x + hg.x);
    let z = sigmoid(xg.y + hg.y);
    let n = tanh_safe(xg.z + r * hg.z);
    return vec2<f32>((1.0 - z) * n + z * h_prev, 0.0);
}

// Backward of cell_update for one unit: recomputes the gates, then returns the gradients
// of xg and hg (they differ in the n gate), of h_prev through z*h, and of c_prev (none).
fn cell_backward(xg: vec4<f32>, hg: vec4<f32>, h_prev: f32, c_prev: f32, dh: f32, dc: f32) -> CellGrad {
    let r = sigmoid(xg.x + hg.x);
    let z = sigmoid(xg.y + hg.y);
    let n = tanh_safe(xg.z + r * hg.z);
    let dan = dh * (1.0 - z) * (1.0 - n * n);
    let dar = dan * hg.z * r * (1.0 - r);
    let daz = dh * (h_prev - n) * z * (1.0 - z);
    return CellGrad(vec4<f32>(dar, daz, dan, 0.0), vec4<f32>(dar, daz, dan * r, 0.0), dh * z, 0.0);
}
