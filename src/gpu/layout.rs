//! How host data maps onto GPU buffers: padding of rows to whole vec4s, the per-step
//! uniform entries, the model's weights in their GPU layouts, and a host batch (`Input`).
//!
//! GPU layouts (legend in src/spec.rs; Ip, Hp = I, H rounded up to 4 so rows load as vec4;
//! pad columns are zero):
//! ```text
//!   w_ih[l]  [D*G*H, Kp_l]      Kp_0 = Ip, Kp_l = D*Hp (columns follow out's padding)
//!   w_hh[l]  [D, G*H, Hp]       b_ih[l], b_hh[l] [D*G*H]
//!   sequences [T*B, Ip] (input) and [T*B, D*Hp] (layer outputs); states [L*D, B, Hp]
//! ```

use super::abi::StepParams;
use super::context::Gpu;
use crate::error::Result;
use crate::spec::RnnSpec;
use crate::weights::Weights;

/// H rounded up to a multiple of 4 (row stride of vec4-loaded matrices).
pub fn hp(h: usize) -> usize {
    h.div_ceil(4) * 4
}

/// Elements (f32, or u32 words of two 16-bit steps) of one layer's reserve space for T
/// steps of B rows: what recurrence.rs's `Reserve` allocates. In 16 bits
/// (`RnnSpec::reserve_precision`) hg and cprev hold steps t and t+1 in one word and the
/// layers share one xg (`shared_xg`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReserveLayout {
    /// xg [T*B, D*G*H] f32
    pub xg: usize,
    /// hg [rows, D*G*H] (0: linear cells)
    pub hg: usize,
    /// where cprev starts in hg's buffer (a multiple of 4)
    pub cprev_off: usize,
    /// cprev [rows, D*H]: LSTM's c_{t-1}; in 16 bits also GRU's xg_n (else 0)
    pub cprev: usize,
    /// hprev [T*B, D*Hp] f32
    pub hprev: usize,
    /// whether every layer's projection shares one xg
    pub shared_xg: bool,
}

impl ReserveLayout {
    /// The layout of `s` for T steps of B rows.
    pub fn of(s: &RnnSpec, t: usize, b: usize) -> Self {
        let (h, d, gh) = (s.hidden_size, s.directions(), s.gates() * s.hidden_size);
        let sixteen = s.reserve_precision().is_16bit();
        let rows = if sixteen { t.div_ceil(2) * b } else { t * b };
        // linear cells keep no hg (they have no W_hh): a stand-in
        let hg = if s.recurrent_weights() { rows * d * gh } else { 0 };
        let aux = s.cell.has_cell_state() || (sixteen && s.cell.cell().split_h);
        ReserveLayout {
            xg: t * b * d * gh,
            hg,
            cprev_off: if s.recurrent_weights() { hp(hg) } else { 4 },
            cprev: if aux { rows * d * h } else { 0 },
            hprev: t * b * d * hp(h),
            shared_xg: sixteen && s.recurrent_weights(),
        }
    }

    /// Bytes training's forward keeps for backward over L layers: xg, hg, cprev and hprev
    /// per layer, or without xg when the layers share it.
    pub fn bytes(&self, layers: usize) -> u64 {
        let xg = if self.shared_xg { 0 } else { self.xg };
        4 * (layers * (xg + self.cprev_off + self.cprev + self.hprev)) as u64
    }
}

/// Copies `rows` rows of `cols` values into rows of `cols_p` (zero padded).
pub fn pad_rows(src: &[f32], rows: usize, cols: usize, cols_p: usize) -> Vec<f32> {
    let mut out = vec![0.0; rows * cols_p];
    for r in 0..rows {
        out[r * cols_p..r * cols_p + cols].copy_from_slice(&src[r * cols..(r + 1) * cols]);
    }
    out
}

