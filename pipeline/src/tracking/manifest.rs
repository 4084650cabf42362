//! `manifest.json`, the list of a run's artifacts with their SHA-256 and size. `pipeline log` uploads it
//! last, after every file it lists; `promote` trusts an artifact only if its bytes match this list.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Name of the manifest among a run's artifacts.
pub const MANIFEST_FILE: &str = "manifest.json";
/// Version of the manifest's layout.
pub const MANIFEST_SCHEMA_VERSION: u32 = 1;

/// What `manifest.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ArtifactManifest {
    /// [`MANIFEST_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The MLflow run the artifacts belong to.
    pub run_id: String,
    /// Every uploaded artifact except the manifest itself.
    pub artifacts: Vec<ArtifactEntry>,
}

/// One artifact in the manifest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ArtifactEntry {
    /// Path relative to the run's artifact root.
    pub path: String,
    /// SHA-256 of its bytes, lowercase hex.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
}

impl ArtifactEntry {
    /// The entry of these bytes at this path.
    pub fn of(path: impl Into<String>, bytes: &[u8]) -> Self {
        ArtifactEntry { path: path.into(), sha256: sha256_hex(bytes), size: bytes.len() as u64 }
    }
}

impl ArtifactManifest {
    /// The entry of a path.
    pub fn entry(&self, path: &str) -> Option<&ArtifactEntry> {
        self.artifacts.iter().find(|a| a.path == path)
    }
}

/// SHA-256 of bytes, lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}
