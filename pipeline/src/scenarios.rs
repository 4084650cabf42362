//! Long sessions made of the real recordings: the empty mat and the person, looped into hours,
//! with the weather drifting under them (both signs, several rates) and the bladders' air warming
//! while someone lies there and cooling after. Each runs through the same monitor the phone runs
//! and is scored on what the product promises: presence held while occupied, absence found soon
//! after the person leaves, and the absence timeout firing.

use crate::evaluate::real_session;
use hapticmat_core::features::Baseline;
use hapticmat_core::inference::PresenceModel;
use hapticmat_core::monitor::{Monitor, MonitorConfig, MonitorEvent};
use hapticmat_core::recording::Recording;
use hapticmat_core::{Frame, PresenceState};
use serde::Serialize;
use std::path::Path;

/// Final warm-air rise under a person, Pa (observed up to ≈ +120 Pa), reached with τ = 5 min.
pub const WARM_RISE_PA: f64 = 120.0;
/// Time constant of the warm-air rise and decay, s.
pub const WARM_TAU_S: f64 = 300.0;
/// Calibration at the start of every scenario (the app's "calibrate" on an empty mat), s.
pub const CALIBRATE_S: f64 = 10.0;
/// Presence is not scored this long after the person arrives (sitting down, window filling), s.
pub const ARRIVAL_MARGIN_S: f64 = 15.0;
/// The promise: the empty mat is reported absent within this long after the person leaves, s.
pub const ABSENT_WITHIN_S: f64 = 60.0;

/// One long session: empty, then a person, then empty, with weather drifting throughout.
#[derive(Debug, Clone, Serialize)]
pub struct Scenario {
    /// Short name for tables and test messages.
    pub name: String,
    /// Empty mat before the person arrives, s.
    pub empty_before_s: f64,
    /// The person on the mat, s.
    pub occupied_s: f64,
    /// Empty mat after they leave, s.
    pub empty_after_s: f64,
    /// Weather trend before the person arrives, Pa/h.
    pub drift_before_pa_per_h: f64,
    /// Weather trend from their arrival on, Pa/h.
    pub drift_pa_per_h: f64,
    /// The monitor starts with a saved baseline this far below the real empty mat, Pa, and no
    /// calibration (a phone reopening yesterday's session); 0 = calibrate at the start.
    pub stale_baseline_pa: f64,
    /// The phone's barometer is fed to the monitor (once a second, ±3 Pa jitter, its own offset).
    pub barometer: bool,
}

impl Scenario {
    fn evening(drift: f64) -> Self {
        Scenario {
            name: format!("evening, {drift:+.0} Pa/h"),
            empty_before_s: 1200.0,
            occupied_s: 7200.0,
            empty_after_s: 900.0,
            drift_before_pa_per_h: drift,
            drift_pa_per_h: drift,
            stale_baseline_pa: 0.0,
            barometer: false,
        }
    }
}

/// The scenarios of `docs/long-sessions.md`: 2-hour stays under steady weather of both signs and
/// several rates, the weather turning while the person lies there, a person arriving before any
/// trend could be measured, and a stale saved baseline.
pub fn standard() -> Vec<Scenario> {
    let mut v: Vec<Scenario> =
        [0.0, 100.0, -100.0, 300.0, -300.0, 500.0, -500.0].into_iter().map(Scenario::evening).collect();
    v.push(Scenario {
        name: "weather turns under the person, +300 → −500 Pa/h".into(),
        drift_before_pa_per_h: 300.0,
        drift_pa_per_h: -500.0,
        ..Scenario::evening(0.0)
    });
    v.push(Scenario {
        name: "arrives at once, −500 Pa/h, no trend known".into(),
        empty_before_s: 120.0,
        ..Scenario::evening(-500.0)
    });
    v.push(Scenario {
        name: "arrives at once, +500 Pa/h, no trend known".into(),
        empty_before_s: 120.0,
        ..Scenario::evening(500.0)
    });
    v.push(Scenario {
        name: "stale saved baseline −250 Pa, +100 Pa/h".into(),
        empty_before_s: 120.0,
        occupied_s: 1800.0,
        stale_baseline_pa: 250.0,
        ..Scenario::evening(100.0)
    });
    // The cases the trend cannot know, with the phone's barometer measuring the weather instead.
    let measured: Vec<Scenario> = v
        .iter()
        .filter(|s| {
            s.drift_before_pa_per_h != s.drift_pa_per_h || s.empty_before_s < 300.0 && s.stale_baseline_pa == 0.0
        })
        .map(|s| Scenario { name: format!("{}, phone barometer", s.name), barometer: true, ..s.clone() })
        .collect();
    v.extend(measured);
    v
}

