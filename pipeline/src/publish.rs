//! Publishing a model to a bucket-shaped local folder under an explicit sequence, plus the signing keys:
//! the release protocol of [`hapticmat_release::release`] (`models/<sha256>.onnx` first, then
//! `history/<sequence>.json`, then `latest.json` last, so a reader that sees a manifest always finds the
//! model it names), which `promote` and `rollback` use against S3 too.

use crate::fsutil::write_atomic;
use anyhow::{Context, ensure};
use hapticmat_core::delivery::manifest::LATEST;
use hapticmat_core::delivery::{Contract, Manifest, PublicKey, Signer25519};
use hapticmat_core::inference::meta;
use hapticmat_release::keyring::Keyring;
use hapticmat_release::release::{ReleaseRequest, release_at};
use hapticmat_release::store::Store;
use onnx_ptq as onnx;
use std::path::{Path, PathBuf};

/// Days a manifest stays valid unless told otherwise; Jenkins re-signs well before.
pub const DEFAULT_EXPIRES_IN_DAYS: u32 = hapticmat_release::release::DEFAULT_EXPIRES_IN_DAYS;

/// What to publish and where.
#[derive(Debug, Clone)]
pub struct PublishConfig {
    /// The ONNX model file.
    pub model: PathBuf,
    /// Root folder of the store (the bucket).
    pub store: PathBuf,
    /// Publication counter; must be higher than the store's current `latest.json`.
    pub sequence: u64,
    /// Semantic version; default `0.<sequence>.0`.
    pub version: Option<semver::Version>,
    /// Validity of the manifest from now, days.
    pub expires_in_days: u32,
    /// The training run the model comes from.
    pub source_run_id: String,
}

/// What [`publish`] wrote.
#[derive(Debug, Clone)]
pub struct Published {
    /// The signed manifest.
    pub manifest: Manifest,
    /// False when the store already held the model under its hash.
    pub model_written: bool,
    /// The manifest file at the store root.
    pub latest: PathBuf,
}

/// Files [`keygen`] wrote.
#[derive(Debug, Clone)]
pub struct KeyFiles {
    /// The private key (PKCS#8 PEM, mode 0600).
    pub private: PathBuf,
    /// The public key the app pins (SPKI PEM), `<private>.pub`.
    pub public: PathBuf,
    /// The key's id as envelopes name it.
    pub key_id: String,
}

/// Writes a new signing key to `out` (owner-only) and its public key to `out.pub`; refuses to overwrite a key.
pub fn keygen(out: &Path) -> anyhow::Result<KeyFiles> {
    ensure!(!out.exists(), "{} exists: refusing to overwrite a signing key", out.display());
    let signer = Signer25519::generate()?;
    let public = signer.public_key();
    let pub_path = public_key_path(out);
    write_secret(out, signer.to_pem()?.as_bytes()).with_context(|| format!("writing {}", out.display()))?;
    write_atomic(&pub_path, public.to_pem()?.as_bytes()).with_context(|| format!("writing {}", pub_path.display()))?;
    // The public key is meant to be shared (tempfile made it owner-only).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&pub_path, std::fs::Permissions::from_mode(0o644))?;
    }
    Ok(KeyFiles { private: out.to_path_buf(), public: pub_path, key_id: public.id().0 })
}

/// `KEYFILE.pub` beside `KEYFILE`.
pub fn public_key_path(private: &Path) -> PathBuf {
    let mut p = private.as_os_str().to_owned();
    p.push(".pub");
    PathBuf::from(p)
}

/// Reads a signing key written by [`keygen`] (or `openssl genpkey -algorithm ed25519`).
pub fn read_signing_key(path: &Path) -> anyhow::Result<Signer25519> {
    let pem = std::fs::read_to_string(path).with_context(|| format!("reading signing key {}", path.display()))?;
    Signer25519::from_pem(&pem).with_context(|| format!("signing key {}", path.display()))
}

