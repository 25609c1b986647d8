//! Reading and writing `.safetensors` files: named tensors with shape checks, dtype
//! conversion and atomic writes (a crash mid-write never leaves a torn file behind).

use crate::error::{Error, Result};
use crate::precision::Precision;
use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;
use std::collections::{BTreeMap, HashMap};
#[cfg(feature = "native")]
use std::path::Path;

/// A `.safetensors` file held in memory.
pub struct TensorFile {
    path: String,
    bytes: Vec<u8>,
}

/// Names and shapes of tensors: what `Weights::infer_spec` reads, from a whole file
/// (`TensorFile`) or from its header alone (`TensorHeader`).
pub trait TensorShapes {
    /// The shape of `name`, or None if absent.
    fn shape(&self, name: &str) -> Option<Vec<usize>>;
    /// Whether the file holds a tensor `name`.
    fn contains(&self, name: &str) -> bool {
        self.shape(name).is_some()
    }
}

impl TensorShapes for TensorFile {
    fn shape(&self, name: &str) -> Option<Vec<usize>> {
        TensorFile::shape(self, name)
    }
}

/// The header of a `.safetensors` file, read without its tensors: the names, shapes and
/// size of a model can be checked against the device and the host before gigabytes are
/// read.
#[cfg(feature = "native")]
#[derive(Clone, Debug)]
pub struct TensorHeader {
    path: String,
    tensors: BTreeMap<String, HeaderEntry>,
    /// where the data starts: 8 + the header's length
    data_start: u64,
    file_bytes: u64,
}

#[cfg(feature = "native")]
#[derive(Clone, Debug, serde::Deserialize)]
struct HeaderEntry {
    dtype: String,
    shape: Vec<usize>,
    data_offsets: (u64, u64),
}

#[cfg(feature = "native")]
impl TensorHeader {
    /// Reads the 8-byte length and the JSON header of `path`, nothing more.
    #[cfg(feature = "native")]
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        use std::io::Read;
        let p = path.as_ref();
        let name = p.display().to_string();
        let io = |source| Error::Io { path: name.clone(), source };
        let mut f = std::fs::File::open(p).map_err(io)?;
        let file_bytes = f.metadata().map_err(io)?.len();
        let bad = |msg: String| Error::SafeTensors { path: name.clone(), msg };
        let mut len = [0u8; 8];
        f.read_exact(&mut len).map_err(|_| bad("shorter than its 8-byte header length".into()))?;
        let n = u64::from_le_bytes(len);
        // safetensors' own cap on a header (100 MB), before allocating for it.
        if n > 100_000_000 || n + 8 > file_bytes {
            return Err(bad(format!("header length {n} does not fit a {file_bytes}-byte file")));
        }
        let mut header = vec![0u8; n as usize];
        f.read_exact(&mut header).map_err(io)?;
        let json: BTreeMap<String, serde_json::Value> =
            serde_json::from_slice(&header).map_err(|e| bad(format!("header: {e}")))?;
        let mut tensors = BTreeMap::new();
        for (k, v) in json.into_iter().filter(|(k, _)| k != "__metadata__") {
            let entry: HeaderEntry =
                serde_json::from_value(v).map_err(|e| bad(format!("tensor `{k}`: {e}")))?;
            tensors.insert(k, entry);
        }
        Ok(TensorHeader { path: name, tensors, data_start: 8 + n, file_bytes })
    }

    /// Tensor names, sorted.
    pub fn names(&self) -> Vec<String> {
        self.tensors.keys().cloned().collect()
    }

    /// Elements `first..first + count` (row-major) of float tensor `name` (F32, F64, F16 or
    /// BF16) as f32, read from the file: a long input streams in pieces.
    #[cfg(feature = "native")]
    pub fn read_f32(&self, name: &str, first: usize, count: usize) -> Result<Vec<f32>> {
        use std::io::{Read, Seek, SeekFrom};
        let e = self.tensors.get(name).ok_or_else(|| Error::MissingTensor {
            name: name.into(),
            expected: "a float tensor".into(),
        })?;
        let size: u64 = match e.dtype.as_str() {
            "F32" => 4,
            "F64" => 8,
            "F16" | "BF16" => 2,
            d => {
                return Err(Error::Dtype {
                    name: name.into(),
                    expected: "F32, F64, F16 or BF16".into(),
                    found: d.into(),
                })
            }
        };
        let bad = |msg: String| Error::SafeTensors { path: self.path.clone(), msg };
        let numel = e.shape.iter().try_fold(1u64, |n, &d| n.checked_mul(d as u64));
        let (start, end) = e.data_offsets;
        let fits = numel.and_then(|n| n.checked_mul(size)) == end.checked_sub(start)
            && self.data_start.checked_add(end).is_some_and(|e| e <= self.file_bytes);
        if !fits {
            return Err(bad(format!(
                "tensor `{name}`: offsets {start}..{end} do not hold {:?} {}",
                e.shape, e.dtype
            )));
        }
        if (first + count) as u64 > numel.unwrap_or(0) {
            return Err(bad(format!(
                "tensor `{name}`: elements {first}..{} past its end",
                first + count
            )));
        }
        let io = |source| Error::Io { path: self.path.clone(), source };
        let mut f = std::fs::File::open(&self.path).map_err(io)?;
        f.seek(SeekFrom::Start(self.data_start + start + first as u64 * size)).map_err(io)?;
        let mut raw = vec![0u8; count * size as usize];
        f.read_exact(&mut raw).map_err(io)?;
        Ok(match e.dtype.as_str() {
            "F32" => {
                raw.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
            }
            "F64" => raw
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])) as f32)
                .collect(),
            "F16" => half_floats(&raw, Precision::F16).collect(),
            _ => half_floats(&raw, Precision::Bf16).collect(),
        })
    }

    /// The path it was read from.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The whole file's size in bytes.
    pub fn file_bytes(&self) -> u64 {
        self.file_bytes
    }
}

