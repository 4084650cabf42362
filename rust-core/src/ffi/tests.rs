//! Behaviour of the FFI layer that needs no model and no foreign side; the end-to-end behaviour (real
//! model, replayed recordings, updates over HTTP) is tested from Kotlin (`android-app/core/src/test`).

use super::*;
use crate::delivery::UpdateError;
use crate::inference::InferenceError;
use crate::recording::RecordingError;
use crate::source::ble::BleError;
use std::sync::{Arc, Mutex};

/// Serialises the tests that create exported objects: one of them compares the process-wide count.
static COUNTED: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    COUNTED.lock().unwrap_or_else(|p| p.into_inner())
}

#[derive(Default)]
struct Recorder {
    states: Mutex<Vec<MonitorState>>,
    timeouts: Mutex<Vec<f64>>,
}

impl PresenceListener for Recorder {
    fn on_state(&self, state: MonitorState) {
        self.states.lock().unwrap().push(state);
    }
    fn on_absence_timeout(&self, absent_for_s: f64) {
        self.timeouts.lock().unwrap().push(absent_for_s);
    }
}

struct Throws;

impl PresenceListener for Throws {
    fn on_state(&self, _: MonitorState) {
        // What UniFFI does in Rust when a Kotlin listener throws.
        panic!("Callback interface failure: listener threw");
    }
    fn on_absence_timeout(&self, _: f64) {}
}

#[test]
fn exported_objects_can_be_shared_across_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<MatMonitor>();
    send_sync::<ModelUpdater>();
    send_sync::<TaskHandle>();
}

#[test]
fn a_new_listener_gets_the_current_state_at_once() {
    let _serial = serial();
    let monitor = MatMonitor::new();
    let recorder = Arc::new(Recorder::default());
    let _handle = monitor.subscribe_state(recorder.clone());
    assert_eq!(*recorder.states.lock().unwrap(), vec![MonitorState::idle()]);
}

#[test]
fn cancelling_or_dropping_the_handle_ends_the_subscription() {
    let _serial = serial();
    let monitor = MatMonitor::new();
    let a = monitor.subscribe_state(Arc::new(Recorder::default()));
    let b = monitor.subscribe_state(Arc::new(Recorder::default()));
    assert_eq!(monitor.subscription_count(), 2);
    a.cancel();
    a.cancel();
    assert!(a.is_cancelled());
    assert_eq!(monitor.subscription_count(), 1);
    drop(b);
    assert_eq!(monitor.subscription_count(), 0);
}

#[test]
fn a_listener_that_throws_is_unsubscribed_and_nothing_else_breaks() {
    let _serial = serial();
    let monitor = MatMonitor::new();
    let handle = monitor.subscribe_state(Arc::new(Throws));
    assert!(handle.is_cancelled());
    assert_eq!(monitor.subscription_count(), 0);
    assert_eq!(monitor.state(), MonitorState::idle());
}

#[test]
fn starting_without_a_model_is_a_typed_error() {
    let _serial = serial();
    let monitor = MatMonitor::new();
    let source = MatSource::Simulated { seed: 1, realtime: false };
    assert_eq!(monitor.start(source), Err(HapticMatError::ModelNotLoaded));
    assert!(!monitor.is_running());
}

#[test]
fn bad_arguments_name_what_was_expected() {
    let _serial = serial();
    let monitor = MatMonitor::new();
    for bad in [0.0, -1.0, f64::NAN, 601.0] {
        assert!(matches!(monitor.calibrate(bad), Err(HapticMatError::InvalidArgument { .. })), "{bad}");
    }
    assert!(matches!(monitor.set_absence_timeout(Some(-5.0)), Err(HapticMatError::InvalidArgument { .. })));
    monitor.set_absence_timeout(None).unwrap();
    assert_eq!(monitor.absence_timeout(), None);
    assert!(matches!(monitor.load_model(" ".into()), Err(HapticMatError::InvalidArgument { .. })));
    assert!(matches!(set_onnx_runtime_library(String::new()), Err(HapticMatError::InvalidArgument { .. })));
}