/// A spliced session: frames with the truth (person on the mat) and the time they left.
#[derive(Debug, Clone)]
pub struct Spliced {
    /// Frames in time order.
    pub frames: Vec<Frame>,
    /// Whether a person was on the mat at each frame.
    pub occupied: Vec<bool>,
    /// When the person arrived, s.
    pub arrived_s: f64,
    /// When the person left, s.
    pub left_s: f64,
    /// The real empty mat's level at t = 0 (per bladder), Pa.
    pub empty_level: [f32; 4],
    /// The weather's offset at each frame, Pa (what a barometer beside the mat sees change).
    pub weather_pa: Vec<f64>,
}

/// Loops `rec` from `t0` for `seconds`, at the recording's own pace; `pressure(t, p)` adds the
/// weather and the warm air.
fn looped(rec: &Recording, t0: f64, seconds: f64, out: &mut Vec<Frame>, pressure: impl Fn(f64, [f32; 4]) -> [f32; 4]) {
    let frames = rec.frames();
    let step = rec.median_interval().unwrap_or(0.15);
    let period = frames.last().map_or(0.0, |f| f.t) + step;
    if frames.is_empty() {
        return;
    }
    'laps: for lap in 0.. {
        for f in &frames {
            let t = t0 + lap as f64 * period + f.t;
            if t >= t0 + seconds {
                break 'laps;
            }
            out.push(Frame { t, pressures: pressure(t, f.pressures) });
        }
    }
}

/// Builds the session of `s` from the empty and the person recordings.
pub fn splice(s: &Scenario, empty: &Recording, human: &Recording) -> Spliced {
    let (arrive, leave) = (s.empty_before_s, s.empty_before_s + s.occupied_s);
    let end = leave + s.empty_after_s;
    let weather = |t: f64| {
        let before = s.drift_before_pa_per_h / 3600.0 * t.min(arrive);
        let after = s.drift_pa_per_h / 3600.0 * (t - arrive).max(0.0);
        before + after
    };
    let warm_at_leave = WARM_RISE_PA * (1.0 - (-(leave - arrive) / WARM_TAU_S).exp());
    let warm = |t: f64| {
        if t < arrive {
            0.0
        } else if t < leave {
            WARM_RISE_PA * (1.0 - (-(t - arrive) / WARM_TAU_S).exp())
        } else {
            warm_at_leave * (-(t - leave) / WARM_TAU_S).exp()
        }
    };
    let add = |t: f64, p: [f32; 4]| p.map(|v| (v as f64 + weather(t) + warm(t)) as f32);
    let mut frames = Vec::new();
    looped(empty, 0.0, arrive, &mut frames, add);
    let n_before = frames.len();
    looped(human, arrive, s.occupied_s, &mut frames, add);
    let n_occupied = frames.len() - n_before;
    looped(empty, leave, end - leave, &mut frames, add);
    let occupied = (0..frames.len()).map(|i| i >= n_before && i < n_before + n_occupied).collect();
    let rows = empty.frames();
    let empty_level = std::array::from_fn(|i| {
        (rows.iter().map(|f| f.pressures[i] as f64).sum::<f64>() / rows.len().max(1) as f64) as f32
    });
    let weather_pa = frames.iter().map(|f| weather(f.t)).collect();
    Spliced { frames, occupied, arrived_s: arrive, left_s: leave, empty_level, weather_pa }
}

/// How one scenario went.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioResult {
    /// The scenario.
    pub scenario: Scenario,
    /// Frames in the session.
    pub frames: usize,
    /// Of the occupied frames (after [`ARRIVAL_MARGIN_S`]), the fraction reported present.
    pub occupied_present: f64,
    /// Of the occupied frames, the fraction reported `unknown`.
    pub occupied_unknown: f64,
    /// Of the empty frames after calibration (except the [`ABSENT_WITHIN_S`] after leaving), the
    /// fraction reported absent.
    pub empty_absent: f64,
    /// Seconds from the person leaving to the state turning absent for good (`None`: never).
    pub time_to_absent_s: Option<f64>,
    /// The absence timeout used, s.
    pub absence_timeout_s: f64,
    /// Seconds from the person leaving to the absence timeout firing (`None`: it never fired).
    pub timeout_after_leaving_s: Option<f64>,
    /// `absent_for` on the last frame, s.
    pub absent_for_at_end_s: Option<f64>,
    /// Whether the absence timeout fired while the person was on the mat (must never happen).
    pub timeout_while_occupied: bool,
}

