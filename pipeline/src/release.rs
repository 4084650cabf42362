//! The production-bucket protocol: how a model becomes the one phones install, and how an earlier one comes
//! back. One release is: read `latest.json` and its version → choose the next sequence (higher than
//! `latest.json`'s and every `history/` entry's) → `models/<sha256>.onnx` (create-if-absent) → sign →
//! `history/<sequence>.json` (create-if-absent: a sequence is taken once) → `latest.json` replaced only if
//! it is still the version read at the start. `latest.json` is written last and atomically, so every crash
//! point leaves it old or new, and two promotions racing from the same start cannot both win: the loser
//! gets [`ReleaseError::Conflict`] and the pointer stays as the winner wrote it.
//!
//! Manifests already in the store are read without checking their signature (the publisher trusts its
//! own store, and a rotated key must not block the next release), except that a history entry signed by
//! the current key must verify before a rollback re-signs what it names.

use crate::store::{ObjectVersion, Store, StoreError};
use chrono::{DateTime, Utc};
use hapticmat_core::delivery::manifest::{HISTORY_PREFIX, LATEST, MODEL_NAME, hex};
use hapticmat_core::delivery::{Contract, DeliveryError, Envelope, Manifest, PinnedKeys, SCHEMA_VERSION, Signer25519};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// Result of release operations.
pub type Result<T, E = ReleaseError> = std::result::Result<T, E>;

/// Days a manifest stays valid unless told otherwise; Jenkins re-signs well before.
pub const DEFAULT_EXPIRES_IN_DAYS: u32 = crate::publish::DEFAULT_EXPIRES_IN_DAYS;

/// What to release.
#[derive(Debug, Clone)]
pub struct ReleaseRequest {
    /// The ONNX model's bytes.
    pub model_bytes: Vec<u8>,
    /// The feature/label contract it serves (see [`crate::publish::model_contract`]).
    pub contract: Contract,
    /// The training run it comes from (MLflow run id).
    pub source_run_id: String,
    /// Semantic version; default `0.<sequence>.0`.
    pub version: Option<semver::Version>,
    /// Validity of the manifest from now, days (at least 1).
    pub expires_in_days: u32,
}

/// How a release or rollback ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReleaseOutcome {
    /// A new sequence now names the model in `latest.json`.
    Released,
    /// `latest.json` already names this model (and run): nothing was written.
    AlreadyCurrent,
}

/// What a release or rollback did (printed by `--json`).
#[derive(Debug, Clone, Serialize)]
pub struct ReleaseSummary {
    /// Released, or already current.
    pub outcome: ReleaseOutcome,
    /// The store, as `s3://bucket/prefix at host:port` or `folder /path`.
    pub store: String,
    /// The sequence `latest.json` names now.
    pub sequence: u64,
    /// The sequence `latest.json` named before, if any.
    pub previous_sequence: Option<u64>,
    /// SHA-256 of the model, hex.
    pub sha256: String,
    /// Size of the model, bytes.
    pub size: u64,
    /// The model's key, `models/<sha256>.onnx`.
    pub object_key: String,
    /// The manifest's semantic version.
    pub version: semver::Version,
    /// The run the model comes from.
    pub source_run_id: String,
    /// Id of the key that signed `latest.json`.
    pub key_id: String,
    /// When the manifest was signed.
    pub created_at: DateTime<Utc>,
    /// When phones stop accepting it.
    pub expires_at: DateTime<Utc>,
    /// Whether the model's bytes were uploaded by this run (false: the store had them).
    pub model_uploaded: bool,
    /// Whether the model's key held other bytes, which were overwritten (corruption or tampering).
    pub model_replaced: bool,
    /// For a rollback, the history sequence whose model was re-published.
    pub rollback_of: Option<u64>,
    /// Keys written, in order.
    pub written: Vec<String>,
    /// Things an operator should know (replaced objects, unverifiable history).
    pub warnings: Vec<String>,
    /// The manifest `latest.json` holds now.
    #[serde(skip)]
    pub manifest: Manifest,
}