#[test]
fn a_missing_model_file_is_invalid_model_named_without_its_folders() {
    let _serial = serial();
    let monitor = MatMonitor::new();
    let e = monitor.load_model("/home/someone/private/model.onnx".into()).unwrap_err();
    assert!(matches!(e, HapticMatError::InvalidModel { .. }), "{e:?}");
    let text = e.to_string();
    assert!(text.contains("model.onnx") && !text.contains("someone"), "{text}");
}

#[test]
fn core_errors_map_to_the_stable_variants() {
    assert!(matches!(HapticMatError::from(BleError::NoAdapter), HapticMatError::BluetoothUnavailable { .. }));
    assert_eq!(HapticMatError::from(BleError::PermissionDenied), HapticMatError::BluetoothPermissionDenied);
    let connect = BleError::ConnectFailed { device: "Anna's mat AA:BB".into(), reason: "timeout".into() };
    let e = HapticMatError::from(connect);
    assert!(matches!(e, HapticMatError::Bluetooth { .. }) && !e.to_string().contains("Anna"), "{e}");
    let rec = RecordingError::Empty { path: "/home/anna/rec.csv".into() };
    assert_eq!(HapticMatError::from(rec).to_string(), "recording: rec.csv: no rows");
    let runtime = InferenceError::Runtime { path: "/opt/x/libonnxruntime.so".into(), message: "nope".into() };
    assert!(matches!(HapticMatError::from(runtime), HapticMatError::RuntimeUnavailable { .. }));
    assert!(matches!(
        HapticMatError::from(UpdateError::Untrusted { reason: "bad signature".into() }),
        HapticMatError::UpdateUntrusted { .. }
    ));
    assert!(matches!(
        HapticMatError::from(UpdateError::BadModel { reason: "sha".into() }),
        HapticMatError::ModelRejected { .. }
    ));
    assert_eq!(HapticMatError::from(UpdateError::Cancelled), HapticMatError::Cancelled);
}

#[test]
fn a_replay_of_a_folder_without_recordings_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "x").unwrap();
    let paths = vec![dir.path().display().to_string()];
    assert!(matches!(records::replay_files(&paths), Err(HapticMatError::Recording { .. })));
    assert!(matches!(records::replay_files(&[]), Err(HapticMatError::InvalidArgument { .. })));
}

#[test]
fn a_panic_in_background_work_comes_back_as_an_internal_error() {
    let result: Result<(), HapticMatError> =
        futures::executor::block_on(background::run_blocking("probe", || panic!("boom")));
    match result {
        Err(HapticMatError::Internal { reason }) => assert!(reason.contains("boom"), "{reason}"),
        other => panic!("expected Internal, got {other:?}"),
    }
}

#[test]
fn an_updater_needs_a_pinned_key() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let settings = UpdaterSettings {
        base_url: "http://127.0.0.1:1/".into(),
        cache_dir: dir.path().display().to_string(),
        public_keys: vec![],
        root_key: None,
        root_version: 1,
    };
    assert!(matches!(ModelUpdater::new(settings.clone()), Err(HapticMatError::InvalidArgument { .. })));
    let garbage = UpdaterSettings { public_keys: vec!["not a key".into()], ..settings.clone() };
    assert!(matches!(ModelUpdater::new(garbage), Err(HapticMatError::InvalidArgument { .. })));
    let bad_root = UpdaterSettings { root_key: Some("not a key".into()), ..settings.clone() };
    assert!(matches!(ModelUpdater::new(bad_root), Err(HapticMatError::InvalidArgument { .. })));
    // A root alone is enough: the publisher keys come from the store's keys.json.
    let root = crate::delivery::Signer25519::generate().unwrap().public_key().to_pem().unwrap();
    assert!(ModelUpdater::new(UpdaterSettings { root_key: Some(root), ..settings }).is_ok());
}

