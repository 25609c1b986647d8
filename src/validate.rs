//! The validation matrix: every kernel variant over shapes that exercise bounds checks,
//! compared with the CPU reference. Shared by `wgpu-rnn validate` and `cargo test`.

use crate::check::{compare, Comparison};
use crate::error::Result;
use crate::gpu::{ForwardOptions, Gpu, GpuModel, Input, Variant};
use crate::reference::{self, SeqBatch};
use crate::spec::{CellKind, Precision, RnnSpec};
use crate::weights::Weights;
use rand::{Rng, SeedableRng};

/// Forward-pass tolerance: |got - want| <= ATOL + RTOL*|want| (f32 kernels vs f64 loops).
pub const FORWARD_ATOL: f64 = 1e-5;
/// Forward-pass relative tolerance (see [`FORWARD_ATOL`]).
pub const FORWARD_RTOL: f64 = 1e-4;

/// One shape of the matrix.
#[derive(Clone, Copy, Debug)]
pub struct Case {
    /// The cell under test.
    pub cell: CellKind,
    /// I.
    pub input: usize,
    /// H.
    pub hidden: usize,
    /// L.
    pub layers: usize,
    /// Bidirectional (D = 2).
    pub bidirectional: bool,
    /// T.
    pub t: usize,
    /// B.
    pub b: usize,
    /// Pass per-row sequence lengths (uneven, the longest T) instead of all T.
    pub lengths: bool,
}

impl Case {
    /// The network of this case (with biases).
    pub fn spec(&self) -> RnnSpec {
        RnnSpec::new(self.cell, self.input, self.hidden)
            .layers(self.layers)
            .bidirectional(self.bidirectional)
    }
    /// One aligned line naming the case, for reports.
    pub fn label(&self) -> String {
        format!(
            "{:<8} I={:<3} H={:<3} L={} D={} T={:<3} B={:<2}{}",
            self.cell.name(),
            self.input,
            self.hidden,
            self.layers,
            if self.bidirectional { 2 } else { 1 },
            self.t,
            self.b,
            if self.lengths { " lengths" } else { "" }
        )
    }
}

/// The matrix of the issue: B in {1, 3, 64}, H in {1, 17, 128, 256}, T in {1, 7, 100},
/// every cell; layers, directions and lengths rotate over the cases (`full` takes the
/// product of those too). `quick` keeps the cases cheap enough for CI.
pub fn matrix(quick: bool, full: bool) -> Vec<Case> {
    let cells = CellKind::ALL;
    let (bs, hs, ts): (&[usize], &[usize], &[usize]) = if quick {
        (&[1, 3, 64], &[1, 17, 33], &[1, 7])
    } else {
        (&[1, 3, 64], &[1, 17, 128, 256], &[1, 7, 100])
    };
    let mut out = Vec::new();
    let mut idx = 0usize;
    for &cell in &cells {
        for &b in bs {
            for &hidden in hs {
                for &t in ts {
                    let variants: Vec<(usize, bool, bool)> = if full {
                        let mut v = vec![];
                        for layers in [1, 2] {
                            for bi in [false, true] {
                                for len in [false, true] {
                                    v.push((layers, bi, len));
                                }
                            }
                        }
                        v
                    } else {
                        vec![(
                            1 + idx % 2,
                            (idx / 2) % 2 == 1,
                            b > 1 && t > 1 && !idx.is_multiple_of(3),
                        )]
                    };
                    for (layers, bidirectional, lengths) in variants {
                        out.push(Case {
                            cell,
                            input: 13,
                            hidden,
                            layers,
                            bidirectional,
                            t,
                            b,
                            lengths,
                        });
                    }
                    idx += 1;
                }
            }
        }
    }
    if full {
        out.extend(loop_limit_cases());
    }
    out
}

/// Shapes at lavapipe's loop limit (65535 iterations per invocation, `kernels::
/// LAVAPIPE_LOOP_LIMIT`), where a kernel that looped too long would silently stop: the
/// streamed persistent kernel at H = 4092 (a chunk below 4 steps), fused-persistent over
/// 100 steps at every cell (many chunks), and a per-step kernel at H = 4092.
pub fn loop_limit_cases() -> Vec<Case> {
    let case = |cell, input, hidden, bidirectional, t, b, lengths| Case {
        cell,
        input,
        hidden,
        layers: 1,
        bidirectional,
        t,
        b,
        lengths,
    };
    vec![
        case(CellKind::RnnTanh, 8, 4092, false, 6, 1, false),
        case(CellKind::RnnTanh, 64, 256, true, 100, 16, true),
        case(CellKind::RnnRelu, 64, 256, false, 100, 16, false),
        case(CellKind::Lstm, 64, 128, false, 100, 40, true),
        case(CellKind::Gru, 64, 96, true, 100, 33, true),
    ]
}