/// What the store serves now, for reports and Jenkins.
#[derive(Debug, Clone, Serialize)]
pub struct StoreStatus {
    /// The store.
    pub store: String,
    /// The manifest in `latest.json` (read, not verified), if any.
    pub latest: Option<Manifest>,
    /// Id of the key that signed it.
    pub latest_key_id: Option<String>,
    /// Sequences kept in `history/`, ascending.
    pub history: Vec<u64>,
}

/// Why a release or rollback did not happen, each naming what was found and what was expected.
#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    /// The store failed or refused a request.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Another promotion won the race; the production pointer is as the other one wrote it.
    #[error("{0}")]
    Conflict(String),
    /// A manifest in the store cannot be read by this pipeline (corrupt, or a newer schema).
    #[error("{key} in {store} is not a manifest this pipeline reads: {reason}")]
    Unreadable {
        /// The store.
        store: String,
        /// The key.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// The model serves a contract this core (and so the phones built with it) does not.
    #[error("the model cannot be served by this core: {0}")]
    Contract(DeliveryError),
    /// An explicit sequence is not above the current one.
    #[error(
        "sequence {requested} is not higher than the store's current sequence {current}: phones would refuse it as a rollback"
    )]
    NotHigher {
        /// The sequence asked for.
        requested: u64,
        /// The sequence of `latest.json`.
        current: u64,
    },
    /// Nothing to roll back: the store has no `latest.json`.
    #[error("rollback refused: {store} has no latest.json, nothing is published")]
    NothingPublished {
        /// The store.
        store: String,
    },
    /// The history entry to roll back to does not exist.
    #[error("rollback refused: {store} has no {key}")]
    NoSuchSequence {
        /// The store.
        store: String,
        /// `history/<n>.json`.
        key: String,
    },
    /// A rollback must go to an earlier sequence.
    #[error("rollback refused: sequence {to} is not earlier than the current sequence {current}")]
    NotEarlier {
        /// The sequence asked for.
        to: u64,
        /// The sequence of `latest.json`.
        current: u64,
    },
    /// The model a rollback would re-publish is gone.
    #[error("rollback refused: {key} (named by history/{sequence}.json) is missing from {store}")]
    ModelMissing {
        /// The store.
        store: String,
        /// The model's key.
        key: String,
        /// The history entry.
        sequence: u64,
    },
    /// The model a rollback would re-publish is not the one its history entry names.
    #[error(
        "rollback refused: {key} in {store} has SHA-256 {actual} ({size} bytes), history/{sequence}.json names {expected}: the object was altered"
    )]
    ModelAltered {
        /// The store.
        store: String,
        /// The model's key.
        key: String,
        /// The history entry.
        sequence: u64,
        /// The hash the entry names.
        expected: String,
        /// The hash of the bytes found.
        actual: String,
        /// Size of the bytes found.
        size: u64,
    },
    /// A history entry claims the current key but its signature does not verify.
    #[error("rollback refused: {key} claims signing key {key_id} but does not verify with it: {reason}")]
    BadHistorySignature {
        /// `history/<n>.json`.
        key: String,
        /// The key id it names.
        key_id: String,
        /// Why it does not verify.
        reason: String,
    },
    /// The validity asked for is longer than phones accept
    /// ([`hapticmat_core::delivery::manifest::MAX_VALIDITY_DAYS`]): they would refuse the manifest.
    #[error("a validity of {days} days is longer than the {max} days phones accept: they would refuse the manifest")]
    ValidityTooLong {
        /// The days asked for.
        days: u32,
        /// The most phones accept.
        max: i64,
    },
    /// Signing failed (an inconsistent manifest).
    #[error("signing the manifest: {0}")]
    Sign(DeliveryError),
}

impl ReleaseError {
    /// Whether another promotion won a race (re-running may succeed with the next sequence).
    pub fn is_conflict(&self) -> bool {
        matches!(self, ReleaseError::Conflict(_))
    }
}

