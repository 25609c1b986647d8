//! Every WGSL source of the engine and how kernels are composed from them: each builder
//! returns a `KernelSource` (cache key, entry point, binding list, uniform size and WGSL
//! body) without touching a device, so `tests/shaders.rs` can validate every permutation
//! with naga and check it against `abi`.
//!
//! Composition: a cell's constants (G, HAS_C, RELU, SAME_DG), common.wgsl and the cell
//! file come first, then the kernel; the context prepends the loads prelude
//! (loads_vec4.wgsl or loads_wide.wgsl) when it builds the pipeline. Row-unrolled kernels
//! are expanded by `unroll`.

use super::abi::{self, Binding};
use crate::spec::{CellKind, Precision};

const COMMON: &str = include_str!("../../shaders/common.wgsl");
const STEP: &str = include_str!("../../shaders/step.wgsl");
const STEP_REG: &str = include_str!("../../shaders/step_reg.wgsl");
const STEP_SUBGROUP: &str = include_str!("../../shaders/step_subgroup.wgsl");
const STEP_SUBGROUP_RNN: &str = include_str!("../../shaders/step_subgroup_rnn.wgsl");
const STEP_TILED: &str = include_str!("../../shaders/step_tiled.wgsl");
const STEP_FUSED_SUBGROUP: &str = include_str!("../../shaders/step_fused_subgroup.wgsl");
const STEP_FUSED_RESERVE: &str = include_str!("../../shaders/step_fused_reserve.wgsl");
const STEP_FUSED_NORESERVE: &str = include_str!("../../shaders/step_fused_noreserve.wgsl");
const PERSISTENT: &str = include_str!("../../shaders/persistent.wgsl");
const PERSISTENT_SUBGROUP: &str = include_str!("../../shaders/persistent_subgroup.wgsl");
const GEMM_COMMON: &str = include_str!("../../shaders/gemm_common.wgsl");
const GEMM_REG: &str = include_str!("../../shaders/gemm_reg.wgsl");
const GEMM_SUBGROUP: &str = include_str!("../../shaders/gemm_subgroup.wgsl");
const GEMM_TILED: &str = include_str!("../../shaders/gemm_tiled.wgsl");
const BACKWARD_CELL: &str = include_str!("../../shaders/backward_cell.wgsl");
const BACKWARD_IO_ALIGNED: &str = include_str!("../../shaders/backward_io_aligned.wgsl");
const BACKWARD_IO_UNALIGNED: &str = include_str!("../../shaders/backward_io_unaligned.wgsl");
const BACKWARD_STEP: &str = include_str!("../../shaders/backward_step.wgsl");
const BACKWARD_STEP_SUBGROUP: &str = include_str!("../../shaders/backward_step_subgroup.wgsl");
const PERSISTENT_BACKWARD_SUBGROUP: &str =
    include_str!("../../shaders/persistent_backward_subgroup.wgsl");
const WEIGHT_GRAD: &str = include_str!("../../shaders/weight_grad.wgsl");
const WEIGHT_GRAD_SUBGROUP: &str = include_str!("../../shaders/weight_grad_subgroup.wgsl");
const WEIGHT_GRAD_REDUCE: &str = include_str!("../../shaders/weight_grad_reduce.wgsl");
const GEMM_NN_COMMON: &str = include_str!("../../shaders/gemm_nn_common.wgsl");
const GEMM_NN: &str = include_str!("../../shaders/gemm_nn.wgsl");
const GEMM_NN_SUBGROUP: &str = include_str!("../../shaders/gemm_nn_subgroup.wgsl");
const COLSUM: &str = include_str!("../../shaders/colsum.wgsl");
const LOSS: &str = include_str!("../../shaders/loss.wgsl");
const HEAD_GRAD: &str = include_str!("../../shaders/head_grad.wgsl");
const GRAD_NORM: &str = include_str!("../../shaders/grad_norm.wgsl");
const OPTIM: &str = include_str!("../../shaders/optim.wgsl");
const SCAN_COMMON: &str = include_str!("../../shaders/scan_common.wgsl");
const SCAN: &str = include_str!("../../shaders/scan.wgsl");
const SCAN_BACKWARD: &str = include_str!("../../shaders/scan_backward.wgsl");
const SCAN_DRIVER: &str = include_str!("../../shaders/scan_driver.wgsl");
const LOADS_WIDE: &str = include_str!("../../shaders/loads_wide.wgsl");
const LOADS_VEC4: &str = include_str!("../../shaders/loads_vec4.wgsl");
const WEIGHTS_F32: &str = include_str!("../../shaders/weights_f32.wgsl");
const WEIGHTS_F16: &str = include_str!("../../shaders/weights_f16.wgsl");
const WEIGHTS_BF16: &str = include_str!("../../shaders/weights_bf16.wgsl");
const PACK_WEIGHTS: &str = include_str!("../../shaders/pack_weights.wgsl");
const ROUND16: &str = include_str!("../../shaders/round16.wgsl");
const RESERVE_F32: &str = include_str!("../../shaders/reserve_f32.wgsl");
const RESERVE_16: &str = include_str!("../../shaders/reserve_16.wgsl");

