//! The production release protocol (`hapticmat_release::release`) and its store (`hapticmat_release::store`), against a
//! local folder always and against the real SeaweedFS when the stack runs (HM_S3_URL; admin credentials
//! from HM_S3_ACCESS_KEY / HM_S3_SECRET_KEY, defaulting to the dev stack's). Each S3 test works under its
//! own prefix of the `production` bucket and deletes it afterwards. What a phone sees is checked with the
//! phone's own updater, reading anonymously over HTTP as a phone does.

mod support;

use hapticmat_core::delivery::manifest::LATEST;
use hapticmat_core::delivery::{Manifest, UpdateStatus};
use hapticmat_core::delivery::{Signer25519, UpdateError};
use hapticmat_release::keyring::Keyring;
use hapticmat_release::release::{
    MAX_MODEL_BYTES, MAX_SEQUENCE_STEP, ReleaseError, ReleaseOutcome, ReleaseRequest, ReleaseSummary, plan_release,
    release, release_at, rollback,
};
use hapticmat_release::store::{RetryPolicy, S3Options, Store, StoreError};
use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};
use support::{fixture, sha256_file, updater};

const BUCKET: &str = "production";

/// The S3 endpoint of the running stack, or `None` (after saying so) when it is not configured.
fn s3_endpoint() -> Option<String> {
    match std::env::var("HM_S3_URL").ok().filter(|v| !v.is_empty()) {
        Some(url) => Some(url.trim_end_matches('/').to_string()),
        None if std::env::var("HM_REQUIRE_SERVICES").as_deref() == Ok("1") => {
            panic!("HM_REQUIRE_SERVICES=1 but HM_S3_URL is not set: start the stack (scripts/services.sh start)")
        }
        None => {
            eprintln!("skipped: stack not running (HM_S3_URL unset)");
            None
        }
    }
}

/// Short retries so that fault tests end in about a second.
fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_retries: 2,
        init_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(200),
        retry_timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(5),
    }
}

fn admin_options(endpoint: &str) -> S3Options {
    let var = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_string());
    S3Options {
        endpoint: Some(endpoint.to_string()),
        region: Some("us-east-1".into()),
        access_key_id: Some(var("HM_S3_ACCESS_KEY", "hm-admin")),
        secret_access_key: Some(var("HM_S3_SECRET_KEY", "hm-admin-dev-secret")),
        retry: fast_retry(),
        ..Default::default()
    }
}

