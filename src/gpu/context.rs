//! The one owner of GPU state: instance, adapter, device, queue and a pipeline cache.
//! Host functions take `&Gpu`, so tests and users can share or bring their own.

use super::abi::Binding;
use super::shaders::KernelSource;
use crate::error::{Error, Result};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// What this engine uses of the adapter, read once at start-up.
#[derive(Clone, Debug)]
pub struct Caps {
    /// Subgroup builtins are available (requested as `Features::SUBGROUP`).
    pub subgroups: bool,
    /// The smallest subgroup size the adapter reports (`AdapterInfo::subgroup_min_size`).
    pub subgroup_min_size: u32,
    /// The largest subgroup size the adapter reports (`AdapterInfo::subgroup_max_size`).
    pub subgroup_max_size: u32,
    /// GPU timestamps inside compute passes are available.
    pub timestamps: bool,
    /// A CPU adapter (lavapipe, WARP, SwiftShader): memory loads dominate, see LAVAPIPE.md.
    pub cpu_like: bool,
    /// Kernels read their read-only vec4 operands as pairs of u64 (shaders/loads_wide.wgsl):
    /// on by default on CPU adapters with `Features::SHADER_INT64`, where it halves the
    /// per-lane load loops; `WGPU_RNN_WIDE_LOADS=0|1` overrides (1 needs SHADER_INT64).
    /// Kernels are cached per setting, so it may be changed on a live context.
    pub wide_loads: bool,
    /// naga's runtime bounds checks in every kernel, the `trusted` ones too (which keep
    /// their accesses in bounds themselves and are otherwise built without them): off by
    /// default, `WGPU_RNN_BOUNDS_CHECKS=1` turns them on. Kernels are cached per setting.
    pub bounds_checks: bool,
}

/// An open GPU: the wgpu handles, what the adapter offers, and the kernels built on it.
pub struct Gpu {
    /// The wgpu instance the adapter came from.
    pub instance: wgpu::Instance,
    /// The chosen adapter.
    pub adapter: wgpu::Adapter,
    /// The device every buffer and kernel lives on.
    pub device: wgpu::Device,
    /// Its queue, where every call submits.
    pub queue: wgpu::Queue,
    /// The adapter's name, backend, type and driver.
    pub info: wgpu::AdapterInfo,
    /// The limits the device was created with (the adapter's own).
    pub limits: wgpu::Limits,
    /// The features the device was created with: those of subgroups, 64-bit integers and
    /// timestamp queries that the adapter has.
    pub features: wgpu::Features,
    /// What the engine uses of them, and its choices for this adapter.
    pub caps: Caps,
    pipelines: Mutex<HashMap<String, Arc<Kernel>>>,
    /// the tune cache, read on first use
    #[cfg(feature = "native")]
    tuned: Mutex<Option<Arc<std::collections::BTreeMap<String, String>>>>,
}

/// A compute pipeline with its explicit bind group layout (derived layouts drop bindings
/// a shader does not touch, which then fail to bind).
pub struct Kernel {
    /// The compiled compute pipeline.
    pub pipeline: wgpu::ComputePipeline,
    /// Its bind group layout: the bindings of the kernel's source that its WGSL declares.
    pub layout: wgpu::BindGroupLayout,
    /// Which bindings of the source the layout holds (`KernelSource::declared`).
    pub declared: Vec<bool>,
    /// bytes of the uniform block at binding 0 (see `KernelSource::uniform_size`)
    pub uniform_size: u64,
}

/// One recorded dispatch: a kernel, its bind group (no dynamic offsets) and workgroups.
pub(crate) struct Dispatch {
    pub kernel: Arc<Kernel>,
    pub bind: wgpu::BindGroup,
    pub groups: (u32, u32, u32),
}

impl Dispatch {
    pub fn record(&self, pass: &mut wgpu::ComputePass<'_>) {
        pass.set_pipeline(&self.kernel.pipeline);
        pass.set_bind_group(0, &self.bind, &[]);
        pass.dispatch_workgroups(self.groups.0, self.groups.1, self.groups.2);
    }
}

