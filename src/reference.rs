//! The CPU reference: plain f64 loops for the forward pass and backpropagation through
//! time, over all layers and both directions, with PyTorch's packed-sequence semantics for
//! per-sequence lengths. Every GPU kernel is checked against this.
//!
//! Buffers (shape legend in `spec`): x [T, B, I], output [T, B, D*H], states [L*D, B, H].
//! A step (t, b) is valid when t < lengths\[b\]; the forward direction runs t = 0..len-1,
//! the reverse direction t = len-1..0; invalid steps leave the state alone and output 0.

use crate::cells;
use crate::error::{Error, Result};
use crate::precision::Precision;
use crate::spec::RnnSpec;
use crate::weights::Weights;

/// What one call runs on: T, B, the input and optional initial states and lengths.
#[derive(Clone, Debug)]
pub struct SeqBatch<'a> {
    /// T, the timesteps.
    pub t: usize,
    /// B, the sequences.
    pub b: usize,
    /// [T, B, I]
    pub x: &'a [f64],
    /// [L*D, B, H] or None for zeros
    pub h0: Option<&'a [f64]>,
    /// [L*D, B, H] (LSTM) or None for zeros
    pub c0: Option<&'a [f64]>,
    /// \[B\], each in 1..=T, or None for all T
    pub lengths: Option<&'a [usize]>,
}

/// Checks user lengths (PyTorch's int64) and converts them; each must be in 1..=T.
pub fn check_lengths(lengths: &[i64], t: usize, b: usize) -> Result<Vec<usize>> {
    if lengths.len() != b {
        return Err(Error::shape("lengths", format!("[{b}]"), format!("[{}]", lengths.len())));
    }
    lengths
        .iter()
        .enumerate()
        .map(|(i, &l)| {
            if l < 1 || l as usize > t {
                Err(Error::Length { index: i, value: l, max: t })
            } else {
                Ok(l as usize)
            }
        })
        .collect()
}

/// Checks the sizes of a batch against a spec.
pub fn check_batch(
    spec: &RnnSpec,
    t: usize,
    b: usize,
    x_len: usize,
    h0: Option<usize>,
    c0: Option<usize>,
) -> Result<()> {
    if t == 0 || b == 0 {
        return Err(Error::shape("x", "[T >= 1, B >= 1, I]", format!("[{t}, {b}, ..]")));
    }
    let want = t * b * spec.input_size;
    if x_len != want {
        return Err(Error::shape(
            "x",
            format!("[{t}, {b}, {}] ({want} values)", spec.input_size),
            format!("{x_len} values"),
        ));
    }
    let states = spec.num_layers * spec.directions() * b * spec.hidden_size;
    let dims = format!("[{}, {b}, {}]", spec.num_layers * spec.directions(), spec.hidden_size);
    for (name, len) in [("h0", h0), ("c0", c0)] {
        if let Some(n) = len {
            if n != states {
                return Err(Error::shape(
                    name,
                    format!("{dims} ({states} values)"),
                    format!("{n} values"),
                ));
            }
        }
    }
    if c0.is_some() && !spec.cell.has_cell_state() {
        return Err(Error::Config(format!("c0 given, but a {} cell has no cell state", spec.cell)));
    }
    Ok(())
}

/// What backward needs from one layer and direction at one valid step and row.
#[derive(Clone, Default)]
struct StepRecord {
    xg: Vec<f64>,
    hg: Vec<f64>,
    h_prev: Vec<f64>,
    c_prev: Vec<f64>,
}

impl Forward {
    /// The activated gates of layer `layer`, direction `dir` at step (t, b): G*H values
    /// (LSTM i, f, g, o; GRU r, z, n; RNN the new h), or None at a padded step.
    pub fn gates(&self, layer: usize, dir: usize, t: usize, b: usize) -> Option<Vec<f64>> {
        let s = &self.spec;
        let rec = &self.records[layer * s.directions() + dir][t * self.b + b];
        if rec.xg.is_empty() {
            return None;
        }
        Some(cells::activations(s.cell, &rec.xg, &rec.hg))
    }

