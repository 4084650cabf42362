//! Logging a `pipeline run` folder to MLflow: one run with the dataset/training/quantization settings as
//! params, the test figures and training curves as metrics, the models, reports and plots as artifacts
//! with a `manifest.json` of their SHA-256, and a registered model version of the int8 model.
//!
//! Order, so what `promote` can see is always whole: params/metrics/tags → artifacts → `manifest.json`
//! (last artifact) → model version → status FINISHED. Anything failing after the run exists sets it
//! FAILED with a `failure_reason` tag (best effort) and returns the original error.

pub mod manifest;
pub mod promotion;

pub use manifest::{ArtifactEntry, ArtifactManifest, MANIFEST_FILE, MANIFEST_SCHEMA_VERSION, sha256_hex};

use crate::run::{DATA_DIR, FP32_MODEL, INT8_MODEL, REPORT_JSON, REPORT_MD};
use mlflow_rest::{Client, CreateRun, Metric, Param, RunStatus, RunTag};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// The registered model's alias `promote` moves to the version it publishes.
pub const PRODUCTION_ALIAS: &str = "production";

/// Experiment runs go to unless told otherwise.
pub const DEFAULT_EXPERIMENT: &str = "hapticmat-presence";
/// Registered model the int8 model is registered under unless told otherwise.
pub const DEFAULT_REGISTERED_MODEL: &str = "hapticmat-presence";
/// Files a run folder must have to be logged.
pub const REQUIRED_FILES: [&str; 3] = [REPORT_JSON, FP32_MODEL, INT8_MODEL];
/// Files uploaded when the run folder has them.
pub const OPTIONAL_FILES: [&str; 7] = [
    REPORT_MD,
    "evaluation.json",
    "evaluation.md",
    "training.png",
    "confusion.fp32.png",
    "confusion.int8.png",
    "latency.png",
];
/// Longest `failure_reason` tag, in characters.
pub const MAX_FAILURE_REASON_CHARS: usize = 2000;

/// Metric keys. `promote` gates on [`INT8_TEST_ACCURACY`](metric_keys::INT8_TEST_ACCURACY) and
/// [`INT8_ACCURACY_DROP_POINTS`](metric_keys::INT8_ACCURACY_DROP_POINTS): renaming them breaks promotion.
pub mod metric_keys {
    /// fp32 accuracy on held-out simulated subjects (0..1).
    pub const TEST_ACCURACY: &str = "test_accuracy";
    /// fp32 presence (absent vs present) accuracy on held-out subjects.
    pub const TEST_PRESENCE_ACCURACY: &str = "test_presence_accuracy";
    /// int8 accuracy on the same windows.
    pub const INT8_TEST_ACCURACY: &str = "int8_test_accuracy";
    /// int8 presence accuracy.
    pub const INT8_TEST_PRESENCE_ACCURACY: &str = "int8_test_presence_accuracy";
    /// fp32 presence accuracy on the real recordings.
    pub const REAL_PRESENCE_ACCURACY: &str = "real_presence_accuracy";
    /// int8 presence accuracy on the real recordings.
    pub const INT8_REAL_PRESENCE_ACCURACY: &str = "int8_real_presence_accuracy";
    /// Accuracy points int8 loses against fp32.
    pub const INT8_ACCURACY_DROP_POINTS: &str = "int8_accuracy_drop_points";
    /// Share of windows where fp32 and int8 agree.
    pub const INT8_AGREEMENT: &str = "int8_agreement";
    /// fp32 single-window latency, median, µs.
    pub const LATENCY_P50_US: &str = "latency_p50_us";
    /// fp32 latency, 99th percentile, µs.
    pub const LATENCY_P99_US: &str = "latency_p99_us";
    /// int8 latency, median, µs.
    pub const INT8_LATENCY_P50_US: &str = "int8_latency_p50_us";
    /// int8 latency, 99th percentile, µs.
    pub const INT8_LATENCY_P99_US: &str = "int8_latency_p99_us";
    /// Size of the fp32 model file, bytes.
    pub const FP32_MODEL_BYTES: &str = "fp32_model_bytes";
    /// Size of the int8 model file, bytes.
    pub const INT8_MODEL_BYTES: &str = "int8_model_bytes";
    /// Epoch whose weights were kept.
    pub const BEST_EPOCH: &str = "best_epoch";
    /// Largest |candle − ONNX Runtime| probability difference.
    pub const EXPORT_MAX_ABS_DIFF: &str = "export_max_abs_diff";
    /// Per epoch (step = epoch): training loss.
    pub const TRAIN_LOSS: &str = "train_loss";
    /// Per epoch: validation loss.
    pub const VALIDATION_LOSS: &str = "validation_loss";
    /// Per epoch: validation accuracy.
    pub const VALIDATION_ACCURACY: &str = "validation_accuracy";
    /// Per epoch: validation balanced accuracy (mean recall of the states; early stopping).
    pub const VALIDATION_BALANCED_ACCURACY: &str = "validation_balanced_accuracy";
    /// Per epoch: validation balanced accuracy with every subject's personal calibration.
    pub const VALIDATION_BALANCED_ACCURACY_CALIBRATED: &str = "validation_balanced_accuracy_calibrated";
    /// Per epoch: learning rate.
    pub const LEARNING_RATE: &str = "learning_rate";
    /// Per epoch: wall time, s.
    pub const EPOCH_SECONDS: &str = "epoch_seconds";
}

