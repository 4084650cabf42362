//! The one definition of model input, shared by training (pipeline) and serving (monitor) so the
//! two cannot drift apart: a window of the last [`WINDOW_FRAMES`] frames, each bladder's pressure
//! relative to the empty-mat baseline, in pascal, channel-major `[CHANNELS][WINDOW_FRAMES]`.
//!
//! Absolute levels move with weather (±2 kPa) and altitude (−1.2 kPa per 100 m), more than a
//! person adds, so a model on absolute pascal is wrong by design (docs/design.md §2): the baseline comes
//! from [`crate::baseline::BaselineTracker`] — an explicit calibration, else the first still
//! stretch, then followed by the stillness rule for as long as the session lasts.

use crate::baseline::{BaselineTracker, TrackerStatus};
use crate::frame::{BLADDERS, Frame};
use std::collections::VecDeque;

pub use crate::baseline::{Baseline, BaselineEvent, CalibrationError, STILL_SIGMA_PA};

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
/// A gap between frames longer than this (s) breaks the window: the history is not contiguous.
pub const MAX_GAP_S: f64 = 2.0;

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

/// Turns frames into model windows: the baseline tracker, then a sliding window of relative pressures.
#[derive(Debug, Clone, Default)]
pub struct FeatureExtractor {
    tracker: BaselineTracker,
    /// Relative pressures, oldest first.
    ring: VecDeque<[f32; BLADDERS]>,
    /// Absolute pressures of the same frames (to rebuild the window when the baseline is replaced).
    abs: VecDeque<[f32; BLADDERS]>,
    last_t: Option<f64>,
}

impl FeatureExtractor {
    /// An extractor with no baseline that adopts the first still stretch as the empty mat.
    pub fn new() -> Self {
        FeatureExtractor {
            tracker: BaselineTracker::new(),
            ring: VecDeque::with_capacity(WINDOW_FRAMES + 1),
            abs: VecDeque::with_capacity(WINDOW_FRAMES + 1),
            last_t: None,
        }
    }

    /// Whether a still stretch may become the baseline when none is known (default on).
    pub fn set_auto_baseline(&mut self, on: bool) {
        self.tracker.set_auto_baseline(on);
    }

    /// Uses a known baseline (e.g. saved for this mat); the window restarts.
    pub fn set_baseline(&mut self, baseline: Baseline) {
        self.tracker.set_baseline(baseline);
        self.ring.clear();
        self.abs.clear();
    }

    /// The baseline in use, if any.
    pub fn baseline(&self) -> Option<Baseline> {
        self.tracker.baseline()
    }

    /// Feeds the phone's barometer, Pa (see [`BaselineTracker::set_ambient`]); `false` if refused.
    pub fn set_ambient(&mut self, pa: f64) -> bool {
        self.tracker.set_ambient(pa)
    }

    /// The baseline tracker (stillness, weather trend).
    pub fn tracker(&self) -> &BaselineTracker {
        &self.tracker
    }

    /// Whether the mat is still: empty, or holding only an object or a sleeping pet.
    pub fn is_still(&self) -> bool {
        self.tracker.is_still()
    }

    /// Takes the next `seconds` of frames as the empty mat.
    pub fn calibrate(&mut self, seconds: f64) {
        self.tracker.calibrate(seconds);
        self.ring.clear();
        self.abs.clear();
    }

    /// Baseline news from the last [`push`](Self::push), taken once.
    pub fn take_event(&mut self) -> Option<BaselineEvent> {
        self.tracker.take_event()
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
        match self.tracker.push(frame) {
            TrackerStatus::Calibrating { remaining_s } => return FeatureStatus::Calibrating { remaining_s },
            TrackerStatus::NoBaseline => {
                push_capped(&mut self.abs, frame.pressures);
                return FeatureStatus::NoBaseline;
            }
            TrackerStatus::Tracking { shift, replaced } => {
                push_capped(&mut self.abs, frame.pressures);
                let Some(b) = self.tracker.baseline() else { return FeatureStatus::NoBaseline };
                if replaced {
                    self.ring = self.abs.iter().map(|p| relative(p, &b)).collect();
                } else {
                    // Keep the window consistent with the moved baseline.
                    for p in self.ring.iter_mut() {
                        for i in 0..BLADDERS {
                            p[i] -= shift[i];
                        }
                    }
                    push_capped(&mut self.ring, relative(&frame.pressures, &b));
                }
            }
        }
        self.status()
    }

    fn status(&self) -> FeatureStatus {
        match (self.tracker.baseline(), self.ring.len()) {
            (None, _) => FeatureStatus::NoBaseline,
            (Some(_), n) if n < WINDOW_FRAMES => FeatureStatus::Filling { frames: n },
            _ => FeatureStatus::Ready,
        }
    }

    /// Copies the current window into `out` (channel-major, oldest frame first). Returns false
    /// unless a full window is ready.
    pub fn window(&self, out: &mut [f32; WINDOW_LEN]) -> bool {
        if self.ring.len() < WINDOW_FRAMES || self.tracker.baseline().is_none() {
            return false;
        }
        for (j, p) in self.ring.iter().enumerate() {
            for c in 0..CHANNELS {
                out[c * WINDOW_FRAMES + j] = p[c];
            }
        }
        true
    }
}

fn push_capped(q: &mut VecDeque<[f32; BLADDERS]>, p: [f32; BLADDERS]) {
    q.push_back(p);
    if q.len() > WINDOW_FRAMES {
        q.pop_front();
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
        for i in 100..100 + crate::baseline::STILL_FRAMES {
            fx.push(&frame(i as f64 * 0.15, 98_100.0));
        }
        assert!(matches!(fx.take_event(), Some(BaselineEvent::AutoBaseline(_))));
        assert!((fx.baseline().unwrap().pressures[0] - 98_100.0).abs() < 0.01);
    }

    #[test]
    fn the_window_stays_relative_to_the_baseline_as_the_stillness_rule_moves_it() {
        let mut fx = FeatureExtractor::new();
        fx.set_baseline(Baseline { pressures: [98_000.0; 4] });
        let mut t = 0.0;
        for _ in 0..100 {
            fx.push(&Frame { t, pressures: [98_100.0; 4] });
            t += 0.15;
        }
        assert!((fx.baseline().unwrap().pressures[0] - 98_100.0).abs() < 0.01, "{:?}", fx.baseline());
        let mut w = [0f32; WINDOW_LEN];
        assert!(fx.window(&mut w));
        assert!(w.iter().all(|v| v.abs() < 0.01), "{w:?}");
        // A moving mat (someone on it) with no weather trend measured yet leaves the baseline alone.
        let before = fx.baseline().unwrap();
        for i in 0..200 {
            fx.push(&Frame { t, pressures: [99_500.0 + 100.0 * (i as f32).sin(); 4] });
            t += 0.15;
        }
        assert_eq!(fx.baseline().unwrap(), before);
        assert!(!fx.is_still());
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
