//! `promote`, what Jenkins runs: the newest FINISHED MLflow run that passes the gates goes to the production
//! store. MLflow picks and vouches for the bytes ([`crate::tracking::promotion`]); the store takes them under
//! the release protocol ([`hapticmat_release::release`]); the registry's `production` alias follows last.
//!
//! MLflow is not trusted to decide what gets signed: the run's metrics only pick the candidate. Before the
//! release, the promoter re-scores the candidate model itself on held-out data it simulates on its own
//! ([`HeldOut`]: subjects no training run draws) and refuses it below the accuracy gate; and it reads no
//! artifact larger than its bound ([`MAX_ARTIFACT_MANIFEST_BYTES`], [`hapticmat_release::release::MAX_MODEL_BYTES`]).
//!
//! Order matters for interruptions: nothing in the store changes before the artifact is verified, and
//! the alias moves only after `latest.json` did, so a crash leaves the pointer old or new and a re-run
//! (idempotent: `already_current`) finishes the alias.

use crate::dataset::{SimDatasetConfig, Windows, session_windows, simulate_sessions};
use crate::evaluate::classify;
use crate::tracking::promotion::{Gates, Rejected, fetch_verified, select_candidate, set_production_alias};
use anyhow::Context;
use hapticmat_core::inference::PresenceModel;
use hapticmat_core::simulator::SimConfig;
use hapticmat_release::keyring::Keyring;
use hapticmat_release::release::{MAX_MODEL_BYTES, ReleaseOutcome, ReleaseRequest, ReleaseSummary, release};
use hapticmat_release::store::Store;
use mlflow_rest::Client;
use onnx_ptq as onnx;
use prost::Message;
use serde::Serialize;

/// The artifact of a run that phones get.
pub const PROMOTED_ARTIFACT: &str = "model.int8.onnx";

/// The run's float model, the yardstick of the accuracy-drop gate.
pub const FP32_ARTIFACT: &str = crate::run::FP32_MODEL;

/// Largest `manifest.json` of a run the promoter reads (a few kB in practice).
pub const MAX_ARTIFACT_MANIFEST_BYTES: u64 = 1024 * 1024;

/// Seed of the promoter's own held-out subjects: the simulator draws subject `seed × 1000003 + i`, so
/// these never coincide with the subjects of a training run (seeds are small numbers there).
pub const HELD_OUT_SEED: u64 = 0x5EED_0F12;

/// The held-out set the promoter simulates for itself, never taken from MLflow.
#[derive(Debug, Clone, Serialize)]
pub struct HeldOut {
    /// Subjects (one session each).
    pub sessions: usize,
    /// Length of each session, s.
    pub session_s: f64,
    /// Seed; see [`HELD_OUT_SEED`].
    pub seed: u64,
}

impl Default for HeldOut {
    fn default() -> Self {
        HeldOut { sessions: 24, session_s: 600.0, seed: HELD_OUT_SEED }
    }
}

/// What the promoter measured itself.
#[derive(Debug, Clone, Serialize)]
pub struct Reevaluation {
    /// The held-out set.
    pub held_out: HeldOut,
    /// Windows scored.
    pub windows: usize,
    /// Fraction the promoted (int8) model classified right: the accuracy gate's metric, recomputed.
    pub accuracy: f64,
    /// The same for the run's float model, when given.
    pub fp32_accuracy: Option<f64>,
    /// Accuracy points the promoted model loses against the float one: the drop gate's metric, recomputed.
    pub accuracy_drop_points: Option<f64>,
    /// Time taken, s.
    pub seconds: f64,
}

