//! `wgpu-rnn info`: the adapter, its limits and features, and which variants run on it.

use anyhow::Result;
use wgpu_rnn::error::Refusal;
use wgpu_rnn::{CellKind, Gpu, RnnSpec, Variant};

pub fn run() -> Result<()> {
    let gpu = Gpu::new()?;
    let i = &gpu.info;
    let l = &gpu.limits;
    println!("adapter:  {}", i.name);
    println!("backend:  {:?}", i.backend);
    println!("type:     {:?}", i.device_type);
    println!("driver:   {} ({})", i.driver, i.driver_info);
    println!("vendor:   0x{:04x}  device: 0x{:04x}", i.vendor, i.device);
    println!(
        "features: subgroups={} (sizes {}..{}), timestamps={}, int64={}, wide_loads={}",
        gpu.caps.subgroups,
        gpu.caps.subgroup_min_size,
        gpu.caps.subgroup_max_size,
        gpu.caps.timestamps,
        gpu.features.contains(wgpu::Features::SHADER_INT64),
        gpu.caps.wide_loads
    );
    println!("limits:");
    println!("  max_storage_buffer_binding_size      {}", l.max_storage_buffer_binding_size);
    println!("  max_buffer_size                      {}", l.max_buffer_size);
    println!("  max_compute_workgroup_storage_size   {}", l.max_compute_workgroup_storage_size);
    println!("  max_compute_invocations_per_workgroup {}", l.max_compute_invocations_per_workgroup);
    println!("  max_compute_workgroup_size_x         {}", l.max_compute_workgroup_size_x);
    println!("  max_compute_workgroups_per_dimension {}", l.max_compute_workgroups_per_dimension);
    println!("  max_storage_buffers_per_shader_stage {}", l.max_storage_buffers_per_shader_stage);
    println!("  min_uniform_buffer_offset_alignment  {}", l.min_uniform_buffer_offset_alignment);
    println!("variants (lstm, H=128 / H=512):");
    for v in Variant::ALL {
        let small = v.unsupported(&gpu, &RnnSpec::new(CellKind::Lstm, 64, 128));
        let big = v.unsupported(&gpu, &RnnSpec::new(CellKind::Lstm, 64, 512));
        let say =
            |r: Option<Refusal>| r.map(|w| format!("no: {w}")).unwrap_or_else(|| "yes".into());
        println!("  {:<19} {} / {}", v.name(), say(small), say(big));
    }
    for (b, h) in [(1usize, 128usize), (64, 256), (256, 512)] {
        println!(
            "  default for lstm B={b} H={h}: {}",
            Variant::auto(&gpu, &RnnSpec::new(CellKind::Lstm, 64, h), b)
        );
    }
    Ok(())
}
