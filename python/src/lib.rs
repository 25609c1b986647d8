//! The Python extension `wgpu_rnn._core`: a model on the GPU (`Model`: forward, forward and
//! backward, parameters by PyTorch's names), the adapter's description and the
//! gradient-stability report. Arrays cross as numpy float32 (int64 lengths); the Python
//! package (`python/wgpu_rnn/`) converts dtypes and layouts and wraps this in torch.nn-style
//! modules. Every engine error becomes a Python exception carrying the engine's message.

use numpy::{
    PyArray1, PyArrayDyn, PyArrayMethods, PyReadonlyArray1, PyReadonlyArrayDyn,
    PyUntypedArrayMethods,
};
use pyo3::exceptions::{PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::sync::OnceLock;
use wgpu_rnn::gpu::backward::GradInput;
use wgpu_rnn::io::TensorFile;
use wgpu_rnn::stability::{self, LossAt};
use wgpu_rnn::{
    CellKind, Error, ForwardOptions, Gpu, GpuModel, Input, Precision, RnnSpec, Variant, Weights,
};

/// The engine's error as the Python exception a caller expects: bad values and shapes are
/// ValueError, files OSError, the device and its limits RuntimeError.
fn py_err(e: Error) -> PyErr {
    let msg = e.to_string();
    match e {
        Error::Io { .. } => PyOSError::new_err(msg),
        Error::NoAdapter { .. }
        | Error::Device(_)
        | Error::DeviceLimit { .. }
        | Error::Unsupported { .. } => PyRuntimeError::new_err(msg),
        _ => PyValueError::new_err(msg),
    }
}

/// The one GPU context of the process, created on first use.
fn gpu() -> PyResult<&'static Gpu> {
    static GPU: OnceLock<Gpu> = OnceLock::new();
    if let Some(g) = GPU.get() {
        return Ok(g);
    }
    let g = Gpu::new().map_err(py_err)?;
    Ok(GPU.get_or_init(|| g))
}

fn slice<'a>(a: &'a PyReadonlyArrayDyn<'_, f32>, what: &str) -> PyResult<&'a [f32]> {
    a.as_slice().map_err(|_| {
        PyValueError::new_err(format!("{what}: expected a C-contiguous float32 array"))
    })
}

fn array<'py>(
    py: Python<'py>,
    v: Vec<f32>,
    shape: &[usize],
) -> PyResult<Bound<'py, PyArrayDyn<f32>>> {
    PyArray1::from_vec(py, v).reshape(shape.to_vec())
}

/// A recurrent network on the GPU with PyTorch's parameter names and layouts.
#[pyclass(module = "wgpu_rnn._core", unsendable)]
struct Model {
    weights: Weights,
    /// uploaded on first use after the weights changed
    on_gpu: Option<GpuModel>,
    variant: Option<Variant>,
    /// ms the last forward or forward_backward spent in the engine (upload, kernels,
    /// readback), without the binding's argument checks, copies and array creation
    last_engine_ms: f64,
}

impl Model {
    fn spec(&self) -> RnnSpec {
        self.weights.spec
    }

    fn gpu_model(&mut self) -> PyResult<(&'static Gpu, &GpuModel)> {
        let g = gpu()?;
        if self.on_gpu.is_none() {
            self.on_gpu = Some(GpuModel::new(g, &self.weights).map_err(py_err)?);
        }
        Ok((g, self.on_gpu.as_ref().expect("uploaded")))
    }

    /// The states' shape [L*D, B, H].
    fn state_shape(&self, b: usize) -> [usize; 3] {
        let s = self.spec();
        [s.num_layers * s.directions(), b, s.hidden_size]
    }
}