/// Two shapes per cell: a ragged batch of 3 over 2 bidirectional layers with lengths
/// (H = 17, not a multiple of 4 or of any subgroup width), and B = 20 at H = 36 (a
/// partial row block of every subgroup kernel). Every variant runs on it forward and
/// backward in a few minutes: the check for other subgroup widths.
pub fn smoke_matrix() -> Vec<Case> {
    CellKind::ALL
        .into_iter()
        .flat_map(|cell| {
            [
                Case {
                    cell,
                    input: 13,
                    hidden: 17,
                    layers: 2,
                    bidirectional: true,
                    t: 6,
                    b: 3,
                    lengths: true,
                },
                Case {
                    cell,
                    input: 8,
                    hidden: 36,
                    layers: 1,
                    bidirectional: false,
                    t: 5,
                    b: 20,
                    lengths: false,
                },
            ]
        })
        .collect()
}

/// The backward matrix of the training issue: B in {1, 5, 32}, H in {7, 64, 256}, T in
/// {1, 9, 100}, every cell, layers / directions / lengths rotating (`quick`: the forward
/// quick matrix).
pub fn grad_matrix(quick: bool) -> Vec<Case> {
    if quick {
        return matrix(true, false);
    }
    let cells = CellKind::ALL;
    let mut out = Vec::new();
    let mut idx = 0usize;
    for &cell in &cells {
        for b in [1, 5, 32] {
            for hidden in [7, 64, 256] {
                for t in [1, 9, 100] {
                    let (layers, bidirectional, lengths) =
                        (1 + idx % 2, (idx / 2) % 2 == 1, b > 1 && t > 1 && !idx.is_multiple_of(3));
                    out.push(Case {
                        cell,
                        input: 11,
                        hidden,
                        layers,
                        bidirectional,
                        t,
                        b,
                        lengths,
                    });
                    idx += 1;
                }
            }
        }
    }
    out
}

/// Inputs and reference results of one case (seeded).
pub struct Prepared {
    /// The case these inputs are for.
    pub case: Case,
    /// PyTorch-initialised weights in f32, their spec's precision the one under test
    /// (the GPU model rounds them as it uploads them).
    pub weights: Weights,
    /// `weights` rounded to that precision: what the reference computes with.
    pub rounded: Weights,
    /// Input [T, B, I], from U(-1, 1).
    pub x: Vec<f32>,
    /// Initial hidden state [L*D, B, H], from U(-0.5, 0.5).
    pub h0: Vec<f32>,
    /// Initial cell state [L*D, B, H] (LSTM; None otherwise).
    pub c0: Option<Vec<f32>>,
    /// Per-row lengths \[B\] when `case.lengths`, else None.
    pub lengths: Option<Vec<i64>>,
    /// The f64 reference forward pass on these inputs.
    pub want: reference::Forward,
}

fn random(n: usize, seed: u64, scale: f64) -> Vec<f64> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..n).map(|_| (rng.random_range(-scale..scale) as f32) as f64).collect()
}

/// Draws the weights and inputs of `case` from `seed` and runs the CPU reference on them.
/// The inputs are rounded to f32 before the reference sees them, so both sides compute
/// on the same numbers.
pub fn prepare(case: Case, seed: u64) -> Result<Prepared> {
    prepare_at(case, seed, Precision::F32)
}

/// `prepare` for a model storing its weights in `precision`: the reference runs on the
/// weights rounded to it, so the rounding is the only approximation and f32's tolerances
/// apply.
pub fn prepare_at(case: Case, seed: u64, precision: Precision) -> Result<Prepared> {
    let spec = case.spec().with_precision(precision);
    let weights = Weights::init(spec, seed)?;
    let rounded = weights.to_precision(precision);
    let x = random(case.t * case.b * case.input, seed + 1, 1.0);
    let n_state = case.layers * spec.directions() * case.b * case.hidden;
    let h0 = random(n_state, seed + 2, 0.5);
    let c0 = case.cell.has_cell_state().then(|| random(n_state, seed + 3, 0.5));
    // Uneven lengths, the longest equal to T so the padded tail is exercised.
    let lengths: Option<Vec<usize>> = case
        .lengths
        .then(|| (0..case.b).map(|i| if i == 0 { case.t } else { 1 + (i * 7) % case.t }).collect());
    let want = reference::forward(
        &rounded,
        &SeqBatch {
            t: case.t,
            b: case.b,
            x: &x,
            h0: Some(&h0),
            c0: c0.as_deref(),
            lengths: lengths.as_deref(),
        },
    )?;
    let f = |v: &[f64]| v.iter().map(|&a| a as f32).collect::<Vec<f32>>();
    Ok(Prepared {
        case,
        x: f(&x),
        h0: f(&h0),
        c0: c0.as_deref().map(f),
        lengths: lengths.map(|l| l.iter().map(|&v| v as i64).collect()),
        weights,
        rounded,
        want,
    })
}

