//! The kernel variants, their WGSL sources (composed from `shaders/`) and how the host picks
//! one for a shape and an adapter.

use super::context::{Binding, Gpu, Kernel};
use crate::error::{Error, Result};
use crate::spec::{CellKind, RnnSpec};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

pub const COMMON_WGSL: &str = include_str!("../../shaders/common.wgsl");
pub const RNN_WGSL: &str = include_str!("../../shaders/rnn.wgsl");
pub const LSTM_WGSL: &str = include_str!("../../shaders/lstm.wgsl");
pub const GRU_WGSL: &str = include_str!("../../shaders/gru.wgsl");
pub const STEP_WGSL: &str = include_str!("../../shaders/step.wgsl");
pub const STEP_REG_WGSL: &str = include_str!("../../shaders/step_reg.wgsl");
pub const STEP_SUBGROUP_WGSL: &str = include_str!("../../shaders/step_subgroup.wgsl");
pub const STEP_SUBGROUP_RNN_WGSL: &str = include_str!("../../shaders/step_subgroup_rnn.wgsl");
pub const STEP_TILED_WGSL: &str = include_str!("../../shaders/step_tiled.wgsl");
pub const STEP_FUSED_SUBGROUP_WGSL: &str = include_str!("../../shaders/step_fused_subgroup.wgsl");
pub const STEP_FUSED_RESERVE_WGSL: &str = include_str!("../../shaders/step_fused_reserve.wgsl");
pub const STEP_FUSED_NORESERVE_WGSL: &str = include_str!("../../shaders/step_fused_noreserve.wgsl");
pub const PERSISTENT_WGSL: &str = include_str!("../../shaders/persistent.wgsl");
pub const PERSISTENT_SUBGROUP_WGSL: &str = include_str!("../../shaders/persistent_subgroup.wgsl");
pub const GEMM_COMMON_WGSL: &str = include_str!("../../shaders/gemm_common.wgsl");
pub const GEMM_REG_WGSL: &str = include_str!("../../shaders/gemm_reg.wgsl");
pub const GEMM_SUBGROUP_WGSL: &str = include_str!("../../shaders/gemm_subgroup.wgsl");
pub const GEMM_TILED_WGSL: &str = include_str!("../../shaders/gemm_tiled.wgsl");

/// Lanes the subgroup kernels broadcast across (their workgroup is one subgroup).
pub const SUBGROUP_LANES: u32 = 8;

/// Rows of C per workgroup of the subgroup input GEMM (see gemm_subgroup.wgsl for the
/// measurement that chose it).
pub const GEMM_SUBGROUP_ROWS: usize = 32;

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

/// Largest H whose W_hh rows (G*H floats per invocation) persistent-subgroup keeps in
/// private memory; lavapipe runs each SIMD group of a workgroup with barriers on its own
/// coroutine stack, and 2 KiB per lane (H = 128, LSTM) is what was validated.
pub const PERSISTENT_SUBGROUP_MAX_H: usize = 128;

/// Batch rows per persistent-subgroup workgroup (each invocation keeps c for these rows).
pub const PERSISTENT_SUBGROUP_ROWS: usize = 4;

/// A forward-pass strategy: which input-projection GEMM and which recurrent kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Variant {
    /// Workgroup-shared tiles for the GEMM and the step (discrete GPUs).
    Tiled,
    /// Register blocking without subgroups (any adapter, the GL backend included).
    Register,
    /// Register blocking with subgroupBroadcast sharing (CPU adapters such as lavapipe).
    Subgroup,
    /// The best GEMM plus one persistent kernel looping over all steps (small problems),
    /// streaming W_hh from storage every step (any adapter).
    Persistent,
    /// Persistent with W_hh held in registers and h shared by subgroupBroadcast (small H).
    PersistentSubgroup,
    /// Subgroup sharing with the input projection fused into every step (one GEMM with
    /// K = I + H per step; at inference no xg buffer). Training's forward runs the fused
    /// step too, keeping the reserve space; its backward runs `Subgroup`'s kernels.
    FusedSubgroup,
    /// FusedSubgroup's step looped inside one workgroup (one subgroup) per batch block of
    /// up to 32 rows and direction, over every unit block and a chunk of steps per dispatch:
    /// saves the per-step dispatches, needs a block per CPU thread. Trains like FusedSubgroup.
    FusedPersistent,
}

