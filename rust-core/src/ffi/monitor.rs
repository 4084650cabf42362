//! [`MatMonitor`]: the live monitor for the app. A thin object over the core's [`Monitor`]: it owns the
//! session thread (source → monitor), keeps the current [`MonitorState`] and hands states and frames to
//! foreign listeners.

use super::error::{HapticMatError, Result};
use super::records::{
    BaselineStatus, ConnectionStatus, MatFrame, MatSource, ModelDetails, MonitorState, MonitorStats,
    PersonalCalibrationStatus, PresenceState, SessionStatus, replay_files,
};
use super::task::{Listeners, LiveObject, TaskHandle, lock};
use super::updater::ModelUpdater;
use crate::inference::PresenceModel;
use crate::monitor::{Monitor, MonitorConfig, MonitorEvent, StateUpdate};
use crate::personal::{PersonalCalibration, PersonalCalibrationError};
use crate::source::{CancelToken, FrameSource, Pace, SourceError, SourceEvent, SourceSpec};
use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

/// Inference latencies kept for the Model screen's figures: the last ~2.5 minutes at the mat's rate.
const LATENCY_WINDOW: usize = 1024;

/// How long `stop` waits for the session thread. A replay or simulation notices the stop within 50 ms
/// and a BLE session within ~1 s (its disconnect is bounded); past this the thread ends on its own.
const STOP_WAIT: Duration = Duration::from_secs(5);

/// Receives the monitor's state. Called on the monitor's session thread (or, for the first value, on
/// the subscribing thread): return quickly and do not call back into the monitor's `subscribe*`.
#[uniffi::export(foreign)]
pub trait PresenceListener: Send + Sync {
    /// The current state at once, then every change of presence, connection, session or baseline.
    fn on_state(&self, state: MonitorState);
    /// Nobody has been on the mat for the configured absence timeout; fires once per absence.
    fn on_absence_timeout(&self, absent_for_s: f64);
}

/// Receives every frame from the mat (~6.7 per second live, far more in a fast replay). Called on the
/// session thread: return quickly.
#[uniffi::export(foreign)]
pub trait FrameListener: Send + Sync {
    /// One frame.
    fn on_frame(&self, frame: MatFrame);
}

/// The live presence monitor: a source (the mat over BLE, a replay or the simulator) → the model →
/// presence states, frames and the absence timeout, delivered to listeners. `Send + Sync`.
#[derive(uniffi::Object)]
pub struct MatMonitor {
    inner: Arc<Shared>,
    _live: LiveObject,
}

/// What the monitor object and its session thread share.
struct Shared {
    /// The core monitor with the model; `None` until a model is loaded.
    monitor: Mutex<Option<Monitor>>,
    settings: Mutex<Settings>,
    worker: Mutex<Option<Worker>>,
    /// The current state, read by `state()` and given to new listeners.
    state: Mutex<MonitorState>,
    /// Held while states are delivered, so every listener sees them in order and a new listener's
    /// first value is never older than a later one.
    delivery: Mutex<()>,
    presence: Arc<Listeners<dyn PresenceListener>>,
    frames: Arc<Listeners<dyn FrameListener>>,
    stats: Mutex<Stats>,
}

/// What the app set, applied to the next session (and to the running one where that makes sense).
struct Settings {
    absence_timeout_s: Option<f64>,
    /// A calibration asked for while no session runs: taken at the start of the next one.
    pending_calibration_s: Option<f64>,
    /// The user's personal calibration: given to every session's monitor, replaced by a successful
    /// measurement.
    personal: Option<PersonalCalibration>,
}

struct Worker {
    cancel: CancelToken,
    thread: JoinHandle<()>,
    done: mpsc::Receiver<()>,
}

#[derive(Default)]
struct Stats {
    frames: u64,
    skipped: u64,
    inferences: u64,
    recent_us: VecDeque<f64>,
}

impl Default for MatMonitor {
    fn default() -> Self {
        Self::create()
    }
}

