//! The on-device model cache: `models/<sha256>.onnx` files and a small `current.json` that names the
//! serving model and the previous known-good one. Every write is a temporary file in the same folder,
//! fsync, rename, fsync of the folder, so after a crash the pointer names a complete, verified file or
//! the one before; anything else found on start is a leftover and removed.
//!
//! Apart from the pointer, `floor.json` keeps the highest manifest sequence this device has verified and
//! the model it named: the rollback floor. It only ever rises, and nothing that lowers the installed
//! model (a failed download, a fall-back to the previous model, a damaged `current.json`) touches it.
//!
//! One updater at a time owns the folder: `lock` carries an OS advisory lock (flock) for the updater's
//! lifetime, so a second updater on the same folder gets [`DeliveryError::CacheInUse`] instead of
//! cleaning away the first one's download as a leftover. The lock goes with the process, however it ends.
//!
//! A trial marker (`trial-self-test.json`, `trial-first-load.json`) says "trying <sha256>": written (atomically, fsync) before a model's self-test and before
//! the first load of an installed model, removed when that finished either way. Found on start, the
//! process died in the middle (a model that crashes ONNX Runtime natively takes the app with it): the
//! model is refused and the known-good one serves, so the app does not crash again on every start.

use super::manifest::{Manifest, hex, is_sha256_hex};
use super::transport::TEMP_PREFIX;
use super::{DeliveryError, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// File name of the pointer to the serving model.
pub const CURRENT: &str = "current.json";
/// Folder of installed models inside the cache.
pub const MODELS_DIR: &str = "models";
/// File name of the rollback floor: the highest sequence verified, kept apart from the pointer.
pub const FLOOR: &str = "floor.json";
/// File name of the lock file that one updater at a time holds an advisory lock on.
pub const LOCK: &str = "lock";
/// File name of the trial marker of a download's self-test: present only while it runs.
pub const TRIAL_SELF_TEST: &str = "trial-self-test.json";
/// File name of the trial marker of an installed model's first load: present only while it runs. Apart
/// from the self-test's, so a load during a check's self-test cannot remove the other marker.
pub const TRIAL_FIRST_LOAD: &str = "trial-first-load.json";
const STATE_FORMAT: u32 = 1;

/// A model installed in the cache.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstalledModel {
    /// Absolute path of the model file.
    pub path: PathBuf,
    /// SHA-256 of its bytes, hex.
    pub sha256: String,
    /// The manifest sequence it was published under.
    pub sequence: u64,
    /// Its semantic version.
    pub version: String,
    /// Its size in bytes.
    pub size: u64,
    /// The training run it came from (empty for models installed before this was recorded).
    #[serde(default)]
    pub source_run_id: String,
}

/// What `current.json` holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CacheState {
    format: u32,
    /// The model serving now.
    pub(crate) current: Option<Entry>,
    /// The known-good model before it, kept to fall back to.
    pub(crate) previous: Option<Entry>,
    /// ETag of the manifest that named `current` (for the next conditional GET).
    pub(crate) etag: Option<String>,
    /// The newest model refused after download (hash or self-test), not fetched again.
    pub(crate) refused: Option<Refused>,
    /// The verified envelope (as fetched) of the manifest that named `current` under `etag`: a 304 is
    /// accepted only after it verifies again, still names `current` and has not expired. Caches written
    /// before it was kept lack it, and then the manifest is fetched unconditionally.
    #[serde(default)]
    pub(crate) envelope: Option<String>,
    /// SHA-256 of the serving model once a first load of it in service finished: later loads need no
    /// trial marker. Caches written before it was kept lack it, and the next load is a trial again.
    #[serde(default)]
    pub(crate) proven: Option<String>,
}

/// What `trial.json` holds: the model being tried and in which step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Trial {
    pub(crate) sequence: u64,
    pub(crate) sha256: String,
    pub(crate) stage: TrialStage,
}

/// The step of a trial: the self-test of a download, or the first load of an installed model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum TrialStage {
    SelfTest,
    FirstLoad,
}

