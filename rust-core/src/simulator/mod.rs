//! A physically-motivated simulated mat, calibrated to the real recordings (docs/design.md §2): absolute
//! bladder pressures from atmosphere (altitude, weather, drift), bladder inflation, sensor noise, and
//! the load of whoever is on the mat (body weight spread over the bladders by posture, breathing,
//! heartbeat, fidgeting, warming of the air), pets and objects, BLE frame jitter and drops.
//! Deterministic from a seed: the same config and seed give the same frames on every platform.

mod layout;

pub use layout::{BladderLayout, BladderZone};

use crate::frame::{BLADDERS, Frame};
use crate::state::PresenceState;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, LogNormal, Normal};
use serde::{Deserialize, Serialize};
use std::f64::consts::TAU;

/// Standard gravity, m/s².
const G: f64 = 9.806_65;
/// Sea-level standard atmosphere, Pa.
const SEA_LEVEL_PA: f64 = 101_325.0;
/// Pressure lapse near the ground: −1.2 kPa per 100 m (docs/design.md §2).
const PA_PER_METRE: f64 = 12.0;

/// A closed range `[lo, hi]` drawn uniformly.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Range {
    /// Lower bound.
    pub lo: f64,
    /// Upper bound.
    pub hi: f64,
}

const fn r(lo: f64, hi: f64) -> Range {
    Range { lo, hi }
}

impl Range {
    fn draw(&self, rng: &mut impl Rng) -> f64 {
        if self.hi > self.lo { rng.random_range(self.lo..=self.hi) } else { self.lo }
    }
}

/// Everything the simulator draws from. Defaults are calibrated to the real recordings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimConfig {
    /// Where the bladders are.
    pub layout: BladderLayout,
    /// Altitude of the mat, m (levels fall 12 Pa per metre).
    pub altitude_m: Range,
    /// Weather offset from the standard atmosphere, Pa (±2 kPa observed).
    pub weather_pa: Range,
    /// Slow atmospheric drift rate, Pa per hour, either sign (typical weather ~100 Pa/h, fronts up
    /// to 500 Pa/h). Redrawn every [`drift_change_every_s`](Self::drift_change_every_s).
    pub drift_pa_per_hour: Range,
    /// How long one weather trend lasts before the next is drawn, s.
    pub drift_change_every_s: Range,
    /// Re-inflations (the pump topping the bladders up) per hour, only while the mat is empty.
    pub reinflations_per_hour: f64,
    /// Rise of every bladder at a re-inflation, Pa (spread over a few seconds).
    pub reinflation_pa: Range,
    /// Inflation of each bladder above ambient, Pa (real empty mat: bladders 50 Pa apart).
    pub inflation_pa: Range,
    /// White sensor noise σ, Pa (real empty mat: 0.48–0.76 Pa).
    pub sensor_noise_pa: Range,
    /// Bladder pressure rise per newton of load, Pa/N, calibrated so a 75 kg adult lying on the mat
    /// adds ≈ +700…+1800 Pa per bladder as in `human_on_mat.csv`.
    pub pa_per_newton: Range,
    /// Body weight of people, kg.
    pub weight_kg: Range,
    /// Body height of people, m.
    pub height_m: Range,
    /// Breathing rate, Hz (12–24 breaths a minute).
    pub breathing_hz: Range,
    /// Breathing load swing as a fraction of the torso's load.
    pub breathing_depth: Range,
    /// Fidget events per minute while someone is on the mat.
    pub fidgets_per_minute: Range,
    /// Warming of the bladder air under a body: final rise, Pa (τ ≈ 5 min).
    pub thermal_rise_pa: Range,
    /// Weight of pets, kg (cats and small dogs; larger animals are out of scope).
    pub pet_weight_kg: Range,
    /// Weight of objects left on the mat, kg.
    pub object_weight_kg: Range,
    /// Median interval between frames, s (observed 150 ms).
    pub frame_interval_s: f64,
    /// Shortest and longest interval between frames, s (observed 60–285 ms).
    pub frame_interval_bounds_s: Range,
    /// Probability that a frame is lost over BLE.
    pub drop_probability: f64,
    /// Length of the empty stretch every session starts with (calibration), s.
    pub initial_empty_s: Range,
    /// Length of a stay on the mat, s.
    pub stay_s: Range,
    /// Length of an empty stretch between stays, s.
    pub away_s: Range,
    /// Probability that a stay is a long one (an evening on the mat, a night's sleep).
    pub long_stay_probability: f64,
    /// Length of a long stay, s.
    pub long_stay_s: Range,
    /// Probability that a long stay is sleep: lying, no fidgets, only breathing and heartbeat.
    pub sleep_probability: f64,
    /// Probability that an empty stretch is a long one.
    pub long_away_probability: f64,
    /// Length of a long empty stretch, s.
    pub long_away_s: Range,
    /// Probability that an empty stretch has a pet on the mat.
    pub pet_probability: f64,
    /// Probability that an empty stretch has an object on the mat.
    pub object_probability: f64,
    /// Probability that a stay changes posture once midway.
    pub posture_change_probability: f64,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            layout: BladderLayout::default(),
            altitude_m: r(-50.0, 1500.0),
            weather_pa: r(-2000.0, 2000.0),
            drift_pa_per_hour: r(-500.0, 500.0),
            drift_change_every_s: r(1800.0, 10_800.0),
            reinflations_per_hour: 0.3,
            reinflation_pa: r(80.0, 500.0),
            inflation_pa: r(0.0, 80.0),
            sensor_noise_pa: r(0.45, 0.8),
            pa_per_newton: r(6.0, 8.0),
            weight_kg: r(40.0, 130.0),
            height_m: r(1.5, 1.95),
            breathing_hz: r(0.2, 0.4),
            breathing_depth: r(0.03, 0.08),
            fidgets_per_minute: r(0.5, 6.0),
            thermal_rise_pa: r(0.0, 120.0),
            pet_weight_kg: r(2.5, 9.0),
            object_weight_kg: r(0.5, 18.0),
            frame_interval_s: 0.150,
            frame_interval_bounds_s: r(0.060, 0.285),
            drop_probability: 0.01,
            initial_empty_s: r(15.0, 40.0),
            stay_s: r(20.0, 150.0),
            away_s: r(10.0, 90.0),
            long_stay_probability: 0.15,
            long_stay_s: r(1200.0, 7200.0),
            sleep_probability: 0.6,
            long_away_probability: 0.15,
            long_away_s: r(300.0, 2400.0),
            pet_probability: 0.3,
            object_probability: 0.2,
            posture_change_probability: 0.3,
        }
    }
}