    /// h_t, c_t (LSTM; empty otherwise) and the activated gates of every step of layer
    /// `layer`, direction `dir`: [T, B, H], [T, B, H], [T, B, G*H]; zero at padded steps.
    /// The CPU twin of `GpuModel::forward_states`.
    pub fn step_states(&self, layer: usize, dir: usize) -> Result<(Vec<f64>, Vec<f64>, Vec<f64>)> {
        let s = &self.spec;
        let d = s.directions();
        if layer >= s.num_layers || dir >= d {
            return Err(Error::Config(format!(
                "layer {layer} direction {dir}: the model has {} layers and {} directions",
                s.num_layers, d
            )));
        }
        let (t, b, h, g) = (self.t, self.b, s.hidden_size, s.gates());
        let out = self.layer_inputs.get(layer + 1).unwrap_or(&self.output);
        let mut hs = vec![0.0; t * b * h];
        let mut gates = vec![0.0; t * b * g * h];
        let lstm = s.cell.has_cell_state();
        let mut cs = if lstm { vec![0.0; t * b * h] } else { vec![] };
        let sidx = layer * d + dir;
        for row in 0..b {
            let len = self.lengths[row];
            for st in 0..len {
                let r = st * b + row;
                hs[r * h..(r + 1) * h]
                    .copy_from_slice(&out[(r * d + dir) * h..(r * d + dir + 1) * h]);
                if let Some(a) = self.gates(layer, dir, st, row) {
                    gates[r * g * h..(r + 1) * g * h].copy_from_slice(&a);
                }
                if lstm {
                    // c_t is the c_{t-1} the next step of this direction kept, or c_n.
                    let next = if dir == 0 { st + 1 } else { st.wrapping_sub(1) };
                    let c = if next < len {
                        &self.records[sidx][next * b + row].c_prev
                    } else {
                        &self.c_n[(sidx * b + row) * h..(sidx * b + row + 1) * h]
                    };
                    cs[r * h..(r + 1) * h].copy_from_slice(c);
                }
            }
        }
        Ok((hs, cs, gates))
    }
}

/// One of the activations training saves for backward (the GPU's reserve space), as
/// `Forward::round_saved` names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Saved {
    /// W_ih·x_t + b_ih, [T*B, G*H]
    Xg,
    /// W_hh·h_{t-1} + b_hh, [T*B, G*H]
    Hg,
    /// h_{t-1}, [T*B, H]
    HPrev,
    /// c_{t-1} (LSTM), [T*B, H]
    CPrev,
    /// The sums xg + hg the gates are recomputed from, rounded once (GRU's n: xg_n and hg_n
    /// apart), as the GPU's 16-bit reserve keeps them in place of xg and hg
    Gates,
}

impl Saved {
    /// Every saved activation, each rounded apart.
    pub const ALL: [Saved; 4] = [Saved::Xg, Saved::Hg, Saved::HPrev, Saved::CPrev];

    /// What the GPU's reserve rounds when it is 16-bit (`RnnSpec::reserve_precision`):
    /// h_{t-1}, the dW_hh GEMM's operand, stays f32.
    pub const GPU_RESERVE: [Saved; 2] = [Saved::Gates, Saved::CPrev];

    /// Its name in reports: xg, hg, h_prev, c_prev.
    pub fn name(self) -> &'static str {
        match self {
            Saved::Xg => "xg",
            Saved::Hg => "hg",
            Saved::HPrev => "h_prev",
            Saved::CPrev => "c_prev",
            Saved::Gates => "xg+hg",
        }
    }
}

impl Forward {
    /// Rounds what the GPU's reserve space keeps in 16 bits for this model
    /// (`RnnSpec::reserve_precision`; `Saved::GPU_RESERVE`), so that `backward` computes the
    /// gradients the GPU's training does. Nothing changes for an f32 reserve.
    pub fn round_reserve(&mut self) {
        let p = self.spec.reserve_precision();
        if p.is_16bit() {
            self.round_saved(p, &Saved::GPU_RESERVE);
        }
    }

    /// Rounds the saved activations `which` of every step to `p` (nearest, ties to even),
    /// as storing them in that precision would: `backward` then computes the gradient a
    /// reserve space in `p` gives. The forward results (output, h_n, c_n) are untouched.
    pub fn round_saved(&mut self, p: Precision, which: &[Saved]) {
        let h = self.spec.hidden_size;
        let split = self.spec.cell.cell().split_h;
        for rec in self.records.iter_mut().flatten() {
            for &s in which {
                let v = match s {
                    Saved::Xg => &mut rec.xg,
                    Saved::Hg => &mut rec.hg,
                    Saved::HPrev => &mut rec.h_prev,
                    Saved::CPrev => &mut rec.c_prev,
                    Saved::Gates => {
                        // linear cells keep no hg; padded steps keep nothing
                        let has_hg = rec.hg.len() == rec.xg.len();
                        for k in 0..rec.xg.len() {
                            let hg = if has_hg { rec.hg[k] } else { 0.0 };
                            if split && k / h == 2 {
                                rec.xg[k] = p.round(rec.xg[k]);
                                rec.hg[k] = p.round(hg);
                            } else {
                                rec.xg[k] = p.round(rec.xg[k] + hg);
                                if has_hg {
                                    rec.hg[k] = 0.0;
                                }
                            }
                        }
                        continue;
                    }
                };
                v.iter_mut().for_each(|x| *x = p.round(*x));
            }
        }
    }
}

