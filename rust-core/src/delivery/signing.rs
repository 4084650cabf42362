//! ed25519 signatures over the exact bytes of a manifest, carried in an envelope:
//! `{"payload": "<base64 of the manifest bytes>", "key_id": "<16 hex>", "signature": "<base64>"}`.
//! Verification checks the signature over the decoded payload bytes before anything parses them, and
//! never re-serialises JSON, so the bytes that were signed are the bytes that are read.

use super::manifest::{MAX_MANIFEST_BYTES, Manifest, hex};
use super::{DeliveryError, Result};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt;

/// Short name of a public key: the first 8 bytes of SHA-256 of its 32 raw bytes, in hex.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct KeyId(pub String);

impl KeyId {
    /// The id of a public key.
    pub fn of(key: &VerifyingKey) -> Self {
        KeyId(hex(&Sha256::digest(key.as_bytes())[..8]))
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A signed manifest as it lies in the bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// Base64 (standard, padded) of the manifest bytes.
    pub payload: String,
    /// Id of the key that signed them.
    pub key_id: KeyId,
    /// Base64 of the 64-byte ed25519 signature over the decoded payload bytes.
    pub signature: String,
}

impl Envelope {
    /// Reads an envelope from bytes (JSON); refuses oversized input before parsing.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        if bytes.len() > MAX_MANIFEST_BYTES {
            return Err(DeliveryError::MalformedEnvelope(format!(
                "{} bytes, more than the {MAX_MANIFEST_BYTES} a manifest may have",
                bytes.len()
            )));
        }
        serde_json::from_slice(bytes).map_err(|e| DeliveryError::MalformedEnvelope(e.to_string()))
    }

    /// The manifest inside, *without* checking the signature: only for a publisher reading its own store
    /// (e.g. the current sequence); a reader that trusts the result must use [`PinnedKeys::verify`].
    pub fn manifest_unverified(&self) -> Result<Manifest> {
        let payload = BASE64
            .decode(&self.payload)
            .map_err(|_| DeliveryError::MalformedEnvelope("payload is not valid base64".into()))?;
        Manifest::parse(&payload)
    }

    /// The envelope as JSON bytes (what `latest.json` holds).
    pub fn to_bytes(&self) -> Vec<u8> {
        // Serialising three strings cannot fail.
        let mut v = serde_json::to_vec_pretty(self).unwrap_or_default();
        v.push(b'\n');
        v
    }
}

/// The key the publisher signs with (lives only in Jenkins' credentials).
pub struct Signer25519 {
    key: SigningKey,
}

impl Signer25519 {
    /// A new key from the operating system's random source.
    pub fn generate() -> Result<Self> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| DeliveryError::Key(format!("no random source: {e}")))?;
        Ok(Signer25519 { key: SigningKey::from_bytes(&seed) })
    }

    /// Reads a PKCS#8 PEM private key (`-----BEGIN PRIVATE KEY-----`, as `openssl genpkey -algorithm ed25519`
    /// writes it).
    pub fn from_pem(pem: &str) -> Result<Self> {
        SigningKey::from_pkcs8_pem(pem)
            .map(|key| Signer25519 { key })
            .map_err(|e| DeliveryError::Key(format!("not an ed25519 PKCS#8 PEM private key: {e}")))
    }

    /// The private key as PKCS#8 PEM (secret: write it with owner-only permissions).
    pub fn to_pem(&self) -> Result<String> {
        self.key
            .to_pkcs8_pem(Default::default())
            .map(|pem| pem.to_string())
            .map_err(|e| DeliveryError::Key(e.to_string()))
    }

    /// The public half, to pin in the app.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.key.verifying_key())
    }

    /// Signs the manifest's bytes and wraps them in an envelope.
    pub fn sign(&self, manifest: &Manifest) -> Result<Envelope> {
        let payload = manifest.to_bytes()?;
        Ok(self.sign_bytes(&payload))
    }

    /// Signs arbitrary payload bytes (tests use it to sign what a manifest must not be).
    pub fn sign_bytes(&self, payload: &[u8]) -> Envelope {
        let signature: Signature = self.key.sign(payload);
        Envelope {
            payload: BASE64.encode(payload),
            key_id: self.public_key().id(),
            signature: BASE64.encode(signature.to_bytes()),
        }
    }
}