/// Why a promotion stopped before anything was signed.
#[derive(Debug, thiserror::Error)]
pub enum PromoteError {
    /// An artifact is larger than the promoter reads.
    #[error("run {run_id}: artifact {artifact} is {size} bytes, more than the {limit} bytes the promoter reads")]
    ArtifactTooLarge {
        /// The run.
        run_id: String,
        /// The artifact's path.
        artifact: String,
        /// Its size (as listed, or as downloaded).
        size: u64,
        /// The bound.
        limit: u64,
    },
    /// The artifact store does not say how large an artifact is, so it is not read.
    #[error("run {run_id}: the artifact store lists no size for {artifact}; not read")]
    ArtifactSizeUnknown {
        /// The run.
        run_id: String,
        /// The artifact's path.
        artifact: String,
    },
    /// Re-scored on the promoter's own held-out subjects, the model is below the gate, whatever the run's
    /// metrics in MLflow say.
    #[error(
        "run {run_id}: re-scored by the promoter on {windows} windows of its own held-out subjects, \
         {PROMOTED_ARTIFACT} has accuracy {recomputed:.4} < the gate {gate} (the run claims {claimed}); nothing signed"
    )]
    BelowGate {
        /// The run.
        run_id: String,
        /// The accuracy measured here.
        recomputed: f64,
        /// What the run logged, if anything.
        claimed: String,
        /// The gate.
        gate: f64,
        /// Windows scored.
        windows: usize,
    },
    /// Re-scored by the promoter, the promoted model loses more accuracy against the run's float model
    /// than the gate allows, whatever the run's metrics say.
    #[error(
        "run {run_id}: re-scored by the promoter on {windows} windows of its own held-out subjects, \
         {PROMOTED_ARTIFACT} ({int8:.4}) loses {drop:.2} accuracy points against {FP32_ARTIFACT} ({fp32:.4}), \
         more than the gate's {gate} (the run claims {claimed}); nothing signed"
    )]
    DropAboveGate {
        /// The run.
        run_id: String,
        /// Accuracy of the promoted model here.
        int8: f64,
        /// Accuracy of the float model here.
        fp32: f64,
        /// Points lost.
        drop: f64,
        /// What the run logged, if anything.
        claimed: String,
        /// The gate.
        gate: f64,
        /// Windows scored.
        windows: usize,
    },
}

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
    /// The held-out set the candidate is re-scored on before signing.
    pub held_out: HeldOut,
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
    /// The promoter's own score of the model, on which the gate was decided.
    pub reevaluation: Reevaluation,
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
    keys: &Keyring,
    cfg: &PromoteConfig,
) -> anyhow::Result<PromotionSummary> {
    let rt = hapticmat_release::io_runtime().context("starting the I/O runtime")?;
    let (candidate, model_bytes) = rt.block_on(async {
        let candidate = select_candidate(client, &cfg.experiment, cfg.gates).await?;
        check_artifact_sizes(client, &candidate.run_id, ARTIFACT_BOUNDS).await?;
        let mut fetched = Vec::new();
        for artifact in [PROMOTED_ARTIFACT, FP32_ARTIFACT] {
            let bytes = fetch_verified(client, &candidate.run_id, artifact).await?;
            if bytes.len() as u64 > MAX_MODEL_BYTES {
                return Err(PromoteError::ArtifactTooLarge {
                    run_id: candidate.run_id.clone(),
                    artifact: artifact.into(),
                    size: bytes.len() as u64,
                    limit: MAX_MODEL_BYTES,
                }
                .into());
            }
            fetched.push(bytes);
        }
        let fp32 = fetched.pop().unwrap_or_default();
        let int8 = fetched.pop().unwrap_or_default();
        anyhow::Ok((candidate, (int8, fp32)))
    })?;
    let (model_bytes, fp32_bytes) = model_bytes;
    let reevaluation = reevaluate(&model_bytes, Some(&fp32_bytes), &cfg.held_out)
        .with_context(|| format!("run {}: re-scoring its models", candidate.run_id))?;
    check_gates(&candidate.run_id, &candidate.metrics, &reevaluation, cfg.gates)?;
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
    let released = release(store, keys, &req)
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
        reevaluation,
        rejected: candidate.rejected,
        model_version,
        alias_error,
        release: released,
    })
}

/// The artifacts the promoter reads, each with the most bytes it reads of it.
pub const ARTIFACT_BOUNDS: &[(&str, u64)] = &[
    (crate::tracking::MANIFEST_FILE, MAX_ARTIFACT_MANIFEST_BYTES),
    (PROMOTED_ARTIFACT, MAX_MODEL_BYTES),
    (FP32_ARTIFACT, MAX_MODEL_BYTES),
];

