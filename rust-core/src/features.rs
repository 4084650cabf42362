//! The one definition of model input, shared by training (pipeline) and serving (monitor) so the
//! two cannot drift apart: a window of the last [`WINDOW_FRAMES`] frames, each bladder's pressure
//! relative to the empty-mat baseline, in pascal, channel-major `[CHANNELS][WINDOW_FRAMES]`.
//!
//! Absolute levels move with weather (±2 kPa) and altitude (−1.2 kPa per 100 m), more than a
//! person adds, so a model on absolute pascal is wrong by design (docs/design.md §2): the baseline comes
//! from an explicit calibration of the empty mat, from a still stretch when none was given, and is
//! re-tared slowly while the mat is confidently empty.

use crate::frame::{BLADDERS, Frame};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::path::Path;

/// Version of this feature definition; models carry it in their metadata and the core refuses a
/// model built for another.
pub const FEATURE_VERSION: u32 = 1;
/// Frames per window: 20 frames ≈ 3 s at the mat's ~6.7 Hz, long enough to see breathing move.
pub const WINDOW_FRAMES: usize = 20;
/// Channels per frame: one per bladder.
pub const CHANNELS: usize = BLADDERS;
/// Values in one window.
pub const WINDOW_LEN: usize = CHANNELS * WINDOW_FRAMES;
/// Name of the model's input tensor, shape `[batch, CHANNELS, WINDOW_FRAMES]`, f32 pascal.
pub const INPUT_NAME: &str = "window";
/// Name of the model's output tensor, shape `[batch, NUM_STATES]`, class probabilities.
pub const OUTPUT_NAME: &str = "probabilities";
/// An empty mat is still: σ < 1 Pa observed. Above this σ (Pa) a stretch is not an empty mat.
pub const STILL_SIGMA_PA: f32 = 5.0;
/// A gap between frames longer than this (s) breaks the window: the history is not contiguous.
pub const MAX_GAP_S: f64 = 2.0;
/// Time constant of the slow re-tare while confidently absent, s.
pub const TARE_TAU_S: f64 = 60.0;

/// The empty-mat pressure of each bladder, in pascal.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    /// Empty-mat pressure of bladders 1..4, Pa.
    pub pressures: [f32; BLADDERS],
}

/// Why a calibration or a saved baseline was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CalibrationError {
    /// The mat moved during calibration: someone or something alive is on it.
    #[error(
        "the mat is not empty and still: bladder {bladder} varied by σ = {sigma_pa:.1} Pa (an empty mat stays below {STILL_SIGMA_PA} Pa)"
    )]
    NotStill { bladder: usize, sigma_pa: f32 },
    /// Too few frames arrived during the calibration time.
    #[error("only {frames} frames arrived during calibration; need at least {needed}")]
    TooFewFrames { frames: usize, needed: usize },
    /// A saved baseline cannot be read or written.
    #[error("baseline file {path}: {message}")]
    File { path: String, message: String },
}

impl Baseline {
    /// Reads a baseline saved by [`save`](Self::save) (file I/O).
    pub fn load(path: &Path) -> Result<Self, CalibrationError> {
        let err = |message: String| CalibrationError::File { path: path.display().to_string(), message };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let b: Baseline = serde_json::from_str(&text).map_err(|e| err(format!("not a baseline: {e}")))?;
        Frame::new(0.0, b.pressures).map_err(|e| err(e.to_string()))?;
        Ok(b)
    }

    /// Saves the baseline for this mat atomically (temporary file, fsync, rename).
    pub fn save(&self, path: &Path) -> Result<(), CalibrationError> {
        let err = |message: String| CalibrationError::File { path: path.display().to_string(), message };
        let text = serde_json::to_string_pretty(self).map_err(|e| err(e.to_string()))?;
        crate::fsutil::write_atomic(path, text.as_bytes()).map_err(|e| err(e.to_string()))
    }
}

/// Mean and σ of each bladder over a set of frames.
#[derive(Debug, Clone, Copy, Default)]
struct Moments {
    n: usize,
    sum: [f64; BLADDERS],
    sum_sq: [f64; BLADDERS],
}