/// Lanes the subgroup kernels broadcast across (their workgroup is one subgroup).
pub const SUBGROUP_LANES: u32 = 8;

/// One kernel, ready for the context to compile.
#[derive(Clone, Debug)]
pub struct KernelSource {
    /// Cache key: the file and every compile-time choice (the context adds the entry point,
    /// the loads mode, the weight precision and the bounds-check setting).
    pub key: String,
    /// Entry point.
    pub entry: &'static str,
    /// The bind group layout, binding i at index i.
    pub bindings: &'static [Binding],
    /// Bytes of the uniform block at binding 0: the `abi` struct's size.
    pub uniform_size: u64,
    /// WGSL without the loads prelude.
    pub body: String,
    /// How the weight matrices it reads (`array<W4>`) are stored: picks the weights
    /// prelude (weights_f32.wgsl, weights_f16.wgsl or weights_bf16.wgsl).
    pub weights: Precision,
    /// How training's reserve space (`array<Saved>`) is stored: picks the reserve prelude
    /// (reserve_f32.wgsl or reserve_16.wgsl).
    pub reserve: Precision,
    /// Every storage access of the kernel is kept in bounds by its own clamps and early
    /// returns (register-blocked GEMMs and forward steps), so the context may build it
    /// without naga's runtime bounds checks (`Caps::bounds_checks` turns them back on).
    pub trusted: bool,
}

impl KernelSource {
    fn new(
        key: impl Into<String>,
        entry: &'static str,
        bindings: &'static [Binding],
        uniform_size: usize,
        body: String,
    ) -> Self {
        KernelSource {
            key: key.into(),
            entry,
            bindings,
            uniform_size: uniform_size as u64,
            body,
            weights: Precision::F32,
            reserve: Precision::F32,
            trusted: false,
        }
    }

    /// Marks the kernel as keeping every access in bounds itself (see `trusted`).
    fn trusted(mut self) -> Self {
        self.trusted = true;
        self
    }

    /// This kernel reading weights stored in `p`.
    pub fn with_weights(mut self, p: Precision) -> Self {
        self.weights = p;
        self
    }

    /// This kernel with its operands stored as `st` says.
    pub fn with_storage(mut self, st: Storage) -> Self {
        self.weights = st.weights;
        self.reserve = st.reserve;
        self
    }

    /// Whether the kernel reads weight matrices (declares an `array<W4>`).
    pub fn reads_weights(&self) -> bool {
        self.body.contains("array<W4>")
    }

    /// The whole module: the loads prelude (`V4`, `ld4`; u64 pairs when `wide`), the
    /// weights prelude (`W4`, `ldw4`) of `self.weights`, the reserve prelude (`Saved`,
    /// `saved_*`) of `self.reserve`, then the body.
    pub fn wgsl(&self, wide: bool) -> String {
        let weights = match self.weights {
            Precision::F32 => WEIGHTS_F32,
            Precision::F16 => WEIGHTS_F16,
            Precision::Bf16 => WEIGHTS_BF16,
        };
        let loads = if wide { LOADS_WIDE } else { LOADS_VEC4 };
        format!("{loads}\n{weights}\n{}\n{}", reserve_prelude(self.reserve), self.body)
    }

    /// Which bindings of `bindings` the WGSL declares (`@binding(i)` outside comments):
    /// the kernel's layout holds only these, so buffers that share another's binding
    /// (an offset into it) cost no binding of their own.
    pub fn declared(&self) -> Vec<bool> {
        let mut declared = vec![false; self.bindings.len()];
        for line in self.body.lines() {
            let code = line.split("//").next().unwrap_or("");
            for part in code.split("@binding(").skip(1) {
                let digits: String = part.chars().take_while(|c| c.is_ascii_digit()).collect();
                if let Some(d) = digits.parse::<usize>().ok().and_then(|i| declared.get_mut(i)) {
                    *d = true;
                }
            }
        }
        declared
    }

