//! The live monitor: source → features → inference → smoothing → presence events, plus the absence
//! timeout that tells the app to stop its haptic session when nobody has been on the mat for a while.

use crate::features::{BaselineEvent, FeatureExtractor, FeatureStatus, WINDOW_LEN};
use crate::frame::{BLADDERS, Frame};
use crate::inference::{InferenceError, ModelInfo, Prediction, PresenceModel};
use crate::personal::{
    PersonalCalibration, PersonalCalibrationError, PersonalCalibrator, USER_LOAD_LEN, newest_load_pa, user_load,
};
use crate::smoothing::{Smoother, SmoothingConfig};
use crate::source::{CancelToken, FrameSource, SourceError, SourceEvent, SourceStatus};
use crate::state::PresenceState;
use std::collections::BTreeMap;
use std::time::Duration;

/// What the smoother is fed while the mat is still: a person is never still, so a still mat is
/// empty whatever the model says (objects and sleeping pets count as empty).
const STILL_IS_ABSENT: [f32; crate::state::NUM_STATES] = [1.0, 0.0, 0.0, 0.0];

/// Posture confidence below which the posture is not identifiable (four bladders and an unknown
/// body weight cannot always tell sitting from lying): show "on the mat" instead.
pub const POSTURE_CONFIDENT: f32 = 0.7;

/// How the monitor behaves.
#[derive(Debug, Clone, PartialEq)]
pub struct MonitorConfig {
    /// Smoothing of the model's output.
    pub smoothing: SmoothingConfig,
    /// Seconds of absence after which [`MonitorEvent::AbsenceTimeout`] fires (`None`: never).
    pub absence_timeout_s: Option<f64>,
    /// Take the first seconds of the session as the empty-mat baseline.
    pub calibrate_s: Option<f64>,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        MonitorConfig { smoothing: SmoothingConfig::default(), absence_timeout_s: Some(10.0 * 60.0), calibrate_s: None }
    }
}

/// The state after one frame. `state == None` means unknown (calibrating, no baseline, window filling).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StateUpdate {
    /// Session time of the frame, s.
    pub t: f64,
    /// The smoothed state, or `None` while unknown.
    pub state: Option<PresenceState>,
    /// Whether a person is on the mat (false while unknown).
    pub present: bool,
    /// Confidence in `state`, 0..1 (0 while unknown).
    pub confidence: f32,
    /// The frame's absolute pressures, Pa (for live charts).
    pub pressures: [f32; BLADDERS],
    /// Latency of the inference call on this frame, if one ran.
    pub inference: Option<Duration>,
    /// While someone is on the mat, the probability of the reported posture among the postures
    /// (0..1): below [`POSTURE_CONFIDENT`] the posture is not identifiable. `None` otherwise.
    pub posture_confidence: Option<f32>,
    /// Seconds since a person was last on the mat (since the first known state if nobody has
    /// been on it this session); `None` while present or unknown.
    pub absent_for_s: Option<f64>,
}

impl StateUpdate {
    /// The state's name, `unknown` while unknown.
    pub fn state_name(&self) -> &'static str {
        self.state.map_or("unknown", PresenceState::name)
    }
}

/// Everything the monitor reports.
#[derive(Debug, Clone, PartialEq)]
pub enum MonitorEvent {
    /// One per decoded frame.
    State(StateUpdate),
    /// The baseline was calibrated, refused, or found automatically.
    Baseline(BaselineEvent),
    /// A personal calibration ([`Monitor::calibrate_user`]) finished: in use from the next frame, or
    /// refused with the reason (the previous one, if any, stays in use).
    PersonalCalibration(Result<PersonalCalibration, PersonalCalibrationError>),
    /// Nobody has been on the mat for the configured time; fires once per absence.
    AbsenceTimeout { t: f64, absent_for_s: f64 },
    /// Input that was skipped (bad frame or row); the session goes on.
    Skipped(SourceError),
    /// Connection status of the source.
    Status(SourceStatus),
}

