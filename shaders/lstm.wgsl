// LSTM cell for one hidden unit of one batch row, gates (i, f, g, o) in xg/hg components
// (x, y, z, w): c' = f*c + i*g, h' = o*tanh(c'). Returns (h', c'). GPU twin of
// src/cells/lstm.rs.

fn cell_update(xg: vec4<f32>, hg: vec4<f32>, h_prev: f32, c_prev: f32) -> vec2<f32> {
    let a = xg + hg;
    let i = sigmoid(a.x);
    let f = sigmoid(a.y);
    let g = tanh_safe(a.z);
    let o = sigmoid(a.w);
    let c = f * c_prev + i * g;
    return vec2<f32>(o * tanh_safe(c), c);
}

// Backward of cell_update for one unit: recomputes the gates, then returns the gradients
// of xg and hg (equal for LSTM), of h_prev through other paths (none) and of c_prev.
fn cell_backward(xg: vec4<f32>, hg: vec4<f32>, h_prev: f32, c_prev: f32, dh: f32, dc: f32) -> CellGrad {
    let a = xg + hg;
    let i = sigmoid(a.x);
    let f = sigmoid(a.y);
    let g = tanh_safe(a.z);
    let o = sigmoid(a.w);
    let c = f * c_prev + i * g;
    let tc = tanh_safe(c);
    let dct = dc + dh * o * (1.0 - tc * tc);
    let da = vec4<f32>(dct * g * i * (1.0 - i), dct * c_prev * f * (1.0 - f), dct * i * (1.0 - g * g), dh * tc * o * (1.0 - o));
    return CellGrad(da, da, 0.0, dct * f);
}