    /// Storage buffers the WGSL declares: what `max_storage_buffers_per_shader_stage` must
    /// allow (WebGPU guarantees 8; SwiftShader in Chromium gives 10).
    pub fn storage_buffers(&self) -> u32 {
        let declared = self.declared();
        self.bindings
            .iter()
            .zip(&declared)
            .filter(|(b, &d)| d && !matches!(b, Binding::Uniform { .. }))
            .count() as u32
    }
}

/// How a recurrent kernel's operands are stored: the weight matrices it reads and the
/// reserve space training keeps. Inference kernels get f32's reserve prelude: their reserve
/// code (plain stores behind FLAG_TRAIN) then costs nothing, where the inlined 16-bit
/// rounding slowed the register-resident persistent kernel even though it never ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Storage {
    /// the weight matrices'
    pub weights: Precision,
    /// the reserve space's
    pub reserve: Precision,
}

impl Storage {
    /// Training's kernels for `spec`: its weights' precision and its reserve's
    /// (`RnnSpec::reserve_precision`).
    pub fn training(spec: &crate::spec::RnnSpec) -> Self {
        Storage { weights: spec.precision, reserve: spec.reserve_precision() }
    }

    /// Inference kernels for weights in `weights` (they keep no reserve).
    pub fn inference(weights: Precision) -> Self {
        Storage { weights, reserve: Precision::F32 }
    }
}

/// The reserve prelude of a precision: reserve_f32.wgsl, or reserve_16.wgsl after
/// round16.wgsl (bits16) and its format.
fn reserve_prelude(p: Precision) -> String {
    match p {
        Precision::F32 => RESERVE_F32.to_string(),
        _ => format!("{}\n{ROUND16}\n{RESERVE_16}", bf16_const(p)),
    }
}

/// `const BF16: bool`, the format round16.wgsl's bits16 rounds to.
fn bf16_const(p: Precision) -> String {
    format!("const BF16: bool = {};", p == Precision::Bf16)
}

fn size<T>() -> usize {
    std::mem::size_of::<T>()
}

/// Expands the row-unrolled lines of a subgroup kernel for `rows` rows per workgroup, in
/// groups of SUBGROUP_LANES rows; see `unroll`.
pub fn unroll_rows(src: &str, rows: usize) -> String {
    format!("const RM: u32 = {rows}u;\n{}", unroll(src, rows, SUBGROUP_LANES as usize))
}

/// Expands a kernel's unrolled lines. Unrolled named variables are how the subgroup kernels
/// keep accumulators in registers on lavapipe: an array indexed by a loop counter lives in
/// memory there.
/// - Lines between `// $lanes {` and `// }` repeat once per lane s of a subgroup, with
///   `$s` = s (the constant lane index subgroupBroadcast needs); between `// $quads {` and
///   `// }` once per quad of lanes, with `$q` = its first lane (0, 4, ..).
/// - Then a line holding `$r` or `$l` repeats once per row r in 0..rows, with `$r` = r,
///   `$g` = r / group and `$l` = r % group; a line holding only `$g` repeats once per group.
pub fn unroll(src: &str, rows: usize, group: usize) -> String {
    debug_assert!(rows.is_multiple_of(group) && rows > 0);
    let mut lanes_expanded = Vec::new();
    // (placeholder, its step over the lanes, the block's lines)
    let mut block: Option<(&str, u32, Vec<&str>)> = None;
    for line in src.lines() {
        match (line.trim(), block.as_mut()) {
            ("// $lanes {", None) => block = Some(("$s", 1, Vec::new())),
            ("// $quads {", None) => block = Some(("$q", 4, Vec::new())),
            ("// }", Some((mark, step, body))) => {
                for s in (0..SUBGROUP_LANES).step_by(*step as usize) {
                    lanes_expanded.extend(body.iter().map(|l| l.replace(*mark, &s.to_string())));
                }
                block = None;
            }
            (_, Some((_, _, body))) => body.push(line),
            (_, None) => lanes_expanded.push(line.to_string()),
        }
    }
    debug_assert!(block.is_none(), "unclosed `// $lanes {{` block");
    let mut out = String::new();
    for line in lanes_expanded {
        let per_row = line.contains("$r") || line.contains("$l");
        let copies: Vec<usize> = if per_row {
            (0..rows).collect()
        } else if line.contains("$g") {
            (0..rows / group).map(|g| g * group).collect()
        } else {
            out.push_str(&line);
            out.push('\n');
            continue;
        };
        for r in copies {
            let l = line
                .replace("$r", &r.to_string())
                .replace("$l", &(r % group).to_string())
                .replace("$g", &(r / group).to_string());
            out.push_str(&l);
            out.push('\n');
        }
    }
    out
}

