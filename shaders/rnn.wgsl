// Vanilla RNN cell for one hidden unit of one batch row: h' = act(xg + hg), act = tanh or
// relu (const RELU, set by the host). GPU twin of src/cells/rnn.rs.
// xg.x = W_ih·x + b_ih, hg.x = W_hh·h + b_hh (other components unused).

fn cell_update(xg: vec4<f32>, hg: vec4<f32>, h_prev: f32, c_prev: f32) -> vec2<f32> {
    let a = xg.x + hg.x;
    if (RELU) {
        return vec2<f32>(relu(a), 0.0);
    }
    return vec2<f32>(tanh_safe(a), 0.0);
}

// Backward of cell_update for one unit: given dL/dh' (and dL/dc', unused), returns the
// gradients of xg and hg, of h_prev through other paths (none) and of c_prev (none).
fn cell_backward(xg: vec4<f32>, hg: vec4<f32>, h_prev: f32, c_prev: f32, dh: f32, dc: f32) -> CellGrad {
    let a = xg.x + hg.x;
    var d = 0.0;
    if (RELU) {
        // NaN stays NaN, so that a gradient through it does not become 0
        d = select(select(0.0, 1.0, a > 0.0), a, is_nan(a));
    } else {
        let y = tanh_safe(a);
        d = 1.0 - y * y;
    }
    let da = vec4<f32>(dh * d, 0.0, 0.0, 0.0);
    return CellGrad(da, da, 0.0, 0.0);
}
