// Backward of the linear output head y = h·W_yᵀ + b_y over R rows. Entry `weights`: one
// invocation computes a 4 x 4 block of dW_y = dYᵀ·H (rows o0..o0+4, columns k0..k0+4),
// reducing over the R rows in order. Entry `inputs`: one invocation computes 4 columns of
// one row of dH = dY·W_y. Entry `bias`: one invocation sums one column of dY.
//
//   dy  [R, Op]   (dlogits; pad columns 0)      h  [R, Kp] (top RNN layer output)
//   w_y [Op, Kp]  (pad rows 0)                  dw_y [Op, Kp]; db_y [Op]; dh [R, Kp]

const WG: u32 = 64u;

struct HeadParams {
    R: u32,
    Op4: u32,
    Kp4: u32,
    pad: u32,
}

@group(0) @binding(0) var<uniform> p: HeadParams;
@group(0) @binding(1) var<storage, read> dy: array<V4>;
@group(0) @binding(2) var<storage, read> h: array<V4>;
@group(0) @binding(3) var<storage, read> w_y: array<V4>;
@group(0) @binding(4) var<storage, read_write> dw_y: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> db_y: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> dh: array<vec4<f32>>;

@compute @workgroup_size(WG)
fn weights(@builtin(global_invocation_id) gid: vec3<u32>) {
    let kb = gid.x;
    let ob = gid.y;
    if (kb >= p.Kp4 || ob >= p.Op4) {
        return;
    }
    var acc = mat4x4<f32>(vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0));
    for (var r = 0u; r < p.R; r++) {
        let d = ld4(dy[r * p.Op4 + ob]);
        let x = ld4(h[r * p.Kp4 + kb]);
        // Row q of the block: dW_y[o0+q, k0..k0+4] += d[q] * x.
        acc += mat4x4<f32>(d.x * x, d.y * x, d.z * x, d.w * x);
    }
    for (var q = 0u; q < 4u; q++) {
        dw_y[(ob * 4u + q) * p.Kp4 + kb] = acc[q];
    }
}

@compute @workgroup_size(WG)
fn inputs(@builtin(global_invocation_id) gid: vec3<u32>) {
    let kb = gid.x;
    let r = gid.y;
    if (kb >= p.Kp4 || r >= p.R) {
        return;
    }
    var acc = vec4<f32>(0.0);
    for (var ob = 0u; ob < p.Op4; ob++) {
        let d = ld4(dy[r * p.Op4 + ob]);
        acc += mat4x4<f32>(ld4(w_y[(ob * 4u) * p.Kp4 + kb]), ld4(w_y[(ob * 4u + 1u) * p.Kp4 + kb]),
                           ld4(w_y[(ob * 4u + 2u) * p.Kp4 + kb]), ld4(w_y[(ob * 4u + 3u) * p.Kp4 + kb])) * d;
    }
    dh[r * p.Kp4 + kb] = acc;
}

@compute @workgroup_size(WG)
fn bias(@builtin(global_invocation_id) gid: vec3<u32>) {
    let ob = gid.x;
    if (ob >= p.Op4) {
        return;
    }
    var s = vec4<f32>(0.0);
    for (var r = 0u; r < p.R; r++) {
        s += ld4(dy[r * p.Op4 + ob]);
    }
    db_y[ob] = s;
}