/// Tag keys.
pub mod tag_keys {
    /// Commit of the checkout that ran the pipeline.
    pub const GIT_COMMIT: &str = "git_commit";
    /// [`data_fingerprint`](super::data_fingerprint) of the run folder.
    pub const DATA_FINGERPRINT: &str = "data_fingerprint";
    /// Why the run is FAILED.
    pub const FAILURE_REASON: &str = "failure_reason";
    /// MLflow's source type (`LOCAL`, `JOB`, …).
    pub const SOURCE_TYPE: &str = "mlflow.source.type";
    /// MLflow's source name (shown in the UI).
    pub const SOURCE_NAME: &str = "mlflow.source.name";
    /// MLflow's commit tag (shown in the UI).
    pub const SOURCE_GIT_COMMIT: &str = "mlflow.source.git.commit";
    /// MLflow's run name tag.
    pub const RUN_NAME: &str = "mlflow.runName";
    /// MLflow's user tag.
    pub const USER: &str = "mlflow.user";
    /// Version of this pipeline.
    pub const PIPELINE_VERSION: &str = "hapticmat.pipeline_version";
}

/// Errors of logging a run.
#[derive(Debug, thiserror::Error)]
pub enum TrackingError {
    /// Talking to MLflow failed.
    #[error(transparent)]
    Mlflow(#[from] mlflow_rest::Error),
    /// A file of the run folder cannot be read.
    #[error("reading {}: {source}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// `report.json` is not what `pipeline run` writes.
    #[error("{} is not a `pipeline run` report: {reason}", .path.display())]
    Report {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A file the log needs is not in the run folder.
    #[error("the run folder {} has no {file}{hint}", .dir.display())]
    MissingFile {
        /// The run folder.
        dir: PathBuf,
        /// The missing file.
        file: String,
        /// What to do about it.
        hint: &'static str,
    },
    /// No async runtime could be made for the blocking API.
    #[error("cannot start the async runtime for MLflow: {0}")]
    Runtime(std::io::Error),
    /// Logging failed after the MLflow run existed; the run was set FAILED (or could not be, see
    /// `mark_error`). `source` is the original error.
    #[error("MLflow run {run_id} ({run_url}) {}: {source}", marked(.mark_error))]
    RunFailed {
        /// The run.
        run_id: String,
        /// Its page in the MLflow UI.
        run_url: String,
        /// Why it could not be set FAILED, if it could not.
        mark_error: Option<String>,
        /// What went wrong.
        source: Box<TrackingError>,
    },
}

fn marked(mark_error: &Option<String>) -> String {
    match mark_error {
        None => "marked FAILED".into(),
        Some(e) => format!("could not be marked FAILED ({e})"),
    }
}

/// Result of tracking.
pub type Result<T, E = TrackingError> = std::result::Result<T, E>;

/// What to log where.
#[derive(Debug, Clone)]
pub struct LogOptions {
    /// Experiment name (created if missing).
    pub experiment: String,
    /// Run name (`None`: `run-<UTC time>`).
    pub run_name: Option<String>,
    /// Registered model the int8 model becomes a version of.
    pub registered_model: String,
    /// Commit to tag the run with (`None`: [`detect_git_commit`]).
    pub git_commit: Option<String>,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions {
            experiment: DEFAULT_EXPERIMENT.into(),
            run_name: None,
            registered_model: DEFAULT_REGISTERED_MODEL.into(),
            git_commit: None,
        }
    }
}

/// An MLflow run that exists and is RUNNING.
#[derive(Debug, Clone, Serialize)]
pub struct StartedRun {
    /// Experiment id.
    pub experiment_id: String,
    /// Experiment name.
    pub experiment_name: String,
    /// Run id.
    pub run_id: String,
    /// Run name.
    pub run_name: String,
    /// Root of its artifacts.
    pub artifact_uri: String,
    /// Its page in the MLflow UI.
    pub run_url: String,
    /// The commit it is tagged with (`None`: unknown, tag omitted).
    pub git_commit: Option<String>,
}

/// What was logged.
#[derive(Debug, Clone, Serialize)]
pub struct LogSummary {
    /// Experiment id.
    pub experiment_id: String,
    /// Experiment name.
    pub experiment_name: String,
    /// Run id.
    pub run_id: String,
    /// Run name.
    pub run_name: String,
    /// Its page in the MLflow UI.
    pub run_url: String,
    /// Registered model name.
    pub registered_model: String,
    /// The version made from this run.
    pub model_version: String,
    /// Its source (the int8 artifact).
    pub model_source: String,
    /// The commit tag (`None`: unknown, tag omitted).
    pub git_commit: Option<String>,
    /// The `data_fingerprint` tag.
    pub data_fingerprint: String,
    /// Params logged.
    pub params: usize,
    /// Metric values logged (curves count one per epoch).
    pub metrics: usize,
    /// Artifacts uploaded, as listed in `manifest.json`.
    pub artifacts: Vec<ArtifactEntry>,
}

/// The tracking URI from the command line, else `MLFLOW_TRACKING_URI` (empty counts as unset).
pub fn tracking_uri(arg: Option<String>) -> Option<String> {
    arg.or_else(|| std::env::var(mlflow_rest::ENV_TRACKING_URI).ok()).filter(|s| !s.trim().is_empty())
}

/// The commit of the checkout in the working directory (`git rev-parse HEAD`), else env `GIT_COMMIT`
/// (Jenkins sets it); `None` when neither is known.
pub fn detect_git_commit() -> Option<String> {
    let from_git = std::process::Command::new("git")
        .args(["rev-parse", "--verify", "HEAD"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    let looks_like_commit = |s: &String| (7..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit());
    from_git
        .filter(looks_like_commit)
        .or_else(|| std::env::var("GIT_COMMIT").ok().map(|s| s.trim().to_string()).filter(looks_like_commit))
}

/// Reads and checks `report.json` of a run folder.
pub fn read_report(dir: &Path) -> Result<Value> {
    let path = dir.join(REPORT_JSON);
    let text = std::fs::read(&path).map_err(|source| read_error(dir, REPORT_JSON, source))?;
    let report: Value = serde_json::from_slice(&text)
        .map_err(|e| TrackingError::Report { path: path.clone(), reason: e.to_string() })?;
    for needed in ["/dataset", "/training/curves", "/test/accuracy"] {
        if report.pointer(needed).is_none() {
            return Err(TrackingError::Report { path, reason: format!("no {needed}") });
        }
    }
    Ok(report)
}

fn read_error(dir: &Path, file: &str, source: std::io::Error) -> TrackingError {
    if source.kind() == std::io::ErrorKind::NotFound {
        missing(dir, file)
    } else {
        TrackingError::Read { path: dir.join(file), source }
    }
}

fn missing(dir: &Path, file: &str) -> TrackingError {
    let hint = match file {
        INT8_MODEL => " (tracking registers the int8 model: run `pipeline run` without --no-quantize)",
        DATA_DIR => " (the data fingerprint hashes data/*.npy, which `pipeline run` writes)",
        _ => " (is it a `pipeline run --out` folder?)",
    };
    TrackingError::MissingFile { dir: dir.to_path_buf(), file: file.to_string(), hint }
}

/// SHA-256 (hex) identifying the data a run was trained and scored on. Hashed, in this order:
/// the line `hapticmat-data-fingerprint/1`; `report.json`'s `dataset` object without its `seconds`
/// timing, as JSON with keys sorted at every level, then a newline; then for every `*.npy` file in the
/// folder's `data/` (calibration, test windows and labels), in byte order of file names: the line
/// `<name> <size in bytes>`, the file's bytes, a newline. The training windows themselves are not
/// written out; the dataset settings (seed, sessions, split) and class counts stand for them.
pub fn data_fingerprint(dir: &Path, report: &Value) -> Result<String> {
    let mut h = Sha256::new();
    h.update(b"hapticmat-data-fingerprint/1\n");
    let mut dataset = report.get("dataset").cloned().unwrap_or(Value::Null);
    if let Some(o) = dataset.as_object_mut() {
        o.remove("seconds");
    }
    h.update(canonical_json(&dataset).as_bytes());
    h.update(b"\n");
    let data = dir.join(DATA_DIR);
    let entries = std::fs::read_dir(&data).map_err(|source| read_error(dir, DATA_DIR, source))?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| TrackingError::Read { path: data.clone(), source })?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".npy") && entry.path().is_file() {
            files.push(name);
        }
    }
    files.sort();
    for name in files {
        let path = data.join(&name);
        let bytes = std::fs::read(&path).map_err(|source| TrackingError::Read { path, source })?;
        h.update(format!("{name} {}\n", bytes.len()).as_bytes());
        h.update(&bytes);
        h.update(b"\n");
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// JSON with object keys sorted at every level, so the same settings always hash the same.
fn canonical_json(v: &Value) -> String {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let fields: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}:{}", Value::String(k.clone()), canonical_json(&map[k.as_str()])))
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        Value::Array(items) => format!("[{}]", items.iter().map(canonical_json).collect::<Vec<_>>().join(",")),
        other => other.to_string(),
    }
}