#[pymethods]
impl Model {
    /// A model with PyTorch's default initialisation (seeded), its weight matrices stored in
    /// `precision` (f32, f16 or bf16; biases, state and sums stay f32).
    #[new]
    #[pyo3(signature = (cell, input_size, hidden_size, num_layers=1, bidirectional=false, bias=true, nonlinearity="tanh", seed=0, precision="f32"))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        cell: &str,
        input_size: usize,
        hidden_size: usize,
        num_layers: usize,
        bidirectional: bool,
        bias: bool,
        nonlinearity: &str,
        seed: u64,
        precision: &str,
    ) -> PyResult<Self> {
        let kind = CellKind::parse(cell, nonlinearity).map_err(py_err)?;
        let precision: Precision = precision.parse().map_err(py_err)?;
        let spec = RnnSpec::new(kind, input_size, hidden_size)
            .layers(num_layers)
            .bidirectional(bidirectional)
            .with_bias(bias);
        let weights = Weights::init(spec, seed).map_err(py_err)?.to_precision(precision);
        Ok(Model { weights, on_gpu: None, variant: None, last_engine_ms: 0.0 })
    }

    /// How the weight matrices are stored on the device: f32, f16 or bf16.
    #[getter]
    fn precision(&self) -> &'static str {
        self.spec().precision.name()
    }

    /// ms the last call spent in the engine (the rest of a call's time is the binding's).
    #[getter]
    fn last_engine_ms(&self) -> f64 {
        self.last_engine_ms
    }

    /// The cell's registry name (rnn_tanh, rnn_relu, lstm, gru, mingru, minlstm).
    #[getter]
    fn cell(&self) -> &'static str {
        self.spec().cell.name()
    }

    /// The network's sizes as the engine holds them: input_size, hidden_size, num_layers,
    /// bidirectional, bias.
    fn sizes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.spec();
        let d = PyDict::new(py);
        d.set_item("input_size", s.input_size)?;
        d.set_item("hidden_size", s.hidden_size)?;
        d.set_item("num_layers", s.num_layers)?;
        d.set_item("bidirectional", s.bidirectional)?;
        d.set_item("bias", s.bias)?;
        Ok(d)
    }

    /// (name, shape) of every parameter in PyTorch's `named_parameters()` order.
    fn param_shapes(&self) -> Vec<(String, Vec<usize>)> {
        self.spec().param_list()
    }

    /// Every parameter as float32 arrays under PyTorch's names.
    fn state_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (name, shape, values) in self.weights.named() {
            let v: Vec<f32> = values.iter().map(|&x| x as f32).collect();
            d.set_item(name, array(py, v, &shape)?)?;
        }
        Ok(d)
    }

    /// Replaces parameters by name (float32, C-contiguous, PyTorch's shapes); names not in
    /// the model and wrong shapes or non-finite values are ValueError. With `strict`, every
    /// parameter must be given. A 16-bit model rounds the weight matrices to its precision
    /// (nearest, ties to even): the caller keeps the f32 values, the model holds the rounded.
    #[pyo3(signature = (params, strict=true))]
    fn load_state_dict(
        &mut self,
        params: std::collections::HashMap<String, PyReadonlyArrayDyn<'_, f32>>,
        strict: bool,
    ) -> PyResult<()> {
        let spec = self.spec();
        let expected = spec.param_list();
        for name in params.keys() {
            if !expected.iter().any(|(n, _)| n == name) {
                let names: Vec<&str> = expected.iter().map(|(n, _)| n.as_str()).collect();
                return Err(PyValueError::new_err(format!(
                    "unexpected parameter `{name}` for {spec} (its parameters: {})",
                    names.join(", ")
                )));
            }
        }
        let mut w = self.weights.clone();
        let d = spec.directions();
        for layer in 0..spec.num_layers {
            for dir in 0..d {
                for &kind in spec.param_kinds() {
                    let name = spec.param_name(kind, layer, dir);
                    let Some(a) = params.get(&name) else {
                        if strict {
                            return Err(PyValueError::new_err(format!(
                                "missing parameter `{name}` for {spec}"
                            )));
                        }
                        continue;
                    };
                    let want = spec.param_shape(kind, layer);
                    if a.shape() != want.as_slice() {
                        return Err(PyValueError::new_err(format!(
                            "parameter `{name}`: expected shape {want:?}, got {:?}",
                            a.shape()
                        )));
                    }
                    let v = slice(a, &name)?;
                    if let Some(i) = v.iter().position(|x| !x.is_finite()) {
                        return Err(PyValueError::new_err(format!(
                            "parameter `{name}`: value {} at flat index {i} is not finite",
                            v[i]
                        )));
                    }
                    *w.dir_mut(layer, dir).get_mut(kind) = v.iter().map(|&x| x as f64).collect();
                }
            }
        }
        let w = w.to_precision(spec.precision);
        // on the GPU already: rewritten in place (its plans stay valid)
        if let Some(m) = &self.on_gpu {
            m.set_weights(gpu()?, &w).map_err(py_err)?;
        }
        self.weights = w;
        Ok(())
    }

    /// The kernel variant to force (`None`: the engine's pick), by its CLI name.
    #[pyo3(signature = (name=None))]
    fn set_variant(&mut self, name: Option<&str>) -> PyResult<()> {
        self.variant = name.map(|n| n.parse::<Variant>()).transpose().map_err(py_err)?;
        Ok(())
    }

    /// Forward over x [T, B, I] from h0 (and c0) [L*D, B, H] or zeros, with per-sequence
    /// lengths (int64 [B]) or all T: returns (output [T, B, D*H], h_n, c_n or None).
    #[pyo3(signature = (x, h0=None, c0=None, lengths=None))]
    #[allow(clippy::type_complexity)]
    fn forward<'py>(
        &mut self,
        py: Python<'py>,
        x: PyReadonlyArrayDyn<'py, f32>,
        h0: Option<PyReadonlyArrayDyn<'py, f32>>,
        c0: Option<PyReadonlyArrayDyn<'py, f32>>,
        lengths: Option<PyReadonlyArray1<'py, i64>>,
    ) -> PyResult<(
        Bound<'py, PyArrayDyn<f32>>,
        Bound<'py, PyArrayDyn<f32>>,
        Option<Bound<'py, PyArrayDyn<f32>>>,
    )> {
        let (t, b) = seq_shape(&x, self.spec().input_size)?;
        let variant = self.variant;
        let states = self.state_shape(b);
        let out_w = self.spec().output_size();
        let lstm = self.spec().cell.has_cell_state();
        let input = engine_input(&x, &h0, &c0, &lengths, (t, b))?;
        let (g, model) = self.gpu_model()?;
        let opts = ForwardOptions { variant, return_sequence: true };
        let start = std::time::Instant::now();
        let out = py.detach(|| model.forward(g, &input, opts)).map_err(py_err)?;
        self.last_engine_ms = start.elapsed().as_secs_f64() * 1e3;
        let c_n = if lstm { Some(array(py, out.c_n, &states)?) } else { None };
        Ok((array(py, out.output, &[t, b, out_w])?, array(py, out.h_n, &states)?, c_n))
    }

    /// Forward and backpropagation through time for L = Σ output·d_output + Σ h_n·d_h_n
    /// (+ Σ c_n·d_c_n). Returns a dict: output, h_n, c_n (LSTM), and `grad` = a dict of
    /// dL/d every parameter under its name plus x, h0 (and c0).
    #[pyo3(signature = (x, d_output, h0=None, c0=None, lengths=None, d_h_n=None, d_c_n=None))]
    #[allow(clippy::too_many_arguments)]
    fn forward_backward<'py>(
        &mut self,
        py: Python<'py>,
        x: PyReadonlyArrayDyn<'py, f32>,
        d_output: PyReadonlyArrayDyn<'py, f32>,
        h0: Option<PyReadonlyArrayDyn<'py, f32>>,
        c0: Option<PyReadonlyArrayDyn<'py, f32>>,
        lengths: Option<PyReadonlyArray1<'py, i64>>,
        d_h_n: Option<PyReadonlyArrayDyn<'py, f32>>,
        d_c_n: Option<PyReadonlyArrayDyn<'py, f32>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let spec = self.spec();
        let (t, b) = seq_shape(&x, spec.input_size)?;
        let variant = self.variant;
        let states = self.state_shape(b);
        let input = engine_input(&x, &h0, &c0, &lengths, (t, b))?;
        let grad = GradInput {
            d_output: slice(&d_output, "d_output")?,
            d_h_n: d_h_n.as_ref().map(|a| slice(a, "d_h_n")).transpose()?,
            d_c_n: d_c_n.as_ref().map(|a| slice(a, "d_c_n")).transpose()?,
        };
        let (g, model) = self.gpu_model()?;
        let start = std::time::Instant::now();
        let out =
            py.detach(|| model.forward_backward(g, &input, &grad, variant)).map_err(py_err)?;
        self.last_engine_ms = start.elapsed().as_secs_f64() * 1e3;
        let d = PyDict::new(py);
        d.set_item("output", array(py, out.output, &[t, b, spec.output_size()])?)?;
        d.set_item("h_n", array(py, out.h_n, &states)?)?;
        let grads = PyDict::new(py);
        for (name, shape, values) in out.weights.named() {
            let v: Vec<f32> = values.iter().map(|&x| x as f32).collect();
            grads.set_item(name, array(py, v, &shape)?)?;
        }
        grads.set_item("x", array(py, out.x, &[t, b, spec.input_size])?)?;
        grads.set_item("h0", array(py, out.h0, &states)?)?;
        if spec.cell.has_cell_state() {
            d.set_item("c_n", array(py, out.c_n, &states)?)?;
            grads.set_item("c0", array(py, out.c0, &states)?)?;
        }
        d.set_item("grad", grads)?;
        d.set_item("variant", out.variant.name())?;
        Ok(d)
    }

    /// Writes the parameters as .safetensors under PyTorch's names (atomically): the weight
    /// matrices in the model's precision (F32, F16 or BF16), the biases in F32.
    fn save(&self, path: std::path::PathBuf) -> PyResult<()> {
        self.weights.save(path).map_err(py_err)
    }

    /// A model from a .safetensors file of PyTorch-named parameters (sizes from the file) in
    /// `precision`; None keeps the precision the file was saved in (its `precision`
    /// metadata; f32 when absent).
    #[staticmethod]
    #[pyo3(signature = (path, cell, nonlinearity="tanh", precision=None))]
    fn load(
        path: std::path::PathBuf,
        cell: &str,
        nonlinearity: &str,
        precision: Option<&str>,
    ) -> PyResult<Model> {
        let kind = CellKind::parse(cell, nonlinearity).map_err(py_err)?;
        let file = TensorFile::open(path).map_err(py_err)?;
        let precision: Precision = match precision {
            Some(p) => p.parse().map_err(py_err)?,
            None => file.precision().map_err(py_err)?,
        };
        let spec = Weights::infer_spec(&file, kind).map_err(py_err)?.with_precision(precision);
        let weights = Weights::from_file(&file, spec).map_err(py_err)?.to_precision(precision);
        Ok(Model { weights, on_gpu: None, variant: None, last_engine_ms: 0.0 })
    }

    /// The gradient-stability report (`wgpu-rnn stability`) of this model over x [T, B, I]
    /// with the loss on the last step (`last`) or every step (`every`), as JSON text.
    #[pyo3(signature = (x, loss="last"))]
    fn stability_json(
        &self,
        py: Python<'_>,
        x: PyReadonlyArrayDyn<'_, f32>,
        loss: &str,
    ) -> PyResult<String> {
        let (t, b) = seq_shape(&x, self.spec().input_size)?;
        let at = match loss {
            "last" => LossAt::Last,
            "every" => LossAt::Every,
            other => {
                return Err(PyValueError::new_err(format!(
                    "loss `{other}`: expected `last` or `every`"
                )))
            }
        };
        let g = gpu()?;
        let xs = slice(&x, "x")?;
        let w = &self.weights;
        let tr = py.detach(|| stability::trace_gpu(g, w, xs, t, b, at)).map_err(py_err)?;
        let report = stability::summarize(w.spec.cell.name(), w, &tr, t, b, at, "gpu");
        serde_json::to_string(&report).map_err(|e| PyRuntimeError::new_err(e.to_string()))
    }
}

