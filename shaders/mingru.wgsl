// minGRU for one hidden unit of one batch row, pre-activations (z, h̃) in v.x, v.y:
// h_t = a·h_{t-1} + b with a = 1 - z = σ(-v_z), b = z·g(v_h). GPU twin of
// src/cells/linear.rs; the scan kernels (scan*.wgsl) call these.

// (a, b) of one step.
fn lin_coeffs(v: vec4<f32>) -> vec2<f32> {
    return vec2<f32>(sigmoid(-v.x), sigmoid(v.x) * positive(v.y));
}

// dL/dv of one step from dL/dh_t (`dh`, the total reaching h_t) and h_{t-1}; dL/dh_{t-1}
// is a·dh, which the caller carries.
fn lin_backward(v: vec4<f32>, h_prev: f32, dh: f32) -> vec4<f32> {
    let z = sigmoid(v.x);
    let dz = dh * (positive(v.y) - h_prev) * z * sigmoid(-v.x);
    return vec4<f32>(dz, dh * z * positive_derivative(v.y), 0.0, 0.0);
}
