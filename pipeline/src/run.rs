//! `pipeline run`: the whole loop on embedded defaults — simulate, train, export ONNX, evaluate —
//! writing the model and its report into one output folder. Quantization, tracking and promotion
//! attach here in later stages.

use crate::compare::Comparison;
use crate::dataset::{NUM_TARGETS, SimDatasetConfig, build_dataset, import_recordings};
use crate::evaluate::{
    ClassMetrics, Latency, RealEvaluation, RecallInterval, classify, classify_calibrated, evaluate_replay, latency,
    real_session, recall_intervals,
};
use crate::ptq::{CalibrationTensor, Gate, quantize_file};
use crate::train::{EpochMetrics, PresenceNet, TrainConfig, TrainProgress, train};
use anyhow::{Context, ensure};
use hapticmat_core::inference::PresenceModel;
use hapticmat_core::simulator::SimConfig;
use onnx_ptq as onnx;
use onnx_ptq::quantize::{CalibrationMethod, QuantizeConfig, QuantizeEvent, QuantizeReport};
use serde::Serialize;
use std::path::PathBuf;
use std::time::Instant;

/// File name of the float model in the output folder.
pub const FP32_MODEL: &str = "model.fp32.onnx";
/// File name of the int8 model in the output folder.
pub const INT8_MODEL: &str = "model.int8.onnx";
/// File name of the report in the output folder.
pub const REPORT_JSON: &str = "report.json";
/// File name of the readable report.
pub const REPORT_MD: &str = "report.md";
/// Folder (in the output folder) holding the calibration and test windows as `.npy`.
pub const DATA_DIR: &str = "data";
/// Calibration windows drawn from the training split.
pub const CALIBRATION_WINDOWS: usize = 1000;

/// Writes `calibration.npy` (windows from the training split) with `calibration_user_load.npy` (their
/// `user_load` input: every other window with its subject's personal calibration, so both ranges are
/// calibrated), `test.npy`, `test_labels.npy` (held-out subjects; labels as float state indices, 4 =
/// "present, posture unknown") and `test_share.npy` (each test window's share of its subject's
/// personal-calibration load, NaN without one), so every quantizer and evaluator, in Rust or Python,
/// sees the same data. Returns the calibration tensors.
pub fn write_windows(dir: &std::path::Path, data: &crate::dataset::Dataset) -> anyhow::Result<Vec<CalibrationTensor>> {
    use hapticmat_core::features::{CHANNELS, INPUT_NAME, WINDOW_FRAMES, WINDOW_LEN};
    use hapticmat_core::personal::{USER_LOAD_LEN, USER_LOAD_NAME};
    let n = data.train.len();
    let take = CALIBRATION_WINDOWS.min(n);
    let mut calib = Vec::with_capacity(take * WINDOW_LEN);
    let mut loads = Vec::with_capacity(take * USER_LOAD_LEN);
    for k in 0..take {
        // Evenly spread over the training split (sessions follow one another in it).
        let i = k * n / take.max(1);
        calib.extend_from_slice(data.train.window(i));
        loads.extend(data.train.user_load(i, k % 2 == 0));
    }
    crate::npy::write_f32(&dir.join("calibration.npy"), &[take, CHANNELS, WINDOW_FRAMES], &calib)?;
    crate::npy::write_f32(&dir.join(format!("calibration_{USER_LOAD_NAME}.npy")), &[take, USER_LOAD_LEN], &loads)?;
    crate::npy::write_f32(&dir.join("test.npy"), &[data.test.len(), CHANNELS, WINDOW_FRAMES], &data.test.x)?;
    let labels: Vec<f32> = data.test.y.iter().map(|&y| y as f32).collect();
    crate::npy::write_f32(&dir.join("test_labels.npy"), &[labels.len()], &labels)?;
    crate::npy::write_f32(&dir.join("test_share.npy"), &[data.test.share.len()], &data.test.share)?;
    Ok(vec![
        CalibrationTensor { name: Some(INPUT_NAME.into()), shape: vec![take, CHANNELS, WINDOW_FRAMES], data: calib },
        CalibrationTensor { name: Some(USER_LOAD_NAME.into()), shape: vec![take, USER_LOAD_LEN], data: loads },
    ])
}

