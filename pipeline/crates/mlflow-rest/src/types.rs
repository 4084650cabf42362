//! The MLflow REST API 2.0 entities this client reads and writes, shaped as the server's JSON
//! (`mlflow/protos/service.proto`, `model_registry.proto`). Fields the pipeline does not use are left out;
//! unknown fields are ignored so newer servers still parse.

use serde::{Deserialize, Deserializer, Serialize};

/// An experiment.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Experiment {
    /// Server-assigned id.
    pub experiment_id: String,
    /// Unique name.
    pub name: String,
    /// Where its runs' artifacts go by default.
    #[serde(default)]
    pub artifact_location: Option<String>,
    /// `active` or `deleted`.
    #[serde(default)]
    pub lifecycle_stage: Option<String>,
}

/// Status of a run.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RunStatus {
    /// Being logged.
    Running,
    /// Created, not started.
    Scheduled,
    /// Done, everything logged.
    Finished,
    /// Gave up.
    Failed,
    /// Stopped from outside.
    Killed,
    /// A status this client does not know.
    #[serde(other)]
    Unknown,
}

impl RunStatus {
    /// The name MLflow uses.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "RUNNING",
            RunStatus::Scheduled => "SCHEDULED",
            RunStatus::Finished => "FINISHED",
            RunStatus::Failed => "FAILED",
            RunStatus::Killed => "KILLED",
            RunStatus::Unknown => "UNKNOWN",
        }
    }
}

/// A run: its metadata and the latest value of everything logged to it.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Run {
    /// Metadata.
    pub info: RunInfo,
    /// Params, latest metrics and tags.
    #[serde(default)]
    pub data: RunData,
}

/// Metadata of a run.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct RunInfo {
    /// Server-assigned id.
    pub run_id: String,
    /// Its experiment.
    pub experiment_id: String,
    /// Display name.
    #[serde(default)]
    pub run_name: Option<String>,
    /// Status.
    pub status: RunStatus,
    /// Start, ms since the epoch.
    #[serde(default, deserialize_with = "lenient_i64_opt")]
    pub start_time: Option<i64>,
    /// End, ms since the epoch.
    #[serde(default, deserialize_with = "lenient_i64_opt")]
    pub end_time: Option<i64>,
    /// Root of its artifacts, e.g. `mlflow-artifacts:/3/<run id>/artifacts`.
    #[serde(default)]
    pub artifact_uri: String,
    /// `active` or `deleted`.
    #[serde(default)]
    pub lifecycle_stage: Option<String>,
}

/// What was logged to a run (metrics: the latest value per key).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct RunData {
    /// Latest value of each metric.
    #[serde(default)]
    pub metrics: Vec<Metric>,
    /// Params.
    #[serde(default)]
    pub params: Vec<Param>,
    /// Tags, including MLflow's `mlflow.*` ones.
    #[serde(default)]
    pub tags: Vec<RunTag>,
}

impl RunData {
    /// The latest value of a metric.
    pub fn metric(&self, key: &str) -> Option<f64> {
        self.metrics.iter().find(|m| m.key == key).map(|m| m.value)
    }

    /// A param's value.
    pub fn param(&self, key: &str) -> Option<&str> {
        self.params.iter().find(|p| p.key == key).map(|p| p.value.as_str())
    }

    /// A tag's value.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags.iter().find(|t| t.key == key).map(|t| t.value.as_str())
    }
}

/// One metric value.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Metric {
    /// Name.
    pub key: String,
    /// Value (the server sends non-finite values as strings; they parse here).
    #[serde(deserialize_with = "lenient_f64")]
    pub value: f64,
    /// When, ms since the epoch.
    #[serde(default, deserialize_with = "lenient_i64")]
    pub timestamp: i64,
    /// Step (the epoch for training curves).
    #[serde(default, deserialize_with = "lenient_i64")]
    pub step: i64,
}

impl Metric {
    /// A metric value at a step and time.
    pub fn new(key: impl Into<String>, value: f64, step: i64, timestamp: i64) -> Self {
        Metric { key: key.into(), value, timestamp, step }
    }
}

/// A run parameter (write-once: MLflow refuses another value for the same key).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
pub struct Param {
    /// Name.
    pub key: String,
    /// Value.
    pub value: String,
}

impl Param {
    /// A param.
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Self {
        Param { key: key.into(), value: value.into() }
    }
}

/// A run tag.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
pub struct RunTag {
    /// Name.
    pub key: String,
    /// Value.
    pub value: String,
}

impl RunTag {
    /// A tag.
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Self {
        RunTag { key: key.into(), value: value.into() }
    }
}

/// What `runs/create` needs.
#[derive(Debug, Clone)]
pub struct CreateRun {
    /// The experiment.
    pub experiment_id: String,
    /// Display name.
    pub run_name: String,
    /// Start, ms since the epoch.
    pub start_time: i64,
    /// Tags set at creation.
    pub tags: Vec<RunTag>,
}

