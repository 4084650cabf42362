//! Personal calibration: "lie fully on the mat for 10 s", once per mat and user. It measures the
//! user's own load on the mat — the sum of the four bladders' rise over the empty-mat baseline while
//! the whole body is on it — so that a model can read any later load as a *share* of that person:
//! about 1 lying fully, 0.9–1 sitting, 0.35–0.75 lying partially. Four bladders cannot weigh a body
//! they have never seen whole, so without it, sitting and lying partially are told apart by load
//! pattern alone (docs/posture.md).
//!
//! The share is the model's second input, [`USER_LOAD_NAME`], `[batch, 2]` = `[share, known]`; a model
//! that takes it was trained with and without it, and gets `[0, 0]` from a user who never calibrated.
//! The definition lives here only, for training (pipeline) and serving (monitor) alike.

use crate::features::{CHANNELS, WINDOW_FRAMES, WINDOW_LEN};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Name of the optional second model input, shape `[batch, USER_LOAD_LEN]`, f32: `[share, known]`.
pub const USER_LOAD_NAME: &str = "user_load";
/// Values per window of [`USER_LOAD_NAME`].
pub const USER_LOAD_LEN: usize = 2;
/// The input a user without personal calibration gives.
pub const UNCALIBRATED: [f32; USER_LOAD_LEN] = [0.0, 0.0];
/// The calibration the app asks for: lie fully on the mat this long.
pub const PERSONAL_CALIBRATION_S: f64 = 10.0;
/// Smallest summed load (Pa over the four bladders) taken as a person: the lightest adult in the
/// simulator adds ~2.7 kPa, a 9 kg cat ~0.6 kPa.
pub const MIN_PERSON_LOAD_PA: f32 = 1000.0;
/// Largest plausible summed load, Pa (a 130 kg adult adds ~11 kPa on the real mat's scale).
pub const MAX_PERSON_LOAD_PA: f32 = 40_000.0;
/// During calibration, every second's mean load must stay within this fraction of the overall
/// mean: breathing moves it by a few percent, getting on or rolling over by far more.
pub const MAX_LOAD_SPREAD: f32 = 0.2;
/// Shares are clamped to this (a second person, a heavy object): beyond it the value says nothing.
pub const MAX_SHARE: f32 = 2.0;

/// A user's load on one mat, measured lying fully.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PersonalCalibration {
    /// Sum of the four bladders' rise over the empty-mat baseline, Pa.
    pub reference_load_pa: f32,
}

/// Why a personal calibration was refused or cannot be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PersonalCalibrationError {
    /// The empty mat is not known yet: the load of a person is measured against it.
    #[error("the empty mat's baseline is not known yet: calibrate the empty mat (or wait for it to be still) first")]
    NoBaseline,
    /// The mat carried less than a person during calibration.
    #[error(
        "nobody is lying on the mat: the load was {load_pa:.0} Pa, a person adds at least {MIN_PERSON_LOAD_PA:.0} Pa"
    )]
    NobodyOnMat { load_pa: f32 },
    /// The load changed during calibration: getting on, rolling over, getting off.
    #[error(
        "the load moved by {spread_percent:.0} % during calibration (at most {:.0} % allowed): lie still, fully on the mat",
        MAX_LOAD_SPREAD * 100.0
    )]
    Moved { spread_percent: f32 },
    /// The frames stopped or the baseline was replaced before the calibration time was over.
    #[error("calibration interrupted: {0}")]
    Interrupted(String),
    /// A value that cannot be a person's load.
    #[error("{load_pa} Pa is not a person's load (expected {MIN_PERSON_LOAD_PA:.0}–{MAX_PERSON_LOAD_PA:.0} Pa)")]
    Invalid { load_pa: f32 },
    /// A saved calibration cannot be read or written.
    #[error("personal calibration file {path}: {message}")]
    File { path: String, message: String },
}

