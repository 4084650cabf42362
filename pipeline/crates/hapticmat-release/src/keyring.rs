//! The publisher's keys: the one it signs with now, and the retired ones whose signatures it still
//! trusts when it reads its own store (`latest.json`, `history/`). Nothing in the store is believed
//! unless it verifies with one of them: sequences, rollback targets and the current pointer all come
//! from verified manifests only (issue 12, items 1 and 2).
//!
//! Two kinds of signed documents live in the store, both in the envelope format of
//! [`hapticmat_core::delivery::signing`]:
//! - `latest.json`: the manifest bytes themselves, what phones install;
//! - `history/<n>.json`: a *history record*, whose signed payload is [`HISTORY_RECORD_PREFIX`] followed
//!   by the manifest bytes. The signature covers the prefix, so it cannot be stripped, and no JSON
//!   parser reads a payload that starts with it: a phone handed a history record (copied to
//!   `latest.json`, or served in its place) refuses it as a malformed manifest. A manifest signed for a
//!   promotion that lost its compare-and-swap therefore never existed in installable form (item 5).
//!
//! Entries written before history records existed (plain manifests under `history/`) still verify
//! here, as [`SignedAs::LegacyHistory`], so that old releases can be rolled back to.
//!
//! The keyring is loaded from files (`--signing-key`, `--retired-key`). With a root-signed key set
//! (`--key-set keys.json --root-key ROOT.pub`, made offline by `pipeline keys sign`), the keyring checks
//! that phones pinning that root would accept its signing key (listed, not revoked, the set valid), drops
//! the set's revoked keys from its retired ones, and every release publishes the set as `keys.json` before
//! `latest.json` ([`Keyring::with_key_set`]).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use ed25519_dalek::Signature;
use hapticmat_core::delivery::root::{PinnedRoot, Trust};
use hapticmat_core::delivery::{DeliveryError, Envelope, KeyId, Manifest, PinnedKeys, PublicKey, Signer25519};

/// What a history record's signed payload starts with (then the manifest bytes). Not JSON on purpose.
pub const HISTORY_RECORD_PREFIX: &[u8] = b"hapticmat-presence history record v1\n";

/// Which kind of signed document verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignedAs {
    /// A manifest phones install (`latest.json`).
    Installable,
    /// A history record (not installable).
    HistoryRecord,
    /// A plain manifest under `history/`, written before history records existed: still installable by
    /// phones until it expires.
    LegacyHistory,
}

/// A signed document that verified with a key of the keyring.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The manifest it vouches for.
    pub manifest: Manifest,
    /// The key that signed it.
    pub key_id: KeyId,
    /// Whether that key is the current signing key (false: a retired one).
    pub current_key: bool,
    /// Installable manifest or history record.
    pub signed_as: SignedAs,
}

/// A root-signed key set the publisher serves as `keys.json`, and the trust it gives a phone pinning its root.
#[derive(Debug, Clone)]
pub struct PublishedKeySet {
    /// `keys.json` as `pipeline keys sign` wrote it.
    pub bytes: Vec<u8>,
    /// What a phone pinning the root trusts after reading it.
    pub trust: Trust,
}

/// The current signing key and the retired publisher keys still trusted for reading the store.
pub struct Keyring {
    signer: Signer25519,
    retired: Vec<PublicKey>,
    key_set: Option<PublishedKeySet>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("current", &self.signer.public_key().id())
            .field("retired", &self.retired.iter().map(PublicKey::id).collect::<Vec<_>>())
            .finish()
    }
}

impl Keyring {
    /// Only the current signing key.
    pub fn new(signer: Signer25519) -> Self {
        Keyring { signer, retired: Vec::new(), key_set: None }
    }

    /// Publishes the root-signed key set `keys_json` with every release. Checked now as a phone pinning
    /// `root` will check it (root rotations, signature, validity at `now`), and refused unless the current
    /// signing key is listed and not revoked — phones in root mode would refuse every release otherwise.
    /// The set's revoked keys are dropped from the retired ones: nothing they signed is trusted again.
    pub fn with_key_set(
        mut self,
        keys_json: Vec<u8>,
        root: PinnedRoot,
        now: DateTime<Utc>,
    ) -> Result<Self, DeliveryError> {
        let trust = Trust::new(root).update(&keys_json, now)?;
        let Some((set, _)) = &trust.keyset else {
            return Err(DeliveryError::KeySet("keys.json holds no key set".into()));
        };
        let id = self.current_id();
        if set.revoked.contains(&id) {
            return Err(DeliveryError::RevokedKey { key_id: id.0.clone(), keyset_version: set.version });
        }
        if !set.trusted_keys()?.contains(&id) {
            return Err(DeliveryError::KeySet(format!(
                "the signing key {} is not listed in key set version {}: phones pinning the root would refuse \
                 what it signs",
                id.0, set.version
            )));
        }
        let revoked = set.revoked.clone();
        self.retired.retain(|k| !revoked.contains(&k.id()));
        self.key_set = Some(PublishedKeySet { bytes: keys_json, trust });
        Ok(self)
    }

    /// The key set published with each release, if any.
    pub fn key_set(&self) -> Option<&PublishedKeySet> {
        self.key_set.as_ref()
    }