/// The inverse of `pad_rows`.
pub fn unpad_rows(src: &[f32], rows: usize, cols: usize, cols_p: usize) -> Vec<f32> {
    let mut out = vec![0.0; rows * cols];
    for r in 0..rows {
        out[r * cols..(r + 1) * cols].copy_from_slice(&src[r * cols_p..r * cols_p + cols]);
    }
    out
}

/// The parameters of step `step` of a [T, B] call of `spec`.
pub fn step_params(
    spec: &RnnSpec,
    t: usize,
    b: usize,
    step: usize,
    flags: u32,
    cprev_off: usize,
) -> StepParams {
    let hpad = hp(spec.hidden_size);
    StepParams {
        t: t as u32,
        b: b as u32,
        h: spec.hidden_size as u32,
        hp4: (hpad / 4) as u32,
        d: spec.directions() as u32,
        step: step as u32,
        out_ld: (spec.directions() * hpad) as u32,
        flags,
        cprev_off: cprev_off as u32,
        pad: [0; 3],
    }
}

/// A uniform buffer of one entry per step, each at a multiple of the device's dynamic-offset
/// alignment; returns it with that stride.
pub fn step_entries<P: bytemuck::Pod>(
    gpu: &Gpu,
    label: &str,
    entries: impl Iterator<Item = P>,
) -> (wgpu::Buffer, u64) {
    let min_align = gpu.limits.min_uniform_buffer_offset_alignment.max(16) as usize;
    let align = std::mem::size_of::<P>().div_ceil(min_align) as u64 * min_align as u64;
    let mut bytes = vec![];
    for e in entries {
        let start = bytes.len();
        bytes.extend_from_slice(bytemuck::bytes_of(&e));
        bytes.resize(start + align as usize, 0);
    }
    (gpu.uniform_init(label, &bytes), align)
}

/// Writes a batch's x [T*B, Ip] (padded rows; straight from the caller's slice when
/// I % 4 == 0, which saves a copy per call) and lengths [B] (all T when None).
pub(crate) fn write_input(
    gpu: &Gpu,
    spec: &RnnSpec,
    x: &wgpu::Buffer,
    lengths: &wgpu::Buffer,
    input: &Input<'_>,
) -> Result<()> {
    let (t, b) = (input.t, input.b);
    let ip = hp(spec.input_size);
    if ip == spec.input_size {
        gpu.queue.write_buffer(x, 0, bytemuck::cast_slice(input.x));
    } else {
        let padded = pad_rows(input.x, t * b, spec.input_size, ip);
        gpu.queue.write_buffer(x, 0, bytemuck::cast_slice(&padded));
    }
    let lens: Vec<u32> = match input.lengths {
        Some(l) => crate::reference::check_lengths(l, t, b)?.iter().map(|&v| v as u32).collect(),
        None => vec![t as u32; b],
    };
    gpu.queue.write_buffer(lengths, 0, bytemuck::cast_slice(&lens));
    Ok(())
}

/// One batch of sequences (f32, row-major; see the shape legend).
#[derive(Clone, Copy, Debug)]
pub struct Input<'a> {
    /// T: timesteps
    pub t: usize,
    /// B: sequences
    pub b: usize,
    /// [T, B, I]
    pub x: &'a [f32],
    /// [L*D, B, H], zeros when None
    pub h0: Option<&'a [f32]>,
    /// [L*D, B, H] (LSTM), zeros when None
    pub c0: Option<&'a [f32]>,
    /// \[B\], each 1..=T; all T when None
    pub lengths: Option<&'a [i64]>,
}

impl<'a> Input<'a> {
    /// `x` [T, B, I] from zero states, every sequence T steps long.
    pub fn new(x: &'a [f32], t: usize, b: usize) -> Self {
        Input { t, b, x, h0: None, c0: None, lengths: None }
    }
}

