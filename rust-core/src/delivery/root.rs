//! Key rotation the TUF way, scaled down to one model file (docs/design.md §7a, docs/operations.md
//! "Key rotation").
//!
//! - A **root** key, kept offline, signs the **key set**: which publisher keys may sign `latest.json`,
//!   which are revoked, with its own version and expiry. The app build pins the root's public key
//!   ([`PinnedRoot`]); publisher keys then change without an app update.
//! - The root itself rotates by a **root rotation**: the new root's public key and a version, signed by the
//!   old root. A phone follows the chain from the root it trusts, one version after the other.
//! - The store keeps both in `keys.json` next to `latest.json` ([`KeysDocument`]). A phone accepts a key
//!   set only when the current root signed it, its version is not below the one it accepted before (the
//!   same version must be the same bytes), and it is valid now; it keeps what it accepted in `trust.json`
//!   in its cache, so a store that later hides or replays `keys.json` cannot bring a revoked key back.
//! - A manifest signed by a revoked key, or by a key the key set does not list, is refused.
//!
//! All documents are signed over their exact bytes in the same envelope as manifests.

use super::manifest::{MAX_CLOCK_SKEW_SECS, MAX_MANIFEST_BYTES, Manifest};
use super::signing::{Envelope, KeyId, PinnedKeys, PublicKey, Signer25519};
use super::{DeliveryError, Result};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Object name of the key document in the store, next to `latest.json`.
pub const KEYS: &str = "keys.json";
/// File name of the accepted root and key set in the phone's cache.
pub const TRUST: &str = "trust.json";
/// Longest validity of a key set: the root is offline, so it is signed rarely, but never for ever.
pub const MAX_KEYSET_VALIDITY_DAYS: i64 = 800;

const KIND_KEYSET: &str = "hapticmat-keyset";
const KIND_ROOT: &str = "hapticmat-root";

/// The root an app build pins: its public key and the version of the root document it stands for
/// (1 for the first root; a later build may pin a rotated root at its version).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PinnedRoot {
    /// The root's public key.
    pub key: PublicKey,
    /// Its version.
    pub version: u64,
}

/// Which publisher keys may sign manifests (signed by the root).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeySet {
    /// Always `hapticmat-keyset` (a signed root rotation is not a key set).
    pub kind: String,
    /// Strictly increasing with every new key set.
    pub version: u64,
    /// When it was signed.
    pub created_at: DateTime<Utc>,
    /// After this, a phone refuses it (and every manifest) until a newer one is published.
    pub expires_at: DateTime<Utc>,
    /// Publisher public keys, 32 raw bytes in base64.
    pub publishers: Vec<String>,
    /// Key ids that must never be trusted again, even when a key set lists them.
    #[serde(default)]
    pub revoked: Vec<KeyId>,
}

/// A new root, signed by the root before it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RootRotation {
    /// Always `hapticmat-root`.
    pub kind: String,
    /// The new root's version: the previous root's plus one.
    pub version: u64,
    /// The new root's public key, 32 raw bytes in base64.
    pub key: String,
    /// When it was signed.
    pub created_at: DateTime<Utc>,
}

/// `keys.json`: the root rotations in order, then the key set signed by the newest root.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeysDocument {
    /// Each signed by the root before it, versions 2, 3, … (empty while the first root serves).
    #[serde(default)]
    pub root_rotations: Vec<Envelope>,
    /// The key set, signed by the newest root.
    pub keyset: Option<Envelope>,
}

impl KeysDocument {
    /// Reads `keys.json` (bounded like a manifest).
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        if bytes.len() > MAX_MANIFEST_BYTES {
            return Err(DeliveryError::KeySet(format!("{} bytes, more than {MAX_MANIFEST_BYTES}", bytes.len())));
        }
        serde_json::from_slice(bytes).map_err(|e| DeliveryError::KeySet(format!("malformed {KEYS}: {e}")))
    }

    /// The document as JSON bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).unwrap_or_default();
        v.push(b'\n');
        v
    }
}

fn raw_key(key: &PublicKey) -> String {
    BASE64.encode(key.0.as_bytes())
}

impl KeySet {
    /// A key set valid from now for `valid_days`.
    pub fn new(version: u64, publishers: &[PublicKey], revoked: Vec<KeyId>, valid_days: i64) -> Self {
        let created_at = Utc::now();
        KeySet {
            kind: KIND_KEYSET.into(),
            version,
            created_at,
            expires_at: created_at + chrono::Duration::days(valid_days),
            publishers: publishers.iter().map(raw_key).collect(),
            revoked,
        }
    }