/// A simulated frame with the truth behind it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SimFrame {
    /// The frame as the mat would send it.
    pub frame: Frame,
    /// What is really on the mat.
    pub label: PresenceState,
}

/// One body part's load: its share of body weight, position along the body (0 = head, 1 = feet)
/// and spread in metres.
struct Segment {
    weight: f64,
    along: f64,
    spread_m: f64,
}

/// Lying: head, chest, pelvis, thighs, lower legs (anthropometric weight fractions, rounded).
const LYING: [Segment; 5] = [
    Segment { weight: 0.08, along: 0.06, spread_m: 0.08 },
    Segment { weight: 0.32, along: 0.27, spread_m: 0.12 },
    Segment { weight: 0.28, along: 0.48, spread_m: 0.11 },
    Segment { weight: 0.20, along: 0.66, spread_m: 0.10 },
    Segment { weight: 0.12, along: 0.87, spread_m: 0.10 },
];

/// Which segments breathe (chest and pelvis carry the breathing swing).
const BREATHING_SEGMENTS: [bool; 5] = [false, true, true, false, false];

/// How a body rests on the mat: per-bladder share of body weight, and of the breathing swing.
#[derive(Debug, Clone, Copy, Default)]
struct Pose {
    shares: [f64; BLADDERS],
    breath: [f64; BLADDERS],
}

