//! The production-bucket protocol: how a model becomes the one phones install, and how an earlier one comes
//! back. One release is: read `latest.json` and its version → choose the next sequence (higher than
//! `latest.json`'s and every `history/` entry's) → `models/<sha256>.onnx` (create-if-absent) → sign →
//! `history/<sequence>.json` (create-if-absent: a sequence is taken once) → `latest.json` replaced only if
//! it is still the version read at the start. `latest.json` is written last and atomically, so every crash
//! point leaves it old or new, and two promotions racing from the same start cannot both win: the loser
//! gets [`ReleaseError::Conflict`] and the pointer stays as the winner wrote it.
//!
//! Nothing read from the store is believed unless it verifies with the publisher's [`Keyring`] (current
//! and retired keys): `latest.json`, the history entries that decide the next sequence, and the entry a
//! rollback re-publishes. Sequences only grow by checked arithmetic and never jump by more than
//! [`MAX_SEQUENCE_STEP`]. `history/` holds history records, which phones cannot install
//! ([`crate::keyring`]), so a manifest whose promotion lost the final compare-and-swap is never installable.
//! Before anything is signed, the model must pass what a phone checks: the size bound, the contract and
//! the phone's own self-test ([`hapticmat_core::delivery::selftest`]); after `latest.json` moved, it is read
//! back and verified with the model it names.

use crate::keyring::{Keyring, PublishedKeySet, SignedAs, Verified};
use crate::store::{ObjectVersion, Store, StoreError};
use chrono::{DateTime, Utc};
use hapticmat_core::delivery::manifest::{HISTORY_PREFIX, LATEST, MAX_MANIFEST_BYTES, MODEL_NAME, hex};
use hapticmat_core::delivery::root::KEYS;
use hapticmat_core::delivery::{Contract, DeliveryError, Envelope, Manifest, SCHEMA_VERSION};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// Result of release operations.
pub type Result<T, E = ReleaseError> = std::result::Result<T, E>;

/// Days a manifest stays valid unless told otherwise; Jenkins re-signs well before.
pub const DEFAULT_EXPIRES_IN_DAYS: u32 = 30;

/// Largest model the publisher signs: what a phone accepts by default
/// ([`hapticmat_core::delivery::updater::DEFAULT_MAX_MODEL_BYTES`]); also the most it reads of a model object.
pub const MAX_MODEL_BYTES: u64 = hapticmat_core::delivery::updater::DEFAULT_MAX_MODEL_BYTES;

/// Largest step from the current sequence a release may take. Each release adds one and each lost race
/// one more, so a bigger step is a planted or mistaken number: refused, since phones never go back down.
pub const MAX_SEQUENCE_STEP: u64 = 1000;

/// Most history entries above the current sequence a release reads to find the next free one.
pub const MAX_PENDING_HISTORY: usize = 256;