impl Variant {
    pub const ALL: [Variant; 7] = [
        Variant::Tiled,
        Variant::Register,
        Variant::Subgroup,
        Variant::Persistent,
        Variant::PersistentSubgroup,
        Variant::FusedSubgroup,
        Variant::FusedPersistent,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Variant::Tiled => "tiled",
            Variant::Register => "register",
            Variant::Subgroup => "subgroup",
            Variant::Persistent => "persistent",
            Variant::PersistentSubgroup => "persistent-subgroup",
            Variant::FusedSubgroup => "fused-subgroup",
            Variant::FusedPersistent => "fused-persistent",
        }
    }

    /// Why this variant cannot run here, or None if it can.
    pub fn unsupported(self, gpu: &Gpu, spec: &RnnSpec) -> Option<String> {
        match self {
            Variant::FusedSubgroup => Variant::Subgroup.unsupported(gpu, spec).map(|w| format!("fused-{w}")).or_else(|| {
                let have = gpu.limits.max_storage_buffers_per_shader_stage;
                (have < FUSED_STORAGE_BUFFERS).then(|| {
                    format!("fused-subgroup needs {FUSED_STORAGE_BUFFERS} storage buffers per shader stage, the device has {have}")
                })
            }),
            Variant::FusedPersistent => Variant::FusedSubgroup
                .unsupported(gpu, spec)
                .map(|w| w.replace("fused-subgroup", "fused-persistent"))
                .or_else(|| fused_persistent_too_long(gpu, spec)),
            Variant::Subgroup if !subgroups_ok(gpu) => Some(format!(
                "subgroup variant needs Features::SUBGROUP with subgroups of at least {SUBGROUP_LANES} lanes (adapter: {}, sizes {}..{})",
                if gpu.caps.subgroups { "has SUBGROUP" } else { "no SUBGROUP" },
                gpu.caps.subgroup_min_size,
                gpu.caps.subgroup_max_size
            )),
            Variant::Persistent if persistent_rows(gpu, spec) == 0 => Some(format!(
                "persistent variant needs 2*Hp*4 = {} bytes of workgroup memory, the device has {}",
                8 * hp(spec.hidden_size),
                gpu.limits.max_compute_workgroup_storage_size
            )),
            Variant::PersistentSubgroup => {
                if !subgroups_ok(gpu) {
                    Some("persistent-subgroup needs Features::SUBGROUP with subgroups of at least 8 lanes".into())
                } else if spec.hidden_size > PERSISTENT_SUBGROUP_MAX_H {
                    Some(format!(
                        "persistent-subgroup keeps W_hh rows in registers: H = {} > {PERSISTENT_SUBGROUP_MAX_H}",
                        spec.hidden_size
                    ))
                } else if (spec.hidden_size.div_ceil(32) * 32) as u32 > gpu.limits.max_compute_invocations_per_workgroup {
                    Some("persistent-subgroup needs one invocation per hidden unit".into())
                } else {
                    Variant::Persistent.unsupported(gpu, spec)
                }
            }
            _ => None,
        }
    }

    /// The variant `wgpu-rnn tune` measured fastest for this adapter and shape, else a rule:
    /// persistent when one step is too little work to pay for a dispatch, then subgroup
    /// sharing on CPU adapters (with the input projection fused into the step from
    /// `FUSED_MIN_BATCH` rows, and looped in fused-persistent once the batch blocks keep
    /// every CPU thread busy), tiles elsewhere.
    pub fn auto(gpu: &Gpu, spec: &RnnSpec, b: usize) -> Variant {
        if let Some(v) = crate::tune::cached(gpu, spec, b) {
            return v;
        }
        let per_step_flops = 2 * b * spec.gates() * spec.hidden_size * spec.hidden_size;
        if per_step_flops <= 1 << 20 {
            for v in [Variant::PersistentSubgroup, Variant::Persistent] {
                if v.unsupported(gpu, spec).is_none() {
                    return v;
                }
            }
        }
        if gpu.caps.cpu_like {
            let blocks = b.div_ceil(step_subgroup_rows(b)) * spec.directions();
            let threads = cpu_threads();
            let balanced = blocks >= threads && (blocks % threads == 0 || blocks >= 4 * threads);
            // without a subgroup barrier its loop would need storageBarrier (see fused_kernel)
            let cheap_barrier = gpu.features.contains(wgpu::Features::SUBGROUP_BARRIER);
            if Variant::FusedPersistent.unsupported(gpu, spec).is_none()
                && b >= FUSED_MIN_BATCH
                && balanced
                && cheap_barrier
            {
                Variant::FusedPersistent
            } else if Variant::FusedSubgroup.unsupported(gpu, spec).is_none()
                && b >= FUSED_MIN_BATCH
            {
                Variant::FusedSubgroup
            } else if subgroups_ok(gpu) {
                Variant::Subgroup
            } else {
                Variant::Register
            }
        } else {
            Variant::Tiled
        }
    }

    /// The GEMM this variant uses for the input projection.
    pub fn gemm(self, gpu: &Gpu) -> GemmVariant {
        match self {
            Variant::Tiled => GemmVariant::Tiled,
            Variant::Register => GemmVariant::Register,
            Variant::Subgroup | Variant::FusedSubgroup | Variant::FusedPersistent => {
                GemmVariant::Subgroup
            }
            Variant::Persistent | Variant::PersistentSubgroup => GemmVariant::best(gpu),
        }
    }
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Variant {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Variant::ALL.into_iter().find(|v| v.name() == s).ok_or_else(|| {
            let names: Vec<&str> = Variant::ALL.iter().map(|v| v.name()).collect();
            Error::Config(format!("unknown variant `{s}` (one of {})", names.join(", ")))
        })
    }
}

