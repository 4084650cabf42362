//! The MLflow half of `promote`: pick the newest finished run that passes the quality gates, fetch its
//! artifacts only if they match the run's manifest, and move the registered model's `production` alias.

use super::PRODUCTION_ALIAS;
use super::manifest::{ArtifactManifest, MANIFEST_FILE, MANIFEST_SCHEMA_VERSION, sha256_hex};
use super::metric_keys::{INT8_ACCURACY_DROP_POINTS, INT8_TEST_ACCURACY};
use mlflow_rest::{Client, Error, ModelVersion, Run, RunStatus, SearchRuns};
use serde::Serialize;
use std::collections::BTreeMap;

/// Errors of run selection and verified download.
#[derive(Debug, thiserror::Error)]
pub enum PromotionError {
    /// Talking to MLflow failed.
    #[error(transparent)]
    Mlflow(#[from] Error),
    /// The gates themselves make no sense.
    #[error("invalid gates: {0}")]
    InvalidGates(String),
    /// No experiment of that name.
    #[error("MLflow server {server}: experiment {experiment:?} does not exist")]
    ExperimentNotFound {
        /// `scheme://host:port`.
        server: String,
        /// The name asked for.
        experiment: String,
    },
    /// Every finished run failed a gate or lacked a gated metric.
    #[error(
        "no FINISHED run of experiment {experiment:?} passes the gates ({INT8_TEST_ACCURACY} ≥ {}, \
         {INT8_ACCURACY_DROP_POINTS} ≤ {}); {} run(s) rejected{}",
        .gates.min_accuracy, .gates.max_accuracy_drop, .rejected.len(), rejections(.rejected)
    )]
    NoCandidate {
        /// The experiment searched.
        experiment: String,
        /// The gates applied.
        gates: Gates,
        /// Every finished run and why it was not taken.
        rejected: Vec<Rejected>,
    },
    /// The run has no `manifest.json`: it was not logged by `pipeline log`, or logging did not finish.
    #[error("run {run_id}: no {MANIFEST_FILE} among its artifacts, so none of them can be verified")]
    ManifestMissing {
        /// The run.
        run_id: String,
    },
    /// `manifest.json` is unreadable or belongs elsewhere.
    #[error("run {run_id}: {MANIFEST_FILE} is not valid: {reason}")]
    BadManifest {
        /// The run.
        run_id: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The file is not listed in the manifest.
    #[error("run {run_id}: {file} is not listed in its {MANIFEST_FILE}")]
    NotInManifest {
        /// The run.
        run_id: String,
        /// The file asked for.
        file: String,
    },
    /// The manifest lists the file, the artifact store does not have it.
    #[error("run {run_id}: {file} is listed in its {MANIFEST_FILE} but missing from the artifact store")]
    MissingFromStore {
        /// The run.
        run_id: String,
        /// The missing file.
        file: String,
    },
    /// The stored bytes are not the ones the manifest lists.
    #[error(
        "run {run_id}: {file} does not match its {MANIFEST_FILE}: expected {expected_size} bytes with SHA-256 \
         {expected_sha256}, the store has {actual_size} bytes with SHA-256 {actual_sha256}"
    )]
    Mismatch {
        /// The run.
        run_id: String,
        /// The file.
        file: String,
        /// Size in the manifest.
        expected_size: u64,
        /// Hash in the manifest.
        expected_sha256: String,
        /// Size downloaded.
        actual_size: u64,
        /// Hash of what was downloaded.
        actual_sha256: String,
    },
    /// The registered model has no version made from the run.
    #[error("registered model {model:?} has no version from run {run_id}")]
    NoModelVersion {
        /// The registered model.
        model: String,
        /// The run.
        run_id: String,
    },
}

fn rejections(rejected: &[Rejected]) -> String {
    const SHOWN: usize = 10;
    let mut s: String = rejected.iter().take(SHOWN).map(|r| format!("\n  run {}: {}", r.run_id, r.reason)).collect();
    if rejected.len() > SHOWN {
        s.push_str(&format!("\n  … and {} more", rejected.len() - SHOWN));
    }
    s
}

/// Quality gates a run must pass to be promoted.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Gates {
    /// Least `int8_test_accuracy` (0..1).
    pub min_accuracy: f64,
    /// Most `int8_accuracy_drop_points` (percentage points below fp32).
    pub max_accuracy_drop: f64,
}

/// A finished run that was not taken, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rejected {
    /// The run.
    pub run_id: String,
    /// Its display name.
    pub run_name: Option<String>,
    /// Which gate it failed, or which metric it lacks.
    pub reason: String,
}

