//! Training calls on the GPU: forward and backpropagation through time with a model's
//! cached training plan (grad_plan.rs), one command encoder and one submit per call; the
//! per-step traces of `stability` and the per-step states of `trace`.

use super::context::Gpu;
use super::grad_plan::GradPlan;
pub use super::grad_plan::{auto_training_variant, training_variant};
use super::kernels::Variant;
use super::layout::{hp, pad_rows, param_layout_reads, param_layout_unpack, unpad_rows, Input};
use super::model::GpuModel;
use super::profile::Profiler;
use super::recurrence::Reserve;
use crate::error::{check_finite, Error, Result};
use crate::spec::RnnSpec;
use crate::weights::Weights;

/// The gradients flowing into one training call: dL/d of each forward result.
#[derive(Clone, Copy, Debug)]
pub struct GradInput<'a> {
    /// dL/d(output), [T, B, D*H].
    pub d_output: &'a [f32],
    /// dL/d(h_n), [L*D, B, H]; None is zero.
    pub d_h_n: Option<&'a [f32]>,
    /// dL/d(c_n), [L*D, B, H]; None is zero. Only for LSTM (`Error::Config` otherwise).
    pub d_c_n: Option<&'a [f32]>,
}

/// Forward results and every gradient of one training call.
#[derive(Clone, Debug)]
pub struct GradOutput {
    /// The forward output, [T, B, D*H].
    pub output: Vec<f32>,
    /// The forward final hidden state, [L*D, B, H].
    pub h_n: Vec<f32>,
    /// The forward final cell state, [L*D, B, H] (LSTM; empty otherwise).
    pub c_n: Vec<f32>,
    /// parameter gradients, in the weights' layout and PyTorch names
    pub weights: Weights,
    /// dL/dx, [T, B, I] (empty from `weight_grads`)
    pub x: Vec<f32>,
    /// dL/dh0, [L*D, B, H]
    pub h0: Vec<f32>,
    /// dL/dc0, [L*D, B, H] (LSTM; empty otherwise)
    pub c0: Vec<f32>,
    /// The variant that computed it.
    pub variant: Variant,
}

/// The per-step gradients and gates an engine produced, for
/// `stability::summarize`.
pub struct Trace {
    /// dL/dh_t of the last layer, forward direction: [T, B, H]
    pub dh: Vec<f64>,
    /// LSTM: dL/dc_t likewise
    pub dc: Option<Vec<f64>>,
    /// activated gates of the last layer, forward direction: [T, B, G*H]
    pub gates: Vec<f64>,
}

impl GpuModel {
    fn check_grad_input(&self, input: &Input<'_>, g: &GradInput<'_>) -> Result<()> {
        let s = &self.spec;
        let n_out = input.t * input.b * s.output_size();
        if g.d_output.len() != n_out {
            return Err(Error::shape(
                "d_output",
                format!("[{}, {}, {}]", input.t, input.b, s.output_size()),
                format!("{} values", g.d_output.len()),
            ));
        }
        check_finite("d_output", g.d_output)?;
        let n_state = s.num_layers * s.directions() * input.b * s.hidden_size;
        for (name, v) in [("d_h_n", g.d_h_n), ("d_c_n", g.d_c_n)] {
            if let Some(v) = v {
                if v.len() != n_state {
                    return Err(Error::shape(name, format!("{n_state} values"), v.len()));
                }
                check_finite(name, v)?;
            }
        }
        if g.d_c_n.is_some() && !s.cell.has_cell_state() {
            return Err(Error::Config(format!(
                "d_c_n given, but a {} cell has no cell state",
                s.cell
            )));
        }
        Ok(())
    }