impl MatMonitor {
    fn create() -> Self {
        MatMonitor {
            inner: Arc::new(Shared {
                monitor: Mutex::new(None),
                settings: Mutex::new(Settings {
                    absence_timeout_s: MonitorConfig::default().absence_timeout_s,
                    pending_calibration_s: None,
                    personal: None,
                }),
                worker: Mutex::new(None),
                state: Mutex::new(MonitorState::idle()),
                delivery: Mutex::new(()),
                presence: Listeners::new(),
                frames: Listeners::new(),
                stats: Mutex::new(Stats::default()),
            }),
            _live: LiveObject::new(),
        }
    }

    fn install_model(&self, model: PresenceModel) -> ModelDetails {
        let details = ModelDetails::from(model.info());
        let personal = lock(&self.inner.settings).personal;
        let mut slot = lock(&self.inner.monitor);
        match slot.as_mut() {
            Some(monitor) => monitor.set_model(model),
            None => {
                let mut monitor = Monitor::new(model, MonitorConfig::default());
                monitor.set_personal_calibration(personal);
                *slot = Some(monitor);
            }
        }
        details
    }

    /// Uses `calibration` from now on (this session and the next) and tells the listeners.
    fn use_personal_calibration(&self, calibration: Option<PersonalCalibration>) {
        lock(&self.inner.settings).personal = calibration;
        if let Some(monitor) = lock(&self.inner.monitor).as_mut() {
            monitor.set_personal_calibration(calibration);
        }
        self.inner.publish(|s| s.personal_calibration = PersonalCalibrationStatus::of(calibration));
    }
}

#[uniffi::export]
impl MatMonitor {
    /// A monitor with no model and no session. No I/O; any thread.
    #[uniffi::constructor]
    pub fn new() -> Arc<Self> {
        Arc::new(Self::create())
    }

    /// Loads an ONNX model file and uses it from now on (a running session switches at once, its
    /// smoothing restarts). Blocks: file I/O and ONNX Runtime (loaded on first use); off the main thread.
    pub fn load_model(&self, path: String) -> Result<ModelDetails> {
        if path.trim().is_empty() {
            return Err(HapticMatError::invalid("model path is empty"));
        }
        let model = PresenceModel::load(&path)?;
        Ok(self.install_model(model))
    }

    /// Uses the updater's serving model (falling back to its known-good one if that fails to load).
    /// Blocks: file I/O and ONNX Runtime; off the main thread.
    pub fn use_installed_model(&self, updater: Arc<ModelUpdater>) -> Result<ModelDetails> {
        let model = updater.load_serving_model()?;
        Ok(self.install_model(model))
    }

    /// The model in use, if one is loaded. No I/O; any thread.
    pub fn model(&self) -> Option<ModelDetails> {
        lock(&self.inner.monitor).as_ref().map(|m| ModelDetails::from(m.model_info()))
    }

