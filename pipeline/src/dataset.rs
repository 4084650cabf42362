//! Datasets of model windows: simulated sessions (and, as they arrive, labelled recordings), turned
//! into windows by rust-core's one feature definition, split by subject — never by frame, because
//! neighbouring windows share frames and would leak between train and test.

use hapticmat_core::features::{FeatureExtractor, FeatureStatus, WINDOW_LEN};
use hapticmat_core::personal::{UNCALIBRATED, USER_LOAD_LEN, share, window_load_pa};
use hapticmat_core::recording::{Recording, RecordingError};
use hapticmat_core::simulator::{SimConfig, Simulator};
use hapticmat_core::state::NUM_STATES;
use hapticmat_core::{Frame, Label, PresenceState};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Target index of a window known only to have a person on the mat, posture not recorded (the real
/// recordings so far): trained with a presence-only loss, scored on presence only.
pub const PRESENT_ANY: u32 = NUM_STATES as u32;
/// Number of targets: the four states and [`PRESENT_ANY`].
pub const NUM_TARGETS: usize = NUM_STATES + 1;

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
    pub labels: Vec<Label>,
    /// The subject's personal calibration on this mat (hapticmat_core::personal), Pa, if known.
    pub reference_load_pa: Option<f32>,
}

/// Windows laid end to end, with their labels and subjects.
#[derive(Debug, Clone, Default)]
pub struct Windows {
    /// `len() * WINDOW_LEN` values, channel-major per window.
    pub x: Vec<f32>,
    /// Target per window: a state index, or [`PRESENT_ANY`].
    pub y: Vec<u32>,
    /// Subject per window.
    pub subject: Vec<u64>,
    /// Per window, the share of the subject's personal-calibration load on the mat
    /// (hapticmat_core::personal::share); NaN when the subject has no calibration.
    pub share: Vec<f32>,
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
    /// Windows per target: the four states in order, then [`PRESENT_ANY`].
    pub fn class_counts(&self) -> [usize; NUM_TARGETS] {
        let mut c = [0; NUM_TARGETS];
        self.y.iter().for_each(|&y| c[(y as usize).min(NUM_STATES)] += 1);
        c
    }

    /// Appends another set.
    pub fn extend(&mut self, other: &Windows) {
        self.x.extend_from_slice(&other.x);
        self.y.extend_from_slice(&other.y);
        self.subject.extend_from_slice(&other.subject);
        self.share.extend_from_slice(&other.share);
    }

    /// The `user_load` model input of window `i`: `[share, 1]` when `calibrated` and the subject
    /// has a calibration, else uncalibrated `[0, 0]`.
    pub fn user_load(&self, i: usize, calibrated: bool) -> [f32; USER_LOAD_LEN] {
        match self.share.get(i) {
            Some(&s) if calibrated && s.is_finite() => [s, 1.0],
            _ => UNCALIBRATED,
        }
    }

    /// [`user_load`](Self::user_load) of every window, laid end to end.
    pub fn user_loads(&self, calibrated: bool) -> Vec<f32> {
        (0..self.len()).flat_map(|i| self.user_load(i, calibrated)).collect()
    }

    /// Whether any window has a personal calibration.
    pub fn has_calibrations(&self) -> bool {
        self.share.iter().any(|s| s.is_finite())
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
    /// Hours-long sessions besides the short ones (evenings and nights: weather drifting under
    /// long stays, warm air, re-inflation), one subject each.
    pub long_sessions: usize,
    /// Length of each long session, s.
    pub long_session_s: f64,
    /// Take every `long_stride`-th window of a long session (long stays repeat themselves).
    pub long_stride: usize,
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
            long_sessions: 24,
            long_session_s: 3.0 * 3600.0,
            long_stride: 12,
            validation_fraction: 0.15,
            test_fraction: 0.15,
        }
    }
}

/// Simulates `cfg.sessions` sessions, each with its own subject and mat.
pub fn simulate_sessions(sim: &SimConfig, cfg: &SimDatasetConfig) -> Vec<Session> {
    simulate(sim, cfg.seed, 0, cfg.sessions, cfg.session_s)
}

/// Simulates `cfg.long_sessions` hours-long sessions, subjects distinct from the short ones. They
/// are evenings and nights: most stays and absences are long, so the weather has time to move under
/// a person (and to turn) before the baseline can see the empty mat again.
pub fn simulate_long_sessions(sim: &SimConfig, cfg: &SimDatasetConfig) -> Vec<Session> {
    let evening = SimConfig {
        long_stay_probability: sim.long_stay_probability.max(0.6),
        long_away_probability: sim.long_away_probability.max(0.5),
        ..sim.clone()
    };
    simulate(&evening, cfg.seed, 1 << 32, cfg.long_sessions, cfg.long_session_s)
}

