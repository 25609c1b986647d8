//! The forward pass on the GPU: weights uploaded once (`GpuModel`), buffers sized once per
//! shape (`Plan`), every dispatch of a call recorded into one command encoder and one
//! submit, one readback at the end.
//!
//! Per layer: copy h0/c0 into the state buffers, one GEMM for the input projection of all
//! T*B rows and both directions, then T fused step dispatches (both directions in each, as
//! workgroup z) or one persistent dispatch, then copy the final states out.
//!
//! GPU buffers (legend in src/spec.rs; Ip, Hp = I, H rounded up to 4 so rows load as vec4;
//! pad columns are zero):
//!   x        [T*B, Ip]          layer 0 input
//!   xg       [T*B, D*G*H]       input projection of the current layer, incl. b_ih
//!   out[2]   [T*B, D*Hp]        layer outputs, ping-pong between layers
//!   h0, h_n  [L*D, B, Hp]       c0, c_n [L*D, B, H]
//!   h_state  2 x [D, B, Hp]     c_state [D, B, H]
//!   lengths  [B] u32
//!   w_ih[l]  [D*G*H, Kp_l]      Kp_0 = Ip, Kp_l = D*Hp (columns follow out's padding)
//!   w_hh[l]  [D, G*H, Hp]       b_ih[l], b_hh[l] [D*G*H]

use super::abi::{FusedParams, GemmParams, StepParams, FLAG_WRITE_OUT};
use super::context::{Gpu, Kernel, Staged};
use super::kernels::{
    hp, persistent_chunk, persistent_kernel, persistent_subgroup_kernel, step_groups, step_kernel,
    PersistentShape, Variant,
};
use super::profile::{self, Profiler};
use crate::error::{check_finite, Error, Result};
use crate::reference::{check_batch, check_lengths};
use crate::spec::RnnSpec;
use crate::weights::Weights;
use std::sync::{Arc, Mutex};

impl StepParams {
    /// The parameters of step `step` of a [T, B] call with hidden size H.
    pub fn new(spec: &RnnSpec, t: usize, b: usize, step: usize, flags: u32) -> Self {
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
        }
    }
}

/// A uniform buffer of one entry per step, each at a multiple of the device's dynamic-offset
/// alignment.
pub(crate) fn step_entries<P: bytemuck::Pod>(
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

/// One layer's parameters on the GPU (both directions): w_ih [D*G*H, Kp], w_hh [D, G*H, Hp],
/// b_ih, b_hh [D*G*H]. Optimizers update these in place.
pub(crate) struct LayerWeights {
    pub(crate) w_ih: wgpu::Buffer,
    pub(crate) b_ih: wgpu::Buffer,
    pub(crate) w_hh: wgpu::Buffer,
    pub(crate) b_hh: wgpu::Buffer,
    /// Kp of this layer's input
    pub(crate) kp: usize,
}

/// A network's weights on the GPU, ready for many forward calls.
pub struct GpuModel {
    pub spec: RnnSpec,
    pub(crate) layers: Vec<LayerWeights>,
    plan: Mutex<Option<Plan>>,
    pub(crate) grad_plan: Mutex<Option<super::backward::GradPlan>>,
}

/// One batch of sequences (f32, row-major; see the shape legend).
#[derive(Clone, Copy, Debug)]
pub struct Input<'a> {
    pub t: usize,
    pub b: usize,
    /// [T, B, I]
    pub x: &'a [f32],
    /// [L*D, B, H], zeros when None
    pub h0: Option<&'a [f32]>,
    /// [L*D, B, H] (LSTM), zeros when None
    pub c0: Option<&'a [f32]>,
    /// [B], each 1..=T; all T when None
    pub lengths: Option<&'a [i64]>,
}

impl<'a> Input<'a> {
    pub fn new(x: &'a [f32], t: usize, b: usize) -> Self {
        Input { t, b, x, h0: None, c0: None, lengths: None }
    }
}

/// Choices for one forward call.
#[derive(Clone, Copy, Debug)]
pub struct ForwardOptions {
    /// Force a kernel variant; None picks by rule (`Variant::auto`).
    pub variant: Option<Variant>,
    /// Read back the output sequence; false returns only h_n (and c_n).
    pub return_sequence: bool,
}

impl Default for ForwardOptions {
    fn default() -> Self {
        ForwardOptions { variant: None, return_sequence: true }
    }
}