#[test]
fn closing_every_object_frees_it() {
    let _serial = serial();
    let before = native_object_count();
    let monitor = MatMonitor::new();
    let handle = monitor.subscribe_state(Arc::new(Recorder::default()));
    assert_eq!(native_object_count(), before + 2);
    drop(monitor);
    drop(handle);
    assert_eq!(native_object_count(), before);
}

// --- Personal calibration ---------------------------------------------------------------------------

use crate::features::{FeatureExtractor, FeatureStatus, WINDOW_LEN};
use crate::frame::Frame;
use crate::monitor::{MonitorEvent, StateUpdate};
use crate::personal::{PERSONAL_CALIBRATION_S, PersonalCalibrationError, PersonalCalibrator, newest_load_pa};
use crate::recording::{REAL_RECORDINGS_DIR, Recording};

/// The real recordings played one after the other as one session (each file's time follows the last).
fn real_session(files: &[&str]) -> Vec<Frame> {
    let mut frames = Vec::new();
    let mut offset = 0.0;
    for file in files {
        let recording = Recording::read(format!("{REAL_RECORDINGS_DIR}/{file}")).unwrap();
        let part = recording.frames();
        frames.extend(part.iter().map(|f| Frame { t: f.t + offset, pressures: f.pressures }));
        offset = frames.last().map_or(0.0, |f| f.t) + 0.15;
    }
    frames
}

/// Plays `frames` into `monitor`'s state handling the way the session thread does, with the core's
/// baseline tracking and personal calibrator and no model (the end-to-end run with a model is
/// android-app/core's PersonalCalibrationTest): a personal calibration starts at the first frame at or
/// after `calibrate_at` s. Returns every personal calibration status listeners were told.
fn replay_personal_calibration(
    monitor: &MatMonitor,
    frames: &[Frame],
    calibrate_at: f64,
) -> Vec<PersonalCalibrationStatus> {
    let recorder = Arc::new(Recorder::default());
    let _handle = monitor.subscribe_state(recorder.clone());
    let mut features = FeatureExtractor::new();
    let mut window = [0f32; WINDOW_LEN];
    let mut calibrator: Option<PersonalCalibrator> = None;
    let mut started = false;
    let mut events = Vec::new();
    for frame in frames {
        let status = features.push(frame);
        if let Some(e) = features.take_event() {
            events.push(MonitorEvent::Baseline(e));
        }
        if !started && frame.t >= calibrate_at {
            started = true;
            calibrator = Some(PersonalCalibrator::new(PERSONAL_CALIBRATION_S));
        }
        let ready = status == FeatureStatus::Ready && features.window(&mut window);
        if let Some(c) = calibrator.as_mut() {
            // What Monitor::process does with a calibration in progress.
            let result = match status {
                FeatureStatus::NoBaseline => Some(Err(PersonalCalibrationError::NoBaseline)),
                _ if ready => c.push(frame.t, newest_load_pa(&window)),
                _ => None,
            };
            if let Some(result) = result {
                calibrator = None;
                events.push(MonitorEvent::PersonalCalibration(result));
            }
        }
        let update = StateUpdate {
            t: frame.t,
            state: None,
            present: false,
            confidence: 0.0,
            pressures: frame.pressures,
            inference: None,
            posture_confidence: None,
            absent_for_s: None,
        };
        let measuring = calibrator.as_ref().map(|c| c.remaining_s(frame.t));
        monitor.on_update_for_test(&update, measuring, &mut events);
        events.clear();
    }
    let states = recorder.states.lock().unwrap();
    let mut told: Vec<PersonalCalibrationStatus> = Vec::new();
    for s in states.iter() {
        if told.last() != Some(&s.personal_calibration) {
            told.push(s.personal_calibration.clone());
        }
    }
    told
}