/// The publisher's keyring: the signing key (`--signing-key`/`--key`) and the public keys of retired
/// signing keys (`--retired-key`, repeatable: `KEYFILE.pub` as `keygen` wrote it, or the raw key in hex
/// or base64), whose signatures in the store are still trusted.
pub fn read_keyring(signing_key: &Path, retired: &[PathBuf]) -> anyhow::Result<Keyring> {
    let signer = read_signing_key(signing_key)?;
    let retired = retired
        .iter()
        .map(|p| {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading retired public key {}", p.display()))?;
            PublicKey::parse(&text).with_context(|| format!("retired public key {}", p.display()))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Keyring::with_retired(signer, retired))
}

/// Adds the root-signed key set `key_set` (`keys.json` from `pipeline keys sign`) to `keys`, checked as
/// phones pinning `root_key` (the root's public key file) at `root_version` will check it: every release
/// then publishes it before `latest.json`. `None`: no key set (phones pin the publisher keys directly).
pub fn with_key_set(
    keys: Keyring,
    key_set: Option<&Path>,
    root_key: Option<&Path>,
    root_version: u64,
) -> anyhow::Result<Keyring> {
    let (Some(set), Some(root)) = (key_set, root_key) else {
        anyhow::ensure!(key_set.is_none() && root_key.is_none(), "--key-set and --root-key go together");
        return Ok(keys);
    };
    let bytes = std::fs::read(set).with_context(|| format!("reading key set {}", set.display()))?;
    let text = std::fs::read_to_string(root).with_context(|| format!("reading root public key {}", root.display()))?;
    let key = PublicKey::parse(&text).with_context(|| format!("root public key {}", root.display()))?;
    let root = hapticmat_core::delivery::root::PinnedRoot { key, version: root_version };
    keys.with_key_set(bytes, root, chrono::Utc::now()).with_context(|| format!("key set {}", set.display()))
}

/// Writes the key through a temporary file that is owner-only from its creation, so the key is never
/// readable by others, not even for a moment.
fn write_secret(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomic(path, bytes)?;
    // tempfile already creates 0600 files; set it explicitly in case that default ever changes.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

/// The feature/label contract a model file declares in its metadata and graph.
pub fn model_contract(model: &onnx::proto::ModelProto) -> anyhow::Result<Contract> {
    let get = |key: &str| onnx::metadata(model, key).with_context(|| format!("model metadata has no {key}"));
    let number = |key: &str| -> anyhow::Result<usize> {
        let v = get(key)?;
        v.trim().parse().with_context(|| format!("model metadata {key} = {v:?} is not a whole number"))
    };
    let graph = model.graph.as_ref().context("model has no graph")?;
    let name = |v: Option<&onnx::proto::ValueInfoProto>, what: &str| {
        v.and_then(|v| v.name.clone()).with_context(|| format!("model graph has no {what}"))
    };
    Ok(Contract {
        feature_version: number(meta::FEATURE_VERSION)? as u32,
        window_frames: number(meta::WINDOW)?,
        channels: number(meta::CHANNELS)?,
        labels: get(meta::LABELS)?.split(',').map(|s| s.trim().to_string()).collect(),
        input: name(graph.input.first(), "input")?,
        inputs: onnx::graph_inputs(model),
        output: name(graph.output.first(), "output")?,
    })
}

/// The sequence of the store's current `latest.json`, if it has one (read, not verified: the publisher
/// trusts its own store, and a rotated key must not block the next publication).
pub fn current_sequence(store: &Path) -> anyhow::Result<Option<u64>> {
    let store = Store::local(store)?;
    Ok(hapticmat_release::release::status(&store)?.latest.map(|m| m.sequence))
}

/// Signs and lays out one publication in a local folder with the release protocol
/// ([`hapticmat_release::release::release_at`]): model, history entry, then `latest.json`, each written atomically.
pub fn publish(cfg: &PublishConfig, keys: &Keyring) -> anyhow::Result<Published> {
    let proto = onnx::load(&cfg.model)?;
    let contract = model_contract(&proto).with_context(|| format!("{}", cfg.model.display()))?;
    let model_bytes = std::fs::read(&cfg.model).with_context(|| format!("reading {}", cfg.model.display()))?;
    let store = Store::local(&cfg.store)?;
    let request = ReleaseRequest {
        model_bytes,
        contract,
        source_run_id: cfg.source_run_id.clone(),
        version: cfg.version.clone(),
        expires_in_days: cfg.expires_in_days,
    };
    let summary = release_at(&store, keys, &request, cfg.sequence)
        .with_context(|| format!("publishing {} to {}", cfg.model.display(), store.describe()))?;
    Ok(Published { manifest: summary.manifest, model_written: summary.model_uploaded, latest: cfg.store.join(LATEST) })
}