/// One page of `runs/search`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RunsPage {
    /// The runs on this page.
    #[serde(default)]
    pub runs: Vec<Run>,
    /// Token of the next page (absent on the last one).
    #[serde(default)]
    pub next_page_token: Option<String>,
}

/// A `runs/search` query.
#[derive(Debug, Clone, Serialize)]
pub struct SearchRuns {
    /// Experiments to search.
    pub experiment_ids: Vec<String>,
    /// MLflow filter, e.g. `attributes.status = 'FINISHED'`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    /// E.g. `attributes.start_time DESC`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub order_by: Vec<String>,
    /// Page size.
    pub max_results: u32,
    /// From a previous page's `next_page_token`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page_token: Option<String>,
}

/// A file or folder in a run's artifacts.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
pub struct FileInfo {
    /// Path relative to the run's artifact root.
    pub path: String,
    /// Whether it is a folder.
    #[serde(default)]
    pub is_dir: bool,
    /// Size in bytes (files only).
    #[serde(default, deserialize_with = "lenient_i64_opt")]
    pub file_size: Option<i64>,
}

/// A registered model.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct RegisteredModel {
    /// Unique name.
    pub name: String,
    /// Aliases and the versions they point at.
    #[serde(default)]
    pub aliases: Vec<ModelAlias>,
}

/// An alias of a registered model.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
pub struct ModelAlias {
    /// Alias, e.g. `production`.
    pub alias: String,
    /// The version it points at.
    pub version: String,
}

/// A version of a registered model.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ModelVersion {
    /// The registered model.
    pub name: String,
    /// Version number (as MLflow sends it, a string).
    pub version: String,
    /// Where the model is, e.g. `mlflow-artifacts:/3/<run>/artifacts/model.int8.onnx`.
    #[serde(default)]
    pub source: String,
    /// The run it came from.
    #[serde(default)]
    pub run_id: Option<String>,
    /// `READY`, `PENDING_REGISTRATION`, `FAILED_REGISTRATION`.
    #[serde(default)]
    pub status: Option<String>,
    /// Aliases pointing at it.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Creation, ms since the epoch.
    #[serde(default, deserialize_with = "lenient_i64_opt")]
    pub creation_timestamp: Option<i64>,
}

impl ModelVersion {
    /// The version as a number, for ordering (MLflow's versions are 1, 2, 3…).
    pub fn number(&self) -> Option<u64> {
        self.version.parse().ok()
    }
}

/// MLflow writes int64 fields as JSON numbers, but protobuf's JSON mapping allows strings; accept both.
#[derive(Deserialize)]
#[serde(untagged)]
enum NumOrString {
    Int(i64),
    Float(f64),
    Str(String),
}

fn lenient_i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    match NumOrString::deserialize(d)? {
        NumOrString::Int(v) => Ok(v),
        NumOrString::Float(v) if v.fract() == 0.0 && v.abs() < 9.0e15 => Ok(v as i64),
        NumOrString::Float(v) => Err(serde::de::Error::custom(format!("{v} is not an integer"))),
        NumOrString::Str(s) => s.parse().map_err(|_| serde::de::Error::custom(format!("{s:?} is not an integer"))),
    }
}

fn lenient_i64_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    struct Wrap(#[serde(deserialize_with = "lenient_i64")] i64);
    Ok(Option::<Wrap>::deserialize(d)?.map(|w| w.0))
}

/// Protobuf's JSON mapping writes NaN and infinities as the strings "NaN", "Infinity", "-Infinity".
fn lenient_f64<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    match NumOrString::deserialize(d)? {
        NumOrString::Int(v) => Ok(v as f64),
        NumOrString::Float(v) => Ok(v),
        NumOrString::Str(s) => match s.as_str() {
            "NaN" => Ok(f64::NAN),
            "Infinity" => Ok(f64::INFINITY),
            "-Infinity" => Ok(f64::NEG_INFINITY),
            other => other.parse().map_err(|_| serde::de::Error::custom(format!("{other:?} is not a number"))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_parses_numbers_sent_as_strings_and_non_finite_metrics() {
        let run: Run = serde_json::from_str(
            r#"{"info":{"run_id":"r","experiment_id":"1","status":"FINISHED","start_time":"1700000000000",
                "artifact_uri":"mlflow-artifacts:/1/r/artifacts","new_field":1},
                "data":{"metrics":[{"key":"a","value":"NaN","timestamp":1,"step":"2"},
                                   {"key":"b","value":0.5,"timestamp":1,"step":0}]}}"#,
        )
        .unwrap();
        assert_eq!(run.info.start_time, Some(1_700_000_000_000));
        assert_eq!(run.info.status, RunStatus::Finished);
        assert!(run.data.metric("a").unwrap().is_nan());
        assert_eq!(run.data.metrics[0].step, 2);
        assert_eq!(run.data.metric("b"), Some(0.5));
        assert!(run.data.params.is_empty());
    }

    #[test]
    fn an_unknown_status_is_not_a_parse_error() {
        let s: RunStatus = serde_json::from_str("\"PAUSED\"").unwrap();
        assert_eq!(s, RunStatus::Unknown);
    }
}
