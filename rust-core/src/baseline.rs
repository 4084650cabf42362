//! The empty-mat baseline and the one rule that keeps it right for hours, without asking the model.
//!
//! An air-bladder mat's absolute level moves with the weather (≈100 Pa/h, fronts up to 500 Pa/h,
//! both ways), with warm air under a body (up to ≈+120 Pa, fading after the person leaves) and with
//! re-inflation. A person on the mat is never still (breathing, heartbeat, micro-movement: σ ≥ 28 Pa
//! over any 6 s of the real recording), an empty mat is (σ ≈ 0.5 Pa). So:
//!
//! - whenever the last [`STILL_FRAMES`] frames are still (every bladder's σ below
//!   [`STILL_SIGMA_PA`]), the mat is empty — or holds an object or a sleeping pet, which count as
//!   empty too — and the baseline *is* their mean: it follows drift, warm-air decay and
//!   re-inflation in both directions, whatever the model says;
//! - while the mat is not still (someone on it), the baseline follows the weather trend measured
//!   on the last long still stretch (common to all bladders), bounded, so a night of falling
//!   weather does not push a sleeping person below the baseline.
//!
//! - when the phone's barometer is fed ([`BaselineTracker::set_ambient`]), the weather is *measured*
//!   instead: while occupied, the baseline is the last still level moved by the ambient change
//!   since then. Weather that turns under a sleeper, or a front that arrives before any trend was
//!   seen, is then followed too. Without a barometer (or with a stale reading) the trend serves.
//!
//! The same tracker builds the training windows (pipeline) and the phone's windows (monitor), so
//! the model learns exactly the offsets it meets in service.

use crate::frame::{BLADDERS, Frame};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::path::Path;

/// Above this σ (Pa) on any bladder a stretch is not an empty mat (empty: σ < 1 Pa; a person:
/// σ ≥ 28 Pa over 6 s in the real recording, 60–230 Pa over a minute).
pub const STILL_SIGMA_PA: f32 = 5.0;
/// Frames the stillness rule looks at: 40 frames ≈ 6 s at the mat's ~6.7 Hz, longer than one
/// slow breath (0.2 Hz), so a breathing person never passes for still.
pub const STILL_FRAMES: usize = 40;
/// Fastest weather trend the tracker extrapolates while the mat is occupied, Pa/h (fronts reach
/// 500 Pa/h).
pub const MAX_TREND_PA_PER_H: f64 = 600.0;
/// Most the baseline moves by extrapolation between two still stretches, Pa.
pub const MAX_EXTRAPOLATION_PA: f64 = 1500.0;
/// A still stretch is sampled for the weather trend once per this many seconds.
pub const TREND_SAMPLE_S: f64 = 30.0;
/// Samples older than this (s) no longer count for the trend.
pub const TREND_HORIZON_S: f64 = 1800.0;
/// The trend is measured only over a still stretch at least this long, s.
pub const TREND_MIN_SPAN_S: f64 = 300.0;
/// After an occupied stretch of at least [`WARM_STAY_S`], warm air leaves the bladders for a while
/// (τ ≈ 5 min): the trend waits this long before sampling again, s.
pub const WARM_DECAY_S: f64 = 1200.0;
/// An occupied stretch this long (s) has warmed the bladders' air.
pub const WARM_STAY_S: f64 = 120.0;
/// An ambient (barometer) reading older than this, in session time (s), is not used.
pub const AMBIENT_MAX_AGE_S: f64 = 120.0;
/// Time constant of the smoothing of ambient readings, s (phone barometers jitter by a few Pa).
pub const AMBIENT_TAU_S: f64 = 10.0;
/// Plausible ambient pressures, Pa (sea level ≈ 101 kPa; 4000 m ≈ 62 kPa).
pub const AMBIENT_RANGE_PA: std::ops::RangeInclusive<f64> = 50_000.0..=110_000.0;

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

/// Mean and σ of each bladder over a set of frames.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Moments {
    n: usize,
    sum: [f64; BLADDERS],
    sum_sq: [f64; BLADDERS],
}

