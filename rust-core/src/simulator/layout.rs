//! Where the bladders lie under the mat. The real layout is not published (docs/design.md §2), so it is
//! configuration: every load computation goes through a [`BladderLayout`].

use crate::frame::BLADDERS;
use serde::{Deserialize, Serialize};

/// One bladder's footprint in mat coordinates: `x` runs along the mat's length (0 = one end,
/// 1 = the other), `y` across it; both from 0 to 1.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BladderZone {
    /// Lower edge along the length.
    pub x0: f64,
    /// Upper edge along the length.
    pub x1: f64,
    /// Lower edge across.
    pub y0: f64,
    /// Upper edge across.
    pub y1: f64,
}

/// The footprints of bladders 1..4 and the mat's size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BladderLayout {
    /// Mat length in metres (along `x`).
    pub length_m: f64,
    /// Mat width in metres (along `y`).
    pub width_m: f64,
    /// Footprint of each bladder, in frame order (Float1..Float4).
    pub zones: [BladderZone; BLADDERS],
}

impl Default for BladderLayout {
    /// A 2 × 2 grid on a 1.9 m × 0.8 m mat: 1 and 2 on the first half (1 on the left), 3 and 4 on
    /// the second half. An assumption until the makers publish the layout.
    fn default() -> Self {
        let z = |x0, x1, y0, y1| BladderZone { x0, x1, y0, y1 };
        BladderLayout {
            length_m: 1.9,
            width_m: 0.8,
            zones: [z(0.0, 0.5, 0.0, 0.5), z(0.0, 0.5, 0.5, 1.0), z(0.5, 1.0, 0.0, 0.5), z(0.5, 1.0, 0.5, 1.0)],
        }
    }
}

impl BladderLayout {
    /// Four bladders in a row along the mat, 1 at `x = 0`: the other common construction.
    pub fn strips() -> Self {
        let z = |i: usize| BladderZone { x0: i as f64 / 4.0, x1: (i + 1) as f64 / 4.0, y0: 0.0, y1: 1.0 };
        BladderLayout { length_m: 1.9, width_m: 0.8, zones: [z(0), z(1), z(2), z(3)] }
    }

    /// Fraction of a load spread as a Gaussian blob (centre `(x, y)`, spread `sx`, `sy` in mat
    /// units) that rests on each bladder. What falls off the mat or between zones counts nowhere.
    pub fn shares(&self, x: f64, y: f64, sx: f64, sy: f64) -> [f64; BLADDERS] {
        let mass = |c: f64, s: f64, a: f64, b: f64| {
            0.5 * (erf((b - c) / (s * std::f64::consts::SQRT_2)) - erf((a - c) / (s * std::f64::consts::SQRT_2)))
        };
        let mut out = [0.0; BLADDERS];
        for (o, z) in out.iter_mut().zip(&self.zones) {
            *o = mass(x, sx.max(1e-6), z.x0, z.x1) * mass(y, sy.max(1e-6), z.y0, z.y1);
        }
        out
    }
}

/// The error function, Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7): enough for load shares and
/// not worth a dependency.
fn erf(x: f64) -> f64 {
    let sign = if x < 0.0 { -1.0 } else { 1.0 };
    let x = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly =
        t * (0.254_829_592 + t * (-0.284_496_736 + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    sign * (1.0 - poly * (-x * x).exp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_centred_blob_splits_evenly_and_an_off_mat_blob_weighs_nothing() {
        let l = BladderLayout::default();
        let s = l.shares(0.5, 0.5, 0.1, 0.1);
        for v in s {
            assert!((v - 0.25).abs() < 1e-6, "{s:?}");
        }
        let off = l.shares(3.0, 0.5, 0.05, 0.05);
        assert!(off.iter().sum::<f64>() < 1e-9);
        assert!((erf(1.0) - 0.842_700_79).abs() < 2e-7);
    }
}
