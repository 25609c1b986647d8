//! The kernel variants, their WGSL sources (composed from `shaders/`) and how the host picks
//! one for a shape and an adapter.

use super::abi::{self, storage_buffers};
use super::context::{Gpu, Kernel};
pub use super::layout::hp;
use super::shaders::{self, Gemm, Step, StepBarrier, Storage};
pub use super::shaders::{cell_source, step_subgroup_units, unroll, unroll_rows, SUBGROUP_LANES};
use crate::error::{Error, Refusal, Result};
use crate::spec::{CellKind, Precision, RnnSpec};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

/// Rows of C per workgroup of the subgroup input GEMM (see gemm_subgroup.wgsl for the
/// measurement that chose it).
pub const GEMM_SUBGROUP_ROWS: usize = 32;

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
    /// Linear cells (minGRU, minLSTM): the best GEMM for every gate, then the time loop as a
    /// chunked parallel scan (chunk maps, carry scan, fix-up; scan.wgsl `chunked`): about
    /// twice the arithmetic of `Sequential`, SCAN_CHUNKS times its parallel lanes.
    Scan,
    /// Linear cells: the best GEMM, then one invocation per unit, row and direction
    /// looping over time (scan.wgsl `sequential`).
    Sequential,
}

impl Variant {
    /// Every variant (what `validate` iterates).
    pub const ALL: [Variant; 9] = [
        Variant::Tiled,
        Variant::Register,
        Variant::Subgroup,
        Variant::Persistent,
        Variant::PersistentSubgroup,
        Variant::FusedSubgroup,
        Variant::FusedPersistent,
        Variant::Scan,
        Variant::Sequential,
    ];

    /// Whether this is a linear-cell (scan) variant.
    pub fn is_scan(self) -> bool {
        matches!(self, Variant::Scan | Variant::Sequential)
    }

    /// How a scan variant walks time (None for the others).
    pub fn scan(self) -> Option<shaders::Scan> {
        match self {
            Variant::Scan => Some(shaders::Scan::Chunked),
            Variant::Sequential => Some(shaders::Scan::Sequential),
            _ => None,
        }
    }

    /// Its name in the CLI, the tune cache and reports (what `FromStr` parses).
    pub fn name(self) -> &'static str {
        match self {
            Variant::Tiled => "tiled",
            Variant::Register => "register",
            Variant::Subgroup => "subgroup",
            Variant::Persistent => "persistent",
            Variant::PersistentSubgroup => "persistent-subgroup",
            Variant::FusedSubgroup => "fused-subgroup",
            Variant::FusedPersistent => "fused-persistent",
            Variant::Scan => "scan",
            Variant::Sequential => "sequential",
        }
    }

    /// Why this variant cannot run here, or None if it can.
    pub fn unsupported(self, gpu: &Gpu, spec: &RnnSpec) -> Option<Refusal> {
        if self.is_scan() != spec.cell.linear() {
            let use_instead = if spec.cell.linear() {
                "scan or sequential"
            } else {
                "a variant other than scan and sequential"
            };
            return Some(Refusal::Cell { cell: spec.cell.name(), use_instead });
        }
        if let Some(r) = projection_too_long(gpu, spec) {
            return Some(r);
        }
        match self {
            Variant::FusedSubgroup => Variant::Subgroup.unsupported(gpu, spec).or_else(|| {
                let limit = gpu.limits.max_storage_buffers_per_shader_stage;
                (limit < FUSED_STORAGE_BUFFERS)
                    .then_some(Refusal::StorageBuffers { needed: FUSED_STORAGE_BUFFERS, limit })
            }),
            Variant::FusedPersistent => Variant::FusedSubgroup
                .unsupported(gpu, spec)
                .or_else(|| fused_persistent_too_long(gpu, spec)),
            Variant::Subgroup | Variant::PersistentSubgroup if !subgroups_ok(gpu) => {
                Some(Refusal::NoSubgroups {
                    min_lanes: SUBGROUP_LANES,
                    sizes: gpu
                        .caps
                        .subgroups
                        .then_some((gpu.caps.subgroup_min_size, gpu.caps.subgroup_max_size)),
                })
            }
            Variant::Persistent if persistent_rows(gpu, spec) == 0 => {
                Some(Refusal::WorkgroupMemory {
                    needed: 8 * hp(spec.hidden_size) as u64,
                    limit: gpu.limits.max_compute_workgroup_storage_size as u64,
                })
            }
            Variant::Persistent => persistent_too_long(gpu, spec),
            Variant::PersistentSubgroup => {
                let needed = (spec.hidden_size.div_ceil(32) * 32) as u32;
                let limit = gpu.limits.max_compute_invocations_per_workgroup;
                if spec.hidden_size > PERSISTENT_SUBGROUP_MAX_H {
                    Some(Refusal::HiddenSize {
                        hidden: spec.hidden_size,
                        max: PERSISTENT_SUBGROUP_MAX_H,
                    })
                } else if needed > limit {
                    Some(Refusal::Invocations { needed, limit })
                } else {
                    Variant::Persistent.unsupported(gpu, spec)
                }
            }
            _ => None,
        }
    }

    /// `unsupported` as an error naming the variant.
    pub fn check_supported(self, gpu: &Gpu, spec: &RnnSpec) -> Result<()> {
        match self.unsupported(gpu, spec) {
            Some(reason) => Err(Error::Unsupported { variant: self.name().into(), reason }),
            None => Ok(()),
        }
    }

    /// The variant `wgpu-rnn tune` measured fastest for this adapter and shape, else a rule:
    /// persistent when one step is too little work to pay for a dispatch, then subgroup
    /// sharing on CPU adapters (with the input projection fused into the step from
    /// `FUSED_MIN_BATCH` rows, and looped in fused-persistent once the batch blocks keep
    /// every CPU thread busy), tiles elsewhere.
    pub fn auto(gpu: &Gpu, spec: &RnnSpec, b: usize) -> Variant {
        #[cfg(feature = "native")]
        if let Some(v) = tuned(gpu, spec, b) {
            return v;
        }
        if spec.cell.linear() {
            return scan_variant(gpu, spec, b);
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
            let balanced =
                blocks >= threads && (blocks.is_multiple_of(threads) || blocks >= 4 * threads);
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
            Variant::Persistent
            | Variant::PersistentSubgroup
            | Variant::Scan
            | Variant::Sequential => GemmVariant::best(gpu),
        }
    }
}

