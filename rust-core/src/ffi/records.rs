//! The plain values that cross the FFI (records and enums), and their conversions from the core's types.
//! Kotlin gets them as immutable data classes, enums and sealed classes.

use super::error::HapticMatError;
use crate::delivery::{InstalledModel, Outcome, ProgressEvent};
use crate::features::BaselineEvent;
use crate::inference::ModelInfo;
use crate::personal::{PersonalCalibration, PersonalCalibrationError};
use crate::source::SourceStatus;
use crate::source::ble::DiscoveredMat;
use std::path::PathBuf;
use std::time::SystemTime;

/// What is on the mat, as the app shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum PresenceState {
    /// Not known yet: not running, calibrating, no baseline, or the first window still filling.
    Unknown,
    /// Nobody (a pet or an object counts as absent).
    Absent,
    /// A person sitting on the mat.
    Sitting,
    /// A person lying with the whole body on the mat.
    LyingFull,
    /// A person lying with only part of the body on the mat.
    LyingPartial,
}

impl From<Option<crate::state::PresenceState>> for PresenceState {
    fn from(s: Option<crate::state::PresenceState>) -> Self {
        use crate::state::PresenceState as Core;
        match s {
            None => PresenceState::Unknown,
            Some(Core::Absent) => PresenceState::Absent,
            Some(Core::Sitting) => PresenceState::Sitting,
            Some(Core::LyingFull) => PresenceState::LyingFull,
            Some(Core::LyingPartial) => PresenceState::LyingPartial,
        }
    }
}

/// The link to the mat, for the app's "connected" indicator.
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum ConnectionStatus {
    /// No session is running.
    Idle,
    /// Looking for the mat.
    Scanning,
    /// Receiving frames from the mat (or the replayed file, or the simulator).
    Connected {
        /// What is connected: the mat's advertised name, a recording's file name, or "simulated mat".
        source: String,
    },
    /// The link dropped; the source reconnects by itself.
    Disconnected {
        /// Why it dropped.
        reason: String,
    },
    /// Waiting before the next reconnect attempt.
    Reconnecting {
        /// Attempt number, from 1.
        attempt: u32,
        /// Wait before it, ms.
        delay_ms: u64,
    },
}

impl From<SourceStatus> for ConnectionStatus {
    fn from(s: SourceStatus) -> Self {
        match s {
            SourceStatus::Scanning => ConnectionStatus::Scanning,
            SourceStatus::Connected { name } => {
                // Replay reports the file's path: keep only its name (folders may hold a user name).
                let source =
                    std::path::Path::new(&name).file_name().map_or(name.clone(), |n| n.to_string_lossy().into_owned());
                ConnectionStatus::Connected { source }
            }
            SourceStatus::Disconnected { reason } => ConnectionStatus::Disconnected { reason },
            SourceStatus::Reconnecting { attempt, delay } => {
                ConnectionStatus::Reconnecting { attempt, delay_ms: delay.as_millis().min(u64::MAX as u128) as u64 }
            }
        }
    }
}

/// Whether a session runs and how the last one ended.
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum SessionStatus {
    /// Not started, or stopped by the app.
    Idle,
    /// Frames are being processed.
    Running,
    /// The source ended by itself (the end of a replay).
    Ended,
    /// The session stopped on an error (Bluetooth gone for good, inference failure).
    Failed {
        /// What failed, as `HapticMatError`'s message.
        message: String,
    },
}

/// The empty-mat baseline the model's input is relative to.
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum BaselineStatus {
    /// None yet: waiting for a calibration or a still (empty) stretch.
    Missing,
    /// A calibration is taking the next seconds as the empty mat.
    Calibrating,
    /// Set by a calibration of the empty mat.
    Calibrated,
    /// Taken automatically from a still stretch (no calibration was asked for).
    Automatic,
    /// The last calibration was refused (the mat was not empty and still); the old baseline stays.
    CalibrationFailed {
        /// Why, e.g. which bladder moved.
        reason: String,
    },
}

impl From<&BaselineEvent> for BaselineStatus {
    fn from(e: &BaselineEvent) -> Self {
        match e {
            BaselineEvent::Calibrated(_) => BaselineStatus::Calibrated,
            BaselineEvent::AutoBaseline(_) => BaselineStatus::Automatic,
            BaselineEvent::CalibrationFailed(e) => BaselineStatus::CalibrationFailed { reason: e.to_string() },
        }
    }
}