impl TrialStage {
    fn as_str(self) -> &'static str {
        match self {
            TrialStage::SelfTest => "self-test",
            TrialStage::FirstLoad => "first load",
        }
    }

    /// The marker's file name in the cache folder.
    pub(crate) fn file_name(self) -> &'static str {
        match self {
            TrialStage::SelfTest => TRIAL_SELF_TEST,
            TrialStage::FirstLoad => TRIAL_FIRST_LOAD,
        }
    }
}

/// What `floor.json` holds: the highest sequence a verified, accepted manifest had, and the model it
/// named (the same sequence naming another model is a fork).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Floor {
    pub(crate) sequence: u64,
    pub(crate) sha256: String,
}

/// A model as `current.json` records it (file name relative to the models folder).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Entry {
    pub(crate) file: String,
    pub(crate) sha256: String,
    pub(crate) sequence: u64,
    pub(crate) version: String,
    pub(crate) size: u64,
    /// Caches written before the run id was recorded lack it.
    #[serde(default)]
    pub(crate) source_run_id: String,
}

/// A published model this device refused, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Refused {
    pub(crate) sequence: u64,
    pub(crate) sha256: String,
    pub(crate) reason: String,
}

impl Entry {
    pub(crate) fn for_manifest(m: &Manifest) -> Self {
        Entry {
            file: format!("{}.onnx", m.sha256),
            sha256: m.sha256.clone(),
            sequence: m.sequence,
            version: m.version.to_string(),
            size: m.size,
            source_run_id: m.source_run_id.clone(),
        }
    }
}

/// The cache folder.
pub(crate) struct Cache {
    dir: PathBuf,
    models: PathBuf,
    state: CacheState,
    floor: Option<Floor>,
    /// Holds the advisory lock on `lock` while the cache is open (released when dropped or the process ends).
    _lock: std::fs::File,
}

impl Cache {
    /// Opens (creating) the cache and locks it for this updater's lifetime (another updater holding it:
    /// [`DeliveryError::CacheInUse`], and nothing is touched), refuses a model whose trial never finished,
    /// removes leftovers of interrupted work, and makes sure the pointer names a file whose bytes match its
    /// hash, falling back to the previous model otherwise (file I/O, hashing).
    pub(crate) fn open(dir: &Path) -> Result<Self> {
        let models = dir.join(MODELS_DIR);
        std::fs::create_dir_all(&models).map_err(|e| DeliveryError::io(&models, e))?;
        // First of all: until the lock is held, another updater may be downloading into this folder.
        let lock = lock_folder(dir)?;
        let state = read_state(&dir.join(CURRENT));
        let floor = read_floor(&dir.join(FLOOR));
        let mut cache = Cache { dir: dir.to_path_buf(), models, state, floor, _lock: lock };
        // A cache from before the floor was kept (or whose floor file was damaged from outside): the
        // installed models are the best lower bound there is. Recorded before `repair` can drop them.
        let installed = [&cache.state.current, &cache.state.previous]
            .into_iter()
            .flatten()
            .max_by_key(|e| e.sequence)
            .map(|e| Floor { sequence: e.sequence, sha256: e.sha256.clone() });
        if let Some(f) = installed.filter(|f| cache.floor.as_ref().is_none_or(|c| f.sequence > c.sequence)) {
            cache.write_floor(f)?;
        }
        cache.finish_unfinished_trials()?;
        cache.repair()?;
        cache.clean()?;
        Ok(cache)
    }

    /// The highest sequence verified on this device and the model it named, if any.
    pub(crate) fn floor(&self) -> Option<&Floor> {
        self.floor.as_ref()
    }

    /// Raises the rollback floor to this manifest's sequence (never lowers it; durable before returning).
    pub(crate) fn raise_floor(&mut self, m: &Manifest) -> Result<()> {
        if self.floor.as_ref().is_some_and(|f| f.sequence >= m.sequence) {
            return Ok(());
        }
        self.write_floor(Floor { sequence: m.sequence, sha256: m.sha256.clone() })
    }

