//! `pipeline keys`: the publisher side of key rotation (docs/operations.md "Key rotation"). An offline
//! root key signs the key set (which publisher keys may sign `latest.json`, which are revoked); a new root
//! is signed by the old one. Both go into `keys.json`, which lies next to `latest.json` in the store and
//! which phones pinning the root check before every manifest (`hapticmat_core::delivery::root`).
//!
//! The root key is made with `pipeline keygen` like any ed25519 key, on an offline machine.

use anyhow::{Context, bail, ensure};
use clap::{Args, Subcommand};
use hapticmat_core::delivery::root::MAX_KEYSET_VALIDITY_DAYS;
use hapticmat_core::delivery::signing::KeyId;
use hapticmat_core::delivery::{KeySet, KeysDocument, PinnedRoot, PublicKey, RootRotation, Signer25519, Trust};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `pipeline keys …`
#[derive(Subcommand)]
pub enum KeysCommand {
    /// Sign a key set with the root key: the publisher keys that may sign manifests, and revoked ones.
    Sign(SignArgs),
    /// Rotate the root: sign the new root's public key with the old root key (then `keys sign` with the new root).
    RotateRoot(RotateRootArgs),
    /// Check a keys.json as a phone pinning ROOT would, and print what it leads to.
    Verify(VerifyArgs),
}