/// Reads windows written by [`write_windows`] back (`test.npy` + `test_labels.npy`).
pub fn read_test_windows(dir: &std::path::Path) -> anyhow::Result<crate::dataset::Windows> {
    use hapticmat_core::features::{CHANNELS, WINDOW_FRAMES};
    let (shape, x) = crate::npy::read_f32(&dir.join("test.npy"))?;
    anyhow::ensure!(
        shape.len() == 3 && shape[1] == CHANNELS && shape[2] == WINDOW_FRAMES,
        "test.npy has shape {shape:?}, expected [n, {CHANNELS}, {WINDOW_FRAMES}]"
    );
    let (lshape, labels) = crate::npy::read_f32(&dir.join("test_labels.npy"))?;
    anyhow::ensure!(lshape == [shape[0]], "test_labels.npy has shape {lshape:?}, expected [{}]", shape[0]);
    let y = labels
        .iter()
        .map(|&v| {
            anyhow::ensure!(
                v >= 0.0 && v <= crate::dataset::PRESENT_ANY as f32 && v.fract() == 0.0,
                "label {v} is not a state index"
            );
            Ok(v as u32)
        })
        .collect::<anyhow::Result<Vec<u32>>>()?;
    // Written since the personal calibration; older folders have none.
    let share_path = dir.join("test_share.npy");
    let share = if share_path.is_file() {
        let (sshape, share) = crate::npy::read_f32(&share_path)?;
        anyhow::ensure!(sshape == [shape[0]], "test_share.npy has shape {sshape:?}, expected [{}]", shape[0]);
        share
    } else {
        vec![f32::NAN; y.len()]
    };
    Ok(crate::dataset::Windows { subject: vec![0; y.len()], share, x, y })
}

/// The dense layers' op types, left float by the last resort of the int8 gate.
pub const DENSE_OPS: [&str; 3] = ["Gemm", "MatMul", "Add"];

/// Largest difference between candle's and ONNX Runtime's probabilities accepted from the exporter.
pub const EXPORT_TOLERANCE: f32 = 1e-4;

/// Everything `pipeline run` needs.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// Output folder.
    pub out: PathBuf,
    /// Simulator settings.
    pub sim: SimConfig,
    /// Dataset settings.
    pub data: SimDatasetConfig,
    /// Training settings.
    pub train: TrainConfig,
    /// Folder with the real recordings, for the replay evaluation (skipped if absent).
    pub recordings: Option<PathBuf>,
    /// Labelled recordings (files, or folders of one mat each) added to the training data.
    pub train_recordings: Vec<PathBuf>,
    /// Post-training quantization (`None`: the float model only).
    pub quantize: Option<QuantizeConfig>,
    /// Refuse an int8 model that loses more accuracy points than this on held-out subjects.
    pub max_accuracy_drop: Option<f64>,
    /// Refuse an int8 model that loses more recall points than this on any state.
    pub max_recall_drop: Option<f64>,
}

