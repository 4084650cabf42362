//! Publishing a model to a bucket-shaped store (a local folder here; the later `promote` reuses the same
//! steps against S3): `models/<sha256>.onnx` first, then `history/<sequence>.json`, then `latest.json`
//! last, so a reader that sees a manifest always finds the model it names.

use crate::fsutil::write_atomic;
use crate::onnx;
use anyhow::{Context, bail, ensure};
use hapticmat_core::delivery::manifest::{HISTORY_PREFIX, LATEST, MODEL_NAME, hex};
use hapticmat_core::delivery::{Contract, Envelope, Manifest, SCHEMA_VERSION, Signer25519};
use hapticmat_core::inference::meta;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Days a manifest stays valid unless told otherwise; Jenkins re-signs well before.
pub const DEFAULT_EXPIRES_IN_DAYS: u32 = 30;

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
        output: name(graph.output.first(), "output")?,
    })
}

/// The sequence of the store's current `latest.json`, if it has one (read, not verified: the publisher
/// trusts its own store, and a rotated key must not block the next publication).
pub fn current_sequence(store: &Path) -> anyhow::Result<Option<u64>> {
    let path = store.join(LATEST);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let manifest = Envelope::parse(&bytes)
        .and_then(|e| e.manifest_unverified())
        .with_context(|| format!("{} is not a manifest", path.display()))?;
    Ok(Some(manifest.sequence))
}

/// Signs and lays out one publication: model, history entry, then `latest.json`, each written atomically.
pub fn publish(cfg: &PublishConfig, signer: &Signer25519) -> anyhow::Result<Published> {
    let proto = onnx::load(&cfg.model)?;
    let contract = model_contract(&proto).with_context(|| format!("{}", cfg.model.display()))?;
    contract.check_supported().with_context(|| format!("{} cannot be served by this core", cfg.model.display()))?;
    if let Some(current) = current_sequence(&cfg.store)? {
        ensure!(
            cfg.sequence > current,
            "sequence {} is not higher than the store's current sequence {current}: phones would refuse it as a rollback",
            cfg.sequence
        );
    }
    let history = cfg.store.join(format!("{HISTORY_PREFIX}{}.json", cfg.sequence));
    ensure!(!history.exists(), "{} exists: a sequence is never reused", history.display());

    let bytes = std::fs::read(&cfg.model).with_context(|| format!("reading {}", cfg.model.display()))?;
    let sha256 = hex(&Sha256::digest(&bytes));
    let created_at = chrono::Utc::now();
    let manifest = Manifest {
        schema_version: SCHEMA_VERSION,
        model: MODEL_NAME.into(),
        sequence: cfg.sequence,
        version: cfg.version.clone().unwrap_or_else(|| semver::Version::new(0, cfg.sequence, 0)),
        object_key: Manifest::object_key_for(&sha256),
        sha256,
        size: bytes.len() as u64,
        contract,
        source_run_id: cfg.source_run_id.clone(),
        created_at,
        expires_at: created_at + chrono::Duration::days(i64::from(cfg.expires_in_days.max(1))),
    };
    let envelope = signer.sign(&manifest)?;

    let object = cfg.store.join(&manifest.object_key);
    let present = std::fs::read(&object).map(|b| hex(&Sha256::digest(&b)) == manifest.sha256).unwrap_or(false);
    if !present {
        write_atomic(&object, &bytes).with_context(|| format!("writing {}", object.display()))?;
    }
    let signed = envelope.to_bytes();
    write_atomic(&history, &signed).with_context(|| format!("writing {}", history.display()))?;
    let latest = cfg.store.join(LATEST);
    // Re-check right before the switch: another publisher may have moved on meanwhile.
    if let Some(current) = current_sequence(&cfg.store)?.filter(|c| *c >= cfg.sequence) {
        bail!("the store moved to sequence {current} while publishing {}; latest.json left as is", cfg.sequence);
    }
    write_atomic(&latest, &signed).with_context(|| format!("writing {}", latest.display()))?;
    Ok(Published { manifest, model_written: !present, latest })
}