/// The user's personal calibration ("lie fully on the mat for 10 s", once per mat and user): their own
/// load on the mat, which a model that reads it ([`ModelDetails::reads_personal_calibration`]) uses to
/// tell sitting from lying partially.
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum PersonalCalibrationStatus {
    /// None set: the user never calibrated on this mat (or the app has not loaded it).
    Missing,
    /// Measuring the user lying fully on the mat; `remaining_s` to go, in whole seconds.
    Measuring {
        /// Seconds left, rounded up (10, 9, … 1): the state changes once a second while measuring.
        remaining_s: f64,
    },
    /// In use: the user's load lying fully.
    Calibrated {
        /// Sum of the four bladders' rise over the empty mat, Pa; save it per mat and user.
        reference_load_pa: f32,
    },
    /// The last measurement was refused; the previous calibration, if any, stays in use.
    Failed {
        /// Why, to show the user (nobody on the mat, they moved, no empty-mat baseline yet, …).
        reason: String,
        /// The calibration still in use, if any.
        reference_load_pa: Option<f32>,
    },
}

impl PersonalCalibrationStatus {
    /// The status of a calibration in use, or of none.
    pub(crate) fn of(calibration: Option<PersonalCalibration>) -> Self {
        calibration.map_or(PersonalCalibrationStatus::Missing, |c| PersonalCalibrationStatus::Calibrated {
            reference_load_pa: c.reference_load_pa,
        })
    }

    /// The status after a measurement ended with `result`, `previous` being the calibration in use
    /// before it (the core keeps it on failure).
    pub(crate) fn after(
        result: &Result<PersonalCalibration, PersonalCalibrationError>,
        previous: Option<PersonalCalibration>,
    ) -> Self {
        match result {
            Ok(c) => PersonalCalibrationStatus::of(Some(*c)),
            Err(e) => PersonalCalibrationStatus::Failed {
                reason: e.to_string(),
                reference_load_pa: previous.map(|c| c.reference_load_pa),
            },
        }
    }
}

/// The monitor's state: given to a new listener at once, then again on every change of presence,
/// connection, session, baseline or personal calibration (not on every frame: frames have their own
/// listener).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct MonitorState {
    /// The smoothed presence state.
    pub presence: PresenceState,
    /// Whether a person is on the mat (false while unknown).
    pub present: bool,
    /// Confidence in `presence`, 0..1, as of the last change (0 while unknown).
    pub confidence: f32,
    /// While someone is on the mat: how sure the posture is, 0..1, apart from presence. Four
    /// bladders cannot always tell sitting from lying: below [`crate::monitor::POSTURE_CONFIDENT`]
    /// show "on the mat" rather than a posture. `None` while absent or unknown.
    pub posture_confidence: Option<f32>,
    /// Session time of the change, s (0 before the first frame).
    pub session_time_s: f64,
    /// The link to the mat.
    pub connection: ConnectionStatus,
    /// Whether a session runs.
    pub session: SessionStatus,
    /// The empty-mat baseline.
    pub baseline: BaselineStatus,
    /// The user's personal calibration.
    pub personal_calibration: PersonalCalibrationStatus,
}

impl MonitorState {
    /// The state of a monitor that has not run.
    pub(crate) fn idle() -> Self {
        MonitorState {
            presence: PresenceState::Unknown,
            present: false,
            confidence: 0.0,
            posture_confidence: None,
            session_time_s: 0.0,
            connection: ConnectionStatus::Idle,
            session: SessionStatus::Idle,
            baseline: BaselineStatus::Missing,
            personal_calibration: PersonalCalibrationStatus::Missing,
        }
    }

    /// Whether `other` differs in what listeners are told about (confidence and time alone do not count).
    pub(crate) fn differs_from(&self, other: &MonitorState) -> bool {
        self.presence != other.presence
            || self.connection != other.connection
            || self.session != other.session
            || self.baseline != other.baseline
            || self.personal_calibration != other.personal_calibration
    }
}

/// One frame from the mat, for live charts.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct MatFrame {
    /// Session time, s (from the first frame of the session; a replay keeps its recorded timing).
    pub session_time_s: f64,
    /// When the core processed it, ms since the Unix epoch.
    pub received_at_ms: i64,
    /// Absolute pressure of bladders 1..4, Pa (always four values).
    pub pressures_pa: Vec<f32>,
}