#[cfg(feature = "native")]
impl TensorShapes for TensorHeader {
    fn shape(&self, name: &str) -> Option<Vec<usize>> {
        self.tensors.get(name).map(|e| e.shape.clone())
    }
}

/// A tensor converted to f64, with its shape.
#[derive(Clone, Debug)]
pub struct Tensor {
    /// Dimensions, outermost first.
    pub shape: Vec<usize>,
    /// Elements, row-major (the last dimension fastest).
    pub data: Vec<f64>,
}

/// The first name a safetensors header lists twice, if any (the header is a JSON object;
/// a map would keep only one of the two, so its keys are read in order).
fn duplicate_name(bytes: &[u8]) -> Option<String> {
    use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
    struct Keys;
    impl<'de> Visitor<'de> for Keys {
        type Value = Option<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(
            self,
            mut map: A,
        ) -> std::result::Result<Self::Value, A::Error> {
            let mut seen = std::collections::HashSet::new();
            let mut dup = None;
            while let Some(key) = map.next_key::<String>()? {
                map.next_value::<IgnoredAny>()?;
                if dup.is_none() && !seen.insert(key.clone()) {
                    dup = Some(key);
                }
            }
            Ok(dup)
        }
    }
    let n = u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?) as usize;
    let header = bytes.get(8..8usize.checked_add(n)?)?;
    serde_json::Deserializer::from_slice(header).deserialize_map(Keys).ok().flatten()
}