    /// Starts a session with `source`, stopping the running one first. Blocks briefly: replay files are
    /// read now (file I/O) and Bluetooth acquires the adapter (< 5 s); off the main thread. Fails with
    /// `ModelNotLoaded`, `BluetoothUnavailable`, `Recording`, … before anything starts.
    pub fn start(&self, source: MatSource) -> Result<()> {
        self.stop();
        if lock(&self.inner.monitor).is_none() {
            return Err(HapticMatError::ModelNotLoaded);
        }
        let (spec, pace) = match source {
            MatSource::Bluetooth { name_or_id } => (SourceSpec::Ble(name_or_id), Pace::Realtime),
            MatSource::Replay { paths, realtime } => (SourceSpec::Replay(replay_files(&paths)?), pace(realtime)),
            MatSource::Simulated { seed, realtime } => (SourceSpec::Sim(seed), pace(realtime)),
        };
        let cancel = CancelToken::new();
        let source = spec.open(pace, cancel.clone())?;

        let (calibrating, personal) = {
            let mut settings = lock(&self.inner.settings);
            let config = MonitorConfig {
                absence_timeout_s: settings.absence_timeout_s,
                calibrate_s: settings.pending_calibration_s.take(),
                ..MonitorConfig::default()
            };
            let mut slot = lock(&self.inner.monitor);
            let Some(previous) = slot.take() else { return Err(HapticMatError::ModelNotLoaded) };
            // A fresh monitor per session: the last session's window, baseline and timers do not
            // belong to this one (the weather may have moved the levels since).
            let mut monitor = Monitor::new(previous.into_model(), config.clone());
            monitor.set_personal_calibration(settings.personal);
            *slot = Some(monitor);
            (config.calibrate_s.is_some(), settings.personal)
        };
        *lock(&self.inner.stats) = Stats::default();
        self.inner.publish(|s| {
            *s = MonitorState::idle();
            s.session = SessionStatus::Running;
            s.baseline = if calibrating { BaselineStatus::Calibrating } else { BaselineStatus::Missing };
            s.personal_calibration = PersonalCalibrationStatus::of(personal);
        });

        let (done_tx, done) = mpsc::channel();
        let shared = self.inner.clone();
        let session_cancel = cancel.clone();
        let thread = std::thread::Builder::new()
            .name("hapticmat-monitor".to_string())
            .spawn(move || {
                let end = catch_unwind(AssertUnwindSafe(|| shared.run_session(source, &session_cancel)))
                    .unwrap_or_else(|payload| {
                        let e = HapticMatError::from_panic("the monitor session", payload.as_ref());
                        SessionStatus::Failed { message: e.to_string() }
                    });
                shared.publish(|s| {
                    s.session = end;
                    s.connection = ConnectionStatus::Idle;
                    s.presence = PresenceState::Unknown;
                    s.present = false;
                    s.confidence = 0.0;
                    s.posture_confidence = None;
                    if let PersonalCalibrationStatus::Measuring { .. } = s.personal_calibration {
                        let why = PersonalCalibrationError::Interrupted("the session ended".to_string());
                        let previous = lock(&shared.settings).personal;
                        s.personal_calibration = PersonalCalibrationStatus::after(&Err(why), previous);
                    }
                });
                let _ = done_tx.send(());
            })
            .map_err(|e| HapticMatError::Internal { reason: format!("cannot start the monitor thread: {e}") })?;
        *lock(&self.inner.worker) = Some(Worker { cancel, thread, done });
        Ok(())
    }

