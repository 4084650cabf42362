//! [`ModelUpdater`]: the core's [`Updater`] for the app — check now (a `suspend` function in Kotlin),
//! the serving model, progress listeners and the last outcome.

use super::background::run_blocking;
use super::error::{HapticMatError, Result};
use super::http::{ForeignHttp, StoreHttpClient};
use super::records::{InstalledModelInfo, UpdateOutcome, UpdateProgress, UpdateReport, UpdateResult, UpdaterSettings};
use super::task::lock;
use super::task::{Listeners, LiveObject, TaskHandle};
use crate::delivery::{CancelHandle, PinnedKeys, ProgressEvent, ProgressListener, PublicKey, UpdateStatus, Updater};
use crate::delivery::{HttpClient, PinnedRoot, UpdaterConfig};
use crate::inference::PresenceModel;
use std::sync::{Arc, Mutex};

/// Receives the progress of checks. Called on the checking thread: return quickly.
#[uniffi::export(foreign)]
pub trait UpdateProgressListener: Send + Sync {
    /// One step of the check in progress.
    fn on_progress(&self, progress: UpdateProgress);
}

/// Fetches, verifies and installs presence models from the store into the app's cache folder.
/// `Send + Sync`; one per cache folder.
#[derive(uniffi::Object)]
pub struct ModelUpdater {
    inner: Arc<Updater>,
    /// The serving and known-good models as of the last check or load: these getters must answer at once
    /// (the Model screen reads them), without even the core updater's short cache steps.
    models: Arc<Mutex<Models>>,
    listeners: Arc<Listeners<dyn UpdateProgressListener>>,
    _live: LiveObject,
}

#[derive(Default)]
struct Models {
    current: Option<InstalledModelInfo>,
    known_good: Option<InstalledModelInfo>,
}

impl Models {
    fn read(updater: &Updater) -> Self {
        Models { current: updater.current().map(Into::into), known_good: updater.known_good().map(Into::into) }
    }
}

/// Hands the core's progress events to every subscribed foreign listener.
struct Fanout(Arc<Listeners<dyn UpdateProgressListener>>);

impl ProgressListener for Fanout {
    fn on_progress(&self, event: ProgressEvent) {
        let progress = UpdateProgress::from(event);
        self.0.notify(|l| l.on_progress(progress.clone()));
    }
}

/// Cancels the check when the `checkNow` future is dropped before it finished: Kotlin frees the Rust
/// future when the calling coroutine is cancelled, and that is the only news of it Rust gets.
struct CancelOnDrop {
    handle: CancelHandle,
    armed: bool,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if self.armed {
            self.handle.cancel();
        }
    }
}

impl ModelUpdater {
    /// The serving model, loaded and self-tested (for the monitor).
    pub(crate) fn load_serving_model(&self) -> Result<PresenceModel> {
        if self.inner.current().is_none() {
            return Err(HapticMatError::NoModelInstalled);
        }
        let model = self.inner.load_current();
        // Loading may have fallen back to the known-good model.
        *lock(&self.models) = Models::read(&self.inner);
        Ok(model?)
    }
}

#[uniffi::export]
impl ModelUpdater {
    /// Opens the cache folder (removing leftovers of interrupted work, re-checking the serving model's
    /// hash) and pins the keys. Blocks: file I/O; off the main thread.
    /// HTTP stores are read through the core's own client (hosts); an Android build has none: use
    /// [`with_http_client`](Self::with_http_client) there (`file://` stores work with either).
    #[uniffi::constructor]
    pub fn new(settings: UpdaterSettings) -> Result<Arc<Self>> {
        Self::open(settings, None)
    }

    /// As [`new`](Self::new), reading HTTP stores through the app's client (on Android the AAR passes
    /// `HttpURLConnection`: TLS trusts the device's CA store and the app's network security config).
    #[uniffi::constructor]
    pub fn with_http_client(settings: UpdaterSettings, http: Arc<dyn StoreHttpClient>) -> Result<Arc<Self>> {
        Self::open(settings, Some(http))
    }
}