    fn upload_train(
        &self,
        gpu: &Gpu,
        plan: &GradPlan,
        input: &Input<'_>,
        g: &GradInput<'_>,
    ) -> Result<()> {
        let s = &self.spec;
        let (t, b, h, hpad) = (input.t, input.b, s.hidden_size, hp(s.hidden_size));
        let n_state = s.num_layers * s.directions() * b;
        let q = &gpu.queue;
        plan.upload_x(gpu, s, input)?;
        let pad_or_zero = |v: Option<&[f32]>, cols: usize, colsp: usize| match v {
            Some(v) => pad_rows(v, n_state, cols, colsp),
            None => vec![0.0; n_state * colsp],
        };
        q.write_buffer(&plan.h0, 0, bytemuck::cast_slice(&pad_or_zero(input.h0, h, hpad)));
        q.write_buffer(&plan.d_h_n, 0, bytemuck::cast_slice(&pad_or_zero(g.d_h_n, h, hpad)));
        if s.cell.has_cell_state() {
            q.write_buffer(&plan.c0, 0, bytemuck::cast_slice(&pad_or_zero(input.c0, h, h)));
            q.write_buffer(&plan.d_c_n, 0, bytemuck::cast_slice(&pad_or_zero(g.d_c_n, h, h)));
        }
        q.write_buffer(
            &plan.dout,
            0,
            bytemuck::cast_slice(&pad_rows(g.d_output, t * b * s.directions(), h, hpad)),
        );
        Ok(())
    }

    /// Forward and backward through time: the gradient of
    /// L = Σ output·d_output + Σ h_n·d_h_n + Σ c_n·d_c_n with respect to every parameter,
    /// x, h0 and c0, plus the forward results.
    #[cfg(feature = "native")]
    pub fn forward_backward(
        &self,
        gpu: &Gpu,
        input: &Input<'_>,
        grad: &GradInput<'_>,
        variant: Option<Variant>,
    ) -> Result<GradOutput> {
        pollster::block_on(self.forward_backward_async(gpu, input, grad, variant))
    }

    /// `forward_backward` without blocking.
    pub async fn forward_backward_async(
        &self,
        gpu: &Gpu,
        input: &Input<'_>,
        grad: &GradInput<'_>,
        variant: Option<Variant>,
    ) -> Result<GradOutput> {
        self.train_async(gpu, input, grad, variant, true).await
    }

    /// `weight_grads` without blocking.
    pub async fn weight_grads_async(
        &self,
        gpu: &Gpu,
        input: &Input<'_>,
        grad: &GradInput<'_>,
        variant: Option<Variant>,
    ) -> Result<GradOutput> {
        self.train_async(gpu, input, grad, variant, false).await
    }

    /// One training call, its results staged under the plan's lock and read after it.
    async fn train_async(
        &self,
        gpu: &Gpu,
        input: &Input<'_>,
        grad: &GradInput<'_>,
        variant: Option<Variant>,
        input_grad: bool,
    ) -> Result<GradOutput> {
        let (staged, v) = self.run_train(gpu, input, grad, variant, input_grad, |plan| {
            Ok((gpu.stage(&self.grad_reads(plan, input, input_grad)), plan.key.variant))
        })?;
        let got = gpu.fetch(staged).await?;
        Ok(self.unpack_grads(input, input_grad, v, got))
    }

    /// One training call (upload, forward, backward) waited for, nothing read back.
    pub fn forward_backward_no_readback(
        &self,
        gpu: &Gpu,
        input: &Input<'_>,
        grad: &GradInput<'_>,
        variant: Option<Variant>,
    ) -> Result<Variant> {
        self.run_train(gpu, input, grad, variant, true, |plan| gpu.wait().map(|_| plan.key.variant))
    }

    /// `forward_backward` without dL/dx of the network input (`GradOutput::x` is empty):
    /// what training needs (every parameter, h0 and c0), one GEMM less — PyTorch's backward
    /// when x does not require grad.
    #[cfg(feature = "native")]
    pub fn weight_grads(
        &self,
        gpu: &Gpu,
        input: &Input<'_>,
        grad: &GradInput<'_>,
        variant: Option<Variant>,
    ) -> Result<GradOutput> {
        pollster::block_on(self.weight_grads_async(gpu, input, grad, variant))
    }