impl Kernel {
    /// A bind group of `buffers` in binding order (uniforms bound with the kernel's
    /// `uniform_size` bytes, so a dynamic offset can select one entry of a larger buffer).
    pub fn bind(&self, gpu: &Gpu, buffers: &[&wgpu::Buffer]) -> wgpu::BindGroup {
        let uniform_size = self.uniform_size;
        let entries: Vec<wgpu::BindGroupEntry<'_>> = buffers
            .iter()
            .enumerate()
            .filter(|&(i, _)| self.declared.get(i).copied().unwrap_or(false))
            .map(|(i, b)| wgpu::BindGroupEntry {
                binding: i as u32,
                resource: if b.usage().contains(wgpu::BufferUsages::UNIFORM) {
                    wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                        buffer: b,
                        offset: 0,
                        size: wgpu::BufferSize::new(uniform_size),
                    })
                } else {
                    b.as_entire_binding()
                },
            })
            .collect();
        gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &self.layout,
            entries: &entries,
        })
    }
}

impl Gpu {
    /// Opens the adapter chosen by `WGPU_BACKEND` (vulkan, metal, dx12, gl) and
    /// `WGPU_ADAPTER_NAME` (a case-insensitive substring of the adapter name), or the
    /// default adapter.
    #[cfg(feature = "native")]
    pub fn new() -> Result<Self> {
        pollster::block_on(Self::new_async())
    }

