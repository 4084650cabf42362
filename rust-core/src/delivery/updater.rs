//! The updater: one object per cache folder with a small API for the app (and UniFFI later): check now,
//! the current model, a progress listener, the last outcome, cancel. Blocking calls: run them off the main
//! thread; inside, an own single-threaded tokio runtime drives the network.
//!
//! Checks run one at a time, but the cache is locked only for its short steps (reading the pointer,
//! raising the floor, installing), never across the network: `current()` answers and `load_current()`
//! loads while a check downloads for minutes.

use super::cache::{Cache, Entry, InstalledModel, TrialStage};
use super::cancel::CancelHandle;
use super::http::HttpClient;
use super::manifest::LATEST;
use super::root::{KEYS, PinnedRoot, TRUST, Trust};
use super::selftest::self_test;
use super::transport::{ManifestFetch, Sink, TransferEvent, Transport, TransportConfig};
use super::{DeliveryError, Manifest, PinnedKeys};
use crate::inference::PresenceModel;
use serde::Serialize;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, SystemTime};

/// Largest model accepted unless configured otherwise: the presence model is ~100 kB; this bounds what a
/// compromised manifest could make a phone download.
pub const DEFAULT_MAX_MODEL_BYTES: u64 = 64 * 1024 * 1024;

/// How an updater is set up.
#[derive(Debug, Clone)]
pub struct UpdaterConfig {
    /// The store: `https://…/production/`, `http://127.0.0.1:…/` or `file:///…`; holds `latest.json`.
    pub base_url: String,
    /// The app's private cache folder for models.
    pub cache_dir: PathBuf,
    /// The public keys a manifest must be signed with (when no root is pinned).
    pub pinned_keys: PinnedKeys,
    /// The root key the app build pins: then the publisher keys come from the store's `keys.json`, signed
    /// by this root (or a root it rotated to), and `pinned_keys` is not used.
    pub root: Option<PinnedRoot>,
    /// Timeouts and retries.
    pub transport: TransportConfig,
    /// A manifest declaring a bigger model is refused.
    pub max_model_bytes: u64,
    /// Longest a whole check may take (a slow drip cannot hold it forever).
    pub deadline: Duration,
    /// The app's HTTP client for `http(s)` stores; `None`: reqwest on hosts (an Android build has none).
    pub http: Option<Arc<dyn HttpClient>>,
}

impl UpdaterConfig {
    /// Defaults for everything but the store, the cache and the keys.
    pub fn new(base_url: impl Into<String>, cache_dir: impl Into<PathBuf>, pinned_keys: PinnedKeys) -> Self {
        UpdaterConfig {
            base_url: base_url.into(),
            cache_dir: cache_dir.into(),
            pinned_keys,
            root: None,
            transport: TransportConfig::default(),
            max_model_bytes: DEFAULT_MAX_MODEL_BYTES,
            deadline: Duration::from_secs(600),
            http: None,
        }
    }
}

/// Why a check did not end with the newest model serving. Small and stable, for Kotlin; the reason is
/// text for logs and people (no personal data: URLs are given without credentials or query).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpdateError {
    /// The manifest is not vouched for by a pinned key: unknown key id, bad signature, malformed envelope.
    #[error("untrusted manifest: {reason}")]
    Untrusted { reason: String },
    /// The manifest is signed but not acceptable here: expired, a rollback, a schema, contract or size
    /// this core does not take.
    #[error("manifest refused: {reason}")]
    Refused { reason: String },
    /// The model's bytes or the model itself failed: wrong hash, too large, does not load or self-test.
    #[error("model refused: {reason}")]
    BadModel { reason: String },
    /// The store could not be reached or kept failing after retries.
    #[error("network: {reason}")]
    Network { reason: String },
    /// The cache folder could not be read or written.
    #[error("storage: {reason}")]
    Storage { reason: String },
    /// The updater is set up wrongly (URL, keys).
    #[error("configuration: {reason}")]
    Config { reason: String },
    /// The check was cancelled.
    #[error("cancelled")]
    Cancelled,
}

impl UpdateError {
    /// The outcome this error stands for: a refusal of what the store offers, or a failure to get it.
    pub fn outcome(&self) -> Outcome {
        match self {
            UpdateError::Untrusted { .. } | UpdateError::Refused { .. } | UpdateError::BadModel { .. } => {
                Outcome::Rejected
            }
            _ => Outcome::Failed,
        }
    }
}