fn subgroups_ok(gpu: &Gpu) -> bool {
    gpu.caps.subgroups && gpu.caps.subgroup_min_size >= SUBGROUP_LANES
}

/// H rounded up to a multiple of 4 (row stride of vec4-loaded matrices).
pub fn hp(h: usize) -> usize {
    h.div_ceil(4) * 4
}

/// Batch rows one persistent workgroup can keep in workgroup memory (0: not even one).
pub fn persistent_rows(gpu: &Gpu, spec: &RnnSpec) -> usize {
    gpu.limits.max_compute_workgroup_storage_size as usize / (2 * 4 * hp(spec.hidden_size))
}

/// Input-projection GEMM kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GemmVariant {
    Tiled,
    Register,
    Subgroup,
}

impl GemmVariant {
    pub const ALL: [GemmVariant; 3] =
        [GemmVariant::Tiled, GemmVariant::Register, GemmVariant::Subgroup];

    pub fn name(self) -> &'static str {
        match self {
            GemmVariant::Tiled => "tiled",
            GemmVariant::Register => "register",
            GemmVariant::Subgroup => "subgroup",
        }
    }

    pub fn best(gpu: &Gpu) -> GemmVariant {
        if !gpu.caps.cpu_like {
            GemmVariant::Tiled
        } else if subgroups_ok(gpu) {
            GemmVariant::Subgroup
        } else {
            GemmVariant::Register
        }
    }

    pub fn supported(self, gpu: &Gpu) -> bool {
        self != GemmVariant::Subgroup || subgroups_ok(gpu)
    }

    /// Workgroups for C [M, N].
    pub fn groups(self, m: usize, n: usize) -> (u32, u32) {
        let (cols, rows) = match self {
            GemmVariant::Tiled => (64, 64),
            GemmVariant::Register => (64 * 4, 8),
            GemmVariant::Subgroup => (SUBGROUP_LANES as usize * 4, GEMM_SUBGROUP_ROWS),
        };
        (n.div_ceil(cols) as u32, m.div_ceil(rows) as u32)
    }

    pub fn kernel(self, gpu: &Gpu) -> Result<Arc<Kernel>> {
        let src = match self {
            GemmVariant::Tiled => GEMM_TILED_WGSL,
            GemmVariant::Register => GEMM_REG_WGSL,
            GemmVariant::Subgroup => GEMM_SUBGROUP_WGSL,
        };
        if self == GemmVariant::Subgroup {
            return gpu.kernel(
                &format!("gemm_subgroup/rows{GEMM_SUBGROUP_ROWS}"),
                &GEMM_BINDINGS,
                || format!("{GEMM_COMMON_WGSL}\n{}", unroll_rows(src, GEMM_SUBGROUP_ROWS)),
            );
        }
        gpu.kernel(&format!("gemm_{}", self.name()), &GEMM_BINDINGS, || {
            format!("{GEMM_COMMON_WGSL}\n{src}")
        })
    }
}