/// Results of a forward call.
#[derive(Clone, Debug)]
pub struct Output {
    /// [T, B, D*H] (empty when not requested)
    pub output: Vec<f32>,
    /// [L*D, B, H]
    pub h_n: Vec<f32>,
    /// [L*D, B, H] (LSTM; empty otherwise)
    pub c_n: Vec<f32>,
    pub variant: Variant,
}

/// What a submitted forward call reads back (see `GpuModel::unpack`).
struct ForwardReads {
    t: usize,
    b: usize,
    return_sequence: bool,
    variant: Variant,
}

/// The error for a plan cache left unusable by a panic in another thread.
pub(crate) fn poisoned(what: &str) -> Error {
    Error::Device(format!("{what}: a previous call panicked while holding it"))
}

/// Where a call's initial state comes from.
enum StateInit {
    /// Input's h0/c0 (zeros when absent)
    Host,
    /// h_n/c_n of the previous call on the same plan (streaming)
    Carry,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct PlanKey {
    t: usize,
    b: usize,
    variant: Variant,
    return_sequence: bool,
}

struct LayerBinds {
    /// the input GEMM's bind group (None: the variant fuses it into the step)
    gemm_bg: Option<wgpu::BindGroup>,
    gemm_groups: (u32, u32),
    /// the recurrent kernel's bind groups, for dispatch i: step_bgs[i % 2]
    step_bgs: [wgpu::BindGroup; 2],
}

/// Buffers and bind groups for one (T, B, variant); built once, reused by every call.
struct Plan {
    key: PlanKey,
    x: wgpu::Buffer,
    outs: Vec<wgpu::Buffer>,
    h0: wgpu::Buffer,
    c0: wgpu::Buffer,
    /// h in and h out of the recurrent kernel, swapped every dispatch (see step.wgsl)
    h_state: [wgpu::Buffer; 2],
    c_state: wgpu::Buffer,
    h_n: wgpu::Buffer,
    c_n: wgpu::Buffer,
    lengths: wgpu::Buffer,
    _keep: Vec<wgpu::Buffer>,
    binds: Vec<LayerBinds>,
    gemm: Option<Arc<Kernel>>,
    recurrent: Arc<Kernel>,
    /// workgroups of the recurrent dispatch
    rec_groups: (u32, u32, u32),
    /// dispatches of the recurrent kernel per layer (T, or the persistent chunks)
    rec_dispatches: usize,
    /// where a layer's last dispatch leaves h: (index into h_state, byte offset)
    h_last: (usize, u64),
    /// stride of per-step uniform entries
    align: u64,
}

impl GpuModel {
    /// Uploads `w` (rounded to f32) in the padded GPU layouts.
    pub fn new(gpu: &Gpu, w: &Weights) -> Result<Self> {
        let s = w.spec;
        s.validate()?;
        let (h, g, d) = (s.hidden_size, s.gates(), s.directions());
        let hpad = hp(h);
        let mut layers = Vec::new();
        for l in 0..s.num_layers {
            let (k, kp) = if l == 0 { (s.input_size, hp(s.input_size)) } else { (d * h, d * hpad) };
            let mut w_ih = vec![0.0f32; d * g * h * kp];
            let mut w_hh = vec![0.0f32; d * g * h * hpad];
            let mut b_ih = Vec::with_capacity(d * g * h);
            let mut b_hh = Vec::with_capacity(d * g * h);
            for dir in 0..d {
                let p = w.dir(l, dir);
                for row in 0..g * h {
                    let r = dir * g * h + row;
                    for c in 0..k {
                        // Layer l > 0 reads out[.., dir'*Hp + j]: column dir'*H + j moves there.
                        let cp = if l == 0 { c } else { (c / h) * hpad + c % h };
                        w_ih[r * kp + cp] = p.w_ih[row * k + c] as f32;
                    }
                    for c in 0..h {
                        w_hh[r * hpad + c] = p.w_hh[row * h + c] as f32;
                    }
                }
                b_ih.extend(p.b_ih.iter().map(|&v| v as f32));
                b_hh.extend(p.b_hh.iter().map(|&v| v as f32));
            }
            gpu.check_binding(&format!("weight_ih_l{l}"), (w_ih.len() * 4) as u64)?;
            gpu.check_binding(&format!("weight_hh_l{l}"), (w_hh.len() * 4) as u64)?;
            layers.push(LayerWeights {
                w_ih: gpu.storage_init("w_ih", &w_ih),
                b_ih: gpu.storage_init("b_ih", &b_ih),
                w_hh: gpu.storage_init("w_hh", &w_hh),
                b_hh: gpu.storage_init("b_hh", &b_hh),
                kp,
            });
        }
        Ok(GpuModel { spec: s, layers, plan: Mutex::new(None), grad_plan: Mutex::new(None) })
    }