impl From<DeliveryError> for UpdateError {
    fn from(e: DeliveryError) -> Self {
        let reason = match &e {
            // The variant already says "network"; keep the reason free of a second label.
            DeliveryError::Network(m) => m.clone(),
            e => e.to_string(),
        };
        match e {
            DeliveryError::MalformedEnvelope(_)
            | DeliveryError::MalformedManifest(_)
            | DeliveryError::UnknownKey { .. }
            | DeliveryError::BadSignature { .. }
            | DeliveryError::NotModifiedRefused(_)
            | DeliveryError::KeySet(_)
            | DeliveryError::RevokedKey { .. } => UpdateError::Untrusted { reason },
            DeliveryError::UnsupportedSchema { .. }
            | DeliveryError::Expired { .. }
            | DeliveryError::CreatedInFuture { .. }
            | DeliveryError::ValidityTooLong { .. }
            | DeliveryError::Rollback { .. }
            | DeliveryError::Fork { .. }
            | DeliveryError::KeySetRollback { .. }
            | DeliveryError::KeySetExpired { .. }
            | DeliveryError::UnsupportedContract { .. } => UpdateError::Refused { reason },
            DeliveryError::TooLarge { what: "manifest", .. } => UpdateError::Untrusted { reason },
            DeliveryError::TooLarge { .. } | DeliveryError::HashMismatch { .. } | DeliveryError::SelfTest(_) => {
                UpdateError::BadModel { reason }
            }
            DeliveryError::Http { .. } | DeliveryError::Network(_) | DeliveryError::Redirect(_) => {
                UpdateError::Network { reason }
            }
            DeliveryError::Io { .. } | DeliveryError::CacheInUse { .. } => UpdateError::Storage { reason },
            DeliveryError::Key(_) | DeliveryError::Config(_) => UpdateError::Config { reason },
            DeliveryError::Cancelled => UpdateError::Cancelled,
        }
    }
}

/// The four ways a check ends, as `pipeline fetch-model --json` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A new model was installed and serves now.
    Updated,
    /// The serving model is the newest the store offers.
    UpToDate,
    /// What the store offers was refused; the installed model keeps serving.
    Rejected,
    /// The store could not be read (or the cache written); the installed model keeps serving.
    Failed,
}

impl Outcome {
    /// `updated`, `up_to_date`, `rejected` or `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Updated => "updated",
            Outcome::UpToDate => "up_to_date",
            Outcome::Rejected => "rejected",
            Outcome::Failed => "failed",
        }
    }
}

/// A successful check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdateStatus {
    /// A new model was installed.
    Updated {
        /// The model serving now.
        model: InstalledModel,
    },
    /// Nothing newer to install.
    UpToDate {
        /// The model serving now.
        model: InstalledModel,
    },
}

/// How the last check ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateReport {
    /// Which of the four endings.
    pub outcome: Outcome,
    /// The model serving after the check (unchanged unless `Updated`).
    pub model: Option<InstalledModel>,
    /// The sequence the store offered, when a manifest was read.
    pub offered_sequence: Option<u64>,
    /// Why, unless updated or up to date.
    pub error: Option<UpdateError>,
    /// When the check ended.
    pub finished_at: SystemTime,
}

/// Progress of a check, for a listener.
#[derive(Debug, Clone, PartialEq)]
pub enum ProgressEvent {
    /// Fetching and verifying `latest.json`.
    CheckingManifest,
    /// Model bytes received so far.
    Downloading {
        /// Bytes received.
        received: u64,
        /// Bytes in all.
        total: u64,
    },
    /// A request failed and is tried again after a delay.
    Retrying {
        /// Failed tries so far.
        attempt: u32,
        /// Wait before the next try, ms.
        delay_ms: u64,
        /// What failed.
        reason: String,
    },
    /// Checking hash, loading the model and running the self-test.
    Verifying,
    /// The check ended.
    Finished {
        /// How.
        outcome: Outcome,
    },
}

/// Receives progress events; called on the checking thread, so it must return quickly.
pub trait ProgressListener: Send + Sync {
    /// One event.
    fn on_progress(&self, event: ProgressEvent);
}

