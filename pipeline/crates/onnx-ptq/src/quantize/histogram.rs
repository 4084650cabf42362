//! What calibration keeps of each tensor — a running min/max and a fixed-size histogram, never the
//! values themselves — and the thresholds percentile and entropy calibration pick from them.

/// Running smallest and largest value (NaN ignored).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct MinMax {
    /// Smallest value so far (+∞ before any).
    pub min: f32,
    /// Largest value so far (−∞ before any).
    pub max: f32,
}

impl Default for MinMax {
    fn default() -> Self {
        MinMax { min: f32::INFINITY, max: f32::NEG_INFINITY }
    }
}

impl MinMax {
    /// Takes in a batch of values.
    pub fn update(&mut self, data: &[f32]) {
        // Eight independent lanes let the compiler vectorise; f32::min/max skip NaN.
        let (mut lo, mut hi) = ([self.min; 8], [self.max; 8]);
        let mut chunks = data.chunks_exact(8);
        for c in &mut chunks {
            for k in 0..8 {
                lo[k] = lo[k].min(c[k]);
                hi[k] = hi[k].max(c[k]);
            }
        }
        for &v in chunks.remainder() {
            lo[0] = lo[0].min(v);
            hi[0] = hi[0].max(v);
        }
        self.min = lo.iter().fold(f32::INFINITY, |a, &b| a.min(b));
        self.max = hi.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    }

    /// The range seen, `(0, 0)` if nothing was.
    pub fn range(&self) -> (f32, f32) {
        if self.min > self.max { (0.0, 0.0) } else { (self.min, self.max) }
    }

    /// Largest magnitude seen.
    pub fn abs_max(&self) -> f32 {
        let (lo, hi) = self.range();
        lo.abs().max(hi.abs())
    }
}

/// Counts of values in equal-width bins over a fixed range (values outside land in the end bins).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Histogram {
    counts: Vec<u64>,
    lo: f32,
    hi: f32,
    /// Bins hold |x| instead of x.
    abs: bool,
}

impl Histogram {
    /// Bins of |x| over `[0, abs_max]` (percentile calibration).
    pub fn of_magnitudes(abs_max: f32, bins: usize) -> Self {
        Histogram { counts: vec![0; bins.max(1)], lo: 0.0, hi: abs_max, abs: true }
    }

    /// Bins of x over `[-abs_max, abs_max]` (entropy calibration).
    pub fn symmetric(abs_max: f32, bins: usize) -> Self {
        Histogram { counts: vec![0; bins.max(1)], lo: -abs_max, hi: abs_max, abs: false }
    }

    /// Takes in a batch of values.
    pub fn add(&mut self, data: &[f32]) {
        let n = self.counts.len();
        let width = self.hi - self.lo;
        if width <= 0.0 {
            self.counts[0] += data.iter().filter(|v| !v.is_nan()).count() as u64;
            return;
        }
        let (inv, lo, abs) = (n as f32 / width, self.lo, self.abs);
        // `as usize` saturates, so values below the range land in bin 0, above it in the last.
        let bin = |v: f32| ((if abs { v.abs() } else { v } - lo) * inv) as usize;
        // Runs of equal values (the zeros after a ReLU) would make every increment wait for the
        // previous one to the same counter; four interleaved sets of counters break that chain.
        let mut lanes = vec![0u32; LANES * n];
        for chunk in data.chunks(u32::MAX as usize) {
            let mut quads = chunk.chunks_exact(LANES);
            for q in &mut quads {
                for (k, &v) in q.iter().enumerate() {
                    if !v.is_nan() {
                        lanes[k * n + bin(v).min(n - 1)] += 1;
                    }
                }
            }
            for &v in quads.remainder().iter().filter(|v| !v.is_nan()) {
                lanes[bin(v).min(n - 1)] += 1;
            }
            for (i, c) in self.counts.iter_mut().enumerate() {
                *c += (0..LANES).map(|k| lanes[k * n + i] as u64).sum::<u64>();
            }
            lanes.iter_mut().for_each(|c| *c = 0);
        }
    }

    /// Left edge of bin `i` (`i == bins` gives the right end of the range).
    pub fn edge(&self, i: usize) -> f32 {
        let n = self.counts.len() as f64;
        (self.lo as f64 + (self.hi as f64 - self.lo as f64) * i as f64 / n) as f32
    }

    /// The magnitude below which `percentile` % of the values lie: the upper edge of the bin holding
    /// that quantile (so that 100 gives the largest magnitude, as min-max would).
    pub fn percentile(&self, percentile: f64) -> f32 {
        let total: u64 = self.counts.iter().sum();
        if total == 0 {
            return self.hi;
        }
        let target = percentile / 100.0;
        let mut cumulative = 0u64;
        for (i, &c) in self.counts.iter().enumerate() {
            cumulative += c;
            if cumulative as f64 / total as f64 >= target {
                return self.edge(i + 1);
            }
        }
        self.hi
    }

