//! Scores a model: class metrics on held-out windows, agreement with the trained network, the real
//! recordings replayed through the same monitor the phone runs, and inference latency.

use crate::dataset::{PRESENT_ANY, Windows};
use hapticmat_core::inference::{InferenceError, PresenceModel};
use hapticmat_core::monitor::{Monitor, MonitorConfig, MonitorEvent};
use hapticmat_core::source::replay::ReplaySource;
use hapticmat_core::source::{CancelToken, Pace};
use hapticmat_core::state::{NUM_STATES, STATE_NAMES};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Precision and recall of one class.
#[derive(Debug, Clone, Serialize)]
pub struct ClassScore {
    /// State name.
    pub state: &'static str,
    /// Of the windows predicted as this state, the fraction that were.
    pub precision: f64,
    /// Of the windows of this state, the fraction found.
    pub recall: f64,
    /// Windows of this state.
    pub support: usize,
}

/// Classification figures on a labelled set.
#[derive(Debug, Clone, Serialize)]
pub struct ClassMetrics {
    /// Windows scored.
    pub windows: usize,
    /// Fraction classified right.
    pub accuracy: f64,
    /// Fraction right on "is someone there" alone.
    pub presence_accuracy: f64,
    /// Per-class precision and recall.
    pub per_class: Vec<ClassScore>,
    /// `confusion[truth][predicted]`, in state order.
    pub confusion: [[usize; NUM_STATES]; NUM_STATES],
}

/// Scores a model on labelled windows.
pub fn classify(
    model: &mut PresenceModel,
    set: &Windows,
) -> Result<(ClassMetrics, Vec<[f32; NUM_STATES]>), InferenceError> {
    let probs = model.predict_batch(&set.x)?;
    Ok((metrics_from_confusion(confusion_of(&probs, set)), probs))
}

/// A model's metrics on a set and its probabilities for each window.
pub type Scored = (ClassMetrics, Vec<[f32; NUM_STATES]>);

/// Scores a model on labelled windows, every subject with its personal calibration; `None` when the
/// set has none or the model does not read it.
pub fn classify_calibrated(model: &mut PresenceModel, set: &Windows) -> Result<Option<Scored>, InferenceError> {
    if !set.has_calibrations() || !model.info().takes_user_load() {
        return Ok(None);
    }
    let probs = model.predict_batch_with(&set.x, Some(&set.user_loads(true)))?;
    Ok(Some((metrics_from_confusion(confusion_of(&probs, set)), probs)))
}

/// `confusion[truth][predicted]` of `probs` against the set's labels. Windows known only as
/// "present" have no posture to score; presence is scored on replays.
fn confusion_of(probs: &[[f32; NUM_STATES]], set: &Windows) -> [[usize; NUM_STATES]; NUM_STATES] {
    let mut confusion = [[0usize; NUM_STATES]; NUM_STATES];
    for (p, &y) in probs.iter().zip(&set.y).filter(|(_, y)| **y != PRESENT_ANY) {
        confusion[y as usize][argmax(p)] += 1;
    }
    confusion
}

/// Index of the largest probability.
pub fn argmax(p: &[f32; NUM_STATES]) -> usize {
    (0..NUM_STATES).max_by(|&a, &b| p[a].total_cmp(&p[b])).unwrap_or(0)
}