/// Fetches, verifies and installs models into one cache folder. `Send + Sync`: share it in an `Arc`.
pub struct Updater {
    config: UpdaterConfig,
    transport: Transport,
    /// Always `Some` until dropped (taken by `Drop` to shut down without waiting).
    runtime: Option<tokio::runtime::Runtime>,
    /// Held for short steps only, never across network I/O or a self-test.
    cache: Mutex<Cache>,
    /// The root and key set this device trusts, when a root is pinned (kept in the cache's `trust.json`).
    trust: Mutex<Option<Trust>>,
    /// Held for a whole check: checks run one at a time.
    checking: Mutex<()>,
    /// Held for a whole `load_current`: loads run one at a time (not waiting for a check).
    loading: Mutex<()>,
    listener: RwLock<Option<Arc<dyn ProgressListener>>>,
    last: Mutex<Option<UpdateReport>>,
    cancel: CancelHandle,
}

impl Drop for Updater {
    fn drop(&mut self) {
        // An app's HTTP client reads on tokio's blocking threads; a read abandoned by a cancel or a
        // timeout ends only with the client's own read timeout. Dropping the runtime normally would wait
        // for it (up to 30 s in `close()`); shut down without waiting, and let that thread finish alone.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Updater {
    /// Opens the cache (removing leftovers of interrupted work, re-verifying the serving model's hash) and
    /// sets up the client. File I/O: call off the main thread.
    pub fn new(config: UpdaterConfig) -> Result<Self, UpdateError> {
        if config.pinned_keys.is_empty() && config.root.is_none() {
            return Err(UpdateError::Config { reason: "no public key or root key pinned".into() });
        }
        let transport = Transport::new(&config.base_url, config.transport.clone(), config.http.clone())?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .thread_name("hapticmat-delivery")
            .build()
            .map_err(|e| UpdateError::Config { reason: format!("async runtime: {e}") })?;
        let cache = Cache::open(&config.cache_dir)?;
        // Read under the cache's lock: no other updater writes it.
        let trust = config.root.map(|root| Trust::load(&config.cache_dir.join(TRUST), root));
        Ok(Updater {
            trust: Mutex::new(trust),
            config,
            transport,
            runtime: Some(runtime),
            cache: Mutex::new(cache),
            checking: Mutex::new(()),
            loading: Mutex::new(()),
            listener: RwLock::new(None),
            last: Mutex::new(None),
            cancel: CancelHandle::new(),
        })
    }

    /// The model serving now, if one is installed (no I/O).
    pub fn current(&self) -> Option<InstalledModel> {
        self.lock_cache().current()
    }

    /// The known-good model kept to fall back to, if any (no I/O).
    pub fn known_good(&self) -> Option<InstalledModel> {
        self.lock_cache().previous()
    }

    /// Loads the serving model; if it does not load or self-test, falls back to the known-good previous
    /// one (and remembers why). The first load of a newly installed model is a trial: a marker on disk
    /// says so until it finished, and a process that dies in it (a native crash in ONNX Runtime) has the
    /// model refused on the next start. A model file that cannot be read is a storage error, not a
    /// refusal. File I/O and ONNX Runtime work: off the main thread; a running check does not block it.
    pub fn load_current(&self) -> Result<PresenceModel, UpdateError> {
        // One load at a time: two threads trying the same model would share one marker.
        let _one_at_a_time = self.loading.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            let (current, trial) = {
                let cache = self.lock_cache();
                let Some(current) = cache.current() else {
                    return Err(UpdateError::BadModel { reason: "no model installed".into() });
                };
                let trial = cache.current_unproven();
                if trial {
                    cache.begin_trial(current.sequence, &current.sha256, TrialStage::FirstLoad)?;
                }
                (current, trial)
            };
            let loaded = load_checked(&current);
            let mut cache = self.lock_cache();
            match loaded {
                Ok(model) => {
                    if trial {
                        cache.mark_proven(&current.sha256)?;
                        cache.end_trial(TrialStage::FirstLoad)?;
                    }
                    return Ok(model);
                }
                Err(e @ DeliveryError::SelfTest(_)) => {
                    log::warn!("model {} (sequence {}) fails: {e}; falling back", current.version, current.sequence);
                    // A check may have installed another model meanwhile: only demote the one that failed.
                    if cache.current().is_some_and(|m| m.sha256 == current.sha256) {
                        cache.demote_current(e.to_string())?;
                    }
                    cache.end_trial(TrialStage::FirstLoad)?;
                }
                Err(e) => {
                    cache.end_trial(TrialStage::FirstLoad)?;
                    return Err(e.into());
                }
            }
        }
    }

    /// Sets (or clears) the progress listener.
    pub fn set_listener(&self, listener: Option<Arc<dyn ProgressListener>>) {
        if let Ok(mut l) = self.listener.write() {
            *l = listener;
        }
    }