/// Where the monitor's frames come from.
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum MatSource {
    /// The mat over Bluetooth LE (always real time).
    Bluetooth {
        /// Part of the advertised name (case-insensitive) or the exact device id from a scan; `None`
        /// takes the first device that has the mat's characteristics.
        name_or_id: Option<String>,
    },
    /// Recordings in the mat's CSV format, played in order as one session.
    Replay {
        /// CSV files, or folders whose `*.csv` files play in name order.
        paths: Vec<String>,
        /// At the recorded pace (true) or as fast as the monitor takes them (false).
        realtime: bool,
    },
    /// The simulated mat, deterministic from its seed.
    Simulated {
        /// Seed of the simulation.
        seed: u64,
        /// At the mat's pace (true) or as fast as the monitor takes them (false).
        realtime: bool,
    },
}

/// A device heard during a scan, for the pairing screen.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct MatDevice {
    /// Platform device id (an address on Android); pass it as `MatSource.Bluetooth(nameOrId)`.
    pub id: String,
    /// Advertised name, if any.
    pub name: Option<String>,
    /// Signal strength, dBm, if reported.
    pub rssi: Option<i16>,
}

impl From<DiscoveredMat> for MatDevice {
    fn from(d: DiscoveredMat) -> Self {
        MatDevice { id: d.id, name: d.name, rssi: d.rssi }
    }
}

/// The model the monitor runs, for the Model screen.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ModelDetails {
    /// Where it was loaded from.
    pub path: String,
    /// Label names in output order.
    pub labels: Vec<String>,
    /// Whether it is quantized (int8 QDQ).
    pub quantized: bool,
    /// Version of the feature definition it was trained on.
    pub feature_version: u32,
    /// Frames per input window.
    pub window_frames: u32,
    /// The model's input tensors in graph order: `window`, and `user_load` for a model that reads the
    /// personal calibration.
    pub inputs: Vec<String>,
    /// Whether the model reads the personal calibration (without one it gets "unknown" and decides by
    /// the load pattern alone).
    pub reads_personal_calibration: bool,
}

impl From<&ModelInfo> for ModelDetails {
    fn from(i: &ModelInfo) -> Self {
        ModelDetails {
            path: i.path.display().to_string(),
            labels: i.labels.clone(),
            quantized: i.quantized,
            feature_version: i.feature_version,
            window_frames: i.window_frames.try_into().unwrap_or(u32::MAX),
            inputs: i.inputs.clone(),
            reads_personal_calibration: i.takes_user_load(),
        }
    }
}

/// Counters of the current (or last) session.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct MonitorStats {
    /// Frames processed.
    pub frames: u64,
    /// Inputs skipped (bad frames or rows).
    pub skipped: u64,
    /// Inference calls.
    pub inferences: u64,
    /// Median latency of the recent inference calls, µs (`None` before the first).
    pub inference_p50_us: Option<f64>,
    /// 99th percentile of the same, µs.
    pub inference_p99_us: Option<f64>,
}

/// How an updater is set up.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct UpdaterSettings {
    /// The store holding `latest.json`: `https://…/production/`, `http://…/` or `file:///…`.
    pub base_url: String,
    /// The app's private folder for models (created if missing).
    pub cache_dir: String,
    /// The pinned ed25519 public keys: SPKI PEM, or the 32 raw bytes in base64 or hex. Unused (may be
    /// empty) when `root_key` is set.
    pub public_keys: Vec<String>,
    /// The offline root key the app build pins (same formats): then the publisher keys come from the
    /// store's `keys.json`, signed by this root, and rotate without an app update (docs/operations.md).
    #[uniffi(default = None)]
    pub root_key: Option<String>,
    /// The version of the pinned root (1 for the first root; a later build may pin a rotated root).
    #[uniffi(default = 1)]
    pub root_version: u64,
}

/// A model installed by the updater.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct InstalledModelInfo {
    /// Its semantic version.
    pub version: String,
    /// SHA-256 of its bytes, hex.
    pub sha256: String,
    /// The training run it came from.
    pub source_run_id: String,
    /// The manifest sequence it was published under.
    pub sequence: u64,
    /// Where the file is (inside the cache folder).
    pub path: String,
    /// Size, bytes.
    pub size_bytes: u64,
}

impl From<InstalledModel> for InstalledModelInfo {
    fn from(m: InstalledModel) -> Self {
        InstalledModelInfo {
            version: m.version,
            sha256: m.sha256,
            source_run_id: m.source_run_id,
            sequence: m.sequence,
            path: m.path.display().to_string(),
            size_bytes: m.size,
        }
    }
}