/// One layer's parameters on the GPU (both directions): w_ih [D*G*H, Kp], w_hh [D, G*H, Hp]
/// in the spec's precision (16-bit values packed two per u32), b_ih, b_hh [D*G*H] f32.
/// Optimizers update these in place; a 16-bit model that trains also has f32 masters of
/// w_ih and w_hh, which the optimizer updates and pack_weights.wgsl rounds into w_ih, w_hh.
pub(crate) struct LayerWeights {
    pub(crate) w_ih: wgpu::Buffer,
    pub(crate) b_ih: wgpu::Buffer,
    pub(crate) w_hh: wgpu::Buffer,
    pub(crate) b_hh: wgpu::Buffer,
    /// Kp of this layer's input
    pub(crate) kp: usize,
    /// f32 [w_ih, w_hh] of a 16-bit model that trains (mixed precision)
    pub(crate) master: Option<[wgpu::Buffer; 2]>,
}

impl LayerWeights {
    /// The f32 buffers an optimizer updates, in `Weights` order: w_ih, w_hh, b_ih, b_hh
    /// (the masters where there are some).
    pub(crate) fn buffers(&self) -> [&wgpu::Buffer; 4] {
        match &self.master {
            Some([ih, hh]) => [ih, hh, &self.b_ih, &self.b_hh],
            None => [&self.w_ih, &self.w_hh, &self.b_ih, &self.b_hh],
        }
    }
}

/// Layer l > 0 reads out[.., dir'*Hp + j]: input column dir'*H + j moves to that column.
fn input_column(layer: usize, c: usize, h: usize, hpad: usize) -> usize {
    if layer == 0 {
        c
    } else {
        (c / h) * hpad + c % h
    }
}

/// Fails when a layer's weights in their GPU layouts pass the device's binding limit,
/// naming the tensor and the numbers (checked before anything is allocated).
pub(crate) fn check_fits(gpu: &Gpu, s: &RnnSpec) -> Result<()> {
    for l in 0..s.num_layers {
        let (ih, hh) = matrix_bytes(s, l);
        gpu.check_binding(&format!("weight_ih_l{l}"), ih)?;
        if s.recurrent_weights() {
            gpu.check_binding(&format!("weight_hh_l{l}"), hh)?;
        }
    }
    Ok(())
}

/// Bytes of layer `l`'s w_ih [D*G*H, Kp] and w_hh [D, G*H, Hp] (0 for linear cells) as the
/// kernels read them, in the spec's precision.
pub fn matrix_bytes(s: &RnnSpec, l: usize) -> (u64, u64) {
    let (h, d) = (s.hidden_size, s.directions());
    let kp = if l == 0 { hp(s.input_size) } else { d * hp(h) };
    let rows = (d * s.gates() * h) as u64 * s.precision.bytes();
    let hh = if s.recurrent_weights() { rows * hp(h) as u64 } else { 0 };
    (rows * kp as u64, hh)
}

/// Bytes of every weight matrix (in the spec's precision) and bias (f32) as the kernels
/// read them.
pub fn weight_bytes(s: &RnnSpec) -> u64 {
    let gh = (s.directions() * s.gates() * s.hidden_size) as u64;
    let biases = match (s.bias, s.recurrent_weights()) {
        (false, _) => 0,
        (true, true) => 2 * gh * 4,
        (true, false) => gh * 4,
    };
    (0..s.num_layers).map(|l| matrix_bytes(s, l)).map(|(ih, hh)| ih + hh + biases).sum()
}

