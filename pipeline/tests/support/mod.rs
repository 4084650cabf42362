//! Shared fixtures of the delivery tests: real models from one small training run, a signing key, stores
//! laid out by `pipeline publish`, and updaters with test-sized timeouts.
#![allow(dead_code)]

pub mod fault_server;

use hapticmat_core::delivery::manifest::{LATEST, hex};
use hapticmat_core::delivery::{
    Manifest, PinnedKeys, Signer25519, TransportConfig, UpdateError, Updater, UpdaterConfig,
};
use hapticmat_core::inference::meta;
use onnx_ptq::proto::StringStringEntryProto;
use pipeline::publish::{PublishConfig, publish};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

/// The models and key every delivery test uses.
pub struct Fixture {
    dir: tempfile::TempDir,
    /// A model to install first.
    pub a: PathBuf,
    /// A newer model (same network, other metadata, so other bytes and hash).
    pub b: PathBuf,
    /// A model that loads in ONNX Runtime but breaks the core's label contract.
    pub wrong_labels: PathBuf,
    /// The signing key (PEM file) and its public half.
    pub key: PathBuf,
    /// The public key file apps pin.
    pub public: PathBuf,
}

impl Fixture {
    /// The signer behind [`Fixture::key`].
    pub fn signer(&self) -> Signer25519 {
        pipeline::publish::read_signing_key(&self.key).expect("fixture key")
    }

    /// The publisher's keyring: the signing key alone.
    pub fn keyring(&self) -> hapticmat_release::keyring::Keyring {
        hapticmat_release::keyring::Keyring::new(self.signer())
    }

    /// The pinned key set of the app.
    pub fn pinned(&self) -> PinnedKeys {
        PinnedKeys::new([self.signer().public_key()])
    }
}

/// One small training run per test binary (a few seconds), then variants of its model.
pub fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let run = dir.path().join("run");
        let out = Command::new(env!("CARGO_BIN_EXE_pipeline"))
            .args([
                "run",
                "--quiet",
                "--no-quantize",
                "--sessions",
                "20",
                "--session-seconds",
                "200",
                "--long-sessions",
                "0",
                "--epochs",
                "2",
            ])
            .arg("--out")
            .arg(&run)
            .output()
            .expect("pipeline runs");
        assert!(out.status.success(), "training failed: {}", String::from_utf8_lossy(&out.stderr));
        let trained = run.join("model.fp32.onnx");
        let a = dir.path().join("a.onnx");
        let b = dir.path().join("b.onnx");
        let wrong_labels = dir.path().join("wrong-labels.onnx");
        variant(&trained, &a, "hapticmat.variant", "a");
        variant(&trained, &b, "hapticmat.variant", "b");
        variant(&trained, &wrong_labels, meta::LABELS, "sitting,absent,lying_full,lying_partial");
        let key = dir.path().join("signing.pem");
        let files = pipeline::publish::keygen(&key).expect("keygen");
        Fixture { a, b, wrong_labels, key, public: files.public, dir }
    })
}

/// Copies a model, setting one metadata entry.
fn variant(src: &Path, dst: &Path, key: &str, value: &str) {
    let mut m = onnx_ptq::load(src).expect("model");
    m.metadata_props.retain(|p| p.key.as_deref() != Some(key));
    m.metadata_props.push(StringStringEntryProto { key: Some(key.into()), value: Some(value.into()) });
    onnx_ptq::save(&m, dst).expect("save model");
}

/// SHA-256 of a file, hex.
pub fn sha256_file(path: &Path) -> String {
    hex(&Sha256::digest(std::fs::read(path).expect("read")))
}

/// A store folder (bucket layout) in a temporary directory.
pub struct Store {
    pub dir: tempfile::TempDir,
}

impl Store {
    /// An empty store.
    pub fn new() -> Self {
        Store { dir: tempfile::tempdir().expect("tempdir") }
    }

    /// The store's root.
    pub fn root(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// `file://` URL of the store.
    pub fn file_url(&self) -> String {
        format!("file://{}/", self.dir.path().display())
    }

    /// Publishes a model file with `pipeline publish`'s library function.
    pub fn publish(&self, model: &Path, sequence: u64) -> Manifest {
        let cfg = PublishConfig {
            model: model.to_path_buf(),
            store: self.root(),
            sequence,
            version: None,
            expires_in_days: 30,
            source_run_id: "test".into(),
        };
        publish(&cfg, &fixture().keyring()).expect("publish").manifest
    }

    /// Writes model bytes and a manifest for them, signed by `signer`, after `tweak` edits the manifest:
    /// for what `publish` refuses to make (expired, foreign contract, bad models).
    pub fn publish_raw(
        &self,
        sequence: u64,
        model: &[u8],
        signer: &Signer25519,
        tweak: impl FnOnce(&mut Manifest),
    ) -> Manifest {
        let mut m = hapticmat_core::delivery::testing::manifest(sequence, model);
        tweak(&mut m);
        let object = self.root().join(&m.object_key);
        std::fs::create_dir_all(object.parent().unwrap()).unwrap();
        std::fs::write(&object, model).unwrap();
        self.write_latest(&signer.sign(&m).expect("sign").to_bytes());
        m
    }

    /// Replaces `latest.json` with these bytes.
    pub fn write_latest(&self, bytes: &[u8]) {
        std::fs::write(self.root().join(LATEST), bytes).unwrap();
    }

    /// The model file a manifest names.
    pub fn object(&self, m: &Manifest) -> PathBuf {
        self.root().join(&m.object_key)
    }
}

/// Test-sized network settings: short timeouts and backoff so faults resolve in a second or two.
pub fn fast_transport() -> TransportConfig {
    TransportConfig {
        connect_timeout: Duration::from_secs(2),
        idle_timeout: Duration::from_millis(800),
        max_redirects: 5,
        max_attempts: 4,
        backoff_base: Duration::from_millis(20),
        backoff_max: Duration::from_millis(200),
        max_retry_after: Duration::from_secs(5),
    }
}

/// An updater for `url` into `cache`, pinning the fixture key, with [`fast_transport`].
pub fn updater(url: &str, cache: &Path) -> Updater {
    try_updater(url, cache, fixture().pinned()).expect("updater")
}

/// An updater that pins the root key `root` (version `version`) instead of publisher keys: it takes the
/// publisher keys from the store's `keys.json`.
pub fn root_updater(url: &str, cache: &Path, root: hapticmat_core::delivery::PinnedRoot) -> Updater {
    let mut cfg = UpdaterConfig::new(url, cache, PinnedKeys::default());
    cfg.root = Some(root);
    cfg.transport = fast_transport();
    cfg.deadline = Duration::from_secs(60);
    Updater::new(cfg).expect("updater")
}

/// [`updater`] with the given keys, which may fail (e.g. the cache is held by another updater).
pub fn try_updater(url: &str, cache: &Path, keys: PinnedKeys) -> Result<Updater, UpdateError> {
    let mut cfg = UpdaterConfig::new(url, cache, keys);
    cfg.transport = fast_transport();
    cfg.deadline = Duration::from_secs(60);
    Updater::new(cfg)
}