/// The cell's constants (G, HAS_C, SAME_DG, SPLIT_H and its own, e.g. RNN's RELU),
/// common.wgsl and the cell's WGSL file (from the cell registry), then `body`.
pub fn cell_source(cell: CellKind, body: &str) -> String {
    let c = cell.cell();
    format!(
        "const G: u32 = {}u;\nconst HAS_C: bool = {};\nconst SAME_DG: bool = {};\nconst SPLIT_H: bool = {};\n{}\n{COMMON}\n{}\n{body}",
        c.gates.len(),
        c.has_cell_state,
        !c.split_h,
        c.split_h,
        c.wgsl_consts,
        c.wgsl
    )
}

/// The cell's maths and the step's bindings (step.wgsl), prepended to every unfused
/// recurrent kernel.
fn cell_prelude(cell: CellKind) -> String {
    format!("{}\n{STEP}\n", cell_source(cell, ""))
}

/// The input-projection GEMM kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Gemm {
    /// workgroup-shared 64x64 tiles
    Tiled,
    /// register blocking, no subgroups
    Register,
    /// register blocking with `rows` rows per workgroup shared by subgroupBroadcast
    Subgroup {
        /// rows of C per workgroup
        rows: usize,
    },
}

/// C = A·Bᵀ + bias (gemm_*.wgsl).
pub fn gemm(kind: Gemm) -> KernelSource {
    let (key, body) = match kind {
        Gemm::Tiled => ("gemm_tiled".to_string(), format!("{GEMM_COMMON}\n{GEMM_TILED}")),
        Gemm::Register => ("gemm_register".to_string(), format!("{GEMM_COMMON}\n{GEMM_REG}")),
        Gemm::Subgroup { rows } => (
            format!("gemm_subgroup/rows{rows}"),
            format!("{GEMM_COMMON}\n{}", unroll_rows(GEMM_SUBGROUP, rows)),
        ),
    };
    let src = KernelSource::new(key, "main", &abi::GEMM_BINDINGS, size::<abi::GemmParams>(), body);
    // rows and columns clamped before every load, stores guarded
    if kind == Gemm::Tiled {
        src
    } else {
        src.trusted()
    }
}

/// The unfused per-step recurrent kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Step {
    /// workgroup-shared tiles (step_tiled.wgsl)
    Tiled,
    /// register blocking (step_reg.wgsl)
    Register,
    /// subgroup sharing with `rows` batch rows per workgroup (step_subgroup*.wgsl)
    Subgroup {
        /// batch rows per workgroup
        rows: usize,
    },
}

/// Hidden units per lane of the subgroup step kernels: 4 for the single-gate cells
/// (step_subgroup_rnn.wgsl), else 1 with its G gate rows (step_subgroup.wgsl).
pub fn step_subgroup_units(cell: CellKind) -> usize {
    if cell.gates() == 1 {
        4
    } else {
        1
    }
}

/// One recurrent step (both directions as workgroup z).
pub fn step(kind: Step, cell: CellKind) -> KernelSource {
    let (key, body) = match kind {
        Step::Tiled => (format!("step_tiled/{}", cell.name()), STEP_TILED.to_string()),
        Step::Register => (format!("step_register/{}", cell.name()), STEP_REG.to_string()),
        Step::Subgroup { rows } => {
            let src =
                if step_subgroup_units(cell) == 4 { STEP_SUBGROUP_RNN } else { STEP_SUBGROUP };
            (format!("step_subgroup/{}/rows{rows}", cell.name()), unroll_rows(src, rows))
        }
    };
    let body = format!("{}\n{body}", cell_prelude(cell));
    let src = KernelSource::new(key, "main", &abi::STEP_BINDINGS, size::<abi::StepParams>(), body);
    // units and rows clamped before every load, early return past H and B
    if kind == Step::Tiled {
        src
    } else {
        src.trusted()
    }
}

/// The barrier between the steps of fused-persistent's loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StepBarrier {
    /// `subgroupBarrier()`: enough where the workgroup's lanes are one SIMD program
    /// (CPU adapters); lavapipe runs `storageBarrier()` as coroutines, 1.4-2x slower.
    Subgroup,
    /// `storageBarrier()`, which the memory model requires elsewhere.
    Storage,
}