/// Params: the dataset, training and quantization settings of the report, flattened to dotted keys
/// (`dataset.sessions`, `training.learning_rate`, `quantization.method.method`, …). Lists are logged as
/// their JSON text, missing values as `null`.
pub fn params_of(report: &Value) -> Vec<Param> {
    let mut out = Vec::new();
    for (prefix, pointer) in
        [("dataset", "/dataset/config"), ("training", "/training/config"), ("quantization", "/quantization/config")]
    {
        if let Some(v) = report.pointer(pointer) {
            flatten(prefix, v, &mut out);
        }
    }
    out
}

fn flatten(prefix: &str, v: &Value, out: &mut Vec<Param>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                flatten(&format!("{prefix}.{k}"), v, out);
            }
        }
        Value::String(s) => out.push(Param::new(prefix, s.clone())),
        other => out.push(Param::new(prefix, other.to_string())),
    }
}

/// Metrics: the test, real-recording, int8 comparison, latency and size figures at step 0, and the
/// training curves with step = epoch. Figures the report lacks (no real recordings, no int8 model) are
/// left out, never logged as 0; so are non-finite ones, which MLflow stores but cannot gate on.
pub fn metrics_of(report: &Value, timestamp: i64) -> Vec<Metric> {
    use metric_keys::*;
    let mut out = Vec::new();
    let mut push = |key: &str, v: Option<f64>, step: i64| {
        if let Some(v) = v.filter(|v| v.is_finite()) {
            out.push(Metric::new(key, v, step, timestamp));
        }
    };
    let at = |pointer: &str| report.pointer(pointer).and_then(Value::as_f64);
    for (key, pointer) in [
        (TEST_ACCURACY, "/test/accuracy"),
        (TEST_PRESENCE_ACCURACY, "/test/presence_accuracy"),
        (REAL_PRESENCE_ACCURACY, "/real/presence_accuracy"),
        (INT8_TEST_ACCURACY, "/comparison/int8/test/accuracy"),
        (INT8_TEST_PRESENCE_ACCURACY, "/comparison/int8/test/presence_accuracy"),
        (INT8_REAL_PRESENCE_ACCURACY, "/comparison/int8/real/presence_accuracy"),
        (INT8_ACCURACY_DROP_POINTS, "/comparison/accuracy_drop_points"),
        (INT8_AGREEMENT, "/comparison/agreement"),
        (LATENCY_P50_US, "/latency/p50_us"),
        (LATENCY_P99_US, "/latency/p99_us"),
        (INT8_LATENCY_P50_US, "/comparison/int8/latency/p50_us"),
        (INT8_LATENCY_P99_US, "/comparison/int8/latency/p99_us"),
        (FP32_MODEL_BYTES, "/model_bytes"),
        (INT8_MODEL_BYTES, "/comparison/int8/bytes"),
        (BEST_EPOCH, "/training/best_epoch"),
        (EXPORT_MAX_ABS_DIFF, "/export_max_abs_diff"),
    ] {
        push(key, at(pointer), 0);
    }
    for e in report.pointer("/training/curves").and_then(Value::as_array).into_iter().flatten() {
        let Some(epoch) = e.get("epoch").and_then(Value::as_i64) else { continue };
        for (key, field) in [
            (TRAIN_LOSS, "train_loss"),
            (VALIDATION_LOSS, "validation_loss"),
            (VALIDATION_ACCURACY, "validation_accuracy"),
            (VALIDATION_BALANCED_ACCURACY, "validation_balanced_accuracy"),
            (VALIDATION_BALANCED_ACCURACY_CALIBRATED, "validation_balanced_accuracy_calibrated"),
            (LEARNING_RATE, "learning_rate"),
            (EPOCH_SECONDS, "seconds"),
        ] {
            push(key, e.get(field).and_then(Value::as_f64), epoch);
        }
    }
    out
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Creates the experiment (if missing) and a RUNNING run tagged with its source and commit. Call it
/// before the work the run records, so a crash shows in MLflow.
pub async fn start_run(client: &Client, opts: &LogOptions) -> Result<StartedRun> {
    use tag_keys::*;
    let experiment = client.get_or_create_experiment(&opts.experiment).await?;
    let run_name =
        opts.run_name.clone().unwrap_or_else(|| format!("run-{}", chrono::Utc::now().format("%Y%m%d-%H%M%S")));
    let git_commit = opts.git_commit.clone().or_else(detect_git_commit);
    let mut tags = vec![
        RunTag::new(SOURCE_TYPE, "LOCAL"),
        RunTag::new(SOURCE_NAME, "hapticmat pipeline"),
        RunTag::new(RUN_NAME, &run_name),
        RunTag::new(PIPELINE_VERSION, env!("CARGO_PKG_VERSION")),
    ];
    if let Some(user) = std::env::var("USER").ok().filter(|u| !u.is_empty()) {
        tags.push(RunTag::new(USER, user));
    }
    if let Some(c) = &git_commit {
        tags.push(RunTag::new(GIT_COMMIT, c));
        tags.push(RunTag::new(SOURCE_GIT_COMMIT, c));
    }
    let run = client
        .create_run(&CreateRun {
            experiment_id: experiment.experiment_id.clone(),
            run_name: run_name.clone(),
            start_time: now_ms(),
            tags,
        })
        .await?;
    Ok(StartedRun {
        run_url: client.run_url(&experiment.experiment_id, &run.info.run_id),
        experiment_id: experiment.experiment_id,
        experiment_name: experiment.name,
        run_id: run.info.run_id,
        run_name,
        artifact_uri: run.info.artifact_uri,
        git_commit,
    })
}

/// Sets a run FAILED with a `failure_reason` tag (cut to [`MAX_FAILURE_REASON_CHARS`]). The status is
/// set even if the tag cannot be.
pub async fn mark_failed(client: &Client, run_id: &str, reason: &str) -> Result<(), mlflow_rest::Error> {
    let tag = client
        .set_tag(run_id, tag_keys::FAILURE_REASON, &mlflow_rest::truncate_chars(reason, MAX_FAILURE_REASON_CHARS))
        .await;
    client.update_run(run_id, RunStatus::Failed, Some(now_ms())).await?;
    tag
}

/// Logs a finished run folder into a started run and sets it FINISHED; on any failure sets it FAILED
/// and returns [`TrackingError::RunFailed`] around the original error.
pub async fn log_folder(client: &Client, run: &StartedRun, dir: &Path, opts: &LogOptions) -> Result<LogSummary> {
    match log_folder_inner(client, run, dir, opts).await {
        Ok(s) => Ok(s),
        Err(e) => Err(fail(client, run, e).await),
    }
}

/// Sets the run FAILED because of `e` and wraps `e` with the run's identity.
async fn fail(client: &Client, run: &StartedRun, e: TrackingError) -> TrackingError {
    let mark_error = mark_failed(client, &run.run_id, &e.to_string()).await.err().map(|m| m.to_string());
    TrackingError::RunFailed {
        run_id: run.run_id.clone(),
        run_url: run.run_url.clone(),
        mark_error,
        source: Box::new(e),
    }
}

async fn log_folder_inner(client: &Client, run: &StartedRun, dir: &Path, opts: &LogOptions) -> Result<LogSummary> {
    let report = read_report(dir)?;
    let data_fingerprint = data_fingerprint(dir, &report)?;
    let params = params_of(&report);
    let metrics = metrics_of(&report, now_ms());
    let (n_params, n_metrics) = (params.len(), metrics.len());
    let tags = vec![RunTag::new(tag_keys::DATA_FINGERPRINT, &data_fingerprint)];
    client.log_batch(&run.run_id, metrics, params, tags).await?;

    // Files are small (tens of kB), so each is read whole: a retried upload resends the same bytes.
    let mut artifacts = Vec::new();
    for (file, required) in REQUIRED_FILES.iter().map(|f| (f, true)).chain(OPTIONAL_FILES.iter().map(|f| (f, false))) {
        let bytes = match std::fs::read(dir.join(file)) {
            Ok(b) => b,
            Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(read_error(dir, file, e)),
        };
        artifacts.push(ArtifactEntry::of(*file, &bytes));
        client.upload_artifact(&run.artifact_uri, file, bytes).await?;
    }
    let manifest = ArtifactManifest { schema_version: MANIFEST_SCHEMA_VERSION, run_id: run.run_id.clone(), artifacts };
    let manifest_bytes = serde_json::to_vec_pretty(&manifest).unwrap_or_default();
    client.upload_artifact(&run.artifact_uri, MANIFEST_FILE, manifest_bytes).await?;
    check_stored(client, run, &manifest).await?;

    let model_source = format!("{}/{INT8_MODEL}", run.artifact_uri.trim_end_matches('/'));
    client.get_or_create_registered_model(&opts.registered_model).await?;
    // Logging the same run again must not add a second version of the same artifact.
    let existing = client.model_versions_of_run(&opts.registered_model, &run.run_id).await?;
    let version = match existing.into_iter().find(|v| v.source == model_source) {
        Some(v) => v,
        None => client.create_model_version(&opts.registered_model, &model_source, &run.run_id).await?,
    };
    client.update_run(&run.run_id, RunStatus::Finished, Some(now_ms())).await?;
    Ok(LogSummary {
        experiment_id: run.experiment_id.clone(),
        experiment_name: run.experiment_name.clone(),
        run_id: run.run_id.clone(),
        run_name: run.run_name.clone(),
        run_url: run.run_url.clone(),
        registered_model: opts.registered_model.clone(),
        model_version: version.version,
        model_source,
        git_commit: run.git_commit.clone(),
        data_fingerprint,
        params: n_params,
        metrics: n_metrics,
        artifacts: manifest.artifacts,
    })
}

/// Checks the store lists every uploaded file at its size before the run is called FINISHED (a
/// proxy that accepted a PUT but stored something else must not produce a promotable run).
async fn check_stored(client: &Client, run: &StartedRun, manifest: &ArtifactManifest) -> Result<()> {
    let listed = client.list_artifacts(&run.artifact_uri, None).await?;
    for a in &manifest.artifacts {
        let stored = listed.iter().find(|f| f.path == a.path).and_then(|f| f.file_size);
        if stored != Some(a.size as i64) {
            return Err(mlflow_rest::Error::BadResponse {
                server: client.server().to_string(),
                step: format!("check uploaded artifact {}", a.path),
                reason: format!(
                    "the store lists {} instead of {} bytes",
                    stored.map_or("nothing".to_string(), |s| s.to_string()),
                    a.size
                ),
            }
            .into());
        }
    }
    Ok(())
}

/// Logs an existing run folder as a new run: checks the folder first (nothing is created for a folder
/// that cannot be logged), then [`start_run`] and [`log_folder`].
pub async fn log_run_dir(client: &Client, dir: &Path, opts: &LogOptions) -> Result<LogSummary> {
    read_report(dir)?;
    for file in REQUIRED_FILES.iter().chain([&DATA_DIR]) {
        if !dir.join(file).exists() {
            return Err(missing(dir, file));
        }
    }
    let run = start_run(client, opts).await?;
    log_folder(client, &run, dir, opts).await
}

/// The blocking face of tracking for `pipeline run --tracking-uri`: the MLflow run is created when this
/// is made, before the work it records; [`TrackedRun::track`] then runs the work and logs its folder.
/// Drives its requests on the process's shared I/O runtime ([`hapticmat_release::io_runtime`]); do not use it from inside another runtime.
pub struct TrackedRun {
    runtime: &'static tokio::runtime::Runtime,
    client: Client,
    run: StartedRun,
    opts: LogOptions,
}

impl TrackedRun {
    /// Creates the experiment (if missing) and a RUNNING run. Blocks.
    pub fn start(client: Client, opts: LogOptions) -> Result<TrackedRun> {
        let runtime = hapticmat_release::io_runtime().map_err(TrackingError::Runtime)?;
        let run = runtime.block_on(start_run(&client, &opts))?;
        Ok(TrackedRun { runtime, client, run, opts })
    }

    /// The MLflow run.
    pub fn run(&self) -> &StartedRun {
        &self.run
    }

    /// Runs `work`, then logs `dir` into the run and sets it FINISHED. If `work` fails, the run is set
    /// FAILED with the error as reason and the error is returned; if it panics, the run is set FAILED
    /// with the panic message and the panic continues. (A process killed outright leaves the run
    /// RUNNING: nothing in the process gets to say otherwise.)
    pub fn track<T>(self, dir: &Path, work: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<(T, LogSummary)> {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work));
        let value = match outcome {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => {
                let reason = format!("{e:#}");
                return Err(match self.runtime.block_on(mark_failed(&self.client, &self.run.run_id, &reason)) {
                    Ok(()) => e.context(format!("MLflow run {} marked FAILED", self.run.run_id)),
                    Err(m) => e.context(format!("MLflow run {} could not be marked FAILED ({m})", self.run.run_id)),
                });
            }
            Err(panic) => {
                let msg = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".into());
                // Best effort: the panic is what the caller must see.
                let _ = self.runtime.block_on(mark_failed(&self.client, &self.run.run_id, &format!("panicked: {msg}")));
                std::panic::resume_unwind(panic);
            }
        };
        let summary = self.runtime.block_on(log_folder(&self.client, &self.run, dir, &self.opts))?;
        Ok((value, summary))
    }
}