/// What to release.
#[derive(Debug, Clone)]
pub struct ReleaseRequest {
    /// The ONNX model's bytes.
    pub model_bytes: Vec<u8>,
    /// The feature/label contract it serves (the pipeline's `publish::model_contract` reads it from the model).
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
    /// For a rollback, the history sequence whose model was re-published.
    pub rollback_of: Option<u64>,
    /// Keys written, in order.
    pub written: Vec<String>,
    /// Things an operator should know (history entries ignored because they do not verify, legacy entries).
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
    /// A history entry to roll back to verifies with no key of the keyring (unknown key, bad signature,
    /// malformed): nobody vouches for it, so it is not re-signed.
    #[error("rollback refused: {key} does not verify with any key of the keyring ({keyring}): {reason}")]
    BadHistorySignature {
        /// `history/<n>.json`.
        key: String,
        /// The trusted keys.
        keyring: String,
        /// Why it does not verify.
        reason: String,
    },
    /// `latest.json` exists but verifies with no key of the keyring: its sequence cannot be trusted, and
    /// without it no safe next sequence can be chosen. (A retired key belongs in the keyring.)
    #[error(
        "latest.json in {store} does not verify with any key of the keyring ({keyring}): {reason}; nothing \
         signed (add the retired key that signed it, or investigate the store)"
    )]
    UnverifiedLatest {
        /// The store.
        store: String,
        /// The trusted keys.
        keyring: String,
        /// Why it does not verify.
        reason: String,
    },
    /// The next sequence is taken in `history/` by an object that verifies with no key of the keyring.
    #[error(
        "{key} in {store} is taken by an object that does not verify with any key of the keyring: {reason}; \
         nothing signed (remove it after investigating)"
    )]
    ForgedHistory {
        /// The store.
        store: String,
        /// `history/<n>.json`.
        key: String,
        /// Why it does not verify.
        reason: String,
    },
    /// The sequence would jump implausibly far above the current one.
    #[error(
        "sequence {sequence} ({source_of}) is more than {max_step} above the current sequence {current}: \
         refusing an implausible jump (phones never accept a lower sequence again)"
    )]
    ImplausibleSequence {
        /// The sequence found or asked for.
        sequence: u64,
        /// Where it comes from (`--sequence`, `history/<n>.json`).
        source_of: String,
        /// The current (verified) sequence.
        current: u64,
        /// [`MAX_SEQUENCE_STEP`].
        max_step: u64,
    },
    /// No sequence is left above the current one.
    #[error("no sequence is left after {after}: the counter would overflow")]
    SequenceExhausted {
        /// The highest sequence taken.
        after: u64,
    },
    /// More history entries above the current sequence than a release reads.
    #[error("{store} has {count} history entries above the current sequence {current}, more than {max}: investigate")]
    TooManyPendingHistory {
        /// The store.
        store: String,
        /// How many.
        count: usize,
        /// The current sequence.
        current: u64,
        /// [`MAX_PENDING_HISTORY`].
        max: usize,
    },
    /// The model's key held other bytes: the key is the hash, so this is corruption or tampering. The
    /// release stops before signing; the right bytes were put back only if nobody changed the object
    /// since it was read (conditional write).
    #[error(
        "{key} in {store} held other bytes ({found}): corruption or tampering; nothing signed. {}",
        if *.repaired { "The model's bytes were put back (conditional write); investigate, then re-run" }
        else { "The object changed again while being repaired and was left as it is; investigate" }
    )]
    ModelTampered {
        /// The store.
        store: String,
        /// `models/<sha256>.onnx`.
        key: String,
        /// What was found: SHA-256 and size, or the size alone past the read bound.
        found: String,
        /// Whether the conditional repair went through.
        repaired: bool,
    },
    /// The model is bigger than phones accept.
    #[error("the model is {size} bytes, more than the {limit} bytes phones accept: nothing signed")]
    ModelTooLarge {
        /// Its size.
        size: u64,
        /// [`MAX_MODEL_BYTES`].
        limit: u64,
    },
    /// The model fails the self-test phones run before installing it.
    #[error("the model fails the phones' self-test, nothing signed: {0}")]
    SelfTest(DeliveryError),
    /// After `latest.json` moved, reading it back did not give the release that was made.
    #[error("{store}: read back after the release, {what}")]
    NotServed {
        /// The store.
        store: String,
        /// What differs.
        what: String,
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
    /// The root-signed key set cannot go with this release.
    #[error("key set for {store}: {reason}")]
    KeySet {
        /// The store.
        store: String,
        /// Why.
        reason: String,
    },
}

impl ReleaseError {
    /// Whether another promotion won a race (re-running may succeed with the next sequence).
    pub fn is_conflict(&self) -> bool {
        matches!(self, ReleaseError::Conflict(_))
    }
}

/// Releases a model under the next sequence; [`ReleaseOutcome::AlreadyCurrent`] (nothing written) when
/// `latest.json` already names this model from this run and is not close to expiry.
pub fn release(store: &Store, keys: &Keyring, req: &ReleaseRequest) -> Result<ReleaseSummary> {
    plan_release(store, keys, req)?.execute(store, keys)
}

/// Releases a model under an explicit sequence, which must be higher than the current one and at most
/// [`MAX_SEQUENCE_STEP`] above it (what `pipeline publish --sequence` does); never
/// [`ReleaseOutcome::AlreadyCurrent`].
pub fn release_at(store: &Store, keys: &Keyring, req: &ReleaseRequest, sequence: u64) -> Result<ReleaseSummary> {
    plan(store, keys, req, Some(sequence))?.execute(store, keys)
}