/// The fused step (step_fused_subgroup.wgsl): the input projection and the recurrent
/// GEMM in one, `rows` batch rows per workgroup; one step per dispatch (`chunk` None) or
/// `chunk` steps looped in its persistent entry point; with `train` it keeps the reserve
/// space.
pub fn step_fused(
    cell: CellKind,
    rows: usize,
    chunk: Option<usize>,
    train: bool,
    barrier: StepBarrier,
) -> KernelSource {
    let units = step_subgroup_units(cell);
    let entry = if chunk.is_some() { "main_persistent" } else { "main" };
    let chunk = chunk.unwrap_or(1);
    let (reserve, bindings): (&str, &'static [Binding]) = if train {
        (STEP_FUSED_RESERVE, &abi::FUSED_TRAIN_BINDINGS)
    } else {
        (STEP_FUSED_NORESERVE, &abi::FUSED_STEP_BINDINGS)
    };
    let barrier = match barrier {
        StepBarrier::Subgroup => "subgroupBarrier",
        StepBarrier::Storage => "storageBarrier",
    };
    let key = format!(
        "step_fused_subgroup/{}/rows{rows}/chunk{chunk}/train{train}/{barrier}",
        cell.name()
    );
    let consts = format!(
        "const UL: u32 = {units}u;\nconst CHUNK: u32 = {chunk}u;\nfn step_barrier() {{\n    {barrier}();\n}}"
    );
    let body = cell_source(
        cell,
        &format!("{consts}\n{reserve}\n{}", unroll_rows(STEP_FUSED_SUBGROUP, rows)),
    );
    // units and rows clamped before every load, stores guarded by H and B
    KernelSource::new(key, entry, bindings, size::<abi::FusedParams>(), body).trusted()
}

/// The persistent kernel (persistent.wgsl): `rows` batch rows per workgroup of `threads`
/// invocations, h of both halves in workgroup memory (`hs4` vec4 per half), `chunk` steps
/// per dispatch.
pub fn persistent(
    cell: CellKind,
    hidden: usize,
    rows: usize,
    threads: u32,
    hs4: usize,
    chunk: usize,
) -> KernelSource {
    let key = format!("persistent/{}/rows{rows}/wg{threads}/hs{hs4}/h{hidden}", cell.name());
    let body = format!(
        "const BS: u32 = {rows}u;\nconst WGP: u32 = {threads}u;\nconst HS4: u32 = {hs4}u;\nconst HS2: u32 = {}u;\nconst CHUNK: u32 = {chunk}u;\n{}\n{PERSISTENT}",
        2 * hs4,
        cell_prelude(cell)
    );
    KernelSource::new(key, "main", &abi::STEP_BINDINGS, size::<abi::StepParams>(), body)
}

/// The register-resident persistent kernel (persistent_subgroup.wgsl): W_hh rows in
/// private memory as `hp4` vec4 chunks per lane, `rows` batch rows, `threads` invocations.
pub fn persistent_subgroup(
    cell: CellKind,
    rows: usize,
    hp4: usize,
    threads: usize,
    chunk: usize,
) -> KernelSource {
    let hs4 = rows * hp4;
    let key = format!(
        "persistent_subgroup/{}/rows{rows}/hp4_{hp4}/wg{threads}/chunk{chunk}",
        cell.name()
    );
    let body = format!(
        "const BS: u32 = {rows}u;\nconst WGP: u32 = {threads}u;\nconst HP4: u32 = {hp4}u;\nconst HS4: u32 = {hs4}u;\nconst HS2: u32 = {}u;\nconst CHUNK: u32 = {chunk}u;\n{}\n{}",
        2 * hs4,
        cell_prelude(cell),
        unroll(PERSISTENT_SUBGROUP, hp4, SUBGROUP_LANES as usize)
    );
    KernelSource::new(key, "main", &abi::STEP_BINDINGS, size::<abi::StepParams>(), body)
}

/// How the backward kernels read the H-strided reserve buffers: as vec4 where every
/// 4-unit group is 16-byte aligned (H % 4 == 0), else unit by unit.
fn backward_io(aligned: bool) -> (&'static str, &'static str) {
    if aligned {
        ("aligned", BACKWARD_IO_ALIGNED)
    } else {
        ("unaligned", BACKWARD_IO_UNALIGNED)
    }
}

