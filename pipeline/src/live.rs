//! The live tools that replace the makers' Python scripts: the monitor's JSON line format and the
//! recorder that writes the makers' CSV format.

use chrono::{Local, NaiveDateTime};
use hapticmat_core::features::{Baseline, BaselineEvent, CalibrationError};
use hapticmat_core::monitor::MonitorEvent;
use hapticmat_core::recording::{RecordingRow, RecordingWriter};
use hapticmat_core::source::{CancelToken, FrameSource, SourceError, SourceEvent, SourceStatus};
use hapticmat_core::{Label, StateUpdate};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// One line of `pipeline monitor --json`: exactly these six fields (a contract other tools parse).
#[derive(Debug, Serialize)]
pub struct JsonState {
    /// Seconds from the start of the session.
    pub t: f64,
    /// `absent`, `sitting`, `lying_full`, `lying_partial` or `unknown`.
    pub state: &'static str,
    /// Whether a person is on the mat.
    pub present: bool,
    /// Confidence in `state`, 0..1.
    pub confidence: f32,
    /// Seconds since a person was last on the mat; `null` while present or unknown.
    pub absent_for: Option<f64>,
    /// With a person on the mat, how sure the model is of the posture among the three (0..1; the app
    /// names it only from 0.7); `null` otherwise.
    pub posture_confidence: Option<f32>,
}

/// The JSON line for a state update (no trailing newline).
pub fn json_line(u: &StateUpdate) -> String {
    let j = JsonState {
        t: (u.t * 1000.0).round() / 1000.0,
        state: u.state_name(),
        present: u.present,
        confidence: (u.confidence * 1000.0).round() / 1000.0,
        absent_for: u.absent_for_s.map(|s| (s * 1000.0).round() / 1000.0),
        posture_confidence: u.posture_confidence.map(|c| (c * 1000.0).round() / 1000.0),
    };
    serde_json::to_string(&j).unwrap_or_default()
}

/// What a recording session wrote.
#[derive(Debug, Clone, Serialize)]
pub struct RecordSummary {
    /// The finished CSV file.
    pub path: PathBuf,
    /// Rows written.
    pub rows: u64,
    /// Notifications skipped as bad frames.
    pub skipped: u64,
    /// Times the mat's link dropped (each followed by a reconnect).
    pub disconnects: u64,
}

/// The error that ended a source before its time: a fatal Bluetooth error reported as the last skip.
fn fatal(event: &SourceEvent) -> Option<SourceError> {
    match event {
        SourceEvent::Skipped(e @ SourceError::Ble(ble)) if ble.is_fatal() => Some(e.clone()),
        _ => None,
    }
}

/// Remembers a source's fatal error so a session that ended by it fails with it instead of looking done.
#[derive(Debug, Default)]
pub struct FatalWatch(Option<SourceError>);

impl FatalWatch {
    /// Looks at one event.
    pub fn see(&mut self, event: &SourceEvent) {
        if let Some(e) = fatal(event) {
            self.0 = Some(e);
        }
    }

    /// The fatal error, if the source reported one.
    pub fn into_error(self) -> Option<SourceError> {
        self.0
    }
}

/// This mat's saved baseline, as `monitor --baseline FILE` keeps it: the empty-mat pressures survive a
/// restart, so a session that starts with someone already on the mat still has a baseline.
///
/// The rule: at the start, the file is used when it exists, unless the user asked to calibrate again
/// (then the new calibration replaces it); a file that exists but cannot be read is an error, never
/// silently ignored. During the session, every baseline the monitor takes — an explicit calibration or a
/// still stretch taken automatically — is saved atomically over it; a refused calibration saves nothing.
#[derive(Debug, Clone)]
pub struct BaselineFile {
    path: PathBuf,
    recalibrate: bool,
}

impl BaselineFile {
    /// The file at `path`; `recalibrate` when this session calibrates anew and must not start from it.
    pub fn new(path: impl Into<PathBuf>, recalibrate: bool) -> Self {
        BaselineFile { path: path.into(), recalibrate }
    }

    /// Where it lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The baseline to start from: `None` when recalibrating or when nothing was saved yet (file I/O).
    pub fn load(&self) -> Result<Option<Baseline>, CalibrationError> {
        if self.recalibrate || !self.path.exists() {
            return Ok(None);
        }
        Baseline::load(&self.path).map(Some)
    }

