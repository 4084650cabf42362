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
    };
    assert!(matches!(ModelUpdater::new(settings.clone()), Err(HapticMatError::InvalidArgument { .. })));
    let garbage = UpdaterSettings { public_keys: vec!["not a key".into()], ..settings };
    assert!(matches!(ModelUpdater::new(garbage), Err(HapticMatError::InvalidArgument { .. })));
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