/// One backward step: the plain kernel (`rows` None; backward_step.wgsl) or the subgroup
/// one with `rows` batch rows per workgroup (backward_step_subgroup.wgsl).
pub fn backward_step(cell: CellKind, aligned: bool, rows: Option<usize>) -> KernelSource {
    let (io_name, io) = backward_io(aligned);
    let (key, body) = match rows {
        Some(rows) => (
            format!("backward_step_subgroup/{}/{io_name}/rows{rows}", cell.name()),
            unroll_rows(BACKWARD_STEP_SUBGROUP, rows),
        ),
        // Only the subgroup kernel depends on the row block; one pipeline for the others.
        None => (format!("backward_step/{}/{io_name}", cell.name()), BACKWARD_STEP.to_string()),
    };
    let body = cell_source(cell, &format!("{io}\n{BACKWARD_CELL}\n{body}"));
    KernelSource::new(key, "main", &abi::BWD_BINDINGS, size::<abi::BwdParams>(), body)
}

/// Units (x) and time chunks (y) of a `chunked` scan workgroup.
pub const SCAN_UNITS: usize = 16;
/// Time chunks per `chunked` scan workgroup.
pub const SCAN_CHUNKS: usize = 16;

/// How a linear-recurrence kernel (scan.wgsl, scan_backward.wgsl) walks time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scan {
    /// one invocation per unit, row and direction, looping over the steps
    Sequential,
    /// SCAN_UNITS x SCAN_CHUNKS invocations per unit block, row and direction: chunk maps,
    /// carry scan, fix-up
    Chunked,
}

impl Scan {
    /// The entry point in scan.wgsl and scan_backward.wgsl.
    pub fn entry(self) -> &'static str {
        match self {
            Scan::Sequential => "sequential",
            Scan::Chunked => "chunked",
        }
    }
}

/// Hidden units per invocation of the scan kernels for H: 4 (vec4 loads, S = `vec4<f32>`)
/// where every 4-unit group is 16-byte aligned in the buffers (H % 4 == 0), else 1.
pub fn scan_units(h: usize) -> usize {
    if h.is_multiple_of(4) {
        4
    } else {
        1
    }
}

fn scan_source(cell: CellKind, kernel: &str, steps: usize, units: usize) -> String {
    let s = if units == 4 { "vec4<f32>" } else { "f32" };
    cell_source(
        cell,
        &format!(
            "const U: u32 = {units}u;\nalias S = {s};\nconst SU: u32 = {SCAN_UNITS}u;\nconst SC: u32 = {SCAN_CHUNKS}u;\nconst CHUNK: u32 = {steps}u;\n{SCAN_COMMON}\n{kernel}\n{SCAN_DRIVER}"
        ),
    )
}

/// The forward time loop of a linear cell, `steps` steps per dispatch and `units` (1 or 4)
/// hidden units per invocation (scan.wgsl).
pub fn scan(cell: CellKind, kind: Scan, steps: usize, units: usize) -> KernelSource {
    let key = format!("scan/{}/steps{steps}/units{units}", cell.name());
    let body = scan_source(cell, SCAN, steps, units);
    KernelSource::new(key, kind.entry(), &abi::STEP_BINDINGS, size::<abi::StepParams>(), body)
}

/// Backpropagation through a linear cell's time loop, `steps` backward steps per dispatch
/// and `units` hidden units per invocation (scan_backward.wgsl).
pub fn scan_backward(cell: CellKind, kind: Scan, steps: usize, units: usize) -> KernelSource {
    let key = format!("scan_backward/{}/steps{steps}/units{units}", cell.name());
    let body = scan_source(cell, SCAN_BACKWARD, steps, units);
    KernelSource::new(key, kind.entry(), &abi::BWD_BINDINGS, size::<abi::BwdParams>(), body)
}

/// The persistent BPTT kernel (persistent_backward_subgroup.wgsl): `rows` batch rows,
/// `wgp` invocations, W_hh in `ghp4` named private chunks, `chunk` steps per dispatch.
pub fn persistent_backward_subgroup(
    cell: CellKind,
    aligned: bool,
    rows: usize,
    wgp: usize,
    ghp4: usize,
    chunk: usize,
) -> KernelSource {
    let (io_name, io) = backward_io(aligned);
    let key = format!(
        "persistent_backward_subgroup/{}/{io_name}/rows{rows}/wg{wgp}/ghp4_{ghp4}/chunk{chunk}",
        cell.name()
    );
    let consts = format!(
        "const BS: u32 = {rows}u;\nconst WGP: u32 = {wgp}u;\nconst GHP4: u32 = {ghp4}u;\nconst CHUNK: u32 = {chunk}u;"
    );
    let body = unroll(PERSISTENT_BACKWARD_SUBGROUP, ghp4, SUBGROUP_LANES as usize);
    let body = cell_source(cell, &format!("{io}\n{BACKWARD_CELL}\n{consts}\n{body}"));
    KernelSource::new(key, "main", &abi::BWD_BINDINGS, size::<abi::BwdParams>(), body)
}