    /// Runs the network over a batch; see `Input` for shapes. With `return_sequence` off,
    /// a unidirectional call without lengths runs in chunks of `FINAL_ONLY_CHUNK` steps, so
    /// its GPU memory does not grow with T.
    #[cfg(feature = "native")]
    pub fn forward(&self, gpu: &Gpu, input: &Input<'_>, opts: ForwardOptions) -> Result<Output> {
        pollster::block_on(self.forward_async(gpu, input, opts))
    }

    /// `forward` without blocking (the browser's only way; natively it polls the device).
    pub async fn forward_async(
        &self,
        gpu: &Gpu,
        input: &Input<'_>,
        opts: ForwardOptions,
    ) -> Result<Output> {
        self.check_input(input)?;
        if !opts.return_sequence
            && !self.spec.bidirectional
            && input.lengths.is_none()
            && input.t > FINAL_ONLY_CHUNK
        {
            return self.forward_chunked_async(gpu, input, opts).await;
        }
        let variant = self.pick(gpu, input.b, opts.variant)?;
        let key =
            PlanKey { t: input.t, b: input.b, variant, return_sequence: opts.return_sequence };
        let (staged, reads) = {
            let mut slot = self.plan.lock().map_err(|_| poisoned("forward plan"))?;
            if slot.as_ref().map(|p| p.key) != Some(key) {
                *slot = None; // free the old buffers first
                *slot = Some(self.build_plan(gpu, key)?);
            }
            let plan = slot.as_ref().ok_or_else(|| poisoned("forward plan"))?;
            self.submit(gpu, plan, input, StateInit::Host)?
        };
        let got = gpu.fetch(staged).await?;
        Ok(self.unpack(&reads, got))
    }

