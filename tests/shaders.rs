//! Every kernel permutation the engine can compose, validated with naga on the CPU (no GPU
//! adapter needed), in both load modes: the WGSL must parse and validate with the
//! capabilities the engine requests, every binding it declares must be in the host's
//! binding list in `gpu::abi` with the same kind and access (the layout holds only declared
//! bindings: a buffer sharing another's binding has none), its uniform block the size of the
//! host's `#[repr(C)]` struct, its flag constants the host's values, and its workgroup
//! memory must fit WebGPU's guaranteed 16 KiB.

use naga::valid::{Capabilities, ValidationFlags, Validator};
use naga::{AddressSpace, StorageAccess};
use wgpu_rnn::gpu::abi::{Binding, WGSL_FLAGS};
use wgpu_rnn::gpu::shaders::{self, KernelSource};

/// WebGPU's default maxComputeWorkgroupStorageSize, which every adapter offers.
const WEBGPU_WORKGROUP_BYTES: u32 = 16384;

/// What is wrong with one kernel in one load mode, or None.
fn check(src: &KernelSource, wide: bool) -> Option<String> {
    let wgsl = src.wgsl(wide);
    let module = match naga::front::wgsl::parse_str(&wgsl) {
        Ok(m) => m,
        Err(e) => return Some(format!("parse: {}", e.emit_to_string(&wgsl))),
    };
    // unpack2x16float (f16 weights) needs SHADER_FLOAT16_IN_FLOAT32, which wgpu grants
    // on every backend but old GL (DownlevelFlags::SHADER_F16_IN_F32; GpuModel checks it).
    let mut caps = Capabilities::SUBGROUP
        | Capabilities::SUBGROUP_BARRIER
        | Capabilities::SHADER_FLOAT16_IN_FLOAT32;
    if wide {
        caps |= Capabilities::SHADER_INT64;
    }
    if let Err(e) = Validator::new(ValidationFlags::all(), caps).validate(&module) {
        return Some(format!("validate: {}", e.emit_to_string(&wgsl)));
    }
    if !module.entry_points.iter().any(|e| e.name == src.entry) {
        return Some(format!("no entry point `{}`", src.entry));
    }
    let gctx = module.to_ctx();
    let mut declared: Vec<(u32, Binding, u32, String)> = Vec::new();
    let mut workgroup_bytes = 0;
    for (_, var) in module.global_variables.iter() {
        let size = module.types[var.ty].inner.size(gctx);
        if var.space == AddressSpace::WorkGroup {
            workgroup_bytes += size;
        }
        let Some(rb) = &var.binding else { continue };
        if rb.group != 0 {
            return Some(format!(
                "binding {} in group {}, the host binds group 0 only",
                rb.binding, rb.group
            ));
        }
        let kind = match var.space {
            AddressSpace::Uniform => Binding::Uniform { dynamic: false },
            AddressSpace::Storage { access } if access.contains(StorageAccess::STORE) => {
                Binding::ReadWrite
            }
            AddressSpace::Storage { .. } => Binding::Read,
            other => return Some(format!("binding {} in address space {other:?}", rb.binding)),
        };
        declared.push((rb.binding, kind, size, var.name.clone().unwrap_or_default()));
    }
    declared.sort_by_key(|d| d.0);
    let mut problems = Vec::new();
    // The host's layout holds the bindings its text scan finds (`KernelSource::declared`):
    // the scan must agree with naga, and every declared binding must be in the host's list.
    let scanned = src.declared();
    for d in &declared {
        if scanned.get(d.0 as usize) != Some(&true) {
            problems.push(format!("binding {} `{}` is missing from the host's layout", d.0, d.3));
        }
    }
    for (i, host) in src.bindings.iter().enumerate() {
        let Some((binding, kind, size, name)) = declared.iter().find(|d| d.0 as usize == i) else {
            if scanned[i] {
                problems.push(format!("binding {i} ({host:?}) is in the layout, not in the WGSL"));
            }
            continue;
        };
        let host_kind = match host {
            Binding::Uniform { .. } => Binding::Uniform { dynamic: false },
            k => *k,
        };
        if *kind != host_kind {
            problems.push(format!("binding {binding} `{name}`: WGSL {kind:?}, host {host:?}"));
        }
        if matches!(kind, Binding::Uniform { .. }) && u64::from(*size) != src.uniform_size {
            problems.push(format!(
                "uniform `{name}`: WGSL struct {size} bytes, host struct {} bytes",
                src.uniform_size
            ));
        }
    }
    for (name, value) in WGSL_FLAGS {
        let Some(c) = module.constants.iter().find(|(_, c)| c.name.as_deref() == Some(name)) else {
            continue;
        };
        match module.global_expressions[c.1.init] {
            naga::Expression::Literal(naga::Literal::U32(v)) if v == value => {}
            ref e => problems.push(format!("const {name} = {e:?}, the host uses {value}")),
        }
    }
    if workgroup_bytes > WEBGPU_WORKGROUP_BYTES {
        problems.push(format!(
            "{workgroup_bytes} bytes of workgroup memory, past WebGPU's default {WEBGPU_WORKGROUP_BYTES}"
        ));
    }
    (!problems.is_empty()).then(|| problems.join("; "))
}

#[test]
fn every_kernel_permutation_validates_and_matches_the_host_abi() {
    let all = shaders::permutations();
    let mut failures = Vec::new();
    let mut checked = 0;
    for src in &all {
        for wide in [false, true] {
            checked += 1;
            if let Some(why) = check(src, wide) {
                let mode = if wide { "wide" } else { "vec4" };
                failures.push(format!("{}#{}#{mode}#{}: {why}", src.key, src.entry, src.weights));
            }
        }
    }
    // kernel × cell × row block × barrier × training flag, in two load modes
    assert!(checked > 400, "only {checked} permutations composed");
    assert!(
        failures.is_empty(),
        "{} of {checked} kernel permutations fail:\n{}",
        failures.len(),
        failures.iter().take(20).cloned().collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn every_kernel_key_names_one_source() {
    // The context caches pipelines by key: two different sources under one key would
    // silently reuse the wrong pipeline.
    let mut seen = std::collections::HashMap::new();
    for src in shaders::permutations() {
        let key = format!("{}#{}", src.key, src.entry);
        if let Some(body) = seen.insert(key.clone(), src.body.clone()) {
            assert_eq!(body, src.body, "two sources under the key {key}");
        }
    }
}

/// WebGPU adapters allow as few as 8 or 10 storage buffers per shader stage (Chromium's
/// SwiftShader: 10). Every kernel but the fused step (inference 10, training 13: refused
/// below its count, `Refusal::StorageBuffers`) declares at most 10, so the browser page can
/// run the per-step forward and BPTT; the fused kernels' counts are the ones the variant
/// check uses.
#[test]
fn kernels_fit_webgpu_storage_buffer_limits() {
    use wgpu_rnn::gpu::kernels::{FUSED_STORAGE_BUFFERS, FUSED_TRAIN_STORAGE_BUFFERS};
    for src in shaders::permutations() {
        let n = src.storage_buffers();
        if src.key.starts_with("step_fused") {
            let train = src.key.contains("/traintrue/");
            let limit = if train { FUSED_TRAIN_STORAGE_BUFFERS } else { FUSED_STORAGE_BUFFERS };
            assert!(
                n <= limit,
                "{}: {n} storage buffers, the variant check assumes {limit}",
                src.key
            );
        } else {
            assert!(n <= 10, "{}: {n} storage buffers (WebGPU adapters may allow 10)", src.key);
        }
    }
}