impl ScenarioResult {
    /// Whether the product's promise held: presence while occupied (≥ 95 % of frames), absent
    /// within [`ABSENT_WITHIN_S`] after leaving, and the absence timeout fired after leaving only.
    pub fn holds(&self) -> bool {
        self.occupied_present >= 0.95
            && self.time_to_absent_s.is_some_and(|s| s <= ABSENT_WITHIN_S)
            && self.timeout_after_leaving_s.is_some()
            && !self.timeout_while_occupied
    }
}

/// Runs one scenario through a monitor with `model`.
pub fn run_scenario(
    model: PresenceModel,
    s: &Scenario,
    empty: &Recording,
    human: &Recording,
    absence_timeout_s: f64,
) -> anyhow::Result<(ScenarioResult, PresenceModel)> {
    let spliced = splice(s, empty, human);
    let calibrate = s.stale_baseline_pa == 0.0;
    let cfg = MonitorConfig {
        calibrate_s: calibrate.then_some(CALIBRATE_S),
        absence_timeout_s: Some(absence_timeout_s),
        ..Default::default()
    };
    let mut monitor = Monitor::new(model, cfg);
    if !calibrate {
        let stale = spliced.empty_level.map(|v| v - s.stale_baseline_pa as f32);
        monitor.features().set_baseline(Baseline { pressures: stale });
    }
    let mut events = Vec::new();
    let (mut occ, mut occ_present, mut occ_unknown, mut emp, mut emp_absent) = (0usize, 0usize, 0usize, 0usize, 0usize);
    let mut first_absent_after_leave: Option<f64> = None;
    let mut timeout_at = None;
    let mut timeout_while_occupied = false;
    let mut absent_for_at_end = None;
    let mut last_reading = f64::NEG_INFINITY;
    for ((frame, &occupied), weather) in spliced.frames.iter().zip(&spliced.occupied).zip(&spliced.weather_pa) {
        if s.barometer && frame.t - last_reading >= 1.0 {
            // A phone barometer reads ambient air, not the bladders: its own offset, a few Pa of jitter.
            let jitter = 3.0 * (frame.t * 0.7).sin();
            monitor.set_ambient_pressure(101_325.0 + weather + jitter);
            last_reading = frame.t;
        }
        let u = monitor.process(frame, &mut events)?;
        for e in events.drain(..) {
            if let MonitorEvent::AbsenceTimeout { t, .. } = e {
                if occupied {
                    timeout_while_occupied = true;
                } else if t > spliced.left_s {
                    timeout_at.get_or_insert(t);
                }
            }
        }
        absent_for_at_end = u.absent_for_s;
        let t = frame.t;
        if occupied {
            if t >= spliced.arrived_s + ARRIVAL_MARGIN_S {
                occ += 1;
                occ_present += u.present as usize;
                occ_unknown += u.state.is_none() as usize;
            }
        } else {
            if t >= spliced.left_s {
                if u.state == Some(PresenceState::Absent) {
                    first_absent_after_leave.get_or_insert(t);
                } else {
                    first_absent_after_leave = None;
                }
            }
            let settling = t >= spliced.left_s && t < spliced.left_s + ABSENT_WITHIN_S;
            if t >= CALIBRATE_S && !settling {
                emp += 1;
                emp_absent += (u.state == Some(PresenceState::Absent)) as usize;
            }
        }
    }
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let result = ScenarioResult {
        scenario: s.clone(),
        frames: spliced.frames.len(),
        occupied_present: ratio(occ_present, occ),
        occupied_unknown: ratio(occ_unknown, occ),
        empty_absent: ratio(emp_absent, emp),
        time_to_absent_s: first_absent_after_leave.map(|t| t - spliced.left_s),
        absence_timeout_s,
        timeout_after_leaving_s: timeout_at.map(|t| t - spliced.left_s),
        absent_for_at_end_s: absent_for_at_end,
        timeout_while_occupied,
    };
    Ok((result, monitor.into_model()))
}