#[test]
fn a_person_lying_on_the_real_mat_is_calibrated_with_progress_and_the_value_is_kept() {
    let _serial = serial();
    let monitor = MatMonitor::new();
    let frames = real_session(&["empty_or_cat_on_mat.csv", "human_on_mat.csv"]);
    // The person's recording starts after the empty mat's ~57 s (its first frame is the session's 382nd).
    let person_from = frames[382].t;
    let told = replay_personal_calibration(&monitor, &frames, person_from);

    let measuring: Vec<f64> = told
        .iter()
        .filter_map(|s| match s {
            PersonalCalibrationStatus::Measuring { remaining_s } => Some(*remaining_s),
            _ => None,
        })
        .collect();
    assert_eq!(measuring.first(), Some(&10.0), "{told:?}");
    assert!(measuring.windows(2).all(|w| w[1] == w[0] - 1.0), "counts down a second at a time: {measuring:?}");
    let Some(PersonalCalibrationStatus::Calibrated { reference_load_pa }) = told.last() else {
        panic!("expected Calibrated at the end, told {told:?}")
    };
    // The person adds 0.7–1.8 kPa per bladder (data/seroton-mat/README.md): ~4.7 kPa over the four.
    assert!((4000.0..5500.0).contains(reference_load_pa), "{reference_load_pa} Pa");
    assert_eq!(monitor.personal_calibration(), Some(*reference_load_pa), "in use after the measurement");

    // Saved per mat and user, and read back into another monitor.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("personal/mat-1.json").display().to_string();
    monitor.save_personal_calibration(file.clone()).unwrap();
    let other = MatMonitor::new();
    assert_eq!(other.load_personal_calibration(file).unwrap(), Some(*reference_load_pa));
    assert_eq!(other.personal_calibration(), Some(*reference_load_pa));
    assert_eq!(
        other.state().personal_calibration,
        PersonalCalibrationStatus::Calibrated { reference_load_pa: *reference_load_pa }
    );
}

#[test]
fn an_empty_real_mat_is_refused_as_nobody_on_it_and_the_previous_calibration_stays() {
    let _serial = serial();
    let monitor = MatMonitor::new();
    monitor.set_personal_calibration(Some(5000.0)).unwrap();
    let frames = real_session(&["empty_or_cat_on_mat.csv"]);
    // Late in the empty recording, once a still stretch has become the baseline.
    let told = replay_personal_calibration(&monitor, &frames, 40.0);
    match told.last() {
        Some(PersonalCalibrationStatus::Failed { reason, reference_load_pa }) => {
            assert!(reason.contains("nobody is lying on the mat"), "{reason}");
            assert_eq!(*reference_load_pa, Some(5000.0), "the previous calibration stays in use");
        }
        other => panic!("expected Failed, got {other:?} (all: {told:?})"),
    }
    assert_eq!(monitor.personal_calibration(), Some(5000.0));
}

#[test]
fn without_an_empty_mat_baseline_the_user_cannot_be_calibrated() {
    let _serial = serial();
    let monitor = MatMonitor::new();
    // The person is on the mat from the first frame: nothing to measure their load against.
    let told = replay_personal_calibration(&monitor, &real_session(&["human_on_mat.csv"]), 0.0);
    match told.last() {
        Some(PersonalCalibrationStatus::Failed { reason, reference_load_pa: None }) => {
            assert!(reason.contains("baseline"), "{reason}")
        }
        other => panic!("expected Failed, got {other:?} (all: {told:?})"),
    }
}