    /// The range `[edge(start), edge(end))` around the centre bin minimising the KL divergence
    /// between the histogram (outliers folded into the end bins) and its `quantized_bins`-level
    /// quantization — the search ONNX Runtime's `get_entropy_threshold` does, with the distributions
    /// computed as in the MXNet/TensorRT formulation it derives from (float `q`, zero where `p` is zero).
    pub fn entropy_range(&self, quantized_bins: usize) -> (f32, f32) {
        let h = &self.counts;
        let n = h.len();
        let zero = n / 2;
        let half = quantized_bins / 2;
        if quantized_bins < 2 || half > zero {
            return (self.lo, self.hi);
        }
        let mut prefix = vec![0u64; n + 1];
        for i in 0..n {
            prefix[i + 1] = prefix[i] + h[i];
        }
        let total = prefix[n];
        if total == 0 {
            return (self.lo, self.hi);
        }
        let mut best = (f64::INFINITY, 0usize, n);
        let mut quantized = vec![(0u64, 0usize); quantized_bins];
        for i in half..=zero {
            let (start, end) = (zero - i, (zero + i + 1).min(n));
            let kl = kl_divergence(h, &prefix, start, end, &mut quantized);
            if kl < best.0 {
                best = (kl, start, end);
            }
        }
        (self.edge(best.1), self.edge(best.2))
    }
}

/// Interleaved counter sets of [`Histogram::add`].
const LANES: usize = 4;

/// Smoothing mass given to empty bins so the divergence stays finite (ONNX Runtime's and MXNet's 1e-4).
const EPS: f64 = 1e-4;

/// KL(p‖q) of the slice `[start, end)` of histogram `h` against its quantization into
/// `quantized.len()` levels. `p` is the slice with the outliers added to its end bins; `q` spreads each
/// level's count evenly over the non-empty bins of `p` it covers. Both are smoothed (empty bins get
/// `EPS`, taken from the others) and normalised. Bins empty in `p` are empty in `q` too, so they add
/// nothing but the normalisation term: only the non-empty bins are visited.
fn kl_divergence(h: &[u64], prefix: &[u64], start: usize, end: usize, quantized: &mut [(u64, usize)]) -> f64 {
    let len = end - start;
    let levels = quantized.len();
    let merged = len / levels;
    let left = prefix[start];
    let right = prefix[h.len()] - prefix[end];
    let p_at = |k: usize| h[start + k] + if k == 0 { left } else { 0 } + if k == len - 1 { right } else { 0 };
    let chunk = |j: usize| (j * merged, if j == levels - 1 { len } else { (j + 1) * merged });

    // Per level: the slice's count (without outliers) and the non-empty bins of p it covers.
    let (mut p_zeros, mut q_zeros) = (0usize, 0usize);
    for (j, q) in quantized.iter_mut().enumerate() {
        let (a, b) = chunk(j);
        let nonzero = (a..b).filter(|&k| p_at(k) != 0).count();
        let count = prefix[start + b] - prefix[start + a];
        *q = (count, nonzero);
        p_zeros += (b - a) - nonzero;
        q_zeros += (b - a) - if count == 0 { 0 } else { nonzero };
    }
    let (p_nonzero, q_nonzero) = (len - p_zeros, len - q_zeros);
    if p_nonzero == 0 || q_nonzero == 0 {
        return f64::INFINITY;
    }
    let e1_p = EPS * p_zeros as f64 / p_nonzero as f64;
    let e1_q = EPS * q_zeros as f64 / q_nonzero as f64;
    let p_sum = (left + right + prefix[end] - prefix[start]) as f64;
    let q_sum = (prefix[end] - prefix[start]) as f64;

    let mut sum = 0.0;
    for (j, &(count, nonzero)) in quantized.iter().enumerate() {
        if nonzero == 0 {
            continue;
        }
        let q = if count == 0 { EPS } else { (count as f64 / nonzero as f64 - e1_q).max(EPS) };
        let ln_q = q.ln();
        let (a, b) = chunk(j);
        for k in a..b {
            let p = p_at(k);
            if p != 0 {
                let p = p as f64 - e1_p;
                sum += p * (p.ln() - ln_q);
            }
        }
    }
    sum / p_sum + (q_sum / p_sum).ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_max_ignores_nan_and_starts_empty() {
        let mut m = MinMax::default();
        assert_eq!(m.range(), (0.0, 0.0));
        m.update(&[1.0, f32::NAN, -3.0]);
        m.update(&[2.0]);
        assert_eq!(m.range(), (-3.0, 2.0));
        assert_eq!(m.abs_max(), 3.0);
    }

    #[test]
    fn percentile_cuts_the_tail() {
        let mut h = Histogram::of_magnitudes(100.0, 100);
        let data: Vec<f32> = (0..1000).map(|i| if i == 999 { 100.0 } else { (i % 10) as f32 }).collect();
        h.add(&data);
        assert_eq!(h.percentile(100.0), 100.0);
        assert_eq!(h.percentile(99.0), 10.0, "the outlier is cut");
    }

    #[test]
    fn entropy_clips_a_long_tail_but_keeps_a_uniform_range() {
        // Uniform on [-1, 1]: nothing to gain by clipping.
        let uniform: Vec<f32> = (0..100_000).map(|i| -1.0 + 2.0 * (i as f32 + 0.5) / 100_000.0).collect();
        let mut h = Histogram::symmetric(1.0, 512);
        h.add(&uniform);
        let (lo, hi) = h.entropy_range(128);
        assert!(lo <= -0.95 && hi >= 0.95, "{lo} {hi}");

        // Gaussian-like bulk within ±1 plus a few outliers at ±50: the range is cut well below 50.
        let mut data: Vec<f32> = (0..100_000).map(|i| ((i as f32 * 0.618).fract() - 0.5) * 2.0).collect();
        data.extend([50.0, -50.0, 49.0]);
        let mut h = Histogram::symmetric(50.0, 2048);
        h.add(&data);
        let (lo, hi) = h.entropy_range(128);
        assert!(hi < 10.0 && lo > -10.0 && hi >= 1.0, "{lo} {hi}");
    }
}