impl Moments {
    fn add(&mut self, p: &[f32; BLADDERS]) {
        self.n += 1;
        for ((sum, sum_sq), &v) in self.sum.iter_mut().zip(&mut self.sum_sq).zip(p) {
            let v = v as f64;
            *sum += v;
            *sum_sq += v * v;
        }
    }
    fn mean(&self) -> [f32; BLADDERS] {
        std::array::from_fn(|i| (self.sum[i] / self.n.max(1) as f64) as f32)
    }
    /// Largest σ over bladders, with its bladder number (1-based).
    fn max_sigma(&self) -> (usize, f32) {
        let n = self.n.max(1) as f64;
        (0..BLADDERS)
            .map(|i| {
                let m = self.sum[i] / n;
                (i + 1, ((self.sum_sq[i] / n - m * m).max(0.0)).sqrt() as f32)
            })
            .fold((1, 0.0), |a, b| if b.1 > a.1 { b } else { a })
    }
}

/// What the extractor has after a frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FeatureStatus {
    /// Calibrating the empty mat; `remaining_s` to go.
    Calibrating { remaining_s: f64 },
    /// No baseline yet: waiting for a still (empty) stretch or a calibration.
    NoBaseline,
    /// The window is filling after a start, a calibration or a gap.
    Filling { frames: usize },
    /// A full window is ready: read it with [`FeatureExtractor::window`].
    Ready,
}

/// What happened to the baseline on the last frame.
#[derive(Debug, Clone, PartialEq)]
pub enum BaselineEvent {
    /// A calibration finished with this baseline.
    Calibrated(Baseline),
    /// A calibration was refused.
    CalibrationFailed(CalibrationError),
    /// No calibration was given; a still stretch was taken as the empty mat.
    AutoBaseline(Baseline),
}

/// Turns frames into model windows: calibration, baseline, re-tare, sliding window.
#[derive(Debug, Clone)]
pub struct FeatureExtractor {
    baseline: Option<Baseline>,
    calibration: Option<(f64, Option<f64>, Moments)>,
    /// Relative pressures, oldest first.
    ring: VecDeque<[f32; BLADDERS]>,
    /// Absolute pressures of the same frames (for stillness and re-tare).
    abs: VecDeque<[f32; BLADDERS]>,
    last_t: Option<f64>,
    auto_baseline: bool,
    event: Option<BaselineEvent>,
}

impl Default for FeatureExtractor {
    fn default() -> Self {
        Self::new()
    }
}

impl FeatureExtractor {
    /// An extractor with no baseline that adopts the first still stretch as the empty mat.
    pub fn new() -> Self {
        FeatureExtractor {
            baseline: None,
            calibration: None,
            ring: VecDeque::with_capacity(WINDOW_FRAMES + 1),
            abs: VecDeque::with_capacity(WINDOW_FRAMES + 1),
            last_t: None,
            auto_baseline: true,
            event: None,
        }
    }

    /// Whether a still stretch may become the baseline when none is known (default on).
    pub fn set_auto_baseline(&mut self, on: bool) {
        self.auto_baseline = on;
    }

    /// Uses a known baseline (e.g. saved for this mat); the window restarts.
    pub fn set_baseline(&mut self, baseline: Baseline) {
        self.baseline = Some(baseline);
        self.ring.clear();
        self.abs.clear();
    }

    /// The baseline in use, if any.
    pub fn baseline(&self) -> Option<Baseline> {
        self.baseline
    }

    /// Takes the next `seconds` of frames as the empty mat.
    pub fn calibrate(&mut self, seconds: f64) {
        self.calibration = Some((seconds.max(0.0), None, Moments::default()));
    }

    /// Baseline news from the last [`push`](Self::push), taken once.
    pub fn take_event(&mut self) -> Option<BaselineEvent> {
        self.event.take()
    }