/// The first half of [`release`]: reads the store and decides (nothing is written). Executing the plan
/// later is a release from the state read now: if another promotion moved the store meanwhile, the
/// execution fails with [`ReleaseError::Conflict`] — so a plan also serves as a dry run.
pub fn plan_release<'a>(store: &Store, keys: &Keyring, req: &'a ReleaseRequest) -> Result<ReleasePlan<'a>> {
    plan(store, keys, req, None)
}

/// A release decided from one reading of the store; see [`plan_release`].
pub struct ReleasePlan<'a> {
    request: &'a ReleaseRequest,
    sha256: String,
    latest: Latest,
    /// `None`: `latest.json` already serves this model and run.
    sequence: Option<u64>,
    warnings: Vec<String>,
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

    /// Checks the model as a phone would, uploads it, signs, takes the sequence in `history/` and moves
    /// `latest.json` if it is still the version read by the plan. Network or file I/O.
    pub fn execute(self, store: &Store, keys: &Keyring) -> Result<ReleaseSummary> {
        let (req, latest) = (self.request, &self.latest);
        let Some(sequence) = self.sequence else {
            if let Some(current) = &latest.manifest {
                return Ok(already_current(store, latest, current));
            }
            return Err(ReleaseError::NothingPublished { store: store.describe().to_string() });
        };
        let current = latest.manifest.as_ref();
        let mut done = Progress { warnings: self.warnings, ..Progress::default() };
        let object_key = Manifest::object_key_for(&self.sha256);
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
        check_servable(&req.model_bytes, &manifest)?;
        upload_model(store, &manifest.object_key, &req.model_bytes, &self.sha256, &mut done)?;
        if current.is_some_and(|m| m.sha256 == manifest.sha256 && m.source_run_id == manifest.source_run_id) {
            done.warnings.push("latest.json already named this model; re-signed it under a new sequence".into());
        }
        commit(store, keys, &manifest, latest, &mut done)?;
        verify_served(store, keys, &manifest)?;
        Ok(summary(store, ReleaseOutcome::Released, manifest, keys.current_id().0, latest, None, done))
    }
}

fn plan<'a>(store: &Store, keys: &Keyring, req: &'a ReleaseRequest, sequence: Option<u64>) -> Result<ReleasePlan<'a>> {
    check_validity(req.expires_in_days)?;
    req.contract.check_supported().map_err(ReleaseError::Contract)?;
    check_size(req.model_bytes.len() as u64)?;
    let sha256 = hex(&Sha256::digest(&req.model_bytes));
    let latest = read_latest(store, keys)?;
    let current = latest.manifest.as_ref();
    let mut warnings = Vec::new();
    let sequence = match sequence {
        Some(s) => {
            let now = current.map_or(0, |m| m.sequence);
            if current.is_some() && s <= now {
                return Err(ReleaseError::NotHigher { requested: s, current: now });
            }
            check_step(s, now, "--sequence")?;
            Some(s)
        }
        None if current.is_some_and(|m| {
            m.sha256 == sha256 && m.source_run_id == req.source_run_id && fresh_enough(m, req.expires_in_days)
        }) =>
        {
            None
        }
        None => Some(next_sequence(store, keys, current, &mut warnings)?),
    };
    Ok(ReleasePlan { request: req, sha256, latest, sequence, warnings })
}

