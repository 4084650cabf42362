//! `pipeline keygen` and `pipeline publish`: the key files, the bucket layout and its order, and the
//! refusals that keep phones from seeing a rollback.

mod support;

use hapticmat_core::delivery::manifest::LATEST;
use hapticmat_core::delivery::{Contract, Envelope, PinnedKeys, PublicKey};
use std::process::Command;
use support::{Store, fixture};

fn pipeline() -> Command {
    Command::new(env!("CARGO_BIN_EXE_pipeline"))
}

#[test]
fn keygen_writes_an_owner_only_key_and_a_public_key_to_pin() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k.pem");
    let out = pipeline().arg("keygen").arg("--out").arg(&key).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    let public = PublicKey::parse(&std::fs::read_to_string(dir.path().join("k.pem.pub")).unwrap()).unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), public.id().0, "prints the key id");
    let again = pipeline().arg("keygen").arg("--out").arg(&key).output().unwrap();
    assert!(!again.status.success(), "an existing key is never overwritten");
}

#[test]
fn publish_lays_out_model_history_and_a_verifiable_latest() {
    let fx = fixture();
    let store = Store::new();
    let out = pipeline()
        .args(["publish", "--sequence", "7", "--version", "1.2.3", "--expires-in", "3", "--model"])
        .arg(&fx.a)
        .arg("--key")
        .arg(&fx.key)
        .arg("--store")
        .arg(store.root())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let latest = std::fs::read(store.root().join(LATEST)).unwrap();
    let m = fx.pinned().verify(&latest).unwrap();
    // history/7.json records the same manifest, in a form no phone installs.
    let record = std::fs::read(store.root().join("history/7.json")).unwrap();
    assert_eq!(fx.keyring().verify(&record).unwrap().manifest, m);
    assert!(fx.pinned().verify(&record).is_err(), "a history record is not installable");
    assert_eq!((m.sequence, m.version.to_string(), m.contract.clone()), (7, "1.2.3".into(), Contract::current()));
    assert_eq!(m.sha256, support::sha256_file(&fx.a));
    assert_eq!(std::fs::read(store.object(&m)).unwrap().len() as u64, m.size);
    let days = (m.expires_at - m.created_at).num_days();
    assert_eq!(days, 3);
    assert!(
        PinnedKeys::new([PublicKey::parse(&std::fs::read_to_string(&fx.public).unwrap()).unwrap()])
            .verify(&latest)
            .is_ok()
    );
    let env: Envelope = serde_json::from_slice(&latest).unwrap();
    assert_eq!(env.key_id, fx.signer().public_key().id());
}

#[test]
fn publish_refuses_a_sequence_that_is_not_higher() {
    let fx = fixture();
    let store = Store::new();
    store.publish(&fx.a, 5);
    for seq in ["5", "4"] {
        let out = pipeline()
            .args(["publish", "--sequence", seq, "--model"])
            .arg(&fx.b)
            .arg("--key")
            .arg(&fx.key)
            .arg("--store")
            .arg(store.root())
            .output()
            .unwrap();
        assert!(!out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("not higher"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(pipeline::publish::current_sequence(&store.root()).unwrap(), Some(5), "latest.json untouched");
}

#[test]
fn publishing_the_same_model_again_keeps_its_object() {
    let fx = fixture();
    let store = Store::new();
    let first = store.publish(&fx.a, 1);
    let object = store.object(&first);
    let written = std::fs::metadata(&object).unwrap().modified().unwrap();
    let cfg = pipeline::publish::PublishConfig {
        model: fx.a.clone(),
        store: store.root(),
        sequence: 2,
        version: None,
        expires_in_days: 30,
        source_run_id: "again".into(),
    };
    let p = pipeline::publish::publish(&cfg, &fx.keyring()).unwrap();
    assert!(!p.model_written);
    assert_eq!(std::fs::metadata(&object).unwrap().modified().unwrap(), written);
    assert_eq!(support::sha256_file(&object), first.sha256);
}

#[test]
fn publish_refuses_a_model_this_core_cannot_serve() {
    let fx = fixture();
    let store = Store::new();
    let cfg = pipeline::publish::PublishConfig {
        model: fx.wrong_labels.clone(),
        store: store.root(),
        sequence: 1,
        version: None,
        expires_in_days: 30,
        source_run_id: "bad".into(),
    };
    let e = pipeline::publish::publish(&cfg, &fx.keyring()).unwrap_err();
    assert!(format!("{e:#}").contains("labels"), "{e:#}");
    assert!(!store.root().join(LATEST).exists());
}