/// A public key the app trusts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(pub VerifyingKey);

impl PublicKey {
    /// Reads a public key: SPKI PEM (`-----BEGIN PUBLIC KEY-----`) or the 32 raw bytes in base64 or hex.
    pub fn parse(text: &str) -> Result<Self> {
        let text = text.trim();
        if text.starts_with("-----BEGIN") {
            return VerifyingKey::from_public_key_pem(text)
                .map(PublicKey)
                .map_err(|e| DeliveryError::Key(format!("not an ed25519 public key PEM: {e}")));
        }
        let raw = if text.len() == 64 { from_hex(text) } else { BASE64.decode(text).ok() };
        let raw: [u8; 32] = raw
            .and_then(|r| r.try_into().ok())
            .ok_or_else(|| DeliveryError::Key("expected a PEM public key, or 32 bytes in base64 or hex".into()))?;
        VerifyingKey::from_bytes(&raw)
            .map(PublicKey)
            .map_err(|e| DeliveryError::Key(format!("not an ed25519 public key: {e}")))
    }

    /// The key as SPKI PEM (what `pipeline keygen` writes to `KEYFILE.pub`).
    pub fn to_pem(&self) -> Result<String> {
        self.0.to_public_key_pem(Default::default()).map_err(|e| DeliveryError::Key(e.to_string()))
    }

    /// The key's id.
    pub fn id(&self) -> KeyId {
        KeyId::of(&self.0)
    }
}

/// The public keys an app pins; a manifest must be signed by one of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PinnedKeys {
    keys: BTreeMap<KeyId, PublicKey>,
}

impl PinnedKeys {
    /// A set of pinned keys (more than one lets the publisher rotate keys without breaking installed apps).
    pub fn new(keys: impl IntoIterator<Item = PublicKey>) -> Self {
        PinnedKeys { keys: keys.into_iter().map(|k| (k.id(), k)).collect() }
    }

    /// Ids of the pinned keys.
    pub fn ids(&self) -> Vec<KeyId> {
        self.keys.keys().cloned().collect()
    }

    /// Whether no key is pinned (then nothing verifies).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Checks the envelope's signature and returns the manifest it vouches for (not yet checked for
    /// expiry, rollback or contract: see [`Manifest`]).
    pub fn verify(&self, envelope_bytes: &[u8]) -> Result<Manifest> {
        Manifest::parse(&self.verify_payload(&Envelope::parse(envelope_bytes)?)?)
    }

    /// Whether a key with this id is pinned.
    pub fn contains(&self, id: &KeyId) -> bool {
        self.keys.contains_key(id)
    }

    /// Checks the envelope's signature with the pinned key it names and returns the signed payload bytes
    /// (for documents other than manifests: the key set, a root rotation).
    pub fn verify_payload(&self, env: &Envelope) -> Result<Vec<u8>> {
        let key =
            self.keys.get(&env.key_id).ok_or_else(|| DeliveryError::UnknownKey { key_id: env.key_id.0.clone() })?;
        let bad = |what: &str| DeliveryError::MalformedEnvelope(format!("{what} is not valid base64"));
        let payload = BASE64.decode(&env.payload).map_err(|_| bad("payload"))?;
        let sig_bytes: [u8; 64] = BASE64
            .decode(&env.signature)
            .map_err(|_| bad("signature"))?
            .try_into()
            .map_err(|_| DeliveryError::MalformedEnvelope("signature is not 64 bytes".into()))?;
        // verify_strict also refuses small-order keys and malleable signatures.
        key.0
            .verify_strict(&payload, &Signature::from_bytes(&sig_bytes))
            .map_err(|_| DeliveryError::BadSignature { key_id: env.key_id.0.clone() })?;
        Ok(payload)
    }
}