/// Publishes the model of `history/<to>.json` again under a new sequence (phones refuse lower sequences,
/// so going back is a new release of the old model). The entry must verify with a key of the keyring,
/// the model object must still have the hash it names, and the model must pass the phones' checks.
/// [`ReleaseOutcome::AlreadyCurrent`] when `latest.json` already serves that model.
pub fn rollback(store: &Store, keys: &Keyring, to: u64, expires_in_days: u32) -> Result<ReleaseSummary> {
    check_validity(expires_in_days)?;
    let latest = read_latest(store, keys)?;
    let Some(current) = latest.manifest.as_ref() else {
        return Err(ReleaseError::NothingPublished { store: store.describe().to_string() });
    };
    let mut done = Progress::default();
    let key = history_key(to);
    let Some(entry) = store.get_bounded(&key, MAX_MANIFEST_BYTES as u64, &format!("read {key}"))? else {
        return Err(ReleaseError::NoSuchSequence { store: store.describe().to_string(), key });
    };
    let verified = keys.verify(&entry.bytes).map_err(|e| ReleaseError::BadHistorySignature {
        key: key.clone(),
        keyring: keys.describe(),
        reason: e.to_string(),
    })?;
    let target = verified.manifest.clone();
    if target.sequence != to {
        return Err(unreadable(store, &key, format!("it names sequence {}, not {to}", target.sequence)));
    }
    note_history(&key, &verified, &mut done);
    if to > current.sequence {
        return Err(ReleaseError::NotEarlier { to, current: current.sequence });
    }
    if current.sha256 == target.sha256 && fresh_enough(current, expires_in_days) {
        return Ok(already_current(store, &latest, current));
    }
    target.contract.check_supported().map_err(ReleaseError::Contract)?;
    check_size(target.size)?;
    let missing = || ReleaseError::ModelMissing {
        store: store.describe().to_string(),
        key: target.object_key.clone(),
        sequence: to,
    };
    let model = match store.get_bounded(&target.object_key, MAX_MODEL_BYTES, "check the model to roll back to") {
        Ok(Some(m)) => m,
        Ok(None) => return Err(missing()),
        Err(StoreError::TooLarge { size, .. }) => {
            return Err(ReleaseError::ModelAltered {
                store: store.describe().to_string(),
                key: target.object_key.clone(),
                sequence: to,
                expected: target.sha256.clone(),
                actual: "(not read: too large)".into(),
                size,
            });
        }
        Err(e) => return Err(e.into()),
    };
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

    let sequence = next_sequence(store, keys, Some(current), &mut done.warnings)?;
    let created_at = Utc::now();
    // The same model, version and run as the entry: only the sequence and the validity are new.
    let manifest = Manifest { sequence, created_at, expires_at: expiry(created_at, expires_in_days), ..target.clone() };
    check_servable(&model.bytes, &manifest)?;
    commit(store, keys, &manifest, &latest, &mut done)?;
    verify_served(store, keys, &manifest)?;
    Ok(summary(store, ReleaseOutcome::Released, manifest, keys.current_id().0, &latest, Some(to), done))
}

/// The store's current manifest (read, not verified: a report, nothing is signed from it) and its
/// history sequences (by name).
pub fn status(store: &Store) -> Result<StoreStatus> {
    let (manifest, key_id) = match store.get_bounded(LATEST, MAX_MANIFEST_BYTES as u64, "read latest.json")? {
        None => (None, None),
        Some(object) => {
            let envelope = Envelope::parse(&object.bytes).map_err(|e| unreadable(store, LATEST, e.to_string()))?;
            let manifest = envelope.manifest_unverified().map_err(|e| unreadable(store, LATEST, e.to_string()))?;
            (Some(manifest), Some(envelope.key_id.0))
        }
    };
    Ok(StoreStatus {
        store: store.describe().to_string(),
        latest_key_id: key_id,
        latest: manifest,
        history: history_sequences(store)?,
    })
}

/// `latest.json` as read (and verified) at the start of a release.
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
    written: Vec<String>,
    warnings: Vec<String>,
}

/// `latest.json`, verified with the keyring: its sequence is the floor of the next one, so it must be one
/// the publisher signed (a planted `latest.json` would otherwise choose the next sequence).
fn read_latest(store: &Store, keys: &Keyring) -> Result<Latest> {
    let Some(object) = store.get_bounded(LATEST, MAX_MANIFEST_BYTES as u64, "read latest.json")? else {
        return Ok(Latest { manifest: None, key_id: None, version: None });
    };
    let unverified = |reason: String| ReleaseError::UnverifiedLatest {
        store: store.describe().to_string(),
        keyring: keys.describe(),
        reason,
    };
    let v = keys.verify(&object.bytes).map_err(|e| unverified(e.to_string()))?;
    if v.signed_as != SignedAs::Installable {
        return Err(unverified("it holds a history record, which no phone installs".into()));
    }
    Ok(Latest { manifest: Some(v.manifest), key_id: Some(v.key_id.0), version: Some(object.version) })
}

fn history_key(sequence: u64) -> String {
    format!("{HISTORY_PREFIX}{sequence}.json")
}