/// Progress of a run, drawn by the binary.
pub trait Reporter {
    /// A stage starts.
    fn stage(&mut self, name: &str);
    /// Training moved on.
    fn training(&mut self, progress: TrainProgress<'_>);
    /// Quantization moved on.
    fn quantize(&mut self, _event: QuantizeEvent<'_>) {}
}

/// A reporter that shows nothing (tests, embedding).
pub struct Quiet;
impl Reporter for Quiet {
    fn stage(&mut self, _: &str) {}
    fn training(&mut self, _: TrainProgress<'_>) {}
}

/// Windows per class in each split.
#[derive(Debug, Clone, Serialize)]
pub struct DatasetSummary {
    /// Dataset settings.
    pub config: SimDatasetConfig,
    /// Training windows per target (the four states, then "present, posture unknown").
    pub train: [usize; NUM_TARGETS],
    /// Validation windows per target.
    pub validation: [usize; NUM_TARGETS],
    /// Test windows per target.
    pub test: [usize; NUM_TARGETS],
    /// Imported recording sessions, and the bad rows skipped in them.
    pub imported_sessions: usize,
    /// Bad rows skipped while importing.
    pub imported_rows_skipped: usize,
    /// Time to simulate and window, s.
    pub seconds: f64,
}

/// Training figures.
#[derive(Debug, Clone, Serialize)]
pub struct TrainingSummary {
    /// Settings.
    pub config: TrainConfig,
    /// Per-epoch curves.
    pub curves: Vec<EpochMetrics>,
    /// Epoch kept.
    pub best_epoch: usize,
    /// Loss weights per target.
    pub class_weights: [f32; NUM_TARGETS],
    /// Wall time, s.
    pub seconds: f64,
}

/// What `report.json` holds.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// The float model's path.
    pub model: PathBuf,
    /// Its size, bytes.
    pub model_bytes: u64,
    /// Dataset.
    pub dataset: DatasetSummary,
    /// Training.
    pub training: TrainingSummary,
    /// Held-out simulated subjects, through ONNX Runtime.
    pub test: ClassMetrics,
    /// Per-state recall on held-out subjects with a subject-level bootstrap 95 % interval.
    pub test_recall_intervals: Vec<RecallInterval>,
    /// The same held-out subjects, each with their personal calibration ("lie fully for 10 s").
    pub test_personal: Option<ClassMetrics>,
    /// Per-state recall intervals with personal calibration.
    pub test_personal_recall_intervals: Option<Vec<RecallInterval>>,
    /// Largest |candle − ONNX Runtime| probability difference on the test set.
    pub export_max_abs_diff: f32,
    /// The real recordings replayed through the monitor.
    pub real: Option<RealEvaluation>,
    /// Single-window latency through ONNX Runtime.
    pub latency: Latency,
    /// The int8 model, if quantized.
    pub int8_model: Option<PathBuf>,
    /// What the quantizer did.
    pub quantization: Option<QuantizeReport>,
    /// fp32 against int8 on the same data.
    pub comparison: Option<Comparison>,
    /// Why no int8 model was written, when the gate refused every calibration method.
    pub int8_refused: Option<String>,
}

/// Runs the whole loop and writes the output folder.
/// `peak_memory` measures an inference session's peak memory in a fresh process (the binary passes
/// one that runs itself; `&|_| None` skips the figure).
pub fn run(
    cfg: &RunConfig,
    reporter: &mut dyn Reporter,
    peak_memory: &dyn Fn(&std::path::Path) -> Option<u64>,
) -> anyhow::Result<RunReport> {
    std::fs::create_dir_all(&cfg.out).with_context(|| format!("creating {}", cfg.out.display()))?;

    reporter.stage("simulating sessions");
    let started = Instant::now();
    let (imported, imported_rows_skipped) = import_recordings(&cfg.train_recordings)?;
    let data = build_dataset(&cfg.sim, &cfg.data, &imported);
    let dataset = DatasetSummary {
        config: cfg.data.clone(),
        train: data.train.class_counts(),
        validation: data.validation.class_counts(),
        test: data.test.class_counts(),
        imported_sessions: imported.len(),
        imported_rows_skipped,
        seconds: started.elapsed().as_secs_f64(),
    };

    let calibration = write_windows(&cfg.out.join(DATA_DIR), &data)?;

    reporter.stage("training");
    let started = Instant::now();
    let trained = train(&data.train, &data.validation, &cfg.train, |p| reporter.training(p))?;
    let training = TrainingSummary {
        config: cfg.train.clone(),
        curves: trained.curves.clone(),
        best_epoch: trained.best_epoch,
        class_weights: trained.class_weights,
        seconds: started.elapsed().as_secs_f64(),
    };

    reporter.stage("exporting ONNX");
    let model_path = cfg.out.join(FP32_MODEL);
    let proto = crate::export::presence_model(&trained.weights, &Default::default());
    onnx::save(&proto, &model_path)?;

    reporter.stage("evaluating");
    let mut model = PresenceModel::load(&model_path)?;
    let (test, probs) = classify(&mut model, &data.test)?;
    let test_recall_intervals = recall_intervals(&data.test, &probs, cfg.train.seed);
    let personal = classify_calibrated(&mut model, &data.test)?;
    let net = PresenceNet::from_weights(&trained.weights)?;
    let reference = net.predict(&data.test.x, None)?;
    let max_diff = |a: &[[f32; 4]], b: &[[f32; 4]]| {
        a.iter().zip(b).flat_map(|(a, b)| a.iter().zip(b).map(|(x, y)| (x - y).abs())).fold(0f32, f32::max)
    };
    let mut export_max_abs_diff = max_diff(&probs, &reference);
    let (mut test_personal, mut test_personal_recall_intervals) = (None, None);
    if let Some((m, p)) = personal {
        let reference = net.predict(&data.test.x, Some(&data.test.user_loads(true)))?;
        export_max_abs_diff = export_max_abs_diff.max(max_diff(&p, &reference));
        test_personal_recall_intervals = Some(recall_intervals(&data.test, &p, cfg.train.seed));
        test_personal = Some(m);
    }
    ensure!(
        export_max_abs_diff <= EXPORT_TOLERANCE,
        "the exported model disagrees with the trained network by {export_max_abs_diff} (> {EXPORT_TOLERANCE})"
    );
    let real = match cfg.recordings.as_deref().and_then(real_session) {
        Some(files) => Some(evaluate_replay(PresenceModel::load(&model_path)?, &files, 10.0, 3.0)?),
        None => None,
    };
    let latency = latency(&mut model, &data.test, 2000)?;

    let (mut int8_model, mut quantization, mut comparison) = (None, None, None);
    let mut int8_refused = None;
    if let Some(qcfg) = &cfg.quantize {
        reporter.stage("quantizing to int8");
        let int8_path = cfg.out.join(INT8_MODEL);
        let files = cfg.recordings.as_deref().and_then(real_session);
        let gate = Gate {
            max_accuracy_drop: cfg.max_accuracy_drop.unwrap_or(f64::INFINITY),
            max_recall_drop: cfg.max_recall_drop.unwrap_or(f64::INFINITY),
            test: &data.test,
            recordings: files.as_deref(),
            peak_memory,
        };
        // The configured calibration first; if the gate refuses it, the others in turn (their ranges
        // clip outliers differently). Then each again with the dense layers left float (mixed precision:
        // the convolutions stay int8), where windows on the sitting/lying-partially boundary flip under
        // int8 rounding. A model is refused only when none of these keeps it within the gate.
        let mut methods = vec![qcfg.method];
        for m in [CalibrationMethod::MinMax, CalibrationMethod::percentile(), CalibrationMethod::entropy()] {
            if !methods.contains(&m) {
                methods.push(m);
            }
        }
        let dense_float: Vec<String> =
            DENSE_OPS.iter().map(|s| s.to_string()).filter(|o| !qcfg.exclude_op_types.contains(o)).collect();
        let mut attempts: Vec<QuantizeConfig> =
            methods.iter().map(|m| QuantizeConfig { method: *m, ..qcfg.clone() }).collect();
        if !dense_float.is_empty() {
            attempts.extend(methods.iter().map(|m| {
                let mut exclude_op_types = qcfg.exclude_op_types.clone();
                exclude_op_types.extend(dense_float.iter().cloned());
                QuantizeConfig { method: *m, exclude_op_types, ..qcfg.clone() }
            }));
        }
        let mut refusals = Vec::new();
        let outcome = loop {
            let Some(q) = attempts.get(refusals.len()).cloned() else {
                // The float model and its report are still written: the refusal is part of the result.
                int8_refused =
                    Some(format!("every calibration method was refused by the int8 gate: {}", refusals.join("; ")));
                break None;
            };
            let what = if q.exclude_op_types.is_empty() {
                format!("{:?}", q.method)
            } else {
                format!("{:?} with {} left float", q.method, q.exclude_op_types.join("/"))
            };
            let mut progress = |e: QuantizeEvent<'_>| reporter.quantize(e);
            let result = quantize_file(&model_path, &calibration, &int8_path, &q, Some(gate), &mut progress);
            match result {
                Ok(o) => break Some(o),
                Err(e) if e.downcast_ref::<crate::ptq::GateRefused>().is_some() => {
                    reporter.stage(&format!("int8 gate refused {what}: {e}; trying the next calibration"));
                    refusals.push(format!("{what}: {e}"));
                }
                Err(e) => return Err(e),
            }
        };
        if let Some(outcome) = outcome {
            quantization = Some(outcome.report);
            comparison = outcome.comparison;
            int8_model = Some(int8_path);
        }
    }
    let report = RunReport {
        model_bytes: std::fs::metadata(&model_path)?.len(),
        model: model_path,
        dataset,
        training,
        test,
        test_recall_intervals,
        test_personal,
        test_personal_recall_intervals,
        export_max_abs_diff,
        real,
        latency,
        int8_model,
        quantization,
        comparison,
        int8_refused: int8_refused.clone(),
    };
    reporter.stage("plotting");
    crate::plots::confusion(&cfg.out.join("confusion.fp32.png"), "fp32, held-out subjects", &report.test.confusion)?;
    crate::plots::training_curves(&cfg.out.join("training.png"), &report.training.curves)?;
    match &report.comparison {
        Some(c) => crate::compare::write_reports(&cfg.out, c)?,
        None => {
            crate::plots::latency_cdf(&cfg.out.join("latency.png"), &[("fp32", report.latency.samples_us.clone())])?
        }
    }
    crate::fsutil::write_atomic(&cfg.out.join(REPORT_JSON), serde_json::to_string_pretty(&report)?.as_bytes())?;
    crate::fsutil::write_atomic(&cfg.out.join(REPORT_MD), markdown(&report).as_bytes())?;
    if let Some(why) = int8_refused {
        anyhow::bail!("{why} (the float model and report.md are in {})", cfg.out.display());
    }
    Ok(report)
}

/// The report for a person.
pub fn markdown(r: &RunReport) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(s, "# Presence model run\n");
    let _ = writeln!(s, "Model `{}` ({} bytes).\n", r.model.display(), r.model_bytes);
    let _ = writeln!(s, "## Held-out simulated subjects ({} windows)\n", r.test.windows);
    let _ = writeln!(
        s,
        "accuracy {:.2}%, presence accuracy {:.2}%\n",
        100.0 * r.test.accuracy,
        100.0 * r.test.presence_accuracy
    );
    let _ = writeln!(
        s,
        "| state | precision | recall | recall 95 % interval (subject bootstrap) | support | subjects |\n|---|---|---|---|---|---|"
    );
    for (c, ci) in r.test.per_class.iter().zip(&r.test_recall_intervals) {
        let _ = writeln!(
            s,
            "| {} | {:.3} | {:.3} | {:.3} – {:.3} | {} | {} |",
            c.state, c.precision, c.recall, ci.lo, ci.hi, c.support, ci.subjects
        );
    }
    let _ =
        writeln!(s, "\nConfusion (rows truth, columns predicted, order absent, sitting, lying_full, lying_partial):\n");
    for row in &r.test.confusion {
        let _ = writeln!(s, "    {row:?}");
    }
    if let (Some(p), Some(ci)) = (&r.test_personal, &r.test_personal_recall_intervals) {
        let _ = writeln!(
            s,
            "\n## With personal calibration (the same subjects, each having lain fully on the mat for 10 s once)\n\n\
             accuracy {:.2}% (without {:.2}%)\n\n\
             | state | recall without | recall with | recall with, 95 % interval | precision with |\n|---|---|---|---|---|",
            100.0 * p.accuracy,
            100.0 * r.test.accuracy
        );
        for ((without, with), ci) in r.test.per_class.iter().zip(&p.per_class).zip(ci) {
            let _ = writeln!(
                s,
                "| {} | {:.3} | {:.3} | {:.3} – {:.3} | {:.3} |",
                with.state, without.recall, with.recall, ci.lo, ci.hi, with.precision
            );
        }
        let _ = writeln!(s, "\nConfusion with personal calibration:\n");
        for row in &p.confusion {
            let _ = writeln!(s, "    {row:?}");
        }
    }
    if let Some(real) = &r.real {
        let _ = writeln!(
            s,
            "\n## Real recordings: a presence smoke test\n\n{} (calibrate {} s, ±{} s around changes ignored).\n\n\
             presence accuracy {:.2}% over {} frames ({} unknown left out); per file {:?}; arrival detected after {}, \
             departure after {}",
            crate::evaluate::REAL_SMOKE_TEST,
            real.calibrate_s,
            real.margin_s,
            100.0 * real.presence_accuracy,
            real.frames_scored,
            real.frames_unknown,
            real.per_file.iter().map(|v| format!("{:.1}%", 100.0 * v)).collect::<Vec<_>>(),
            real.arrival_latency_s.map_or("never".into(), |s| format!("{s:.1} s")),
            real.departure_latency_s.map_or("never".into(), |s| format!("{s:.1} s")),
        );
    }
    let _ = writeln!(
        s,
        "\n## Training\n\n| epoch | learning rate | train loss | validation loss | validation accuracy | validation balanced accuracy | … with personal calibration | s |\n|---|---|---|---|---|---|---|---|"
    );
    for e in &r.training.curves {
        let _ = writeln!(
            s,
            "| {} | {:.1e} | {:.4} | {:.4} | {:.3} | {:.3} | {:.3} | {:.1} |",
            e.epoch,
            e.learning_rate,
            e.train_loss,
            e.validation_loss,
            e.validation_accuracy,
            e.validation_balanced_accuracy,
            e.validation_balanced_accuracy_calibrated,
            e.seconds
        );
    }
    let _ = writeln!(
        s,
        "\nbest epoch {}; export max |Δp| {:.2e}; latency p50 {:.1} µs, p99 {:.1} µs",
        r.training.best_epoch, r.export_max_abs_diff, r.latency.p50_us, r.latency.p99_us
    );
    if let Some(c) = &r.comparison {
        let _ = writeln!(
            s,
            "\n## Quantized (int8)\n\nAccuracy drop {:+.2} points, fp32/int8 agreement {:.2}%, size {} → {} bytes, latency p50 \
             {:.1} → {:.1} µs. Details in `evaluation.md`.",
            c.accuracy_drop_points,
            100.0 * c.agreement,
            c.fp32.bytes,
            c.int8.bytes,
            c.fp32.latency.p50_us,
            c.int8.latency.p50_us
        );
    }
    if let Some(why) = &r.int8_refused {
        let _ = writeln!(s, "\n## Quantized (int8): refused\n\nNo int8 model was written: {why}.");
    }
    let _ = writeln!(
        s,
        "\n![training curves](training.png)\n\n![confusion, fp32](confusion.fp32.png)\n\n![latency](latency.png)"
    );
    s
}