/// `pipeline keys sign`
#[derive(Args)]
pub struct SignArgs {
    /// The root's private key (offline).
    #[arg(long, value_name = "KEYFILE")]
    pub root: PathBuf,
    /// The key set's version: higher than the one published before.
    #[arg(long, value_name = "N")]
    pub version: u64,
    /// A publisher public key (`KEYFILE.pub` of `pipeline keygen`); repeat for several.
    #[arg(long = "publisher", value_name = "FILE", required = true)]
    pub publishers: Vec<PathBuf>,
    /// A key to revoke: its public key file or its 16-hex key id; repeat for several.
    #[arg(long = "revoke", value_name = "FILE|KEYID")]
    pub revoke: Vec<String>,
    /// Days until the key set expires and phones refuse every manifest (at most 800).
    #[arg(long, value_name = "DAYS", default_value_t = 365)]
    pub expires_in: i64,
    /// The keys.json published now: its root rotations are kept and its key set version must be lower.
    #[arg(long, value_name = "FILE")]
    pub keys: Option<PathBuf>,
    /// Where to write the new keys.json.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

/// `pipeline keys rotate-root`
#[derive(Args)]
pub struct RotateRootArgs {
    /// The current root's private key.
    #[arg(long, value_name = "KEYFILE")]
    pub old_root: PathBuf,
    /// The current root's version (1 for the first root).
    #[arg(long, value_name = "N")]
    pub old_version: u64,
    /// The new root's public key file.
    #[arg(long, value_name = "FILE")]
    pub new_root: PathBuf,
    /// The keys.json published now (its rotations are kept; the new one is appended).
    #[arg(long, value_name = "FILE")]
    pub keys: PathBuf,
    /// Where to write keys.json with the rotation (its key set must then be signed again with the new root).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

/// `pipeline keys verify`
#[derive(Args)]
pub struct VerifyArgs {
    /// The root public key the app pins.
    #[arg(long, value_name = "FILE")]
    pub root: PathBuf,
    /// The version of the pinned root.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub root_version: u64,
    /// The keys.json to check.
    #[arg(long, value_name = "FILE")]
    pub keys: PathBuf,
}

/// Runs a `pipeline keys` command.
pub fn run(cmd: KeysCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        KeysCommand::Sign(a) => {
            let doc = sign(&a)?;
            write(&a.out, &doc)?;
            let (ks, env) = doc.keyset.as_ref().map(|e| (parse_keyset(e), e)).context("no key set")?;
            let ks = ks?;
            eprintln!(
                "key set version {} signed by root key {} ({} publisher keys, {} revoked), expires {}; wrote {}",
                ks.version,
                env.key_id,
                ks.publishers.len(),
                ks.revoked.len(),
                ks.expires_at.to_rfc3339(),
                a.out.display()
            );
        }
        KeysCommand::RotateRoot(a) => {
            let doc = rotate_root(&a)?;
            write(&a.out, &doc)?;
            eprintln!(
                "root rotated to version {} (key {}); now sign the key set with the new root: pipeline keys sign --root NEW --keys {}",
                a.old_version + 1,
                read_public(&a.new_root)?.id(),
                a.out.display()
            );
        }
        KeysCommand::Verify(a) => {
            let root = PinnedRoot { key: read_public(&a.root)?, version: a.root_version };
            let bytes = std::fs::read(&a.keys).with_context(|| format!("reading {}", a.keys.display()))?;
            let trust = Trust::new(root).update(&bytes, chrono::Utc::now())?;
            let (ks, _) = trust.keyset.as_ref().context("no key set")?;
            println!("root version {} key {}", trust.root.version, trust.root.key.id());
            println!("key set version {} expires {}", ks.version, ks.expires_at.to_rfc3339());
            for id in ks.trusted_keys()?.ids() {
                println!("publisher {id}");
            }
            for id in &ks.revoked {
                println!("revoked {id}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Signs a key set as `a` says, keeping the root rotations of the published keys.json.
pub fn sign(a: &SignArgs) -> anyhow::Result<KeysDocument> {
    ensure!(
        (1..=MAX_KEYSET_VALIDITY_DAYS).contains(&a.expires_in),
        "--expires-in {} days: phones accept 1 to {MAX_KEYSET_VALIDITY_DAYS}",
        a.expires_in
    );
    let root = read_private(&a.root)?;
    let publishers = a.publishers.iter().map(|p| read_public(p)).collect::<anyhow::Result<Vec<_>>>()?;
    let revoked = a.revoke.iter().map(|r| revoked_id(r)).collect::<anyhow::Result<Vec<_>>>()?;
    let listed: Vec<KeyId> = publishers.iter().map(PublicKey::id).filter(|id| !revoked.contains(id)).collect();
    ensure!(!listed.is_empty(), "no publisher key left that is not revoked: phones could verify nothing");
    let mut doc = match &a.keys {
        Some(p) => read_doc(p)?,
        None => KeysDocument::default(),
    };
    if let Some(old) = doc.keyset.as_ref().map(parse_keyset).transpose()? {
        ensure!(
            a.version > old.version,
            "key set version {} is not above the published version {}: phones would refuse it",
            a.version,
            old.version
        );
        // A key revoked once stays revoked: dropping it from the list would let a phone that never saw
        // the old set trust it.
        let dropped: Vec<&KeyId> = old.revoked.iter().filter(|id| !revoked.contains(id)).collect();
        ensure!(dropped.is_empty(), "key ids revoked before must stay revoked: {dropped:?}");
    }
    doc.keyset = Some(KeySet::new(a.version, &publishers, revoked, a.expires_in).sign(&root));
    Ok(doc)
}

/// Appends the rotation from the old root to the new one.
pub fn rotate_root(a: &RotateRootArgs) -> anyhow::Result<KeysDocument> {
    let old = read_private(&a.old_root)?;
    let new = read_public(&a.new_root)?;
    ensure!(old.public_key() != new, "the new root is the old one");
    let mut doc = read_doc(&a.keys)?;
    let version = a.old_version.checked_add(1).context("root version overflows")?;
    doc.root_rotations.push(RootRotation::new(version, &new).sign(&old));
    Ok(doc)
}

/// The key set inside an envelope, without checking who signed it: only for the publisher's own file.
fn parse_keyset(env: &hapticmat_core::delivery::Envelope) -> anyhow::Result<KeySet> {
    use base64::Engine;
    let payload =
        base64::engine::general_purpose::STANDARD.decode(&env.payload).context("key set payload is not base64")?;
    serde_json::from_slice(&payload).context("malformed key set in keys.json")
}

fn revoked_id(text: &str) -> anyhow::Result<KeyId> {
    if text.len() == 16 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(KeyId(text.to_ascii_lowercase()));
    }
    if Path::new(text).exists() {
        return Ok(read_public(Path::new(text))?.id());
    }
    bail!("--revoke {text}: neither a 16-hex key id nor a public key file")
}

fn read_private(path: &Path) -> anyhow::Result<Signer25519> {
    let pem = std::fs::read_to_string(path).with_context(|| format!("reading key {}", path.display()))?;
    Signer25519::from_pem(&pem).with_context(|| format!("key {}", path.display()))
}

fn read_public(path: &Path) -> anyhow::Result<PublicKey> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    PublicKey::parse(&text).with_context(|| format!("public key {}", path.display()))
}

fn read_doc(path: &Path) -> anyhow::Result<KeysDocument> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(KeysDocument::parse(&bytes)?)
}

fn write(path: &Path, doc: &KeysDocument) -> anyhow::Result<()> {
    crate::fsutil::write_atomic(path, &doc.to_bytes()).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(dir: &Path, version: u64, revoke: Vec<String>, keys: Option<PathBuf>) -> SignArgs {
        SignArgs {
            root: dir.join("root.pem"),
            version,
            publishers: vec![dir.join("p1.pem.pub"), dir.join("p2.pem.pub")],
            revoke,
            expires_in: 30,
            keys,
            out: dir.join("keys.json"),
        }
    }

    #[test]
    fn a_new_key_set_must_rise_in_version_and_keep_every_revocation() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["root.pem", "p1.pem", "p2.pem"] {
            crate::publish::keygen(&dir.path().join(name)).unwrap();
        }
        let p1 = dir.path().join("p1.pem.pub").display().to_string();
        let v1 = sign(&args(dir.path(), 1, vec![p1.clone()], None)).unwrap();
        write(&dir.path().join("keys.json"), &v1).unwrap();
        let published = Some(dir.path().join("keys.json"));
        let e = sign(&args(dir.path(), 1, vec![p1], published.clone())).unwrap_err();
        assert!(e.to_string().contains("not above the published version 1"), "{e}");
        let e = sign(&args(dir.path(), 2, vec![], published)).unwrap_err();
        assert!(e.to_string().contains("must stay revoked"), "{e}");
        // Revoking every listed key would leave phones nothing to verify with.
        let both = vec![public_file(dir.path(), "p1"), public_file(dir.path(), "p2")];
        assert!(sign(&args(dir.path(), 1, both, None)).unwrap_err().to_string().contains("no publisher key left"));
    }

    fn public_file(dir: &Path, name: &str) -> String {
        dir.join(format!("{name}.pem.pub")).display().to_string()
    }
}