/// Sequences of the `history/<n>.json` entries by name, ascending (other names are ignored). Names are
/// not authenticated: only for reports and to find entries worth verifying.
fn history_sequences(store: &Store) -> Result<Vec<u64>> {
    let mut seqs: Vec<u64> = store
        .list(HISTORY_PREFIX, "list history")?
        .iter()
        .filter_map(|k| k.strip_prefix(HISTORY_PREFIX)?.strip_suffix(".json")?.parse().ok())
        .collect();
    seqs.sort_unstable();
    Ok(seqs)
}

/// One above `latest.json` and every *verified* history entry above it: a sequence taken by a promotion
/// that lost its race (history written, latest not) is never reused, while a planted name — empty, or
/// signed by no key of the keyring — is ignored (with a warning) instead of choosing the sequence.
fn next_sequence(store: &Store, keys: &Keyring, current: Option<&Manifest>, warnings: &mut Vec<String>) -> Result<u64> {
    let now = current.map_or(0, |m| m.sequence);
    let above: Vec<u64> = history_sequences(store)?.into_iter().filter(|s| *s > now).collect();
    if above.len() > MAX_PENDING_HISTORY {
        return Err(ReleaseError::TooManyPendingHistory {
            store: store.describe().to_string(),
            count: above.len(),
            current: now,
            max: MAX_PENDING_HISTORY,
        });
    }
    let mut highest = now;
    for n in above {
        let key = history_key(n);
        match verified_history(store, keys, &key, n)? {
            Ok(_) => {
                check_step(n, now, &key)?;
                highest = highest.max(n);
            }
            Err(reason) => warnings.push(format!("{key} ignored: {reason}")),
        }
    }
    highest.checked_add(1).ok_or(ReleaseError::SequenceExhausted { after: highest })
}

/// The history entry `key` (which should hold sequence `n`) verified with the keyring, or why not;
/// `Ok(Err(_))` when it is absent, forged or names another sequence.
fn verified_history(store: &Store, keys: &Keyring, key: &str, n: u64) -> Result<std::result::Result<Verified, String>> {
    let object = match store.get_bounded(key, MAX_MANIFEST_BYTES as u64, &format!("read {key}")) {
        Ok(Some(o)) => o,
        Ok(None) => return Ok(Err("it is gone".into())),
        Err(StoreError::TooLarge { size, limit, .. }) => {
            return Ok(Err(format!("{size} bytes, more than a manifest's {limit}")));
        }
        Err(e) => return Err(e.into()),
    };
    Ok(match keys.verify(&object.bytes) {
        Ok(v) if v.manifest.sequence == n => Ok(v),
        Ok(v) => Err(format!("it names sequence {}, not {n}", v.manifest.sequence)),
        Err(e) => Err(format!("it does not verify with any key of the keyring ({}): {e}", keys.describe())),
    })
}

/// Refuses a sequence more than [`MAX_SEQUENCE_STEP`] above the current one.
fn check_step(sequence: u64, current: u64, source_of: &str) -> Result<()> {
    if sequence.saturating_sub(current) > MAX_SEQUENCE_STEP {
        return Err(ReleaseError::ImplausibleSequence {
            sequence,
            source_of: source_of.to_string(),
            current,
            max_step: MAX_SEQUENCE_STEP,
        });
    }
    Ok(())
}

/// Warnings about the entry a rollback re-publishes: an old key, or the pre-record (installable) format.
fn note_history(key: &str, v: &Verified, done: &mut Progress) {
    if !v.current_key {
        done.warnings.push(format!("{key} is signed by retired key {}", v.key_id));
    }
    if v.signed_as == SignedAs::Installable {
        done.warnings.push(format!(
            "{key} is a plain manifest from before history records (installable by phones until it expires)"
        ));
    }
}

fn check_size(size: u64) -> Result<()> {
    if size > MAX_MODEL_BYTES {
        return Err(ReleaseError::ModelTooLarge { size, limit: MAX_MODEL_BYTES });
    }
    Ok(())
}