impl Moments {
    pub(crate) fn of<'a>(frames: impl IntoIterator<Item = &'a [f32; BLADDERS]>) -> Self {
        let mut m = Moments::default();
        frames.into_iter().for_each(|p| m.add(p));
        m
    }
    fn add(&mut self, p: &[f32; BLADDERS]) {
        self.n += 1;
        for ((sum, sum_sq), &v) in self.sum.iter_mut().zip(&mut self.sum_sq).zip(p) {
            let v = v as f64;
            *sum += v;
            *sum_sq += v * v;
        }
    }
    pub(crate) fn mean(&self) -> [f32; BLADDERS] {
        self.mean64().map(|v| v as f32)
    }
    fn mean64(&self) -> [f64; BLADDERS] {
        std::array::from_fn(|i| self.sum[i] / self.n.max(1) as f64)
    }
    /// Largest σ over bladders, with its bladder number (1-based).
    pub(crate) fn max_sigma(&self) -> (usize, f32) {
        let n = self.n.max(1) as f64;
        (0..BLADDERS)
            .map(|i| {
                let m = self.sum[i] / n;
                (i + 1, ((self.sum_sq[i] / n - m * m).max(0.0)).sqrt() as f32)
            })
            .fold((1, 0.0), |a, b| if b.1 > a.1 { b } else { a })
    }
}

/// What the tracker has after a frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TrackerStatus {
    /// Calibrating the empty mat; `remaining_s` to go.
    Calibrating { remaining_s: f64 },
    /// No baseline yet: waiting for a still (empty) stretch or a calibration.
    NoBaseline,
    /// A baseline is known. It moved by `shift` Pa per bladder on this frame (re-tare or trend),
    /// or was replaced outright (`replaced`, after a calibration or the first still stretch).
    Tracking { shift: [f32; BLADDERS], replaced: bool },
}

/// The weather trend, measured on still stretches (common to all bladders).
#[derive(Debug, Clone, Default)]
struct Trend {
    /// Pa/s, once measured.
    rate: Option<f64>,
    /// (t, mean level over the bladders) of the current still stretch, one per [`TREND_SAMPLE_S`].
    samples: VecDeque<(f64, f64)>,
    /// No sampling before this time (warm air still leaving the bladders).
    settle_until: f64,
}

impl Trend {
    fn sample(&mut self, t: f64, level: f64) {
        if t < self.settle_until || self.samples.back().is_some_and(|&(s, _)| t - s < TREND_SAMPLE_S) {
            return;
        }
        self.samples.push_back((t, level));
        while self.samples.front().is_some_and(|&(s, _)| t - s > TREND_HORIZON_S) {
            self.samples.pop_front();
        }
        let (t0, t1) = (self.samples.front().map_or(t, |s| s.0), t);
        if t1 - t0 >= TREND_MIN_SPAN_S {
            let n = self.samples.len() as f64;
            let (mt, ml) = self.samples.iter().fold((0.0, 0.0), |a, s| (a.0 + s.0 / n, a.1 + s.1 / n));
            let (sxy, sxx) =
                self.samples.iter().fold((0.0, 0.0), |a, s| (a.0 + (s.0 - mt) * (s.1 - ml), a.1 + (s.0 - mt).powi(2)));
            let max = MAX_TREND_PA_PER_H / 3600.0;
            self.rate = Some((sxy / sxx.max(1e-9)).clamp(-max, max));
        }
    }

    /// The still stretch ended: an occupied stretch begins.
    fn interrupt(&mut self) {
        self.samples.clear();
    }
}

/// Calibration in progress: requested length, start time, frames so far.
#[derive(Debug, Clone)]
struct Calibration {
    seconds: f64,
    start: Option<f64>,
    frames: VecDeque<[f32; BLADDERS]>,
}

/// Tracks the empty-mat baseline from absolute frames by the stillness rule (module docs).
#[derive(Debug, Clone)]
pub struct BaselineTracker {
    /// Kept in f64: the trend moves it by ~0.02 Pa a frame, below an f32's resolution at 1e5 Pa.
    baseline: Option<[f64; BLADDERS]>,
    calibration: Option<Calibration>,
    /// The last [`STILL_FRAMES`] absolute frames.
    recent: VecDeque<[f32; BLADDERS]>,
    still: bool,
    last_t: Option<f64>,
    /// When the current occupied (not still) stretch began.
    busy_since: Option<f64>,
    /// Baseline movement by extrapolation since the last still frame, Pa.
    extrapolated: f64,
    trend: Trend,
    /// A barometer reading not yet stamped with a frame time.
    ambient_pending: Option<f64>,
    /// Smoothed ambient pressure and the session time of its last reading.
    ambient: Option<(f64, f64)>,
    /// The baseline at the last still frame and the ambient pressure then, when known.
    anchor: Option<([f64; BLADDERS], f64)>,
    auto_baseline: bool,
    event: Option<BaselineEvent>,
}