/// How a check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum UpdateOutcome {
    /// A new model was installed and serves now.
    Updated,
    /// The serving model is the newest the store offers.
    UpToDate,
    /// What the store offers was refused; the installed model keeps serving.
    Rejected,
    /// The store could not be read (or the cache written); the installed model keeps serving.
    Failed,
}

impl From<Outcome> for UpdateOutcome {
    fn from(o: Outcome) -> Self {
        match o {
            Outcome::Updated => UpdateOutcome::Updated,
            Outcome::UpToDate => UpdateOutcome::UpToDate,
            Outcome::Rejected => UpdateOutcome::Rejected,
            Outcome::Failed => UpdateOutcome::Failed,
        }
    }
}

/// Progress of a check, for a progress bar.
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum UpdateProgress {
    /// Fetching and verifying `latest.json`.
    CheckingManifest,
    /// Model bytes received so far.
    Downloading {
        /// Bytes received.
        received_bytes: u64,
        /// Bytes in all.
        total_bytes: u64,
    },
    /// A request failed and is tried again after a delay.
    Retrying {
        /// Failed tries so far.
        attempt: u32,
        /// Wait before the next try, ms.
        delay_ms: u64,
        /// What failed.
        reason: String,
    },
    /// Checking the hash, loading the model and running its self-test.
    Verifying,
    /// The check ended.
    Finished {
        /// How.
        outcome: UpdateOutcome,
    },
}

impl From<ProgressEvent> for UpdateProgress {
    fn from(e: ProgressEvent) -> Self {
        match e {
            ProgressEvent::CheckingManifest => UpdateProgress::CheckingManifest,
            ProgressEvent::Downloading { received, total } => {
                UpdateProgress::Downloading { received_bytes: received, total_bytes: total }
            }
            ProgressEvent::Retrying { attempt, delay_ms, reason } => {
                UpdateProgress::Retrying { attempt, delay_ms, reason }
            }
            ProgressEvent::Verifying => UpdateProgress::Verifying,
            ProgressEvent::Finished { outcome } => UpdateProgress::Finished { outcome: outcome.into() },
        }
    }
}

/// A check that ended with the newest model serving.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct UpdateResult {
    /// `Updated` or `UpToDate`.
    pub outcome: UpdateOutcome,
    /// The model serving now.
    pub model: InstalledModelInfo,
}

/// How the last check ended, whatever the ending.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct UpdateReport {
    /// Which of the four endings.
    pub outcome: UpdateOutcome,
    /// The model serving after the check.
    pub model: Option<InstalledModelInfo>,
    /// The sequence the store offered, when a manifest was read.
    pub offered_sequence: Option<u64>,
    /// Why, unless updated or up to date (as `HapticMatError`'s message).
    pub error: Option<String>,
    /// When the check ended.
    pub finished_at: SystemTime,
}

impl From<crate::delivery::UpdateReport> for UpdateReport {
    fn from(r: crate::delivery::UpdateReport) -> Self {
        UpdateReport {
            outcome: r.outcome.into(),
            model: r.model.map(Into::into),
            offered_sequence: r.offered_sequence,
            error: r.error.map(|e| HapticMatError::from(e).to_string()),
            finished_at: r.finished_at,
        }
    }
}

/// Folders in a replay list become their `*.csv` files in name order; files stay as given.
pub(crate) fn replay_files(paths: &[String]) -> Result<Vec<PathBuf>, HapticMatError> {
    if paths.is_empty() {
        return Err(HapticMatError::invalid("a replay needs at least one file or folder"));
    }
    let mut files = Vec::new();
    for p in paths {
        let path = PathBuf::from(p);
        if path.is_dir() {
            let read = std::fs::read_dir(&path).map_err(|e| HapticMatError::Recording {
                reason: format!("cannot list folder {}: {e}", path.file_name().unwrap_or_default().to_string_lossy()),
            })?;
            let mut csv: Vec<PathBuf> = read
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|f| f.is_file() && f.extension().is_some_and(|x| x.eq_ignore_ascii_case("csv")))
                .collect();
            if csv.is_empty() {
                return Err(HapticMatError::Recording { reason: "a replay folder holds no .csv file".to_string() });
            }
            csv.sort();
            files.extend(csv);
        } else {
            files.push(path);
        }
    }
    Ok(files)
}