impl ModelUpdater {
    fn open(settings: UpdaterSettings, http: Option<Arc<dyn StoreHttpClient>>) -> Result<Arc<Self>> {
        if settings.cache_dir.trim().is_empty() {
            return Err(HapticMatError::invalid("cache folder is empty"));
        }
        let keys = settings
            .public_keys
            .iter()
            .enumerate()
            .map(|(i, text)| {
                PublicKey::parse(text).map_err(|e| HapticMatError::invalid(format!("public key {}: {e}", i + 1)))
            })
            .collect::<Result<Vec<_>>>()?;
        let root = settings
            .root_key
            .as_deref()
            .map(|text| {
                PublicKey::parse(text)
                    .map(|key| PinnedRoot { key, version: settings.root_version })
                    .map_err(|e| HapticMatError::invalid(format!("root key: {e}")))
            })
            .transpose()?;
        if keys.is_empty() && root.is_none() {
            return Err(HapticMatError::invalid("no public key or root key to pin: a manifest could never verify"));
        }
        let mut config = UpdaterConfig::new(settings.base_url, settings.cache_dir, PinnedKeys::new(keys));
        config.root = root;
        config.http = http.map(|h| Arc::new(ForeignHttp(h)) as Arc<dyn HttpClient>);
        let inner = Arc::new(Updater::new(config)?);
        let listeners = Listeners::new();
        inner.set_listener(Some(Arc::new(Fanout(listeners.clone()))));
        let models = Arc::new(Mutex::new(Models::read(&inner)));
        Ok(Arc::new(ModelUpdater { inner, models, listeners, _live: LiveObject::new() }))
    }
}

#[uniffi::export]
impl ModelUpdater {
    /// Checks the store now and installs a newer verified model. Runs on its own thread (network and
    /// file I/O, bounded by a 10-minute deadline); `suspend` in Kotlin, safe from any dispatcher.
    /// Cancelling the calling coroutine, or [`cancel`](Self::cancel), ends it with `Cancelled`.
    /// Refusals throw `UpdateUntrusted`, `UpdateRefused` or `ModelRejected`; the serving model stays.
    pub async fn check_now(&self) -> Result<UpdateResult> {
        let updater = self.inner.clone();
        let models = self.models.clone();
        let mut guard = CancelOnDrop { handle: updater.cancel_handle(), armed: true };
        let result = run_blocking("model-check", move || {
            let result = updater.check_now();
            *lock(&models) = Models::read(&updater);
            Ok(result?)
        })
        .await;
        guard.armed = false;
        Ok(match result? {
            UpdateStatus::Updated { model } => UpdateResult { outcome: UpdateOutcome::Updated, model: model.into() },
            UpdateStatus::UpToDate { model } => UpdateResult { outcome: UpdateOutcome::UpToDate, model: model.into() },
        })
    }

    /// Cancels the check in progress, if any (it ends with `Cancelled`). No I/O; any thread.
    pub fn cancel(&self) {
        self.inner.cancel();
    }

    /// The model serving now, if one is installed. No I/O; any thread.
    pub fn current_model(&self) -> Option<InstalledModelInfo> {
        lock(&self.models).current.clone()
    }

    /// The known-good model kept to fall back to, if any. No I/O; any thread.
    pub fn known_good_model(&self) -> Option<InstalledModelInfo> {
        lock(&self.models).known_good.clone()
    }

    /// How the last check ended, if one ran since this updater was created. No I/O; any thread.
    pub fn last_outcome(&self) -> Option<UpdateReport> {
        self.inner.last_outcome().map(Into::into)
    }

    /// Subscribes to the progress of checks from now on. Cancel or close the handle to unsubscribe.
    /// No I/O; any thread.
    pub fn subscribe_progress(&self, listener: Arc<dyn UpdateProgressListener>) -> Arc<TaskHandle> {
        self.listeners.add(listener)
    }

    /// Live progress subscriptions. No I/O; any thread.
    pub fn subscription_count(&self) -> u32 {
        self.listeners.len().try_into().unwrap_or(u32::MAX)
    }
}

impl Drop for ModelUpdater {
    fn drop(&mut self) {
        // A check still running on its thread keeps the core updater alive; it must not keep calling
        // listeners of an object the app has closed.
        self.inner.set_listener(None);
    }
}
