//! Datasets of model windows: simulated sessions (and, as they arrive, labelled recordings), turned
//! into windows by rust-core's one feature definition, split by subject — never by frame, because
//! neighbouring windows share frames and would leak between train and test.

use hapticmat_core::features::{FeatureExtractor, FeatureStatus, WINDOW_LEN};
use hapticmat_core::simulator::{SimConfig, Simulator};
use hapticmat_core::{Frame, PresenceState};
use serde::Serialize;

/// A labelled session: one subject on one mat.
#[derive(Debug, Clone)]
pub struct Session {
    /// Name for reports (`sim-17`, a file name).
    pub id: String,
    /// Subject id: sessions of one subject always land in the same split.
    pub subject: u64,
    /// Frames in time order.
    pub frames: Vec<Frame>,
    /// The truth for each frame.
    pub labels: Vec<PresenceState>,
}

/// Windows laid end to end, with their labels and subjects.
#[derive(Debug, Clone, Default)]
pub struct Windows {
    /// `len() * WINDOW_LEN` values, channel-major per window.
    pub x: Vec<f32>,
    /// Label index per window.
    pub y: Vec<u32>,
    /// Subject per window.
    pub subject: Vec<u64>,
}

impl Windows {
    /// Number of windows.
    pub fn len(&self) -> usize {
        self.y.len()
    }
    /// Whether there is no window.
    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }
    /// Windows per class, in state order.
    pub fn class_counts(&self) -> [usize; 4] {
        let mut c = [0; 4];
        self.y.iter().for_each(|&y| c[y as usize] += 1);
        c
    }
    /// The window at index `i`.
    pub fn window(&self, i: usize) -> &[f32] {
        &self.x[i * WINDOW_LEN..(i + 1) * WINDOW_LEN]
    }
}

/// Which part of the data a subject belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Split {
    /// Fits the weights.
    Train,
    /// Picks the epoch (early stopping).
    Validation,
    /// Scores the final model; never seen before.
    Test,
}

/// How a simulated dataset is drawn.
#[derive(Debug, Clone, Serialize)]
pub struct SimDatasetConfig {
    /// Sessions (one subject each).
    pub sessions: usize,
    /// Length of each session, s.
    pub session_s: f64,
    /// Seed of the whole dataset.
    pub seed: u64,
    /// Calibration at the start of each session, s (as the app does when a mat is paired).
    pub calibrate_s: f64,
    /// Take every `stride`-th window (neighbours are nearly identical).
    pub stride: usize,
    /// Fraction of subjects for validation and for test.
    pub validation_fraction: f64,
    /// Fraction of subjects for test.
    pub test_fraction: f64,
}

impl Default for SimDatasetConfig {
    fn default() -> Self {
        SimDatasetConfig {
            sessions: 160,
            session_s: 600.0,
            seed: 1,
            calibrate_s: 10.0,
            stride: 2,
            validation_fraction: 0.15,
            test_fraction: 0.15,
        }
    }
}

/// Simulates `cfg.sessions` sessions, each with its own subject and mat.
pub fn simulate_sessions(sim: &SimConfig, cfg: &SimDatasetConfig) -> Vec<Session> {
    (0..cfg.sessions)
        .map(|i| {
            let subject = cfg.seed.wrapping_mul(1_000_003).wrapping_add(i as u64);
            let mut s = Simulator::new(sim.clone(), subject);
            let frames = s.session(cfg.session_s);
            Session {
                id: format!("sim-{subject}"),
                subject,
                labels: frames.iter().map(|f| f.label).collect(),
                frames: frames.into_iter().map(|f| f.frame).collect(),
            }
        })
        .collect()
}

/// The split of the `i`-th of `n` subjects: the first go to train, then validation, then test.
pub fn split_of(i: usize, n: usize, cfg: &SimDatasetConfig) -> Split {
    let test = ((n as f64 * cfg.test_fraction).round() as usize).max(1);
    let val = ((n as f64 * cfg.validation_fraction).round() as usize).max(1);
    if i >= n.saturating_sub(test) {
        Split::Test
    } else if i >= n.saturating_sub(test + val) {
        Split::Validation
    } else {
        Split::Train
    }
}

/// Appends the session's windows to `out`, exactly as the monitor would see them: calibration over
/// the first seconds, relative pressures, and the slow re-tare while the mat is empty (here the
/// truth says when; on the phone the model's confident "absent" does).
pub fn session_windows(s: &Session, calibrate_s: f64, stride: usize, out: &mut Windows) {
    let mut fx = FeatureExtractor::new();
    fx.calibrate(calibrate_s);
    let mut window = [0f32; WINDOW_LEN];
    let mut last_t = None;
    let mut ready_count = 0usize;
    for (frame, label) in s.frames.iter().zip(&s.labels) {
        let dt = last_t.map_or(0.0, |t| frame.t - t);
        last_t = Some(frame.t);
        if fx.push(frame) == FeatureStatus::Ready && fx.window(&mut window) {
            if ready_count.is_multiple_of(stride.max(1)) {
                out.x.extend_from_slice(&window);
                out.y.push(label.index() as u32);
                out.subject.push(s.subject);
            }
            ready_count += 1;
            if *label == PresenceState::Absent {
                fx.retare(dt);
            }
        }
    }
}

/// The three splits of a simulated dataset.
pub struct Dataset {
    /// Training windows.
    pub train: Windows,
    /// Validation windows.
    pub validation: Windows,
    /// Test windows (subjects never seen in training).
    pub test: Windows,
}

/// Simulates sessions and turns them into split windows.
pub fn build_sim_dataset(sim: &SimConfig, cfg: &SimDatasetConfig) -> Dataset {
    let sessions = simulate_sessions(sim, cfg);
    let n = sessions.len();
    let mut d = Dataset { train: Windows::default(), validation: Windows::default(), test: Windows::default() };
    for (i, s) in sessions.iter().enumerate() {
        let out = match split_of(i, n, cfg) {
            Split::Train => &mut d.train,
            Split::Validation => &mut d.validation,
            Split::Test => &mut d.test,
        };
        session_windows(s, cfg.calibrate_s, cfg.stride, out);
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_never_cross_splits() {
        let cfg = SimDatasetConfig { sessions: 12, session_s: 60.0, ..Default::default() };
        let d = build_sim_dataset(&SimConfig::default(), &cfg);
        let subjects = |w: &Windows| w.subject.iter().copied().collect::<std::collections::BTreeSet<_>>();
        let (a, b, c) = (subjects(&d.train), subjects(&d.validation), subjects(&d.test));
        assert!(!a.is_empty() && !b.is_empty() && !c.is_empty());
        assert!(a.is_disjoint(&b) && a.is_disjoint(&c) && b.is_disjoint(&c));
        assert_eq!(d.train.x.len(), d.train.len() * WINDOW_LEN);
    }

    #[test]
    fn windows_are_relative_to_the_calibrated_empty_mat() {
        let cfg = SimDatasetConfig { sessions: 1, session_s: 200.0, stride: 1, ..Default::default() };
        let mut w = Windows::default();
        session_windows(&simulate_sessions(&SimConfig::default(), &cfg)[0], 10.0, 1, &mut w);
        assert!(!w.is_empty());
        // The first windows are of the empty mat: values within a few pascal of zero, not ~1e5.
        assert!(w.window(0).iter().all(|v| v.abs() < 20.0), "{:?}", &w.window(0)[..5]);
        let counts = w.class_counts();
        assert!(counts[0] > 0 && counts[1..].iter().sum::<usize>() > 0, "{counts:?}");
    }
}
