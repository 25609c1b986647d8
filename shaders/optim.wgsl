// One optimizer update of one parameter element in place: g = clip(scale·grad), then SGD
// with momentum, Adagrad or Adam (with bias correction), as in PyTorch's torch.optim.
// `scale` is the global-norm clipping factor from grad_norm.wgsl (stats[2]).
//
//   param, grad, m, v [N] (m: momentum / first moment / Adagrad sum; v: Adam second moment)

const WG: u32 = 64u;
const SGD: u32 = 0u;
const ADAGRAD: u32 = 1u;
const ADAM: u32 = 2u;

struct OptParams {
    n: u32,
    kind: u32,
    lr: f32,
    momentum: f32,    // SGD momentum | Adam beta1
    beta2: f32,
    eps: f32,
    bc1: f32,         // Adam: 1 - beta1^t
    bc2: f32,         // Adam: 1 - beta2^t
    clip_value: f32,  // <= 0: none
    pad0: u32,
    pad1: u32,
    pad2: u32,
}

@group(0) @binding(0) var<uniform> p: OptParams;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> m: array<f32>;
@group(0) @binding(4) var<storage, read_write> v: array<f32>;
@group(0) @binding(5) var<storage, read> stats: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x + gid.y * 65535u * WG;
    if (i >= p.n) {
        return;
    }
    var g = grad[i] * stats[2];
    if (p.clip_value > 0.0) {
        g = clamp(g, -p.clip_value, p.clip_value);
    }
    if (p.kind == SGD) {
        var step = g;
        if (p.momentum > 0.0) {
            let buf = p.momentum * m[i] + g;
            m[i] = buf;
            step = buf;
        }
        param[i] = param[i] - p.lr * step;
    } else if (p.kind == ADAGRAD) {
        let s = m[i] + g * g;
        m[i] = s;
        param[i] = param[i] - p.lr * g / (sqrt(s) + p.eps);
    } else {
        let m1 = p.momentum * m[i] + (1.0 - p.momentum) * g;
        let v1 = p.beta2 * v[i] + (1.0 - p.beta2) * g * g;
        m[i] = m1;
        v[i] = v1;
        let mhat = m1 / p.bc1;
        let vhat = v1 / p.bc2;
        param[i] = param[i] - p.lr * mhat / (sqrt(vhat) + p.eps);
    }
}