pub const GEMM_BINDINGS: [Binding; 5] = [
    Binding::Uniform { dynamic: false },
    Binding::Read,
    Binding::Read,
    Binding::Read,
    Binding::ReadWrite,
];

pub const STEP_BINDINGS: [Binding; 12] = [
    Binding::Uniform { dynamic: true },
    Binding::Read,
    Binding::Read,
    Binding::Read,
    Binding::Read,
    Binding::ReadWrite,
    Binding::ReadWrite,
    Binding::ReadWrite,
    Binding::ReadWrite,
    Binding::ReadWrite,
    Binding::ReadWrite,
    Binding::Read,
];

/// Threads a CPU adapter runs workgroups on: lavapipe's LP_NUM_THREADS, else the CPUs.
/// fused-persistent runs one workgroup per batch block on one thread, so it needs at
/// least this many blocks: measured at LSTM I = H = 256, T = 100 on 2 threads, ms per
/// forward (fused-subgroup / fused-persistent): B = 16 39 / 55 and B = 32 52 / 99 (one
/// block), B = 64 93-96 / 92-95 (two), and rnn-b64 29-30 / 24-25.
pub fn cpu_threads() -> usize {
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    std::env::var("LP_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(cpus)
        .max(1)
}

/// The smallest batch for which `Variant::auto` fuses the input projection into the step
/// on CPU adapters. Fused, each W_ih load feeds only the step's B rows (the separate GEMM
/// feeds 32 rows of T·B); in exchange xg is never stored and reloaded. LSTM I = H = 256,
/// T = 100 on lavapipe, ms per forward (subgroup / fused-subgroup): B = 1 17 / 29, B = 8
/// 35 / 36, B = 16 53 / 43, B = 32 61 / 52, B = 64 117 / 93.
pub const FUSED_MIN_BATCH: usize = 16;

/// Storage buffers of the fused step kernel (step_fused_subgroup.wgsl).
pub const FUSED_STORAGE_BUFFERS: u32 = 10;

/// Bindings of step_fused_subgroup.wgsl: params, x_in, w_ih, b_ih, w_hh, b_hh, lengths
/// (read), h_in, h_state, c_state, out (read-write; the persistent entry point binds h_in
/// and h_state to one buffer).
pub const FUSED_STEP_BINDINGS: [Binding; 11] = fused_bindings();

/// A dynamic uniform, the fused step's 6 read-only bindings, then read-write ones.
const fn fused_bindings<const N: usize>() -> [Binding; N] {
    let mut b = [Binding::ReadWrite; N];
    b[0] = Binding::Uniform { dynamic: true };
    let mut i = 1;
    while i <= 6 {
        b[i] = Binding::Read;
        i += 1;
    }
    b
}

/// Storage buffers of the fused step kernel keeping the reserve space (training).
pub const FUSED_TRAIN_STORAGE_BUFFERS: u32 = 14;

/// FUSED_STEP_BINDINGS, then the reserve space xg, hg, hprev, cprev (read-write).
pub const FUSED_TRAIN_BINDINGS: [Binding; 15] = fused_bindings();

/// The cell's constants and maths, prepended to every recurrent kernel.
fn cell_prelude(cell: CellKind) -> String {
    format!("{}\n{STEP_WGSL}\n", cell_source(cell, ""))
}

/// The cell's constants (G, HAS_C, RELU, SAME_DG), common.wgsl and the cell file, then `body`.
pub fn cell_source(cell: CellKind, body: &str) -> String {
    let (file, relu) = match cell {
        CellKind::RnnTanh => (RNN_WGSL, false),
        CellKind::RnnRelu => (RNN_WGSL, true),
        CellKind::Lstm => (LSTM_WGSL, false),
        CellKind::Gru => (GRU_WGSL, false),
    };
    format!(
        "const G: u32 = {}u;\nconst HAS_C: bool = {};\nconst RELU: bool = {relu};\nconst SAME_DG: bool = {};\n{COMMON_WGSL}\n{file}\n{body}",
        cell.gates(),
        cell.has_cell_state(),
        cell.same_gate_grads()
    )
}

/// Batch rows per workgroup of the subgroup step kernels (forward and backward): B rounded
/// up to whole subgroups, at most STEP_SUBGROUP_MAX_ROWS. Each W_hh load feeds every row,
/// so more rows mean fewer loads per FMA; on lstm-b64 (alternating runs) 32 rows against 8
/// took the recurrent step from 480-615 to 346-357 ms (16 rows: 366-394) and the backward
/// step from 571-665 to 355-455 ms.
pub fn step_subgroup_rows(b: usize) -> usize {
    let lanes = SUBGROUP_LANES as usize;
    b.div_ceil(lanes).clamp(1, STEP_SUBGROUP_MAX_ROWS / lanes) * lanes
}

/// The largest row block of the subgroup step kernels.
pub const STEP_SUBGROUP_MAX_ROWS: usize = 32;

/// Hidden units per lane of the subgroup step kernel: 4 for the single-gate cells
/// (step_subgroup_rnn.wgsl), else 1 with its G gate rows (step_subgroup.wgsl).
fn step_subgroup_units(cell: CellKind) -> usize {
    if cell.gates() == 1 {
        4
    } else {
        1
    }
}

/// Workgroups (x over hidden units, y over batch rows) of a variant's per-step kernel.
pub fn step_groups(variant: Variant, cell: CellKind, h: usize, b: usize) -> (usize, usize) {
    match variant {
        Variant::Subgroup | Variant::FusedSubgroup => (
            h.div_ceil(SUBGROUP_LANES as usize * step_subgroup_units(cell)),
            b.div_ceil(step_subgroup_rows(b)),
        ),
        _ => (h.div_ceil(64), b.div_ceil(4)),
    }
}

/// The per-step fused kernel of a variant for a cell and batch size.
pub fn step_kernel(gpu: &Gpu, variant: Variant, cell: CellKind, b: usize) -> Result<Arc<Kernel>> {
    let body = match variant {
        Variant::Tiled => STEP_TILED_WGSL,
        Variant::Register => STEP_REG_WGSL,
        Variant::Subgroup => {
            let rows = step_subgroup_rows(b);
            let src = if step_subgroup_units(cell) == 4 {
                STEP_SUBGROUP_RNN_WGSL
            } else {
                STEP_SUBGROUP_WGSL
            };
            return gpu.kernel(
                &format!("step_subgroup/{}/rows{rows}", cell.name()),
                &STEP_BINDINGS,
                || format!("{}\n{}", cell_prelude(cell), unroll_rows(src, rows)),
            );
        }
        Variant::FusedSubgroup => return fused_kernel(gpu, cell, b, None, false),
        Variant::Persistent | Variant::PersistentSubgroup | Variant::FusedPersistent => {
            return Err(Error::Config("persistent variants have no per-step kernel".into()))
        }
    };
    gpu.kernel(&format!("step_{}/{}", variant.name(), cell.name()), &STEP_BINDINGS, || {
        format!("{}\n{body}", cell_prelude(cell))
    })
}

/// The fused step kernel (step_fused_subgroup.wgsl) for a cell and batch size: one step
/// per dispatch (`main`), or with `chunk` steps per dispatch its persistent entry point;
/// with `train` it keeps the reserve space (bindings FUSED_TRAIN_BINDINGS).
pub fn fused_kernel(
    gpu: &Gpu,
    cell: CellKind,
    b: usize,
    chunk: Option<usize>,
    train: bool,
) -> Result<Arc<Kernel>> {
    let rows = step_subgroup_rows(b);
    let units = step_subgroup_units(cell);
    let entry = if chunk.is_some() { "main_persistent" } else { "main" };
    let chunk = chunk.unwrap_or(1);
    let (reserve, bindings): (&str, &[Binding]) = if train {
        (STEP_FUSED_RESERVE_WGSL, &FUSED_TRAIN_BINDINGS)
    } else {
        (STEP_FUSED_NORESERVE_WGSL, &FUSED_STEP_BINDINGS)
    };
    let key = format!("step_fused_subgroup/{}/rows{rows}/chunk{chunk}/train{train}", cell.name());
    // The persistent loop's barrier between steps (its workgroup is one subgroup). On
    // lavapipe storageBarrier() makes the driver run the workgroup as coroutines, 1.4-2x
    // slower (rnn-b64, lstm-b64 fwd), while a subgroup barrier is cheap there: the lanes
    // are one SIMD program and see each other's stores in program order. Elsewhere the
    // storage barrier, which the memory model requires.
    let cheap = gpu.caps.cpu_like && gpu.features.contains(wgpu::Features::SUBGROUP_BARRIER);
    let barrier = if cheap { "subgroupBarrier" } else { "storageBarrier" };
    gpu.kernel_entry(&format!("{key}/{barrier}"), entry, bindings, || {
        let consts = format!("const UL: u32 = {units}u;\nconst CHUNK: u32 = {chunk}u;\nfn step_barrier() {{\n    {barrier}();\n}}");
        cell_source(cell, &format!("{consts}\n{reserve}\n{}", unroll_rows(STEP_FUSED_SUBGROUP_WGSL, rows)))
    })
}

/// Loop iterations llvmpipe (lavapipe) allows one invocation: every loop of a shader
/// shares one counter (gallivm's LP_MAX_TGSI_LOOP_ITERATIONS, 65535), and past it loops
/// silently stop, so a kernel returns wrong results, fast. Measured with fused-persistent
/// at rnn-b64: 40 steps per dispatch matched the reference, 50 did not, independent of
/// wall time (2x slower under load still matched). A persistent kernel's chunk is sized
/// so that it stays below this with margin.
pub const LAVAPIPE_LOOP_LIMIT: usize = 65535;

/// Steps per dispatch of fused-persistent for layers of input width up to kp: the
/// iterations of its loops per step, counted from the source without assuming any
/// unrolling (per unit block: both K loops, the column and bias loops, the row epilogue
/// with RNN's unit loop, and when training the reserve's gate or unit loop), within 7/8 of
/// LAVAPIPE_LOOP_LIMIT.
pub fn fused_persistent_chunk(spec: &RnnSpec, b: usize, kp: usize, train: bool) -> usize {
    (LAVAPIPE_LOOP_BUDGET / fused_persistent_step_iterations(spec, b, kp, train)).max(1)
}

/// The loop iterations a kernel may spend per invocation and dispatch on a CPU adapter:
/// LAVAPIPE_LOOP_LIMIT with a margin.
pub const LAVAPIPE_LOOP_BUDGET: usize = LAVAPIPE_LOOP_LIMIT * 7 / 8;

/// Loop iterations of one fused-persistent step per invocation, counted as
/// `fused_persistent_chunk` says.
fn fused_persistent_step_iterations(spec: &RnnSpec, b: usize, kp: usize, train: bool) -> usize {
    let units = step_subgroup_units(spec.cell);
    let blocks = spec.hidden_size.div_ceil(SUBGROUP_LANES as usize * units);
    let rows = step_subgroup_rows(b);
    let per_row = 1 + if units == 4 { 4 } else { 0 } + if train { 4 } else { 0 };
    let per_block = kp / 4 + hp(spec.hidden_size) / 4 + 8 + rows * per_row + 1;
    blocks * per_block + 1
}

/// Why fused-persistent cannot run a model on a CPU adapter: one step alone past the loop
/// budget (large H), at the widest layer input and the largest row block, training's count.
fn fused_persistent_too_long(gpu: &Gpu, spec: &RnnSpec) -> Option<String> {
    let kp = hp(spec.input_size).max(spec.directions() * hp(spec.hidden_size));
    let n = fused_persistent_step_iterations(spec, STEP_SUBGROUP_MAX_ROWS, kp, true);
    (gpu.caps.cpu_like && n > LAVAPIPE_LOOP_BUDGET).then(|| {
        format!(
            "fused-persistent: one step of H = {}, input {} runs about {n} loop iterations per invocation, past the {LAVAPIPE_LOOP_BUDGET} a CPU adapter (lavapipe) allows a dispatch",
            spec.hidden_size, spec.input_size
        )
    })
}

/// Launch shape of the persistent kernel: rows per workgroup and invocations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PersistentShape {
    pub rows: usize,
    pub threads: u32,
}