/// Releases a model under the next sequence; [`ReleaseOutcome::AlreadyCurrent`] (nothing written) when
/// `latest.json` already names this model from this run and is not close to expiry.
pub fn release(store: &Store, signer: &Signer25519, req: &ReleaseRequest) -> Result<ReleaseSummary> {
    plan_release(store, req)?.execute(store, signer)
}

/// Releases a model under an explicit sequence, which must be higher than the current one (what
/// `pipeline publish --sequence` does); never [`ReleaseOutcome::AlreadyCurrent`].
pub fn release_at(store: &Store, signer: &Signer25519, req: &ReleaseRequest, sequence: u64) -> Result<ReleaseSummary> {
    plan(store, req, Some(sequence))?.execute(store, signer)
}

/// The first half of [`release`]: reads the store and decides (nothing is written). Executing the plan
/// later is a release from the state read now: if another promotion moved the store meanwhile, the
/// execution fails with [`ReleaseError::Conflict`] — so a plan also serves as a dry run.
pub fn plan_release<'a>(store: &Store, req: &'a ReleaseRequest) -> Result<ReleasePlan<'a>> {
    plan(store, req, None)
}

/// A release decided from one reading of the store; see [`plan_release`].
pub struct ReleasePlan<'a> {
    request: &'a ReleaseRequest,
    sha256: String,
    latest: Latest,
    /// `None`: `latest.json` already serves this model and run.
    sequence: Option<u64>,
}

impl ReleasePlan<'_> {
    /// The sequence the release will take, or `None` if the model is already current.
    pub fn sequence(&self) -> Option<u64> {
        self.sequence
    }

    /// The sequence `latest.json` named when the plan was made.
    pub fn previous_sequence(&self) -> Option<u64> {
        self.latest.manifest.as_ref().map(|m| m.sequence)
    }

    /// SHA-256 of the model, hex.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// Uploads the model, signs, takes the sequence in `history/` and moves `latest.json` if it is still
    /// the version read by the plan. Network or file I/O.
    pub fn execute(self, store: &Store, signer: &Signer25519) -> Result<ReleaseSummary> {
        let (req, latest) = (self.request, &self.latest);
        let Some(sequence) = self.sequence else {
            if let Some(current) = &latest.manifest {
                return Ok(already_current(store, latest, current));
            }
            return Err(ReleaseError::NothingPublished { store: store.describe().to_string() });
        };
        let current = latest.manifest.as_ref();
        let mut done = Progress::default();
        let object_key = Manifest::object_key_for(&self.sha256);
        upload_model(store, &object_key, &req.model_bytes, &self.sha256, &mut done)?;
        let created_at = Utc::now();
        let manifest = Manifest {
            schema_version: SCHEMA_VERSION,
            model: MODEL_NAME.into(),
            sequence,
            version: req.version.clone().unwrap_or_else(|| semver::Version::new(0, sequence, 0)),
            object_key,
            sha256: self.sha256.clone(),
            size: req.model_bytes.len() as u64,
            contract: req.contract.clone(),
            source_run_id: req.source_run_id.clone(),
            created_at,
            expires_at: expiry(created_at, req.expires_in_days),
        };
        if current.is_some_and(|m| m.sha256 == manifest.sha256 && m.source_run_id == manifest.source_run_id) {
            done.warnings.push("latest.json already named this model; re-signed it under a new sequence".into());
        }
        commit(store, signer, &manifest, latest, &mut done)?;
        Ok(summary(store, ReleaseOutcome::Released, manifest, signer.public_key().id().0, latest, None, done))
    }
}