    /// Feeds one frame.
    pub fn push(&mut self, frame: &Frame) -> FeatureStatus {
        if let Some(last) = self.last_t
            && frame.t - last > MAX_GAP_S
        {
            self.ring.clear();
            self.abs.clear();
        }
        self.last_t = Some(frame.t);

        if let Some((seconds, start, mut m)) = self.calibration.take() {
            let start = start.unwrap_or(frame.t);
            m.add(&frame.pressures);
            let elapsed = frame.t - start;
            if elapsed + 1e-9 < seconds {
                self.calibration = Some((seconds, Some(start), m));
                return FeatureStatus::Calibrating { remaining_s: seconds - elapsed };
            }
            let needed = ((seconds / 0.3) as usize).max(2);
            let (bladder, sigma_pa) = m.max_sigma();
            self.event = Some(if m.n < needed {
                BaselineEvent::CalibrationFailed(CalibrationError::TooFewFrames { frames: m.n, needed })
            } else if sigma_pa > STILL_SIGMA_PA {
                BaselineEvent::CalibrationFailed(CalibrationError::NotStill { bladder, sigma_pa })
            } else {
                let b = Baseline { pressures: m.mean() };
                self.set_baseline(b);
                BaselineEvent::Calibrated(b)
            });
            return self.status();
        }

        self.abs.push_back(frame.pressures);
        if self.abs.len() > WINDOW_FRAMES {
            self.abs.pop_front();
        }
        let Some(b) = self.baseline else {
            if self.auto_baseline && self.abs.len() == WINDOW_FRAMES && self.is_still() {
                let b = Baseline { pressures: self.window_moments().mean() };
                self.event = Some(BaselineEvent::AutoBaseline(b));
                self.baseline = Some(b);
                self.ring = self.abs.iter().map(|p| relative(p, &b)).collect();
                return self.status();
            }
            return FeatureStatus::NoBaseline;
        };
        self.ring.push_back(relative(&frame.pressures, &b));
        if self.ring.len() > WINDOW_FRAMES {
            self.ring.pop_front();
        }
        self.status()
    }

    fn status(&self) -> FeatureStatus {
        match (self.baseline, self.ring.len()) {
            (None, _) => FeatureStatus::NoBaseline,
            (Some(_), n) if n < WINDOW_FRAMES => FeatureStatus::Filling { frames: n },
            _ => FeatureStatus::Ready,
        }
    }

    /// Copies the current window into `out` (channel-major, oldest frame first). Returns false
    /// unless a full window is ready.
    pub fn window(&self, out: &mut [f32; WINDOW_LEN]) -> bool {
        if self.ring.len() < WINDOW_FRAMES || self.baseline.is_none() {
            return false;
        }
        for (j, p) in self.ring.iter().enumerate() {
            for c in 0..CHANNELS {
                out[c * WINDOW_FRAMES + j] = p[c];
            }
        }
        true
    }

    fn window_moments(&self) -> Moments {
        let mut m = Moments::default();
        self.abs.iter().for_each(|p| m.add(p));
        m
    }

    /// Whether the last window is still enough to be an empty mat (σ below [`STILL_SIGMA_PA`]).
    pub fn is_still(&self) -> bool {
        self.abs.len() == WINDOW_FRAMES && self.window_moments().max_sigma().1 < STILL_SIGMA_PA
    }

    /// Tells the extractor the mat is confidently empty over the last frame interval `dt_s`: if the
    /// window is still, the baseline moves towards it with time constant [`TARE_TAU_S`], following
    /// weather drift and objects left on the mat. The window is shifted alike so it stays consistent.
    pub fn retare(&mut self, dt_s: f64) {
        if self.baseline.is_none() || !self.is_still() {
            return;
        }
        let k = (dt_s / TARE_TAU_S).clamp(0.0, 1.0) as f32;
        let mean = self.window_moments().mean();
        let Some(b) = self.baseline.as_mut() else { return };
        let mut delta = [0f32; BLADDERS];
        for i in 0..BLADDERS {
            delta[i] = k * (mean[i] - b.pressures[i]);
            b.pressures[i] += delta[i];
        }
        for p in self.ring.iter_mut() {
            for i in 0..BLADDERS {
                p[i] -= delta[i];
            }
        }
    }
}