/// The run to promote.
#[derive(Debug, Clone, Serialize)]
pub struct Candidate {
    /// The run.
    pub run_id: String,
    /// Its display name.
    pub run_name: Option<String>,
    /// Its experiment.
    pub experiment_id: String,
    /// Root of its artifacts.
    pub artifact_uri: String,
    /// Start, ms since the epoch.
    pub start_time: Option<i64>,
    /// The latest value of each of its metrics.
    pub metrics: BTreeMap<String, f64>,
    /// Newer finished runs that were passed over, newest first.
    pub rejected: Vec<Rejected>,
}

/// Runs per search page.
const PAGE: u32 = 100;

/// The newest FINISHED run of an experiment (by start time) that passes the gates. Runs missing a gated
/// metric, or holding a non-finite one, are skipped with a reason; so are runs that fail a gate.
pub async fn select_candidate(
    client: &Client,
    experiment_name: &str,
    gates: Gates,
) -> Result<Candidate, PromotionError> {
    if !(gates.min_accuracy.is_finite() && gates.max_accuracy_drop.is_finite()) {
        return Err(PromotionError::InvalidGates(format!("{gates:?} has a non-finite bound")));
    }
    if !(0.0..=1.0).contains(&gates.min_accuracy) {
        return Err(PromotionError::InvalidGates(format!(
            "min_accuracy {} is not a fraction in 0..1",
            gates.min_accuracy
        )));
    }
    let experiment = client.get_experiment_by_name(experiment_name).await?.ok_or_else(|| {
        PromotionError::ExperimentNotFound { server: client.server().to_string(), experiment: experiment_name.into() }
    })?;
    let mut rejected = Vec::new();
    let mut page_token = None;
    loop {
        let page = client
            .search_runs(&SearchRuns {
                experiment_ids: vec![experiment.experiment_id.clone()],
                filter: Some(format!("attributes.status = '{}'", RunStatus::Finished.as_str())),
                order_by: vec!["attributes.start_time DESC".into()],
                max_results: PAGE,
                page_token: page_token.take(),
            })
            .await?;
        for run in page.runs {
            match judge(&run, gates) {
                Ok(()) => return Ok(candidate(run, rejected)),
                Err(reason) => rejected.push(Rejected { run_id: run.info.run_id, run_name: run.info.run_name, reason }),
            }
        }
        match page.next_page_token.filter(|t| !t.is_empty()) {
            Some(t) => page_token = Some(t),
            None => break,
        }
    }
    Err(PromotionError::NoCandidate { experiment: experiment_name.into(), gates, rejected })
}

/// Why a run fails the gates, if it does.
fn judge(run: &Run, gates: Gates) -> Result<(), String> {
    // The search filters on FINISHED already; this guards against a server that ignores the filter.
    if run.info.status != RunStatus::Finished {
        return Err(format!("status {}", run.info.status.as_str()));
    }
    let metric = |key: &str| match run.data.metric(key) {
        None => Err(format!("no metric {key}")),
        Some(v) if !v.is_finite() => Err(format!("metric {key} is {v}")),
        Some(v) => Ok(v),
    };
    let accuracy = metric(INT8_TEST_ACCURACY)?;
    let drop = metric(INT8_ACCURACY_DROP_POINTS)?;
    if accuracy < gates.min_accuracy {
        return Err(format!("{INT8_TEST_ACCURACY} {accuracy:.4} < {}", gates.min_accuracy));
    }
    if drop > gates.max_accuracy_drop {
        return Err(format!("{INT8_ACCURACY_DROP_POINTS} {drop:.3} > {}", gates.max_accuracy_drop));
    }
    Ok(())
}

fn candidate(run: Run, rejected: Vec<Rejected>) -> Candidate {
    Candidate {
        metrics: run.data.metrics.iter().map(|m| (m.key.clone(), m.value)).collect(),
        run_id: run.info.run_id,
        run_name: run.info.run_name,
        experiment_id: run.info.experiment_id,
        artifact_uri: run.info.artifact_uri,
        start_time: run.info.start_time,
        rejected,
    }
}

/// Reads a run's `manifest.json`, checking it belongs to that run.
pub async fn read_manifest(client: &Client, run_id: &str) -> Result<ArtifactManifest, PromotionError> {
    let run = client.get_run(run_id).await?;
    manifest_of(client, &run).await
}

