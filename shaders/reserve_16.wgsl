// The reserve space of reserve_f32.wgsl in 16 bits (f16 or bf16, as bits16 rounds):
// steps t and t+1 (t even) share a row of u32, step t in the low halves. Every column keeps
// its place, so each value is still written by the one invocation that owns its unit; that
// invocation merges its half into the word (read, modify, write) and the other half
// belongs to the other step's dispatch or, in the persistent kernels, to the same
// invocation's next iteration. Rows past T are never read.
const SAVED16: bool = true;
alias Saved = u32;
alias Saved4 = vec4<u32>;

fn saved_row(t: u32, b: u32, nb: u32) -> u32 {
    return (t >> 1u) * nb + b;
}

fn saved_word(old: u32, v: f32, t: u32) -> u32 {
    if ((t & 1u) == 0u) {
        return (old & 0xffff0000u) | bits16(v);
    }
    return (old & 0xffffu) | (bits16(v) << 16u);
}

// The f32 value of 16 bits held in the low half of `bits`.
fn value16(bits: u32) -> f32 {
    if (BF16) {
        return bitcast<f32>(bits << 16u);
    }
    return unpack2x16float(bits).x;
}

fn saved_value(w: u32, t: u32) -> f32 {
    return value16(select(w & 0xffffu, w >> 16u, (t & 1u) == 1u));
}

fn saved_values(w: vec4<u32>, t: u32) -> vec4<f32> {
    let h = select(w & vec4<u32>(0xffffu), w >> vec4<u32>(16u), (t & 1u) == 1u);
    return vec4<f32>(value16(h.x), value16(h.y), value16(h.z), value16(h.w));
}
