//! Parameters of a network, with PyTorch's names and layouts; seeded initialisation and
//! `.safetensors` load/save.

use crate::error::{Error, Result};
use crate::io::{Data, TensorFile, TensorShapes, TensorWriter};
use crate::spec::{CellKind, ParamKind, Precision, RnnSpec};
use rand::{Rng, SeedableRng};
#[cfg(feature = "native")]
use std::path::Path;

/// The four tensors of one layer and direction. Held in f64 so PyTorch's float64 fixtures
/// load exactly; the GPU gets them rounded to f32.
#[derive(Clone, Debug, PartialEq)]
pub struct DirParams {
    /// [G*H, I_k]
    pub w_ih: Vec<f64>,
    /// [G*H, H] (empty for linear cells, which have no W_hh)
    pub w_hh: Vec<f64>,
    /// \[G*H\] (zeros when the spec has no bias)
    pub b_ih: Vec<f64>,
    /// \[G*H\] (zeros when the spec has no bias; empty for linear cells)
    pub b_hh: Vec<f64>,
}

impl DirParams {
    /// The tensor of `kind`.
    pub fn get(&self, kind: ParamKind) -> &Vec<f64> {
        match kind {
            ParamKind::WeightIh => &self.w_ih,
            ParamKind::WeightHh => &self.w_hh,
            ParamKind::BiasIh => &self.b_ih,
            ParamKind::BiasHh => &self.b_hh,
        }
    }
    /// The tensor of `kind`, mutable.
    pub fn get_mut(&mut self, kind: ParamKind) -> &mut Vec<f64> {
        match kind {
            ParamKind::WeightIh => &mut self.w_ih,
            ParamKind::WeightHh => &mut self.w_hh,
            ParamKind::BiasIh => &mut self.b_ih,
            ParamKind::BiasHh => &mut self.b_hh,
        }
    }
    fn zeros(spec: &RnnSpec, layer: usize) -> Self {
        let gh = spec.gates() * spec.hidden_size;
        // linear cells (minGRU, minLSTM) have no W_hh and b_hh: empty
        let hh = if spec.recurrent_weights() { gh } else { 0 };
        DirParams {
            w_ih: vec![0.0; gh * spec.layer_input_size(layer)],
            w_hh: vec![0.0; hh * spec.hidden_size],
            b_ih: vec![0.0; gh],
            b_hh: vec![0.0; hh],
        }
    }
}

/// All parameters of a network; `params[layer * D + dir]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Weights {
    /// The network they belong to.
    pub spec: RnnSpec,
    /// L*D entries, layer-major.
    pub params: Vec<DirParams>,
}

/// Fails when `spec`'s parameters in f64 cannot fit in the host memory still available.
fn check_host_memory(spec: &RnnSpec) -> Result<()> {
    #[cfg(feature = "native")]
    crate::host::check_memory(&format!("the f64 parameters of {spec}"), spec.param_bytes(8))?;
    #[cfg(not(feature = "native"))]
    let _ = spec;
    Ok(())
}

impl Weights {
    /// All zeros (also the shape of a gradient).
    pub fn zeros(spec: RnnSpec) -> Self {
        let params = (0..spec.num_layers)
            .flat_map(|l| (0..spec.directions()).map(move |_| l))
            .map(|l| DirParams::zeros(&spec, l))
            .collect();
        Weights { spec, params }
    }

    /// PyTorch's default initialisation, U(-1/sqrt(H), 1/sqrt(H)) for every parameter,
    /// drawn in `named_parameters()` order from a seeded generator. Values are rounded to
    /// f32 so the GPU and the reference see the same numbers.
    pub fn init(spec: RnnSpec, seed: u64) -> Result<Self> {
        let k = 1.0 / (spec.hidden_size as f64).sqrt();
        Self::init_uniform(spec, seed, k)
    }

    /// Every parameter from U(-scale, scale).
    pub fn init_uniform(spec: RnnSpec, seed: u64, scale: f64) -> Result<Self> {
        spec.validate()?;
        check_host_memory(&spec)?;
        if !(scale.is_finite() && scale > 0.0) {
            return Err(Error::Config(format!(
                "init scale {scale} must be a finite number above 0"
            )));
        }
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut w = Self::zeros(spec);
        for p in w.params.iter_mut() {
            for &kind in spec.param_kinds() {
                for v in p.get_mut(kind).iter_mut() {
                    *v = (rng.random_range(-scale..=scale) as f32) as f64;
                }
            }
        }
        Ok(w)
    }