impl Default for BaselineTracker {
    fn default() -> Self {
        Self::new()
    }
}

impl BaselineTracker {
    /// A tracker with no baseline that adopts the first still stretch as the empty mat.
    pub fn new() -> Self {
        BaselineTracker {
            baseline: None,
            calibration: None,
            recent: VecDeque::with_capacity(STILL_FRAMES + 1),
            still: false,
            last_t: None,
            busy_since: None,
            extrapolated: 0.0,
            trend: Trend::default(),
            ambient_pending: None,
            ambient: None,
            anchor: None,
            auto_baseline: true,
            event: None,
        }
    }

    /// Whether a still stretch may become the baseline when none is known (default on).
    pub fn set_auto_baseline(&mut self, on: bool) {
        self.auto_baseline = on;
    }

    /// Uses a known baseline (e.g. saved for this mat). It is still corrected by the next still
    /// stretch, so a baseline saved yesterday cannot stick.
    pub fn set_baseline(&mut self, baseline: Baseline) {
        self.baseline = Some(baseline.pressures.map(f64::from));
    }

    /// The baseline in use, if any.
    pub fn baseline(&self) -> Option<Baseline> {
        self.baseline.map(|b| Baseline { pressures: b.map(|v| v as f32) })
    }

    /// Moves the baseline to `to` and tells by how much its f32 face moved.
    fn move_to(&mut self, to: [f64; BLADDERS]) -> TrackerStatus {
        let before = self.baseline().map_or([0.0; BLADDERS], |b| b.pressures);
        self.baseline = Some(to);
        let after = to.map(|v| v as f32);
        TrackerStatus::Tracking { shift: std::array::from_fn(|i| after[i] - before[i]), replaced: false }
    }

    /// Feeds the phone's barometer, Pa (Android's hPa × 100): it is stamped with the next frame's
    /// time. Readings outside [`AMBIENT_RANGE_PA`] or non-finite are refused with `false`.
    pub fn set_ambient(&mut self, pa: f64) -> bool {
        if !pa.is_finite() || !AMBIENT_RANGE_PA.contains(&pa) {
            return false;
        }
        self.ambient_pending = Some(pa);
        true
    }

    /// The smoothed ambient pressure, if a fresh reading is known at session time `t`.
    fn ambient_at(&self, t: f64) -> Option<f64> {
        self.ambient.filter(|&(_, at)| t - at <= AMBIENT_MAX_AGE_S).map(|(pa, _)| pa)
    }

    fn stamp_ambient(&mut self, t: f64) {
        let Some(pa) = self.ambient_pending.take() else { return };
        self.ambient = Some(match self.ambient {
            Some((smooth, at)) if t - at <= AMBIENT_MAX_AGE_S => {
                let a = (1.0 - (-(t - at).max(0.0) / AMBIENT_TAU_S).exp()).max(0.01);
                (smooth + a * (pa - smooth), t)
            }
            _ => (pa, t),
        });
    }

    /// Whether the baseline follows a measured ambient pressure right now (else the trend).
    pub fn follows_ambient(&self) -> bool {
        self.last_t.is_some_and(|t| self.ambient_at(t).is_some()) && self.anchor.is_some()
    }

    /// The weather trend measured on still stretches, Pa/h, once known.
    pub fn trend_pa_per_hour(&self) -> Option<f64> {
        self.trend.rate.map(|r| r * 3600.0)
    }

    /// Whether the last [`STILL_FRAMES`] frames were still: the mat is empty (or holds only an
    /// object or a sleeping pet). A person on the mat is never still.
    pub fn is_still(&self) -> bool {
        self.still
    }

    /// Takes the next `seconds` of frames as the empty mat.
    pub fn calibrate(&mut self, seconds: f64) {
        self.calibration = Some(Calibration { seconds: seconds.max(0.0), start: None, frames: VecDeque::new() });
    }

    /// Baseline news from the last [`push`](Self::push), taken once.
    pub fn take_event(&mut self) -> Option<BaselineEvent> {
        self.event.take()
    }