impl TensorFile {
    /// Reads and parses a `.safetensors` file.
    #[cfg(feature = "native")]
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let p = path.as_ref();
        let bytes = std::fs::read(p)
            .map_err(|source| Error::Io { path: p.display().to_string(), source })?;
        Self::from_bytes(&p.display().to_string(), bytes)
    }

    /// Parses a `.safetensors` file already in memory; `path` only names it in errors.
    pub fn from_bytes(path: &str, bytes: Vec<u8>) -> Result<Self> {
        let f = TensorFile { path: path.into(), bytes };
        // A header that names a tensor twice would otherwise read as "invalid offset".
        if let Some(name) = duplicate_name(&f.bytes) {
            return Err(Error::SafeTensors {
                path: f.path,
                msg: format!("duplicate tensor name `{name}` in the header"),
            });
        }
        f.parse()?; // fail early on a corrupt file
        Ok(f)
    }

    /// The path it was read from (or the name given to `from_bytes`).
    pub fn path(&self) -> &str {
        &self.path
    }

    fn parse(&self) -> Result<SafeTensors<'_>> {
        SafeTensors::deserialize(&self.bytes)
            .map_err(|e| Error::SafeTensors { path: self.path.clone(), msg: e.to_string() })
    }

    /// Tensor names, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .parse()
            .map(|s| s.names().into_iter().map(|n| n.to_string()).collect())
            .unwrap_or_default();
        v.sort();
        v
    }

    /// Whether the file holds a tensor `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.parse().map(|s| s.tensor(name).is_ok()).unwrap_or(false)
    }

    /// The header's `__metadata__` string map (empty when there is none).
    pub fn metadata(&self) -> HashMap<String, String> {
        SafeTensors::read_metadata(&self.bytes)
            .ok()
            .and_then(|(_, m)| m.metadata().clone())
            .unwrap_or_default()
    }

    /// The precision the model in the file was saved in: its `precision` metadata
    /// (written since 16-bit models), f32 when there is none (older files, PyTorch's).
    pub fn precision(&self) -> Result<Precision> {
        match self.metadata().get("precision") {
            Some(p) => p.parse().map_err(|_| {
                Error::Config(format!(
                    "{}: metadata `precision` is `{p}`, expected one of f32, f16, bf16",
                    self.path
                ))
            }),
            None => Ok(Precision::F32),
        }
    }

    /// The shape of `name`, or None if absent.
    pub fn shape(&self, name: &str) -> Option<Vec<usize>> {
        self.parse().ok()?.tensor(name).ok().map(|t| t.shape().to_vec())
    }

    /// Float tensor `name` (F32, F64, F16 or BF16) as f64; checks the shape when given.
    pub fn float(&self, name: &str, expected: Option<&[usize]>) -> Result<Tensor> {
        let st = self.parse()?;
        let view = st.tensor(name).map_err(|_| Error::MissingTensor {
            name: name.into(),
            expected: expected.map(|s| format!("{s:?}")).unwrap_or_else(|| "any".into()),
        })?;
        check_shape(name, &view, expected)?;
        let data = match view.dtype() {
            Dtype::F32 => view
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64)
                .collect(),
            Dtype::F64 => view
                .data()
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
                .collect(),
            Dtype::F16 => half_floats(view.data(), Precision::F16).map(f64::from).collect(),
            Dtype::BF16 => half_floats(view.data(), Precision::Bf16).map(f64::from).collect(),
            d => {
                return Err(Error::Dtype {
                    name: name.into(),
                    expected: "F32, F64, F16 or BF16".into(),
                    found: format!("{d:?}"),
                })
            }
        };
        Ok(Tensor { shape: view.shape().to_vec(), data })
    }

    /// Float tensor `name` as f32 values (F32 copied straight from the file, other float
    /// dtypes converted): half the host memory of `float` for large inputs.
    pub fn float32(&self, name: &str, expected: Option<&[usize]>) -> Result<Vec<f32>> {
        let st = self.parse()?;
        let view = st.tensor(name).map_err(|_| Error::MissingTensor {
            name: name.into(),
            expected: expected.map(|s| format!("{s:?}")).unwrap_or_else(|| "any".into()),
        })?;
        if view.dtype() == Dtype::F32 {
            check_shape(name, &view, expected)?;
            return Ok(view
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect());
        }
        Ok(self.float(name, expected)?.data.into_iter().map(|v| v as f32).collect())
    }

    /// Integer tensor `name` (I64, I32, U8..) as i64.
    pub fn int(&self, name: &str, expected: Option<&[usize]>) -> Result<Vec<i64>> {
        let st = self.parse()?;
        let view = st.tensor(name).map_err(|_| Error::MissingTensor {
            name: name.into(),
            expected: expected.map(|s| format!("{s:?}")).unwrap_or_else(|| "any".into()),
        })?;
        check_shape(name, &view, expected)?;
        Ok(match view.dtype() {
            Dtype::I64 => view
                .data()
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
                .collect(),
            Dtype::I32 => view
                .data()
                .chunks_exact(4)
                .map(|c| i32::from_le_bytes(c.try_into().unwrap()) as i64)
                .collect(),
            Dtype::U32 => view
                .data()
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes(c.try_into().unwrap()) as i64)
                .collect(),
            d => {
                return Err(Error::Dtype {
                    name: name.into(),
                    expected: "I64 or I32".into(),
                    found: format!("{d:?}"),
                })
            }
        })
    }
}

fn check_shape(name: &str, view: &TensorView<'_>, expected: Option<&[usize]>) -> Result<()> {
    match expected {
        Some(e) if e != view.shape() => Err(Error::TensorShape {
            name: name.into(),
            expected: e.to_vec(),
            found: view.shape().to_vec(),
        }),
        _ => Ok(()),
    }
}

/// The values of little-endian 16-bit floats of precision `p` (F16 or BF16), exactly.
fn half_floats(raw: &[u8], p: Precision) -> impl Iterator<Item = f32> + '_ {
    raw.chunks_exact(2).map(move |c| p.from_bits(u16::from_le_bytes([c[0], c[1]])))
}

/// Tensor data to write: f32, f64, i64, f16 or bf16, row-major.
pub enum Data {
    /// Written as F32.
    F32(Vec<f32>),
    /// Written as F64.
    F64(Vec<f64>),
    /// Written as I64.
    I64(Vec<i64>),
    /// Written as F16 (bit patterns).
    F16(Vec<u16>),
    /// Written as BF16 (bit patterns).
    Bf16(Vec<u16>),
}

/// Collects tensors, then writes them atomically.
#[derive(Default)]
pub struct TensorWriter {
    tensors: BTreeMap<String, (Vec<usize>, Data)>,
    metadata: HashMap<String, String>,
}