/// Totals of a monitoring session.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MonitorSummary {
    /// Frames processed.
    pub frames: u64,
    /// Inputs skipped, by reason kind.
    pub skipped: BTreeMap<String, u64>,
    /// First skipped inputs, verbatim (at most 10), to show the user where.
    pub skipped_examples: Vec<String>,
    /// Frames spent in each state (`unknown` included).
    pub state_frames: BTreeMap<String, u64>,
    /// Inference calls.
    pub inferences: u64,
    /// Times the source's link dropped (BLE; replays and the simulator never drop).
    pub disconnects: u64,
    /// Median and 99th-percentile inference latency, µs.
    pub inference_p50_us: f64,
    /// 99th-percentile inference latency, µs.
    pub inference_p99_us: f64,
}

/// What the monitor asks of a model: its contract and the class probabilities of one window (with the
/// user's load, for models that read it). [`PresenceModel`] (ONNX Runtime) is the real one; the
/// monitor's own tests script one, so its rules (smoothing, the still mat, the absence timeout, re-tares,
/// personal calibration) are tested without a trained model.
pub trait Classifier: Send {
    /// The model's contract and labels.
    fn info(&self) -> &ModelInfo;
    /// Scores one window (CPU work on the monitor's thread).
    fn classify(
        &mut self,
        window: &[f32; WINDOW_LEN],
        user_load: &[f32; USER_LOAD_LEN],
    ) -> Result<Prediction, InferenceError>;
}

impl Classifier for PresenceModel {
    fn info(&self) -> &ModelInfo {
        PresenceModel::info(self)
    }

    fn classify(
        &mut self,
        window: &[f32; WINDOW_LEN],
        user_load: &[f32; USER_LOAD_LEN],
    ) -> Result<Prediction, InferenceError> {
        self.predict_with(window, user_load)
    }
}

/// The monitor for one mat and one model.
pub struct Monitor<C: Classifier = PresenceModel> {
    model: C,
    features: FeatureExtractor,
    smoother: Smoother,
    cfg: MonitorConfig,
    window: [f32; WINDOW_LEN],
    /// The user's personal calibration, if any (given to models that read it).
    personal: Option<PersonalCalibration>,
    /// A personal calibration in progress.
    personal_calibrator: Option<PersonalCalibrator>,
    /// Session time of the last frame with a person on the mat.
    last_present_t: Option<f64>,
    absent_since: Option<f64>,
    timeout_fired: bool,
    was_ready: bool,
}

impl<C: Classifier> Monitor<C> {
    /// A monitor over a loaded model. With `calibrate_s`, the first seconds calibrate the baseline.
    pub fn new(model: C, cfg: MonitorConfig) -> Self {
        let mut features = FeatureExtractor::new();
        if let Some(s) = cfg.calibrate_s {
            features.calibrate(s);
        }
        Monitor {
            model,
            features,
            smoother: Smoother::new(cfg.smoothing),
            cfg,
            window: [0.0; WINDOW_LEN],
            personal: None,
            personal_calibrator: None,
            last_present_t: None,
            absent_since: None,
            timeout_fired: false,
            was_ready: false,
        }
    }

    /// The model's contract and labels.
    pub fn model_info(&self) -> &ModelInfo {
        self.model.info()
    }

    /// Gives the model back, e.g. to start a fresh session with it.
    pub fn into_model(self) -> C {
        self.model
    }

    /// Swaps in another model (e.g. after an update); the smoothing restarts.
    pub fn set_model(&mut self, model: C) {
        self.model = model;
        self.smoother.reset();
    }

    /// Takes the next `seconds` as the empty mat (the user pressed "calibrate").
    pub fn calibrate(&mut self, seconds: f64) {
        self.features.calibrate(seconds);
        self.smoother.reset();
    }

    /// Measures the user's load over the next `seconds` while they lie fully on the mat
    /// ([`crate::personal`]); [`MonitorEvent::PersonalCalibration`] tells the outcome.
    pub fn calibrate_user(&mut self, seconds: f64) {
        self.personal_calibrator = Some(PersonalCalibrator::new(seconds));
    }

    /// Uses a saved personal calibration (`None`: the user has none). Models that do not read it
    /// are unaffected.
    pub fn set_personal_calibration(&mut self, calibration: Option<PersonalCalibration>) {
        self.personal = calibration;
        self.smoother.reset();
    }