fn plan<'a>(store: &Store, req: &'a ReleaseRequest, sequence: Option<u64>) -> Result<ReleasePlan<'a>> {
    check_validity(req.expires_in_days)?;
    req.contract.check_supported().map_err(ReleaseError::Contract)?;
    let sha256 = hex(&Sha256::digest(&req.model_bytes));
    let latest = read_latest(store)?;
    let current = latest.manifest.as_ref();
    let sequence = match sequence {
        Some(s) => match current.map(|m| m.sequence).filter(|c| *c >= s) {
            Some(current) => return Err(ReleaseError::NotHigher { requested: s, current }),
            None => Some(s),
        },
        None if current.is_some_and(|m| {
            m.sha256 == sha256 && m.source_run_id == req.source_run_id && fresh_enough(m, req.expires_in_days)
        }) =>
        {
            None
        }
        None => Some(next_sequence(store, current)?),
    };
    Ok(ReleasePlan { request: req, sha256, latest, sequence })
}

/// Publishes the model of `history/<to>.json` again under a new sequence (phones refuse lower sequences,
/// so going back is a new release of the old model), after checking the model object still has the hash
/// the entry names. [`ReleaseOutcome::AlreadyCurrent`] when `latest.json` already serves that model.
pub fn rollback(store: &Store, signer: &Signer25519, to: u64, expires_in_days: u32) -> Result<ReleaseSummary> {
    check_validity(expires_in_days)?;
    let latest = read_latest(store)?;
    let Some(current) = latest.manifest.as_ref() else {
        return Err(ReleaseError::NothingPublished { store: store.describe().to_string() });
    };
    let mut done = Progress::default();
    let key = history_key(to);
    let Some(entry) = store.get(&key, &format!("read {key}"))? else {
        return Err(ReleaseError::NoSuchSequence { store: store.describe().to_string(), key });
    };
    let target = read_history_entry(store, signer, &key, &entry.bytes, &mut done)?;
    if target.sequence != to {
        return Err(unreadable(store, &key, format!("it names sequence {}, not {to}", target.sequence)));
    }
    if to > current.sequence {
        return Err(ReleaseError::NotEarlier { to, current: current.sequence });
    }
    if current.sha256 == target.sha256 && fresh_enough(current, expires_in_days) {
        return Ok(already_current(store, &latest, current));
    }
    target.contract.check_supported().map_err(ReleaseError::Contract)?;
    let model = store.get(&target.object_key, "check the model to roll back to")?.ok_or_else(|| {
        ReleaseError::ModelMissing { store: store.describe().to_string(), key: target.object_key.clone(), sequence: to }
    })?;
    let actual = hex(&Sha256::digest(&model.bytes));
    if actual != target.sha256 || model.bytes.len() as u64 != target.size {
        return Err(ReleaseError::ModelAltered {
            store: store.describe().to_string(),
            key: target.object_key.clone(),
            sequence: to,
            expected: target.sha256.clone(),
            actual,
            size: model.bytes.len() as u64,
        });
    }

    let sequence = next_sequence(store, Some(current))?;
    let created_at = Utc::now();
    // The same model, version and run as the entry: only the sequence and the validity are new.
    let manifest = Manifest { sequence, created_at, expires_at: expiry(created_at, expires_in_days), ..target.clone() };
    commit(store, signer, &manifest, &latest, &mut done)?;
    Ok(summary(store, ReleaseOutcome::Released, manifest, signer.public_key().id().0, &latest, Some(to), done))
}

/// The store's current manifest (read, not verified) and its history sequences.
pub fn status(store: &Store) -> Result<StoreStatus> {
    let latest = read_latest(store)?;
    Ok(StoreStatus {
        store: store.describe().to_string(),
        latest_key_id: latest.key_id.clone(),
        latest: latest.manifest,
        history: history_sequences(store)?,
    })
}

/// `latest.json` as read at the start of a release.
struct Latest {
    manifest: Option<Manifest>,
    key_id: Option<String>,
    /// `None` when there was no `latest.json`: the final write then must create it.
    version: Option<ObjectVersion>,
}

/// What a release has done so far, for its summary.
#[derive(Default)]
struct Progress {
    model_uploaded: bool,
    model_replaced: bool,
    written: Vec<String>,
    warnings: Vec<String>,
}

