//! Model delivery (docs/design.md §3 "delivery", §5): a signed `latest.json` names a model by its SHA-256; the
//! updater fetches it conditionally, verifies the signature against pinned keys, refuses rollbacks,
//! expired manifests and foreign contracts, streams the model with its hash computed on the way, installs
//! it atomically and falls back to the last known-good model when a new one does not load or self-test.
//!
//! The pipeline's `publish`/`keygen` and the phone share this module, so the format has one definition.

pub mod cache;
pub mod cancel;
pub mod http;
pub mod manifest;
pub mod root;
pub mod selftest;
pub mod signing;
mod transport;
pub mod updater;

pub use cache::InstalledModel;
pub use cancel::CancelHandle;
pub use http::{HttpBody, HttpClient, HttpFailure, HttpRequest, HttpResponse};
pub use manifest::{Contract, Manifest, SCHEMA_VERSION};
pub use root::{KeySet, KeysDocument, PinnedRoot, RootRotation, Trust};
pub use signing::{Envelope, KeyId, PinnedKeys, PublicKey, Signer25519};
pub use transport::{TransportConfig, fetch_object};
pub use updater::{
    Outcome, ProgressEvent, ProgressListener, UpdateError, UpdateReport, UpdateStatus, Updater, UpdaterConfig,
};

/// Everything that can go wrong in delivery, each naming what was wrong and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// The envelope is not the expected JSON object of base64 fields.
    #[error("malformed manifest envelope: {0}")]
    MalformedEnvelope(String),
    /// The signed payload is not a valid manifest of its schema.
    #[error("malformed manifest: {0}")]
    MalformedManifest(String),
    /// The manifest's schema version is not the one this core reads.
    #[error("manifest schema version {found} is not supported (this core reads version {supported})")]
    UnsupportedSchema { found: u32, supported: u32 },
    /// The envelope names a key that is not pinned.
    #[error("manifest signed by unknown key id {key_id}")]
    UnknownKey { key_id: String },
    /// The signature does not verify with the named pinned key.
    #[error("manifest signature does not verify with key id {key_id}")]
    BadSignature { key_id: String },
    /// The manifest's validity has ended.
    #[error("manifest expired at {expires_at} (now {now})")]
    Expired { expires_at: String, now: String },
    /// The manifest was signed further in the future than the allowed clock skew.
    #[error("manifest created at {created_at}, more than {skew_s} s after now ({now})")]
    CreatedInFuture { created_at: String, now: String, skew_s: i64 },
    /// The manifest claims a validity window longer than this core accepts.
    #[error(
        "manifest valid for {days} days ({created_at} to {expires_at}), more than the {max_days} days this core accepts"
    )]
    ValidityTooLong { days: i64, created_at: String, expires_at: String, max_days: i64 },
    /// The manifest's sequence is below the highest this device has verified (the rollback floor, kept
    /// apart from the installed model so a failed download, a fall-back or a damaged pointer cannot lower it).
    #[error(
        "rollback refused: manifest sequence {offered} is lower than sequence {installed}, the highest this device has verified"
    )]
    Rollback { offered: u64, installed: u64 },
    /// The store signed two different models under one sequence.
    #[error(
        "fork refused: manifest sequence {sequence} names model {offered}, but this device verified sequence {sequence} as model {verified}"
    )]
    Fork { sequence: u64, verified: String, offered: String },
    /// The store answered 304 Not Modified where it may not: to a request that was not conditional, or
    /// when the manifest the device kept can no longer be trusted to name the serving model.
    #[error("304 Not Modified refused: {0}")]
    NotModifiedRefused(String),
    /// The model serves a feature/label contract this core does not.
    #[error("unsupported model contract: {what} is {found}, this core needs {expected}")]
    UnsupportedContract { what: &'static str, found: String, expected: String },
    /// More bytes arrived than the manifest (or the manifest limit) allows.
    #[error("{what} is larger than its limit of {limit} bytes")]
    TooLarge { what: &'static str, limit: u64 },
    /// The downloaded bytes are not the ones the manifest names.
    #[error("model SHA-256 is {actual}, the manifest says {expected}")]
    HashMismatch { expected: String, actual: String },
    /// The server answered with an HTTP status that is not the object.
    #[error("HTTP {status} for {url}")]
    Http { status: u16, url: String, retry_after_s: Option<u64> },
    /// The connection failed, stalled or ended early.
    #[error("network: {0}")]
    Network(String),
    /// Redirects looped or went too far or downgraded the scheme.
    #[error("redirect refused: {0}")]
    Redirect(String),
    /// The check was cancelled.
    #[error("cancelled")]
    Cancelled,
    /// Reading or writing the cache failed.
    #[error("cache {path}: {message}")]
    Io { path: String, message: String },
    /// The key document (`keys.json`: root rotations, key set) is malformed or not signed by the root this
    /// device trusts.
    #[error("untrusted key set: {0}")]
    KeySet(String),
    /// The store offers a key set older than the one this device accepted.
    #[error("key set rollback refused: version {offered} is lower than version {trusted}, which this device accepted")]
    KeySetRollback { offered: u64, trusted: u64 },
    /// The accepted key set has expired and no newer one is published: nothing verifies.
    #[error("key set version {version} expired at {expires_at} (now {now})")]
    KeySetExpired { version: u64, expires_at: String, now: String },
    /// The manifest is signed by a key the key set revoked.
    #[error("manifest signed by revoked key id {key_id} (revoked by key set version {keyset_version})")]
    RevokedKey { key_id: String, keyset_version: u64 },
    /// Another updater holds the cache folder (its lock file is locked): one updater per folder.
    #[error("cache folder is in use by another updater (lock on {path} is held)")]
    CacheInUse { path: String },
    /// A key file or key text is unusable.
    #[error("key: {0}")]
    Key(String),
    /// The downloaded model failed to load or its self-test inference.
    #[error("model failed its self-test: {0}")]
    SelfTest(String),
    /// The updater was configured wrongly (URL, key set).
    #[error("configuration: {0}")]
    Config(String),
}

/// Result of delivery operations.
pub type Result<T, E = DeliveryError> = std::result::Result<T, E>;

impl DeliveryError {
    /// Whether trying again (after a backoff) can help: network trouble and server errors, not a refusal.
    pub fn is_transient(&self) -> bool {
        match self {
            DeliveryError::Network(_) => true,
            DeliveryError::Http { status, .. } => matches!(status, 408 | 425 | 429 | 500 | 502 | 503 | 504),
            _ => false,
        }
    }

    pub(crate) fn io(path: &std::path::Path, e: impl std::fmt::Display) -> Self {
        DeliveryError::Io { path: path.display().to_string(), message: e.to_string() }
    }
}

/// Builders for tests (here and in the pipeline's tests).
#[doc(hidden)]
pub mod testing {
    use super::manifest::{Contract, MODEL_NAME, Manifest, SCHEMA_VERSION, hex};
    use sha2::{Digest, Sha256};

    /// A consistent, current manifest for `model` bytes at `sequence`, valid for a year from now.
    pub fn manifest(sequence: u64, model: &[u8]) -> Manifest {
        let sha256 = hex(&Sha256::digest(model));
        let created_at = chrono::Utc::now();
        Manifest {
            schema_version: SCHEMA_VERSION,
            model: MODEL_NAME.into(),
            sequence,
            version: semver::Version::new(1, 0, sequence),
            object_key: Manifest::object_key_for(&sha256),
            sha256,
            size: model.len() as u64,
            contract: Contract::current(),
            source_run_id: "test".into(),
            created_at,
            expires_at: created_at + chrono::Duration::days(365),
        }
    }
}