    /// The personal calibration in use.
    pub fn personal_calibration(&self) -> Option<PersonalCalibration> {
        self.personal
    }

    /// Seconds left of a personal calibration in progress at session time `now`.
    pub fn personal_calibration_remaining_s(&self, now: f64) -> Option<f64> {
        self.personal_calibrator.as_ref().map(|c| c.remaining_s(now))
    }

    /// Feeds the phone's barometer (ambient pressure, Pa; Android's hPa × 100) whenever it reads:
    /// while someone is on the mat the baseline then follows the measured weather instead of a
    /// trend (crate::baseline). Returns `false` for a reading that cannot be ambient pressure.
    pub fn set_ambient_pressure(&mut self, pa: f64) -> bool {
        self.features.set_ambient(pa)
    }

    /// The features stage (baseline access for saving per mat).
    pub fn features(&mut self) -> &mut FeatureExtractor {
        &mut self.features
    }

    /// Changes the absence timeout (`None` disables it).
    pub fn set_absence_timeout(&mut self, seconds: Option<f64>) {
        self.cfg.absence_timeout_s = seconds;
        self.timeout_fired = false;
    }

    /// Processes one frame: the hot path (no allocation). Extra events (baseline, timeout) are
    /// pushed to `events`; the returned update is the frame's state.
    pub fn process(&mut self, frame: &Frame, events: &mut Vec<MonitorEvent>) -> Result<StateUpdate, InferenceError> {
        let status = self.features.push(frame);
        if let Some(e) = self.features.take_event() {
            self.smoother.reset();
            events.push(MonitorEvent::Baseline(e));
            if self.personal_calibrator.take().is_some() {
                let why = "the empty-mat baseline changed: the mat was empty".to_string();
                events.push(MonitorEvent::PersonalCalibration(Err(PersonalCalibrationError::Interrupted(why))));
            }
        }
        let mut update = StateUpdate {
            t: frame.t,
            state: None,
            present: false,
            confidence: 0.0,
            pressures: frame.pressures,
            inference: None,
            posture_confidence: None,
            absent_for_s: None,
        };
        let ready = status == FeatureStatus::Ready && self.features.window(&mut self.window);
        if ready && !self.was_ready {
            self.smoother.reset();
        }
        self.was_ready = ready;
        if self.personal_calibrator.is_some() {
            self.feed_personal_calibration(frame.t, status, ready, events);
        }
        if ready {
            let load = user_load(&self.window, self.personal.as_ref());
            let pred = self.model.classify(&self.window, &load)?;
            let probabilities = if self.features.is_still() { &STILL_IS_ABSENT } else { &pred.probabilities };
            let (state, confidence) = self.smoother.update(probabilities);
            update.state = Some(state);
            update.present = state.is_present();
            update.confidence = confidence.clamp(0.0, 1.0);
            update.inference = Some(pred.latency);
            if state.is_present()
                && let Some(avg) = self.smoother.averaged()
            {
                let present = 1.0 - avg[PresenceState::Absent.index()];
                update.posture_confidence = Some((avg[state.index()] / present.max(1e-6)).clamp(0.0, 1.0));
            }
        }
        match update.state {
            Some(PresenceState::Absent) => {
                let since = *self.absent_since.get_or_insert(self.last_present_t.unwrap_or(frame.t));
                update.absent_for_s = Some(frame.t - since);
                if let Some(limit) = self.cfg.absence_timeout_s
                    && !self.timeout_fired
                    && frame.t - since >= limit
                {
                    self.timeout_fired = true;
                    events.push(MonitorEvent::AbsenceTimeout { t: frame.t, absent_for_s: frame.t - since });
                }
            }
            Some(_) => {
                self.last_present_t = Some(frame.t);
                self.absent_since = None;
                self.timeout_fired = false;
            }
            None => {}
        }
        Ok(update)
    }