    /// Signs it with the root key.
    pub fn sign(&self, root: &Signer25519) -> Envelope {
        root.sign_bytes(&serde_json::to_vec_pretty(self).unwrap_or_default())
    }

    /// The publisher keys that may sign manifests: listed and not revoked.
    pub fn trusted_keys(&self) -> Result<PinnedKeys> {
        let keys = self.publishers.iter().map(|k| PublicKey::parse(k)).collect::<Result<Vec<_>>>()?;
        Ok(PinnedKeys::new(keys.into_iter().filter(|k| !self.revoked.contains(&k.id()))))
    }

    /// Valid now: not expired, not from the future beyond the clock skew, not valid for longer than the bound.
    pub fn check_fresh(&self, now: DateTime<Utc>) -> Result<()> {
        if self.created_at - now > chrono::Duration::seconds(MAX_CLOCK_SKEW_SECS) {
            return Err(DeliveryError::KeySet(format!(
                "key set version {} created at {}, more than {MAX_CLOCK_SKEW_SECS} s after now ({now})",
                self.version, self.created_at
            )));
        }
        if self.expires_at - self.created_at > chrono::Duration::days(MAX_KEYSET_VALIDITY_DAYS) {
            return Err(DeliveryError::KeySet(format!(
                "key set version {} is valid for more than {MAX_KEYSET_VALIDITY_DAYS} days",
                self.version
            )));
        }
        if now >= self.expires_at {
            return Err(DeliveryError::KeySetExpired {
                version: self.version,
                expires_at: self.expires_at.to_rfc3339(),
                now: now.to_rfc3339(),
            });
        }
        Ok(())
    }
}

impl RootRotation {
    /// The rotation to `new_root` at `version`; sign it with the old root.
    pub fn new(version: u64, new_root: &PublicKey) -> Self {
        RootRotation { kind: KIND_ROOT.into(), version, key: raw_key(new_root), created_at: Utc::now() }
    }

    /// Signs it with the old root key.
    pub fn sign(&self, old_root: &Signer25519) -> Envelope {
        old_root.sign_bytes(&serde_json::to_vec_pretty(self).unwrap_or_default())
    }
}

/// What a phone trusts: a root (pinned or reached by rotations) and the key set it accepted, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trust {
    /// The current root.
    pub root: PinnedRoot,
    /// The accepted key set and its envelope as fetched.
    pub keyset: Option<(KeySet, Envelope)>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TrustFile {
    root_version: u64,
    root_key: String,
    keyset: Option<Envelope>,
}

impl Trust {
    /// Trust in the pinned root alone.
    pub fn new(root: PinnedRoot) -> Self {
        Trust { root, keyset: None }
    }

    /// Checks `keys.json` against this trust and returns the trust it leads to: the root rotations are
    /// followed from the current root (each signed by the one before, versions one after the other; older
    /// ones are skipped), then the key set must verify with the root reached, not be older than the one
    /// accepted (the same version must be the same document), and be valid at `now`.
    pub fn update(&self, keys_json: &[u8], now: DateTime<Utc>) -> Result<Trust> {
        let doc = KeysDocument::parse(keys_json)?;
        let mut root = self.root;
        for env in &doc.root_rotations {
            let payload = PinnedKeys::new([root.key]).verify_payload(env);
            let rotation = match payload {
                Ok(p) => serde_json::from_slice::<RootRotation>(&p)
                    .map_err(|e| DeliveryError::KeySet(format!("malformed root rotation: {e}")))?,
                // A rotation this device has already followed is signed by a root before the current one.
                Err(_) if self.root_rotation_is_old(env) => continue,
                Err(e) => {
                    return Err(DeliveryError::KeySet(format!(
                        "root rotation not signed by the current root (version {}): {}",
                        root.version,
                        signature_failure(e)
                    )));
                }
            };
            if rotation.kind != KIND_ROOT {
                return Err(DeliveryError::KeySet(format!("a root rotation of kind {:?}", rotation.kind)));
            }
            if rotation.version <= root.version {
                continue;
            }
            if rotation.version != root.version + 1 {
                return Err(DeliveryError::KeySet(format!(
                    "root rotation to version {} skips from version {}",
                    rotation.version, root.version
                )));
            }
            root = PinnedRoot { key: PublicKey::parse(&rotation.key)?, version: rotation.version };
        }
        let env = doc.keyset.ok_or_else(|| DeliveryError::KeySet(format!("{KEYS} holds no key set")))?;
        let keyset = verify_keyset(&root, &env)?;
        if let Some((kept, kept_env)) = &self.keyset {
            if keyset.version < kept.version {
                return Err(DeliveryError::KeySetRollback { offered: keyset.version, trusted: kept.version });
            }
            if keyset.version == kept.version && &env != kept_env {
                return Err(DeliveryError::KeySet(format!(
                    "key set version {} differs from the one this device accepted under that version",
                    keyset.version
                )));
            }
        }
        keyset.check_fresh(now)?;
        Ok(Trust { root, keyset: Some((keyset, env)) })
    }