    /// Records a whole forward call of `plan` into `enc` (inputs already uploaded). Used by
    /// benchmarks that time many calls without reading back.
    fn encode(&self, plan: &Plan, enc: &mut wgpu::CommandEncoder, mut prof: Option<&mut Profiler>) {
        let s = &self.spec;
        let (b, d) = (plan.key.b, s.directions());
        let state_bytes = (d * b * hp(s.hidden_size) * 4) as u64;
        let c_bytes = (d * b * s.hidden_size * 4) as u64;
        for (l, lb) in plan.binds.iter().enumerate() {
            enc.copy_buffer_to_buffer(
                &plan.h0,
                l as u64 * state_bytes,
                &plan.h_state[0],
                0,
                state_bytes,
            );
            if s.cell.has_cell_state() {
                enc.copy_buffer_to_buffer(&plan.c0, l as u64 * c_bytes, &plan.c_state, 0, c_bytes);
            }
            if let (Some(gemm), Some(bg)) = (&plan.gemm, &lb.gemm_bg) {
                let tw = prof.as_deref_mut().and_then(|p| p.pass(profile::INPUT_GEMM));
                let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("input gemm"),
                    timestamp_writes: tw,
                });
                pass.set_pipeline(&gemm.pipeline);
                pass.set_bind_group(0, bg, &[]);
                pass.dispatch_workgroups(lb.gemm_groups.0, lb.gemm_groups.1, 1);
            }
            {
                let family =
                    if plan.gemm.is_some() { profile::RECURRENT_STEP } else { profile::FUSED_STEP };
                let tw = prof.as_deref_mut().and_then(|p| p.pass(family));
                let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("recurrent"),
                    timestamp_writes: tw,
                });
                pass.set_pipeline(&plan.recurrent.pipeline);
                let (gx, gy, gz) = plan.rec_groups;
                for i in 0..plan.rec_dispatches {
                    pass.set_bind_group(0, &lb.step_bgs[i % 2], &[(i as u64 * plan.align) as u32]);
                    pass.dispatch_workgroups(gx, gy, gz);
                }
            }
            let (last, offset) = plan.h_last;
            enc.copy_buffer_to_buffer(
                &plan.h_state[last],
                offset,
                &plan.h_n,
                l as u64 * state_bytes,
                state_bytes,
            );
            if s.cell.has_cell_state() {
                enc.copy_buffer_to_buffer(&plan.c_state, 0, &plan.c_n, l as u64 * c_bytes, c_bytes);
            }
        }
    }

    /// Uploads, records and submits a forward call of `plan`, and stages its results for
    /// readback.
    fn submit(
        &self,
        gpu: &Gpu,
        plan: &Plan,
        input: &Input<'_>,
        init: StateInit,
    ) -> Result<(Staged, ForwardReads)> {
        let s = &self.spec;
        let (t, b) = (input.t, input.b);
        let (h, d, hpad) = (s.hidden_size, s.directions(), hp(s.hidden_size));
        let n_state = s.num_layers * d * b;
        let mut enc = gpu.device.create_command_encoder(&Default::default());
        match init {
            StateInit::Host => self.upload(gpu, plan, input)?,
            StateInit::Carry => {
                self.upload_x(gpu, plan, input)?;
                enc.copy_buffer_to_buffer(&plan.h_n, 0, &plan.h0, 0, (n_state * hpad * 4) as u64);
                if s.cell.has_cell_state() {
                    enc.copy_buffer_to_buffer(&plan.c_n, 0, &plan.c0, 0, (n_state * h * 4) as u64);
                }
            }
        }
        self.encode(plan, &mut enc, None);
        gpu.queue.submit([enc.finish()]);
        let mut reads: Vec<(&wgpu::Buffer, usize)> = vec![(&plan.h_n, n_state * hpad)];
        if s.cell.has_cell_state() {
            reads.push((&plan.c_n, n_state * h));
        }
        let out_buf = &plan.outs[(s.num_layers - 1) % plan.outs.len()];
        if plan.key.return_sequence {
            reads.push((out_buf, t * b * d * hpad));
        }
        let staged = gpu.stage(&reads);
        Ok((
            staged,
            ForwardReads {
                t,
                b,
                return_sequence: plan.key.return_sequence,
                variant: plan.key.variant,
            },
        ))
    }

    /// The results of a forward call from its staged readback.
    fn unpack(&self, r: &ForwardReads, got: Vec<Vec<f32>>) -> Output {
        let s = &self.spec;
        let (h, d, hpad) = (s.hidden_size, s.directions(), hp(s.hidden_size));
        let n_state = s.num_layers * d * r.b;
        let mut got = got.into_iter();
        let h_n = unpad_rows(&got.next().unwrap_or_default(), n_state, h, hpad);
        let c_n = if s.cell.has_cell_state() { got.next().unwrap_or_default() } else { vec![] };
        let output = if r.return_sequence {
            // [T*B, D*Hp] -> [T*B, D*H]: every direction's block loses its padding.
            unpad_rows(&got.next().unwrap_or_default(), r.t * r.b * d, h, hpad)
        } else {
            vec![]
        };
        Output { output, h_n, c_n, variant: r.variant }
    }

    /// Writes x and lengths into the plan's buffers.
    fn upload_x(&self, gpu: &Gpu, plan: &Plan, input: &Input<'_>) -> Result<()> {
        let s = &self.spec;
        let (t, b) = (input.t, input.b);
        let ip = hp(s.input_size);
        if ip == s.input_size {
            // no padding: straight from the caller's slice (saves a copy of x per call)
            gpu.queue.write_buffer(&plan.x, 0, bytemuck::cast_slice(input.x));
        } else {
            gpu.queue.write_buffer(
                &plan.x,
                0,
                bytemuck::cast_slice(&pad_rows(input.x, t * b, s.input_size, ip)),
            );
        }
        let lengths: Vec<u32> = match input.lengths {
            Some(l) => check_lengths(l, t, b)?.iter().map(|&v| v as u32).collect(),
            None => vec![t as u32; b],
        };
        gpu.queue.write_buffer(&plan.lengths, 0, bytemuck::cast_slice(&lengths));
        Ok(())
    }

    /// Writes x, lengths and the initial states (zeros when absent).
    fn upload(&self, gpu: &Gpu, plan: &Plan, input: &Input<'_>) -> Result<()> {
        self.upload_x(gpu, plan, input)?;
        let s = &self.spec;
        let (h, hpad) = (s.hidden_size, hp(s.hidden_size));
        let n_state = s.num_layers * s.directions() * input.b;
        let h0 = input
            .h0
            .map(|v| pad_rows(v, n_state, h, hpad))
            .unwrap_or_else(|| vec![0.0; n_state * hpad]);
        gpu.queue.write_buffer(&plan.h0, 0, bytemuck::cast_slice(&h0));
        if s.cell.has_cell_state() {
            let c0 = input.c0.map(|v| v.to_vec()).unwrap_or_else(|| vec![0.0; n_state * h]);
            gpu.queue.write_buffer(&plan.c0, 0, bytemuck::cast_slice(&c0));
        }
        Ok(())
    }

    pub(crate) fn check_input_pub(&self, input: &Input<'_>) -> Result<()> {
        self.check_input(input)
    }

    fn check_input(&self, input: &Input<'_>) -> Result<()> {
        let s = &self.spec;
        check_batch(
            s,
            input.t,
            input.b,
            input.x.len(),
            input.h0.map(|v| v.len()),
            input.c0.map(|v| v.len()),
        )?;
        check_finite("x", input.x)?;
        if let Some(h0) = input.h0 {
            check_finite("h0", h0)?;
        }
        if let Some(c0) = input.c0 {
            check_finite("c0", c0)?;
        }
        if let Some(l) = input.lengths {
            check_lengths(l, input.t, input.b)?;
        }
        Ok(())
    }

    fn pick(&self, gpu: &Gpu, b: usize, forced: Option<Variant>) -> Result<Variant> {
        let v = forced.unwrap_or_else(|| Variant::auto(gpu, &self.spec, b));
        v.check_supported(gpu, &self.spec)?;
        Ok(v)
    }

    fn build_plan(&self, gpu: &Gpu, key: PlanKey) -> Result<Plan> {
        let s = &self.spec;
        let (t, b) = (key.t, key.b);
        let (h, g, d, hpad) = (s.hidden_size, s.gates(), s.directions(), hp(s.hidden_size));
        let n_state = s.num_layers * d * b;
        let f = 4u64;
        let sizes = [
            ("x", (t * b * hp(s.input_size)) as u64 * f),
            ("xg", (t * b * d * g * h) as u64 * f),
            ("output", (t * b * d * hpad) as u64 * f),
            ("h_n", (n_state * hpad) as u64 * f),
        ];
        let fused = matches!(key.variant, Variant::FusedSubgroup | Variant::FusedPersistent);
        for (what, bytes) in sizes {
            // the fused variants have no input projection buffer
            if !(fused && what == "xg") {
                gpu.check_binding(what, bytes)?;
            }
        }
        let x = gpu.storage("x", sizes[0].1);
        let xg = gpu.storage("xg", if fused { 16 } else { sizes[1].1 });
        let outs: Vec<wgpu::Buffer> =
            (0..s.num_layers.min(2)).map(|_| gpu.storage("out", sizes[2].1)).collect();
        let h0 = gpu.storage("h0", sizes[3].1);
        let h_n = gpu.storage("h_n", sizes[3].1);
        let c0 = gpu.storage("c0", (n_state * h) as u64 * f);
        let c_n = gpu.storage("c_n", (n_state * h) as u64 * f);
        // fused-persistent keeps both halves of the state in one buffer (h_state[0])
        let fused_persistent = key.variant == Variant::FusedPersistent;
        let state_bytes = (d * b * hpad) as u64 * f;
        let h_state = [0, 1].map(|i| {
            gpu.storage(
                "h_state",
                if fused_persistent && i == 0 { 2 * state_bytes } else { state_bytes },
            )
        });
        let c_state = gpu.storage("c_state", (d * b * h) as u64 * f);
        let lengths = gpu.storage("lengths", b as u64 * 4);

        let gemm_variant = key.variant.gemm(gpu);
        let gemm = if fused { None } else { Some(gemm_variant.kernel(gpu)?) };
        let persistent = matches!(
            key.variant,
            Variant::Persistent | Variant::PersistentSubgroup | Variant::FusedPersistent
        );
        let mut chunk = t;
        let (recurrent, rec_groups) = if key.variant == Variant::Persistent {
            let shape = PersistentShape::new(gpu, s, b)?;
            chunk = persistent_chunk(shape.rows, h);
            (
                persistent_kernel(gpu, s.cell, h, shape)?,
                (b.div_ceil(shape.rows) as u32, d as u32, 1),
            )
        } else if fused_persistent {
            let kp = self.layers.iter().map(|lw| lw.kp).max().unwrap_or(0);
            chunk = super::kernels::fused_persistent_chunk(s, b, kp, false);
            let k = super::kernels::fused_kernel(gpu, s.cell, b, Some(chunk), false)?;
            (k, (b.div_ceil(super::kernels::step_subgroup_rows(b)) as u32, d as u32, 1))
        } else if key.variant == Variant::PersistentSubgroup {
            let (k, rows) = persistent_subgroup_kernel(gpu, s.cell, h, b)?;
            chunk = persistent_chunk(rows, h);
            (k, (b.div_ceil(rows) as u32, d as u32, 1))
        } else {
            let k = step_kernel(gpu, key.variant, s.cell, b)?;
            let groups = step_groups(key.variant, s.cell, h, b);
            (k, (groups.0 as u32, groups.1 as u32, d as u32))
        };
        gpu.check_groups("recurrent step (x)", rec_groups.0)?;
        gpu.check_groups("recurrent step (y)", rec_groups.1)?;

        // Per-step kernels: one entry per step. Persistent kernels: one per chunk of steps,
        // `step` being the chunk's first step.
        let entries: Vec<usize> =
            if persistent { (0..t).step_by(chunk).collect() } else { (0..t).collect() };
        let mut align = 0;
        let mut keep = Vec::new();
        let mut binds = Vec::new();
        for (l, lw) in self.layers.iter().enumerate() {
            let last = l + 1 == s.num_layers;
            let flags = if !last || key.return_sequence { FLAG_WRITE_OUT } else { 0 };
            let step_params = entries.iter().map(|&step| StepParams::new(s, t, b, step, flags));
            let (params, al) = if fused {
                let kp4 = (lw.kp / 4) as u32;
                step_entries(
                    gpu,
                    "fused step params",
                    step_params.map(|step| FusedParams { step, kp4, pad: [0; 3] }),
                )
            } else {
                step_entries(gpu, "step params", step_params)
            };
            align = al;
            let gp = GemmParams {
                m: (t * b) as u32,
                n: (d * g * h) as u32,
                kp4: (lw.kp / 4) as u32,
                pad: 0,
            };
            let gemm_params = gpu.uniform_init("gemm params", bytemuck::bytes_of(&gp));
            let input = if l == 0 { &x } else { &outs[(l - 1) % outs.len()] };
            let out = &outs[l % outs.len()];
            let gemm_groups = gemm_variant.groups(t * b, d * g * h);
            gpu.check_groups("input GEMM (x)", gemm_groups.0)?;
            gpu.check_groups("input GEMM (y)", gemm_groups.1)?;
            let gemm_bg =
                gemm.as_ref().map(|k| k.bind(gpu, &[&gemm_params, input, &lw.w_ih, &lw.b_ih, &xg]));
            let step_bgs = [0, 1].map(|i| {
                let (h_out, h_in) = if fused_persistent {
                    (&h_state[0], &h_state[0])
                } else {
                    (&h_state[1 - i], &h_state[i])
                };
                if fused {
                    let bufs = [
                        &params, input, &lw.w_ih, &lw.b_ih, &lw.w_hh, &lw.b_hh, &lengths, h_in,
                        h_out, &c_state, out,
                    ];
                    recurrent.bind(gpu, &bufs)
                } else {
                    // The reserve-space bindings (8..10) are unused at inference: any buffer will do.
                    let bufs = [
                        &params, &xg, &lw.w_hh, &lw.b_hh, &lengths, h_out, &c_state, out, &c_state,
                        &c_state, &c_state, h_in,
                    ];
                    recurrent.bind(gpu, &bufs)
                }
            });
            keep.push(params);
            keep.push(gemm_params);
            binds.push(LayerBinds { gemm_bg, gemm_groups, step_bgs });
        }
        keep.push(xg);
        Ok(Plan {
            key,
            x,
            outs,
            h0,
            c0,
            h_state,
            c_state,
            h_n,
            c_n,
            lengths,
            _keep: keep,
            binds,
            gemm,
            recurrent,
            rec_groups,
            rec_dispatches: entries.len(),
            // the state before step s is in half s % 2 of fused-persistent's buffer
            h_last: if fused_persistent {
                (0, (t % 2) as u64 * state_bytes)
            } else {
                (entries.len() % 2, 0)
            },
            align,
        })
    }
}