fn read_latest(store: &Store) -> Result<Latest> {
    let Some(object) = store.get(LATEST, "read latest.json")? else {
        return Ok(Latest { manifest: None, key_id: None, version: None });
    };
    let envelope = Envelope::parse(&object.bytes).map_err(|e| unreadable(store, LATEST, e.to_string()))?;
    let manifest = envelope.manifest_unverified().map_err(|e| unreadable(store, LATEST, e.to_string()))?;
    Ok(Latest { manifest: Some(manifest), key_id: Some(envelope.key_id.0), version: Some(object.version) })
}

fn history_key(sequence: u64) -> String {
    format!("{HISTORY_PREFIX}{sequence}.json")
}

/// Sequences of the `history/<n>.json` entries, ascending (other names are ignored).
fn history_sequences(store: &Store) -> Result<Vec<u64>> {
    let mut seqs: Vec<u64> = store
        .list(HISTORY_PREFIX, "list history")?
        .iter()
        .filter_map(|k| k.strip_prefix(HISTORY_PREFIX)?.strip_suffix(".json")?.parse().ok())
        .collect();
    seqs.sort_unstable();
    Ok(seqs)
}

/// One above both `latest.json` and every history entry: a sequence taken by a promotion that lost its
/// race (history written, latest not) is never reused.
fn next_sequence(store: &Store, current: Option<&Manifest>) -> Result<u64> {
    let highest_history = history_sequences(store)?.last().copied().unwrap_or(0);
    Ok(current.map_or(0, |m| m.sequence).max(highest_history) + 1)
}

/// A manifest that still has at least half of the validity a new one would get counts as current; an
/// older one is re-signed under a new sequence so that phones never see it expire while nothing changes.
fn fresh_enough(m: &Manifest, expires_in_days: u32) -> bool {
    let half = chrono::Duration::hours(12 * i64::from(expires_in_days.max(1)));
    m.expires_at - Utc::now() >= half
}

/// Phones refuse a manifest valid for longer than the core's bound; refuse to sign one.
fn check_validity(days: u32) -> Result<()> {
    use hapticmat_core::delivery::manifest::MAX_VALIDITY_DAYS;
    if i64::from(days) > MAX_VALIDITY_DAYS {
        return Err(ReleaseError::ValidityTooLong { days, max: MAX_VALIDITY_DAYS });
    }
    Ok(())
}

fn expiry(created_at: DateTime<Utc>, days: u32) -> DateTime<Utc> {
    created_at + chrono::Duration::days(i64::from(days.max(1)))
}

/// Uploads the model under its hash unless the store has those exact bytes there already.
fn upload_model(store: &Store, key: &str, bytes: &[u8], sha256: &str, done: &mut Progress) -> Result<()> {
    match store.put_if_absent(key, bytes, "upload model") {
        Ok(_) => {
            done.model_uploaded = true;
            done.written.push(key.to_string());
            return Ok(());
        }
        Err(e) if e.is_conflict() => {}
        Err(e) => return Err(e.into()),
    }
    let existing = store.get(key, "check the model already in the store")?;
    if existing.as_ref().is_some_and(|o| hex(&Sha256::digest(&o.bytes)) == sha256) {
        return Ok(());
    }
    // The key is the hash, so other bytes under it are corruption or tampering: put the right ones back.
    if let Some(o) = &existing {
        let found = hex(&Sha256::digest(&o.bytes));
        log::warn!("{key} in {} held other bytes (SHA-256 {found}); overwriting them", store.describe());
        done.warnings.push(format!("{key} held other bytes (SHA-256 {found}, {} bytes); overwritten", o.bytes.len()));
        done.model_replaced = true;
    }
    store.put(key, bytes, "replace an altered model")?;
    done.model_uploaded = true;
    done.written.push(key.to_string());
    Ok(())
}