#[derive(Debug, Clone, Copy)]
struct Person {
    weight_n: f64,
    height_m: f64,
    breathing_hz: f64,
    breathing_depth: f64,
    heart_hz: f64,
    fidget_rate_hz: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Occupant {
    Nobody,
    Pet { weight_n: f64, breathing_hz: f64, moves_every_s: f64 },
    Object { weight_n: f64 },
}

/// What the session is doing now.
#[derive(Debug, Clone, Copy)]
enum Phase {
    Away { until: f64, occupant: Occupant },
    Stay { until: f64, posture: PresenceState, change_at: Option<(f64, PresenceState)>, sleep: bool },
}

/// A transient load bump (an arm moved, a leg lifted) on one bladder.
#[derive(Debug, Clone, Copy)]
struct Bump {
    bladder: usize,
    amplitude_pa: f64,
    start: f64,
    duration: f64,
}

/// The simulated mat: an endless, deterministic stream of labelled frames.
pub struct Simulator {
    cfg: SimConfig,
    rng: ChaCha8Rng,
    t: f64,
    /// Ambient + inflation of each bladder at t = 0, Pa.
    base_pa: [f64; BLADDERS],
    /// Current weather trend, Pa/s, until `drift_until`.
    drift_pa_per_s: f64,
    drift_until: f64,
    /// Weather change since t = 0, Pa (common to all bladders).
    weather_pa: f64,
    /// Air added by re-inflations so far, Pa, and the one in progress (start, length, rise).
    inflation_pa: f64,
    reinflating: Option<(f64, f64, f64)>,
    gain: [f64; BLADDERS],
    noise: [f64; BLADDERS],
    person: Person,
    phase: Phase,
    /// 0 = nobody on the mat, 1 = fully on it (ramps over the seconds it takes to sit or lie down).
    presence: f64,
    ramp_s: f64,
    pose: Pose,
    /// Pose being blended into during a posture change, with the blend's start and length.
    next_pose: Option<(Pose, f64, f64)>,
    /// Posture before the change in progress, reported until the blend is halfway.
    prev_posture: Option<PresenceState>,
    breath_phase: f64,
    heart_phase: f64,
    thermal_pa: f64,
    thermal_target: f64,
    bumps: Vec<Bump>,
    pet_pose: [f64; BLADDERS],
    pet_next_move: f64,
    interval: LogNormal<f64>,
    subject: u64,
}

impl Simulator {
    /// A new simulated mat. The session starts with an empty stretch long enough to calibrate.
    pub fn new(cfg: SimConfig, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let ambient = SEA_LEVEL_PA - PA_PER_METRE * cfg.altitude_m.draw(&mut rng) + cfg.weather_pa.draw(&mut rng);
        let base_pa = std::array::from_fn(|_| ambient + cfg.inflation_pa.draw(&mut rng));
        let drift_pa_per_s = cfg.drift_pa_per_hour.draw(&mut rng) / 3600.0;
        let drift_until = cfg.drift_change_every_s.draw(&mut rng);
        let gain_mean = cfg.pa_per_newton.draw(&mut rng);
        let gain = std::array::from_fn(|_| gain_mean * rng.random_range(0.9..1.1));
        let noise = std::array::from_fn(|_| cfg.sensor_noise_pa.draw(&mut rng));
        let person = Self::draw_person(&cfg, &mut rng);
        let until = cfg.initial_empty_s.draw(&mut rng);
        let sigma = 0.25f64; // log-normal spread of BLE intervals around the median
        let interval = LogNormal::new(cfg.frame_interval_s.ln(), sigma).expect("finite log-normal parameters");
        let thermal_target = cfg.thermal_rise_pa.draw(&mut rng);
        Simulator {
            phase: Phase::Away { until, occupant: Occupant::Nobody },
            cfg,
            rng,
            t: 0.0,
            base_pa,
            drift_pa_per_s,
            drift_until,
            weather_pa: 0.0,
            inflation_pa: 0.0,
            reinflating: None,
            gain,
            noise,
            person,
            presence: 0.0,
            ramp_s: 1.5,
            pose: Pose::default(),
            next_pose: None,
            prev_posture: None,
            breath_phase: 0.0,
            heart_phase: 0.0,
            thermal_pa: 0.0,
            thermal_target,
            bumps: Vec::new(),
            pet_pose: [0.0; BLADDERS],
            pet_next_move: 0.0,
            interval,
            subject: seed,
        }
    }

    /// The subject id of this session (one simulated person per session): split datasets on it.
    pub fn subject(&self) -> u64 {
        self.subject
    }

    /// The configuration in use.
    pub fn config(&self) -> &SimConfig {
        &self.cfg
    }

    fn draw_person(cfg: &SimConfig, rng: &mut ChaCha8Rng) -> Person {
        Person {
            weight_n: cfg.weight_kg.draw(rng) * G,
            height_m: cfg.height_m.draw(rng),
            breathing_hz: cfg.breathing_hz.draw(rng),
            breathing_depth: cfg.breathing_depth.draw(rng),
            heart_hz: rng.random_range(1.0..1.6),
            fidget_rate_hz: cfg.fidgets_per_minute.draw(rng) / 60.0,
        }
    }