fn metrics_from_confusion(confusion: [[usize; NUM_STATES]; NUM_STATES]) -> ClassMetrics {
    let total: usize = confusion.iter().flatten().sum();
    let correct: usize = (0..NUM_STATES).map(|i| confusion[i][i]).sum();
    let presence_correct = confusion[0][0]
        + (1..NUM_STATES)
            .flat_map(|t| (1..NUM_STATES).map(move |p| (t, p)))
            .map(|(t, p)| confusion[t][p])
            .sum::<usize>();
    let per_class = (0..NUM_STATES)
        .map(|c| {
            let predicted: usize = (0..NUM_STATES).map(|t| confusion[t][c]).sum();
            let support: usize = confusion[c].iter().sum();
            ClassScore {
                state: STATE_NAMES[c],
                precision: ratio(confusion[c][c], predicted),
                recall: ratio(confusion[c][c], support),
                support,
            }
        })
        .collect();
    ClassMetrics {
        windows: total,
        accuracy: ratio(correct, total),
        presence_accuracy: ratio(presence_correct, total),
        per_class,
        confusion,
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// A state's recall with its 95 % interval from a subject-level bootstrap: subjects, not windows,
/// are resampled, because one subject's windows are alike and would make the interval too narrow.
#[derive(Debug, Clone, Serialize)]
pub struct RecallInterval {
    /// State name.
    pub state: &'static str,
    /// Recall on the whole set.
    pub recall: f64,
    /// 2.5th percentile of the bootstrap.
    pub lo: f64,
    /// 97.5th percentile of the bootstrap.
    pub hi: f64,
    /// Windows of this state.
    pub support: usize,
    /// Subjects with windows of this state.
    pub subjects: usize,
}

/// Bootstrap resamples for [`recall_intervals`].
pub const BOOTSTRAP_RESAMPLES: usize = 1000;

/// Per-state recall with a subject-level bootstrap 95 % interval, from predictions `probs` of the
/// windows of `set` (presence-only windows left out). Deterministic from `seed`.
pub fn recall_intervals(set: &Windows, probs: &[[f32; NUM_STATES]], seed: u64) -> Vec<RecallInterval> {
    use rand::{Rng, SeedableRng};
    use std::collections::BTreeMap;
    // Per subject: hits and support per state.
    let mut per_subject: BTreeMap<u64, ([usize; NUM_STATES], [usize; NUM_STATES])> = BTreeMap::new();
    for ((p, &y), &subject) in probs.iter().zip(&set.y).zip(&set.subject) {
        if y == PRESENT_ANY {
            continue;
        }
        let e = per_subject.entry(subject).or_default();
        e.1[y as usize] += 1;
        e.0[y as usize] += (argmax(p) == y as usize) as usize;
    }
    let subjects: Vec<_> = per_subject.values().copied().collect();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut samples: Vec<Vec<f64>> = (0..NUM_STATES).map(|_| Vec::with_capacity(BOOTSTRAP_RESAMPLES)).collect();
    if !subjects.is_empty() {
        for _ in 0..BOOTSTRAP_RESAMPLES {
            let (mut hit, mut sup) = ([0usize; NUM_STATES], [0usize; NUM_STATES]);
            for _ in 0..subjects.len() {
                let (h, s) = &subjects[rng.random_range(0..subjects.len())];
                for c in 0..NUM_STATES {
                    hit[c] += h[c];
                    sup[c] += s[c];
                }
            }
            for c in 0..NUM_STATES {
                if sup[c] > 0 {
                    samples[c].push(hit[c] as f64 / sup[c] as f64);
                }
            }
        }
    }
    (0..NUM_STATES)
        .map(|c| {
            let v = &mut samples[c];
            v.sort_by(f64::total_cmp);
            let q = |f: f64| if v.is_empty() { 0.0 } else { v[((v.len() - 1) as f64 * f).round() as usize] };
            let hit: usize = subjects.iter().map(|s| s.0[c]).sum();
            let support: usize = subjects.iter().map(|s| s.1[c]).sum();
            RecallInterval {
                state: STATE_NAMES[c],
                recall: ratio(hit, support),
                lo: q(0.025),
                hi: q(0.975),
                support,
                subjects: subjects.iter().filter(|s| s.1[c] > 0).count(),
            }
        })
        .collect()
}

/// What [`RealEvaluation`] is, said where its figure is shown.
pub const REAL_SMOKE_TEST: &str = "presence smoke test: one person in one position and one empty mat, a minute \
     each, replayed empty → person → empty; each file scored once (the second empty replay only times departure), \
     frames in `unknown` left out";

/// How the real recordings fare through the live monitor: a presence smoke test, not a posture
/// benchmark (one person, one position; see [`REAL_SMOKE_TEST`]).
#[derive(Debug, Clone, Serialize)]
pub struct RealEvaluation {
    /// What this figure is.
    pub kind: &'static str,
    /// The files replayed, in order, with what was on the mat.
    pub files: Vec<(PathBuf, bool)>,
    /// Frames scored (known state, outside the margin around each change; each file once).
    pub frames_scored: usize,
    /// Frames left out because the state was `unknown` (calibrating, window filling).
    pub frames_unknown: usize,
    /// Fraction of scored frames whose presence was right.
    pub presence_accuracy: f64,
    /// Per distinct file: fraction of its scored frames right.
    pub per_file: Vec<f64>,
    /// Seconds from the person's file starting to the first frame reported present.
    pub arrival_latency_s: Option<f64>,
    /// Seconds from the person's file ending to the state turning absent for good.
    pub departure_latency_s: Option<f64>,
    /// Seconds ignored on each side of a change.
    pub margin_s: f64,
    /// Calibration used, s.
    pub calibrate_s: f64,
}

/// Replays `files` (each with whether a person was on the mat) as one session through the monitor,
/// calibrating on the first `calibrate_s` seconds. Each distinct file is scored once, outside
/// `margin_s` around each change, leaving `unknown` frames out; arrival and departure are timed.
pub fn evaluate_replay(
    model: PresenceModel,
    files: &[(PathBuf, bool)],
    calibrate_s: f64,
    margin_s: f64,
) -> Result<RealEvaluation, anyhow::Error> {
    let paths: Vec<PathBuf> = files.iter().map(|(p, _)| p.clone()).collect();
    let cancel = CancelToken::new();
    let mut source = ReplaySource::open(&paths, Pace::Max, cancel.clone())?;
    let bounds: Vec<(f64, f64)> = source.segments().iter().map(|s| (s.start, s.end)).collect();
    let cfg = MonitorConfig { calibrate_s: Some(calibrate_s), absence_timeout_s: None, ..Default::default() };
    let mut monitor = Monitor::new(model, cfg);
    // (t, known, present)
    let mut updates = Vec::new();
    monitor.run(&mut source, &cancel, |e| {
        if let MonitorEvent::State(u) = e {
            updates.push((u.t, u.state.is_some(), u.present));
        }
    })?;
    let mut per_file = Vec::new();
    let (mut right, mut scored, mut unknown) = (0, 0, 0);
    let mut seen = Vec::new();
    let (mut arrival, mut departure) = (None, None);
    for (i, ((start, end), (path, present))) in bounds.iter().zip(files).enumerate() {
        if *present && arrival.is_none() {
            arrival = updates.iter().find(|(t, _, p)| *t >= *start && *p).map(|(t, _, _)| t - start);
        }
        if i > 0 && files[i - 1].1 && !*present && departure.is_none() {
            // The first frame from which the state stays absent until this file ends.
            let here: Vec<_> = updates.iter().filter(|(t, _, _)| *t >= *start && *t <= *end).collect();
            let last_not_absent = here.iter().rposition(|(_, known, p)| !*known || *p);
            departure = match last_not_absent {
                None => here.first().map(|(t, _, _)| t - start),
                Some(k) => here.get(k + 1).map(|(t, _, _)| t - start),
            };
        }
        if seen.contains(path) {
            continue;
        }
        seen.push(path.clone());
        let lo = if i == 0 { start + calibrate_s } else { start + margin_s };
        let hi = if i + 1 == files.len() { *end } else { end - margin_s };
        let here: Vec<&(f64, bool, bool)> = updates.iter().filter(|(t, _, _)| *t >= lo && *t <= hi).collect();
        unknown += here.iter().filter(|(_, known, _)| !*known).count();
        let known: Vec<bool> = here.iter().filter(|(_, k, _)| *k).map(|(_, _, p)| *p == *present).collect();
        let ok = known.iter().filter(|b| **b).count();
        per_file.push(ratio(ok, known.len()));
        right += ok;
        scored += known.len();
    }
    Ok(RealEvaluation {
        kind: REAL_SMOKE_TEST,
        files: files.to_vec(),
        frames_scored: scored,
        frames_unknown: unknown,
        presence_accuracy: ratio(right, scored),
        per_file,
        arrival_latency_s: arrival,
        departure_latency_s: departure,
        margin_s,
        calibrate_s,
    })
}

/// The real recordings as an empty → person → empty session, if the folder has them.
pub fn real_session(dir: &Path) -> Option<Vec<(PathBuf, bool)>> {
    let empty = dir.join("empty_or_cat_on_mat.csv");
    let human = dir.join("human_on_mat.csv");
    (empty.is_file() && human.is_file()).then(|| vec![(empty.clone(), false), (human, true), (empty, false)])
}

/// Single-window inference latency.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    /// Calls timed.
    pub calls: usize,
    /// Median, µs.
    pub p50_us: f64,
    /// 99th percentile, µs.
    pub p99_us: f64,
    /// Every timed call, µs (for plots; not written to reports).
    #[serde(skip)]
    pub samples_us: Vec<f64>,
}

/// Times `calls` single-window inferences on windows from `set` (after a warm-up).
pub fn latency(model: &mut PresenceModel, set: &Windows, calls: usize) -> Result<Latency, InferenceError> {
    let mut w = [0f32; hapticmat_core::features::WINDOW_LEN];
    let mut times = Vec::with_capacity(calls);
    for i in 0..calls + 50 {
        w.copy_from_slice(set.window(i % set.len().max(1)));
        let start = Instant::now();
        model.predict(&w)?;
        if i >= 50 {
            times.push(start.elapsed().as_secs_f64() * 1e6);
        }
    }
    times.sort_by(f64::total_cmp);
    let pct = |q: f64| times.get(((times.len() as f64 - 1.0) * q).round() as usize).copied().unwrap_or(0.0);
    let (p50, p99) = (pct(0.5), pct(0.99));
    Ok(Latency { calls, p50_us: p50, p99_us: p99, samples_us: times })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_follow_the_confusion_matrix() {
        let c = [[8, 2, 0, 0], [1, 4, 0, 0], [0, 0, 5, 0], [0, 0, 5, 0]];
        let m = metrics_from_confusion(c);
        assert_eq!(m.windows, 25);
        assert!((m.accuracy - 17.0 / 25.0).abs() < 1e-12);
        assert!((m.presence_accuracy - 22.0 / 25.0).abs() < 1e-12);
        assert!((m.per_class[0].precision - 8.0 / 9.0).abs() < 1e-12);
        assert!((m.per_class[0].recall - 0.8).abs() < 1e-12);
        assert_eq!(m.per_class[3].recall, 0.0);
    }
}