    /// Stops the session, if one runs, and waits for it to end (BLE disconnects). Blocks up to ~1 s;
    /// off the main thread. From a listener callback it only asks the session to stop.
    pub fn stop(&self) {
        let Some(worker) = lock(&self.inner.worker).take() else { return };
        worker.cancel.cancel();
        if std::thread::current().id() == worker.thread.thread().id() {
            return;
        }
        match worker.done.recv_timeout(STOP_WAIT) {
            Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                if worker.thread.join().is_err() {
                    log::error!("the monitor session thread panicked");
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => log::warn!("the monitor session is slow to stop; detaching it"),
        }
    }

    /// Whether a session is running. No I/O; any thread.
    pub fn is_running(&self) -> bool {
        lock(&self.inner.state).session == SessionStatus::Running
    }

    /// Takes the next `seconds` of frames as the empty mat (nobody on it). With no session running,
    /// the next session starts with it. No I/O; any thread. The result arrives as `MonitorState.baseline`.
    pub fn calibrate(&self, seconds: f64) -> Result<()> {
        if !(seconds.is_finite() && seconds > 0.0 && seconds <= 600.0) {
            return Err(HapticMatError::invalid(format!("calibration seconds {seconds}: expected 0 < s ≤ 600")));
        }
        if self.is_running()
            && let Some(monitor) = lock(&self.inner.monitor).as_mut()
        {
            monitor.calibrate(seconds);
        } else {
            lock(&self.inner.settings).pending_calibration_s = Some(seconds);
            return Ok(());
        }
        self.inner.publish(|s| s.baseline = BaselineStatus::Calibrating);
        Ok(())
    }

    /// Measures the user's own load over the next `seconds` (the app asks for
    /// [`crate::personal::PERSONAL_CALIBRATION_S`], 10 s) while they lie fully and still on the mat:
    /// ask them to lie down first. Needs a running session whose empty-mat baseline is known. Progress
    /// and outcome arrive as `MonitorState.personal_calibration` (`Measuring` once a second, then
    /// `Calibrated` — in use at once, save it with `save_personal_calibration` — or `Failed` with the
    /// reason). Fails with `PersonalCalibration` when no session runs. No I/O; any thread.
    pub fn calibrate_user(&self, seconds: f64) -> Result<()> {
        if !(seconds.is_finite() && (1.0..=600.0).contains(&seconds)) {
            return Err(HapticMatError::invalid(format!(
                "personal calibration seconds {seconds}: expected 1 ≤ s ≤ 600"
            )));
        }
        let started = self.is_running()
            && lock(&self.inner.monitor).as_mut().map(|monitor| monitor.calibrate_user(seconds)).is_some();
        if !started {
            return Err(HapticMatError::PersonalCalibration {
                reason: "no session is running: start one on the mat, lie down fully, then calibrate".to_string(),
            });
        }
        self.inner
            .publish(|s| s.personal_calibration = PersonalCalibrationStatus::Measuring { remaining_s: seconds.ceil() });
        Ok(())
    }

    /// Feeds the phone's barometer whenever it reads (Android's `Sensor.TYPE_PRESSURE` gives hPa: pass
    /// hPa × 100; about once a second is plenty). While someone is on the mat, the empty-mat baseline then
    /// follows the weather it measures instead of a trend (docs/long-sessions.md), so weather that turns
    /// during a night cannot make a sleeper look absent. Without a session the reading is dropped. Fails
    /// with `InvalidArgument` on a reading that cannot be ambient pressure (50–110 kPa). No I/O; any thread.
    pub fn set_ambient_pressure(&self, pa: f64) -> Result<()> {
        if !(pa.is_finite() && crate::baseline::AMBIENT_RANGE_PA.contains(&pa)) {
            return Err(HapticMatError::invalid(format!("ambient pressure {pa} Pa: expected 50 000–110 000 Pa")));
        }
        if let Some(monitor) = lock(&self.inner.monitor).as_mut() {
            monitor.set_ambient_pressure(pa);
        }
        Ok(())
    }

    /// Sets the user's personal calibration, their load lying fully in Pa as measured before
    /// (`None`: the user has none on this mat). Applies to the running session at once and to the next
    /// ones. Fails with `PersonalCalibration` on a value that cannot be a person's load. No I/O; any thread.
    pub fn set_personal_calibration(&self, reference_load_pa: Option<f32>) -> Result<()> {
        let calibration = reference_load_pa.map(PersonalCalibration::new).transpose()?;
        self.use_personal_calibration(calibration);
        Ok(())
    }

    /// The user's load lying fully in Pa, if a personal calibration is in use. No I/O; any thread.
    pub fn personal_calibration(&self) -> Option<f32> {
        lock(&self.inner.settings).personal.map(|c| c.reference_load_pa)
    }

    /// Saves the personal calibration in use to `path` (atomically; folders are created), for the app
    /// to keep one file per mat and user. Fails with `PersonalCalibration` when none is in use and
    /// `Storage` when the file cannot be written. Blocks: file I/O.
    pub fn save_personal_calibration(&self, path: String) -> Result<()> {
        if path.trim().is_empty() {
            return Err(HapticMatError::invalid("personal calibration path is empty"));
        }
        let Some(calibration) = lock(&self.inner.settings).personal else {
            return Err(HapticMatError::PersonalCalibration {
                reason: "none to save: calibrate the user (or set a calibration) first".to_string(),
            });
        };
        Ok(calibration.save(std::path::Path::new(&path))?)
    }

    /// Uses the personal calibration saved at `path` (by `save_personal_calibration`) and returns its
    /// load in Pa; with no file there, the user has none on this mat: the calibration in use is cleared
    /// and `None` returned. Fails with `Storage` on a file that cannot be read or holds no valid
    /// calibration (the one in use stays). Blocks: file I/O.
    pub fn load_personal_calibration(&self, path: String) -> Result<Option<f32>> {
        if path.trim().is_empty() {
            return Err(HapticMatError::invalid("personal calibration path is empty"));
        }
        let path = std::path::Path::new(&path);
        let calibration = if path.exists() { Some(PersonalCalibration::load(path)?) } else { None };
        self.use_personal_calibration(calibration);
        Ok(calibration.map(|c| c.reference_load_pa))
    }

    /// Sets after how many seconds of absence `onAbsenceTimeout` fires (`None`: never; default 600).
    /// Applies to the running session at once. No I/O; any thread.
    pub fn set_absence_timeout(&self, seconds: Option<f64>) -> Result<()> {
        if let Some(s) = seconds
            && !(s.is_finite() && s > 0.0)
        {
            return Err(HapticMatError::invalid(format!("absence timeout {s} s: expected a positive number")));
        }
        lock(&self.inner.settings).absence_timeout_s = seconds;
        if let Some(monitor) = lock(&self.inner.monitor).as_mut() {
            monitor.set_absence_timeout(seconds);
        }
        Ok(())
    }

    /// The absence timeout in seconds (`None`: never). No I/O; any thread.
    pub fn absence_timeout(&self) -> Option<f64> {
        lock(&self.inner.settings).absence_timeout_s
    }

    /// The current state. No I/O; any thread.
    pub fn state(&self) -> MonitorState {
        lock(&self.inner.state).clone()
    }

    /// Subscribes to states: `listener` gets the current state at once (on this thread), then every
    /// change (on the session thread). Cancel or close the handle to unsubscribe. No I/O; any thread.
    pub fn subscribe_state(&self, listener: Arc<dyn PresenceListener>) -> Arc<TaskHandle> {
        let _order = lock(&self.inner.delivery);
        let handle = self.inner.presence.add(listener.clone());
        let now = lock(&self.inner.state).clone();
        if !Listeners::call_one(&*listener, |l| l.on_state(now)) {
            handle.cancel();
        }
        handle
    }

    /// Subscribes to frames (from the next one on). Cancel or close the handle to unsubscribe. No I/O;
    /// any thread.
    pub fn subscribe_frames(&self, listener: Arc<dyn FrameListener>) -> Arc<TaskHandle> {
        self.inner.frames.add(listener)
    }

    /// Live subscriptions of both kinds (a cancelled one is gone at once). No I/O; any thread.
    pub fn subscription_count(&self) -> u32 {
        (self.inner.presence.len() + self.inner.frames.len()).try_into().unwrap_or(u32::MAX)
    }

    /// Frame, skip and inference counts of the current (or last) session and the median and 99th
    /// percentile inference latency of the last 1024 calls. No I/O; any thread.
    pub fn stats(&self) -> MonitorStats {
        let stats = lock(&self.inner.stats);
        let mut recent: Vec<f64> = stats.recent_us.iter().copied().collect();
        recent.sort_by(f64::total_cmp);
        let pct = |q: f64| recent.get(((recent.len() as f64 - 1.0) * q).round() as usize).copied();
        MonitorStats {
            frames: stats.frames,
            skipped: stats.skipped,
            inferences: stats.inferences,
            inference_p50_us: pct(0.5),
            inference_p99_us: pct(0.99),
        }
    }
}

#[cfg(test)]
impl MatMonitor {
    /// Hands one processed frame to the session's state handling, as the session thread does (tests
    /// of the state mapping that need no model).
    pub(crate) fn on_update_for_test(
        &self,
        update: &StateUpdate,
        measuring: Option<f64>,
        extra: &mut Vec<MonitorEvent>,
    ) {
        self.inner.on_update(update, measuring, extra);
    }
}

impl Drop for MatMonitor {
    /// Tells the session to stop and returns at once: Kotlin's `close()` may run on the main thread
    /// (`onCleared`), and a BLE disconnect can take a second or more. The session thread ends on its
    /// own, disconnecting the mat; nothing is told to listeners any more (they went with the monitor).
    fn drop(&mut self) {
        if let Some(worker) = lock(&self.inner.worker).take() {
            worker.cancel.cancel();
        }
    }
}

fn pace(realtime: bool) -> Pace {
    if realtime { Pace::Realtime } else { Pace::Max }
}

impl Shared {
    /// Changes the current state and tells the listeners if anything they are told about changed.
    fn publish(&self, change: impl FnOnce(&mut MonitorState)) {
        let _order = lock(&self.delivery);
        let next = {
            let mut state = lock(&self.state);
            let before = state.clone();
            change(&mut state);
            if !state.differs_from(&before) {
                return;
            }
            state.clone()
        };
        self.presence.notify(|l| l.on_state(next.clone()));
    }