/// The engine's `Input` over the numpy arrays of a call (borrowed, not copied).
fn engine_input<'a>(
    x: &'a PyReadonlyArrayDyn<'_, f32>,
    h0: &'a Option<PyReadonlyArrayDyn<'_, f32>>,
    c0: &'a Option<PyReadonlyArrayDyn<'_, f32>>,
    lengths: &'a Option<PyReadonlyArray1<'_, i64>>,
    (t, b): (usize, usize),
) -> PyResult<Input<'a>> {
    let lengths = lengths
        .as_ref()
        .map(|l| l.as_slice())
        .transpose()
        .map_err(|_| PyValueError::new_err("lengths: expected a contiguous int64 array"))?;
    Ok(Input {
        t,
        b,
        x: slice(x, "x")?,
        h0: h0.as_ref().map(|a| slice(a, "h0")).transpose()?,
        c0: c0.as_ref().map(|a| slice(a, "c0")).transpose()?,
        lengths,
    })
}

/// (T, B) of a [T, B, I] array, checking its rank and I.
fn seq_shape(x: &PyReadonlyArrayDyn<'_, f32>, i: usize) -> PyResult<(usize, usize)> {
    match x.shape() {
        [t, b, ii] if *ii == i => Ok((*t, *b)),
        s => Err(PyValueError::new_err(format!("x: expected shape [T, B, {i}], got {s:?}"))),
    }
}

/// The adapter the engine runs on and the limits it reads, as a dict.
#[pyfunction]
fn info<'py>(py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
    let g = gpu()?;
    let d = PyDict::new(py);
    d.set_item("description", g.describe())?;
    d.set_item("name", g.info.name.clone())?;
    d.set_item("backend", format!("{:?}", g.info.backend))?;
    d.set_item("device_type", format!("{:?}", g.info.device_type))?;
    d.set_item("driver", g.info.driver.clone())?;
    d.set_item("subgroups", g.caps.subgroups)?;
    d.set_item("max_storage_buffer_binding_size", g.limits.max_storage_buffer_binding_size)?;
    Ok(d)
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Model>()?;
    m.add_function(wrap_pyfunction!(info, m)?)?;
    Ok(())
}