async fn manifest_of(client: &Client, run: &Run) -> Result<ArtifactManifest, PromotionError> {
    let run_id = &run.info.run_id;
    let bytes = match client.download_artifact(&run.info.artifact_uri, MANIFEST_FILE).await {
        Ok(b) => b,
        Err(Error::ArtifactNotFound { .. }) => return Err(PromotionError::ManifestMissing { run_id: run_id.clone() }),
        Err(e) => return Err(e.into()),
    };
    let bad = |reason: String| PromotionError::BadManifest { run_id: run_id.clone(), reason };
    let manifest: ArtifactManifest = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
    if manifest.schema_version != MANIFEST_SCHEMA_VERSION {
        return Err(bad(format!(
            "schema_version {} (this pipeline reads {MANIFEST_SCHEMA_VERSION})",
            manifest.schema_version
        )));
    }
    if &manifest.run_id != run_id {
        return Err(bad(format!("it names run {}", manifest.run_id)));
    }
    Ok(manifest)
}

/// Downloads one artifact of a run and returns its bytes only if their size and SHA-256 are the ones
/// the run's `manifest.json` lists.
pub async fn fetch_verified(client: &Client, run_id: &str, path: &str) -> Result<Vec<u8>, PromotionError> {
    let run = client.get_run(run_id).await?;
    let manifest = manifest_of(client, &run).await?;
    let entry = manifest
        .entry(path)
        .ok_or_else(|| PromotionError::NotInManifest { run_id: run_id.into(), file: path.into() })?;
    let bytes = match client.download_artifact(&run.info.artifact_uri, path).await {
        Ok(b) => b,
        Err(Error::ArtifactNotFound { .. }) => {
            return Err(PromotionError::MissingFromStore { run_id: run_id.into(), file: path.into() });
        }
        Err(e) => return Err(e.into()),
    };
    let actual_sha256 = sha256_hex(&bytes);
    if bytes.len() as u64 != entry.size || actual_sha256 != entry.sha256.to_ascii_lowercase() {
        return Err(PromotionError::Mismatch {
            run_id: run_id.into(),
            file: path.into(),
            expected_size: entry.size,
            expected_sha256: entry.sha256.clone(),
            actual_size: bytes.len() as u64,
            actual_sha256,
        });
    }
    Ok(bytes)
}

/// Points the registered model's `production` alias at the version made from `run_id` (the newest, if
/// the run was registered more than once) and returns that version.
pub async fn set_production_alias(
    client: &Client,
    registered_model: &str,
    run_id: &str,
) -> Result<ModelVersion, PromotionError> {
    let version = client
        .model_versions_of_run(registered_model, run_id)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| PromotionError::NoModelVersion { model: registered_model.into(), run_id: run_id.into() })?;
    client.set_registered_model_alias(registered_model, PRODUCTION_ALIAS, &version.version).await?;
    Ok(version)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mlflow_rest::{Metric, RunData, RunInfo};

    fn run(status: RunStatus, metrics: &[(&str, f64)]) -> Run {
        Run {
            info: RunInfo {
                run_id: "r".into(),
                experiment_id: "1".into(),
                run_name: None,
                status,
                start_time: Some(1),
                end_time: None,
                artifact_uri: String::new(),
                lifecycle_stage: None,
            },
            data: RunData {
                metrics: metrics.iter().map(|(k, v)| Metric::new(*k, *v, 0, 0)).collect(),
                ..Default::default()
            },
        }
    }

    #[test]
    fn gates_take_a_run_at_the_bounds_and_name_the_failed_gate_or_missing_metric() {
        let g = Gates { min_accuracy: 0.8, max_accuracy_drop: 1.0 };
        assert_eq!(
            judge(&run(RunStatus::Finished, &[(INT8_TEST_ACCURACY, 0.8), (INT8_ACCURACY_DROP_POINTS, 1.0)]), g),
            Ok(())
        );
        let low = judge(&run(RunStatus::Finished, &[(INT8_TEST_ACCURACY, 0.7), (INT8_ACCURACY_DROP_POINTS, 0.0)]), g);
        assert!(low.unwrap_err().contains(INT8_TEST_ACCURACY));
        let drop = judge(&run(RunStatus::Finished, &[(INT8_TEST_ACCURACY, 0.9), (INT8_ACCURACY_DROP_POINTS, 3.0)]), g);
        assert!(drop.unwrap_err().contains(INT8_ACCURACY_DROP_POINTS));
        let missing = judge(&run(RunStatus::Finished, &[(INT8_TEST_ACCURACY, 0.9)]), g);
        assert_eq!(missing.unwrap_err(), format!("no metric {INT8_ACCURACY_DROP_POINTS}"));
        let nan =
            judge(&run(RunStatus::Finished, &[(INT8_TEST_ACCURACY, f64::NAN), (INT8_ACCURACY_DROP_POINTS, 0.0)]), g);
        assert!(nan.unwrap_err().contains("NaN"));
        assert!(judge(&run(RunStatus::Failed, &[]), g).unwrap_err().contains("FAILED"));
    }
}