    /// `weight_grads` waited for, nothing read back.
    pub fn weight_grads_no_readback(
        &self,
        gpu: &Gpu,
        input: &Input<'_>,
        grad: &GradInput<'_>,
        variant: Option<Variant>,
    ) -> Result<Variant> {
        self.run_train(gpu, input, grad, variant, false, |plan| {
            gpu.wait().map(|_| plan.key.variant)
        })
    }

    /// Checks, uploads, records forward + backward in one encoder, submits, then `finish`.
    fn run_train<T>(
        &self,
        gpu: &Gpu,
        input: &Input<'_>,
        grad: &GradInput<'_>,
        variant: Option<Variant>,
        input_grad: bool,
        finish: impl FnOnce(&GradPlan) -> Result<T>,
    ) -> Result<T> {
        self.check_input(input)?;
        self.check_grad_input(input, grad)?;
        self.with_grad_plan(gpu, input, variant, false, |plan| {
            self.upload_train(gpu, plan, input, grad)?;
            let mut enc = gpu.device.create_command_encoder(&Default::default());
            self.encode_train(plan, &mut enc, None, input_grad);
            gpu.queue.submit([enc.finish()]);
            finish(plan)
        })
    }

    /// GPU time per kernel family of one training call (dL/dx of the network input
    /// included when `input_grad`), in ms.
    #[cfg(feature = "native")]
    pub fn profile_train(
        &self,
        gpu: &Gpu,
        input: &Input<'_>,
        grad: &GradInput<'_>,
        variant: Option<Variant>,
        input_grad: bool,
    ) -> Result<Vec<(&'static str, f64)>> {
        self.run_train(gpu, input, grad, variant, input_grad, |_| gpu.wait())?;
        self.with_grad_plan(gpu, input, variant, false, |plan| {
            let mut prof = Profiler::new(gpu, 4 * self.spec.num_layers as u32)?;
            let mut enc = gpu.device.create_command_encoder(&Default::default());
            self.encode_train(plan, &mut enc, Some(&mut prof), input_grad);
            prof.resolve(&mut enc);
            gpu.queue.submit([enc.finish()]);
            prof.read(gpu)
        })
    }

    /// The reads of a training call's results: outputs, states, dL/dx (when `input_grad`),
    /// dL/dh0, dL/dc0, then the parameter gradients.
    fn grad_reads<'p>(
        &self,
        plan: &'p GradPlan,
        input: &Input<'_>,
        input_grad: bool,
    ) -> Vec<(&'p wgpu::Buffer, usize)> {
        let s = &self.spec;
        let (t, b) = (input.t, input.b);
        let (h, d, hpad) = (s.hidden_size, s.directions(), hp(s.hidden_size));
        let n_state = s.num_layers * d * b;
        let (top, bottom) = (&plan.layers[plan.layers.len() - 1], &plan.layers[0]);
        let mut reads: Vec<(&wgpu::Buffer, usize)> = vec![
            (&top.out, t * b * d * hpad),
            (&plan.h_n, n_state * hpad),
            (&plan.c_n, n_state * h),
            (&bottom.dx, if input_grad { t * b * self.layers[0].kp } else { 0 }),
            (&plan.dh0, n_state * hpad),
            (&plan.dc0, n_state * h),
        ];
        let grads: Vec<[&'p wgpu::Buffer; 4]> = plan.layers.iter().map(|l| l.grads()).collect();
        reads.extend(param_layout_reads(&self.spec, &self.layers, &grads, crate::Precision::F32));
        reads
    }

    /// A training call's results from the values of `grad_reads`.
    fn unpack_grads(
        &self,
        input: &Input<'_>,
        input_grad: bool,
        variant: Variant,
        got: Vec<Vec<f32>>,
    ) -> GradOutput {
        let s = &self.spec;
        let (t, b) = (input.t, input.b);
        let (h, d, hpad) = (s.hidden_size, s.directions(), hp(s.hidden_size));
        let n_state = s.num_layers * d * b;
        let mut it = got.into_iter();
        let output = unpad_rows(&it.next().unwrap_or_default(), t * b * d, h, hpad);
        let h_n = unpad_rows(&it.next().unwrap_or_default(), n_state, h, hpad);
        let c_n = if s.cell.has_cell_state() {
            it.next().unwrap_or_default()
        } else {
            it.next();
            vec![]
        };
        let x = if input_grad {
            unpad_rows(&it.next().unwrap_or_default(), t * b, s.input_size, hp(s.input_size))
        } else {
            it.next();
            vec![]
        };
        let h0 = unpad_rows(&it.next().unwrap_or_default(), n_state, h, hpad);
        let c0 = if s.cell.has_cell_state() {
            it.next().unwrap_or_default()
        } else {
            it.next();
            vec![]
        };
        let gw = param_layout_unpack(&self.spec, &self.layers, &mut it, crate::Precision::F32);
        GradOutput { output, h_n, c_n, weights: gw, x, h0, c0, variant }
    }
}