/// Steps per chunk of a final-states-only forward (`ForwardOptions::return_sequence` off).
pub const FINAL_ONLY_CHUNK: usize = 256;

impl GpuModel {
    async fn forward_chunked_async(
        &self,
        gpu: &Gpu,
        input: &Input<'_>,
        opts: ForwardOptions,
    ) -> Result<Output> {
        let mut stream = self.stream(input.b)?;
        stream.h0 = input.h0.map(|v| v.to_vec());
        stream.c0 = input.c0.map(|v| v.to_vec());
        stream.variant = opts.variant;
        let row = input.b * self.spec.input_size;
        let mut last = None;
        for chunk in input.x.chunks(FINAL_ONLY_CHUNK * row) {
            last = Some(stream.step_full_async(gpu, chunk).await?);
        }
        let mut out = last.ok_or_else(|| Error::shape("x", "T >= 1 steps", 0))?;
        out.output = vec![];
        Ok(out)
    }
}

/// A batch of B streams advanced a few steps at a time with constant memory (real-time
/// use). Unidirectional models only: a reverse direction needs the whole sequence.
pub struct Stream<'m> {
    model: &'m GpuModel,
    b: usize,
    variant: Option<Variant>,
    plan: Option<Plan>,
    started: bool,
    h0: Option<Vec<f32>>,
    c0: Option<Vec<f32>>,
}