    /// How the last check ended, if one ran.
    pub fn last_outcome(&self) -> Option<UpdateReport> {
        self.last.lock().ok().and_then(|l| l.clone())
    }

    /// A handle that cancels the check in progress from any thread.
    pub fn cancel_handle(&self) -> CancelHandle {
        self.cancel.clone()
    }

    /// Cancels the check in progress, if any.
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// Checks the store now and installs a newer verified model. Blocks (network and file I/O, up to the
    /// configured deadline): call off the main thread, never from inside an async runtime. A check asked
    /// for while another runs waits for it; a cancel meanwhile ends both.
    pub fn check_now(&self) -> Result<UpdateStatus, UpdateError> {
        // Taken before waiting, so a cancel issued while this check waits for the running one reaches it.
        let cancel = self.cancel.for_new_check();
        let _one_at_a_time = self.checking.lock().unwrap_or_else(|p| p.into_inner());
        let mut offered = None;
        let result = match cancel.check() {
            Err(e) => Err(e),
            Ok(()) => self.runtime.as_ref().expect("runtime lives until drop").block_on(async {
                tokio::select! {
                    r = self.check(&cancel, &mut offered) => r,
                    () = cancel.cancelled() => Err(DeliveryError::Cancelled),
                    () = tokio::time::sleep(self.config.deadline) => Err(DeliveryError::Network(format!(
                        "check took longer than {:?}", self.config.deadline
                    ))),
                }
            }),
        };
        let result = result.map_err(UpdateError::from);
        let (outcome, error) = match &result {
            Ok(UpdateStatus::Updated { .. }) => (Outcome::Updated, None),
            Ok(UpdateStatus::UpToDate { .. }) => (Outcome::UpToDate, None),
            Err(e) => (e.outcome(), Some(e.clone())),
        };
        let serving = self.current();
        match &error {
            None => {
                log::info!("model check: {} (serving {:?})", outcome.as_str(), serving.as_ref().map(|m| m.sequence))
            }
            Some(e) => log::warn!("model check: {}: {e}", outcome.as_str()),
        }
        let report =
            UpdateReport { outcome, model: serving, offered_sequence: offered, error, finished_at: SystemTime::now() };
        if let Ok(mut last) = self.last.lock() {
            *last = Some(report);
        }
        self.emit(ProgressEvent::Finished { outcome });
        result
    }