fn unique_prefix(what: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
    format!("test-{what}-{}-{nanos}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// A store under test: a temporary folder, or a fresh prefix of the S3 bucket (deleted on drop).
struct TestStore {
    kind: &'static str,
    /// The store URL (`--store`).
    url: String,
    /// Where a phone reads it.
    phone_url: String,
    /// S3 only: the endpoint, for more clients on the same prefix.
    endpoint: Option<String>,
    store: Store,
    _dir: Option<tempfile::TempDir>,
}

impl TestStore {
    fn local() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("file://{}", dir.path().display());
        let store = Store::local(dir.path()).unwrap();
        TestStore { kind: "local", phone_url: format!("{url}/"), url, endpoint: None, store, _dir: Some(dir) }
    }

    fn s3(endpoint: &str, what: &str) -> Self {
        let prefix = unique_prefix(what);
        let store = Store::s3(BUCKET, &prefix, &admin_options(endpoint)).unwrap();
        TestStore {
            kind: "s3",
            url: format!("s3://{BUCKET}/{prefix}"),
            phone_url: format!("{endpoint}/{BUCKET}/{prefix}/"),
            endpoint: Some(endpoint.to_string()),
            store,
            _dir: None,
        }
    }

    /// Another client on the same store (as a second Jenkins job would have).
    fn reopen(&self) -> Store {
        match &self.endpoint {
            Some(e) => Store::open(&self.url, &admin_options(e)).unwrap(),
            None => Store::open(&self.url, &S3Options::default()).unwrap(),
        }
    }

    fn keys(&self) -> Vec<String> {
        self.store.list("", "list for the test").unwrap()
    }
}

impl Drop for TestStore {
    fn drop(&mut self) {
        if self.kind == "s3" {
            for key in self.store.list("", "clean up").unwrap_or_default() {
                let _ = self.store.delete(&key, "clean up");
            }
        }
    }
}

/// The local store, and an S3 one when the stack runs.
fn stores(what: &str) -> Vec<TestStore> {
    let mut v = vec![TestStore::local()];
    v.extend(s3_endpoint().map(|e| TestStore::s3(&e, what)));
    v
}

fn request(model: &Path, run: &str) -> ReleaseRequest {
    let proto = onnx_ptq::load(model).unwrap();
    ReleaseRequest {
        model_bytes: std::fs::read(model).unwrap(),
        contract: pipeline::publish::model_contract(&proto).unwrap(),
        source_run_id: run.into(),
        version: None,
        expires_in_days: 30,
    }
}

/// The manifest `latest.json` holds, verified with the pinned key as a phone would.
fn latest(ts: &TestStore) -> Manifest {
    let o = ts.store.get(LATEST, "read for the test").unwrap().expect("latest.json exists");
    fixture().pinned().verify(&o.bytes).expect("latest.json verifies with the pinned key")
}

/// Runs the phone's updater against the store and returns what it serves afterwards.
fn phone_installs(ts: &TestStore, cache: &Path) -> (u64, String) {
    match updater(&ts.phone_url, cache).check_now() {
        Ok(UpdateStatus::Updated { model }) => (model.sequence, model.sha256),
        other => panic!("{}: the phone did not install a new model: {other:?}", ts.kind),
    }
}

#[test]
fn a_release_is_installed_by_the_phone_and_a_rerun_writes_nothing() {
    let fx = fixture();
    for ts in stores("release") {
        let req = request(&fx.a, "run-a");
        let s = release(&ts.store, &fx.keyring(), &req).unwrap();
        assert_eq!((s.outcome, s.sequence, s.previous_sequence), (ReleaseOutcome::Released, 1, None), "{}", ts.kind);
        assert_eq!(s.sha256, sha256_file(&fx.a));
        assert!(s.model_uploaded);
        assert_eq!(s.written, vec![s.object_key.clone(), "history/1.json".into(), LATEST.into()]);
        let m = latest(&ts);
        assert_eq!((m.sequence, m.sha256.as_str(), m.source_run_id.as_str()), (1, s.sha256.as_str(), "run-a"));
        let cache = tempfile::tempdir().unwrap();
        assert_eq!(phone_installs(&ts, cache.path()), (1, s.sha256.clone()), "{}", ts.kind);

        let keys = ts.keys();
        let before = ts.store.head(LATEST, "head for the test").unwrap().unwrap().version;
        let again = release(&ts.store, &fx.keyring(), &req).unwrap();
        assert_eq!((again.outcome, again.sequence), (ReleaseOutcome::AlreadyCurrent, 1), "{}", ts.kind);
        assert!(again.written.is_empty() && !again.model_uploaded);
        assert_eq!(ts.keys(), keys, "{}: nothing written", ts.kind);
        assert_eq!(ts.store.head(LATEST, "head for the test").unwrap().unwrap().version, before);
    }
}

#[test]
fn a_second_model_takes_the_next_sequence_and_rollback_republishes_the_first() {
    let fx = fixture();
    for ts in stores("rollback") {
        let signer = fx.keyring();
        let a = release(&ts.store, &signer, &request(&fx.a, "run-a")).unwrap();
        let cache = tempfile::tempdir().unwrap();
        phone_installs(&ts, cache.path());
        let b = release(&ts.store, &signer, &request(&fx.b, "run-b")).unwrap();
        assert_eq!((b.sequence, b.previous_sequence), (2, Some(1)), "{}", ts.kind);
        assert_eq!(phone_installs(&ts, cache.path()), (2, b.sha256.clone()));

        let r = rollback(&ts.store, &signer, 1, 30).unwrap();
        assert_eq!(
            (r.outcome, r.sequence, r.previous_sequence, r.rollback_of),
            (ReleaseOutcome::Released, 3, Some(2), Some(1))
        );
        assert_eq!((r.sha256.as_str(), r.source_run_id.as_str()), (a.sha256.as_str(), "run-a"), "{}", ts.kind);
        assert!(!r.model_uploaded, "the model is already in the store");
        assert_eq!(r.written, vec!["history/3.json".to_string(), LATEST.into()]);
        assert_eq!(latest(&ts).sha256, a.sha256);
        assert_eq!(phone_installs(&ts, cache.path()), (3, a.sha256.clone()), "{}", ts.kind);

        let again = rollback(&ts.store, &signer, 1, 30).unwrap();
        assert_eq!((again.outcome, again.sequence), (ReleaseOutcome::AlreadyCurrent, 3), "{}", ts.kind);
        let status = hapticmat_release::release::status(&ts.store).unwrap();
        assert_eq!(status.history, vec![1, 2, 3]);
        assert_eq!(status.latest.map(|m| m.sequence), Some(3));

        let e = rollback(&ts.store, &signer, 9, 30).unwrap_err();
        assert!(matches!(e, ReleaseError::NoSuchSequence { .. }) && e.to_string().contains("history/9.json"), "{e}");
    }
}

#[test]
fn two_releases_planned_from_the_same_start_have_one_winner() {
    let fx = fixture();
    for ts in stores("race") {
        let (ra, rb) = (request(&fx.a, "run-a"), request(&fx.b, "run-b"));
        // Both read the same (empty) store before either writes, as two overlapping Jenkins jobs do.
        let other = ts.reopen();
        let plan_a = plan_release(&ts.store, &fx.keyring(), &ra).unwrap();
        let plan_b = plan_release(&other, &fx.keyring(), &rb).unwrap();
        assert_eq!((plan_a.sequence(), plan_b.sequence()), (Some(1), Some(1)));
        let won = plan_a.execute(&ts.store, &fx.keyring()).unwrap();
        let lost = plan_b.execute(&other, &fx.keyring()).unwrap_err();
        assert!(lost.is_conflict(), "{}: {lost}", ts.kind);
        assert!(lost.to_string().contains("another promotion took sequence 1"), "{lost}");
        let m = latest(&ts);
        assert_eq!((m.sequence, m.sha256.as_str()), (1, won.sha256.as_str()), "{}: the winner's manifest", ts.kind);

        // A plan whose latest.json reading is stale loses at the final switch, after taking its own
        // sequence in history/, and leaves the pointer as the other promotion wrote it. (The other one
        // takes sequence 5 here, so that the stale plan's sequence 2 is still free in history/.)
        let (rc, rd) = (request(&fx.b, "run-c"), request(&fx.a, "run-d"));
        let stale = plan_release(&other, &fx.keyring(), &rc).unwrap();
        assert_eq!(stale.sequence(), Some(2));
        release_at(&ts.store, &fx.keyring(), &rd, 5).unwrap();
        let lost = stale.execute(&other, &fx.keyring()).unwrap_err();
        assert!(lost.is_conflict(), "{lost}");
        assert!(lost.to_string().contains("latest.json changed during promotion"), "{lost}");
        assert_eq!(latest(&ts).sequence, 5);
        // The loser's history entry stays unused, and the next release goes above it and the pointer.
        assert_eq!(hapticmat_release::release::status(&ts.store).unwrap().history, vec![1, 2, 5]);
        assert_eq!(latest(&ts).source_run_id, "run-d");
    }
}

#[test]
fn concurrent_releases_leave_a_valid_manifest_of_a_winner() {
    let fx = fixture();
    for ts in stores("threads") {
        let ts = Arc::new(ts);
        let barrier = Arc::new(Barrier::new(2));
        let handles: Vec<_> = [(fx.a.clone(), "run-a"), (fx.b.clone(), "run-b")]
            .into_iter()
            .map(|(model, run)| {
                let (ts, barrier) = (ts.clone(), barrier.clone());
                let req = request(&model, run);
                std::thread::spawn(move || {
                    let store = ts.reopen();
                    barrier.wait();
                    release(&store, &fixture().keyring(), &req)
                })
            })
            .collect();
        let results: Vec<Result<ReleaseSummary, ReleaseError>> =
            handles.into_iter().map(|h| h.join().unwrap()).collect();
        let winners: Vec<&ReleaseSummary> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        for r in &results {
            if let Err(e) = r {
                assert!(e.is_conflict(), "{}: a loser gets Conflict, not {e}", ts.kind);
            }
        }
        eprintln!("{}: {} of 2 overlapping releases won", ts.kind, winners.len());
        // Overlapping releases: one wins; if the scheduler ran them one after the other, both win in turn.
        let last = winners.iter().max_by_key(|s| s.sequence).expect("at least one release wins");
        let m = latest(&ts);
        assert_eq!((m.sequence, m.sha256.as_str()), (last.sequence, last.sha256.as_str()), "{}", ts.kind);
    }
}

#[test]
fn twenty_concurrent_conditional_writes_with_one_version_have_one_winner() {
    for ts in stores("cas") {
        // SeaweedFS re-checks the precondition under a short-lived per-object lock whose waiters poll
        // about once a second, so under 20-way contention a loser may wait seconds for its 412.
        let store = Arc::new(match &ts.endpoint {
            Some(e) => {
                let mut opts = admin_options(e);
                opts.retry.request_timeout = Duration::from_secs(60);
                opts.retry.retry_timeout = Duration::from_secs(60);
                Store::open(&ts.url, &opts).unwrap()
            }
            None => ts.reopen(),
        });
        let first = ts.store.put_if_absent("cas.json", b"start", "create").unwrap();
        let run = |f: Arc<dyn Fn(usize) -> Result<(), StoreError> + Send + Sync>| {
            let barrier = Arc::new(Barrier::new(20));
            let handles: Vec<_> = (0..20)
                .map(|i| {
                    let (f, barrier) = (f.clone(), barrier.clone());
                    std::thread::spawn(move || {
                        barrier.wait();
                        f(i)
                    })
                })
                .collect();
            let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
            for r in &results {
                if let Err(e) = r {
                    assert!(e.is_conflict(), "a failed precondition is a Conflict, not {e}");
                }
            }
            results.iter().filter(|r| r.is_ok()).count()
        };
        let (s, expected) = (store.clone(), first.clone());
        let swaps = run(Arc::new(move |i| {
            s.put_if_match("cas.json", format!("writer {i}").as_bytes(), Some(&expected), "swap").map(|_| ())
        }));
        assert_eq!(swaps, 1, "{}: exactly one compare-and-swap wins", ts.kind);
        let now = ts.store.get("cas.json", "read").unwrap().unwrap();
        assert!(now.bytes.starts_with(b"writer "), "{}", ts.kind);
        let stale = ts.store.put_if_match("cas.json", b"late", Some(&first), "swap").unwrap_err();
        assert!(stale.is_conflict() && stale.to_string().contains("cas.json"), "{stale}");

        let s = store.clone();
        let creates = run(Arc::new(move |i| {
            s.put_if_absent("new.json", format!("creator {i}").as_bytes(), "create").map(|_| ())
        }));
        assert_eq!(creates, 1, "{}: exactly one create-if-absent wins", ts.kind);
    }
}

#[test]
fn rollback_to_a_tampered_model_is_refused_naming_the_key() {
    let fx = fixture();
    for ts in stores("tamper") {
        let a = release(&ts.store, &fx.keyring(), &request(&fx.a, "run-a")).unwrap();
        release(&ts.store, &fx.keyring(), &request(&fx.b, "run-b")).unwrap();
        ts.store.put(&a.object_key, b"not the model any more", "tamper").unwrap();
        let e = rollback(&ts.store, &fx.keyring(), 1, 30).unwrap_err();
        assert!(matches!(e, ReleaseError::ModelAltered { .. }), "{}: {e}", ts.kind);
        assert!(e.to_string().contains(&a.object_key), "{e}");
        assert_eq!(latest(&ts).sequence, 2, "{}: production untouched", ts.kind);

        ts.store.delete(&a.object_key, "lose the model").unwrap();
        let e = rollback(&ts.store, &fx.keyring(), 1, 30).unwrap_err();
        assert!(matches!(e, ReleaseError::ModelMissing { .. }) && e.to_string().contains(&a.object_key), "{e}");
    }
}

#[test]
fn a_rollback_refuses_a_history_entry_whose_signature_fails() {
    let fx = fixture();
    let ts = TestStore::local();
    release(&ts.store, &fx.keyring(), &request(&fx.a, "run-a")).unwrap();
    release(&ts.store, &fx.keyring(), &request(&fx.b, "run-b")).unwrap();
    // Swap history/1.json's payload for history/2.json's, keeping 1's signature: a forged entry.
    let entry = |n: u64| -> serde_json::Value {
        serde_json::from_slice(&ts.store.get(&format!("history/{n}.json"), "read").unwrap().unwrap().bytes).unwrap()
    };
    let mut forged = entry(1);
    forged["payload"] = entry(2)["payload"].clone();
    ts.store.put("history/1.json", &serde_json::to_vec(&forged).unwrap(), "forge").unwrap();
    let e = rollback(&ts.store, &fx.keyring(), 1, 30).unwrap_err();
    assert!(matches!(e, ReleaseError::BadHistorySignature { .. }), "{e}");
}

// ---- issue 12, the publisher: each attack reproduced against the local folder and the real S3 server,
// refused, with the good model still serving (docs/publisher-faults.md lists them).

/// What the phone (cache `cache`) serves after checking the store again; the check must not update.
fn phone_keeps(ts: &TestStore, cache: &Path, sequence: u64, sha256: &str) -> Option<UpdateError> {
    let u = updater(&ts.phone_url, cache);
    let r = u.check_now();
    let now = u.current().expect("a model serves");
    assert_eq!((now.sequence, now.sha256.as_str()), (sequence, sha256), "{}: the good model still serves", ts.kind);
    match r {
        Ok(UpdateStatus::Updated { model }) => panic!("{}: the phone installed {model:?}", ts.kind),
        Ok(UpdateStatus::UpToDate { .. }) => None,
        Err(e) => Some(e),
    }
}

/// A keyring of a fresh key nobody trusts (the attacker's).
fn stranger() -> Keyring {
    Keyring::new(Signer25519::generate().unwrap())
}

/// Item 1: forged `history/` names (an empty `history/18446744073709551614.json`, an entry signed by an
/// unknown key) used to choose the next sequence: `rollback` signed u64::MAX, and the release after it
/// wrapped to 0. Now only verified manifests count, and the planted names are reported, not used.
#[test]
fn forged_history_names_do_not_choose_the_sequence() {
    let fx = fixture();
    for ts in stores("forged-names") {
        let a = release(&ts.store, &fx.keyring(), &request(&fx.a, "run-a")).unwrap();
        let b = release(&ts.store, &fx.keyring(), &request(&fx.b, "run-b")).unwrap();
        ts.store.put("history/18446744073709551614.json", b"", "plant an empty entry").unwrap();
        let planted = hapticmat_core::delivery::testing::manifest(700, b"x");
        ts.store.put("history/700.json", &stranger().sign_history_record(&planted).unwrap(), "plant").unwrap();

        let r = rollback(&ts.store, &fx.keyring(), 1, 30).unwrap();
        assert_eq!((r.sequence, r.sha256.as_str()), (3, a.sha256.as_str()), "{}: {:?}", ts.kind, r.warnings);
        for key in ["history/18446744073709551614.json", "history/700.json"] {
            assert!(r.warnings.iter().any(|w| w.starts_with(&format!("{key} ignored"))), "{key}: {:?}", r.warnings);
        }
        let cache = tempfile::tempdir().unwrap();
        assert_eq!(phone_installs(&ts, cache.path()), (3, a.sha256.clone()), "{}", ts.kind);
        let c = release(&ts.store, &fx.keyring(), &request(&fx.b, "run-c")).unwrap();
        assert_eq!((c.sequence, c.sha256.as_str()), (4, b.sha256.as_str()), "{}: no wrap to 0", ts.kind);
        assert_eq!(phone_installs(&ts, cache.path()), (4, b.sha256.clone()), "{}", ts.kind);
    }
}

/// Item 1: a `latest.json` nobody trusted signed (sequence u64::MAX − 1) no longer sets the floor of the
/// next sequence; implausible jumps, even signed ones, and overflow are refused with nothing written.
#[test]
fn unverified_latest_implausible_jumps_and_overflow_are_refused() {
    let fx = fixture();
    for ts in stores("jumps") {
        let a = release(&ts.store, &fx.keyring(), &request(&fx.a, "run-a")).unwrap();
        let cache = tempfile::tempdir().unwrap();
        phone_installs(&ts, cache.path());
        let good_latest = ts.store.get(LATEST, "read").unwrap().unwrap().bytes;

        // A signed entry far above the current sequence (a mistaken --sequence, or a stolen key).
        let mut far = latest(&ts);
        far.sequence = 1 + MAX_SEQUENCE_STEP + 1;
        ts.store.put("history/1002.json", &fx.keyring().sign_history_record(&far).unwrap(), "plant").unwrap();
        let e = release(&ts.store, &fx.keyring(), &request(&fx.b, "run-b")).unwrap_err();
        assert!(matches!(e, ReleaseError::ImplausibleSequence { sequence: 1002, current: 1, .. }), "{}: {e}", ts.kind);
        assert!(e.to_string().contains("history/1002.json"), "{e}");
        ts.store.delete("history/1002.json", "clean").unwrap();
        let e = release_at(&ts.store, &fx.keyring(), &request(&fx.b, "run-b"), u64::MAX).unwrap_err();
        assert!(matches!(e, ReleaseError::ImplausibleSequence { .. }), "{e}");

        // latest.json replaced by one signed by an unknown key.
        let mut forged = latest(&ts);
        forged.sequence = u64::MAX - 1;
        ts.store.put(LATEST, &stranger().sign_installable(&forged).unwrap(), "forge latest.json").unwrap();
        let e = release(&ts.store, &fx.keyring(), &request(&fx.b, "run-b")).unwrap_err();
        assert!(matches!(e, ReleaseError::UnverifiedLatest { .. }), "{}: {e}", ts.kind);
        let e = rollback(&ts.store, &fx.keyring(), 1, 30).unwrap_err();
        assert!(matches!(e, ReleaseError::UnverifiedLatest { .. }), "{}: {e}", ts.kind);

        // A store the old bug already froze at u64::MAX (signed): no wrap to 0.
        forged.sequence = u64::MAX;
        ts.store.put(LATEST, &fx.keyring().sign_installable(&forged).unwrap(), "the frozen state").unwrap();
        let e = release(&ts.store, &fx.keyring(), &request(&fx.b, "run-b")).unwrap_err();
        assert!(matches!(e, ReleaseError::SequenceExhausted { after: u64::MAX }), "{}: {e}", ts.kind);

        ts.store.put(LATEST, &good_latest, "restore").unwrap();
        assert!(phone_keeps(&ts, cache.path(), 1, &a.sha256).is_none(), "{}", ts.kind);
        assert_eq!(
            hapticmat_release::release::status(&ts.store).unwrap().history,
            vec![1],
            "{}: nothing signed",
            ts.kind
        );
    }
}

/// Item 2: a `history/1.json` signed by an unknown key used to give a warning and be re-signed with the
/// production key. Now refused; an entry signed by a retired key of the keyring is still accepted.
#[test]
fn rollback_refuses_entries_no_key_of_the_keyring_signed_and_takes_retired_keys() {
    let fx = fixture();
    for ts in stores("keyring") {
        let old = Keyring::new(Signer25519::generate().unwrap());
        let a = release(&ts.store, &old, &request(&fx.a, "run-a")).unwrap();
        // The key rotates: the fixture key signs now, the old one is retired.
        let keys = Keyring::with_retired(fx.signer(), [old.signer().public_key()]);
        let b = release(&ts.store, &keys, &request(&fx.b, "run-b")).unwrap();
        assert_eq!(b.sequence, 2, "{}: a latest.json of the retired key verifies", ts.kind);
        let cache = tempfile::tempdir().unwrap();
        phone_installs(&ts, cache.path());

        let honest = ts.store.get("history/1.json", "read").unwrap().unwrap().bytes;
        let mut planted = latest(&ts);
        planted.sequence = 1;
        planted.source_run_id = "planted".into();
        ts.store.put("history/1.json", &stranger().sign_history_record(&planted).unwrap(), "plant").unwrap();
        let e = rollback(&ts.store, &keys, 1, 30).unwrap_err();
        assert!(matches!(e, ReleaseError::BadHistorySignature { .. }), "{}: {e}", ts.kind);
        assert!(e.to_string().contains("history/1.json") && e.to_string().contains("unknown key"), "{e}");
        assert!(phone_keeps(&ts, cache.path(), 2, &b.sha256).is_none(), "{}", ts.kind);
        // Without the retired key in the keyring, the honest entry is refused too.
        ts.store.put("history/1.json", &honest, "restore").unwrap();
        let e = rollback(&ts.store, &fx.keyring(), 1, 30).unwrap_err();
        assert!(matches!(e, ReleaseError::BadHistorySignature { .. }), "{}: {e}", ts.kind);
        let r = rollback(&ts.store, &keys, 1, 30).unwrap();
        assert_eq!(
            (r.sequence, r.sha256.as_str(), r.key_id.as_str()),
            (3, a.sha256.as_str(), keys.current_id().0.as_str())
        );
        assert!(r.warnings.iter().any(|w| w.contains("retired key")), "{:?}", r.warnings);
        assert_eq!(phone_installs(&ts, cache.path()), (3, a.sha256.clone()), "{}", ts.kind);
    }
}

/// Item 3: other bytes under a model's hash used to be overwritten unconditionally and reported as a
/// warning, and the release went on. Now the release fails before signing, and the right bytes are put
/// back only by a conditional write on the version examined.
#[test]
fn other_bytes_under_a_models_hash_fail_the_release_and_are_put_back_conditionally() {
    let fx = fixture();
    for ts in stores("tampered-object") {
        let a = release(&ts.store, &fx.keyring(), &request(&fx.a, "run-a")).unwrap();
        let cache = tempfile::tempdir().unwrap();
        phone_installs(&ts, cache.path());
        let key = Manifest::object_key_for(&sha256_file(&fx.b));
        ts.store.put(&key, b"corrupted", "corrupt").unwrap();
        let e = release(&ts.store, &fx.keyring(), &request(&fx.b, "run-b")).unwrap_err();
        assert!(matches!(e, ReleaseError::ModelTampered { repaired: true, .. }), "{}: {e}", ts.kind);
        assert!(e.to_string().contains(&key) && e.to_string().contains("9 bytes"), "{e}");
        assert_eq!(latest(&ts).sequence, 1, "{}: nothing signed", ts.kind);
        assert!(phone_keeps(&ts, cache.path(), 1, &a.sha256).is_none(), "{}", ts.kind);
        let repaired = ts.store.get(&key, "read").unwrap().unwrap().bytes;
        assert_eq!(repaired, std::fs::read(&fx.b).unwrap(), "{}: the model's bytes are back", ts.kind);
        let b = release(&ts.store, &fx.keyring(), &request(&fx.b, "run-b")).unwrap();
        assert_eq!(phone_installs(&ts, cache.path()), (2, b.sha256.clone()), "{}", ts.kind);
    }
}

/// Item 4: the publisher signed whatever bytes it was given when the contract fields looked right.
/// Now a model that fails the phones' self-test, or is larger than phones take, is refused before
/// anything is written; and a rollback to such a model is refused before signing.
#[test]
fn a_model_phones_would_refuse_is_never_signed() {
    let fx = fixture();
    for ts in stores("servable") {
        let garbage = ReleaseRequest { model_bytes: b"not an onnx model".to_vec(), ..request(&fx.a, "bad") };
        let e = release(&ts.store, &fx.keyring(), &garbage).unwrap_err();
        assert!(matches!(e, ReleaseError::SelfTest(_)), "{}: {e}", ts.kind);
        assert!(ts.keys().is_empty(), "{}: nothing written", ts.kind);
        let huge = ReleaseRequest { model_bytes: vec![0; MAX_MODEL_BYTES as usize + 1], ..request(&fx.a, "big") };
        let e = release(&ts.store, &fx.keyring(), &huge).unwrap_err();
        assert!(matches!(e, ReleaseError::ModelTooLarge { .. }), "{}: {e}", ts.kind);
        assert!(ts.keys().is_empty(), "{}: nothing written", ts.kind);

        // A signed history entry naming a model that does not load (in the store under its own hash).
        let a = release(&ts.store, &fx.keyring(), &request(&fx.a, "run-a")).unwrap();
        let cache = tempfile::tempdir().unwrap();
        phone_installs(&ts, cache.path());
        let bad = hapticmat_core::delivery::testing::manifest(2, b"not an onnx model");
        ts.store.put(&bad.object_key, b"not an onnx model", "plant").unwrap();
        ts.store.put("history/2.json", &fx.keyring().sign_history_record(&bad).unwrap(), "plant").unwrap();
        let b = release(&ts.store, &fx.keyring(), &request(&fx.b, "run-b")).unwrap();
        assert_eq!(b.sequence, 3);
        phone_installs(&ts, cache.path());
        let e = rollback(&ts.store, &fx.keyring(), 2, 30).unwrap_err();
        assert!(matches!(e, ReleaseError::SelfTest(_)), "{}: {e}", ts.kind);
        assert!(phone_keeps(&ts, cache.path(), 3, &b.sha256).is_none(), "{}", ts.kind);
        let _ = a;
    }
}

/// Item 5: a promotion that lost the final compare-and-swap left a signed, installable manifest in
/// `history/` for 30 days; copied to `latest.json` it was installed. History entries are now records no
/// phone installs: the copy is refused and the good model keeps serving.
#[test]
fn an_orphaned_history_entry_is_never_installable() {
    let fx = fixture();
    for ts in stores("orphan") {
        let a = release(&ts.store, &fx.keyring(), &request(&fx.a, "run-a")).unwrap();
        let cache = tempfile::tempdir().unwrap();
        phone_installs(&ts, cache.path());
        // A promotion plans from sequence 1, another moves latest.json first: the stale one takes
        // history/2.json and loses at latest.json.
        let (rb, rc) = (request(&fx.b, "run-b"), request(&fx.a, "run-c"));
        let stale = plan_release(&ts.store, &fx.keyring(), &rb).unwrap();
        release_at(&ts.store, &fx.keyring(), &rc, 3).unwrap();
        let lost = stale.execute(&ts.reopen(), &fx.keyring()).unwrap_err();
        assert!(lost.is_conflict() && lost.to_string().contains("no phone can install"), "{lost}");
        let c = latest(&ts);
        assert_eq!(phone_installs(&ts, cache.path()), (3, c.sha256.clone()));
        // A fresh phone (floor below 2) is handed the orphan as latest.json.
        let fresh = tempfile::tempdir().unwrap();
        let orphan = ts.store.get("history/2.json", "read").unwrap().unwrap().bytes;
        let good = ts.store.get(LATEST, "read").unwrap().unwrap().bytes;
        ts.store.put(LATEST, &orphan, "serve the orphan").unwrap();
        let e = updater(&ts.phone_url, fresh.path()).check_now().unwrap_err();
        assert!(matches!(e, UpdateError::Untrusted { .. }), "{}: {e}", ts.kind);
        assert!(phone_keeps(&ts, cache.path(), 3, &c.sha256).is_some(), "{}", ts.kind);
        // Every history entry of a release is such a record, even the one that won.
        for n in [1, 3] {
            let entry = ts.store.get(&format!("history/{n}.json"), "read").unwrap().unwrap().bytes;
            assert!(fx.pinned().verify(&entry).is_err(), "{}: history/{n}.json installable", ts.kind);
        }
        ts.store.put(LATEST, &good, "restore").unwrap();
        let _ = a;
    }
}

#[test]
fn a_current_manifest_close_to_expiry_is_re_signed_under_a_new_sequence() {
    let fx = fixture();
    let ts = TestStore::local();
    let short = ReleaseRequest { expires_in_days: 1, ..request(&fx.a, "run-a") };
    release(&ts.store, &fx.keyring(), &short).unwrap();
    let s = release(&ts.store, &fx.keyring(), &request(&fx.a, "run-a")).unwrap();
    assert_eq!((s.outcome, s.sequence, s.model_uploaded), (ReleaseOutcome::Released, 2, false));
    assert!((s.expires_at - s.created_at).num_days() == 30);
}

#[test]
fn a_validity_phones_would_refuse_is_refused_before_anything_is_written() {
    use hapticmat_core::delivery::manifest::MAX_VALIDITY_DAYS;
    let fx = fixture();
    let ts = TestStore::local();
    let longest = ReleaseRequest { expires_in_days: MAX_VALIDITY_DAYS as u32, ..request(&fx.a, "run-a") };
    let s = release(&ts.store, &fx.keyring(), &longest).unwrap();
    assert_eq!((s.expires_at - s.created_at).num_days(), MAX_VALIDITY_DAYS, "the bound itself is publishable");
    let too_long = ReleaseRequest { expires_in_days: MAX_VALIDITY_DAYS as u32 + 1, ..request(&fx.b, "run-b") };
    let e = release(&ts.store, &fx.keyring(), &too_long).unwrap_err();
    assert!(matches!(e, ReleaseError::ValidityTooLong { .. }), "{e}");
    let e = rollback(&ts.store, &fx.keyring(), 1, MAX_VALIDITY_DAYS as u32 + 1).unwrap_err();
    assert!(matches!(e, ReleaseError::ValidityTooLong { .. }), "{e}");
    assert_eq!(
        hapticmat_release::release::status(&ts.store).unwrap().latest.map(|m| m.sequence),
        Some(1),
        "nothing else was written"
    );
}

#[test]
fn a_model_this_core_cannot_serve_is_refused_before_anything_is_written() {
    let fx = fixture();
    let ts = TestStore::local();
    let e = release(&ts.store, &fx.keyring(), &request(&fx.wrong_labels, "bad")).unwrap_err();
    assert!(matches!(e, ReleaseError::Contract(_)) && e.to_string().contains("labels"), "{e}");
    assert!(ts.keys().is_empty());
}

#[test]
fn pipeline_rollback_prints_one_json_summary() {
    let fx = fixture();
    for ts in stores("cli") {
        release(&ts.store, &fx.keyring(), &request(&fx.a, "run-a")).unwrap();
        release(&ts.store, &fx.keyring(), &request(&fx.b, "run-b")).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_pipeline"));
        cmd.args(["rollback", "--to", "1", "--json", "--store", &ts.url, "--signing-key"]).arg(&fx.key);
        for v in ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "AWS_SESSION_TOKEN"] {
            cmd.env_remove(v);
        }
        if let Some(endpoint) = &ts.endpoint {
            let o = admin_options(endpoint);
            cmd.args(["--s3-endpoint", endpoint])
                .env("AWS_ACCESS_KEY_ID", o.access_key_id.unwrap())
                .env("AWS_SECRET_ACCESS_KEY", o.secret_access_key.unwrap())
                .env("AWS_REGION", "us-east-1");
        }
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{}: {stderr}", ts.kind);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is one JSON object");
        assert_eq!(v["outcome"], "released");
        assert_eq!((v["sequence"].as_u64(), v["rollback_of"].as_u64()), (Some(3), Some(1)));
        assert_eq!(v["sha256"], sha256_file(&fx.a));
        assert!(stderr.contains("[rollback]") && stderr.contains("sequence 3"), "{stderr}");
        assert_eq!(latest(&ts).sequence, 3);
    }
}

