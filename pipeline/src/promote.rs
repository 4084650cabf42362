//! `promote`, what Jenkins runs: the newest FINISHED MLflow run that passes the gates goes to the production
//! store. MLflow picks and vouches for the bytes ([`crate::mlflow::promotion`]); the store takes them under
//! the release protocol ([`crate::release`]); the registry's `production` alias follows last.
//!
//! Order matters for interruptions: nothing in the store changes before the artifact is verified, and
//! the alias moves only after `latest.json` did, so a crash leaves the pointer old or new and a re-run
//! (idempotent: `already_current`) finishes the alias.

use crate::mlflow::Client;
use crate::mlflow::promotion::{Gates, Rejected, fetch_verified, select_candidate, set_production_alias};
use crate::onnx;
use crate::release::{ReleaseOutcome, ReleaseRequest, ReleaseSummary, release};
use crate::store::Store;
use anyhow::Context;
use hapticmat_core::delivery::Signer25519;
use prost::Message;
use serde::Serialize;

/// The artifact of a run that phones get.
pub const PROMOTED_ARTIFACT: &str = "model.int8.onnx";

/// What to promote and under which rules.
#[derive(Debug, Clone)]
pub struct PromoteConfig {
    /// The MLflow experiment whose runs are candidates.
    pub experiment: String,
    /// Quality gates on the run's metrics.
    pub gates: Gates,
    /// The registered model whose version of the run gets the `production` alias.
    pub registered_model: String,
    /// Semantic version of the release; default `0.<sequence>.0`.
    pub version: Option<semver::Version>,
    /// Days until phones refuse the manifest.
    pub expires_in_days: u32,
}

/// What one promotion did: the release (`--json` prints this) plus the run it came from.
#[derive(Debug, Clone, Serialize)]
pub struct PromotionSummary {
    /// `released` or `already_current`.
    pub outcome: ReleaseOutcome,
    /// The production sequence now served.
    pub sequence: u64,
    /// SHA-256 of the served model.
    pub sha256: String,
    /// The MLflow run the model comes from.
    pub source_run_id: String,
    /// The run's name.
    pub source_run_name: Option<String>,
    /// The gated metrics of that run.
    pub metrics: std::collections::BTreeMap<String, f64>,
    /// Newer finished runs that failed a gate, and why.
    pub rejected: Vec<Rejected>,
    /// The registered model version now aliased `production`, if the registry step succeeded.
    pub model_version: Option<String>,
    /// Why the alias could not be set (the release itself stands).
    pub alias_error: Option<String>,
    /// The store's side of it.
    pub release: ReleaseSummary,
}

/// Picks, verifies, releases and aliases. Network I/O, blocking: call it outside any async runtime.
pub fn promote(
    client: &Client,
    store: &Store,
    signer: &Signer25519,
    cfg: &PromoteConfig,
) -> anyhow::Result<PromotionSummary> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the I/O runtime")?;
    let (candidate, model_bytes) = rt.block_on(async {
        let candidate = select_candidate(client, &cfg.experiment, cfg.gates).await?;
        let bytes = fetch_verified(client, &candidate.run_id, PROMOTED_ARTIFACT).await?;
        anyhow::Ok((candidate, bytes))
    })?;
    let proto = onnx::proto::ModelProto::decode(model_bytes.as_slice())
        .with_context(|| format!("run {}: {PROMOTED_ARTIFACT} is not an ONNX model", candidate.run_id))?;
    // Whether this core can serve the contract is checked by the release protocol, before any write.
    let contract = crate::publish::model_contract(&proto)
        .with_context(|| format!("run {}: {PROMOTED_ARTIFACT}", candidate.run_id))?;
    let req = ReleaseRequest {
        model_bytes,
        contract,
        source_run_id: candidate.run_id.clone(),
        version: cfg.version.clone(),
        expires_in_days: cfg.expires_in_days,
    };
    let released = release(store, signer, &req)
        .with_context(|| format!("releasing {PROMOTED_ARTIFACT} of run {}", candidate.run_id))?;
    // The pointer has moved (or already was there): the alias is bookkeeping that a re-run completes, so its
    // failure is reported, not fatal.
    let alias = rt.block_on(set_production_alias(client, &cfg.registered_model, &candidate.run_id));
    let (model_version, alias_error) = match alias {
        Ok(v) => (Some(v.version), None),
        Err(e) => (None, Some(format!("{e:#}"))),
    };
    Ok(PromotionSummary {
        outcome: released.outcome,
        sequence: released.sequence,
        sha256: released.sha256.clone(),
        source_run_id: candidate.run_id,
        source_run_name: candidate.run_name,
        metrics: candidate.metrics,
        rejected: candidate.rejected,
        model_version,
        alias_error,
        release: released,
    })
}