/// Refuses a run whose artifacts in `bounds` are listed larger than their bound (or with no size), before
/// downloading any of them.
pub async fn check_artifact_sizes(client: &Client, run_id: &str, bounds: &[(&str, u64)]) -> anyhow::Result<()> {
    let run = client.get_run(run_id).await?;
    let listed = client.list_artifacts(&run.info.artifact_uri, None).await?;
    for &(artifact, limit) in bounds {
        // A missing artifact is named by the verified download that follows.
        let Some(file) = listed.iter().find(|f| f.path == artifact && !f.is_dir) else { continue };
        let size = file
            .file_size
            .ok_or_else(|| PromoteError::ArtifactSizeUnknown { run_id: run_id.into(), artifact: artifact.into() })?;
        let size = u64::try_from(size).unwrap_or(u64::MAX);
        if size > limit {
            return Err(PromoteError::ArtifactTooLarge {
                run_id: run_id.into(),
                artifact: artifact.into(),
                size,
                limit,
            }
            .into());
        }
    }
    Ok(())
}

/// The promoter's held-out windows: simulated subjects of [`HeldOut::seed`], windowed as training does.
pub fn held_out_windows(h: &HeldOut) -> Windows {
    let data = SimDatasetConfig { sessions: h.sessions, session_s: h.session_s, seed: h.seed, ..Default::default() };
    let mut out = Windows::default();
    for s in simulate_sessions(&SimConfig::default(), &data) {
        session_windows(&s, data.calibrate_s, data.stride, &mut out);
    }
    out
}

/// Scores the promoted model's bytes, and the run's float model's when given (through ONNX Runtime, as
/// phones run them), on the promoter's own held-out set.
pub fn reevaluate(model_bytes: &[u8], fp32_bytes: Option<&[u8]>, held_out: &HeldOut) -> anyhow::Result<Reevaluation> {
    let started = std::time::Instant::now();
    let windows = held_out_windows(held_out);
    anyhow::ensure!(!windows.is_empty(), "the held-out set {held_out:?} has no windows");
    let score = |bytes: &[u8], name: &str| -> anyhow::Result<(f64, usize)> {
        let mut model = PresenceModel::from_bytes(bytes, name)?;
        let (metrics, _) = classify(&mut model, &windows)?;
        Ok((metrics.accuracy, metrics.windows))
    };
    let (accuracy, scored) = score(model_bytes, PROMOTED_ARTIFACT)?;
    let fp32_accuracy = fp32_bytes.map(|b| score(b, FP32_ARTIFACT)).transpose()?.map(|(a, _)| a);
    Ok(Reevaluation {
        held_out: held_out.clone(),
        windows: scored,
        accuracy,
        fp32_accuracy,
        accuracy_drop_points: fp32_accuracy.map(|f| 100.0 * (f - accuracy)),
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The gates, decided on the promoter's own figures; the run's claims only appear in the message.
pub fn check_gates(
    run_id: &str,
    claims: &std::collections::BTreeMap<String, f64>,
    r: &Reevaluation,
    gates: Gates,
) -> Result<(), PromoteError> {
    use crate::tracking::metric_keys::{INT8_ACCURACY_DROP_POINTS, INT8_TEST_ACCURACY};
    let claimed = |key: &str| claims.get(key).map_or("nothing".to_string(), |v| v.to_string());
    // NaN passes no gate: `is_ge`/`is_le` of a comparison with NaN are false.
    let passes = |a: f64, op: fn(std::cmp::Ordering) -> bool, b: f64| a.partial_cmp(&b).is_some_and(op);
    if !passes(r.accuracy, std::cmp::Ordering::is_ge, gates.min_accuracy) {
        return Err(PromoteError::BelowGate {
            run_id: run_id.into(),
            recomputed: r.accuracy,
            claimed: claimed(INT8_TEST_ACCURACY),
            gate: gates.min_accuracy,
            windows: r.windows,
        });
    }
    if let (Some(fp32), Some(drop)) = (r.fp32_accuracy, r.accuracy_drop_points)
        && !passes(drop, std::cmp::Ordering::is_le, gates.max_accuracy_drop)
    {
        return Err(PromoteError::DropAboveGate {
            run_id: run_id.into(),
            int8: r.accuracy,
            fp32,
            drop,
            claimed: claimed(INT8_ACCURACY_DROP_POINTS),
            gate: gates.max_accuracy_drop,
            windows: r.windows,
        });
    }
    Ok(())
}