/// dW = dGᵀ·X: the plain reduction over all rows (`rows` None; weight_grad.wgsl), or the
/// subgroup one with `rows` rows of dW per workgroup writing per-segment partials
/// (weight_grad_subgroup.wgsl).
pub fn weight_grad(rows: Option<usize>) -> KernelSource {
    match rows {
        Some(rows) => KernelSource::new(
            format!("weight_grad_subgroup/rows{rows}"),
            "main",
            &abi::WGRAD_BINDINGS,
            size::<abi::WgradSgParams>(),
            format!("const RM: u32 = {rows}u;\n{}", unroll(WEIGHT_GRAD_SUBGROUP, rows, 4)),
        ),
        None => KernelSource::new(
            "weight_grad",
            "main",
            &abi::WGRAD_BINDINGS,
            size::<abi::WgradParams>(),
            WEIGHT_GRAD.to_string(),
        ),
    }
}

/// The fixed-order sum of the weight-gradient partials (weight_grad_reduce.wgsl).
pub fn weight_grad_reduce() -> KernelSource {
    KernelSource::new(
        "weight_grad_reduce",
        "main",
        &abi::REDUCE_BINDINGS,
        size::<abi::ReduceParams>(),
        WEIGHT_GRAD_REDUCE.to_string(),
    )
}

/// dX = dG·W_ih: plain (`rows` None; gemm_nn.wgsl) or subgroup with `rows` rows per
/// workgroup (gemm_nn_subgroup.wgsl).
pub fn gemm_nn(rows: Option<usize>) -> KernelSource {
    let (key, body) = match rows {
        Some(rows) => (
            format!("gemm_nn_subgroup/rows{rows}"),
            format!("{GEMM_NN_COMMON}\n{}", unroll_rows(GEMM_NN_SUBGROUP, rows)),
        ),
        None => ("gemm_nn".to_string(), format!("{GEMM_NN_COMMON}\n{GEMM_NN}")),
    };
    KernelSource::new(key, "main", &abi::NN_BINDINGS, size::<abi::NnParams>(), body)
}

/// Column sums: the plain kernels' bias gradients (colsum.wgsl).
pub fn colsum() -> KernelSource {
    KernelSource::new(
        "colsum",
        "main",
        &abi::COLSUM_BINDINGS,
        size::<abi::ColsumParams>(),
        COLSUM.to_string(),
    )
}

/// Softmax cross-entropy or MSE over the head's logits (loss.wgsl).
pub fn loss() -> KernelSource {
    KernelSource::new("loss", "main", &abi::LOSS_BINDINGS, size::<abi::LossParams>(), LOSS.into())
}

/// Entry points of head_grad.wgsl.
pub const HEAD_GRAD_ENTRIES: [&str; 3] = ["weights", "bias", "inputs"];

/// One entry point of the head's gradients (head_grad.wgsl: `weights`, `bias`, `inputs`).
pub fn head_grad(entry: &'static str) -> KernelSource {
    let size = size::<abi::HeadParams>();
    KernelSource::new("head_grad", entry, &abi::HEAD_BINDINGS, size, HEAD_GRAD.into())
}

/// Entry points of grad_norm.wgsl.
pub const GRAD_NORM_ENTRIES: [&str; 2] = ["partial", "finish"];

/// One entry point of the global gradient norm (grad_norm.wgsl: `partial`, `finish`).
pub fn grad_norm(entry: &'static str) -> KernelSource {
    let size = size::<abi::NormParams>();
    KernelSource::new("grad_norm", entry, &abi::NORM_BINDINGS, size, GRAD_NORM.into())
}

/// One optimizer update (optim.wgsl).
pub fn optim() -> KernelSource {
    KernelSource::new("optim", "main", &abi::OPTIM_BINDINGS, size::<abi::OptParams>(), OPTIM.into())
}