/// Lanes below which a GPU runs the linear cells' time loop as a chunked scan: the
/// sequential loop keeps B·H·D lanes busy for T dependent steps, which leaves most of a
/// GPU with ~10^4 lanes idle; the chunked scan has SCAN_CHUNKS times the lanes for about
/// twice the arithmetic.
pub const SCAN_MIN_LANES: usize = 1 << 14;

/// The time loop for a linear cell: the sequential loop on CPU adapters (a few threads
/// are busy with B·H·D lanes already, and the chunked scan doubles the work: measured in
/// `bench`, mingru-t4096 and mingru-b64), and on GPUs wherever B·H·D fills the lanes.
fn scan_variant(gpu: &Gpu, spec: &RnnSpec, b: usize) -> Variant {
    let lanes = b * spec.hidden_size * spec.directions();
    if gpu.caps.cpu_like || lanes >= SCAN_MIN_LANES {
        Variant::Sequential
    } else {
        Variant::Scan
    }
}

/// Steps per dispatch of the sequential scan kernels: under the loop budget of a CPU
/// adapter, whose loops stop silently past LAVAPIPE_LOOP_LIMIT iterations.
pub const SCAN_SEQUENTIAL_STEPS: usize = 1 << 15;
/// Steps per dispatch of the chunked scan kernels: each invocation loops twice over
/// 1/SCAN_CHUNKS of them.
pub const SCAN_CHUNKED_STEPS: usize = shaders::SCAN_CHUNKS << 14;

/// A recurrent kernel with its workgroup counts and its steps per dispatch.
pub type LoopKernel = (Arc<Kernel>, (u32, u32, u32), usize);

/// The scan kernel of a scan variant (forward, or with `backward` its BPTT twin), its
/// workgroups for B rows and D directions, and its steps per dispatch.
pub fn scan_kernel(
    gpu: &Gpu,
    cell: CellKind,
    kind: shaders::Scan,
    backward: bool,
    (h, b, d): (usize, usize, usize),
) -> Result<LoopKernel> {
    let (steps, groups) = scan_shape(kind, h, b, d);
    let units = shaders::scan_units(h);
    let src = if backward {
        shaders::scan_backward(cell, kind, steps, units)
    } else {
        shaders::scan(cell, kind, steps, units)
    };
    Ok((gpu.kernel(&src)?, groups, steps))
}