impl GpuModel {
    /// Forward and backward with dL/d(output) = `d_output` (no gradient at the final
    /// states), recording dL/dh_t (and dL/dc_t) of every step of the last layer's forward
    /// direction and its activated gates: the GPU engine of `stability`.
    #[cfg(feature = "native")]
    pub fn trace_steps(&self, gpu: &Gpu, input: &Input<'_>, d_output: &[f32]) -> Result<Trace> {
        pollster::block_on(self.trace_steps_async(gpu, input, d_output))
    }

    /// `trace_steps` without blocking.
    pub async fn trace_steps_async(
        &self,
        gpu: &Gpu,
        input: &Input<'_>,
        d_output: &[f32],
    ) -> Result<Trace> {
        self.check_input(input)?;
        let grad = GradInput { d_output, d_h_n: None, d_c_n: None };
        self.check_grad_input(input, &grad)?;
        let s = self.spec;
        let (t, b) = (input.t, input.b);
        let (h, g, d, hpad) = (s.hidden_size, s.gates(), s.directions(), hp(s.hidden_size));
        let staged = self.with_grad_plan(gpu, input, None, true, |plan| {
            self.upload_train(gpu, plan, input, &grad)?;
            let mut enc = gpu.device.create_command_encoder(&Default::default());
            self.encode_train(plan, &mut enc, None, true);
            gpu.queue.submit([enc.finish()]);
            let tl = &plan.layers[s.num_layers - 1];
            let rs = &tl.reserve;
            // (linear cells keep no hg, no W_hh: their gates read xg alone; a 16-bit
            // reserve keeps no xg)
            let xg = if rs.layout.shared_xg { 0 } else { t * b * d * g * h };
            Ok(gpu.stage_at(&[
                (&tl.trace_dh, 0, t * b * d * hpad),
                (&tl.trace_dh, tl.trace_dc_off, t * b * d * hpad),
                (&rs.xg, 0, xg),
                (&rs.hg, 0, rs.layout.hg),
                (&rs.hg, rs.layout.cprev_off, rs.layout.cprev),
            ]))
        })?;
        let mut got = gpu.fetch(staged).await?;
        let [xg, hg, cprev] = [2, 3, 4].map(|i| std::mem::take(&mut got[i]));
        let (xg, hg, _) = Reserve::unpack(&s, t, b, xg, hg, cprev);
        let dh = dir0_units(&got[0], t * b, d, h);
        let dc = s.cell.has_cell_state().then(|| dir0_units(&got[1], t * b, d, h));
        let dir0 = |v: &[f32], width: usize| -> Vec<f64> {
            (0..t * b)
                .flat_map(|row| v[row * d * width..][..width].iter().map(|&x| x as f64))
                .collect()
        };
        // (linear cells read no hg: it is empty)
        let hg = if hg.is_empty() { vec![] } else { dir0(&hg, g * h) };
        let gates = activated_gates(&s, t * b, &dir0(&xg, g * h), &hg);
        Ok(Trace { dh, dc, gates })
    }
}