    /// What a personal calibration ("lie fully on the mat for 10 s", crate::personal) of this
    /// session's person measures on this mat: the summed rise of the four bladders with the whole
    /// body on the mat, at a place of their own choosing, read to ±2 % (breathing averaged over 10 s).
    /// Draws from a generator of its own, so the session is the same whether it is called or not.
    pub fn personal_reference_load_pa(&mut self) -> f64 {
        let probe = ChaCha8Rng::seed_from_u64(self.subject ^ 0x7e7a_11ca_1b7a_7e5e);
        let saved = std::mem::replace(&mut self.rng, probe);
        let pose = self.draw_pose(PresenceState::LyingFull);
        let error = self.rng.random_range(0.98..1.02);
        self.rng = saved;
        (0..BLADDERS).map(|i| self.gain[i] * self.person.weight_n * pose.shares[i]).sum::<f64>() * error
    }

    /// Places the body for a posture: orientation, offset along and across the mat.
    fn draw_pose(&mut self, posture: PresenceState) -> Pose {
        let layout = &self.cfg.layout;
        let (len, wid) = (layout.length_m, layout.width_m);
        let h = self.person.height_m;
        let flip = self.rng.random_bool(0.5);
        let y = self.rng.random_range(0.3..0.7);
        let mut pose = Pose::default();
        let add = |along_m: f64, weight: f64, spread_m: f64, breathes: bool, pose: &mut Pose| {
            let x = if flip { 1.0 - along_m / len } else { along_m / len };
            let s = layout.shares(x, y, spread_m / len, spread_m * 1.6 / wid);
            for ((share, breath), s) in pose.shares.iter_mut().zip(&mut pose.breath).zip(s) {
                *share += weight * s;
                if breathes {
                    *breath += weight * s;
                }
            }
        };
        match posture {
            PresenceState::LyingFull | PresenceState::LyingPartial => {
                // Full: the body fits on the mat with some slack. Partial: shifted so that the
                // legs or the head and chest hang off (35–75% of the weight stays on the mat).
                let start = if posture == PresenceState::LyingFull {
                    self.rng.random_range(0.0..(len - h).max(0.0) + 0.05)
                } else if self.rng.random_bool(0.5) {
                    self.rng.random_range(len - 0.62 * h..len - 0.38 * h)
                } else {
                    -self.rng.random_range(0.3 * h..0.55 * h)
                };
                for (seg, breathes) in LYING.iter().zip(BREATHING_SEGMENTS) {
                    add(start + seg.along * h, seg.weight, seg.spread_m, breathes, &mut pose);
                }
            }
            PresenceState::Sitting => {
                // Sitting: the pelvis carries the upper body (~70%), thighs forward, feet on the mat
                // or on the floor.
                let seat = self.rng.random_range(0.25 * len..0.75 * len);
                let forward = if self.rng.random_bool(0.5) { 1.0 } else { -1.0 };
                add(seat, 0.70, 0.10, true, &mut pose);
                add(seat + forward * 0.25 * h, 0.18, 0.10, false, &mut pose);
                if self.rng.random_bool(0.5) {
                    add(seat + forward * 0.45 * h, 0.12, 0.06, false, &mut pose);
                }
            }
            PresenceState::Absent => {}
        }
        pose
    }

    fn start_phase(&mut self) {
        let now = self.t;
        let was_staying = matches!(self.phase, Phase::Stay { .. });
        self.phase = if was_staying {
            let occupant = if self.rng.random_bool(self.cfg.pet_probability) {
                Occupant::Pet {
                    weight_n: self.cfg.pet_weight_kg.draw(&mut self.rng) * G,
                    breathing_hz: self.rng.random_range(0.3..0.8),
                    moves_every_s: self.rng.random_range(3.0..20.0),
                }
            } else if self.rng.random_bool(self.cfg.object_probability) {
                Occupant::Object { weight_n: self.cfg.object_weight_kg.draw(&mut self.rng) * G }
            } else {
                Occupant::Nobody
            };
            let away = if self.rng.random_bool(self.cfg.long_away_probability) {
                self.cfg.long_away_s.draw(&mut self.rng)
            } else {
                self.cfg.away_s.draw(&mut self.rng)
            };
            Phase::Away { until: now + away, occupant }
        } else {
            let long = self.rng.random_bool(self.cfg.long_stay_probability);
            let sleep = long && self.rng.random_bool(self.cfg.sleep_probability);
            let posture = if sleep {
                PresenceState::ALL[self.rng.random_range(2..4)]
            } else {
                PresenceState::ALL[self.rng.random_range(1..4)]
            };
            let stay =
                if long { self.cfg.long_stay_s.draw(&mut self.rng) } else { self.cfg.stay_s.draw(&mut self.rng) };
            let until = now + stay;
            let change_at = (!sleep && self.rng.random_bool(self.cfg.posture_change_probability)).then(|| {
                let mut other = posture;
                while other == posture {
                    other = PresenceState::ALL[self.rng.random_range(1..4)];
                }
                (self.rng.random_range(now + 0.3 * (until - now)..now + 0.7 * (until - now)), other)
            });
            self.pose = self.draw_pose(posture);
            self.next_pose = None;
            self.prev_posture = None;
            self.ramp_s = self.rng.random_range(0.8..3.0);
            Phase::Stay { until, posture, change_at, sleep }
        };
        if let Phase::Away { occupant: Occupant::Pet { .. } | Occupant::Object { .. }, .. } = self.phase {
            self.place_pet_or_object();
        }
    }