fn from_hex(s: &str) -> Option<Vec<u8>> {
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    s.as_bytes().chunks(2).map(|p| Some(digit(*p.first()?)? << 4 | digit(*p.get(1)?)?)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::testing::manifest;

    #[test]
    fn a_signed_manifest_verifies_against_its_pinned_key() {
        let signer = Signer25519::generate().unwrap();
        let m = manifest(5, b"model");
        let env = signer.sign(&m).unwrap();
        let pinned = PinnedKeys::new([signer.public_key()]);
        assert_eq!(pinned.verify(&env.to_bytes()).unwrap(), m);
    }

    #[test]
    fn keys_survive_their_pem_files() {
        let signer = Signer25519::generate().unwrap();
        let again = Signer25519::from_pem(&signer.to_pem().unwrap()).unwrap();
        assert_eq!(again.public_key(), signer.public_key());
        let public = signer.public_key();
        assert_eq!(PublicKey::parse(&public.to_pem().unwrap()).unwrap(), public);
        assert_eq!(PublicKey::parse(&hex(public.0.as_bytes())).unwrap(), public);
        assert_eq!(PublicKey::parse(&BASE64.encode(public.0.as_bytes())).unwrap(), public);
        assert_eq!(public.id().0.len(), 16);
    }

    #[test]
    fn a_key_that_is_not_pinned_is_named() {
        let (signer, other) = (Signer25519::generate().unwrap(), Signer25519::generate().unwrap());
        let env = signer.sign(&manifest(1, b"m")).unwrap();
        let e = PinnedKeys::new([other.public_key()]).verify(&env.to_bytes()).unwrap_err();
        assert_eq!(e, DeliveryError::UnknownKey { key_id: signer.public_key().id().0 });
    }

    #[test]
    fn a_changed_payload_or_a_borrowed_key_id_fails_the_signature() {
        let (signer, other) = (Signer25519::generate().unwrap(), Signer25519::generate().unwrap());
        let pinned = PinnedKeys::new([signer.public_key()]);
        let mut env = signer.sign(&manifest(1, b"m")).unwrap();
        let mut payload = BASE64.decode(&env.payload).unwrap();
        payload[40] ^= 1;
        env.payload = BASE64.encode(&payload);
        assert!(matches!(pinned.verify(&env.to_bytes()), Err(DeliveryError::BadSignature { .. })));
        let mut forged = other.sign(&manifest(1, b"m")).unwrap();
        forged.key_id = signer.public_key().id();
        assert!(matches!(pinned.verify(&forged.to_bytes()), Err(DeliveryError::BadSignature { .. })));
    }

    #[test]
    fn a_signature_over_the_exact_bytes_survives_any_formatting() {
        // The signer's formatting is its own: compact JSON with reordered keys verifies as signed.
        let signer = Signer25519::generate().unwrap();
        let m = manifest(2, b"m");
        let mut value: serde_json::Value = serde_json::from_slice(&m.to_bytes().unwrap()).unwrap();
        value["zz_extra"] = serde_json::json!("ignored by this schema version");
        let env = signer.sign_bytes(serde_json::to_string(&value).unwrap().as_bytes());
        assert_eq!(PinnedKeys::new([signer.public_key()]).verify(&env.to_bytes()).unwrap(), m);
    }

    #[test]
    fn garbage_is_a_malformed_envelope() {
        let pinned = PinnedKeys::new([Signer25519::generate().unwrap().public_key()]);
        for bad in [&b"not json"[..], b"{}", b"{\"payload\": 1}", &vec![b' '; MAX_MANIFEST_BYTES + 1]] {
            assert!(matches!(pinned.verify(bad), Err(DeliveryError::MalformedEnvelope(_))), "{bad:?}");
        }
    }
}