/// Signs the manifest, takes its sequence in `history/`, then moves `latest.json` if nobody else did.
fn commit(
    store: &Store,
    signer: &Signer25519,
    manifest: &Manifest,
    latest: &Latest,
    done: &mut Progress,
) -> Result<()> {
    let signed = signer.sign(manifest).map_err(ReleaseError::Sign)?.to_bytes();
    let key = history_key(manifest.sequence);
    let step = format!("write {key}");
    match store.put_if_absent(&key, &signed, &step) {
        Ok(_) => {}
        // A retried request whose first try went through finds its own bytes: that is success.
        Err(e) if e.is_conflict() && holds(store, &key, &signed)? => {}
        Err(e) if e.is_conflict() => {
            return Err(ReleaseError::Conflict(format!(
                "{key} already exists in {}: another promotion took sequence {}; latest.json left untouched",
                store.describe(),
                manifest.sequence
            )));
        }
        Err(e) => return Err(e.into()),
    }
    done.written.push(key.clone());
    match store.put_if_match(LATEST, &signed, latest.version.as_ref(), "write latest.json") {
        Ok(_) => {}
        Err(e) if e.is_conflict() && holds(store, LATEST, &signed)? => {}
        Err(e) if e.is_conflict() => {
            return Err(ReleaseError::Conflict(format!(
                "latest.json changed during promotion; production pointer left as the other promotion wrote it \
                 ({} in {} stays as an unused record of sequence {})",
                key,
                store.describe(),
                manifest.sequence
            )));
        }
        Err(e) => return Err(e.into()),
    }
    done.written.push(LATEST.to_string());
    Ok(())
}

/// Whether the object under `key` is exactly `bytes` (a signed manifest carries its signing time, so
/// equal bytes are this run's).
fn holds(store: &Store, key: &str, bytes: &[u8]) -> Result<bool> {
    Ok(store.get(key, &format!("re-read {key}"))?.is_some_and(|o| o.bytes == bytes))
}

fn read_history_entry(
    store: &Store,
    signer: &Signer25519,
    key: &str,
    bytes: &[u8],
    done: &mut Progress,
) -> Result<Manifest> {
    let envelope = Envelope::parse(bytes).map_err(|e| unreadable(store, key, e.to_string()))?;
    let ours = signer.public_key();
    if envelope.key_id == ours.id() {
        return PinnedKeys::new([ours]).verify(bytes).map_err(|e| ReleaseError::BadHistorySignature {
            key: key.to_string(),
            key_id: envelope.key_id.0.clone(),
            reason: e.to_string(),
        });
    }
    done.warnings.push(format!(
        "{key} is signed by key {}, not the current signing key {}: its signature was not checked",
        envelope.key_id,
        ours.id()
    ));
    envelope.manifest_unverified().map_err(|e| unreadable(store, key, e.to_string()))
}

fn unreadable(store: &Store, key: &str, reason: String) -> ReleaseError {
    ReleaseError::Unreadable { store: store.describe().to_string(), key: key.to_string(), reason }
}

/// The summary of a run that found `current` (the manifest of `latest`) already serving its model.
fn already_current(store: &Store, latest: &Latest, current: &Manifest) -> ReleaseSummary {
    let manifest = current.clone();
    let key_id = latest.key_id.clone().unwrap_or_default();
    let mut s = summary(store, ReleaseOutcome::AlreadyCurrent, manifest, key_id, latest, None, Progress::default());
    s.previous_sequence = Some(s.sequence);
    s
}

fn summary(
    store: &Store,
    outcome: ReleaseOutcome,
    manifest: Manifest,
    key_id: String,
    latest: &Latest,
    rollback_of: Option<u64>,
    done: Progress,
) -> ReleaseSummary {
    ReleaseSummary {
        outcome,
        store: store.describe().to_string(),
        sequence: manifest.sequence,
        previous_sequence: latest.manifest.as_ref().map(|m| m.sequence),
        sha256: manifest.sha256.clone(),
        size: manifest.size,
        object_key: manifest.object_key.clone(),
        version: manifest.version.clone(),
        source_run_id: manifest.source_run_id.clone(),
        key_id,
        created_at: manifest.created_at,
        expires_at: manifest.expires_at,
        model_uploaded: done.model_uploaded,
        model_replaced: done.model_replaced,
        rollback_of,
        written: done.written,
        warnings: done.warnings,
        manifest,
    }
}