    /// `new` without blocking: the browser's only constructor. Fails with
    /// `Error::NoAdapter` when no adapter (or none matching `WGPU_ADAPTER_NAME`) is found,
    /// `Error::Device` when the device cannot be created, `Error::Config` for a bad
    /// `WGPU_RNN_WIDE_LOADS`.
    pub async fn new_async() -> Result<Self> {
        let instance =
            wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
        let backends = wgpu::Backends::from_env().unwrap_or(wgpu::Backends::all());
        let adapter = match std::env::var("WGPU_ADAPTER_NAME") {
            Ok(want) => {
                let want = want.to_lowercase();
                let all = instance.enumerate_adapters(backends).await;
                let names: Vec<String> = all.iter().map(|a| a.get_info().name).collect();
                all.into_iter()
                    .find(|a| a.get_info().name.to_lowercase().contains(&want))
                    .ok_or_else(|| Error::NoAdapter {
                        detail: format!("WGPU_ADAPTER_NAME={want} matches none of {names:?}"),
                    })?
            }
            Err(_) => instance
                .request_adapter(&wgpu::RequestAdapterOptions {
                    power_preference: wgpu::PowerPreference::HighPerformance,
                    ..Default::default()
                })
                .await
                .map_err(|e| Error::NoAdapter { detail: e.to_string() })?,
        };
        let info = adapter.get_info();
        let available = adapter.features();
        let wanted = wgpu::Features::SUBGROUP
            | wgpu::Features::SUBGROUP_BARRIER
            | wgpu::Features::SHADER_INT64
            | wgpu::Features::TIMESTAMP_QUERY
            | wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES
            | wgpu::Features::TIMESTAMP_QUERY_INSIDE_ENCODERS;
        let features = available & wanted;
        let limits = adapter.limits();
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("wgpu-rnn"),
                required_features: features,
                required_limits: limits.clone(),
                experimental_features: wgpu::ExperimentalFeatures::disabled(),
                memory_hints: wgpu::MemoryHints::Performance,
                trace: wgpu::Trace::Off,
            })
            .await
            .map_err(|e| Error::Device(format!("request_device on {}: {e}", info.name)))?;
        let caps = Caps {
            subgroups: features.contains(wgpu::Features::SUBGROUP),
            subgroup_min_size: info.subgroup_min_size,
            subgroup_max_size: info.subgroup_max_size,
            timestamps: features.contains(
                wgpu::Features::TIMESTAMP_QUERY | wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES,
            ),
            cpu_like: info.device_type == wgpu::DeviceType::Cpu,
            wide_loads: false,
            bounds_checks: false,
        };
        let int64 = features.contains(wgpu::Features::SHADER_INT64);
        let wide_loads = match std::env::var("WGPU_RNN_WIDE_LOADS").as_deref() {
            Ok("0") => false,
            Ok("1") if int64 => true,
            Ok("1") => {
                return Err(Error::Config(format!(
                    "WGPU_RNN_WIDE_LOADS=1 needs Features::SHADER_INT64, which {} lacks",
                    info.name
                )))
            }
            Ok(other) => {
                return Err(Error::Config(format!(
                    "WGPU_RNN_WIDE_LOADS must be 0 or 1, got `{other}`"
                )))
            }
            Err(_) => caps.cpu_like && int64,
        };
        let bounds_checks = match std::env::var("WGPU_RNN_BOUNDS_CHECKS").as_deref() {
            Ok("1") => true,
            Ok("0") | Err(_) => false,
            Ok(other) => {
                return Err(Error::Config(format!(
                    "WGPU_RNN_BOUNDS_CHECKS must be 0 or 1, got `{other}`"
                )))
            }
        };
        let caps = Caps { wide_loads, bounds_checks, ..caps };
        Ok(Gpu {
            instance,
            adapter,
            device,
            queue,
            info,
            limits,
            features,
            caps,
            pipelines: Mutex::new(HashMap::new()),
            #[cfg(feature = "native")]
            tuned: Mutex::new(None),
        })
    }

    /// The variants `wgpu-rnn tune` measured for this machine (see `crate::tune`).
    #[cfg(feature = "native")]
    pub fn tuned(&self) -> Arc<std::collections::BTreeMap<String, String>> {
        self.tuned.lock().unwrap().get_or_insert_with(|| Arc::new(super::tuned::load())).clone()
    }

    /// Re-reads the tune cache on next use.
    #[cfg(feature = "native")]
    pub fn forget_tuned(&self) {
        *self.tuned.lock().unwrap() = None;
    }

    /// A one-line description: adapter name, backend, driver.
    pub fn describe(&self) -> String {
        format!(
            "{} ({:?}, {:?}, driver {} {})",
            self.info.name,
            self.info.backend,
            self.info.device_type,
            self.info.driver,
            self.info.driver_info
        )
    }

    /// Builds (once per context) and returns the kernel `src` describes, with the loads
    /// prelude (`V4`, `ld4`) of the context's `caps.wide_loads` and an explicit layout of its
    /// bindings. Shader errors come back as `Error::Device`.
    pub fn kernel(&self, src: &KernelSource) -> Result<Arc<Kernel>> {
        let wide = self.caps.wide_loads;
        let entry = src.entry;
        let unchecked = src.trusted && !self.caps.bounds_checks;
        let key = &format!(
            "{}#{entry}#{}#{}#reserve-{}{}",
            src.key,
            if wide { "wide" } else { "vec4" },
            src.weights,
            src.reserve,
            if unchecked { "#unchecked" } else { "" }
        );
        if let Some(p) = self.pipelines.lock().unwrap().get(key) {
            return Ok(p.clone());
        }
        // Refused before any device work: no module compiled, no error scope left open.
        let declared = src.declared();
        let storage = src.storage_buffers();
        let limit = self.limits.max_storage_buffers_per_shader_stage;
        if storage > limit {
            return Err(Error::DeviceLimit {
                what: format!("storage buffers of kernel {key}"),
                value: storage as u64,
                limit: limit as u64,
                limit_name: "max_storage_buffers_per_shader_stage".into(),
            });
        }
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let desc = wgpu::ShaderModuleDescriptor {
            label: Some(key),
            source: wgpu::ShaderSource::Wgsl(src.wgsl(wide).into()),
        };
        let module = if unchecked {
            let mut checks = wgpu::ShaderRuntimeChecks::checked();
            checks.bounds_checks = false;
            // SAFETY: a `trusted` kernel clamps every index it loads from and guards every
            // store (see KernelSource::trusted); validate and the GPU tests run its edge
            // shapes with the checks on and off. Only the bounds checks are dropped.
            unsafe { self.device.create_shader_module_trusted(desc, checks) }
        } else {
            self.device.create_shader_module(desc)
        };
        let entries: Vec<wgpu::BindGroupLayoutEntry> = src
            .bindings
            .iter()
            .enumerate()
            .filter(|&(i, _)| declared[i])
            .map(|(i, b)| wgpu::BindGroupLayoutEntry {
                binding: i as u32,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: match b {
                    Binding::Uniform { dynamic } => wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Uniform,
                        has_dynamic_offset: *dynamic,
                        min_binding_size: None,
                    },
                    Binding::Read | Binding::ReadWrite => wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Storage { read_only: *b == Binding::Read },
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                },
                count: None,
            })
            .collect();
        let layout = self.device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some(key),
            entries: &entries,
        });
        let pl = self.device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some(key),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let pipeline = self.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(key),
            layout: Some(&pl),
            module: &module,
            entry_point: Some(entry),
            compilation_options: wgpu::PipelineCompilationOptions {
                constants: &[],
                // Kernels initialise what they read; zeroing costs a pass over the memory.
                zero_initialize_workgroup_memory: false,
            },
            cache: None,
        });
        // Natively the scope is waited for, so a bad shader fails here, naming the kernel;
        // in the browser (no blocking waits) errors reach the device's uncaptured handler.
        #[cfg(feature = "native")]
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(Error::Device(format!("pipeline {key}: {e}")));
        }
        #[cfg(not(feature = "native"))]
        drop(scope);
        let p = Arc::new(Kernel { pipeline, layout, declared, uniform_size: src.uniform_size });
        self.pipelines.lock().unwrap().insert(key.to_string(), p.clone());
        Ok(p)
    }

    /// A storage buffer initialised from `data` (at least 4 bytes: wgpu rejects empty bindings).
    pub fn storage_init<T: bytemuck::Pod>(&self, label: &str, data: &[T]) -> wgpu::Buffer {
        use wgpu::util::DeviceExt;
        let bytes: &[u8] = bytemuck::cast_slice(data);
        let pad = [0u8; 16];
        self.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents: if bytes.is_empty() { &pad } else { bytes },
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_DST
                | wgpu::BufferUsages::COPY_SRC,
        })
    }

    /// A uniform buffer initialised from `bytes`.
    pub fn uniform_init(&self, label: &str, bytes: &[u8]) -> wgpu::Buffer {
        use wgpu::util::DeviceExt;
        self.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents: bytes,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        })
    }

    /// A zeroed storage buffer of `bytes` (rounded up to 16).
    pub fn storage(&self, label: &str, bytes: u64) -> wgpu::Buffer {
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: bytes.max(16).div_ceil(16) * 16,
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_DST
                | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        })
    }

    /// Fails with a clear error when one binding of `bytes` exceeds the device's limit.
    pub fn check_binding(&self, what: &str, bytes: u64) -> Result<()> {
        let limit = self.limits.max_storage_buffer_binding_size.min(self.limits.max_buffer_size);
        if bytes > limit {
            return Err(Error::DeviceLimit {
                what: format!("{what} buffer bytes"),
                value: bytes,
                limit,
                limit_name: "max_storage_buffer_binding_size".into(),
            });
        }
        Ok(())
    }

    /// Fails when a dispatch would need more workgroups in one dimension than allowed.
    pub fn check_groups(&self, what: &str, groups: u32) -> Result<()> {
        let limit = self.limits.max_compute_workgroups_per_dimension;
        if groups > limit {
            return Err(Error::DeviceLimit {
                what: format!("{what} workgroups"),
                value: groups as u64,
                limit: limit as u64,
                limit_name: "max_compute_workgroups_per_dimension".into(),
            });
        }
        Ok(())
    }

    /// Copies `len` floats of `src` (from offset 0) back to the host after all submitted
    /// work.
    #[cfg(feature = "native")]
    pub fn read_f32(&self, src: &wgpu::Buffer, len: usize) -> Result<Vec<f32>> {
        let mut out = self.read_many(&[(src, len)])?;
        Ok(out.pop().unwrap_or_default())
    }

    /// Reads several buffers back with one submit and one wait (`len` floats of each).
    #[cfg(feature = "native")]
    pub fn read_many(&self, srcs: &[(&wgpu::Buffer, usize)]) -> Result<Vec<Vec<f32>>> {
        pollster::block_on(self.read_many_async(srcs))
    }

    /// `read_many` without blocking: what the browser, where only async waits exist, calls.
    pub async fn read_many_async(&self, srcs: &[(&wgpu::Buffer, usize)]) -> Result<Vec<Vec<f32>>> {
        let staged = self.stage(srcs);
        self.fetch(staged).await
    }

    /// Copies `srcs` (`len` floats of each) into one staging buffer and submits the copy:
    /// the buffers may be reused or freed once this returns; `fetch` maps the copy.
    pub(crate) fn stage(&self, srcs: &[(&wgpu::Buffer, usize)]) -> Staged {
        let at: Vec<(&wgpu::Buffer, usize, usize)> = srcs.iter().map(|&(b, n)| (b, 0, n)).collect();
        self.stage_at(&at)
    }

    /// `stage` of `len` floats from float `offset` of each buffer.
    pub(crate) fn stage_at(&self, srcs: &[(&wgpu::Buffer, usize, usize)]) -> Staged {
        let total: u64 = srcs.iter().map(|(_, _, n)| (*n as u64 * 4).div_ceil(16) * 16).sum();
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: total.max(16),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut enc = self.device.create_command_encoder(&Default::default());
        let mut parts = Vec::with_capacity(srcs.len());
        let mut off = 0u64;
        for (b, from, n) in srcs {
            let bytes = *n as u64 * 4;
            if bytes > 0 {
                enc.copy_buffer_to_buffer(b, *from as u64 * 4, &staging, off, bytes);
            }
            parts.push(((off / 4) as usize, *n));
            off += bytes.div_ceil(16) * 16;
        }
        self.queue.submit([enc.finish()]);
        Staged { staging, parts }
    }

    /// Maps a staged copy once the GPU is done with it and returns each part as f32. On
    /// native targets this polls the device until then; in the browser the map completes
    /// from the event loop.
    pub(crate) async fn fetch(&self, staged: Staged) -> Result<Vec<Vec<f32>>> {
        let Staged { staging, parts } = staged;
        let slice = staging.slice(..);
        let (tx, rx) = oneshot::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| tx.send(r));
        #[cfg(not(target_arch = "wasm32"))]
        self.wait()?;
        rx.await
            .ok_or_else(|| Error::Device("readback: the map callback was dropped".into()))?
            .map_err(|e| Error::Device(format!("map_async: {e}")))?;
        let view = slice
            .get_mapped_range()
            .map_err(|e| Error::Device(format!("get_mapped_range: {e}")))?;
        let all: &[f32] = bytemuck::cast_slice(&view);
        let out = parts.iter().map(|&(o, n)| all[o..o + n].to_vec()).collect();
        drop(view);
        staging.unmap();
        Ok(out)
    }

    /// Blocks until all submitted work is done.
    pub fn wait(&self) -> Result<()> {
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map(|_| ())
            .map_err(|e| Error::Device(format!("poll: {e}")))
    }
}