impl PersistentShape {
    pub fn new(gpu: &Gpu, spec: &RnnSpec, b: usize) -> Result<Self> {
        let cap = persistent_rows(gpu, spec);
        if cap == 0 {
            return Err(Error::Config(
                Variant::Persistent.unsupported(gpu, spec).unwrap_or_default(),
            ));
        }
        let rows = b.min(cap);
        let max_threads = gpu
            .limits
            .max_compute_invocations_per_workgroup
            .min(gpu.limits.max_compute_workgroup_size_x);
        let threads = ((rows * spec.hidden_size).div_ceil(32) * 32).clamp(32, 256) as u32;
        Ok(PersistentShape { rows, threads: threads.min(max_threads) })
    }
}

/// The persistent kernel for a cell and launch shape.
pub fn persistent_kernel(
    gpu: &Gpu,
    cell: CellKind,
    hidden: usize,
    shape: PersistentShape,
) -> Result<Arc<Kernel>> {
    let hs4 = shape.rows * hp(hidden) / 4;
    let key = format!(
        "persistent/{}/rows{}/wg{}/hs{}/h{hidden}",
        cell.name(),
        shape.rows,
        shape.threads,
        hs4
    );
    gpu.kernel(&key, &STEP_BINDINGS, || {
        format!(
            "const BS: u32 = {}u;\nconst WGP: u32 = {}u;\nconst HS4: u32 = {hs4}u;\nconst HS2: u32 = {}u;\nconst CHUNK: u32 = {}u;\n{}\n{PERSISTENT_WGSL}",
            shape.rows,
            shape.threads,
            2 * hs4,
            super::forward::persistent_chunk(shape.rows, hidden),
            cell_prelude(cell)
        )
    })
}