fn relative(p: &[f32; BLADDERS], b: &Baseline) -> [f32; BLADDERS] {
    std::array::from_fn(|i| p[i] - b.pressures[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(t: f64, p: f32) -> Frame {
        Frame { t, pressures: [p, p + 1.0, p + 2.0, p + 3.0] }
    }

    #[test]
    fn calibration_sets_the_baseline_and_windows_are_relative_channel_major() {
        let mut fx = FeatureExtractor::new();
        fx.calibrate(1.0);
        let mut t = 0.0;
        while fx.take_event().is_none() {
            fx.push(&frame(t, 98_000.0 + (t as f32 * 10.0).sin() * 0.5));
            t += 0.15;
        }
        let b = fx.baseline().unwrap();
        assert!((b.pressures[0] - 98_000.0).abs() < 1.0);
        for i in 0..WINDOW_FRAMES {
            assert_ne!(fx.push(&frame(t, 98_500.0 + i as f32)), FeatureStatus::NoBaseline);
            t += 0.15;
        }
        let mut w = [0f32; WINDOW_LEN];
        assert!(fx.window(&mut w));
        assert!((w[0] - 500.0).abs() < 1.0, "bladder 1, oldest frame: {}", w[0]);
        assert!((w[WINDOW_FRAMES - 1] - (500.0 + (WINDOW_FRAMES - 1) as f32)).abs() < 1.0, "bladder 1, newest");
        assert!((w[WINDOW_FRAMES] - 500.0).abs() < 1.0, "bladder 2 starts the second row");
    }

    #[test]
    fn calibration_on_a_moving_mat_is_refused() {
        let mut fx = FeatureExtractor::new();
        fx.calibrate(2.0);
        let mut t = 0.0;
        let ev = loop {
            fx.push(&frame(t, 99_000.0 + 200.0 * (t as f32 * 2.0).sin()));
            t += 0.15;
            if let Some(e) = fx.take_event() {
                break e;
            }
        };
        assert!(matches!(ev, BaselineEvent::CalibrationFailed(CalibrationError::NotStill { .. })), "{ev:?}");
        assert!(fx.baseline().is_none());
    }

    #[test]
    fn without_calibration_a_still_stretch_becomes_the_baseline_but_a_moving_one_does_not() {
        let mut fx = FeatureExtractor::new();
        for i in 0..100 {
            let t = i as f64 * 0.15;
            assert_eq!(fx.push(&frame(t, 99_500.0 + 150.0 * (t as f32 * 1.7).sin())), FeatureStatus::NoBaseline);
        }
        for i in 100..100 + WINDOW_FRAMES {
            fx.push(&frame(i as f64 * 0.15, 98_100.0));
        }
        assert!(matches!(fx.take_event(), Some(BaselineEvent::AutoBaseline(_))));
        assert!((fx.baseline().unwrap().pressures[0] - 98_100.0).abs() < 0.01);
    }

    #[test]
    fn retare_follows_slow_drift_only_while_still() {
        let mut fx = FeatureExtractor::new();
        fx.set_baseline(Baseline { pressures: [98_000.0; 4] });
        let mut t = 0.0;
        for _ in 0..2000 {
            fx.push(&Frame { t, pressures: [98_100.0; 4] });
            fx.retare(0.15);
            t += 0.15;
        }
        assert!((fx.baseline().unwrap().pressures[0] - 98_100.0).abs() < 2.0, "{:?}", fx.baseline());
        let mut w = [0f32; WINDOW_LEN];
        assert!(fx.window(&mut w));
        assert!(w.iter().all(|v| v.abs() < 2.0));
        // A moving mat (someone on it) never moves the baseline.
        let before = fx.baseline().unwrap();
        for i in 0..200 {
            fx.push(&Frame { t, pressures: [99_500.0 + 100.0 * (i as f32).sin(); 4] });
            fx.retare(0.15);
            t += 0.15;
        }
        assert_eq!(fx.baseline().unwrap(), before);
    }

    #[test]
    fn a_gap_restarts_the_window_and_baselines_save_atomically() {
        let mut fx = FeatureExtractor::new();
        fx.set_baseline(Baseline { pressures: [98_000.0; 4] });
        for i in 0..WINDOW_FRAMES {
            fx.push(&frame(i as f64 * 0.15, 98_000.0));
        }
        assert_eq!(fx.push(&frame(100.0, 98_000.0)), FeatureStatus::Filling { frames: 1 });
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("mat.json");
        let b = Baseline { pressures: [98_213.0, 98_163.1, 98_161.5, 98_164.6] };
        b.save(&p).unwrap();
        assert_eq!(Baseline::load(&p).unwrap(), b);
        std::fs::write(&p, "{\"pressures\": [1, 2, 3, 4]}").unwrap();
        assert!(matches!(Baseline::load(&p), Err(CalibrationError::File { .. })));
    }
}