    /// The session loop: runs until the source ends or is cancelled, returns how it ended.
    fn run_session(&self, mut source: Box<dyn FrameSource>, cancel: &CancelToken) -> SessionStatus {
        let mut extra = Vec::new();
        let mut fatal: Option<HapticMatError> = None;
        let end = loop {
            let Some(event) = source.next_event() else {
                break match fatal.take() {
                    _ if cancel.is_cancelled() => SessionStatus::Idle,
                    Some(e) => SessionStatus::Failed { message: e.to_string() },
                    None => SessionStatus::Ended,
                };
            };
            match event {
                SourceEvent::Frame(frame) => {
                    let processed = match lock(&self.monitor).as_mut() {
                        Some(monitor) => monitor
                            .process(&frame, &mut extra)
                            .map(|update| (update, monitor.personal_calibration_remaining_s(frame.t)))
                            .map_err(HapticMatError::from),
                        None => Err(HapticMatError::ModelNotLoaded),
                    };
                    match processed {
                        Ok((update, measuring)) => self.on_update(&update, measuring, &mut extra),
                        Err(e) => break SessionStatus::Failed { message: e.to_string() },
                    }
                }
                SourceEvent::Skipped(error) => {
                    lock(&self.stats).skipped += 1;
                    // A fatal Bluetooth error is reported just before the source ends.
                    if let SourceError::Ble(b) = &error
                        && b.is_fatal()
                    {
                        fatal = Some(error.into());
                    }
                }
                SourceEvent::Status(status) => self.publish(|s| s.connection = status.into()),
            }
        };
        // Dropping the source disconnects from the mat before the end is reported.
        drop(source);
        end
    }

