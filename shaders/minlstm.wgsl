// minLSTM for one hidden unit of one batch row, pre-activations (f, i, h̃) in v.x, v.y,
// v.z: h_t = f'·h_{t-1} + i'·g(v_h) with f' = f/(f+i), i' = i/(f+i). GPU twin of
// src/cells/linear.rs; the scan kernels (scan*.wgsl) call these.
//
// f' is computed as σ(u), u = softplus(-v_i) - softplus(-v_f) = log f - log i: the same
// number, but f + i never underflows to 0 (0/0) when both gates are far below 0.

fn softplus(x: f32) -> f32 {
    return max(x, 0.0) + log(1.0 + exp(-abs(x)));
}

// (a, b) of one step.
fn lin_coeffs(v: vec4<f32>) -> vec2<f32> {
    let u = softplus(-v.y) - softplus(-v.x);
    return vec2<f32>(sigmoid(u), sigmoid(-u) * positive(v.z));
}

// dL/dv of one step from dL/dh_t (`dh`) and h_{t-1}; dL/dh_{t-1} = f'·dh (the caller's).
// h = f'·h_prev + (1 - f')·g, so dL/df' = dh·(h_prev - g) and df'/du = f'·i'.
fn lin_backward(v: vec4<f32>, h_prev: f32, dh: f32) -> vec4<f32> {
    let u = softplus(-v.y) - softplus(-v.x);
    let fi = sigmoid(u) * sigmoid(-u);
    let du = dh * (h_prev - positive(v.z)) * fi;
    let dv_h = dh * sigmoid(-u) * positive_derivative(v.z);
    return vec4<f32>(du * sigmoid(-v.x), -du * sigmoid(-v.y), dv_h, 0.0);
}