/// What a phone checks before it installs, run here before anything is signed: the size bound, the
/// contract, and the phone's own self-test ([`hapticmat_core::delivery::selftest::self_test`], through
/// ONNX Runtime) against the manifest about to be signed.
pub fn check_servable(model_bytes: &[u8], manifest: &Manifest) -> Result<()> {
    check_size(model_bytes.len() as u64)?;
    manifest.contract.check_supported().map_err(ReleaseError::Contract)?;
    let io = |e: std::io::Error| {
        ReleaseError::SelfTest(DeliveryError::Io {
            path: "a temporary copy of the model".into(),
            message: e.to_string(),
        })
    };
    let mut file = tempfile::Builder::new().prefix("hm-selftest-").suffix(".onnx").tempfile().map_err(io)?;
    std::io::Write::write_all(&mut file, model_bytes).map_err(io)?;
    hapticmat_core::delivery::selftest::self_test(file.path(), manifest).map_err(ReleaseError::SelfTest)
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

/// Uploads the model under its hash unless the store has those exact bytes there already. Other bytes
/// under the hash are corruption or tampering: the release fails, after putting the right bytes back
/// only if the object is still the version examined (a conditional write, never a blind overwrite).
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
    let step = "check the model already in the store";
    let (found, version) = match store.get_bounded(key, MAX_MODEL_BYTES, step) {
        Ok(Some(o)) if hex(&Sha256::digest(&o.bytes)) == sha256 => return Ok(()),
        Ok(Some(o)) => (format!("SHA-256 {}, {} bytes", hex(&Sha256::digest(&o.bytes)), o.bytes.len()), o.version),
        Ok(None) => {
            return Err(ReleaseError::Conflict(format!(
                "{key} in {} vanished while being checked; nothing signed",
                store.describe()
            )));
        }
        Err(StoreError::TooLarge { size, .. }) => {
            let Some(info) = store.head(key, step)? else {
                return Err(ReleaseError::Conflict(format!(
                    "{key} in {} vanished while being checked",
                    store.describe()
                )));
            };
            (format!("{size} bytes, not read past the bound"), info.version)
        }
        Err(e) => return Err(e.into()),
    };
    log::warn!("{key} in {} held other bytes ({found}): repairing it conditionally, nothing signed", store.describe());
    let repaired = match store.put_if_match(key, bytes, Some(&version), "put back an altered model (conditional)") {
        Ok(_) => true,
        Err(e) if e.is_conflict() => false,
        Err(e) => return Err(e.into()),
    };
    Err(ReleaseError::ModelTampered { store: store.describe().to_string(), key: key.to_string(), found, repaired })
}