/// Forward results plus what backward needs.
#[derive(Clone)]
pub struct Forward {
    /// The model that ran.
    pub spec: RnnSpec,
    /// T of the call.
    pub t: usize,
    /// B of the call.
    pub b: usize,
    /// [T, B, D*H]
    pub output: Vec<f64>,
    /// [L*D, B, H]
    pub h_n: Vec<f64>,
    /// [L*D, B, H] (LSTM; empty otherwise)
    pub c_n: Vec<f64>,
    lengths: Vec<usize>,
    /// per layer: its input [T, B, I_k]
    layer_inputs: Vec<Vec<f64>>,
    /// per layer*D+dir: [T*B] records (default for invalid steps)
    records: Vec<Vec<StepRecord>>,
}

/// Gradients of everything a forward call took.
pub struct Grads {
    /// same layout as the weights
    pub weights: Weights,
    /// [T, B, I]
    pub x: Vec<f64>,
    /// [L*D, B, H]
    pub h0: Vec<f64>,
    /// [L*D, B, H] (LSTM; empty otherwise)
    pub c0: Vec<f64>,
}

impl Grads {
    /// Every gradient tensor, in a fixed order: the parameters as `Weights::named` lists
    /// them, then x, h0 and c0.
    pub fn tensors(&self) -> Vec<&[f64]> {
        let mut v: Vec<&[f64]> =
            self.weights.named().into_iter().map(|(_, _, d)| d.as_slice()).collect();
        v.extend([self.x.as_slice(), &self.h0, &self.c0]);
        v
    }

    /// How far these gradients are from `exact`: the largest over the tensors of
    /// ‖self - exact‖ / ‖exact‖ (2-norms; tensors that are zero in `exact` skipped). Relative
    /// to each tensor's scale, so a gradient near zero does not dominate; a 2-norm, because
    /// a max-norm reports the one unit whose pre-activation crossed a kink (relu, minGRU's
    /// and minLSTM's g) and whose derivative jumped.
    pub fn relative_error(&self, exact: &Grads) -> f64 {
        let norm = |v: &mut dyn Iterator<Item = f64>| v.map(|x| x * x).sum::<f64>().sqrt();
        self.tensors()
            .iter()
            .zip(exact.tensors())
            .filter_map(|(g, w)| {
                let scale = norm(&mut w.iter().copied());
                (scale > 0.0).then(|| norm(&mut g.iter().zip(w).map(|(a, b)| a - b)) / scale)
            })
            .fold(0.0, f64::max)
    }
}

fn matvec_add(w: &[f64], bias: &[f64], v: &[f64], rows: usize) -> Vec<f64> {
    let cols = v.len();
    (0..rows)
        .map(|r| {
            bias[r] + w[r * cols..(r + 1) * cols].iter().zip(v).map(|(a, b)| a * b).sum::<f64>()
        })
        .collect()
}