/// [`log_run_dir`] for callers without a runtime. Blocks.
pub fn log_run_dir_blocking(client: &Client, dir: &Path, opts: &LogOptions) -> Result<LogSummary> {
    hapticmat_release::io_runtime().map_err(TrackingError::Runtime)?.block_on(log_run_dir(client, dir, opts))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn report() -> Value {
        json!({
            "model_bytes": 28961,
            "dataset": {"config": {"sessions": 8, "seed": 1}, "train": [1, 2], "seconds": 0.25},
            "training": {"config": {"epochs": 2, "learning_rate": 0.003}, "best_epoch": 2,
                         "curves": [{"epoch": 1, "train_loss": 0.5, "validation_loss": 0.4, "validation_accuracy": 0.8, "seconds": 1.0},
                                    {"epoch": 2, "train_loss": 0.3, "validation_loss": 0.35, "validation_accuracy": 0.85, "seconds": 1.0}]},
            "test": {"accuracy": 0.9, "presence_accuracy": 0.99},
            "latency": {"p50_us": 6.0, "p99_us": 7.0},
            "quantization": {"config": {"method": {"method": "min_max"}, "exclude_nodes": [], "threads": null}},
            "comparison": {"int8": {"test": {"accuracy": 0.89}, "latency": {"p50_us": 9.0}, "bytes": 13000},
                           "accuracy_drop_points": 1.0, "agreement": 0.98}
        })
    }

    #[test]
    fn params_are_the_flattened_settings() {
        let p = params_of(&report());
        let get = |k: &str| p.iter().find(|p| p.key == k).map(|p| p.value.as_str());
        assert_eq!(get("dataset.sessions"), Some("8"));
        assert_eq!(get("training.learning_rate"), Some("0.003"));
        assert_eq!(get("quantization.method.method"), Some("min_max"));
        assert_eq!(get("quantization.exclude_nodes"), Some("[]"));
        assert_eq!(get("quantization.threads"), Some("null"));
        assert_eq!(p.len(), 7);
    }

    #[test]
    fn metrics_have_the_gated_keys_curves_by_epoch_and_skip_what_is_missing() {
        let m = metrics_of(&report(), 42);
        let get = |k: &str, step: i64| m.iter().find(|m| m.key == k && m.step == step).map(|m| m.value);
        assert_eq!(get(metric_keys::TEST_ACCURACY, 0), Some(0.9));
        assert_eq!(get(metric_keys::INT8_TEST_ACCURACY, 0), Some(0.89));
        assert_eq!(get(metric_keys::INT8_ACCURACY_DROP_POINTS, 0), Some(1.0));
        assert_eq!(get(metric_keys::VALIDATION_LOSS, 1), Some(0.4));
        assert_eq!(get(metric_keys::VALIDATION_LOSS, 2), Some(0.35));
        assert_eq!(get(metric_keys::REAL_PRESENCE_ACCURACY, 0), None, "no real recordings in this report");
        assert!(m.iter().all(|m| m.timestamp == 42));
    }

    #[test]
    fn the_fingerprint_ignores_timing_and_key_order_but_not_data_bytes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(DATA_DIR)).unwrap();
        std::fs::write(dir.path().join("data/test.npy"), b"abc").unwrap();
        let a = data_fingerprint(dir.path(), &report()).unwrap();
        let mut r = report();
        r["dataset"]["seconds"] = json!(9.0);
        assert_eq!(data_fingerprint(dir.path(), &r).unwrap(), a);
        let reordered: Value = serde_json::from_str(
            r#"{"dataset": {"seconds": 1, "train": [1, 2], "config": {"seed": 1, "sessions": 8}}}"#,
        )
        .unwrap();
        assert_eq!(data_fingerprint(dir.path(), &reordered).unwrap(), a);
        std::fs::write(dir.path().join("data/test.npy"), b"abd").unwrap();
        assert_ne!(data_fingerprint(dir.path(), &r).unwrap(), a);
        r["dataset"]["config"]["seed"] = json!(2);
        std::fs::write(dir.path().join("data/test.npy"), b"abc").unwrap();
        assert_ne!(data_fingerprint(dir.path(), &r).unwrap(), a);
    }

    #[test]
    fn a_folder_without_data_names_what_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let e = data_fingerprint(dir.path(), &report()).unwrap_err();
        assert!(matches!(&e, TrackingError::MissingFile { file, .. } if file == DATA_DIR), "{e}");
    }
}