/// Signs the manifest, takes its sequence in `history/` with a history record (never installable),
/// then moves `latest.json` — the only installable copy — if nobody else did.
fn commit(store: &Store, keys: &Keyring, manifest: &Manifest, latest: &Latest, done: &mut Progress) -> Result<()> {
    let signed = keys.sign_installable(manifest).map_err(ReleaseError::Sign)?;
    // Phones that pin the root must accept it: checked before anything is written.
    if let Some(set) = keys.key_set() {
        set.trust.verify_manifest(&signed, chrono::Utc::now()).map_err(|e| ReleaseError::KeySet {
            store: store.describe().to_string(),
            reason: format!("phones pinning the root would refuse this release: {e}"),
        })?;
    }
    let record = keys.sign_history_record(manifest).map_err(ReleaseError::Sign)?;
    let key = history_key(manifest.sequence);
    let step = format!("write {key}");
    match store.put_if_absent(&key, &record, &step) {
        Ok(_) => {}
        // A retried request whose first try went through finds its own bytes: that is success.
        Err(e) if e.is_conflict() && holds(store, &key, &record)? => {}
        Err(e) if e.is_conflict() => {
            // Taken by another promotion (it verifies), or planted (it does not).
            if let Err(reason) = verified_history(store, keys, &key, manifest.sequence)? {
                return Err(ReleaseError::ForgedHistory { store: store.describe().to_string(), key, reason });
            }
            return Err(ReleaseError::Conflict(format!(
                "{key} already exists in {}: another promotion took sequence {}; latest.json left untouched",
                store.describe(),
                manifest.sequence
            )));
        }
        Err(e) => return Err(e.into()),
    }
    done.written.push(key.clone());
    if let Some(set) = keys.key_set() {
        publish_key_set(store, set, done)?;
    }
    match store.put_if_match(LATEST, &signed, latest.version.as_ref(), "write latest.json") {
        Ok(_) => {}
        Err(e) if e.is_conflict() && holds(store, LATEST, &signed)? => {}
        Err(e) if e.is_conflict() => {
            return Err(ReleaseError::Conflict(format!(
                "latest.json changed during promotion; production pointer left as the other promotion wrote it \
                 ({} in {} stays as a record of sequence {} that no phone can install)",
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

/// Largest `keys.json` read back (a key set lists a handful of keys and rotations).
const MAX_KEYS_BYTES: u64 = 256 * 1024;

/// Puts the root-signed key set at `keys.json` before `latest.json` moves, unless the store holds it
/// already. A newer key set there (a later ceremony) is never replaced by an older one: phones refuse to
/// go back, so the release stops instead. Conditional on the version read.
fn publish_key_set(store: &Store, set: &PublishedKeySet, done: &mut Progress) -> Result<()> {
    let existing = store.get_bounded(KEYS, MAX_KEYS_BYTES, "read keys.json")?;
    if existing.as_ref().is_some_and(|o| o.bytes == set.bytes) {
        return Ok(());
    }
    if let Some(o) = &existing {
        // Accepted after ours (same root chain): the store's set is newer or a different one of ours.
        if let Ok(theirs) = set.trust.update(&o.bytes, chrono::Utc::now()) {
            let version = |t: &hapticmat_core::delivery::root::Trust| t.keyset.as_ref().map_or(0, |(k, _)| k.version);
            return Err(ReleaseError::KeySet {
                store: store.describe().to_string(),
                reason: format!(
                    "{KEYS} in the store is key set version {}, this release carries version {}: sign releases \
                     with the newest key set",
                    version(&theirs),
                    version(&set.trust)
                ),
            });
        }
    }
    store.put_if_match(KEYS, &set.bytes, existing.as_ref().map(|o| &o.version), "write keys.json")?;
    done.written.push(KEYS.to_string());
    Ok(())
}

/// Reads back what phones will get — `latest.json` and the model it names — and checks it is this
/// release: verifies with the keyring, names this sequence and model, and the object has its hash. (A
/// later promotion may already have moved the pointer higher; that is not this release's failure.)
fn verify_served(store: &Store, keys: &Keyring, manifest: &Manifest) -> Result<()> {
    let not_served = |what: String| ReleaseError::NotServed { store: store.describe().to_string(), what };
    let latest = store
        .get_bounded(LATEST, MAX_MANIFEST_BYTES as u64, "read back latest.json")?
        .ok_or_else(|| not_served("latest.json is missing".into()))?;
    let v = keys.verify(&latest.bytes).map_err(|e| not_served(format!("latest.json does not verify: {e}")))?;
    if let Some(set) = keys.key_set() {
        set.trust
            .verify_manifest(&latest.bytes, chrono::Utc::now())
            .map_err(|e| not_served(format!("latest.json does not verify with the published key set: {e}")))?;
    }
    if v.manifest.sequence > manifest.sequence {
        return Ok(());
    }
    if v.manifest != *manifest || v.signed_as != SignedAs::Installable {
        return Err(not_served(format!(
            "latest.json names sequence {} ({}), not the release's sequence {} ({})",
            v.manifest.sequence, v.manifest.sha256, manifest.sequence, manifest.sha256
        )));
    }
    let model = store
        .get_bounded(&manifest.object_key, MAX_MODEL_BYTES, "read back the model")?
        .ok_or_else(|| not_served(format!("{} is missing", manifest.object_key)))?;
    let actual = hex(&Sha256::digest(&model.bytes));
    if actual != manifest.sha256 {
        return Err(not_served(format!("{} has SHA-256 {actual}, not {}", manifest.object_key, manifest.sha256)));
    }
    Ok(())
}

/// Whether the object under `key` is exactly `bytes` (a signed manifest carries its signing time, so
/// equal bytes are this run's).
fn holds(store: &Store, key: &str, bytes: &[u8]) -> Result<bool> {
    let o = store.get_bounded(key, MAX_MANIFEST_BYTES as u64, &format!("re-read {key}"));
    match o {
        Ok(o) => Ok(o.is_some_and(|o| o.bytes == bytes)),
        Err(StoreError::TooLarge { .. }) => Ok(false),
        Err(e) => Err(e.into()),
    }
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
        rollback_of,
        written: done.written,
        warnings: done.warnings,
        manifest,
    }
}