    async fn check(&self, cancel: &CancelHandle, offered: &mut Option<u64>) -> Result<UpdateStatus, DeliveryError> {
        self.emit(ProgressEvent::CheckingManifest);
        self.update_trust(cancel).await?;
        let (installed, etag) = {
            let cache = self.lock_cache();
            let installed = cache.current();
            // Only a manifest that named the serving model, and that was kept to be checked again, may be
            // skipped on 304; without one the request is unconditional and a 304 to it is refused.
            let etag = match (&installed, &cache.state().envelope) {
                (Some(_), Some(_)) => cache.state().etag.clone(),
                _ => None,
            };
            (installed, etag)
        };
        let mut events = |e: TransferEvent| self.emit(e.into());
        let fetched = self.transport.fetch_manifest(LATEST, etag.as_deref(), cancel, &mut events).await?;
        let (bytes, etag) = match fetched {
            ManifestFetch::NotModified => {
                let model = self.not_modified(&self.lock_cache(), installed, offered)?;
                return Ok(UpdateStatus::UpToDate { model });
            }
            ManifestFetch::Fetched { bytes, etag } => (bytes, etag),
        };
        let manifest = self.verify(&bytes)?;
        // Verified, so the bytes are the JSON envelope the publisher wrote.
        let envelope = String::from_utf8_lossy(&bytes).into_owned();
        *offered = Some(manifest.sequence);
        let mut sink = {
            let mut cache = self.lock_cache();
            self.accept(&manifest, &mut cache)?;
            if let Some(model) = installed.filter(|m| m.sequence == manifest.sequence) {
                if model.sha256 != manifest.sha256 {
                    // `accept` compares with the floor; this is the installed model's own sequence.
                    return Err(DeliveryError::Fork {
                        sequence: model.sequence,
                        verified: model.sha256,
                        offered: manifest.sha256.clone(),
                    });
                }
                if cache.current().is_some_and(|c| c.sha256 == model.sha256) {
                    cache.set_manifest(etag, envelope)?;
                }
                return Ok(UpdateStatus::UpToDate { model });
            }
            if let Some(r) = cache.state().refused.as_ref().filter(|r| r.sha256 == manifest.sha256) {
                return Err(DeliveryError::SelfTest(format!("refused before: {}", r.reason)));
            }
            Sink::new_in(cache.models_dir())?
        };

        log::info!(
            "installing model {} (sequence {}, {} bytes) from {}",
            manifest.version,
            manifest.sequence,
            manifest.size,
            self.transport.describe()
        );
        let mut events = |e: TransferEvent| self.emit(e.into());
        self.transport.download(&manifest.object_key, manifest.size, &mut sink, cancel, &mut events).await?;
        self.emit(ProgressEvent::Verifying);
        let (file, sha256) = sink.finish()?;
        if sha256 != manifest.sha256 {
            return Err(DeliveryError::HashMismatch { expected: manifest.sha256.clone(), actual: sha256 });
        }
        // The self-test runs the model in ONNX Runtime: if that kills the process, the marker makes the
        // next start refuse this model.
        self.lock_cache().begin_trial(manifest.sequence, &manifest.sha256, TrialStage::SelfTest)?;
        let tested = self_test(file.path(), &manifest);
        let mut cache = self.lock_cache();
        match tested {
            Ok(()) => {}
            Err(e @ DeliveryError::SelfTest(_)) => {
                // The known-good model keeps serving; remember the refusal so it is not fetched again.
                cache.refuse(&manifest, e.to_string())?;
                cache.end_trial(TrialStage::SelfTest)?;
                return Err(e);
            }
            Err(e) => {
                // Reading the download failed (storage): nothing is known against the model.
                cache.end_trial(TrialStage::SelfTest)?;
                return Err(e);
            }
        }
        // Ended before installing: a crash in between leaves the model uninstalled, not refused.
        cache.end_trial(TrialStage::SelfTest)?;
        cache.install(file, Entry::for_manifest(&manifest), etag, envelope)?;
        let model = cache.current().ok_or_else(|| DeliveryError::io(cache.models_dir(), "install lost the model"))?;
        Ok(UpdateStatus::Updated { model })
    }

    /// With a pinned root: fetches `keys.json` and accepts what it leads to (root rotations, a newer key
    /// set), keeping it in the cache before anything is verified with it. A store without `keys.json`
    /// leaves the accepted key set in force (its expiry bounds how long).
    async fn update_trust(&self, cancel: &CancelHandle) -> Result<(), DeliveryError> {
        let Some(trust) = self.trust.lock().unwrap_or_else(|p| p.into_inner()).clone() else {
            return Ok(());
        };
        let mut events = |e: TransferEvent| self.emit(e.into());
        let bytes = match self.transport.fetch_manifest(KEYS, None, cancel, &mut events).await {
            Ok(ManifestFetch::Fetched { bytes, .. }) => bytes,
            Err(DeliveryError::Http { status: 404, .. }) => return Ok(()),
            Ok(ManifestFetch::NotModified) => {
                return Err(DeliveryError::NotModifiedRefused(format!(
                    "{KEYS} answered 304 to an unconditional request"
                )));
            }
            Err(e) => return Err(e),
        };
        let next = trust.update(&bytes, chrono::Utc::now())?;
        if next != trust {
            if next.root != trust.root {
                log::info!("delivery: root rotated to version {}", next.root.version);
            }
            if let Some((ks, _)) = &next.keyset {
                log::info!(
                    "delivery: accepted key set version {} ({} publisher keys)",
                    ks.version,
                    ks.publishers.len()
                );
            }
            next.save(&self.config.cache_dir.join(TRUST))?;
            *self.trust.lock().unwrap_or_else(|p| p.into_inner()) = Some(next);
        }
        Ok(())
    }