    fn feed_personal_calibration(
        &mut self,
        t: f64,
        status: FeatureStatus,
        ready: bool,
        events: &mut Vec<MonitorEvent>,
    ) {
        let result = match status {
            FeatureStatus::NoBaseline => Some(Err(PersonalCalibrationError::NoBaseline)),
            FeatureStatus::Calibrating { .. } => {
                Some(Err(PersonalCalibrationError::Interrupted("the empty mat is being calibrated".into())))
            }
            _ if ready => self.personal_calibrator.as_mut().and_then(|c| c.push(t, newest_load_pa(&self.window))),
            // The window refills after a gap: those frames are not counted.
            _ => None,
        };
        if let Some(result) = result {
            self.personal_calibrator = None;
            if let Ok(c) = result {
                self.personal = Some(c);
                self.smoother.reset();
            }
            events.push(MonitorEvent::PersonalCalibration(result));
        }
    }

    /// Runs until the source ends or `cancel` is cancelled, handing every event to `sink`
    /// (blocks; run it on its own thread). Bad input is skipped and counted, never fatal.
    pub fn run(
        &mut self,
        source: &mut dyn FrameSource,
        cancel: &CancelToken,
        mut sink: impl FnMut(&MonitorEvent),
    ) -> Result<MonitorSummary, InferenceError> {
        let mut summary = MonitorSummary::default();
        let mut latencies = Vec::new();
        let mut extra = Vec::new();
        while !cancel.is_cancelled() {
            let Some(event) = source.next_event() else { break };
            match event {
                SourceEvent::Frame(frame) => {
                    let update = self.process(&frame, &mut extra)?;
                    summary.frames += 1;
                    *summary.state_frames.entry(update.state_name().to_string()).or_default() += 1;
                    if let Some(l) = update.inference {
                        latencies.push(l);
                    }
                    sink(&MonitorEvent::State(update));
                    for e in extra.drain(..) {
                        sink(&e);
                    }
                }
                SourceEvent::Skipped(err) => {
                    let kind = skip_kind(&err);
                    *summary.skipped.entry(kind.to_string()).or_default() += 1;
                    if summary.skipped_examples.len() < 10 {
                        summary.skipped_examples.push(err.to_string());
                    }
                    sink(&MonitorEvent::Skipped(err));
                }
                SourceEvent::Status(s) => {
                    if matches!(s, SourceStatus::Disconnected { .. }) {
                        summary.disconnects += 1;
                    }
                    sink(&MonitorEvent::Status(s))
                }
            }
        }
        summary.inferences = latencies.len() as u64;
        latencies.sort();
        let pct = |q: f64| {
            latencies.get(((latencies.len() as f64 - 1.0) * q).round() as usize).map_or(0.0, |d| d.as_secs_f64() * 1e6)
        };
        summary.inference_p50_us = pct(0.5);
        summary.inference_p99_us = pct(0.99);
        Ok(summary)
    }
}

fn skip_kind(e: &SourceError) -> &'static str {
    use crate::frame::FrameError;
    use crate::recording::RecordingError;
    match e {
        SourceError::BadFrame(FrameError::TooShort { .. }) => "short frame",
        SourceError::BadFrame(FrameError::NotFinite { .. })
        | SourceError::Recording(RecordingError::BadFrame { source: FrameError::NotFinite { .. }, .. }) => {
            "non-finite pressure"
        }
        SourceError::BadFrame(FrameError::OutOfRange { .. })
        | SourceError::Recording(RecordingError::BadFrame { .. }) => "pressure out of range",
        SourceError::Recording(RecordingError::MissingColumn { .. }) => "missing column",
        SourceError::Recording(RecordingError::BadField { column: "Timestamp", .. }) => "bad timestamp",
        SourceError::Recording(_) => "bad row",
        SourceError::Ble(_) => "bluetooth",
        SourceError::UnknownSource { .. } => "unknown source",
    }
}

#[cfg(test)]
mod tests {
    //! The monitor's rules with a scripted classifier in place of a trained model.
    use super::*;
    use crate::features::{CHANNELS, INPUT_NAME, WINDOW_FRAMES};
    use crate::personal::{USER_LOAD_NAME, newest_load_pa};

    /// Says "sitting" when the newest frame carries more than 500 Pa over the baseline (or always, with
    /// `always_present`), else "absent"; records every `user_load` it is given.
    struct Scripted {
        info: ModelInfo,
        always_present: bool,
        loads: Vec<[f32; USER_LOAD_LEN]>,
    }