    /// These weights as a model of precision `p` holds them: the weight matrices rounded to
    /// f32 and then to `p` (nearest, ties to even), biases to f32, and the spec's precision
    /// set to `p`. The f64 reference run on the result computes exactly the network the GPU
    /// computes.
    pub fn to_precision(&self, p: Precision) -> Weights {
        let mut w = self.clone();
        w.spec.precision = p;
        for d in w.params.iter_mut() {
            for &kind in self.spec.param_kinds() {
                let p = match kind {
                    ParamKind::WeightIh | ParamKind::WeightHh => p,
                    ParamKind::BiasIh | ParamKind::BiasHh => Precision::F32,
                };
                for v in d.get_mut(kind).iter_mut() {
                    *v = p.round(*v);
                }
            }
        }
        w
    }

    /// The parameters of `layer`, direction `dir` (0 forward, 1 reverse).
    pub fn dir(&self, layer: usize, dir: usize) -> &DirParams {
        &self.params[layer * self.spec.directions() + dir]
    }
    /// `dir`, mutable.
    pub fn dir_mut(&mut self, layer: usize, dir: usize) -> &mut DirParams {
        let d = self.spec.directions();
        &mut self.params[layer * d + dir]
    }

    /// (PyTorch name, shape, values) for every parameter, in `named_parameters()` order.
    pub fn named(&self) -> Vec<(String, Vec<usize>, &Vec<f64>)> {
        let s = &self.spec;
        let mut out = Vec::new();
        for layer in 0..s.num_layers {
            for dir in 0..s.directions() {
                for &kind in s.param_kinds() {
                    out.push((
                        s.param_name(kind, layer, dir),
                        s.param_shape(kind, layer),
                        self.dir(layer, dir).get(kind),
                    ));
                }
            }
        }
        out
    }

    /// Reads the spec a weight file describes: sizes, layers, direction and bias come from the
    /// tensor names and shapes; the cell kind (which the file cannot tell apart for RNN
    /// tanh/relu) comes from the caller and is checked against the gate count.
    pub fn infer_spec(file: &impl TensorShapes, cell: CellKind) -> Result<RnnSpec> {
        if cell.linear() {
            return Self::infer_linear_spec(file, cell);
        }
        let hh = file.shape("weight_hh_l0").ok_or_else(|| Error::MissingTensor {
            name: "weight_hh_l0".into(),
            expected: format!("[{}*H, H]", cell.gates()),
        })?;
        let ih = file.shape("weight_ih_l0").ok_or_else(|| Error::MissingTensor {
            name: "weight_ih_l0".into(),
            expected: format!("[{}*H, I]", cell.gates()),
        })?;
        for (name, shape, expected) in [
            ("weight_hh_l0", &hh, format!("[{}*H, H]", cell.gates())),
            ("weight_ih_l0", &ih, format!("[{}*H, I]", cell.gates())),
        ] {
            if shape.len() != 2 {
                return Err(Error::shape(
                    format!("tensor `{name}` (rank {})", shape.len()),
                    expected,
                    format!("{shape:?}"),
                ));
            }
        }
        let h = hh[1];
        if hh[0] != cell.gates() * h {
            return Err(Error::Config(format!(
                "weight_hh_l0 has shape {hh:?}, but a {cell} cell with H = {h} needs [{}, {h}] ({} gates): wrong --cell?",
                cell.gates() * h,
                cell.gates()
            )));
        }
        Self::spec_with_sizes(file, cell, ih[1], h)
    }

    /// `infer_spec` for a linear cell: H is weight_ih_l0's rows / G, and a file that holds
    /// `weight_hh_l0` belongs to another cell.
    fn infer_linear_spec(file: &impl TensorShapes, cell: CellKind) -> Result<RnnSpec> {
        let g = cell.gates();
        let ih = file.shape("weight_ih_l0").ok_or_else(|| Error::MissingTensor {
            name: "weight_ih_l0".into(),
            expected: format!("[{g}*H, I]"),
        })?;
        if ih.len() != 2 || ih[0] == 0 || ih[0] % g != 0 {
            return Err(Error::Config(format!(
                "weight_ih_l0 has shape {ih:?}, but a {cell} cell needs [{g}*H, I] ({g} gates): wrong --cell?"
            )));
        }
        if file.contains("weight_hh_l0") {
            return Err(Error::Config(format!(
                "the file has weight_hh_l0, which a {cell} cell does not have (its gates read x_t only): wrong --cell?"
            )));
        }
        Self::spec_with_sizes(file, cell, ih[1], ih[0] / g)
    }