    /// Saves the baseline a monitor event carries, if it carries one (file I/O); `None` for every other
    /// event.
    pub fn on_event<'e>(&self, event: &'e MonitorEvent) -> Option<Result<&'e Baseline, CalibrationError>> {
        match event {
            MonitorEvent::Baseline(BaselineEvent::Calibrated(b) | BaselineEvent::AutoBaseline(b)) => {
                Some(b.save(&self.path).map(|()| b))
            }
            _ => None,
        }
    }
}

/// Records frames from `source` for `seconds` of session time into `out` (makers' CSV format, with
/// a `Label` column when `label` is given). Timestamps are local wall time: `start` plus the frame's
/// session time. The file appears only when complete. `on_event` sees every source event. A source that
/// ends by a fatal error (a mat that never answers, no adapter) fails the recording with that error.
pub fn record(
    source: &mut dyn FrameSource,
    cancel: &CancelToken,
    seconds: f64,
    label: Option<Label>,
    out: &Path,
    start: Option<NaiveDateTime>,
    mut on_event: impl FnMut(&SourceEvent),
) -> anyhow::Result<RecordSummary> {
    let start = start.unwrap_or_else(|| Local::now().naive_local());
    let mut writer = RecordingWriter::create(out, label.is_some())?;
    let mut skipped = 0;
    let mut disconnects = 0;
    let mut watch = FatalWatch::default();
    while !cancel.is_cancelled() {
        let Some(event) = source.next_event() else { break };
        on_event(&event);
        watch.see(&event);
        match event {
            SourceEvent::Frame(f) => {
                if f.t > seconds {
                    break;
                }
                let timestamp = start + chrono::Duration::microseconds((f.t * 1e6) as i64);
                writer.write(&RecordingRow { timestamp, pressures: f.pressures, label })?;
            }
            SourceEvent::Skipped(_) => skipped += 1,
            SourceEvent::Status(SourceStatus::Disconnected { .. }) => disconnects += 1,
            SourceEvent::Status(_) => {}
        }
    }
    if let Some(error) = watch.into_error() {
        // The unfinished file is dropped with the writer: only complete recordings appear.
        return Err(error.into());
    }
    let rows = writer.rows();
    let path = writer.finish()?;
    Ok(RecordSummary { path, rows, skipped, disconnects })
}

#[cfg(test)]
mod tests {
    use super::*;
    use hapticmat_core::PresenceState;
    use hapticmat_core::recording::Recording;
    use hapticmat_core::simulator::SimConfig;
    use hapticmat_core::source::Pace;
    use hapticmat_core::source::sim::SimSource;

    #[test]
    fn json_lines_carry_exactly_the_contract_fields() {
        let u = StateUpdate {
            t: 1.23456,
            state: Some(PresenceState::LyingFull),
            present: true,
            confidence: 0.87654,
            pressures: [0.0; 4],
            inference: None,
            posture_confidence: Some(0.9),
            absent_for_s: None,
        };
        let v: serde_json::Value = serde_json::from_str(&json_line(&u)).unwrap();
        let obj = v.as_object().unwrap();
        assert_eq!(obj.len(), 6);
        assert!(v["absent_for"].is_null(), "present: absent_for is null");
        assert_eq!(v["posture_confidence"], 0.9);
        assert_eq!(v["state"], "lying_full");
        assert_eq!(v["present"], true);
        assert!((v["t"].as_f64().unwrap() - 1.235).abs() < 1e-9);
        let unknown = StateUpdate { state: None, present: false, confidence: 0.0, ..u };
        assert_eq!(serde_json::from_str::<serde_json::Value>(&json_line(&unknown)).unwrap()["state"], "unknown");
        let absent =
            StateUpdate { state: Some(PresenceState::Absent), present: false, absent_for_s: Some(61.23456), ..u };
        let v: serde_json::Value = serde_json::from_str(&json_line(&absent)).unwrap();
        assert!((v["absent_for"].as_f64().unwrap() - 61.235).abs() < 1e-9, "{v}");
    }

    /// A source that plays a fixed list of events, then ends.
    struct Scripted(std::vec::IntoIter<SourceEvent>);

    impl FrameSource for Scripted {
        fn next_event(&mut self) -> Option<SourceEvent> {
            self.0.next()
        }
        fn describe(&self) -> String {
            "scripted".to_string()
        }
    }

