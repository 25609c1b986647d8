// The fused step at inference keeps no reserve space (see step_fused_reserve.wgsl, the
// training version of these functions): no bindings, nothing stored.

const TRAIN: bool = false;

fn keep_unit(sp: StepParams, t: u32, b: u32, dir: u32, j: u32, xg: vec4<f32>, hg: vec4<f32>, h_prev: f32, c_prev: f32) {}

fn keep_units(sp: StepParams, t: u32, b: u32, dir: u32, j0: u32, a: vec4<f32>, h_prev: vec4<f32>, n: u32) {}

fn clear_unit(sp: StepParams, t: u32, b: u32, dir: u32, j: u32) {}

fn clear_units(sp: StepParams, t: u32, b: u32, dir: u32, j0: u32) {}