    /// One processed frame: counters, frame listeners, the state, then the monitor's extra events.
    /// `measuring`: seconds left of a personal calibration in progress.
    fn on_update(&self, update: &StateUpdate, measuring: Option<f64>, extra: &mut Vec<MonitorEvent>) {
        {
            let mut stats = lock(&self.stats);
            stats.frames += 1;
            if let Some(latency) = update.inference {
                stats.inferences += 1;
                if stats.recent_us.len() == LATENCY_WINDOW {
                    stats.recent_us.pop_front();
                }
                stats.recent_us.push_back(latency.as_secs_f64() * 1e6);
            }
        }
        if self.frames.len() > 0 {
            let received_at_ms = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis().try_into().unwrap_or(i64::MAX));
            let frame = MatFrame { session_time_s: update.t, received_at_ms, pressures_pa: update.pressures.to_vec() };
            self.frames.notify(|l| l.on_frame(frame.clone()));
        }
        let baseline = extra.iter().rev().find_map(|e| match e {
            MonitorEvent::Baseline(b) => Some(BaselineStatus::from(b)),
            _ => None,
        });
        let personal = extra.iter().rev().find_map(|e| match e {
            MonitorEvent::PersonalCalibration(result) => {
                let mut settings = lock(&self.settings);
                let previous = settings.personal;
                if let Ok(c) = result {
                    settings.personal = Some(*c);
                }
                Some(PersonalCalibrationStatus::after(result, previous))
            }
            _ => None,
        });
        let personal = personal.or(measuring.map(|r| PersonalCalibrationStatus::Measuring { remaining_s: r.ceil() }));
        self.publish(|s| {
            s.presence = update.state.into();
            s.present = update.present;
            s.confidence = update.confidence;
            s.posture_confidence = update.posture_confidence;
            s.session_time_s = update.t;
            if let Some(b) = baseline {
                s.baseline = b;
            }
            if let Some(p) = personal {
                s.personal_calibration = p;
            }
        });
        for event in extra.drain(..) {
            if let MonitorEvent::AbsenceTimeout { absent_for_s, .. } = event {
                self.presence.notify(|l| l.on_absence_timeout(absent_for_s));
            }
        }
    }
}