/// The register-resident persistent kernel for a cell and H; returns it with the batch
/// rows per workgroup.
pub fn persistent_subgroup_kernel(
    gpu: &Gpu,
    cell: CellKind,
    hidden: usize,
    b: usize,
) -> Result<(Arc<Kernel>, usize)> {
    let rows = b.min(PERSISTENT_SUBGROUP_ROWS);
    // Sizes are compile-time constants of the kernel; bucketing them (chunks of h to the
    // next power of two from 8, invocations to a multiple of 32) keeps the number of
    // pipelines the driver compiles small. Extra chunks are zero and cost little.
    let hp4 = (hp(hidden) / 4).div_ceil(8).next_power_of_two() * 8;
    let threads = hidden.div_ceil(32) * 32;
    let hs4 = rows * hp4;
    let key = format!(
        "persistent_subgroup/{}/rows{rows}/hp4_{hp4}/wg{threads}/chunk{}",
        cell.name(),
        super::forward::persistent_chunk(rows, hidden)
    );
    let k = gpu.kernel(&key, &STEP_BINDINGS, || {
        format!(
            "const BS: u32 = {rows}u;\nconst WGP: u32 = {threads}u;\nconst HP4: u32 = {hp4}u;\nconst HS4: u32 = {hs4}u;\nconst HS2: u32 = {}u;\nconst CHUNK: u32 = {}u;\n{}\n{}",
            2 * hs4,
            super::forward::persistent_chunk(rows, hidden),
            cell_prelude(cell),
            unroll(PERSISTENT_SUBGROUP_WGSL, hp4, SUBGROUP_LANES as usize)
        )
    })?;
    Ok((k, rows))
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