fn scan_shape(kind: shaders::Scan, h: usize, b: usize, d: usize) -> (usize, (u32, u32, u32)) {
    // invocations along x: one per group of scan_units(h) hidden units
    let x = h.div_ceil(shaders::scan_units(h));
    match kind {
        shaders::Scan::Sequential => {
            (SCAN_SEQUENTIAL_STEPS, (x.div_ceil(64) as u32, b as u32, d as u32))
        }
        shaders::Scan::Chunked => {
            (SCAN_CHUNKED_STEPS, (x.div_ceil(shaders::SCAN_UNITS) as u32, b as u32, d as u32))
        }
    }
}

/// The variant `wgpu-rnn tune` cached for this adapter and shape, if it can still run.
#[cfg(feature = "native")]
pub fn tuned(gpu: &Gpu, spec: &RnnSpec, b: usize) -> Option<Variant> {
    let v: Variant = gpu.tuned().get(&super::tuned::key(&gpu.info, spec, b))?.parse().ok()?;
    v.unsupported(gpu, spec).is_none().then_some(v)
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

/// Batch rows one persistent workgroup can keep in workgroup memory (0: not even one).
pub fn persistent_rows(gpu: &Gpu, spec: &RnnSpec) -> usize {
    gpu.limits.max_compute_workgroup_storage_size as usize / (2 * 4 * hp(spec.hidden_size))
}

/// Input-projection GEMM kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GemmVariant {
    /// Workgroup-shared 64x64 tiles (discrete GPUs).
    Tiled,
    /// Register blocking without subgroups (any adapter).
    Register,
    /// Register blocking with subgroupBroadcast sharing, `GEMM_SUBGROUP_ROWS` rows of C per
    /// workgroup (CPU adapters).
    Subgroup,
}

impl GemmVariant {
    /// Every GEMM variant (what `wgpu-rnn gemm` iterates).
    pub const ALL: [GemmVariant; 3] =
        [GemmVariant::Tiled, GemmVariant::Register, GemmVariant::Subgroup];

    /// Its name in the CLI and reports.
    pub fn name(self) -> &'static str {
        match self {
            GemmVariant::Tiled => "tiled",
            GemmVariant::Register => "register",
            GemmVariant::Subgroup => "subgroup",
        }
    }

    /// The GEMM for this adapter: tiles on GPUs; on CPU adapters subgroup sharing where
    /// subgroups are usable, else register blocking.
    pub fn best(gpu: &Gpu) -> GemmVariant {
        if !gpu.caps.cpu_like {
            GemmVariant::Tiled
        } else if subgroups_ok(gpu) {
            GemmVariant::Subgroup
        } else {
            GemmVariant::Register
        }
    }

    /// Whether it can run on this adapter (`Subgroup` needs subgroups of at least
    /// `SUBGROUP_LANES` lanes).
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

    /// Its composition (see `shaders::gemm`).
    pub fn source(self) -> shaders::KernelSource {
        shaders::gemm(match self {
            GemmVariant::Tiled => Gemm::Tiled,
            GemmVariant::Register => Gemm::Register,
            GemmVariant::Subgroup => Gemm::Subgroup { rows: GEMM_SUBGROUP_ROWS },
        })
    }

    /// Its kernel for B operands (weights) stored in `weights`, built on first use (see
    /// `Gpu::kernel`).
    pub fn kernel(self, gpu: &Gpu, weights: Precision) -> Result<Arc<Kernel>> {
        gpu.kernel(&self.source().with_weights(weights))
    }
}

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
pub const FUSED_STORAGE_BUFFERS: u32 = storage_buffers(&abi::FUSED_STEP_BINDINGS);

/// Storage buffers of the fused step kernel keeping the reserve space (training): cprev
/// shares hg's binding, so one fewer than the binding list holds.
pub const FUSED_TRAIN_STORAGE_BUFFERS: u32 = storage_buffers(&abi::FUSED_TRAIN_BINDINGS) - 1;

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

/// The per-step fused kernel of a variant for a cell, batch size and storage.
pub fn step_kernel(
    gpu: &Gpu,
    variant: Variant,
    cell: CellKind,
    b: usize,
    storage: Storage,
) -> Result<Arc<Kernel>> {
    let kind = match variant {
        Variant::Tiled => Step::Tiled,
        Variant::Register => Step::Register,
        Variant::Subgroup => Step::Subgroup { rows: step_subgroup_rows(b) },
        Variant::FusedSubgroup => return fused_kernel(gpu, cell, b, None, false, storage),
        Variant::Persistent | Variant::PersistentSubgroup | Variant::FusedPersistent => {
            return Err(Error::Config("persistent variants have no per-step kernel".into()))
        }
        Variant::Scan | Variant::Sequential => {
            return Err(Error::Config("the scan variants have no per-step kernel".into()))
        }
    };
    gpu.kernel(&shaders::step(kind, cell).with_storage(storage))
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
    storage: Storage,
) -> Result<Arc<Kernel>> {
    let rows = step_subgroup_rows(b);
    let src = shaders::step_fused(cell, rows, chunk, train, step_barrier(gpu));
    gpu.kernel(&src.with_storage(storage))
}