fn simulate(sim: &SimConfig, seed: u64, first: u64, n: usize, seconds: f64) -> Vec<Session> {
    (0..n)
        .map(|i| {
            let subject = seed.wrapping_mul(1_000_003).wrapping_add(first + i as u64);
            let mut s = Simulator::new(sim.clone(), subject);
            let frames = s.session(seconds);
            Session {
                id: format!("sim-{subject}"),
                subject,
                reference_load_pa: Some(s.personal_reference_load_pa() as f32),
                labels: frames.iter().map(|f| Label::State(f.label)).collect(),
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
/// the first seconds when the session starts empty (else the first still stretch), then the
/// baseline tracker's stillness rule and weather trend — the same code as on the phone, never the
/// truth, so the model learns the offsets it will meet in service.
pub fn session_windows(s: &Session, calibrate_s: f64, stride: usize, out: &mut Windows) {
    let mut fx = FeatureExtractor::new();
    if s.labels.first() == Some(&Label::State(PresenceState::Absent)) {
        fx.calibrate(calibrate_s);
    }
    let mut window = [0f32; WINDOW_LEN];
    let mut ready_count = 0usize;
    for (frame, label) in s.frames.iter().zip(&s.labels) {
        if fx.push(frame) == FeatureStatus::Ready && fx.window(&mut window) {
            if ready_count.is_multiple_of(stride.max(1)) {
                out.x.extend_from_slice(&window);
                out.y.push(target(*label));
                out.subject.push(s.subject);
                out.share.push(s.reference_load_pa.map_or(f32::NAN, |r| share(window_load_pa(&window), r)));
            }
            ready_count += 1;
        }
    }
}

/// The training target of a label.
pub fn target(label: Label) -> u32 {
    match label {
        Label::State(s) => s.index() as u32,
        Label::Present => PRESENT_ANY,
    }
}

/// Why recordings could not be imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// A file could not be read as a recording.
    #[error(transparent)]
    Recording(#[from] RecordingError),
    /// A folder could not be listed.
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    /// A file has no `Label` column and its name names no state.
    #[error(
        "{path}: no Label column, and the file name does not start with a state (absent/empty, sitting, lying_full, lying_partial, present/human)"
    )]
    Unlabelled { path: PathBuf },
    /// A folder holds no recording.
    #[error("{path}: no .csv recordings")]
    Empty { path: PathBuf },
}

/// The label a file name gives its rows: the longest state name the stem starts with
/// (`sitting_3.csv`, `lying_full-anna.csv`, `empty_or_cat_on_mat.csv`, `human_on_mat.csv`).
pub fn label_from_file_name(path: &Path) -> Option<Label> {
    let stem = path.file_stem()?.to_str()?.to_ascii_lowercase();
    const NAMES: [&str; 8] =
        ["lying_partial", "lying_full", "sitting", "absent", "empty", "present", "person", "human"];
    NAMES.iter().find(|n| stem.starts_with(*n)).and_then(|n| n.parse().ok())
}

/// Imports labelled recordings as sessions. Each argument is a file (one session) or a folder (one
/// mat: its CSV files, in time order, play as one session, time running on across files as in a
/// replay). Labels come from each row's `Label` column, else from the file name. Bad rows are
/// skipped; their count is returned.
pub fn import_recordings(paths: &[PathBuf]) -> Result<(Vec<Session>, usize), ImportError> {
    let mut sessions = Vec::new();
    let mut skipped = 0;
    for path in paths {
        let files = if path.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(|source| ImportError::Io { path: path.clone(), source })?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x.eq_ignore_ascii_case("csv")))
                .collect();
            if files.is_empty() {
                return Err(ImportError::Empty { path: path.clone() });
            }
            files.sort();
            files
        } else {
            vec![path.clone()]
        };
        let mut recordings = files.iter().map(Recording::read).collect::<Result<Vec<_>, _>>()?;
        recordings.sort_by_key(|r| r.rows.first().map(|row| row.timestamp));
        let mut session = Session {
            id: path.display().to_string(),
            subject: subject_of(path),
            frames: Vec::new(),
            labels: Vec::new(),
            reference_load_pa: None,
        };
        let mut offset = 0.0;
        for rec in &recordings {
            skipped += rec.skipped.len();
            let file_label = label_from_file_name(&rec.path);
            for (row, frame) in rec.rows.iter().zip(rec.frames()) {
                let label =
                    row.label.or(file_label).ok_or_else(|| ImportError::Unlabelled { path: rec.path.clone() })?;
                session.frames.push(Frame { t: offset + frame.t, pressures: frame.pressures });
                session.labels.push(label);
            }
            if let Some(last) = session.frames.last() {
                offset = last.t + rec.median_interval().unwrap_or(0.15);
            }
        }
        sessions.push(session);
    }
    Ok((sessions, skipped))
}

/// A stable subject id for an imported session (FNV-1a of its path), so splits do not move.
fn subject_of(path: &Path) -> u64 {
    path.to_string_lossy().bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3))
}