    const SITTING: [f32; 4] = [0.05, 0.9, 0.03, 0.02];
    const ABSENT: [f32; 4] = [0.95, 0.03, 0.01, 0.01];

    impl Scripted {
        fn new() -> Self {
            let info = ModelInfo {
                path: "scripted".into(),
                feature_version: crate::features::FEATURE_VERSION,
                window_frames: WINDOW_FRAMES,
                channels: CHANNELS,
                labels: ["absent", "sitting", "lying_full", "lying_partial"].map(String::from).to_vec(),
                inputs: vec![INPUT_NAME.to_string(), USER_LOAD_NAME.to_string()],
                quantized: false,
            };
            Scripted { info, always_present: false, loads: Vec::new() }
        }
    }

    impl Classifier for Scripted {
        fn info(&self) -> &ModelInfo {
            &self.info
        }

        fn classify(
            &mut self,
            window: &[f32; WINDOW_LEN],
            user_load: &[f32; USER_LOAD_LEN],
        ) -> Result<Prediction, InferenceError> {
            self.loads.push(*user_load);
            let present = self.always_present || newest_load_pa(window) > 500.0;
            Ok(Prediction { probabilities: if present { SITTING } else { ABSENT }, latency: Duration::from_micros(5) })
        }
    }

    const DT: f64 = 0.15;
    const BASE: f32 = 98_000.0;

    fn monitor(timeout_s: Option<f64>) -> Monitor<Scripted> {
        let cfg = MonitorConfig { absence_timeout_s: timeout_s, calibrate_s: Some(2.0), ..MonitorConfig::default() };
        Monitor::new(Scripted::new(), cfg)
    }

    /// Frames from `from` to `to` s with `load` Pa on each bladder over the empty mat; a person breathes
    /// (±30 Pa at 0.3 Hz), an object does not (`breathing` false).
    fn feed(
        m: &mut Monitor<Scripted>,
        (from, to): (f64, f64),
        load: f32,
        breathing: bool,
        events: &mut Vec<MonitorEvent>,
    ) -> Vec<StateUpdate> {
        let mut out = Vec::new();
        let mut t = from;
        while t < to {
            let wobble = if breathing { 30.0 * (2.0 * std::f64::consts::PI * 0.3 * t).sin() as f32 } else { 0.0 };
            let pressures = std::array::from_fn(|i| BASE + i as f32 * 7.0 + load + wobble);
            out.push(m.process(&Frame { t, pressures }, events).expect("the scripted classifier never fails"));
            t += DT;
        }
        out
    }

