//! The on-device model cache: `models/<sha256>.onnx` files and a small `current.json` that names the
//! serving model and the previous known-good one. Every write is a temporary file in the same folder,
//! fsync, rename, fsync of the folder, so after a crash the pointer names a complete, verified file or
//! the one before; anything else found on start is a leftover and removed.

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
}

impl Cache {
    /// Opens (creating) the cache, removes leftovers of interrupted work, and makes sure the pointer names
    /// a file whose bytes match its hash, falling back to the previous model otherwise (file I/O, hashing).
    pub(crate) fn open(dir: &Path) -> Result<Self> {
        let models = dir.join(MODELS_DIR);
        std::fs::create_dir_all(&models).map_err(|e| DeliveryError::io(&models, e))?;
        let state = read_state(&dir.join(CURRENT));
        let mut cache = Cache { dir: dir.to_path_buf(), models, state };
        cache.repair()?;
        cache.clean()?;
        Ok(cache)
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
    pub(crate) fn install(&mut self, file: tempfile::NamedTempFile, entry: Entry, etag: Option<String>) -> Result<()> {
        let dest = self.models.join(&entry.file);
        file.persist(&dest).map_err(|e| DeliveryError::io(&dest, e.error))?;
        sync_dir(&self.models)?;
        let mut next = self.state.clone();
        if next.current.as_ref().is_some_and(|c| c.sha256 != entry.sha256) {
            next.previous = next.current.take();
        }
        next.current = Some(entry);
        next.etag = etag;
        next.refused = None;
        self.commit(next)?;
        self.clean()
    }

    /// Records the ETag of a manifest that names the serving model (a later 304 then means up to date).
    pub(crate) fn set_etag(&mut self, etag: Option<String>) -> Result<()> {
        if self.state.etag == etag {
            return Ok(());
        }
        let next = CacheState { etag, ..self.state.clone() };
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

fn sync_dir(dir: &Path) -> Result<()> {
    // A rename is durable only once the folder itself is on disk.
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(|e| DeliveryError::io(dir, e))
}