    /// Whether this envelope is signed by a root older than the current one (a rotation already followed):
    /// the pinned chain is not kept, so this is judged by the key id not being the current root's.
    fn root_rotation_is_old(&self, env: &Envelope) -> bool {
        env.key_id != self.root.key.id()
            && BASE64
                .decode(&env.payload)
                .ok()
                .and_then(|p| serde_json::from_slice::<RootRotation>(&p).ok())
                .is_some_and(|r| r.version <= self.root.version)
    }

    /// Verifies a manifest envelope with the accepted key set: the key must be listed and not revoked, the
    /// key set still valid.
    pub fn verify_manifest(&self, envelope_bytes: &[u8], now: DateTime<Utc>) -> Result<Manifest> {
        let (keyset, _) = self
            .keyset
            .as_ref()
            .ok_or_else(|| DeliveryError::KeySet(format!("no key set accepted yet (the store has no {KEYS})")))?;
        keyset.check_fresh(now)?;
        let env = Envelope::parse(envelope_bytes)?;
        if keyset.revoked.contains(&env.key_id) {
            return Err(DeliveryError::RevokedKey { key_id: env.key_id.0.clone(), keyset_version: keyset.version });
        }
        keyset.trusted_keys()?.verify(envelope_bytes)
    }

    /// Reads the trust kept in a cache; the key set kept there must still verify with the root kept with
    /// it. A root older than the pinned one (an app update pinned a newer root) starts over from the pin.
    pub(crate) fn load(path: &std::path::Path, pinned: PinnedRoot) -> Trust {
        let kept = std::fs::read(path).ok().and_then(|bytes| {
            let f: TrustFile = serde_json::from_slice(&bytes)
                .inspect_err(|e| log::warn!("{} is unreadable ({e}); trusting the pinned root", path.display()))
                .ok()?;
            let root = PinnedRoot { key: PublicKey::parse(&f.root_key).ok()?, version: f.root_version };
            let keyset = match f.keyset {
                Some(env) => Some((verify_keyset(&root, &env).ok()?, env)),
                None => None,
            };
            Some(Trust { root, keyset })
        });
        match kept {
            Some(t) if t.root.version > pinned.version || t.root == pinned => t,
            _ => Trust::new(pinned),
        }
    }

    /// Keeps this trust in the cache (atomic, fsync).
    pub(crate) fn save(&self, path: &std::path::Path) -> Result<()> {
        let f = TrustFile {
            root_version: self.root.version,
            root_key: raw_key(&self.root.key),
            keyset: self.keyset.as_ref().map(|(_, env)| env.clone()),
        };
        let bytes = serde_json::to_vec_pretty(&f).map_err(|e| DeliveryError::io(path, e))?;
        super::cache::write_atomic(path, &bytes)
    }
}

/// The signature failure of a root document, in its own words (the shared verifier speaks of manifests).
fn signature_failure(e: DeliveryError) -> String {
    match e {
        DeliveryError::UnknownKey { key_id } => format!("signed by key id {key_id}, which is not that root"),
        DeliveryError::BadSignature { key_id } => format!("the signature of key id {key_id} does not verify"),
        e => e.to_string(),
    }
}