    fn place_pet_or_object(&mut self) {
        let x = self.rng.random_range(0.05..0.95);
        let y = self.rng.random_range(0.1..0.9);
        let spread = self.rng.random_range(0.03..0.12);
        self.pet_pose = self.cfg.layout.shares(x, y, spread, spread * 2.0);
        self.pet_next_move = self.t + self.rng.random_range(3.0..20.0);
    }

    /// The next frame and its truth. Dropped frames are skipped: time jumps as over a real link.
    pub fn next_frame(&mut self) -> SimFrame {
        let bounds = self.cfg.frame_interval_bounds_s;
        loop {
            let dt = self.interval.sample(&mut self.rng).clamp(bounds.lo, bounds.hi);
            self.step(dt);
            if !self.rng.random_bool(self.cfg.drop_probability) {
                return self.emit();
            }
        }
    }

    /// Frames until `duration_s` seconds of session time have passed.
    pub fn session(&mut self, duration_s: f64) -> Vec<SimFrame> {
        let mut out = Vec::with_capacity((duration_s / self.cfg.frame_interval_s) as usize + 16);
        loop {
            let f = self.next_frame();
            if f.frame.t > duration_s {
                return out;
            }
            out.push(f);
        }
    }

    fn step(&mut self, dt: f64) {
        self.t += dt;
        let until = match self.phase {
            Phase::Away { until, .. } | Phase::Stay { until, .. } => until,
        };
        // A stay ends once the person is fully off the mat again; start the next phase then.
        let leaving_done = matches!(self.phase, Phase::Stay { .. }) && self.t >= until && self.presence <= 0.0;
        if (matches!(self.phase, Phase::Away { .. }) && self.t >= until) || leaving_done {
            self.start_phase();
        }
        let target = match self.phase {
            Phase::Stay { until, .. } if self.t < until => 1.0,
            _ => 0.0,
        };
        let rate = dt / self.ramp_s;
        self.presence =
            if target > self.presence { (self.presence + rate).min(1.0) } else { (self.presence - rate).max(0.0) };

        if let Phase::Stay { change_at: Some((at, next)), until, posture, sleep } = self.phase
            && self.t >= at
        {
            let pose = self.draw_pose(next);
            let blend = self.rng.random_range(1.5..4.0);
            self.next_pose = Some((pose, self.t, blend));
            self.prev_posture = Some(posture);
            self.phase = Phase::Stay { until, posture: next, change_at: None, sleep };
        }
        if let Some((pose, start, blend)) = self.next_pose
            && self.t >= start + blend
        {
            self.pose = pose;
            self.next_pose = None;
        }

        let p = self.person;
        self.breath_phase += TAU * p.breathing_hz * dt * self.rng.random_range(0.9..1.1);
        self.heart_phase += TAU * p.heart_hz * dt;
        // Body heat warms the bladder air towards thermal_target while occupied, τ = 300 s.
        let goal = self.thermal_target * self.presence;
        self.thermal_pa += (goal - self.thermal_pa) * (dt / 300.0).min(1.0);

        // The weather: a trend that holds for hours, then turns.
        self.weather_pa += self.drift_pa_per_s * dt;
        if self.t >= self.drift_until {
            self.drift_pa_per_s = self.cfg.drift_pa_per_hour.draw(&mut self.rng) / 3600.0;
            self.drift_until = self.t + self.cfg.drift_change_every_s.draw(&mut self.rng);
        }
        // The pump tops the bladders up now and then, only while nobody is on the mat.
        // Not in the last seconds before someone comes: the pump finishes on an empty mat.
        let empty = matches!(self.phase, Phase::Away { until, .. } if until - self.t > 15.0) && self.presence <= 0.0;
        if empty
            && self.reinflating.is_none()
            && self.rng.random_bool((self.cfg.reinflations_per_hour * dt / 3600.0).min(1.0))
        {
            let rise = self.cfg.reinflation_pa.draw(&mut self.rng);
            self.reinflating = Some((self.t, self.rng.random_range(2.0..10.0), rise));
        }
        if let Some((start, len, rise)) = self.reinflating
            && self.t >= start + len
        {
            self.inflation_pa += rise;
            self.reinflating = None;
        }

        let sleeping = matches!(self.phase, Phase::Stay { sleep: true, .. });
        if self.presence > 0.5 && !sleeping && self.rng.random_bool((p.fidget_rate_hz * dt).min(1.0)) {
            let sign = if self.rng.random_bool(0.5) { 1.0 } else { -1.0 };
            self.bumps.push(Bump {
                bladder: self.rng.random_range(0..BLADDERS),
                amplitude_pa: sign * self.rng.random_range(100.0..600.0),
                start: self.t,
                duration: self.rng.random_range(0.5..3.0),
            });
            // Larger movements also shift the body a little.
            if self.rng.random_bool(0.3) {
                let jitter: [f64; BLADDERS] = std::array::from_fn(|_| self.rng.random_range(0.9..1.1));
                for (s, j) in self.pose.shares.iter_mut().zip(jitter) {
                    *s *= j;
                }
            }
        }
        let t = self.t;
        self.bumps.retain(|b| t < b.start + b.duration);
        if matches!(self.phase, Phase::Away { occupant: Occupant::Pet { .. }, .. }) && self.t >= self.pet_next_move {
            self.place_pet_or_object();
        }
    }