    /// The spec of `cell` with I and H given and the rest read off the tensor names.
    fn spec_with_sizes(
        file: &impl TensorShapes,
        cell: CellKind,
        input_size: usize,
        hidden_size: usize,
    ) -> Result<RnnSpec> {
        let mut layers = 0;
        while file.contains(&format!("weight_ih_l{layers}")) {
            layers += 1;
        }
        let spec = RnnSpec {
            cell,
            input_size,
            hidden_size,
            num_layers: layers,
            bidirectional: file.contains("weight_ih_l0_reverse"),
            bias: file.contains("bias_ih_l0"),
            precision: crate::Precision::F32,
        };
        spec.validate()?;
        Ok(spec)
    }

    /// Loads `spec`'s parameters from a file, checking that every expected tensor is present
    /// with the right shape and finite values, and that nothing else is there but a
    /// checkpoint's `head.*`.
    pub fn from_file(file: &TensorFile, spec: RnnSpec) -> Result<Self> {
        Self::from_file_with(file, spec, |name| name.starts_with("head."))
    }

    /// `from_file`, accepting besides the parameters the tensors `extra` names (a test
    /// fixture's inputs and expected outputs, for example).
    pub fn from_file_with(
        file: &TensorFile,
        spec: RnnSpec,
        extra: impl Fn(&str) -> bool,
    ) -> Result<Self> {
        spec.validate()?;
        check_host_memory(&spec)?;
        let mut w = Self::zeros(spec);
        let expected: Vec<String> = spec.param_list().into_iter().map(|(n, _)| n).collect();
        for name in file.names() {
            if !expected.contains(&name) && !extra(&name) {
                return Err(Error::UnexpectedTensor {
                    name,
                    spec: spec.to_string(),
                    expected: expected.join(", "),
                });
            }
        }
        for layer in 0..spec.num_layers {
            for dir in 0..spec.directions() {
                for &kind in spec.param_kinds() {
                    let name = spec.param_name(kind, layer, dir);
                    let t = file.float(&name, Some(&spec.param_shape(kind, layer)))?;
                    if let Some(index) = t.data.iter().position(|v| !v.is_finite()) {
                        return Err(Error::NonFinite {
                            what: format!("tensor `{name}` of {}", file.path()),
                            index,
                            value: t.data[index] as f32,
                        });
                    }
                    *w.dir_mut(layer, dir).get_mut(kind) = t.data;
                }
            }
        }
        Ok(w)
    }

    /// `from_file` on a path.
    #[cfg(feature = "native")]
    pub fn load(path: impl AsRef<Path>, spec: RnnSpec) -> Result<Self> {
        Self::from_file(&TensorFile::open(path)?, spec)
    }

    /// Loads a file whose sizes are inferred (see `infer_spec`).
    #[cfg(feature = "native")]
    pub fn load_infer(path: impl AsRef<Path>, cell: CellKind) -> Result<Self> {
        let f = TensorFile::open(path)?;
        let spec = Self::infer_spec(&f, cell)?;
        Self::from_file(&f, spec)
    }

    /// Adds every parameter to a writer under its PyTorch name, the weight matrices in the
    /// dtype of the spec's precision (F32, F16 or BF16: a 16-bit model keeps its dtype) and
    /// the biases in F32, with the spec as metadata.
    pub fn write_into(&self, w: &mut TensorWriter) {
        let p = self.spec.precision;
        for (name, shape, data) in self.named() {
            let f32s = data.iter().map(|&v| v as f32);
            let bits = || f32s.clone().map(|v| p.to_bits(v)).collect();
            // biases stay F32, as the model holds them
            let matrix = name.starts_with("weight_");
            let data = match p {
                _ if !matrix => Data::F32(f32s.clone().collect()),
                Precision::F32 => Data::F32(f32s.clone().collect()),
                Precision::F16 => Data::F16(bits()),
                Precision::Bf16 => Data::Bf16(bits()),
            };
            w.add(name, shape, data);
        }
        let s = &self.spec;
        let (cell, nl) = s.cell.cell().torch;
        w.meta("cell", cell)
            .meta("nonlinearity", nl)
            .meta("input_size", s.input_size.to_string())
            .meta("hidden_size", s.hidden_size.to_string())
            .meta("num_layers", s.num_layers.to_string())
            .meta("bidirectional", s.bidirectional.to_string())
            .meta("bias", s.bias.to_string())
            .meta("precision", p.name());
    }

    /// Saves as `.safetensors` in the spec's precision (F32, F16 or BF16) with PyTorch's names, atomically.
    #[cfg(feature = "native")]
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let mut w = TensorWriter::new();
        self.write_into(&mut w);
        w.write(path)
    }

    /// f32 copies (for upload).
    pub fn f32(v: &[f64]) -> Vec<f32> {
        v.iter().map(|&x| x as f32).collect()
    }
}