impl PersonalCalibration {
    /// A calibration from a measured load, checked to be a person's.
    pub fn new(reference_load_pa: f32) -> Result<Self, PersonalCalibrationError> {
        if !(MIN_PERSON_LOAD_PA..=MAX_PERSON_LOAD_PA).contains(&reference_load_pa) {
            return Err(PersonalCalibrationError::Invalid { load_pa: reference_load_pa });
        }
        Ok(PersonalCalibration { reference_load_pa })
    }

    /// The model input for a window: `[share of this user's load, 1]`.
    pub fn user_load(&self, window: &[f32; WINDOW_LEN]) -> [f32; USER_LOAD_LEN] {
        [share(window_load_pa(window), self.reference_load_pa), 1.0]
    }

    /// Reads a calibration saved by [`save`](Self::save) (file I/O).
    pub fn load(path: &Path) -> Result<Self, PersonalCalibrationError> {
        let err = |message: String| PersonalCalibrationError::File { path: path.display().to_string(), message };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let c: PersonalCalibration =
            serde_json::from_str(&text).map_err(|e| err(format!("not a personal calibration: {e}")))?;
        PersonalCalibration::new(c.reference_load_pa).map_err(|e| err(e.to_string()))
    }

    /// Saves the calibration atomically (temporary file, fsync, rename).
    pub fn save(&self, path: &Path) -> Result<(), PersonalCalibrationError> {
        let err = |message: String| PersonalCalibrationError::File { path: path.display().to_string(), message };
        let text = serde_json::to_string_pretty(self).map_err(|e| err(e.to_string()))?;
        crate::fsutil::write_atomic(path, text.as_bytes()).map_err(|e| err(e.to_string()))
    }
}

/// The model input for a window and an optional calibration ([`UNCALIBRATED`] without one).
pub fn user_load(window: &[f32; WINDOW_LEN], calibration: Option<&PersonalCalibration>) -> [f32; USER_LOAD_LEN] {
    calibration.map_or(UNCALIBRATED, |c| c.user_load(window))
}

/// `load / reference`, clamped to `0..=MAX_SHARE`.
pub fn share(load_pa: f32, reference_load_pa: f32) -> f32 {
    (load_pa / reference_load_pa.max(1.0)).clamp(0.0, MAX_SHARE)
}

/// Mean over the window's frames of the summed rise of the four bladders, Pa.
pub fn window_load_pa(window: &[f32]) -> f32 {
    window.iter().sum::<f32>() / WINDOW_FRAMES as f32
}

/// Summed rise of the newest frame of a window, Pa.
pub fn newest_load_pa(window: &[f32; WINDOW_LEN]) -> f32 {
    (0..CHANNELS).map(|c| window[c * WINDOW_FRAMES + WINDOW_FRAMES - 1]).sum()
}

/// Measures a personal calibration from the summed load of successive frames.
#[derive(Debug, Clone)]
pub struct PersonalCalibrator {
    seconds: f64,
    start: Option<f64>,
    /// (time, summed load) of every frame so far.
    loads: Vec<(f64, f32)>,
}

impl PersonalCalibrator {
    /// A calibration over the next `seconds` of frames.
    pub fn new(seconds: f64) -> Self {
        PersonalCalibrator { seconds: seconds.max(1.0), start: None, loads: Vec::new() }
    }

    /// Seconds still to go.
    pub fn remaining_s(&self, now: f64) -> f64 {
        self.start.map_or(self.seconds, |s| (self.seconds - (now - s)).max(0.0))
    }

    /// Feeds one frame's summed load over the baseline; `Some` once the calibration is over.
    pub fn push(&mut self, t: f64, load_pa: f32) -> Option<Result<PersonalCalibration, PersonalCalibrationError>> {
        let start = *self.start.get_or_insert(t);
        self.loads.push((t, load_pa));
        (t - start >= self.seconds).then(|| self.finish())
    }

