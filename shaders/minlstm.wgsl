// minLSTM for U hidden units of one batch row (scan_common.wgsl), pre-activations (f, i, h̃)
// in v.g0, v.g1, v.g2: h_t = f'·h_{t-1} + i'·g(v_h) with f' = f/(f+i), i' = i/(f+i). GPU
// twin of src/cells/linear.rs; the scan kernels (scan*.wgsl) call these.
//
// f' is computed as σ(u), u = softplus(-v_i) - softplus(-v_f) = log f - log i: the same
// number, but f + i never underflows to 0 (0/0) when both gates are far below 0.

fn softplus(x: S) -> S {
    return max(x, S(0.0)) + log(1.0 + exp(-abs(x)));
}

// (a, b) of one step.
fn lin_coeffs(v: Pre) -> Affine {
    let u = softplus(-v.g1) - softplus(-v.g0);
    return Affine(sigmoid_s(u), sigmoid_s(-u) * positive(v.g2));
}

// dL/dv of one step from dL/dh_t (`dh`) and h_{t-1}; dL/dh_{t-1} = f'·dh (the caller's).
// h = f'·h_prev + (1 - f')·g, so dL/df' = dh·(h_prev - g) and df'/du = f'·i'.
fn lin_backward(v: Pre, h_prev: S, dh: S) -> Pre {
    let u = softplus(-v.g1) - softplus(-v.g0);
    let fi = sigmoid_s(u) * sigmoid_s(-u);
    let du = dh * (h_prev - positive(v.g2)) * fi;
    let dv_h = dh * sigmoid_s(-u) * positive_derivative(v.g2);
    return Pre(du * sigmoid_s(-v.g0), -du * sigmoid_s(-v.g1), dv_h);
}