/// One layer's parameters of `w` (rounded to f32) in the padded GPU layouts (the weight
/// matrices are rounded to the spec's precision later, by `stored`):
/// (w_ih [D*G*H, Kp], w_hh [D, G*H, Hp], b_ih, b_hh [D*G*H], Kp); linear cells get 16-byte
/// stand-ins for w_hh and b_hh, which keep the kernels' bindings whole.
fn pack_layer(w: &Weights, l: usize) -> (Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>, usize) {
    let s = w.spec;
    let (h, g, d) = (s.hidden_size, s.gates(), s.directions());
    let hpad = hp(h);
    let hh = if s.recurrent_weights() { d * g * h } else { 0 };
    let (k, kp) = if l == 0 { (s.input_size, hp(s.input_size)) } else { (d * h, d * hpad) };
    let mut w_ih = vec![0.0f32; d * g * h * kp];
    let mut w_hh = vec![0.0f32; (hh * hpad).max(4)];
    let mut b_ih = Vec::with_capacity(d * g * h);
    let mut b_hh = Vec::with_capacity(hh.max(4));
    for dir in 0..d {
        let p = w.dir(l, dir);
        for row in 0..g * h {
            let r = dir * g * h + row;
            for c in 0..k {
                w_ih[r * kp + input_column(l, c, h, hpad)] = p.w_ih[row * k + c] as f32;
            }
            for c in (0..h).filter(|_| hh > 0) {
                w_hh[r * hpad + c] = p.w_hh[row * h + c] as f32;
            }
        }
        b_ih.extend(p.b_ih.iter().map(|&v| v as f32));
        b_hh.extend(p.b_hh.iter().map(|&v| v as f32));
    }
    b_hh.resize(b_hh.len().max(4), 0.0);
    (w_ih, w_hh, b_ih, b_hh, kp)
}

/// Refuses NaN or Inf weights, naming the tensor (PyTorch would give NaN outputs; kernels
/// must not turn them into finite numbers either).
fn check_finite_weights(w: &Weights) -> Result<()> {
    for (name, _, values) in w.named() {
        if let Some(index) = values.iter().position(|v| !v.is_finite()) {
            return Err(crate::error::Error::NonFinite {
                what: format!("parameter `{name}`"),
                index,
                value: values[index] as f32,
            });
        }
    }
    Ok(())
}

/// A weight matrix in the bytes the kernels read: f32, or rounded to 16 bits and packed.
fn stored(p: crate::Precision, m: &[f32]) -> Vec<u8> {
    match p {
        crate::Precision::F32 => bytemuck::cast_slice(m).to_vec(),
        _ => bytemuck::cast_slice(&p.pack(m)).to_vec(),
    }
}

/// Uploads `w` in the padded GPU layouts, the weight matrices rounded to the spec's
/// precision (biases stay f32: a few bytes, added once per output). With `master` a 16-bit model also keeps f32 copies of its
/// weight matrices, for an optimizer (mixed-precision training).
pub(crate) fn upload_weights(gpu: &Gpu, w: &Weights, master: bool) -> Result<Vec<LayerWeights>> {
    let s = w.spec;
    check_fits(gpu, &s)?;
    check_finite_weights(w)?;
    let p = s.precision;
    let mut layers = Vec::new();
    for l in 0..s.num_layers {
        let (w_ih, w_hh, b_ih, b_hh, kp) = pack_layer(w, l);
        // check_fits above checked these sizes (layout::matrix_bytes)
        let (w_ih16, w_hh16) = (stored(p, &w_ih), stored(p, &w_hh));
        let master = (master && p.is_16bit()).then(|| {
            [gpu.storage_init("w_ih master", &w_ih), gpu.storage_init("w_hh master", &w_hh)]
        });
        layers.push(LayerWeights {
            w_ih: gpu.storage_init("w_ih", &w_ih16),
            b_ih: gpu.storage_init("b_ih", &b_ih),
            w_hh: gpu.storage_init("w_hh", &w_hh16),
            b_hh: gpu.storage_init("b_hh", &b_hh),
            kp,
            master,
        });
    }
    Ok(layers)
}