    fn finish(&self) -> Result<PersonalCalibration, PersonalCalibrationError> {
        let n = self.loads.len().max(1) as f32;
        let mean = self.loads.iter().map(|(_, l)| l).sum::<f32>() / n;
        if mean < MIN_PERSON_LOAD_PA {
            return Err(PersonalCalibrationError::NobodyOnMat { load_pa: mean });
        }
        // One-second means: breathing averages out, a change of position does not.
        let start = self.loads[0].0;
        let mut seconds: Vec<(f32, usize)> = Vec::new();
        for &(t, l) in &self.loads {
            let k = (t - start).floor().max(0.0) as usize;
            if seconds.len() <= k {
                seconds.resize(k + 1, (0.0, 0));
            }
            seconds[k].0 += l;
            seconds[k].1 += 1;
        }
        let spread = seconds
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(s, n)| ((s / *n as f32) - mean).abs() / mean)
            .fold(0.0f32, f32::max);
        if spread > MAX_LOAD_SPREAD {
            return Err(PersonalCalibrationError::Moved { spread_percent: spread * 100.0 });
        }
        PersonalCalibration::new(mean)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window_of(load_per_bladder: f32) -> [f32; WINDOW_LEN] {
        [load_per_bladder; WINDOW_LEN]
    }

    #[test]
    fn the_share_is_the_windows_load_over_the_users_and_uncalibrated_is_zero() {
        let c = PersonalCalibration::new(4000.0).unwrap();
        assert_eq!(c.user_load(&window_of(1000.0)), [1.0, 1.0]);
        assert_eq!(c.user_load(&window_of(500.0)), [0.5, 1.0]);
        assert_eq!(c.user_load(&window_of(-50.0)), [0.0, 1.0], "below the baseline is no load");
        assert_eq!(c.user_load(&window_of(5000.0)), [MAX_SHARE, 1.0]);
        assert_eq!(user_load(&window_of(1000.0), None), UNCALIBRATED);
    }

    fn calibrate(loads: impl Fn(f64) -> f32) -> Result<PersonalCalibration, PersonalCalibrationError> {
        let mut c = PersonalCalibrator::new(PERSONAL_CALIBRATION_S);
        let mut t = 0.0;
        loop {
            if let Some(r) = c.push(t, loads(t)) {
                return r;
            }
            t += 0.15;
        }
    }

    #[test]
    fn a_person_lying_still_and_breathing_is_measured() {
        let c = calibrate(|t| 6000.0 + 300.0 * (t as f32 * 1.7).sin()).unwrap();
        assert!((c.reference_load_pa - 6000.0).abs() < 100.0, "{c:?}");
    }

    #[test]
    fn an_empty_mat_a_cat_or_someone_getting_on_is_refused_with_the_reason() {
        assert!(matches!(calibrate(|_| 3.0), Err(PersonalCalibrationError::NobodyOnMat { .. })));
        assert!(matches!(calibrate(|_| 500.0), Err(PersonalCalibrationError::NobodyOnMat { .. })));
        let getting_on = calibrate(|t| if t < 4.0 { 2000.0 } else { 6000.0 });
        assert!(matches!(getting_on, Err(PersonalCalibrationError::Moved { spread_percent }) if spread_percent > 20.0));
    }

    #[test]
    fn calibrations_save_atomically_and_a_bad_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("mat-1/alice.json");
        let c = PersonalCalibration::new(5321.5).unwrap();
        c.save(&p).unwrap();
        assert_eq!(PersonalCalibration::load(&p).unwrap(), c);
        std::fs::write(&p, "{\"reference_load_pa\": -3}").unwrap();
        assert!(matches!(PersonalCalibration::load(&p), Err(PersonalCalibrationError::File { .. })));
        std::fs::write(&p, "{\"reference").unwrap();
        assert!(matches!(PersonalCalibration::load(&p), Err(PersonalCalibrationError::File { .. })));
        assert!(matches!(PersonalCalibration::new(f32::NAN), Err(PersonalCalibrationError::Invalid { .. })));
    }
}