#[test]
fn personal_calibration_values_and_calls_are_checked() {
    let _serial = serial();
    let monitor = MatMonitor::new();
    assert_eq!(monitor.personal_calibration(), None);
    for bad in [0.0, 12.0, -3000.0, f32::NAN, 1e9] {
        let e = monitor.set_personal_calibration(Some(bad)).unwrap_err();
        assert!(matches!(e, HapticMatError::PersonalCalibration { .. }), "{bad}: {e:?}");
        assert!(e.to_string().contains("not a person's load"), "{e}");
    }
    monitor.set_personal_calibration(Some(4200.0)).unwrap();
    assert_eq!(monitor.personal_calibration(), Some(4200.0));
    assert_eq!(
        monitor.state().personal_calibration,
        PersonalCalibrationStatus::Calibrated { reference_load_pa: 4200.0 }
    );
    monitor.set_personal_calibration(None).unwrap();
    assert_eq!(monitor.state().personal_calibration, PersonalCalibrationStatus::Missing);

    // Measuring needs a running session (a person on the mat, a known empty mat).
    let e = monitor.calibrate_user(10.0).unwrap_err();
    assert!(matches!(e, HapticMatError::PersonalCalibration { .. }) && e.to_string().contains("no session"), "{e}");
    for bad in [0.0, 0.5, f64::NAN, 601.0] {
        assert!(matches!(monitor.calibrate_user(bad), Err(HapticMatError::InvalidArgument { .. })), "{bad}");
    }
    // Nothing to save; an empty path is refused.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mat.json").display().to_string();
    assert!(matches!(monitor.save_personal_calibration(file.clone()), Err(HapticMatError::PersonalCalibration { .. })));
    assert!(matches!(monitor.load_personal_calibration(" ".into()), Err(HapticMatError::InvalidArgument { .. })));
}

#[test]
fn a_missing_personal_calibration_file_clears_it_and_a_bad_one_is_a_storage_error() {
    let _serial = serial();
    let monitor = MatMonitor::new();
    let dir = tempfile::tempdir().unwrap();
    monitor.set_personal_calibration(Some(4200.0)).unwrap();
    // Another mat the user never calibrated on.
    let other_mat = dir.path().join("personal/other-mat.json").display().to_string();
    assert_eq!(monitor.load_personal_calibration(other_mat).unwrap(), None);
    assert_eq!(monitor.personal_calibration(), None);

    monitor.set_personal_calibration(Some(4200.0)).unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{\"reference_load_pa\": 3}").unwrap();
    let e = monitor.load_personal_calibration(bad.display().to_string()).unwrap_err();
    assert!(matches!(e, HapticMatError::Storage { .. }), "{e:?}");
    let text = e.to_string();
    assert!(text.contains("bad.json") && !text.contains(&dir.path().display().to_string()), "file name only: {text}");
    assert_eq!(monitor.personal_calibration(), Some(4200.0), "a bad file leaves the calibration in use");
}

#[test]
fn personal_calibration_errors_map_to_clear_messages() {
    let e = HapticMatError::from(PersonalCalibrationError::NobodyOnMat { load_pa: 12.0 });
    assert!(matches!(e, HapticMatError::PersonalCalibration { .. }));
    assert!(e.to_string().starts_with("personal calibration: nobody is lying on the mat"), "{e}");
    let e = HapticMatError::from(PersonalCalibrationError::File {
        path: "/home/anna/personal/mat.json".into(),
        message: "denied".into(),
    });
    assert_eq!(e, HapticMatError::Storage { reason: "personal calibration file mat.json: denied".into() });
}

#[test]
fn model_details_say_whether_the_model_reads_the_personal_calibration() {
    let info = crate::inference::ModelInfo {
        path: "/m/model.onnx".into(),
        feature_version: 1,
        window_frames: 40,
        channels: 4,
        labels: vec!["absent".into()],
        inputs: vec!["window".into(), "user_load".into()],
        quantized: true,
    };
    let details = ModelDetails::from(&info);
    assert_eq!(details.inputs, vec!["window".to_string(), "user_load".to_string()]);
    assert!(details.reads_personal_calibration);
    let window_only = ModelDetails::from(&crate::inference::ModelInfo { inputs: vec!["window".into()], ..info });
    assert!(!window_only.reads_personal_calibration);
}
