//! Every kernel permutation the engine can compose, validated with naga on the CPU (no GPU
//! adapter needed), in both load modes: the WGSL must parse and validate with the
//! capabilities the engine requests, its bindings must match the host's binding list in
//! `gpu::abi` one for one (kind and access), its uniform block must have the size of the
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
    let mut caps = Capabilities::SUBGROUP | Capabilities::SUBGROUP_BARRIER;
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
    if declared.len() != src.bindings.len() {
        problems.push(format!(
            "the WGSL declares {} bindings, the host lists {}",
            declared.len(),
            src.bindings.len()
        ));
    }
    for (i, host) in src.bindings.iter().enumerate() {
        let Some((binding, kind, size, name)) = declared.iter().find(|d| d.0 as usize == i) else {
            problems.push(format!("binding {i} ({host:?} on the host) is not declared"));
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
                failures.push(format!("{}#{}#{mode}: {why}", src.key, src.entry));
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