/// Runs every scenario with the model at `model_path` over the real recordings in `recordings`.
pub fn run_all(
    model_path: &Path,
    recordings: &Path,
    scenarios: &[Scenario],
    absence_timeout_s: f64,
) -> anyhow::Result<Vec<ScenarioResult>> {
    let files = real_session(recordings).ok_or_else(|| {
        anyhow::anyhow!(
            "{} does not hold the real recordings (empty_or_cat_on_mat.csv, human_on_mat.csv)",
            recordings.display()
        )
    })?;
    let empty = Recording::read(&files[0].0)?;
    let human = Recording::read(&files[1].0)?;
    let mut model = PresenceModel::load(model_path)?;
    let mut out = Vec::new();
    for s in scenarios {
        let (r, m) = run_scenario(model, s, &empty, &human, absence_timeout_s)?;
        model = m;
        out.push(r);
    }
    Ok(out)
}

/// The scenario document (`docs/long-sessions.md`), Markdown.
pub fn markdown(model: &Path, results: &[ScenarioResult]) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# Presence over hours: long sessions with drifting weather\n\n\
         Made by `pipeline scenarios --model {} --out docs/long-sessions.md`.\n\n\
         Each scenario splices the two real recordings (`empty_or_cat_on_mat.csv`, `human_on_mat.csv`, looped at \
         their own pace) into one session: an empty mat, a person for hours, an empty mat again. The weather moves \
         every bladder by the stated trend for the whole session, and the bladders' air warms by up to \
         +{WARM_RISE_PA:.0} Pa under the person (τ {WARM_TAU_S:.0} s) and cools after they leave. The session runs \
         through the phone's monitor (calibration on the first {CALIBRATE_S:.0} s unless a stale saved baseline is \
         used). Scored: presence on the occupied frames after the first {ARRIVAL_MARGIN_S:.0} s; absent on the \
         empty frames (the first {ABSENT_WITHIN_S:.0} s after leaving left out); the time from leaving until the \
         state turns absent for good; when the absence timeout fires. A scenario *holds* when presence is right on \
         ≥ 95 % of occupied frames, absence comes within {ABSENT_WITHIN_S:.0} s, and the timeout fires after \
         leaving and never while occupied.\n\n\
         The baseline follows the weather by the stillness rule of `rust-core/src/baseline.rs`, the same code in \
         training and on the phone: a person is never still (σ ≥ 28 Pa over any 6 s of the real recording), an \
         empty mat is (σ ≈ 0.5 Pa); while the mat is still the baseline is its level, while it is occupied the \
         baseline follows the weather trend measured on the last long still stretch (at most {:.0} Pa/h, \
         {:.0} Pa in all). Where the phone's barometer is fed (the scenarios so named), the baseline follows the \
         ambient pressure it measures instead, so weather that turns, or arrives before any trend was seen, is \
         followed too.\n",
        model.display(),
        hapticmat_core::baseline::MAX_TREND_PA_PER_H,
        hapticmat_core::baseline::MAX_EXTRAPOLATION_PA,
    );
    let _ = writeln!(
        s,
        "| scenario | empty before | occupied | occupied: present | occupied: unknown | empty: absent | absent after leaving | timeout ({:.0} s) after leaving | holds |\n|---|---|---|---|---|---|---|---|---|",
        results.first().map_or(0.0, |r| r.absence_timeout_s)
    );
    let opt = |v: Option<f64>| v.map_or("never".to_string(), |v| format!("{v:.1} s"));
    for r in results {
        let sc = &r.scenario;
        let _ = writeln!(
            s,
            "| {} | {:.0} min | {:.0} min | {:.2} % | {:.2} % | {:.2} % | {} | {} | {} |",
            sc.name,
            sc.empty_before_s / 60.0,
            sc.occupied_s / 60.0,
            100.0 * r.occupied_present,
            100.0 * r.occupied_unknown,
            100.0 * r.empty_absent,
            opt(r.time_to_absent_s),
            opt(r.timeout_after_leaving_s),
            if r.holds() { "yes" } else { "**no**" }
        );
    }
    let _ = writeln!(s, "\nModel: `{}`.", model.display());
    s
}