/// Runs one prepared case with one variant; returns comparisons of output, h_n and c_n.
pub fn check_forward(gpu: &Gpu, p: &Prepared, variant: Variant) -> Result<Vec<Comparison>> {
    let model = GpuModel::new(gpu, &p.weights)?;
    let input = Input {
        t: p.case.t,
        b: p.case.b,
        x: &p.x,
        h0: Some(&p.h0),
        c0: p.c0.as_deref(),
        lengths: p.lengths.as_deref(),
    };
    let got = model.forward(
        gpu,
        &input,
        ForwardOptions { variant: Some(variant), return_sequence: true },
    )?;
    let (a, r) = (FORWARD_ATOL, FORWARD_RTOL);
    let mut out = vec![
        compare("output", &got.output, &p.want.output, a, r),
        compare("h_n", &got.h_n, &p.want.h_n, a, r),
    ];
    if p.case.cell.has_cell_state() {
        out.push(compare("c_n", &got.c_n, &p.want.c_n, a, r));
    }
    Ok(out)
}

/// The variants this adapter supports for a spec.
pub fn variants_for(gpu: &Gpu, spec: &RnnSpec) -> Vec<Variant> {
    Variant::ALL.into_iter().filter(|v| v.unsupported(gpu, spec).is_none()).collect()
}

/// Gradient tolerance: f32 BPTT over up to 100 steps vs f64 loops.
pub const BACKWARD_ATOL: f64 = 1e-4;
/// Gradient relative tolerance (see [`BACKWARD_ATOL`]).
pub const BACKWARD_RTOL: f64 = 1e-3;

/// Runs forward+backward of a prepared case with a fixed random dL/d(output) and
/// dL/d(h_n) (and dL/d(c_n)) and compares every gradient with the reference.
pub fn check_backward(gpu: &Gpu, p: &Prepared, variant: Variant) -> Result<Vec<Comparison>> {
    use crate::gpu::backward::GradInput;
    let spec = p.weights.spec;
    let n_state = spec.num_layers * spec.directions() * p.case.b * spec.hidden_size;
    let dy = random(p.want.output.len(), 77, 1.0);
    let dhn = random(n_state, 78, 1.0);
    let dcn = spec.cell.has_cell_state().then(|| random(n_state, 79, 1.0));
    // a 16-bit reserve rounds what backward recomputes the gates from; so does the reference
    let mut fwd = p.want.clone();
    fwd.round_reserve();
    let want = reference::backward(&p.rounded, &fwd, &dy, Some(&dhn), dcn.as_deref())?;
    let slack = if spec.reserve_precision().is_16bit() {
        let exact = reference::backward(&p.rounded, &p.want, &dy, Some(&dhn), dcn.as_deref())?;
        reserve_slack(&want, &exact)
    } else {
        vec![0.0; want.tensors().len()]
    };
    let f = |v: &[f64]| v.iter().map(|&a| a as f32).collect::<Vec<f32>>();
    let (dyf, dhnf, dcnf) = (f(&dy), f(&dhn), dcn.as_deref().map(f));
    let model = GpuModel::new(gpu, &p.weights)?;
    let input = Input {
        t: p.case.t,
        b: p.case.b,
        x: &p.x,
        h0: Some(&p.h0),
        c0: p.c0.as_deref(),
        lengths: p.lengths.as_deref(),
    };
    let got = model.forward_backward(
        gpu,
        &input,
        &GradInput { d_output: &dyf, d_h_n: Some(&dhnf), d_c_n: dcnf.as_deref() },
        Some(variant),
    )?;
    let (a, r) = (BACKWARD_ATOL, BACKWARD_RTOL);
    let named = want.weights.named();
    let mut out: Vec<Comparison> = got
        .weights
        .named()
        .into_iter()
        .zip(named.iter().zip(&slack))
        .map(|((name, _, g), ((_, _, w), s))| compare(&format!("d{name}"), g, w, a + s, r))
        .collect();
    let k = named.len();
    out.push(compare("dx", &got.x, &want.x, a + slack[k], r));
    out.push(compare("dh0", &got.h0, &want.h0, a + slack[k + 1], r));
    if spec.cell.has_cell_state() {
        out.push(compare("dc0", &got.c0, &want.c0, a + slack[k + 2], r));
    }
    Ok(out)
}

/// The absolute tolerance a 16-bit reserve adds to each gradient tensor (in
/// `Grads::tensors` order): twice the largest change that rounding the whole reserve makes
/// to the tensor (`rounded` against `exact`, the reference with and without
/// `Forward::round_reserve`). Why: the GPU rounds its f32 pre-activations and the reference
/// its f64 ones, and where the two straddle a rounding boundary they keep values one 16-bit
/// step apart. One such value moves the gradients by at most about twice what a half-step
/// rounding of it does, and the whole reserve's rounding bounds that.
fn reserve_slack(rounded: &reference::Grads, exact: &reference::Grads) -> Vec<f64> {
    rounded
        .tensors()
        .iter()
        .zip(exact.tensors())
        .map(|(r, e)| 2.0 * r.iter().zip(e).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max))
        .collect()
}

/// The variants that train: every one (the persistent variants run training's forward
/// recurrence in their persistent kernel, the rest per step).
pub fn training_variants_for(gpu: &Gpu, spec: &RnnSpec) -> Vec<Variant> {
    variants_for(gpu, spec)
}