/// The barrier between fused-persistent's steps (its workgroup is one subgroup). On
/// lavapipe storageBarrier() makes the driver run the workgroup as coroutines, 1.4-2x
/// slower (rnn-b64, lstm-b64 fwd), while a subgroup barrier is cheap there: the lanes are
/// one SIMD program and see each other's stores in program order. Elsewhere the storage
/// barrier, which the memory model requires.
pub fn step_barrier(gpu: &Gpu) -> StepBarrier {
    if gpu.caps.cpu_like && gpu.features.contains(wgpu::Features::SUBGROUP_BARRIER) {
        StepBarrier::Subgroup
    } else {
        StepBarrier::Storage
    }
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

/// Why no variant can run a model on a CPU adapter: every input projection (a GEMM, or the
/// fused step) loops over K = the layer's input width in one invocation (K/4 vec4 chunks,
/// plus H/4 in the fused step), so an input wider than about 4·LAVAPIPE_LOOP_BUDGET
/// (~229k) would silently stop early.
fn projection_too_long(gpu: &Gpu, spec: &RnnSpec) -> Option<Refusal> {
    let kp = hp(spec.input_size).max(spec.directions() * hp(spec.hidden_size));
    let n = kp / 4 + hp(spec.hidden_size) / 4 + 64;
    (gpu.caps.cpu_like && n > LAVAPIPE_LOOP_BUDGET).then_some(Refusal::LoopLimit {
        iterations: n,
        budget: LAVAPIPE_LOOP_BUDGET,
        hidden: spec.hidden_size,
        input: spec.input_size,
    })
}

/// Why fused-persistent cannot run a model on a CPU adapter: one step alone past the loop
/// budget (large H), at the widest layer input and the largest row block, training's count.
fn fused_persistent_too_long(gpu: &Gpu, spec: &RnnSpec) -> Option<Refusal> {
    let kp = hp(spec.input_size).max(spec.directions() * hp(spec.hidden_size));
    let n = fused_persistent_step_iterations(spec, STEP_SUBGROUP_MAX_ROWS, kp, true);
    (gpu.caps.cpu_like && n > LAVAPIPE_LOOP_BUDGET).then_some(Refusal::LoopLimit {
        iterations: n,
        budget: LAVAPIPE_LOOP_BUDGET,
        hidden: spec.hidden_size,
        input: spec.input_size,
    })
}

/// Launch shape of the persistent kernel: rows per workgroup, invocations and steps per
/// dispatch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PersistentShape {
    /// Batch rows per workgroup, at most what workgroup memory holds (`persistent_rows`)
    /// and, on CPU adapters, what keeps one step within the loop budget.
    pub rows: usize,
    /// Invocations per workgroup: rows·H rounded up to 32, within 32..=256 and the
    /// device's limits.
    pub threads: u32,
    /// Steps per dispatch: `persistent_chunk`, on CPU adapters also within the loop budget.
    pub chunk: usize,
}

/// Invocations of a persistent workgroup of `rows` rows of H units.
fn persistent_threads(gpu: &Gpu, h: usize, rows: usize) -> u32 {
    let max_threads = gpu
        .limits
        .max_compute_invocations_per_workgroup
        .min(gpu.limits.max_compute_workgroup_size_x);
    (((rows * h).div_ceil(32) * 32).clamp(32, 256) as u32).min(max_threads)
}

/// Loop iterations of persistent.wgsl per invocation: (once per dispatch, per step), counted
/// from the source without assuming unrolling: the state load and store loops once, and per
/// step the step loop plus, for each of the invocation's units, the K loop over Hp/4 and the
/// gate loops (input, bias, reserve).
fn persistent_iterations(spec: &RnnSpec, rows: usize, threads: u32) -> (usize, usize) {
    let (hp4, wgp) = (hp(spec.hidden_size) / 4, threads as usize);
    let once = (2 * rows * hp4).div_ceil(wgp) + (rows * hp4).div_ceil(wgp) + 2;
    let units = (rows * spec.hidden_size).div_ceil(wgp);
    (once, 1 + units * (hp4 + 3 * spec.gates() + 1))
}