    /// Feeds one absolute frame.
    pub fn push(&mut self, frame: &Frame) -> TrackerStatus {
        let dt = self.last_t.map_or(0.0, |t| (frame.t - t).max(0.0));
        if dt > crate::features::MAX_GAP_S {
            // Stillness must be seen again after a gap; the trend carries the baseline across it.
            self.recent.clear();
        }
        self.last_t = Some(frame.t);
        self.stamp_ambient(frame.t);

        if let Some(status) = self.calibrating(frame) {
            return status;
        }

        self.recent.push_back(frame.pressures);
        if self.recent.len() > STILL_FRAMES {
            self.recent.pop_front();
        }
        let was_still = self.still;
        self.still = self.recent.len() == STILL_FRAMES && Moments::of(&self.recent).max_sigma().1 < STILL_SIGMA_PA;

        let Some(b) = self.baseline else {
            if self.auto_baseline && self.still {
                let b = Baseline { pressures: Moments::of(&self.recent).mean() };
                self.event = Some(BaselineEvent::AutoBaseline(b));
                self.set_baseline(b);
                return TrackerStatus::Tracking { shift: [0.0; BLADDERS], replaced: true };
            }
            return TrackerStatus::NoBaseline;
        };

        if self.still {
            if !was_still {
                let busy_for = self.busy_since.map_or(0.0, |s| frame.t - s);
                if busy_for >= WARM_STAY_S {
                    self.trend.settle_until = frame.t + WARM_DECAY_S;
                }
                self.busy_since = None;
            }
            let mean = Moments::of(&self.recent).mean64();
            self.extrapolated = 0.0;
            self.anchor = self.ambient_at(frame.t).map(|a| (mean, a));
            self.trend.sample(frame.t, mean.iter().sum::<f64>() / BLADDERS as f64);
            return self.move_to(mean);
        }

        if was_still || self.busy_since.is_none() {
            self.busy_since = Some(frame.t);
            self.trend.interrupt();
        }
        if let (Some((level, a0)), Some(a)) = (self.anchor, self.ambient_at(frame.t)) {
            // Measured weather: the bladders follow the air around them one to one.
            let moved = (a - a0).clamp(-MAX_EXTRAPOLATION_PA, MAX_EXTRAPOLATION_PA);
            self.extrapolated = moved;
            return self.move_to(level.map(|v| v + moved));
        }
        let step = self.trend.rate.unwrap_or(0.0) * dt;
        let room = MAX_EXTRAPOLATION_PA - self.extrapolated.abs();
        let step = if room <= 0.0 { 0.0 } else { step.clamp(-room, room) };
        self.extrapolated += step;
        self.move_to(b.map(|v| v + step))
    }