/// The split of an imported session, from its subject id (70 / 15 / 15 like the simulated ones).
pub fn split_of_subject(subject: u64, cfg: &SimDatasetConfig) -> Split {
    let u = (subject % 10_000) as f64 / 10_000.0;
    if u < cfg.test_fraction {
        Split::Test
    } else if u < cfg.test_fraction + cfg.validation_fraction {
        Split::Validation
    } else {
        Split::Train
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
    build_dataset(sim, cfg, &[])
}

/// Simulated sessions (short and long) plus imported ones, split by subject, as windows.
pub fn build_dataset(sim: &SimConfig, cfg: &SimDatasetConfig, imported: &[Session]) -> Dataset {
    let short = simulate_sessions(sim, cfg);
    let long = simulate_long_sessions(sim, cfg);
    let mut d = Dataset { train: Windows::default(), validation: Windows::default(), test: Windows::default() };
    // Each group is split on its own so that long sessions land in every split.
    let (ns, nl) = (short.len(), long.len());
    let sessions = short
        .iter()
        .enumerate()
        .map(|(i, s)| (s, split_of(i, ns, cfg), cfg.stride))
        .chain(long.iter().enumerate().map(|(i, s)| (s, split_of(i, nl, cfg), cfg.long_stride)))
        .chain(imported.iter().map(|s| (s, split_of_subject(s.subject, cfg), cfg.stride)));
    for (s, split, stride) in sessions {
        let out = match split {
            Split::Train => &mut d.train,
            Split::Validation => &mut d.validation,
            Split::Test => &mut d.test,
        };
        session_windows(s, cfg.calibrate_s, stride, out);
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_never_cross_splits() {
        let cfg = SimDatasetConfig {
            sessions: 12,
            session_s: 60.0,
            long_sessions: 3,
            long_session_s: 900.0,
            ..Default::default()
        };
        let d = build_sim_dataset(&SimConfig::default(), &cfg);
        let subjects = |w: &Windows| w.subject.iter().copied().collect::<std::collections::BTreeSet<_>>();
        let (a, b, c) = (subjects(&d.train), subjects(&d.validation), subjects(&d.test));
        assert!(!a.is_empty() && !b.is_empty() && !c.is_empty());
        assert!(a.is_disjoint(&b) && a.is_disjoint(&c) && b.is_disjoint(&c));
        assert_eq!(d.train.x.len(), d.train.len() * WINDOW_LEN);
    }

    #[test]
    fn windows_are_relative_to_the_calibrated_empty_mat() {
        let cfg = SimDatasetConfig { sessions: 1, session_s: 200.0, stride: 1, long_sessions: 0, ..Default::default() };
        let mut w = Windows::default();
        session_windows(&simulate_sessions(&SimConfig::default(), &cfg)[0], 10.0, 1, &mut w);
        assert!(!w.is_empty());
        // The first windows are of the empty mat: values within a few pascal of zero, not ~1e5.
        assert!(w.window(0).iter().all(|v| v.abs() < 20.0), "{:?}", &w.window(0)[..5]);
        let counts = w.class_counts();
        assert!(counts[0] > 0 && counts[1..].iter().sum::<usize>() > 0, "{counts:?}");
    }

    fn real_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/seroton-mat")
    }

    #[test]
    fn file_names_label_recordings_without_a_label_column() {
        let l = |n: &str| label_from_file_name(Path::new(n));
        assert_eq!(l("empty_or_cat_on_mat.csv"), Some(Label::State(PresenceState::Absent)));
        assert_eq!(l("human_on_mat.csv"), Some(Label::Present));
        assert_eq!(l("lying_partial-anna.csv"), Some(Label::State(PresenceState::LyingPartial)));
        assert_eq!(l("lying_full_2.csv"), Some(Label::State(PresenceState::LyingFull)));
        assert_eq!(l("session3.csv"), None);
    }

    #[test]
    fn a_folder_of_real_recordings_imports_as_one_session_in_time_order() {
        let (sessions, skipped) = import_recordings(&[real_dir()]).unwrap();
        assert_eq!((sessions.len(), skipped), (1, 0));
        let s = &sessions[0];
        assert_eq!(s.frames.len(), 764);
        // The empty recording was made first: the session starts empty, then the person.
        assert_eq!(s.labels[0], Label::State(PresenceState::Absent));
        assert_eq!(s.labels[763], Label::Present);
        let mut w = Windows::default();
        session_windows(s, 10.0, 1, &mut w);
        let counts = w.class_counts();
        assert!(counts[0] > 200 && counts[NUM_STATES] > 300, "{counts:?}");
    }

    #[test]
    fn unlabelled_files_are_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("session3.csv");
        std::fs::copy(real_dir().join("human_on_mat.csv"), &p).unwrap();
        let err = import_recordings(&[p]).unwrap_err();
        assert!(matches!(err, ImportError::Unlabelled { .. }), "{err}");
        assert!(err.to_string().contains("session3.csv"));
    }
}