    /// The current signing key and retired keys (the current key and duplicates are dropped from them).
    pub fn with_retired(signer: Signer25519, retired: impl IntoIterator<Item = PublicKey>) -> Self {
        let current = signer.public_key().id();
        let mut keys: Vec<PublicKey> = Vec::new();
        for k in retired {
            if k.id() != current && !keys.iter().any(|r| r.id() == k.id()) {
                keys.push(k);
            }
        }
        Keyring { signer, retired: keys, key_set: None }
    }

    /// The key that signs new manifests.
    pub fn signer(&self) -> &Signer25519 {
        &self.signer
    }

    /// Id of the current signing key.
    pub fn current_id(&self) -> KeyId {
        self.signer.public_key().id()
    }

    /// Ids of every trusted key, the current one first.
    pub fn ids(&self) -> Vec<KeyId> {
        std::iter::once(self.current_id()).chain(self.retired.iter().map(PublicKey::id)).collect()
    }

    /// The trusted keys as a phone would pin them.
    pub fn pinned(&self) -> PinnedKeys {
        PinnedKeys::new(std::iter::once(self.signer.public_key()).chain(self.retired.iter().copied()))
    }

    /// `a1b2… (current), c3d4… (retired)`, for error messages.
    pub fn describe(&self) -> String {
        let mut ids = vec![format!("{} (current)", self.current_id())];
        ids.extend(self.retired.iter().map(|k| format!("{} (retired)", k.id())));
        ids.join(", ")
    }

    /// Signs a manifest as phones install it (`latest.json`).
    pub fn sign_installable(&self, manifest: &Manifest) -> Result<Vec<u8>, DeliveryError> {
        Ok(self.signer.sign(manifest)?.to_bytes())
    }

    /// Signs a manifest as a history record (`history/<n>.json`), which phones refuse to install.
    pub fn sign_history_record(&self, manifest: &Manifest) -> Result<Vec<u8>, DeliveryError> {
        let mut payload = HISTORY_RECORD_PREFIX.to_vec();
        payload.extend_from_slice(&manifest.to_bytes()?);
        Ok(self.signer.sign_bytes(&payload).to_bytes())
    }

    /// Checks a signed document of the store with every trusted key (exact bytes, `verify_strict`) and
    /// returns what it vouches for. Unknown key, bad signature or malformed bytes are errors.
    pub fn verify(&self, bytes: &[u8]) -> Result<Verified, DeliveryError> {
        let envelope = Envelope::parse(bytes)?;
        let current = self.signer.public_key();
        let key = std::iter::once(&current)
            .chain(&self.retired)
            .find(|k| k.id() == envelope.key_id)
            .ok_or_else(|| DeliveryError::UnknownKey { key_id: envelope.key_id.0.clone() })?;
        let bad = |what: &str| DeliveryError::MalformedEnvelope(format!("{what} is not valid base64"));
        let payload = BASE64.decode(&envelope.payload).map_err(|_| bad("payload"))?;
        let signature: [u8; 64] = BASE64
            .decode(&envelope.signature)
            .map_err(|_| bad("signature"))?
            .try_into()
            .map_err(|_| DeliveryError::MalformedEnvelope("signature is not 64 bytes".into()))?;
        key.0
            .verify_strict(&payload, &Signature::from_bytes(&signature))
            .map_err(|_| DeliveryError::BadSignature { key_id: envelope.key_id.0.clone() })?;
        let (manifest, signed_as) = match payload.strip_prefix(HISTORY_RECORD_PREFIX) {
            Some(rest) => (Manifest::parse(rest)?, SignedAs::HistoryRecord),
            None => (Manifest::parse(&payload)?, SignedAs::Installable),
        };
        Ok(Verified { manifest, key_id: envelope.key_id, current_key: *key == current, signed_as })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hapticmat_core::delivery::testing::manifest;

    #[test]
    fn a_history_record_verifies_here_but_no_phone_installs_it() {
        let keys = Keyring::new(Signer25519::generate().unwrap());
        let m = manifest(4, b"model");
        let record = keys.sign_history_record(&m).unwrap();
        let v = keys.verify(&record).unwrap();
        assert_eq!((v.manifest, v.signed_as, v.current_key), (m.clone(), SignedAs::HistoryRecord, true));
        let e = keys.pinned().verify(&record).unwrap_err();
        assert!(matches!(e, DeliveryError::MalformedManifest(_)), "{e}");
        let latest = keys.sign_installable(&m).unwrap();
        assert_eq!(keys.verify(&latest).unwrap().signed_as, SignedAs::Installable);
        assert_eq!(keys.pinned().verify(&latest).unwrap(), m);
    }

    #[test]
    fn retired_keys_verify_unknown_ones_do_not() {
        let (old, unknown) = (Signer25519::generate().unwrap(), Signer25519::generate().unwrap());
        let keys = Keyring::with_retired(Signer25519::generate().unwrap(), [old.public_key(), old.public_key()]);
        assert_eq!(keys.ids().len(), 2, "duplicates dropped");
        let m = manifest(2, b"model");
        let v = keys.verify(&Keyring::new(old).sign_history_record(&m).unwrap()).unwrap();
        assert!(!v.current_key);
        let e = keys.verify(&Keyring::new(unknown).sign_history_record(&m).unwrap()).unwrap_err();
        assert!(matches!(e, DeliveryError::UnknownKey { .. }), "{e}");
        assert!(matches!(keys.verify(b""), Err(DeliveryError::MalformedEnvelope(_))));
    }
}