/// Why the streamed persistent kernel cannot run a model on a CPU adapter: one step of one
/// batch row alone past the loop budget (large H).
fn persistent_too_long(gpu: &Gpu, spec: &RnnSpec) -> Option<Refusal> {
    let (once, step) = persistent_iterations(spec, 1, persistent_threads(gpu, spec.hidden_size, 1));
    (gpu.caps.cpu_like && once + step > LAVAPIPE_LOOP_BUDGET).then_some(Refusal::LoopLimit {
        iterations: once + step,
        budget: LAVAPIPE_LOOP_BUDGET,
        hidden: spec.hidden_size,
        input: spec.input_size,
    })
}

impl PersistentShape {
    /// The launch shape for `b` batch rows; `Error::Unsupported` when not even one row's
    /// state fits in workgroup memory, or (CPU adapters) one row's step passes the loop
    /// budget.
    pub fn new(gpu: &Gpu, spec: &RnnSpec, b: usize) -> Result<Self> {
        Variant::Persistent.check_supported(gpu, spec)?;
        let h = spec.hidden_size;
        let mut rows = b.min(persistent_rows(gpu, spec)).max(1);
        let fits = |rows: usize| {
            let (once, step) = persistent_iterations(spec, rows, persistent_threads(gpu, h, rows));
            once + step <= LAVAPIPE_LOOP_BUDGET
        };
        while gpu.caps.cpu_like && rows > 1 && !fits(rows) {
            rows -= 1;
        }
        let threads = persistent_threads(gpu, h, rows);
        let mut chunk = persistent_chunk(rows, h);
        if gpu.caps.cpu_like {
            let (once, step) = persistent_iterations(spec, rows, threads);
            chunk = chunk.min((LAVAPIPE_LOOP_BUDGET - once) / step).max(1);
        }
        Ok(PersistentShape { rows, threads, chunk })
    }
}

/// The persistent kernel for a cell and launch shape.
pub fn persistent_kernel(
    gpu: &Gpu,
    cell: CellKind,
    hidden: usize,
    shape: PersistentShape,
    storage: Storage,
) -> Result<Arc<Kernel>> {
    let hs4 = shape.rows * hp(hidden) / 4;
    let src = shaders::persistent(cell, hidden, shape.rows, shape.threads, hs4, shape.chunk);
    gpu.kernel(&src.with_storage(storage))
}

/// The register-resident persistent kernel for a cell and H; returns it with the batch
/// rows per workgroup.
pub fn persistent_subgroup_kernel(
    gpu: &Gpu,
    cell: CellKind,
    hidden: usize,
    b: usize,
    storage: Storage,
) -> Result<(Arc<Kernel>, usize)> {
    let rows = b.min(PERSISTENT_SUBGROUP_ROWS);
    // Sizes are compile-time constants of the kernel; bucketing them (chunks of h to the
    // next power of two from 8, invocations to a multiple of 32) keeps the number of
    // pipelines the driver compiles small. Extra chunks are zero and cost little.
    let hp4 = (hp(hidden) / 4).div_ceil(8).next_power_of_two() * 8;
    let threads = hidden.div_ceil(32) * 32;
    let chunk = persistent_chunk(rows, hidden);
    let src = shaders::persistent_subgroup(cell, rows, hp4, threads, chunk);
    Ok((gpu.kernel(&src.with_storage(storage))?, rows))
}

/// Steps per dispatch of a persistent kernel whose workgroups own `rows` batch rows of H
/// units, kept to about 2^21 multiply-adds per workgroup. One dispatch per chunk instead
/// of one for all T: on lavapipe a single dispatch over many steps returned wrong results
/// (measured: H = 256, 16 rows x 60 steps passed, x 80 failed; 8 x 100 passed, 12 x 100
/// failed). That is lavapipe's loop limit (LAVAPIPE_LOOP_LIMIT); on CPU adapters
/// `PersistentShape` also keeps the streamed kernel's chunk within it (at large H the
/// multiply-add rule alone allowed too many steps: RNN H = 4092 went wrong from step 3).
pub fn persistent_chunk(rows: usize, h: usize) -> usize {
    ((1usize << 21) / (rows * h * h).max(1)).clamp(4, 1024)
}