    /// Runs a requested calibration; `None` once none is in progress.
    fn calibrating(&mut self, frame: &Frame) -> Option<TrackerStatus> {
        let mut cal = self.calibration.take()?;
        let start = *cal.start.get_or_insert(frame.t);
        cal.frames.push_back(frame.pressures);
        let elapsed = frame.t - start;
        if elapsed + 1e-9 < cal.seconds {
            let remaining_s = cal.seconds - elapsed;
            self.calibration = Some(cal);
            return Some(TrackerStatus::Calibrating { remaining_s });
        }
        let needed = ((cal.seconds / 0.3) as usize).max(2);
        let (bladder, sigma_pa) = Moments::of(&cal.frames).max_sigma();
        self.event = Some(if cal.frames.len() < needed {
            BaselineEvent::CalibrationFailed(CalibrationError::TooFewFrames { frames: cal.frames.len(), needed })
        } else if sigma_pa > STILL_SIGMA_PA {
            BaselineEvent::CalibrationFailed(CalibrationError::NotStill { bladder, sigma_pa })
        } else {
            let b = Baseline { pressures: Moments::of(&cal.frames).mean() };
            self.set_baseline(b);
            // The calibration frames are the start of the stillness history too.
            self.recent = cal.frames.iter().rev().take(STILL_FRAMES).rev().copied().collect();
            BaselineEvent::Calibrated(b)
        });
        Some(match self.baseline {
            Some(_) => TrackerStatus::Tracking { shift: [0.0; BLADDERS], replaced: true },
            None => TrackerStatus::NoBaseline,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DT: f64 = 0.15;

    /// An empty mat: level + tiny noise.
    fn empty(t: f64, level: f64) -> Frame {
        let n = (t * 7.3).sin() * 0.5;
        Frame { t, pressures: std::array::from_fn(|i| (level + 50.0 * i as f64 + n) as f32) }
    }

    /// A person: level + a load of ~1000 Pa that breathes (0.25 Hz, ±80 Pa).
    fn person(t: f64, level: f64) -> Frame {
        let b = (t * std::f64::consts::TAU * 0.25).sin() * 80.0;
        Frame { t, pressures: std::array::from_fn(|i| (level + 50.0 * i as f64 + 1000.0 + b) as f32) }
    }

    fn run(tr: &mut BaselineTracker, t: &mut f64, until: f64, f: impl Fn(f64) -> Frame) {
        while *t < until {
            tr.push(&f(*t));
            *t += DT;
        }
    }

    fn error(tr: &BaselineTracker, level: f64) -> f64 {
        (tr.baseline().unwrap().pressures[0] as f64 - level).abs()
    }

    #[test]
    fn with_the_phones_barometer_weather_that_turns_under_a_sleeper_is_followed() {
        // +300 Pa/h for an hour of sleep, then −500 Pa/h for two: the trend alone would keep
        // climbing; the barometer (offset 1.2 kPa from the mat's sensors, ±3 Pa jitter) measures it.
        let weather = |t: f64| {
            let h = (t - 1200.0).max(0.0) / 3600.0;
            if h < 1.0 { 300.0 * h } else { 300.0 - 500.0 * (h - 1.0) }
        };
        let level = |t: f64| 98_000.0 + 100.0 * t / 3600.0 + weather(t);
        let (mut with, mut without) = (BaselineTracker::new(), BaselineTracker::new());
        let mut t = 0.0;
        let mut worst: f64 = 0.0;
        while t < 1200.0 + 3.0 * 3600.0 {
            let f = if t < 1200.0 { empty(t, level(t)) } else { person(t, level(t)) };
            if ((t / DT).round() as u64).is_multiple_of(7) {
                let jitter = 3.0 * (t * 1.3).sin();
                assert!(with.set_ambient(96_800.0 + (level(t) - 98_000.0) + jitter));
            }
            with.push(&f);
            without.push(&f);
            if t > 1200.0 {
                worst = worst.max(error(&with, level(t)));
                assert!(with.follows_ambient());
            }
            t += DT;
        }
        assert!(worst < 15.0, "with the barometer the baseline strayed {worst:.1} Pa");
        assert!(error(&without, level(t)) > 500.0, "the trend alone cannot know the weather turned");
        // Nonsense readings are refused; a barometer that stops leaves the trend in charge.
        assert!(!with.set_ambient(f64::NAN) && !with.set_ambient(5.0));
        let before = with.baseline().unwrap();
        let until = t + 2.0 * AMBIENT_MAX_AGE_S;
        run(&mut with, &mut t, until, |t| person(t, level(t)));
        assert!(!with.follows_ambient());
        let moved = (with.baseline().unwrap().pressures[0] - before.pressures[0]).abs();
        assert!(moved < 100.0, "a stale barometer is not followed: moved {moved} Pa");
    }

    #[test]
    fn an_empty_mat_is_followed_through_drift_in_both_directions() {
        for rate_per_h in [-500.0, -100.0, 100.0, 500.0] {
            let level = |t: f64| 98_000.0 + rate_per_h * t / 3600.0;
            let mut tr = BaselineTracker::new();
            let mut t = 0.0;
            run(&mut tr, &mut t, 3600.0, |t| empty(t, level(t)));
            assert!(tr.is_still());
            assert!(error(&tr, level(t)) < 2.0, "{rate_per_h} Pa/h: off by {:.1} Pa", error(&tr, level(t)));
            let trend = tr.trend_pa_per_hour().unwrap();
            assert!((trend - rate_per_h).abs() < 0.05 * rate_per_h.abs(), "{rate_per_h} Pa/h measured as {trend:.0}");
        }
    }

    #[test]
    fn a_breathing_person_is_never_still_and_the_baseline_follows_the_trend_under_them() {
        for rate_per_h in [-500.0, 300.0] {
            let level = |t: f64| 98_000.0 + rate_per_h * t / 3600.0;
            let mut tr = BaselineTracker::new();
            let mut t = 0.0;
            run(&mut tr, &mut t, 1200.0, |t| empty(t, level(t)));
            let mut ever_still = false;
            while t < 1200.0 + 7200.0 {
                tr.push(&person(t, level(t)));
                ever_still |= tr.is_still();
                t += DT;
            }
            assert!(!ever_still, "a breathing person passed for an empty mat");
            // Two hours of weather under a person: 600–1000 Pa, followed by the measured trend.
            assert!(error(&tr, level(t)) < 60.0, "{rate_per_h} Pa/h: off by {:.0} Pa after 2 h", error(&tr, level(t)));
        }
    }

    #[test]
    fn after_the_person_leaves_the_baseline_snaps_to_the_empty_mat_within_seconds() {
        // No trend known (the person arrived at once): the baseline is 900 Pa stale when they leave.
        let mut tr = BaselineTracker::new();
        tr.set_baseline(Baseline { pressures: [98_000.0, 98_050.0, 98_100.0, 98_150.0] });
        let mut t = 0.0;
        run(&mut tr, &mut t, 3600.0, |t| person(t, 98_000.0 + 900.0 * t / 3600.0));
        assert!(error(&tr, 98_900.0) > 800.0);
        let left = t;
        while !tr.is_still() {
            tr.push(&empty(t, 98_900.0));
            t += DT;
        }
        assert!(t - left <= STILL_FRAMES as f64 * DT + 0.01, "still after {:.1} s", t - left);
        assert!(error(&tr, 98_900.0) < 1.0);
    }

    #[test]
    fn extrapolation_is_bounded() {
        let mut tr = BaselineTracker::new();
        let mut t = 0.0;
        let level = |t: f64| 98_000.0 + 500.0 * t / 3600.0;
        run(&mut tr, &mut t, 1800.0, |t| empty(t, level(t)));
        let at_arrival = tr.baseline().unwrap().pressures[0] as f64;
        run(&mut tr, &mut t, 1800.0 + 6.0 * 3600.0, |t| person(t, 98_000.0));
        let moved = tr.baseline().unwrap().pressures[0] as f64 - at_arrival;
        assert!((moved - MAX_EXTRAPOLATION_PA).abs() < 1.0, "moved {moved:.0} Pa in 6 h");
    }

    #[test]
    fn warm_air_leaving_after_a_long_stay_is_not_taken_for_weather() {
        // Flat weather; a 1 h stay warmed the air by 120 Pa, which then decays with τ = 5 min.
        let mut tr = BaselineTracker::new();
        let mut t = 0.0;
        run(&mut tr, &mut t, 1200.0, |t| empty(t, 98_000.0));
        run(&mut tr, &mut t, 4800.0, |t| person(t, 98_120.0));
        let left = t;
        run(&mut tr, &mut t, left + 1800.0, |t| empty(t, 98_000.0 + 120.0 * (-(t - left) / 300.0).exp()));
        let trend = tr.trend_pa_per_hour().unwrap_or(0.0);
        assert!(trend.abs() < 30.0, "warm-air decay read as a {trend:.0} Pa/h trend");
    }

    #[test]
    fn an_object_or_a_step_is_absorbed_once_the_mat_is_still_again() {
        let mut tr = BaselineTracker::new();
        let mut t = 0.0;
        run(&mut tr, &mut t, 60.0, |t| empty(t, 98_000.0));
        // Re-inflation: +300 Pa within 5 s.
        run(&mut tr, &mut t, 120.0, |t| empty(t, 98_000.0 + 300.0 * ((t - 60.0) / 5.0).clamp(0.0, 1.0)));
        assert!(error(&tr, 98_300.0) < 1.0);
    }

    #[test]
    fn calibration_on_a_moving_mat_is_refused_and_a_still_one_accepted() {
        let mut tr = BaselineTracker::new();
        tr.calibrate(5.0);
        let mut t = 0.0;
        run(&mut tr, &mut t, 6.0, |t| person(t, 98_000.0));
        assert!(matches!(tr.take_event(), Some(BaselineEvent::CalibrationFailed(CalibrationError::NotStill { .. }))));
        tr.calibrate(5.0);
        run(&mut tr, &mut t, 12.0, |t| empty(t, 98_000.0));
        assert!(matches!(tr.take_event(), Some(BaselineEvent::Calibrated(_))));
        assert!(error(&tr, 98_000.0) < 1.0);
    }
}
