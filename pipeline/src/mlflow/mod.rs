//! A small typed async client of the MLflow tracking server's REST API 2.0 (no Python): experiments,
//! runs, batched params/metrics/tags, artifacts through the server's proxy, and the model registry.
//! Plus the artifact manifest `pipeline log` writes and the run selection `promote` builds on.
//!
//! Everything here does network I/O on the caller's tokio runtime; nothing blocks a thread.

mod batch;
mod client;
mod error;
mod manifest;
pub mod promotion;
mod types;

pub use batch::{
    Batch, MAX_ENTITIES_PER_BATCH, MAX_METRICS_PER_BATCH, MAX_PARAM_VALUE_CHARS, MAX_PARAMS_PER_BATCH,
    MAX_TAG_VALUE_CHARS, MAX_TAGS_PER_BATCH, chunk, truncate_chars,
};
pub use client::{
    Auth, Client, ClientConfig, ENV_PASSWORD, ENV_TOKEN, ENV_USERNAME, REQUEST_ID_TAG, RetryPolicy, quote,
};
pub use error::{Error, Result, codes};
pub use manifest::{ArtifactEntry, ArtifactManifest, MANIFEST_FILE, MANIFEST_SCHEMA_VERSION, sha256_hex};
pub use types::{
    CreateRun, Experiment, FileInfo, Metric, ModelAlias, ModelVersion, Param, RegisteredModel, Run, RunData, RunInfo,
    RunStatus, RunTag, RunsPage, SearchRuns,
};

/// Environment variable naming the tracking server (as MLflow's own client reads it).
pub const ENV_TRACKING_URI: &str = "MLFLOW_TRACKING_URI";
/// The alias `promote` moves to the version it publishes.
pub const PRODUCTION_ALIAS: &str = "production";