/// The activated gates of `rows` rows of pre-activations xg, hg [rows, G*H]; hg is empty
/// for the linear cells, which have none.
fn activated_gates(spec: &RnnSpec, rows: usize, xg: &[f64], hg: &[f64]) -> Vec<f64> {
    let gh = spec.gates() * spec.hidden_size;
    let zeros = vec![0.0; gh];
    (0..rows)
        .flat_map(|r| {
            let hg_r = if hg.is_empty() { &zeros[..] } else { &hg[r * gh..(r + 1) * gh] };
            crate::cells::activations(spec.cell, &xg[r * gh..(r + 1) * gh], hg_r)
        })
        .collect()
}

/// The forward direction's first `h` units of every row of a [R, D*Hp] buffer, as f64:
/// [R, H].
fn dir0_units(v: &[f32], rows: usize, d: usize, h: usize) -> Vec<f64> {
    let hpad = hp(h);
    (0..rows).flat_map(|row| v[row * d * hpad..][..h].iter().map(|&x| x as f64)).collect()
}

/// Per-step states of one layer and direction from a forward pass that keeps the reserve
/// space: what `trace` draws. Rows are [T, B]; steps beyond a row's length are not
/// meaningful.
#[derive(Clone, Debug)]
pub struct StepStates {
    /// h_t: [T, B, H]
    pub h: Vec<f32>,
    /// c_t (LSTM; empty otherwise): [T, B, H]
    pub c: Vec<f32>,
    /// activated gates: [T, B, G*H] (LSTM i, f, g, o; GRU r, z, n; RNN the new h)
    pub gates: Vec<f32>,
}

impl GpuModel {
    /// Runs the training forward (no backward) and reads back h_t, c_t and the activated
    /// gates of every step of `layer`, direction `dir`.
    #[cfg(feature = "native")]
    pub fn forward_states(
        &self,
        gpu: &Gpu,
        input: &Input<'_>,
        layer: usize,
        dir: usize,
    ) -> Result<StepStates> {
        pollster::block_on(self.forward_states_async(gpu, input, layer, dir))
    }

    /// `forward_states` without blocking (what the browser page calls).
    pub async fn forward_states_async(
        &self,
        gpu: &Gpu,
        input: &Input<'_>,
        layer: usize,
        dir: usize,
    ) -> Result<StepStates> {
        Ok(self.forward_states_traced_async(gpu, input, layer, dir, None).await?.0)
    }