    fn timeouts(events: &[MonitorEvent]) -> Vec<(f64, f64)> {
        events
            .iter()
            .filter_map(|e| match e {
                MonitorEvent::AbsenceTimeout { t, absent_for_s } => Some((*t, *absent_for_s)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_person_is_reported_after_the_dwell_and_the_absence_timeout_fires_once_counted_from_their_leaving() {
        let mut m = monitor(Some(60.0));
        let mut events = Vec::new();
        let calibrating = feed(&mut m, (0.0, 2.0), 0.0, false, &mut events);
        assert!(calibrating.iter().all(|u| u.state.is_none()), "unknown while the empty mat is measured");
        let empty = feed(&mut m, (2.0, 10.0), 0.0, false, &mut events);
        assert_eq!(empty.last().unwrap().state, Some(PresenceState::Absent));

        let person = feed(&mut m, (10.0, 30.0), 400.0, true, &mut events);
        let first_present = person.iter().position(|u| u.present).expect("the person is seen");
        // The window needs the load in its newest frame, then the smoother's dwell (2 frames past 0.6).
        assert!((1..=4).contains(&first_present), "seen after {first_present} frames");
        assert!(person[first_present..].iter().all(|u| u.state == Some(PresenceState::Sitting)), "no flicker");
        assert!(person.iter().all(|u| u.absent_for_s.is_none() || !u.present));

        let after = feed(&mut m, (30.0, 100.0), 0.0, false, &mut events);
        // The smoother lets the person go a few frames after their load does.
        let last_present_t = person.iter().chain(&after).rfind(|u| u.present).unwrap().t;
        assert!(last_present_t < 31.0, "gone within a second: {last_present_t}");
        let fired = timeouts(&events);
        assert_eq!(fired.len(), 1, "once per absence: {fired:?}");
        let (t, absent_for) = fired[0];
        assert!((absent_for - 60.0).abs() < DT + 1e-9, "fires when the absence reaches 60 s: {absent_for}");
        assert!((t - last_present_t - absent_for).abs() < 1e-9, "counted from the last frame with the person");
        let end = after.last().unwrap();
        assert!((end.absent_for_s.unwrap() - (end.t - last_present_t)).abs() < 1e-9);
    }

    #[test]
    fn a_person_back_before_the_timeout_restarts_it() {
        let mut m = monitor(Some(30.0));
        let mut events = Vec::new();
        feed(&mut m, (0.0, 5.0), 0.0, false, &mut events);
        feed(&mut m, (5.0, 10.0), 400.0, true, &mut events);
        feed(&mut m, (10.0, 35.0), 0.0, false, &mut events); // 25 s empty
        feed(&mut m, (35.0, 40.0), 400.0, true, &mut events);
        feed(&mut m, (40.0, 65.0), 0.0, false, &mut events); // 25 s empty again
        assert!(timeouts(&events).is_empty(), "neither absence reached 30 s");
        feed(&mut m, (65.0, 75.0), 0.0, false, &mut events);
        assert_eq!(timeouts(&events).len(), 1);
    }

    #[test]
    fn a_still_load_is_absent_whatever_the_model_says() {
        let mut m = monitor(None);
        m.model.always_present = true;
        let mut events = Vec::new();
        feed(&mut m, (0.0, 5.0), 0.0, false, &mut events);
        // A bag on the mat: a load, but perfectly still (a person breathes).
        let bag = feed(&mut m, (5.0, 20.0), 1500.0, false, &mut events);
        assert!(bag.iter().any(|u| u.present), "the model's 'sitting' shows while the mat is not yet known still");
        assert_eq!(bag.last().unwrap().state, Some(PresenceState::Absent), "still for 6 s: empty");
        // A person is never still: the model's word counts again.
        let person = feed(&mut m, (20.0, 30.0), 1500.0, true, &mut events);
        assert_eq!(person.last().unwrap().state, Some(PresenceState::Sitting));
    }

    #[test]
    fn the_personal_calibration_reaches_the_model_as_the_share_of_the_users_load() {
        let mut m = monitor(None);
        let mut events = Vec::new();
        feed(&mut m, (0.0, 5.0), 0.0, false, &mut events);
        feed(&mut m, (5.0, 10.0), 500.0, true, &mut events);
        let uncalibrated = *m.model.loads.last().unwrap();
        assert_eq!(uncalibrated, [0.0, 0.0], "no calibration: [0, 0]");

        // 4 bladders × 500 Pa ≈ 2000 Pa now; the user's full load is 4000 Pa: half of it is on the mat.
        m.set_personal_calibration(Some(PersonalCalibration::new(4000.0).unwrap()));
        feed(&mut m, (10.0, 15.0), 500.0, true, &mut events);
        let [share, known] = *m.model.loads.last().unwrap();
        assert_eq!(known, 1.0);
        assert!((share - 0.5).abs() < 0.05, "share {share}");
    }

    #[test]
    fn a_new_empty_mat_calibration_interrupts_a_personal_one() {
        let mut m = monitor(None);
        let mut events = Vec::new();
        feed(&mut m, (0.0, 5.0), 0.0, false, &mut events);
        feed(&mut m, (5.0, 8.0), 800.0, true, &mut events);
        m.calibrate_user(10.0);
        feed(&mut m, (8.0, 10.0), 800.0, true, &mut events);
        m.calibrate(2.0);
        feed(&mut m, (10.0, 13.0), 800.0, true, &mut events);
        let outcome = events.iter().find_map(|e| match e {
            MonitorEvent::PersonalCalibration(r) => Some(r.clone()),
            _ => None,
        });
        assert!(
            matches!(outcome, Some(Err(PersonalCalibrationError::Interrupted(_)))),
            "the user's measurement is refused, not taken against a moving baseline: {outcome:?}"
        );
        assert_eq!(m.personal_calibration(), None, "nothing half-measured is used");
    }
}