impl GpuModel {
    /// A stream state for `b` sequences, starting from zeros (or `with_state`).
    pub fn stream(&self, b: usize) -> Result<Stream<'_>> {
        if self.spec.bidirectional {
            return Err(Error::Config(
                "streaming needs a unidirectional model (bidirectional=true given)".into(),
            ));
        }
        if b == 0 {
            return Err(Error::shape("stream batch", ">= 1", 0));
        }
        Ok(Stream { model: self, b, variant: None, plan: None, started: false, h0: None, c0: None })
    }
}

impl Stream<'_> {
    /// Starts from the given states [L, B, H] instead of zeros.
    pub fn with_state(mut self, h0: Vec<f32>, c0: Option<Vec<f32>>) -> Self {
        self.h0 = Some(h0);
        self.c0 = c0;
        self
    }

    pub fn with_variant(mut self, v: Variant) -> Self {
        self.variant = Some(v);
        self
    }

    /// Advances every stream by k = x.len() / (B*I) steps; x is [k, B, I]. Returns the last
    /// layer's outputs [k, B, H]; the state stays on the GPU.
    #[cfg(feature = "native")]
    pub fn step(&mut self, gpu: &Gpu, x: &[f32]) -> Result<Vec<f32>> {
        Ok(self.step_full(gpu, x)?.output)
    }

    /// Like `step`, also returning the states after the last step.
    #[cfg(feature = "native")]
    pub fn step_full(&mut self, gpu: &Gpu, x: &[f32]) -> Result<Output> {
        pollster::block_on(self.step_full_async(gpu, x))
    }

    /// `step` without blocking.
    pub async fn step_async(&mut self, gpu: &Gpu, x: &[f32]) -> Result<Vec<f32>> {
        Ok(self.step_full_async(gpu, x).await?.output)
    }

    /// `step_full` without blocking.
    pub async fn step_full_async(&mut self, gpu: &Gpu, x: &[f32]) -> Result<Output> {
        let s = &self.model.spec;
        let row = self.b * s.input_size;
        if x.is_empty() || !x.len().is_multiple_of(row) {
            return Err(Error::shape(
                "stream x",
                format!("[k, {}, {}]", self.b, s.input_size),
                format!("{} values", x.len()),
            ));
        }
        let k = x.len() / row;
        let variant = self.model.pick(gpu, self.b, self.variant)?;
        let key = PlanKey { t: k, b: self.b, variant, return_sequence: true };
        let same_plan = self.plan.as_ref().map(|p| p.key) == Some(key);
        if self.started && !same_plan {
            // A new chunk length: carry the state over through the host once.
            let prev = self.plan.as_ref().ok_or_else(|| poisoned("stream plan"))?;
            let hpad = hp(s.hidden_size);
            let n = s.num_layers * self.b;
            let mut got = gpu
                .read_many_async(&[(&prev.h_n, n * hpad), (&prev.c_n, n * s.hidden_size)])
                .await?;
            let c = got.pop().unwrap_or_default();
            self.h0 = Some(unpad_rows(&got.pop().unwrap_or_default(), n, s.hidden_size, hpad));
            self.c0 = s.cell.has_cell_state().then_some(c);
        }
        let carry = self.started && same_plan;
        let (h0, c0) = if carry { (None, None) } else { (self.h0.take(), self.c0.take()) };
        let input =
            Input { t: k, b: self.b, x, h0: h0.as_deref(), c0: c0.as_deref(), lengths: None };
        self.model.check_input(&input)?;
        let init = if carry { StateInit::Carry } else { StateInit::Host };
        if self.plan.as_ref().map(|p| p.key) != Some(key) {
            self.plan = None;
            self.plan = Some(self.model.build_plan(gpu, key)?);
        }
        let plan = self.plan.as_ref().ok_or_else(|| poisoned("stream plan"))?;
        let (staged, reads) = self.model.submit(gpu, plan, &input, init)?;
        let got = gpu.fetch(staged).await?;
        self.started = true;
        Ok(self.model.unpack(&reads, got))
    }
}