/// Rounds an f32 weight matrix to `p` (F16 or BF16) and packs it (pack_weights.wgsl).
pub fn pack_weights(p: Precision) -> KernelSource {
    let body = format!("{}\n{ROUND16}\n{PACK_WEIGHTS}", bf16_const(p));
    let size = size::<abi::PackParams>();
    KernelSource::new(format!("pack_weights/{}", p.name()), "main", &abi::PACK_BINDINGS, size, body)
}

/// Every kernel the engine can build, over its compile-time choices (kernel × cell × row
/// block × training flag × barrier × weight precision, with representative persistent shapes): what
/// tests/shaders.rs validates. The loads mode is applied by `KernelSource::wgsl`.
pub fn permutations() -> Vec<KernelSource> {
    let cells = CellKind::ALL;
    let lanes = SUBGROUP_LANES as usize;
    let row_blocks: Vec<usize> = (1..=4).map(|k| k * lanes).collect();
    let mut out = vec![gemm(Gemm::Tiled), gemm(Gemm::Register)];
    out.extend(row_blocks.iter().map(|&rows| gemm(Gemm::Subgroup { rows })));
    for cell in cells.into_iter().filter(|c| c.linear()) {
        for kind in [Scan::Sequential, Scan::Chunked] {
            for units in [1, 4] {
                out.push(scan(cell, kind, 7, units));
                out.push(scan_backward(cell, kind, 7, units));
            }
        }
    }
    for cell in cells.into_iter().filter(|c| !c.linear()) {
        out.push(step(Step::Tiled, cell));
        out.push(step(Step::Register, cell));
        for &rows in &row_blocks {
            out.push(step(Step::Subgroup { rows }, cell));
            for chunk in [None, Some(7)] {
                for train in [false, true] {
                    for barrier in [StepBarrier::Subgroup, StepBarrier::Storage] {
                        out.push(step_fused(cell, rows, chunk, train, barrier));
                    }
                }
            }
            for aligned in [true, false] {
                out.push(backward_step(cell, aligned, Some(rows)));
            }
        }
        for aligned in [true, false] {
            out.push(backward_step(cell, aligned, None));
            out.push(persistent_backward_subgroup(cell, aligned, 4, 8, 8, 16));
        }
        for (hidden, rows, threads) in [(32usize, 4usize, 128u32), (130, 1, 160)] {
            let hs4 = rows * hidden.div_ceil(4);
            out.push(persistent(cell, hidden, rows, threads, hs4, 16));
        }
        for (rows, hp4, threads) in [(4usize, 8usize, 32usize), (1, 32, 128)] {
            out.push(persistent_subgroup(cell, rows, hp4, threads, 16));
        }
    }
    for rows in [None, Some(32)] {
        out.push(weight_grad(rows));
        out.push(gemm_nn(rows));
    }
    out.extend([weight_grad_reduce(), colsum(), loss(), optim()]);
    out.extend(HEAD_GRAD_ENTRIES.map(head_grad));
    out.extend(GRAD_NORM_ENTRIES.map(grad_norm));
    out.extend([pack_weights(Precision::F16), pack_weights(Precision::Bf16)]);
    // 16-bit weights, and where the kernel touches the reserve also a 16-bit reserve
    let sixteen: Vec<KernelSource> = out
        .iter()
        .filter(|k| k.reads_weights())
        .flat_map(|k| {
            [Precision::F16, Precision::Bf16].into_iter().flat_map(move |p| {
                let training = k
                    .body
                    .contains("array<Saved")
                    .then(|| k.clone().with_storage(Storage { weights: p, reserve: p }));
                std::iter::once(k.clone().with_weights(p)).chain(training)
            })
        })
        .collect();
    out.extend(sixteen);
    out
}

#[cfg(test)]
mod tests {
    use super::unroll;

    #[test]
    fn unroll_expands_rows_groups_and_lanes() {
        let src = "let x$g = f($gu);\nacc$r += v$g[$l];\n// $lanes {\ny$s = 1;\n// }\n// $quads {\nz$q = 2;\n// }\nend";
        let out = unroll(src, 4, 2);
        let want = "let x0 = f(0u);\nlet x1 = f(1u);\nacc0 += v0[0];\nacc1 += v0[1];\nacc2 += v1[0];\nacc3 += v1[1];\n";
        let lanes: String = (0..8).map(|s| format!("y{s} = 1;\n")).collect();
        assert_eq!(out, format!("{want}{lanes}z0 = 2;\nz4 = 2;\nend\n"));
    }
}