    #[test]
    fn a_source_ended_by_a_fatal_error_fails_the_recording_and_leaves_no_file() {
        use hapticmat_core::source::ble::BleError;
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("rec.csv");
        let never = BleError::NeverAnswered { device: "Seroton-EMU".to_string(), connections: 2 };
        let frame = hapticmat_core::Frame { t: 0.1, pressures: [98_000.0; 4] };
        let mut source = Scripted(
            vec![
                SourceEvent::Frame(frame),
                SourceEvent::Status(SourceStatus::Disconnected { reason: "gone".to_string() }),
                SourceEvent::Skipped(SourceError::Ble(never.clone())),
            ]
            .into_iter(),
        );
        let cancel = CancelToken::new();
        let err = record(&mut source, &cancel, 10.0, None, &out, None, |_| {}).unwrap_err();
        assert_eq!(err.downcast_ref::<SourceError>(), Some(&SourceError::Ble(never)));
        assert!(!out.exists());
    }

    #[test]
    fn recording_counts_dropped_links_and_skips_but_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("rec.csv");
        let frame = |t| SourceEvent::Frame(hapticmat_core::Frame { t, pressures: [98_000.0; 4] });
        let not_found = hapticmat_core::source::ble::BleError::NotFound { name: None, timeout: Default::default() };
        let mut source = Scripted(
            vec![
                frame(0.1),
                SourceEvent::Status(SourceStatus::Disconnected { reason: "gone".to_string() }),
                SourceEvent::Skipped(SourceError::Ble(not_found)),
                frame(0.2),
            ]
            .into_iter(),
        );
        let cancel = CancelToken::new();
        let s = record(&mut source, &cancel, 10.0, None, &out, None, |_| {}).unwrap();
        assert_eq!((s.rows, s.skipped, s.disconnects), (2, 1, 1));
    }

    #[test]
    fn recording_a_simulated_mat_writes_a_readable_labelled_csv() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("rec.csv");
        let cancel = CancelToken::new();
        let mut src = SimSource::new(SimConfig::default(), 5, Pace::Max, cancel.clone());
        let s = record(&mut src, &cancel, 30.0, Some(Label::State(PresenceState::Absent)), &out, None, |_| {}).unwrap();
        assert!(s.rows > 150, "{} rows in 30 s", s.rows);
        let r = Recording::read(&out).unwrap();
        assert_eq!(r.rows.len() as u64, s.rows);
        assert!(r.skipped.is_empty());
        assert!(r.rows.iter().all(|row| row.label == Some(Label::State(PresenceState::Absent))));
        let span = (r.rows.last().unwrap().timestamp - r.rows[0].timestamp).num_milliseconds();
        assert!((29_000..=30_000).contains(&span), "{span} ms");
    }

    fn calibrated(p: f32) -> MonitorEvent {
        MonitorEvent::Baseline(BaselineEvent::Calibrated(Baseline { pressures: [p, p + 1.0, p + 2.0, p + 3.0] }))
    }

    #[test]
    fn a_saved_baseline_is_used_next_session_unless_the_user_calibrates_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mat.baseline.json");
        let file = BaselineFile::new(&path, false);
        assert_eq!(file.load().unwrap(), None, "nothing saved yet");

        let event = calibrated(98_000.0);
        let saved = file.on_event(&event).expect("a calibration is saved").unwrap();
        assert_eq!(saved.pressures[0], 98_000.0);
        assert_eq!(file.load().unwrap().map(|b| b.pressures), Some([98_000.0, 98_001.0, 98_002.0, 98_003.0]));
        assert_eq!(BaselineFile::new(&path, true).load().unwrap(), None, "recalibrating ignores the file");

        // An automatic baseline replaces it too; a refused calibration and other events save nothing.
        let auto = MonitorEvent::Baseline(BaselineEvent::AutoBaseline(Baseline { pressures: [99_000.0; 4] }));
        assert!(file.on_event(&auto).unwrap().is_ok());
        let refused = MonitorEvent::Baseline(BaselineEvent::CalibrationFailed(CalibrationError::TooFewFrames {
            frames: 3,
            needed: 10,
        }));
        assert!(file.on_event(&refused).is_none());
        assert_eq!(file.load().unwrap().map(|b| b.pressures), Some([99_000.0; 4]));
    }

    #[test]
    fn a_damaged_baseline_file_is_an_error_naming_it_not_a_silent_fresh_start() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mat.baseline.json");
        std::fs::write(&path, b"{\"pressures\": [1, 2").unwrap();
        let e = BaselineFile::new(&path, false).load().unwrap_err();
        assert!(matches!(e, CalibrationError::File { .. }), "{e:?}");
        assert!(e.to_string().contains("mat.baseline.json"), "{e}");
        // Saving where no file can be written (its "folder" is a file) fails with the path; the session goes on.
        let unwritable = BaselineFile::new(path.join("b.json"), false);
        let e = unwritable.on_event(&calibrated(98_000.0)).unwrap().unwrap_err();
        assert!(e.to_string().contains("b.json"), "{e}");
    }
}
