//! A small typed async client of the MLflow tracking server's REST API 2.0 (no Python, and no maintained
//! Rust client exists): experiments, runs, batched params/metrics/tags within the server's limits,
//! artifacts through the server's proxy, and the model registry; basic or bearer auth from MLflow's own
//! environment variables; retries with jittered backoff and `Retry-After`; typed errors carrying
//! MLflow's error code and the request that failed.
//!
//! Everything here does network I/O on the caller's tokio runtime; nothing blocks a thread.

mod batch;
mod client;
mod error;
mod types;

pub use batch::{
    Batch, MAX_ENTITIES_PER_BATCH, MAX_METRICS_PER_BATCH, MAX_PARAM_VALUE_CHARS, MAX_PARAMS_PER_BATCH,
    MAX_TAG_VALUE_CHARS, MAX_TAGS_PER_BATCH, chunk, truncate_chars,
};
pub use client::{
    Auth, Client, ClientConfig, ENV_PASSWORD, ENV_TOKEN, ENV_USERNAME, REQUEST_ID_TAG, RetryPolicy, quote,
};
pub use error::{Error, Result, codes};
pub use types::{
    CreateRun, Experiment, FileInfo, Metric, ModelAlias, ModelVersion, Param, RegisteredModel, Run, RunData, RunInfo,
    RunStatus, RunTag, RunsPage, SearchRuns,
};

/// Environment variable naming the tracking server (as MLflow's own client reads it).
pub const ENV_TRACKING_URI: &str = "MLFLOW_TRACKING_URI";