    fn write_floor(&mut self, floor: Floor) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(&floor).map_err(|e| DeliveryError::io(&self.dir, e))?;
        write_atomic(&self.dir.join(FLOOR), &bytes)?;
        self.floor = Some(floor);
        Ok(())
    }

    /// Records durably that `sha256` is being tried now (before its self-test or first load).
    pub(crate) fn begin_trial(&self, sequence: u64, sha256: &str, stage: TrialStage) -> Result<()> {
        let trial = Trial { sequence, sha256: sha256.to_string(), stage };
        let bytes = serde_json::to_vec_pretty(&trial).map_err(|e| DeliveryError::io(&self.dir, e))?;
        write_atomic(&self.dir.join(stage.file_name()), &bytes)?;
        log::info!("model cache: trying model {sha256} (sequence {sequence}): {}", stage.as_str());
        Ok(())
    }

    /// The trial finished (passed or refused in an orderly way): removes the marker, durably.
    pub(crate) fn end_trial(&self, stage: TrialStage) -> Result<()> {
        let path = self.dir.join(stage.file_name());
        match std::fs::remove_file(&path) {
            Ok(()) => sync_dir(&self.dir),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(DeliveryError::io(&path, e)),
        }
    }

    /// Whether the serving model needs a trial marker for its next load (no first load of it finished).
    pub(crate) fn current_unproven(&self) -> bool {
        self.state.current.as_ref().is_some_and(|c| self.state.proven.as_ref() != Some(&c.sha256))
    }

    /// A first load of the serving model `sha256` finished: later loads are not trials.
    pub(crate) fn mark_proven(&mut self, sha256: &str) -> Result<()> {
        if self.state.proven.as_deref() == Some(sha256) {
            return Ok(());
        }
        let next = CacheState { proven: Some(sha256.to_string()), ..self.state.clone() };
        self.commit(next)
    }

    /// Trial markers found on start: the process died while trying those models.
    fn finish_unfinished_trials(&mut self) -> Result<()> {
        self.finish_unfinished_trial(TrialStage::SelfTest)?;
        self.finish_unfinished_trial(TrialStage::FirstLoad)
    }

    /// Unless the model's first load was recorded as finished, the model of an unfinished trial is refused;
    /// if it serves, the known-good one takes over.
    fn finish_unfinished_trial(&mut self, stage: TrialStage) -> Result<()> {
        let path = self.dir.join(stage.file_name());
        let trial = match std::fs::read(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(DeliveryError::io(&path, e)),
            Ok(bytes) => serde_json::from_slice::<Trial>(&bytes),
        };
        match trial {
            Ok(t) if self.state.proven.as_ref() == Some(&t.sha256) => {}
            Ok(t) => {
                let reason = format!("its {} never finished: the app ended in the middle of it", t.stage.as_str());
                log::warn!("model cache: model {} (sequence {}): {reason}; refusing it", t.sha256, t.sequence);
                let mut next = self.state.clone();
                if next.current.as_ref().is_some_and(|c| c.sha256 == t.sha256) {
                    next.current = next.previous.take();
                    next.etag = None;
                    next.envelope = None;
                }
                next.refused = Some(Refused { sequence: t.sequence, sha256: t.sha256, reason });
                self.commit(next)?;
            }
            // Written atomically, so this is damage from outside; nothing says which model to refuse.
            Err(e) => log::warn!("model cache: {} is unreadable ({e}); ignoring it", path.display()),
        }
        self.end_trial(stage)
    }

    /// The folder downloads go to (same filesystem as the installed models, so installing is a rename).
    pub(crate) fn models_dir(&self) -> &Path {
        &self.models
    }

    pub(crate) fn state(&self) -> &CacheState {
        &self.state
    }

    /// The serving model, if any.
    pub(crate) fn current(&self) -> Option<InstalledModel> {
        self.state.current.as_ref().map(|e| self.installed(e))
    }

    /// The known-good model kept for fall-back, if any.
    pub(crate) fn previous(&self) -> Option<InstalledModel> {
        self.state.previous.as_ref().map(|e| self.installed(e))
    }

    fn installed(&self, e: &Entry) -> InstalledModel {
        InstalledModel {
            path: self.models.join(&e.file),
            sha256: e.sha256.clone(),
            sequence: e.sequence,
            version: e.version.clone(),
            size: e.size,
            source_run_id: e.source_run_id.clone(),
        }
    }

    /// Moves a verified download into place and points `current.json` at it; the old current becomes
    /// the known-good previous.
    pub(crate) fn install(
        &mut self,
        file: tempfile::NamedTempFile,
        entry: Entry,
        etag: Option<String>,
        envelope: String,
    ) -> Result<()> {
        let dest = self.models.join(&entry.file);
        file.persist(&dest).map_err(|e| DeliveryError::io(&dest, e.error))?;
        sync_dir(&self.models)?;
        let mut next = self.state.clone();
        if next.current.as_ref().is_some_and(|c| c.sha256 != entry.sha256) {
            next.previous = next.current.take();
        }
        next.current = Some(entry);
        next.etag = etag;
        next.envelope = Some(envelope);
        next.refused = None;
        self.commit(next)?;
        self.clean()
    }

    /// Records the ETag and verified envelope of a manifest that names the serving model (a later 304
    /// then means up to date, once the envelope verifies again and has not expired).
    pub(crate) fn set_manifest(&mut self, etag: Option<String>, envelope: String) -> Result<()> {
        if self.state.etag == etag && self.state.envelope.as_ref() == Some(&envelope) {
            return Ok(());
        }
        let next = CacheState { etag, envelope: Some(envelope), ..self.state.clone() };
        self.commit(next)
    }

    /// Remembers a refused model so the next check does not download it again.
    pub(crate) fn refuse(&mut self, m: &Manifest, reason: String) -> Result<()> {
        let next = CacheState {
            refused: Some(Refused { sequence: m.sequence, sha256: m.sha256.clone(), reason }),
            ..self.state.clone()
        };
        self.commit(next)
    }

    /// The serving model failed to load: serve the previous one and remember why.
    pub(crate) fn demote_current(&mut self, reason: String) -> Result<()> {
        let mut next = self.state.clone();
        if let Some(bad) = next.current.take() {
            next.refused = Some(Refused { sequence: bad.sequence, sha256: bad.sha256, reason });
        }
        next.current = next.previous.take();
        next.etag = None;
        next.envelope = None;
        self.commit(next)?;
        self.clean()
    }

    fn commit(&mut self, mut next: CacheState) -> Result<()> {
        next.format = STATE_FORMAT;
        let bytes = serde_json::to_vec_pretty(&next).map_err(|e| DeliveryError::io(&self.dir, e))?;
        write_atomic(&self.dir.join(CURRENT), &bytes)?;
        self.state = next;
        Ok(())
    }

    /// The pointer must name complete, verified files: check both against their hashes.
    fn repair(&mut self) -> Result<()> {
        let ok = |e: &Option<Entry>| e.as_ref().is_none_or(|e| self.verify_file(e));
        let (current_ok, previous_ok) = (ok(&self.state.current), ok(&self.state.previous));
        if current_ok && previous_ok {
            return Ok(());
        }
        let mut next = self.state.clone();
        if !previous_ok {
            log::warn!("model cache: the known-good model is missing or damaged; dropping it");
            next.previous = None;
        }
        if !current_ok {
            log::warn!("model cache: the serving model is missing or damaged; falling back to the previous one");
            next.current = next.previous.take();
            next.etag = None;
            next.envelope = None;
        }
        self.commit(next)
    }

    fn verify_file(&self, e: &Entry) -> bool {
        if !is_sha256_hex(&e.sha256) || e.file != format!("{}.onnx", e.sha256) {
            return false;
        }
        std::fs::read(self.models.join(&e.file))
            .is_ok_and(|b| b.len() as u64 == e.size && hex(&Sha256::digest(&b)) == e.sha256)
    }

    /// Removes download temporaries, stray temporary pointers, and models the pointer no longer names.
    pub(crate) fn clean(&self) -> Result<()> {
        let keep: Vec<&str> =
            [&self.state.current, &self.state.previous].into_iter().flatten().map(|e| e.file.as_str()).collect();
        for (dir, is_leftover) in [
            (&self.models, &(|name: &str| !keep.contains(&name)) as &dyn Fn(&str) -> bool),
            (&self.dir, &|name: &str| name.starts_with(TEMP_PREFIX) || name.starts_with(STATE_TEMP_PREFIX)),
        ] {
            let entries = std::fs::read_dir(dir).map_err(|e| DeliveryError::io(dir, e))?;
            for entry in entries.flatten() {
                let name = entry.file_name();
                let name = name.to_string_lossy();
                if entry.file_type().is_ok_and(|t| t.is_file()) && is_leftover(&name) {
                    log::info!("model cache: removing leftover {name}");
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        Ok(())
    }
}

const STATE_TEMP_PREFIX: &str = ".current-";

fn read_floor(path: &Path) -> Option<Floor> {
    let bytes = std::fs::read(path).ok()?;
    serde_json::from_slice(&bytes)
        .inspect_err(|e| {
            // Written atomically, so this is damage from outside; the installed models bound it from below.
            log::warn!(
                "model cache: {} is unreadable ({e}); the rollback floor falls back to the installed models",
                path.display()
            );
        })
        .ok()
}

fn read_state(path: &Path) -> CacheState {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            // Written atomically, so this is damage from outside; starting empty re-fetches a model.
            log::warn!("model cache: {} is unreadable ({e}); starting empty", path.display());
            CacheState::default()
        }),
        Err(_) => CacheState::default(),
    }
}