    /// Verifies a manifest envelope: with the accepted key set when a root is pinned, else with the
    /// pinned keys.
    fn verify(&self, envelope_bytes: &[u8]) -> Result<Manifest, DeliveryError> {
        match self.trust.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            Some(trust) => trust.verify_manifest(envelope_bytes, chrono::Utc::now()),
            None => self.config.pinned_keys.verify(envelope_bytes),
        }
    }

    /// A 304 to the conditional request: up to date only if the manifest kept with the serving model
    /// still verifies with the pinned keys (or the accepted key set), still names that model, and is still valid now. A 304 says
    /// nothing about expiry, so without this a frozen store would keep a device on a stale model for ever.
    fn not_modified(
        &self,
        cache: &Cache,
        installed: Option<InstalledModel>,
        offered: &mut Option<u64>,
    ) -> Result<InstalledModel, DeliveryError> {
        let refused = |why: String| DeliveryError::NotModifiedRefused(why);
        let model = installed.ok_or_else(|| refused("no model is installed".into()))?;
        let envelope = cache.state().envelope.as_deref().ok_or_else(|| refused("no verified manifest kept".into()))?;
        let kept = self
            .verify(envelope.as_bytes())
            .map_err(|e| refused(format!("the kept manifest no longer verifies: {e}")))?;
        *offered = Some(kept.sequence);
        if (kept.sequence, kept.sha256.as_str()) != (model.sequence, model.sha256.as_str()) {
            return Err(refused(format!(
                "the kept manifest names sequence {} ({}), the serving model is sequence {} ({})",
                kept.sequence, kept.sha256, model.sequence, model.sha256
            )));
        }
        kept.check_fresh(chrono::Utc::now())?;
        Ok(model)
    }

    /// Signed is not enough: the manifest must be valid now (not expired, not from the future, not valid
    /// for longer than the bound), not below the highest sequence this device has verified, not another
    /// model under a verified sequence, and for this core's contract and size. An accepted manifest
    /// raises the rollback floor (durably) before anything is downloaded.
    fn accept(&self, m: &Manifest, cache: &mut Cache) -> Result<(), DeliveryError> {
        m.check_fresh(chrono::Utc::now())?;
        if let Some(f) = cache.floor() {
            if m.sequence < f.sequence {
                return Err(DeliveryError::Rollback { offered: m.sequence, installed: f.sequence });
            }
            if m.sequence == f.sequence && m.sha256 != f.sha256 {
                return Err(DeliveryError::Fork {
                    sequence: m.sequence,
                    verified: f.sha256.clone(),
                    offered: m.sha256.clone(),
                });
            }
        }
        m.contract.check_supported()?;
        if m.size > self.config.max_model_bytes {
            return Err(DeliveryError::TooLarge { what: "model (manifest size)", limit: self.config.max_model_bytes });
        }
        cache.raise_floor(m)
    }

    fn emit(&self, event: ProgressEvent) {
        let listener = self.listener.read().ok().and_then(|l| l.clone());
        if let Some(l) = listener {
            l.on_progress(event);
        }
    }

    fn lock_cache(&self) -> MutexGuard<'_, Cache> {
        // A panic while holding the lock leaves the cache as its files say, which is always consistent.
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl From<TransferEvent> for ProgressEvent {
    fn from(e: TransferEvent) -> Self {
        match e {
            TransferEvent::Progress { received, total } => ProgressEvent::Downloading { received, total },
            TransferEvent::Retrying { attempt, delay, reason } => {
                ProgressEvent::Retrying { attempt, delay_ms: delay.as_millis() as u64, reason }
            }
        }
    }
}

/// Loads an installed model and runs the self-test windows. Reading the file failing is storage trouble
/// (`Io`); only what ONNX Runtime and the checks say about the bytes is the model's fault (`SelfTest`).
fn load_checked(m: &InstalledModel) -> Result<PresenceModel, DeliveryError> {
    let bytes = std::fs::read(&m.path).map_err(|e| DeliveryError::io(&m.path, e))?;
    let mut model = PresenceModel::from_bytes(&bytes, &m.path).map_err(|e| DeliveryError::SelfTest(e.to_string()))?;
    super::selftest::run_windows(&mut model)?;
    Ok(model)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_updater_can_be_shared_across_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Updater>();
        send_sync::<CancelHandle>();
    }

    #[test]
    fn every_delivery_error_maps_to_an_outcome() {
        let rejected = DeliveryError::Rollback { offered: 1, installed: 2 };
        assert_eq!(UpdateError::from(rejected).outcome(), Outcome::Rejected);
        assert_eq!(UpdateError::from(DeliveryError::Network("reset".into())).outcome(), Outcome::Failed);
        assert_eq!(UpdateError::from(DeliveryError::Cancelled), UpdateError::Cancelled);
    }

    #[test]
    fn an_updater_without_pinned_keys_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = UpdaterConfig::new("http://127.0.0.1:1/", dir.path(), PinnedKeys::default());
        assert!(matches!(Updater::new(cfg), Err(UpdateError::Config { .. })));
    }
}