impl GpuModel {
    /// One whole forward call (upload, all dispatches, one submit) waited for but not read
    /// back: what benchmarks time. The first call of a shape builds its plan.
    pub fn forward_no_readback(
        &self,
        gpu: &Gpu,
        input: &Input<'_>,
        opts: ForwardOptions,
    ) -> Result<Variant> {
        self.check_input(input)?;
        let variant = self.pick(gpu, input.b, opts.variant)?;
        let key =
            PlanKey { t: input.t, b: input.b, variant, return_sequence: opts.return_sequence };
        let mut slot = self.plan.lock().unwrap();
        if slot.as_ref().map(|p| p.key) != Some(key) {
            *slot = None;
            *slot = Some(self.build_plan(gpu, key)?);
        }
        let plan = slot.as_ref().unwrap();
        self.upload(gpu, plan, input)?;
        let mut enc = gpu.device.create_command_encoder(&Default::default());
        self.encode(plan, &mut enc, None);
        gpu.queue.submit([enc.finish()]);
        gpu.wait()?;
        Ok(variant)
    }
}

impl GpuModel {
    /// GPU time per kernel family for one forward call, in ms (needs TIMESTAMP_QUERY).
    #[cfg(feature = "native")]
    pub fn profile_forward(
        &self,
        gpu: &Gpu,
        input: &Input<'_>,
        opts: ForwardOptions,
    ) -> Result<Vec<(&'static str, f64)>> {
        self.forward_no_readback(gpu, input, opts)?; // builds the plan, warms the pipelines
        let slot = self.plan.lock().unwrap();
        let plan = slot.as_ref().unwrap();
        let mut prof = Profiler::new(gpu, 2 * self.spec.num_layers as u32)?;
        let mut enc = gpu.device.create_command_encoder(&Default::default());
        self.encode(plan, &mut enc, Some(&mut prof));
        prof.resolve(&mut enc);
        gpu.queue.submit([enc.finish()]);
        prof.read(gpu)
    }
}

