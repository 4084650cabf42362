//! fp32 against int8: the same evaluator scores both models on the same held-out windows and the
//! same real recordings, and says how far they agree, how fast they run, how much memory a session
//! takes and how large they are. Writes `evaluation.json`, `evaluation.md` and PNG plots.

use crate::dataset::{PRESENT_ANY, Windows};
use crate::evaluate::{
    ClassMetrics, Latency, RealEvaluation, argmax, classify, classify_calibrated, evaluate_replay, latency,
};
use hapticmat_core::inference::PresenceModel;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Everything measured about one model.
#[derive(Debug, Clone, Serialize)]
pub struct ModelScore {
    /// The model file.
    pub path: PathBuf,
    /// Its size, bytes.
    pub bytes: u64,
    /// Whether its graph holds QDQ nodes.
    pub quantized: bool,
    /// Held-out simulated subjects.
    pub test: ClassMetrics,
    /// The same subjects with their personal calibration, when the model reads it and the set has it.
    pub test_personal: Option<ClassMetrics>,
    /// The real recordings replayed through the monitor.
    pub real: Option<RealEvaluation>,
    /// Single-window latency.
    pub latency: Latency,
    /// Peak resident memory added by loading the session and running it, bytes (a fresh process).
    pub session_peak_bytes: Option<u64>,
}

/// The comparison of a float model and its quantized version.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// The float model.
    pub fp32: ModelScore,
    /// The quantized model.
    pub int8: ModelScore,
    /// Fraction of held-out windows where both pick the same state.
    pub agreement: f64,
    /// Accuracy lost by quantizing, in percentage points (positive = int8 is worse).
    pub accuracy_drop_points: f64,
    /// Recall lost by quantizing per state (in state order), percentage points.
    pub recall_drop_points: Vec<f64>,
    /// Recall lost by quantizing per state with personal calibration, percentage points.
    pub personal_recall_drop_points: Option<Vec<f64>>,
    /// The largest recall drop over states with support, with and without personal calibration.
    pub max_recall_drop_points: f64,
    /// The state that lost it (suffixed "with personal calibration" when that was the case).
    pub max_recall_drop_state: String,
    /// Largest |p_fp32 − p_int8| over all windows and states.
    pub max_abs_diff: f32,
    /// Mean |p_fp32 − p_int8|.
    pub mean_abs_diff: f64,
}

/// Measures one model. `peak_memory` measures a session's peak memory (in a fresh process).
pub fn score_model(
    path: &Path,
    test: &Windows,
    recordings: Option<&[(PathBuf, bool)]>,
    peak_memory: &dyn Fn(&Path) -> Option<u64>,
) -> anyhow::Result<(ModelScore, Vec<[f32; 4]>)> {
    let mut model = PresenceModel::load(path)?;
    let (metrics, probs) = classify(&mut model, test)?;
    let personal = classify_calibrated(&mut model, test)?.map(|(m, _)| m);
    let lat = latency(&mut model, test, 2000)?;
    let real = match recordings {
        Some(files) => Some(evaluate_replay(PresenceModel::load(path)?, files, 10.0, 3.0)?),
        None => None,
    };
    let score = ModelScore {
        path: path.to_path_buf(),
        bytes: std::fs::metadata(path)?.len(),
        quantized: model.info().quantized,
        test: metrics,
        test_personal: personal,
        real,
        latency: lat,
        session_peak_bytes: peak_memory(path),
    };
    Ok((score, probs))
}