impl TensorWriter {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }
    /// Adds (or replaces) tensor `name` of `shape`; `to_bytes` checks that the sizes agree.
    pub fn add(&mut self, name: impl Into<String>, shape: Vec<usize>, data: Data) -> &mut Self {
        self.tensors.insert(name.into(), (shape, data));
        self
    }
    /// `add` of f32 data.
    pub fn add_f32(
        &mut self,
        name: impl Into<String>,
        shape: Vec<usize>,
        data: Vec<f32>,
    ) -> &mut Self {
        self.add(name, shape, Data::F32(data))
    }
    /// Sets a `__metadata__` entry.
    pub fn meta(&mut self, key: impl Into<String>, value: impl Into<String>) -> &mut Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// Serialises to bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut raw: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
        for (name, (shape, data)) in &self.tensors {
            let n: usize = shape.iter().product();
            let (dtype, bytes, len) = match data {
                Data::F32(v) => (Dtype::F32, bytemuck::cast_slice::<f32, u8>(v).to_vec(), v.len()),
                Data::F64(v) => (Dtype::F64, bytemuck::cast_slice::<f64, u8>(v).to_vec(), v.len()),
                Data::I64(v) => (Dtype::I64, bytemuck::cast_slice::<i64, u8>(v).to_vec(), v.len()),
                Data::F16(v) => (Dtype::F16, bytemuck::cast_slice::<u16, u8>(v).to_vec(), v.len()),
                Data::Bf16(v) => {
                    (Dtype::BF16, bytemuck::cast_slice::<u16, u8>(v).to_vec(), v.len())
                }
            };
            if n != len {
                return Err(Error::shape(
                    format!("tensor `{name}`"),
                    format!("{n} elements for {shape:?}"),
                    len,
                ));
            }
            raw.push((name.clone(), dtype, shape.clone(), bytes));
        }
        let views: Vec<(String, TensorView<'_>)> = raw
            .iter()
            .map(|(n, d, s, b)| {
                (n.clone(), TensorView::new(*d, s.clone(), b).expect("sizes checked above"))
            })
            .collect();
        let meta = if self.metadata.is_empty() { None } else { Some(self.metadata.clone()) };
        safetensors::serialize(views, meta)
            .map_err(|e| Error::SafeTensors { path: "<memory>".into(), msg: e.to_string() })
    }

    /// Writes to `path` atomically: a temporary file beside it, fsync, then rename.
    #[cfg(feature = "native")]
    pub fn write(&self, path: impl AsRef<Path>) -> Result<()> {
        write_atomic(path.as_ref(), &self.to_bytes()?)
    }
}

/// Removes `.NAME.tmp.PID` files beside `NAME` left by writers that were killed mid-write
/// (their process is gone; where /proc does not tell, nothing is removed).
#[cfg(feature = "native")]
fn remove_stale_temporaries(dir: &Path, name: &str) {
    let prefix = format!(".{name}.tmp.");
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    if !Path::new("/proc/self").exists() {
        return;
    }
    for entry in entries.flatten() {
        let file = entry.file_name().to_string_lossy().to_string();
        let Some(pid) = file.strip_prefix(&prefix).and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Writes `bytes` to `path` so that readers see either the old file or the new one, whole.
#[cfg(feature = "native")]
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let io = |source| Error::Io { path: path.display().to_string(), source };
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    remove_stale_temporaries(dir, &name);
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        // Crash-safety tests set WGPU_RNN_ABORT_AFTER_BYTES to kill the process mid-write.
        if let Some(n) =
            std::env::var("WGPU_RNN_ABORT_AFTER_BYTES").ok().and_then(|v| v.parse::<usize>().ok())
        {
            f.write_all(&bytes[..n.min(bytes.len())])?;
            f.sync_all()?;
            std::process::abort();
        }
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_with(precision: Option<&str>) -> TensorFile {
        let mut w = TensorWriter::new();
        w.add_f32("bias_ih_l0", vec![2], vec![0.5, -1.0]);
        if let Some(p) = precision {
            w.meta("precision", p);
        }
        TensorFile::from_bytes("m.safetensors", w.to_bytes().unwrap()).unwrap()
    }

    #[test]
    fn a_file_names_the_precision_it_was_saved_in() {
        assert_eq!(file_with(None).precision().unwrap(), Precision::F32);
        assert_eq!(file_with(Some("bf16")).precision().unwrap(), Precision::Bf16);
        let e = file_with(Some("f8")).precision().unwrap_err().to_string();
        assert!(e.contains("m.safetensors") && e.contains("`f8`"), "{e}");
    }
}