#[test]
fn an_anonymous_put_to_production_is_refused() {
    let Some(endpoint) = s3_endpoint() else { return };
    let prefix = unique_prefix("anon");
    let addr = endpoint.trim_start_matches("http://");
    let mut conn = std::net::TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let body = b"{\"not\": \"signed\"}";
    write!(
        conn,
        "PUT /{BUCKET}/{prefix}/latest.json HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    conn.write_all(body).unwrap();
    let mut answer = String::new();
    let _ = conn.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 403"), "anonymous PUT answered: {}", answer.lines().next().unwrap_or(""));

    // The store without credentials goes unsigned and gets the same refusal, named as such.
    let anonymous = S3Options { endpoint: Some(endpoint.clone()), retry: fast_retry(), ..Default::default() };
    let store = Store::s3(BUCKET, &prefix, &anonymous).unwrap();
    let e = store.put(LATEST, body, "write latest.json").unwrap_err();
    assert!(matches!(e, StoreError::AccessDenied { .. }), "{e}");
    let admin = Store::s3(BUCKET, &prefix, &admin_options(&endpoint)).unwrap();
    assert!(admin.get(LATEST, "read").unwrap().is_none(), "nothing was written");
}

#[test]
fn a_wrong_secret_is_access_denied_without_printing_the_secret() {
    let Some(endpoint) = s3_endpoint() else { return };
    let secret = format!("wrong-secret-{}", std::process::id());
    let opts = S3Options { secret_access_key: Some(secret.clone()), ..admin_options(&endpoint) };
    let prefix = unique_prefix("secret");
    let store = Store::s3(BUCKET, &prefix, &opts).unwrap();
    let e = release(&store, &fixture().keyring(), &request(&fixture().a, "run")).unwrap_err();
    let text = e.to_string();
    let host = endpoint.trim_start_matches("http://");
    assert!(text.contains(&format!("access denied by {host} for {BUCKET}/{prefix}/latest.json")), "{text}");
    assert!(text.contains("read latest.json"), "{text}");
    assert!(!text.contains(&secret) && !format!("{e:?}").contains(&secret), "the secret leaked: {text}");
}

#[test]
fn an_unreachable_store_fails_after_bounded_retries_naming_endpoint_and_step() {
    // A port that was just free: connections are refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let store = Store::s3(BUCKET, "p", &admin_options(&endpoint)).unwrap();
    let start = Instant::now();
    let e = release(&store, &fixture().keyring(), &request(&fixture().a, "run")).unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, ReleaseError::Store(StoreError::Unreachable { .. })), "{text}");
    assert!(text.contains(&format!("127.0.0.1:{port}")) && text.contains("read latest.json"), "{text}");
    assert!(!text.contains("hm-admin-dev-secret"));
    assert!(start.elapsed() < Duration::from_secs(15), "retries are bounded: {:?}", start.elapsed());
}

#[test]
fn a_failing_store_is_retried_a_bounded_number_of_times() {
    // A tiny server that answers every request with 503.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { break };
            counter.fetch_add(1, Ordering::SeqCst);
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf);
            let _ =
                conn.write_all(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    let store = Store::s3(BUCKET, "p", &admin_options(&format!("http://127.0.0.1:{port}"))).unwrap();
    let e = store.get(LATEST, "read latest.json").unwrap_err();
    assert!(e.to_string().contains("read latest.json") && e.to_string().contains("503"), "{e}");
    assert_eq!(hits.load(Ordering::SeqCst), fast_retry().max_retries + 1, "one try and the configured retries");
}