/// Writes `bytes` to `path` atomically, its temporary named so the start-up cleanup recognises it.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    crate::fsutil::write_atomic_with_prefix(path, bytes, STATE_TEMP_PREFIX).map_err(|e| DeliveryError::io(path, e))
}

/// Takes the advisory lock on the cache folder's lock file without waiting: an updater lives as long as
/// the app, so waiting for another one could be for ever; the caller learns at once who holds the folder.
fn lock_folder(dir: &Path) -> Result<std::fs::File> {
    let path = dir.join(LOCK);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| DeliveryError::io(&path, e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(DeliveryError::CacheInUse { path: path.display().to_string() }),
        Err(std::fs::TryLockError::Error(e)) => Err(DeliveryError::io(&path, e)),
    }
}

fn sync_dir(dir: &Path) -> Result<()> {
    // A rename is durable only once the folder itself is on disk.
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(|e| DeliveryError::io(dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::testing::manifest;
    use std::io::Write;

    fn install(cache: &mut Cache, sequence: u64, bytes: &[u8]) -> Manifest {
        let m = manifest(sequence, bytes);
        let mut f = tempfile::Builder::new().prefix(TEMP_PREFIX).tempfile_in(cache.models_dir()).unwrap();
        f.write_all(bytes).unwrap();
        cache.raise_floor(&m).unwrap();
        cache.install(f, Entry::for_manifest(&m), None, String::new()).unwrap();
        m
    }

    fn floor_of(cache: &Cache) -> Option<u64> {
        cache.floor().map(|f| f.sequence)
    }

    #[test]
    fn the_floor_only_rises_whatever_lowers_the_installed_model() {
        let dir = tempfile::tempdir().unwrap();
        let mut cache = Cache::open(dir.path()).unwrap();
        assert_eq!(floor_of(&cache), None);
        install(&mut cache, 1, b"model one");
        install(&mut cache, 2, b"model two");
        // Sequence 3 verified, its download never completed.
        cache.raise_floor(&manifest(3, b"model three")).unwrap();
        cache.raise_floor(&manifest(1, b"model one")).unwrap();
        assert_eq!(floor_of(&cache), Some(3), "never lowered");
        // The serving model fails: fall back to sequence 1. The floor stays.
        cache.demote_current("does not load".into()).unwrap();
        assert_eq!(cache.current().map(|m| m.sequence), Some(1));
        assert_eq!(floor_of(&cache), Some(3));
        // Reopened from disk, with the pointer damaged from outside: still 3.
        std::fs::write(dir.path().join(CURRENT), b"\0\0garbage").unwrap();
        drop(cache);
        let cache = Cache::open(dir.path()).unwrap();
        assert_eq!(cache.current(), None);
        assert_eq!(cache.floor(), Some(&Floor { sequence: 3, sha256: manifest(3, b"model three").sha256 }));
    }

    #[test]
    fn a_cache_without_a_floor_takes_the_installed_models_as_its_floor() {
        let dir = tempfile::tempdir().unwrap();
        let mut cache = Cache::open(dir.path()).unwrap();
        install(&mut cache, 4, b"model four");
        // A cache from before the floor existed, or whose floor file was damaged.
        std::fs::write(dir.path().join(FLOOR), b"not json").unwrap();
        drop(cache);
        let cache = Cache::open(dir.path()).unwrap();
        assert_eq!(floor_of(&cache), Some(4));
        std::fs::remove_file(dir.path().join(FLOOR)).unwrap();
        drop(cache);
        let cache = Cache::open(dir.path()).unwrap();
        assert_eq!(floor_of(&cache), Some(4));
        assert!(dir.path().join(FLOOR).exists(), "written back at once");
    }

    #[test]
    fn one_cache_folder_opens_once_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        let second = Cache::open(dir.path()).err();
        assert_eq!(second, Some(DeliveryError::CacheInUse { path: dir.path().join(LOCK).display().to_string() }));
        drop(cache);
        Cache::open(dir.path()).expect("the lock goes with the cache");
    }

    #[test]
    fn an_unfinished_trial_refuses_its_model_unless_its_first_load_was_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let mut cache = Cache::open(dir.path()).unwrap();
        let one = install(&mut cache, 1, b"model one");
        let two = install(&mut cache, 2, b"model two");
        // Died during the first load of two: one serves again, two is refused.
        cache.begin_trial(2, &two.sha256, TrialStage::FirstLoad).unwrap();
        drop(cache);
        let mut cache = Cache::open(dir.path()).unwrap();
        assert_eq!(cache.current().map(|m| m.sha256), Some(one.sha256.clone()));
        assert_eq!(cache.state().refused.as_ref().map(|r| r.sha256.clone()), Some(two.sha256.clone()));
        assert!(!dir.path().join(TRIAL_FIRST_LOAD).exists());
        // Died after one's first load was recorded but before the marker went: no refusal.
        cache.begin_trial(1, &one.sha256, TrialStage::FirstLoad).unwrap();
        cache.mark_proven(&one.sha256).unwrap();
        drop(cache);
        let cache = Cache::open(dir.path()).unwrap();
        assert_eq!(cache.current().map(|m| m.sha256), Some(one.sha256.clone()));
        assert!(!cache.current_unproven());
        assert_eq!(cache.state().refused.as_ref().map(|r| r.sha256.clone()), Some(two.sha256));
    }

    #[test]
    fn a_first_load_ending_during_a_self_test_leaves_the_self_test_marker() {
        let dir = tempfile::tempdir().unwrap();
        let mut cache = Cache::open(dir.path()).unwrap();
        let one = install(&mut cache, 1, b"model one");
        let two = manifest(2, b"model two");
        cache.begin_trial(2, &two.sha256, TrialStage::SelfTest).unwrap();
        // The app loads the serving model while a check self-tests the download.
        cache.begin_trial(1, &one.sha256, TrialStage::FirstLoad).unwrap();
        cache.mark_proven(&one.sha256).unwrap();
        cache.end_trial(TrialStage::FirstLoad).unwrap();
        // The self-test kills the process.
        drop(cache);
        let cache = Cache::open(dir.path()).unwrap();
        assert_eq!(cache.state().refused.as_ref().map(|r| r.sha256.clone()), Some(two.sha256));
        assert_eq!(cache.current().map(|m| m.sha256), Some(one.sha256));
    }
}