/// Writes `w` (of the same spec) into the buffers of `layers` in place: the plans built on
/// them stay valid.
pub(crate) fn write_weights(gpu: &Gpu, layers: &[LayerWeights], w: &Weights) -> Result<()> {
    check_finite_weights(w)?;
    let p = w.spec.precision;
    for (l, lw) in layers.iter().enumerate() {
        let (w_ih, w_hh, b_ih, b_hh, _) = pack_layer(w, l);
        if let Some([m_ih, m_hh]) = &lw.master {
            gpu.queue.write_buffer(m_ih, 0, bytemuck::cast_slice(&w_ih));
            gpu.queue.write_buffer(m_hh, 0, bytemuck::cast_slice(&w_hh));
        }
        for (buf, data) in [
            (&lw.w_ih, stored(p, &w_ih)),
            (&lw.w_hh, stored(p, &w_hh)),
            (&lw.b_ih, bytemuck::cast_slice(&b_ih).to_vec()),
            (&lw.b_hh, bytemuck::cast_slice(&b_hh).to_vec()),
        ] {
            gpu.queue.write_buffer(buf, 0, &data);
        }
    }
    Ok(())
}

/// The reads of per-layer [w_ih, w_hh, b_ih, b_hh]-shaped buffers in the GPU layouts (the
/// weights, or their gradients): four per layer. `stored` is how w_ih and w_hh are held
/// (16-bit packed ones read half the words).
pub(crate) fn param_layout_reads<'b>(
    spec: &RnnSpec,
    layers: &[LayerWeights],
    bufs: &[[&'b wgpu::Buffer; 4]],
    stored: crate::Precision,
) -> Vec<(&'b wgpu::Buffer, usize)> {
    let words = |n: usize| if stored.is_16bit() { n / 2 } else { n };
    let (d, gh, hpad) = (spec.directions(), spec.gates() * spec.hidden_size, hp(spec.hidden_size));
    // linear cells: nothing to read of the W_hh, b_hh stand-ins
    let hh = if spec.recurrent_weights() { d * gh } else { 0 };
    let mut reads = vec![];
    for (lw, b) in layers.iter().zip(bufs) {
        reads.push((b[0], words(d * gh * lw.kp)));
        reads.push((b[1], words(hh * hpad)));
        reads.push((b[2], d * gh));
        reads.push((b[3], hh));
    }
    reads
}

/// `Weights` with PyTorch's layouts from the values of `param_layout_reads` (of the same
/// `stored`), taken from `it` in order.
pub(crate) fn param_layout_unpack(
    spec: &RnnSpec,
    layers: &[LayerWeights],
    it: &mut impl Iterator<Item = Vec<f32>>,
    stored: crate::Precision,
) -> Weights {
    let widen = |v: Vec<f32>| match stored {
        crate::Precision::F32 => v,
        p => {
            let words: Vec<u32> = v.iter().map(|x| x.to_bits()).collect();
            p.unpack(&words, 2 * words.len())
        }
    };
    let s = spec;
    let (h, g, d, hpad) = (s.hidden_size, s.gates(), s.directions(), hp(s.hidden_size));
    let gh = g * h;
    let mut w = Weights::zeros(*s);
    for (l, lw) in layers.iter().enumerate() {
        let kp = lw.kp;
        let k_in = s.layer_input_size(l);
        let mut next = || it.next().unwrap_or_default();
        let (w_ih, w_hh, b_ih, b_hh) = (widen(next()), widen(next()), next(), next());
        for dir in 0..d {
            let p = w.dir_mut(l, dir);
            for row in 0..gh {
                let r = dir * gh + row;
                for c in 0..k_in {
                    p.w_ih[row * k_in + c] = w_ih[r * kp + input_column(l, c, h, hpad)] as f64;
                }
                if !s.recurrent_weights() {
                    if s.bias {
                        p.b_ih[row] = b_ih[r] as f64;
                    }
                    continue;
                }
                for c in 0..h {
                    p.w_hh[row * h + c] = w_hh[r * hpad + c] as f64;
                }
                if s.bias {
                    p.b_ih[row] = b_ih[r] as f64;
                    p.b_hh[row] = b_hh[r] as f64;
                }
            }
        }
    }
    w
}