/// Runs the network over a batch.
pub fn forward(w: &Weights, batch: &SeqBatch<'_>) -> Result<Forward> {
    let spec = w.spec;
    let (t_len, b_len, h) = (batch.t, batch.b, spec.hidden_size);
    let (d_n, g) = (spec.directions(), spec.gates());
    check_batch(
        &spec,
        t_len,
        b_len,
        batch.x.len(),
        batch.h0.map(|v| v.len()),
        batch.c0.map(|v| v.len()),
    )?;
    let lengths: Vec<usize> = match batch.lengths {
        Some(l) => check_lengths(&l.iter().map(|&v| v as i64).collect::<Vec<_>>(), t_len, b_len)?,
        None => vec![t_len; b_len],
    };
    let lstm = spec.cell.has_cell_state();
    let zeros = vec![0.0; spec.num_layers * d_n * b_len * h];
    let h0 = batch.h0.unwrap_or(&zeros);
    let c0 = batch.c0.unwrap_or(&zeros);

    let mut input = batch.x.to_vec();
    let mut layer_inputs = Vec::new();
    let mut records = Vec::new();
    let mut h_n = vec![0.0; zeros.len()];
    let mut c_n = if lstm { vec![0.0; zeros.len()] } else { vec![] };
    for layer in 0..spec.num_layers {
        let ik = spec.layer_input_size(layer);
        let mut out = vec![0.0; t_len * b_len * d_n * h];
        for dir in 0..d_n {
            let p = w.dir(layer, dir);
            let sidx = layer * d_n + dir;
            let mut recs = vec![StepRecord::default(); t_len * b_len];
            for b in 0..b_len {
                let s0 = (sidx * b_len + b) * h;
                let mut hs = h0[s0..s0 + h].to_vec();
                let mut cs = c0[s0..s0 + h].to_vec();
                let steps: Vec<usize> = if dir == 0 {
                    (0..lengths[b]).collect()
                } else {
                    (0..lengths[b]).rev().collect()
                };
                for t in steps {
                    let xt = &input[(t * b_len + b) * ik..(t * b_len + b + 1) * ik];
                    let xg = matvec_add(&p.w_ih, &p.b_ih, xt, g * h);
                    let hg = if spec.recurrent_weights() {
                        matvec_add(&p.w_hh, &p.b_hh, &hs, g * h)
                    } else {
                        vec![0.0; g * h]
                    };
                    let (hn, cn) = cells::forward(spec.cell, &xg, &hg, &hs, &cs);
                    recs[t * b_len + b] = StepRecord { xg, hg, h_prev: hs, c_prev: cs };
                    let o = (t * b_len + b) * d_n * h + dir * h;
                    out[o..o + h].copy_from_slice(&hn);
                    hs = hn;
                    cs = cn;
                }
                h_n[s0..s0 + h].copy_from_slice(&hs);
                if lstm {
                    c_n[s0..s0 + h].copy_from_slice(&cs);
                }
            }
            records.push(recs);
        }
        layer_inputs.push(std::mem::replace(&mut input, out));
    }
    Ok(Forward {
        spec,
        t: t_len,
        b: b_len,
        output: input,
        h_n,
        c_n,
        lengths,
        layer_inputs,
        records,
    })
}

/// Backpropagation through time. `d_output` [T, B, D*H]; `d_h_n`, `d_c_n` [L*D, B, H]
/// (None for zeros). Returns the gradient of L = Σ output·d_output + Σ h_n·d_h_n + Σ c_n·d_c_n.
pub fn backward(
    w: &Weights,
    fwd: &Forward,
    d_output: &[f64],
    d_h_n: Option<&[f64]>,
    d_c_n: Option<&[f64]>,
) -> Result<Grads> {
    backward_traced(w, fwd, d_output, d_h_n, d_c_n, None)
}

/// dL/dh_t and dL/dc_t of every step, recorded by `backward_traced`:
/// [L*D, T, B, H] (LSTM's dc likewise; zero at padded steps).
#[derive(Clone, Debug, Default)]
pub struct StepTrace {
    /// dL/dh_t, [L*D, T, B, H].
    pub dh: Vec<f64>,
    /// dL/dc_t, [L*D, T, B, H] (LSTM; empty otherwise).
    pub dc: Vec<f64>,
}