    fn emit(&mut self) -> SimFrame {
        let p = self.person;
        let shares = match self.next_pose {
            Some((next, start, blend)) => {
                let a = ((self.t - start) / blend).clamp(0.0, 1.0);
                std::array::from_fn(|i| (1.0 - a) * self.pose.shares[i] + a * next.shares[i])
            }
            None => self.pose.shares,
        };
        let breath = self.breath_phase.sin() * p.breathing_depth;
        let heart = self.heart_phase.sin() * 0.004;
        let mut pressures = [0f32; BLADDERS];
        let occupant = match self.phase {
            Phase::Away { occupant, .. } => occupant,
            Phase::Stay { .. } => Occupant::Nobody,
        };
        for i in 0..BLADDERS {
            let mut load_n = p.weight_n * self.presence * (shares[i] + self.pose.breath[i] * (breath + heart));
            match occupant {
                Occupant::Pet { weight_n, breathing_hz, .. } => {
                    let pb = 1.0 + 0.06 * (TAU * breathing_hz * self.t).sin();
                    load_n += weight_n * self.pet_pose[i] * pb;
                }
                Occupant::Object { weight_n } => load_n += weight_n * self.pet_pose[i],
                Occupant::Nobody => {}
            }
            let pumping =
                self.reinflating.map_or(0.0, |(start, len, rise)| rise * ((self.t - start) / len).clamp(0.0, 1.0));
            let mut pa = self.base_pa[i]
                + self.weather_pa
                + self.inflation_pa
                + pumping
                + self.thermal_pa
                + self.gain[i] * load_n;
            for b in self.bumps.iter().filter(|b| b.bladder == i) {
                let x = (self.t - b.start) / b.duration;
                pa += b.amplitude_pa * self.presence * (std::f64::consts::PI * x).sin();
            }
            let noise = Normal::new(0.0, self.noise[i]).expect("finite noise sigma");
            pa += noise.sample(&mut self.rng);
            pressures[i] = pa as f32;
        }
        let label = match self.phase {
            Phase::Stay { posture, .. } if self.presence >= 0.5 => match self.next_pose {
                // During a posture change the label flips halfway through the blend.
                Some((_, start, blend)) if self.t < start + blend / 2.0 => self.previous_posture(posture),
                _ => posture,
            },
            _ => PresenceState::Absent,
        };
        SimFrame { frame: Frame { t: self.t, pressures }, label }
    }