impl GpuModel {
    /// Reads the parameters back from the GPU (after training updated them in place).
    #[cfg(feature = "native")]
    pub fn read_weights(&self, gpu: &Gpu) -> Result<Weights> {
        let bufs: Vec<[&wgpu::Buffer; 4]> =
            self.layers.iter().map(|lw| [&lw.w_ih, &lw.w_hh, &lw.b_ih, &lw.b_hh]).collect();
        self.read_param_layout(gpu, &bufs)
    }

    /// Reads per-layer [w_ih, w_hh, b_ih, b_hh]-shaped buffers in the GPU layouts (the
    /// weights, or their gradients) back into a `Weights` with PyTorch's layouts.
    #[cfg(feature = "native")]
    pub(crate) fn read_param_layout(
        &self,
        gpu: &Gpu,
        bufs: &[[&wgpu::Buffer; 4]],
    ) -> Result<Weights> {
        let got = gpu.read_many(&self.param_layout_reads(bufs))?;
        Ok(self.param_layout_unpack(&mut got.into_iter()))
    }

    /// The reads of `read_param_layout`: four per layer.
    pub(crate) fn param_layout_reads<'b>(
        &self,
        bufs: &[[&'b wgpu::Buffer; 4]],
    ) -> Vec<(&'b wgpu::Buffer, usize)> {
        let s = &self.spec;
        let (d, gh, hpad) = (s.directions(), s.gates() * s.hidden_size, hp(s.hidden_size));
        let mut reads = vec![];
        for (lw, b) in self.layers.iter().zip(bufs) {
            reads.push((b[0], d * gh * lw.kp));
            reads.push((b[1], d * gh * hpad));
            reads.push((b[2], d * gh));
            reads.push((b[3], d * gh));
        }
        reads
    }

    /// `Weights` from the values of `param_layout_reads`, taken from `it` in order.
    pub(crate) fn param_layout_unpack(&self, it: &mut impl Iterator<Item = Vec<f32>>) -> Weights {
        let s = &self.spec;
        let (h, g, d, hpad) = (s.hidden_size, s.gates(), s.directions(), hp(s.hidden_size));
        let gh = g * h;
        let mut w = Weights::zeros(*s);
        for l in 0..s.num_layers {
            let kp = self.layers[l].kp;
            let k_in = s.layer_input_size(l);
            let mut next = || it.next().unwrap_or_default();
            let (w_ih, w_hh, b_ih, b_hh) = (next(), next(), next(), next());
            for dir in 0..d {
                let p = w.dir_mut(l, dir);
                for row in 0..gh {
                    let r = dir * gh + row;
                    for c in 0..k_in {
                        // Layer l > 0 reads out[.., dir'*Hp + j]: see `new`.
                        let cp = if l == 0 { c } else { (c / h) * hpad + c % h };
                        p.w_ih[row * k_in + c] = w_ih[r * kp + cp] as f64;
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
}