/// `backward`, also recording the total gradient reaching each step's new state h_t (and c_t).
pub fn backward_traced(
    w: &Weights,
    fwd: &Forward,
    d_output: &[f64],
    d_h_n: Option<&[f64]>,
    d_c_n: Option<&[f64]>,
    mut trace: Option<&mut StepTrace>,
) -> Result<Grads> {
    let spec = w.spec;
    let (t_len, b_len, h) = (fwd.t, fwd.b, spec.hidden_size);
    let (d_n, g) = (spec.directions(), spec.gates());
    let n_out = t_len * b_len * d_n * h;
    if d_output.len() != n_out {
        return Err(Error::shape(
            "d_output",
            format!("[{t_len}, {b_len}, {}]", d_n * h),
            format!("{} values", d_output.len()),
        ));
    }
    let n_state = spec.num_layers * d_n * b_len * h;
    for (name, v) in [("d_h_n", d_h_n), ("d_c_n", d_c_n)] {
        if let Some(v) = v {
            if v.len() != n_state {
                return Err(Error::shape(name, format!("{n_state} values"), v.len()));
            }
        }
    }
    let lstm = spec.cell.has_cell_state();
    let zeros = vec![0.0; n_state];
    let d_h_n = d_h_n.unwrap_or(&zeros);
    let d_c_n = d_c_n.unwrap_or(&zeros);

    if let Some(tr) = trace.as_deref_mut() {
        let n = spec.num_layers * d_n * t_len * b_len * h;
        tr.dh = vec![0.0; n];
        tr.dc = if spec.cell.has_cell_state() { vec![0.0; n] } else { vec![] };
    }
    let mut gw = Weights::zeros(spec);
    let mut dh0 = vec![0.0; n_state];
    let mut dc0 = if lstm { vec![0.0; n_state] } else { vec![] };
    let mut d_out = d_output.to_vec();
    for layer in (0..spec.num_layers).rev() {
        let ik = spec.layer_input_size(layer);
        let x_in = &fwd.layer_inputs[layer];
        let mut dx = vec![0.0; t_len * b_len * ik];
        for dir in 0..d_n {
            let p = w.dir(layer, dir);
            let sidx = layer * d_n + dir;
            let recs = &fwd.records[sidx];
            let gp = gw.dir_mut(layer, dir);
            for b in 0..b_len {
                let s0 = (sidx * b_len + b) * h;
                let mut dh = d_h_n[s0..s0 + h].to_vec();
                let mut dc = if lstm { d_c_n[s0..s0 + h].to_vec() } else { vec![] };
                let len = fwd.lengths[b];
                // Reverse of the processing order.
                let steps: Vec<usize> =
                    if dir == 0 { (0..len).rev().collect() } else { (0..len).collect() };
                for t in steps {
                    let o = (t * b_len + b) * d_n * h + dir * h;
                    for j in 0..h {
                        dh[j] += d_out[o + j];
                    }
                    if let Some(tr) = trace.as_deref_mut() {
                        let o = ((sidx * t_len + t) * b_len + b) * h;
                        tr.dh[o..o + h].copy_from_slice(&dh);
                        if lstm {
                            tr.dc[o..o + h].copy_from_slice(&dc);
                        }
                    }
                    let r = &recs[t * b_len + b];
                    let sg =
                        cells::backward(spec.cell, &r.xg, &r.hg, &r.h_prev, &r.c_prev, &dh, &dc);
                    let xt = &x_in[(t * b_len + b) * ik..(t * b_len + b + 1) * ik];
                    let dxt = &mut dx[(t * b_len + b) * ik..(t * b_len + b + 1) * ik];
                    let recurrent = spec.recurrent_weights();
                    for row in 0..g * h {
                        let (ax, ah) = (sg.d_xg[row], sg.d_hg[row]);
                        gp.b_ih[row] += ax;
                        for k in 0..ik {
                            gp.w_ih[row * ik + k] += ax * xt[k];
                            dxt[k] += ax * p.w_ih[row * ik + k];
                        }
                        if recurrent {
                            gp.b_hh[row] += ah;
                            for k in 0..h {
                                gp.w_hh[row * h + k] += ah * r.h_prev[k];
                            }
                        }
                    }
                    let mut dh_prev = sg.dh_prev_direct;
                    for row in (0..g * h).filter(|_| recurrent) {
                        let ah = sg.d_hg[row];
                        for (dk, w) in dh_prev.iter_mut().zip(&p.w_hh[row * h..(row + 1) * h]) {
                            *dk += ah * w;
                        }
                    }
                    dh = dh_prev;
                    dc = sg.dc_prev;
                }
                dh0[s0..s0 + h].copy_from_slice(&dh);
                if lstm {
                    dc0[s0..s0 + h].copy_from_slice(&dc);
                }
            }
        }
        d_out = dx;
    }
    if !spec.bias {
        for p in gw.params.iter_mut() {
            p.b_ih.iter_mut().for_each(|v| *v = 0.0);
            p.b_hh.iter_mut().for_each(|v| *v = 0.0);
        }
    }
    Ok(Grads { weights: gw, x: d_out, h0: dh0, c0: dc0 })
}

/// The scalar loss that `backward` differentiates (used by finite-difference checks).
pub fn loss(fwd: &Forward, d_output: &[f64], d_h_n: Option<&[f64]>, d_c_n: Option<&[f64]>) -> f64 {
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    dot(&fwd.output, d_output)
        + d_h_n.map_or(0.0, |d| dot(&fwd.h_n, d))
        + d_c_n.map_or(0.0, |d| dot(&fwd.c_n, d))
}