fn verify_keyset(root: &PinnedRoot, env: &Envelope) -> Result<KeySet> {
    let payload = PinnedKeys::new([root.key]).verify_payload(env).map_err(|e| {
        DeliveryError::KeySet(format!(
            "key set not signed by the current root (version {}): {}",
            root.version,
            signature_failure(e)
        ))
    })?;
    let keyset: KeySet =
        serde_json::from_slice(&payload).map_err(|e| DeliveryError::KeySet(format!("malformed key set: {e}")))?;
    if keyset.kind != KIND_KEYSET {
        return Err(DeliveryError::KeySet(format!("a key set of kind {:?}", keyset.kind)));
    }
    Ok(keyset)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::testing::manifest;

    fn doc(rotations: Vec<Envelope>, keyset: Envelope) -> Vec<u8> {
        KeysDocument { root_rotations: rotations, keyset: Some(keyset) }.to_bytes()
    }

    #[test]
    fn a_key_set_signed_by_the_root_admits_its_publishers_and_not_revoked_ones() {
        let (root, p1, p2) =
            (Signer25519::generate().unwrap(), Signer25519::generate().unwrap(), Signer25519::generate().unwrap());
        let pinned = PinnedRoot { key: root.public_key(), version: 1 };
        let now = Utc::now();
        let v1 = KeySet::new(1, &[p1.public_key()], vec![], 365).sign(&root);
        let t = Trust::new(pinned).update(&doc(vec![], v1), now).unwrap();
        let m = manifest(1, b"m");
        assert_eq!(t.verify_manifest(&p1.sign(&m).unwrap().to_bytes(), now).unwrap(), m);
        // Version 2 moves to p2 and revokes p1.
        let v2 = KeySet::new(2, &[p1.public_key(), p2.public_key()], vec![p1.public_key().id()], 365).sign(&root);
        let t = t.update(&doc(vec![], v2), now).unwrap();
        assert!(t.verify_manifest(&p2.sign(&m).unwrap().to_bytes(), now).is_ok());
        let e = t.verify_manifest(&p1.sign(&m).unwrap().to_bytes(), now).unwrap_err();
        assert!(matches!(e, DeliveryError::RevokedKey { .. }), "{e}");
        // Version 1 again (p1 not revoked in it) is a rollback.
        let v1 = KeySet::new(1, &[p1.public_key()], vec![], 365).sign(&root);
        assert_eq!(t.update(&doc(vec![], v1), now), Err(DeliveryError::KeySetRollback { offered: 1, trusted: 2 }));
    }

    #[test]
    fn the_root_rotates_only_by_a_chain_signed_root_by_root() {
        let (r1, r2, r3, p) = (
            Signer25519::generate().unwrap(),
            Signer25519::generate().unwrap(),
            Signer25519::generate().unwrap(),
            Signer25519::generate().unwrap(),
        );
        let now = Utc::now();
        let t = Trust::new(PinnedRoot { key: r1.public_key(), version: 1 });
        let to2 = RootRotation::new(2, &r2.public_key()).sign(&r1);
        let to3 = RootRotation::new(3, &r3.public_key()).sign(&r2);
        let ks = KeySet::new(1, &[p.public_key()], vec![], 365).sign(&r3);
        let t3 = t.update(&doc(vec![to2.clone(), to3.clone()], ks.clone()), now).unwrap();
        assert_eq!(t3.root, PinnedRoot { key: r3.public_key(), version: 3 });
        // A phone already at root 3 skips the old rotations.
        assert!(t3.update(&doc(vec![to2, to3], ks.clone()), now).is_ok());
        // A key set signed by a root that is not (yet) trusted, or a rotation by a stranger, is refused.
        assert!(matches!(t.update(&doc(vec![], ks), now), Err(DeliveryError::KeySet(_))));
        let stranger = Signer25519::generate().unwrap();
        let forged = RootRotation::new(2, &stranger.public_key()).sign(&stranger);
        let ks = KeySet::new(1, &[stranger.public_key()], vec![], 365).sign(&stranger);
        assert!(matches!(t.update(&doc(vec![forged], ks), now), Err(DeliveryError::KeySet(_))));
    }

    #[test]
    fn an_expired_key_set_verifies_nothing() {
        let (root, p) = (Signer25519::generate().unwrap(), Signer25519::generate().unwrap());
        let t = Trust::new(PinnedRoot { key: root.public_key(), version: 1 });
        let ks = KeySet::new(1, &[p.public_key()], vec![], 10).sign(&root);
        let t = t.update(&doc(vec![], ks), Utc::now()).unwrap();
        let later = Utc::now() + chrono::Duration::days(11);
        let e = t.verify_manifest(&p.sign(&manifest(1, b"m")).unwrap().to_bytes(), later).unwrap_err();
        assert!(matches!(e, DeliveryError::KeySetExpired { version: 1, .. }), "{e}");
    }

    #[test]
    fn the_kept_trust_survives_a_restart_and_an_app_update_pinning_a_newer_root() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(TRUST);
        let (r1, r2, p) =
            (Signer25519::generate().unwrap(), Signer25519::generate().unwrap(), Signer25519::generate().unwrap());
        let pin1 = PinnedRoot { key: r1.public_key(), version: 1 };
        let ks = KeySet::new(4, &[p.public_key()], vec![], 365).sign(&r1);
        let t = Trust::new(pin1).update(&doc(vec![], ks), Utc::now()).unwrap();
        t.save(&path).unwrap();
        assert_eq!(Trust::load(&path, pin1), t);
        let pin2 = PinnedRoot { key: r2.public_key(), version: 2 };
        assert_eq!(Trust::load(&path, pin2), Trust::new(pin2));
    }
}
