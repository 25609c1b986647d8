//! The storage precision of a model's weights on the device: f32, or 16-bit f16 / bf16
//! packed two per u32 and unpacked by the kernels (shaders/weights_f16.wgsl,
//! weights_bf16.wgsl), so no adapter needs `shader-f16`. Arithmetic, biases and the
//! recurrent state stay f32; a 16-bit model is exactly the f32 model whose weight matrices
//! were rounded to nearest-even 16-bit values, which is what `round` computes on the host.

use crate::error::{Error, Result};
use std::fmt;
use std::str::FromStr;

/// How W_ih and W_hh are stored on the device.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Precision {
    /// 32-bit floats (the default).
    #[default]
    F32,
    /// IEEE binary16: 11 significant bits, largest finite 65504.
    F16,
    /// bfloat16: f32's exponent range with 8 significant bits.
    Bf16,
}

impl Precision {
    /// Every precision, in the order reports list them.
    pub const ALL: [Precision; 3] = [Precision::F32, Precision::F16, Precision::Bf16];

    /// Its name on the command line, in reports and in files (what `FromStr` parses).
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::F16 => "f16",
            Precision::Bf16 => "bf16",
        }
    }

    /// Bytes per stored weight.
    pub fn bytes(self) -> u64 {
        match self {
            Precision::F32 => 4,
            Precision::F16 | Precision::Bf16 => 2,
        }
    }

    /// Whether weights are stored in 16 bits.
    pub fn is_16bit(self) -> bool {
        self != Precision::F32
    }

    /// The safetensors dtype a model of this precision saves its parameters as.
    pub fn dtype(self) -> &'static str {
        match self {
            Precision::F32 => "F32",
            Precision::F16 => "F16",
            Precision::Bf16 => "BF16",
        }
    }

    /// Unit roundoff u of the stored weights (half an ulp at 1): |round(w) − w| ≤ u·|w|
    /// for normal values.
    pub fn unit_roundoff(self) -> f64 {
        match self {
            Precision::F32 => f64::powi(2.0, -24),
            Precision::F16 => f64::powi(2.0, -11),
            Precision::Bf16 => f64::powi(2.0, -8),
        }
    }

    /// `v` rounded to f32, then to this precision (nearest, ties to even): the number the
    /// kernels read. Values past f16's range become ±inf, as in PyTorch's `.half()`.
    pub fn round(self, v: f64) -> f64 {
        let f = v as f32;
        match self {
            Precision::F32 => f as f64,
            _ => self.from_bits(self.to_bits(f)) as f64,
        }
    }

    /// The 16-bit pattern of `v` (nearest, ties to even; NaN stays NaN). For `F32` the
    /// high half of its bits, which nothing uses.
    pub fn to_bits(self, v: f32) -> u16 {
        match self {
            Precision::F16 => half::f16::from_f32(v).to_bits(),
            Precision::Bf16 => half::bf16::from_f32(v).to_bits(),
            Precision::F32 => (v.to_bits() >> 16) as u16,
        }
    }

    /// The f32 value of a 16-bit pattern (exact).
    pub fn from_bits(self, bits: u16) -> f32 {
        match self {
            Precision::F16 => half::f16::from_bits(bits).to_f32(),
            Precision::Bf16 | Precision::F32 => f32::from_bits((bits as u32) << 16),
        }
    }

    /// 16-bit values packed two per u32, the first in the low half (what the kernels'
    /// `unpack2x16float` and bf16 shifts read). An odd length gets a zero pad value.
    pub fn pack(self, v: &[f32]) -> Vec<u32> {
        v.chunks(2)
            .map(|p| {
                let lo = self.to_bits(p[0]) as u32;
                let hi = p.get(1).map_or(0, |&x| self.to_bits(x) as u32);
                lo | (hi << 16)
            })
            .collect()
    }

    /// The inverse of `pack`: `len` values.
    pub fn unpack(self, packed: &[u32], len: usize) -> Vec<f32> {
        packed
            .iter()
            .flat_map(|&u| [self.from_bits(u as u16), self.from_bits((u >> 16) as u16)])
            .take(len)
            .collect()
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Precision {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Precision::ALL.into_iter().find(|p| p.name() == s.to_ascii_lowercase()).ok_or_else(|| {
            Error::Config(format!("unknown precision `{s}`: expected one of f32, f16, bf16"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_16bit_value_survives_a_round_trip() {
        for p in [Precision::F16, Precision::Bf16] {
            for bits in 0..=u16::MAX {
                let v = p.from_bits(bits);
                if v.is_nan() {
                    assert!(p.from_bits(p.to_bits(v)).is_nan());
                } else {
                    assert_eq!(p.to_bits(v), bits, "{p} {bits:#06x} = {v}");
                }
            }
        }
    }

    #[test]
    fn midpoints_round_to_even_and_neighbours_to_nearest() {
        for p in [Precision::F16, Precision::Bf16] {
            // every pair of adjacent positive finite values
            for bits in 0..0x7bffu16 {
                let (a, b) = (p.from_bits(bits), p.from_bits(bits + 1));
                let mid = ((a as f64 + b as f64) / 2.0) as f32;
                assert_eq!(mid as f64, (a as f64 + b as f64) / 2.0, "midpoint exact in f32");
                let even = if bits % 2 == 0 { bits } else { bits + 1 };
                assert_eq!(p.to_bits(mid), even, "{p}: tie between {a} and {b}");
                assert_eq!(p.to_bits(f32::from_bits(mid.to_bits() - 1)), bits);
                assert_eq!(p.to_bits(f32::from_bits(mid.to_bits() + 1)), bits + 1);
                assert_eq!(p.to_bits(-mid), even | 0x8000);
            }
        }
        assert_eq!(Precision::F16.round(65520.0), f64::INFINITY);
        assert_eq!(Precision::F16.round(65519.0), 65504.0);
    }

    #[test]
    fn pack_puts_the_first_value_in_the_low_half() {
        let v = [1.0f32, -2.0, 0.5];
        let packed = Precision::F16.pack(&v);
        assert_eq!(packed, vec![0xc000_3c00, 0x0000_3800]);
        assert_eq!(Precision::F16.unpack(&packed, 3), v);
        assert_eq!(Precision::Bf16.pack(&[1.0, -2.0]), vec![0xc000_3f80]);
    }

    #[test]
    fn names_parse_back() {
        for p in Precision::ALL {
            assert_eq!(p.name().parse::<Precision>().unwrap(), p);
        }
        assert!("f8".parse::<Precision>().unwrap_err().to_string().contains("f8"));
    }
}
