//! Comparing results with a reference: |got - want| <= atol + rtol*|want|, reporting the
//! worst errors and the first mismatches with their indices.

use std::fmt;

/// The outcome of comparing two arrays.
#[derive(Clone, Debug)]
pub struct Comparison {
    /// The name of the compared quantity (with both lengths when they differ).
    pub what: String,
    /// Elements of `want`.
    pub len: usize,
    /// max |got - want| (NaN when any difference is NaN; infinite when the lengths differ)
    pub max_abs: f64,
    /// max |got - want| / |want| over elements with |want| > atol (relative error is
    /// meaningless near zero)
    pub max_rel: f64,
    /// Elements outside atol + rtol·|want| (NaN counts as outside).
    pub mismatches: usize,
    /// (index, got, want) of the first mismatches
    pub first: Vec<(usize, f64, f64)>,
    /// The absolute tolerance used.
    pub atol: f64,
    /// The relative tolerance used.
    pub rtol: f64,
}

impl Comparison {
    /// Whether every element is within tolerance.
    pub fn ok(&self) -> bool {
        self.mismatches == 0
    }
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} values, max abs err {:.3e}, max rel err {:.3e}, {} mismatches (atol {:.0e}, rtol {:.0e})",
            self.what, self.len, self.max_abs, self.max_rel, self.mismatches, self.atol, self.rtol
        )?;
        for (i, g, w) in &self.first {
            write!(f, "\n    [{i}] got {g:.9e} want {w:.9e} (diff {:.3e})", (g - w).abs())?;
        }
        Ok(())
    }
}

/// Compares `got` with `want` elementwise. A length difference counts as one mismatch.
pub fn compare<G: Copy + Into<f64>, W: Copy + Into<f64>>(
    what: &str,
    got: &[G],
    want: &[W],
    atol: f64,
    rtol: f64,
) -> Comparison {
    let mut c = Comparison {
        what: what.into(),
        len: want.len(),
        max_abs: 0.0,
        max_rel: 0.0,
        mismatches: 0,
        first: vec![],
        atol,
        rtol,
    };
    if got.len() != want.len() {
        c.mismatches = 1;
        c.max_abs = f64::INFINITY;
        c.what = format!("{what} (length {} vs {})", got.len(), want.len());
        return c;
    }
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let (g, w): (f64, f64) = (g.into(), w.into());
        let d = (g - w).abs();
        // written negated so that NaN counts as a mismatch
        #[allow(clippy::neg_cmp_op_on_partial_ord)]
        let bad = !(d <= atol + rtol * w.abs());
        if bad {
            c.mismatches += 1;
            if c.first.len() < 5 {
                c.first.push((i, g, w));
            }
        }
        if d > c.max_abs || d.is_nan() {
            c.max_abs = if d.is_nan() { f64::NAN } else { d };
        }
        if w.abs() > atol {
            c.max_rel = c.max_rel.max(d / w.abs());
        }
    }
    c
}
