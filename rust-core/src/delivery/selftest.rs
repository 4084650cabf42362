//! The self-test a downloaded model must pass before it serves: it loads through ONNX Runtime with this
//! core's contract checks, and scores a few windows into finite probabilities that sum to 1.

use super::{DeliveryError, Manifest};
use crate::features::{CHANNELS, WINDOW_FRAMES, WINDOW_LEN};
use crate::inference::{PROBABILITY_SUM_TOLERANCE, PresenceModel};
use std::path::Path;

/// Loads the model at `path` and runs the self-test windows; the manifest's contract must be the model's.
pub fn self_test(path: &Path, manifest: &Manifest) -> Result<(), DeliveryError> {
    let bytes = std::fs::read(path).map_err(|e| DeliveryError::io(path, e))?;
    // Named after what it is, not after its temporary file, in errors and logs.
    let name = format!("model {} (sequence {})", manifest.version, manifest.sequence);
    let mut model = PresenceModel::from_bytes(&bytes, name).map_err(|e| DeliveryError::SelfTest(e.to_string()))?;
    let info = model.info();
    if info.labels != manifest.contract.labels || info.feature_version != manifest.contract.feature_version {
        return Err(DeliveryError::SelfTest(format!(
            "the model's metadata (feature version {}, labels {}) is not the manifest's",
            info.feature_version,
            info.labels.join(",")
        )));
    }
    if info.inputs != manifest.contract.inputs {
        return Err(DeliveryError::SelfTest(format!(
            "the model reads inputs {}, the manifest says {}",
            info.inputs.join(","),
            manifest.contract.inputs.join(",")
        )));
    }
    run_windows(&mut model)
}

/// Scores an empty mat, a person-sized load and a breathing-like ripple; each must give a probability
/// vector (`predict` refuses non-finite or non-normalised outputs).
pub fn run_windows(model: &mut PresenceModel) -> Result<(), DeliveryError> {
    let empty = [0f32; WINDOW_LEN];
    let mut loaded = [0f32; WINDOW_LEN];
    let mut ripple = [0f32; WINDOW_LEN];
    for c in 0..CHANNELS {
        for t in 0..WINDOW_FRAMES {
            loaded[c * WINDOW_FRAMES + t] = 1200.0;
            ripple[c * WINDOW_FRAMES + t] = 900.0 + 100.0 * (t as f32 * 0.9 + c as f32).sin();
        }
    }
    for window in [&empty, &loaded, &ripple] {
        let p = model.predict(window).map_err(|e| DeliveryError::SelfTest(e.to_string()))?;
        let sum: f32 = p.probabilities.iter().sum();
        if p.probabilities.iter().any(|v| !v.is_finite() || *v < 0.0) || (sum - 1.0).abs() > PROBABILITY_SUM_TOLERANCE {
            return Err(DeliveryError::SelfTest(format!("output {:?} is not a probability vector", p.probabilities)));
        }
    }
    Ok(())
}