/// Staged copies of device buffers (`Gpu::stage`), waiting to be mapped by `Gpu::fetch`.
pub(crate) struct Staged {
    staging: wgpu::Buffer,
    /// (offset in floats, length) of each part
    parts: Vec<(usize, usize)>,
}

/// A one-value channel whose receiver is a future: how a map callback reaches async code
/// without an executor of its own (std only).
mod oneshot {
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::{Arc, Mutex};
    use std::task::{Context, Poll, Waker};

    struct Slot<T> {
        value: Option<T>,
        waker: Option<Waker>,
        sender_gone: bool,
    }

    pub struct Sender<T>(Arc<Mutex<Slot<T>>>);
    pub struct Receiver<T>(Arc<Mutex<Slot<T>>>);

    pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
        let slot = Arc::new(Mutex::new(Slot { value: None, waker: None, sender_gone: false }));
        (Sender(slot.clone()), Receiver(slot))
    }

    impl<T> Sender<T> {
        pub fn send(self, value: T) {
            if let Ok(mut s) = self.0.lock() {
                s.value = Some(value);
            }
        }
    }

    impl<T> Drop for Sender<T> {
        fn drop(&mut self) {
            if let Ok(mut s) = self.0.lock() {
                s.sender_gone = true;
                if let Some(w) = s.waker.take() {
                    w.wake();
                }
            }
        }
    }

    impl<T> Future for Receiver<T> {
        /// None when the sender was dropped without sending.
        type Output = Option<T>;
        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
            let Ok(mut s) = self.0.lock() else { return Poll::Ready(None) };
            if let Some(v) = s.value.take() {
                return Poll::Ready(Some(v));
            }
            if s.sender_gone {
                return Poll::Ready(None);
            }
            s.waker = Some(cx.waker().clone());
            Poll::Pending
        }
    }
}
