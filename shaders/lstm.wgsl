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