/// Scores both models and compares them.
pub fn compare(
    fp32: &Path,
    int8: &Path,
    test: &Windows,
    recordings: Option<&[(PathBuf, bool)]>,
    peak_memory: &dyn Fn(&Path) -> Option<u64>,
) -> anyhow::Result<Comparison> {
    let (a, pa) = score_model(fp32, test, recordings, peak_memory)?;
    let (b, pb) = score_model(int8, test, recordings, peak_memory)?;
    let scored: Vec<(&[f32; 4], &[f32; 4])> =
        pa.iter().zip(&pb).zip(&test.y).filter(|(_, y)| **y != PRESENT_ANY).map(|(p, _)| p).collect();
    let same = scored.iter().filter(|(x, y)| argmax(x) == argmax(y)).count();
    let diffs: Vec<f32> = pa.iter().zip(&pb).flat_map(|(x, y)| x.iter().zip(y).map(|(u, v)| (u - v).abs())).collect();
    let drops = |x: &ClassMetrics, y: &ClassMetrics| -> Vec<f64> {
        x.per_class.iter().zip(&y.per_class).map(|(x, y)| 100.0 * (x.recall - y.recall)).collect()
    };
    let recall_drop_points = drops(&a.test, &b.test);
    let personal_recall_drop_points = a.test_personal.as_ref().zip(b.test_personal.as_ref()).map(|(x, y)| drops(x, y));
    let mut worst = ("none".to_string(), f64::NEG_INFINITY);
    let mut consider = |metrics: &ClassMetrics, drops: &[f64], suffix: &str| {
        for (c, d) in metrics.per_class.iter().zip(drops).filter(|(c, _)| c.support > 0) {
            if *d > worst.1 {
                worst = (format!("{}{suffix}", c.state), *d);
            }
        }
    };
    consider(&a.test, &recall_drop_points, "");
    if let (Some(m), Some(d)) = (&a.test_personal, &personal_recall_drop_points) {
        consider(m, d, " with personal calibration");
    }
    let (worst, max_recall_drop_points) = worst;
    Ok(Comparison {
        recall_drop_points,
        personal_recall_drop_points,
        max_recall_drop_points: if max_recall_drop_points.is_finite() { max_recall_drop_points } else { 0.0 },
        max_recall_drop_state: worst,
        agreement: same as f64 / scored.len().max(1) as f64,
        accuracy_drop_points: 100.0 * (a.test.accuracy - b.test.accuracy),
        max_abs_diff: diffs.iter().copied().fold(0.0, f32::max),
        mean_abs_diff: diffs.iter().map(|d| *d as f64).sum::<f64>() / diffs.len().max(1) as f64,
        fp32: a,
        int8: b,
    })
}

/// Writes `evaluation.json`, `evaluation.md` and the plots into `dir`.
pub fn write_reports(dir: &Path, c: &Comparison) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    crate::plots::confusion(&dir.join("confusion.fp32.png"), "fp32, held-out subjects", &c.fp32.test.confusion)?;
    crate::plots::confusion(&dir.join("confusion.int8.png"), "int8, held-out subjects", &c.int8.test.confusion)?;
    crate::plots::latency_cdf(
        &dir.join("latency.png"),
        &[("fp32", c.fp32.latency.samples_us.clone()), ("int8", c.int8.latency.samples_us.clone())],
    )?;
    crate::fsutil::write_atomic(&dir.join("evaluation.json"), serde_json::to_string_pretty(c)?.as_bytes())?;
    crate::fsutil::write_atomic(&dir.join("evaluation.md"), markdown(c).as_bytes())?;
    Ok(())
}

