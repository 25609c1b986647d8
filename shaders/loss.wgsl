// Loss of one row (one token) of the output head and its gradient: one invocation owns row
// r of logits [R, Op] (Op = O rounded up to 4). Cross-entropy: softmax over the O logits
// (max subtracted), loss_r = -log p[target_r], dlogits = (p - onehot) / R. MSE: loss_r =
// Σ_o (y_o - target_o)² / (R·O), dlogits = 2 (y - target) / (R·O). Rows with
// weight_r = 0 (padding) contribute nothing. Fixed-order sums: deterministic.
//
//   logits  [R, Op];  dlogits [R, Op] (pad columns stay 0)
//   classes [R] u32 (cross-entropy) | targets [R, O] (MSE)
//   row_loss [R]

const WG: u32 = 64u;

struct LossParams {
    R: u32,
    O: u32,
    Op: u32,
    mse: u32,
    inv_count: f32,   // 1/R (cross-entropy) or 1/(R·O) (MSE)
    pad0: u32,
    pad1: u32,
    pad2: u32,
}

@group(0) @binding(0) var<uniform> p: LossParams;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> classes: array<u32>;
@group(0) @binding(3) var<storage, read> targets: array<f32>;
@group(0) @binding(4) var<storage, read_write> dlogits: array<f32>;
@group(0) @binding(5) var<storage, read_write> row_loss: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let r = gid.x;
    if (r >= p.R) {
        return;
    }
    let base = r * p.Op;
    if (p.mse != 0u) {
        var l = 0.0;
        for (var o = 0u; o < p.O; o++) {
            let e = logits[base + o] - targets[r * p.O + o];
            l += e * e;
            dlogits[base + o] = 2.0 * e * p.inv_count;
        }
        row_loss[r] = l * p.inv_count;
        return;
    }
    var m = logits[base];
    for (var o = 1u; o < p.O; o++) {
        m = max(m, logits[base + o]);
    }
    var z = 0.0;
    for (var o = 0u; o < p.O; o++) {
        z += exp(logits[base + o] - m);
    }
    let cls = classes[r];
    for (var o = 0u; o < p.O; o++) {
        let pr = exp(logits[base + o] - m) / z;
        dlogits[base + o] = (pr - select(0.0, 1.0, o == cls)) * p.inv_count;
    }
    row_loss[r] = (log(z) + m - logits[base + min(cls, p.O - 1u)]) * p.inv_count;
}
