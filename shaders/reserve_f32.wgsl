// The 16-bit-capable part of training's reserve space (hg_seq and cprev_seq; xg and
// h_{t-1} are always f32) is declared `array<Saved>` or `array<Saved4>` and accessed
// through these functions (the host prepends this file or reserve_16.wgsl after the
// weights prelude). This version stores f32, one row per step: row (t, b) is t*B + b.
const SAVED16: bool = false;
alias Saved = f32;
alias Saved4 = V4;

// The row of step t, batch row b (of nb) in a reserve buffer.
fn saved_row(t: u32, b: u32, nb: u32) -> u32 {
    return t * nb + b;
}

// The element to store for value v of step t, given the one there (unused here).
fn saved_word(old: f32, v: f32, t: u32) -> f32 {
    return v;
}

// Step t's value in element w.
fn saved_value(w: f32, t: u32) -> f32 {
    return w;
}

fn saved_values(w: Saved4, t: u32) -> vec4<f32> {
    return ld4(w);
}