/// The comparison for a person.
pub fn markdown(c: &Comparison) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let mb = |b: Option<u64>| b.map_or("n/a".to_string(), |b| format!("{:.1} MiB", b as f64 / 1048576.0));
    let real =
        |m: &ModelScore| m.real.as_ref().map_or("n/a".to_string(), |r| format!("{:.2}%", 100.0 * r.presence_accuracy));
    let _ = writeln!(s, "# fp32 against int8\n");
    let _ = writeln!(s, "| | fp32 | int8 |\n|---|---|---|");
    let _ = writeln!(s, "| file | `{}` | `{}` |", c.fp32.path.display(), c.int8.path.display());
    let _ = writeln!(s, "| size | {} B | {} B |", c.fp32.bytes, c.int8.bytes);
    let _ = writeln!(
        s,
        "| accuracy, held-out subjects ({} windows) | {:.2}% | {:.2}% |",
        c.fp32.test.windows,
        100.0 * c.fp32.test.accuracy,
        100.0 * c.int8.test.accuracy
    );
    let _ = writeln!(
        s,
        "| presence accuracy, held-out subjects | {:.2}% | {:.2}% |",
        100.0 * c.fp32.test.presence_accuracy,
        100.0 * c.int8.test.presence_accuracy
    );
    let _ = writeln!(s, "| presence accuracy, real recordings (smoke test¹) | {} | {} |", real(&c.fp32), real(&c.int8));
    let _ = writeln!(
        s,
        "| latency p50 / p99 | {:.1} / {:.1} µs | {:.1} / {:.1} µs |",
        c.fp32.latency.p50_us, c.fp32.latency.p99_us, c.int8.latency.p50_us, c.int8.latency.p99_us
    );
    let _ =
        writeln!(s, "| session peak memory | {} | {} |", mb(c.fp32.session_peak_bytes), mb(c.int8.session_peak_bytes));
    let _ = writeln!(
        s,
        "\n¹ {}.\n\nAccuracy drop {:+.2} points; largest recall drop {:+.2} points ({}); fp32/int8 agreement {:.2}%; \
         |Δp| max {:.4}, mean {:.5}.\n",
        crate::evaluate::REAL_SMOKE_TEST,
        c.accuracy_drop_points,
        c.max_recall_drop_points,
        c.max_recall_drop_state,
        100.0 * c.agreement,
        c.max_abs_diff,
        c.mean_abs_diff
    );
    let _ = writeln!(
        s,
        "| state | fp32 precision | fp32 recall | int8 precision | int8 recall | recall drop |\n|---|---|---|---|---|---|"
    );
    for ((a, b), d) in c.fp32.test.per_class.iter().zip(&c.int8.test.per_class).zip(&c.recall_drop_points) {
        let _ = writeln!(
            s,
            "| {} | {:.3} | {:.3} | {:.3} | {:.3} | {:+.2} |",
            a.state, a.precision, a.recall, b.precision, b.recall, d
        );
    }
    if let (Some(fa), Some(fb), Some(d)) =
        (&c.fp32.test_personal, &c.int8.test_personal, &c.personal_recall_drop_points)
    {
        let _ = writeln!(
            s,
            "\nWith personal calibration:\n\n| state | fp32 recall | int8 recall | recall drop |\n|---|---|---|---|"
        );
        for ((a, b), d) in fa.per_class.iter().zip(&fb.per_class).zip(d) {
            let _ = writeln!(s, "| {} | {:.3} | {:.3} | {:+.2} |", a.state, a.recall, b.recall, d);
        }
    }
    let _ = writeln!(
        s,
        "\n![fp32 confusion](confusion.fp32.png) ![int8 confusion](confusion.int8.png)\n\n![latency](latency.png)"
    );
    s
}

/// Peak resident memory (`VmHWM`) of this process, bytes (Linux).
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// What a session costs: in this (fresh) process, load the runtime, note the peak memory, then
/// load the model and run `runs` inferences; the growth of the peak is the session's.
pub fn measure_session_memory(path: &Path, runs: usize) -> anyhow::Result<u64> {
    hapticmat_core::inference::environment()?;
    let before = peak_rss_bytes().ok_or_else(|| anyhow::anyhow!("no /proc/self/status VmHWM on this system"))?;
    let mut model = PresenceModel::load(path)?;
    let w = [0f32; hapticmat_core::features::WINDOW_LEN];
    for _ in 0..runs {
        model.predict(&w)?;
    }
    let after = peak_rss_bytes().unwrap_or(before);
    Ok(after.saturating_sub(before))
}
