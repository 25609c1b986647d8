// minGRU for U hidden units of one batch row (scan_common.wgsl), pre-activations (z, h̃) in
// v.g0, v.g1: h_t = a·h_{t-1} + b with a = 1 - z = σ(-v_z), b = z·g(v_h). GPU twin of
// src/cells/linear.rs; the scan kernels (scan*.wgsl) call these.

// (a, b) of one step.
fn lin_coeffs(v: Pre) -> Affine {
    return Affine(sigmoid_s(-v.g0), sigmoid_s(v.g0) * positive(v.g1));
}

// dL/dv of one step from dL/dh_t (`dh`, the total reaching h_t) and h_{t-1}; dL/dh_{t-1}
// is a·dh, which the caller carries.
fn lin_backward(v: Pre, h_prev: S, dh: S) -> Pre {
    let z = sigmoid_s(v.g0);
    let dz = dh * (positive(v.g1) - h_prev) * z * sigmoid_s(-v.g0);
    return Pre(dz, dh * z * positive_derivative(v.g1), S(0.0));
}