    /// `forward_states_async`, and with `d_output` = dL/d(output) [T, B, D*H] also BPTT in
    /// the same call (one plan, one submit, one readback): dL/dh_t of the last layer's
    /// forward direction, [T, B, H], as `trace_steps` records it.
    pub async fn forward_states_traced_async(
        &self,
        gpu: &Gpu,
        input: &Input<'_>,
        layer: usize,
        dir: usize,
        d_output: Option<&[f32]>,
    ) -> Result<(StepStates, Option<Vec<f64>>)> {
        let s = self.spec;
        if layer >= s.num_layers || dir >= s.directions() {
            return Err(Error::Config(format!(
                "layer {layer} direction {dir}: the model has {} layers and {} directions",
                s.num_layers,
                s.directions()
            )));
        }
        self.check_input(input)?;
        let (t, b) = (input.t, input.b);
        let (h, g, d, hpad) = (s.hidden_size, s.gates(), s.directions(), hp(s.hidden_size));
        let zeros = vec![0.0f32; t * b * d * h];
        let traced = d_output.is_some();
        let grad = GradInput { d_output: d_output.unwrap_or(&zeros), d_h_n: None, d_c_n: None };
        if traced {
            self.check_grad_input(input, &grad)?;
        }
        let n_state = s.num_layers * d * b;
        let staged = self.with_grad_plan(gpu, input, None, traced, |plan| {
            self.upload_train(gpu, plan, input, &grad)?;
            let mut enc = gpu.device.create_command_encoder(&Default::default());
            if traced {
                self.encode_train(plan, &mut enc, None, false);
            } else {
                plan.record_forward(&self.spec, &mut enc, None);
            }
            gpu.queue.submit([enc.finish()]);
            let tl = &plan.layers[layer];
            let rs = &tl.reserve;
            // (linear cells keep no hg, no W_hh: their gates read xg alone; a 16-bit
            // reserve keeps no xg)
            let xg = if rs.layout.shared_xg { 0 } else { t * b * d * g * h };
            let top = &plan.layers[s.num_layers - 1];
            Ok(gpu.stage_at(&[
                (&tl.out, 0, t * b * d * hpad),
                (&rs.xg, 0, xg),
                (&rs.hg, 0, rs.layout.hg),
                (&rs.hg, rs.layout.cprev_off, rs.layout.cprev),
                (&plan.c_n, 0, n_state * h),
                (&top.trace_dh, 0, if traced { t * b * d * hpad } else { 0 }),
            ]))
        })?;
        let mut got = gpu.fetch(staged).await?;
        let [xg, hg, cprev] = [1, 2, 3].map(|i| std::mem::take(&mut got[i]));
        let (xg, hg, cprev) = Reserve::unpack(&s, t, b, xg, hg, cprev);
        let dh = traced.then(|| dir0_units(&got[5], t * b, d, h));
        // Row r's slice of `width` values for this direction.
        let pick = |v: &[f32], width: usize, keep: usize| -> Vec<f32> {
            (0..t * b)
                .flat_map(|r| v[(r * d + dir) * width..(r * d + dir) * width + keep].to_vec())
                .collect()
        };
        let hs = pick(&got[0], hpad, h);
        let as64 = |v: Vec<f32>| v.into_iter().map(f64::from).collect::<Vec<f64>>();
        let xg = as64(pick(&xg, g * h, g * h));
        // (linear cells read no hg: it is empty)
        let hg = if hg.is_empty() { vec![] } else { as64(pick(&hg, g * h, g * h)) };
        let gates: Vec<f32> =
            activated_gates(&s, t * b, &xg, &hg).into_iter().map(|x| x as f32).collect();
        // c_t is the c_{t-1} the next step kept; the last step's is c_n (the reverse
        // direction runs backwards in time: its next step is t-1, its last is step 0).
        let len = |row: usize| input.lengths.map_or(t, |l| l[row] as usize);
        let c = if s.cell.has_cell_state() {
            let cprev = pick(&cprev, h, h);
            let c_n = &got[4][((layer * d + dir) * b) * h..((layer * d + dir) * b + b) * h];
            let mut c = vec![0.0f32; t * b * h];
            for st in 0..t {
                let next = if dir == 0 { st + 1 } else { st.wrapping_sub(1) };
                for row in 0..b {
                    let dst = (st * b + row) * h..(st * b + row + 1) * h;
                    if next < len(row) {
                        c[dst].copy_from_slice(
                            &cprev[(next * b + row) * h..(next * b + row + 1) * h],
                        );
                    } else {
                        c[dst].copy_from_slice(&c_n[row * h..(row + 1) * h]);
                    }
                }
            }
            c
        } else {
            vec![]
        };
        Ok((StepStates { h: hs, c, gates }, dh))
    }
}

impl GpuModel {
    /// Records a training call: forward with the reserve space, then backward.
    fn encode_train(
        &self,
        plan: &GradPlan,
        enc: &mut wgpu::CommandEncoder,
        mut prof: Option<&mut Profiler>,
        input_grad: bool,
    ) {
        plan.record_forward(&self.spec, enc, prof.as_deref_mut());
        plan.record_backward(&self.spec, enc, prof, input_grad);
    }
}