    /// The posture before the current change (the stay's first posture).
    fn previous_posture(&self, now: PresenceState) -> PresenceState {
        self.prev_posture.unwrap_or(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recording::Recording;
    use std::path::Path;

    fn stats(values: impl Iterator<Item = f64>) -> (f64, f64) {
        let v: Vec<f64> = values.collect();
        let n = v.len() as f64;
        let mean = v.iter().sum::<f64>() / n;
        (mean, (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt())
    }

    fn median(mut v: Vec<f64>) -> f64 {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    }

    fn real(name: &str) -> Recording {
        Recording::read(Path::new(crate::recording::REAL_RECORDINGS_DIR).join(name)).unwrap()
    }

    #[test]
    fn the_same_seed_gives_the_same_session() {
        let a = Simulator::new(SimConfig::default(), 7).session(120.0);
        let b = Simulator::new(SimConfig::default(), 7).session(120.0);
        let c = Simulator::new(SimConfig::default(), 8).session(120.0);
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn an_empty_simulated_mat_is_as_still_as_the_real_one() {
        let empty = real("empty_or_cat_on_mat.csv");
        let real_sigma: Vec<f64> = (0..4).map(|i| stats(empty.rows.iter().map(|r| r.pressures[i] as f64)).1).collect();
        let mut sim_sigma = Vec::new();
        let mut levels = Vec::new();
        for seed in 0..40 {
            let frames = Simulator::new(SimConfig::default(), seed).session(12.0);
            assert!(frames.iter().all(|f| f.label == PresenceState::Absent), "sessions start empty");
            for i in 0..4 {
                let (mean, sigma) = stats(frames.iter().map(|f| f.frame.pressures[i] as f64));
                sim_sigma.push(sigma);
                levels.push(mean);
            }
        }
        let (lo, hi) =
            (real_sigma.iter().cloned().fold(f64::MAX, f64::min), real_sigma.iter().cloned().fold(0.0, f64::max));
        let med = median(sim_sigma.clone());
        assert!(med > lo * 0.7 && med < hi * 1.5, "simulated empty σ median {med:.2} Pa vs real {lo:.2}..{hi:.2} Pa");
        let real_level = stats(empty.rows.iter().map(|r| r.pressures[0] as f64)).0;
        let (lmin, lmax) =
            (levels.iter().cloned().fold(f64::MAX, f64::min), levels.iter().cloned().fold(0.0, f64::max));
        assert!(
            lmin < real_level && real_level < lmax,
            "real level {real_level:.0} Pa outside simulated {lmin:.0}..{lmax:.0}"
        );
    }

    #[test]
    fn a_simulated_person_loads_and_moves_the_mat_like_the_real_one() {
        let empty = real("empty_or_cat_on_mat.csv");
        let human = real("human_on_mat.csv");
        let real_rise: Vec<f64> = (0..4)
            .map(|i| {
                stats(human.rows.iter().map(|r| r.pressures[i] as f64)).0
                    - stats(empty.rows.iter().map(|r| r.pressures[i] as f64)).0
            })
            .collect();
        let real_sigma: Vec<f64> = (0..4).map(|i| stats(human.rows.iter().map(|r| r.pressures[i] as f64)).1).collect();
        let real_total: f64 = real_rise.iter().sum();
        let mut totals = Vec::new();
        let mut sigmas = Vec::new();
        let cfg = SimConfig { posture_change_probability: 0.0, ..SimConfig::default() };
        for seed in 0..60 {
            let mut sim = Simulator::new(cfg.clone(), seed);
            let frames = sim.session(400.0);
            let base: Vec<f64> =
                (0..4).map(|i| stats(frames.iter().take(50).map(|f| f.frame.pressures[i] as f64)).0).collect();
            // The first stay, once fully on the mat (skip the ramp in and out).
            let stay: Vec<&SimFrame> = frames
                .iter()
                .skip_while(|f| f.label == PresenceState::Absent)
                .skip(30)
                .take_while(|f| f.label != PresenceState::Absent)
                .collect();
            if stay.len() < 100 || stay[0].label != PresenceState::LyingFull {
                continue;
            }
            let stay = &stay[..stay.len() - 30];
            totals
                .push((0..4).map(|i| stats(stay.iter().map(|f| f.frame.pressures[i] as f64)).0 - base[i]).sum::<f64>());
            sigmas.extend((0..4).map(|i| stats(stay.iter().map(|f| f.frame.pressures[i] as f64)).1));
        }
        assert!(totals.len() >= 5, "too few lying stays drawn: {}", totals.len());
        let (tmin, tmax) =
            (totals.iter().cloned().fold(f64::MAX, f64::min), totals.iter().cloned().fold(0.0, f64::max));
        assert!(
            tmin < real_total && real_total < tmax,
            "real total rise {real_total:.0} Pa outside simulated {tmin:.0}..{tmax:.0}"
        );
        let med = median(sigmas);
        let (lo, hi) =
            (real_sigma.iter().cloned().fold(f64::MAX, f64::min), real_sigma.iter().cloned().fold(0.0, f64::max));
        assert!(med > lo * 0.5 && med < hi * 1.5, "simulated σ under a person {med:.0} Pa vs real {lo:.0}..{hi:.0} Pa");
    }

    /// A config whose sessions are one long sleep: empty for a while, then hours lying still.
    fn night() -> SimConfig {
        SimConfig {
            long_stay_probability: 1.0,
            sleep_probability: 1.0,
            long_stay_s: r(4.0 * 3600.0, 4.0 * 3600.0),
            initial_empty_s: r(1200.0, 1200.0),
            ..SimConfig::default()
        }
    }

    #[test]
    fn a_sleeping_simulated_person_is_never_still_by_the_baseline_rule() {
        use crate::baseline::BaselineTracker;
        for seed in 0..6 {
            let cfg = SimConfig { weight_kg: r(40.0, 50.0), breathing_depth: r(0.03, 0.03), ..night() };
            let frames = Simulator::new(cfg, seed).session(2.0 * 3600.0);
            let mut tracker = BaselineTracker::new();
            let mut still_while_lying = 0;
            let mut lying = 0;
            for f in &frames {
                tracker.push(&f.frame);
                if f.label.is_present() {
                    lying += 1;
                    still_while_lying += tracker.is_still() as usize;
                }
            }
            assert!(lying > 30_000, "seed {seed}: {lying} frames lying");
            assert_eq!(still_while_lying, 0, "seed {seed}: a light sleeper passed for an empty mat");
        }
    }

    #[test]
    fn the_weather_drifts_both_ways_for_hours_and_the_pump_only_runs_on_an_empty_mat() {
        let mut rises = 0;
        let mut falls = 0;
        for seed in 0..12 {
            let cfg = SimConfig { reinflations_per_hour: 4.0, ..SimConfig::default() };
            let mut sim = Simulator::new(cfg, seed);
            let mut inflation_before = 0.0;
            for _ in 0..(3.0 * 3600.0 / 0.15) as usize {
                let f = sim.next_frame();
                if sim.inflation_pa != inflation_before || sim.reinflating.is_some() {
                    assert!(!f.label.is_present(), "seed {seed}: the pump ran under a person at {:.0} s", f.frame.t);
                }
                inflation_before = sim.inflation_pa;
            }
            if sim.weather_pa > 100.0 {
                rises += 1;
            } else if sim.weather_pa < -100.0 {
                falls += 1;
            }
            let rate = sim.drift_pa_per_s.abs() * 3600.0;
            assert!(rate <= 500.0, "seed {seed}: {rate:.0} Pa/h");
        }
        assert!(rises > 0 && falls > 0, "3 h of weather rose in {rises} and fell in {falls} of 12 sessions");
    }

    #[test]
    fn long_sessions_hold_long_stays_and_long_absences_with_exact_labels() {
        let frames = Simulator::new(night(), 11).session(6.0 * 3600.0);
        let first_present = frames.iter().position(|f| f.label.is_present()).unwrap();
        assert!(frames[first_present].frame.t >= 1200.0, "the night starts with 20 min of empty mat");
        let stay = frames[first_present..].iter().take_while(|f| f.label.is_present()).count();
        assert!(stay as f64 * 0.15 > 3.0 * 3600.0, "a sleep of {:.1} h", stay as f64 * 0.15 / 3600.0);
        // While the label says present, the body's load is on the mat: the relative level is far above
        // the empty mat's noise, whatever the weather did.
        let before = &frames[first_present - 100..first_present - 50];
        let base = |i: usize| before.iter().map(|f| f.frame.pressures[i] as f64).sum::<f64>() / before.len() as f64;
        let sleeping = &frames[first_present + 100];
        assert!(sleeping.label.is_present());
        let load: f64 = (0..4).map(|i| sleeping.frame.pressures[i] as f64 - base(i)).sum();
        assert!(load > 500.0, "load {load:.0} Pa");
    }

    #[test]
    fn frames_arrive_with_the_real_jitter_and_occasional_drops() {
        let frames = Simulator::new(SimConfig::default(), 3).session(600.0);
        let gaps: Vec<f64> = frames.windows(2).map(|w| w[1].frame.t - w[0].frame.t).collect();
        let med = median(gaps.clone());
        assert!((0.14..0.16).contains(&med), "median interval {med}");
        assert!(gaps.iter().all(|g| *g >= 0.06 - 1e-9));
        let drops = gaps.iter().filter(|g| **g > 0.285).count();
        assert!(drops > 0 && drops < gaps.len() / 20, "{drops} drops in {} frames", gaps.len());
    }
}
