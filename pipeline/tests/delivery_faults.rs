//! Fault injection against the model updater: a real HTTP server on 127.0.0.1 misbehaves on purpose
//! (support/fault_server.rs) and each test pins the outcome and proves that the serving model is a
//! complete, signed one that loads and self-tests. Each test also writes its row of the fault table
//! (`scripts/fault-table.sh` gathers them into docs/delivery-faults.md).

mod support;

use hapticmat_core::delivery::cache::{CURRENT, FLOOR, LOCK, TRIAL_FIRST_LOAD, TRIAL_SELF_TEST};
use hapticmat_core::delivery::manifest::{LATEST, MODELS_PREFIX};
use hapticmat_core::delivery::{
    Manifest, Outcome, ProgressEvent, ProgressListener, Signer25519, UpdateError, UpdateStatus, Updater,
};
use rand::{Rng, SeedableRng};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::fault_server::{Behaviour, FaultServer, Req};
use support::{Store, fixture, updater};

/// A store with model A at sequence 1, served by a fault server, and a cache where A is installed.
struct Env {
    store: Store,
    server: FaultServer,
    cache: tempfile::TempDir,
    a: Manifest,
}

impl Env {
    fn with_a_installed() -> Self {
        let store = Store::new();
        let a = store.publish(&fixture().a, 1);
        let server = FaultServer::start(store.root());
        let cache = tempfile::tempdir().unwrap();
        let first = updater(&server.url(), cache.path()).check_now();
        assert!(matches!(first, Ok(UpdateStatus::Updated { .. })), "{first:?}");
        server.set_rule(|_| Behaviour::Serve);
        Env { store, server, cache, a }
    }

    /// Publishes model B at sequence 2 the proper way.
    fn publish_b(&self) -> Manifest {
        self.store.publish(&fixture().b, 2)
    }

    /// A fresh updater (as after an app start) on the same cache.
    fn updater(&self) -> Updater {
        updater(&self.server.url(), self.cache.path())
    }

    fn model_requests(&self) -> Vec<Req> {
        self.server.requests().into_iter().filter(|r| r.path.starts_with(MODELS_PREFIX)).collect()
    }
}

/// Runs one check under a fault, asserts its outcome and the serving model, proves that model loads and
/// self-tests and that the cache holds nothing else, and writes the fault table row.
fn check_fault(env: &Env, row: &str, fault: &str, expected: Outcome, serving: &Manifest) -> Checked {
    let updater = env.updater();
    let start = Instant::now();
    let result = updater.check_now();
    let took = start.elapsed();
    let report = updater.last_outcome().expect("a report");
    assert_eq!(report.outcome, expected, "{fault}: {result:?}");
    assert_eq!(result.as_ref().err().map(UpdateError::outcome).unwrap_or(report.outcome), expected);
    assert_serving(&updater, env.cache.path(), serving);
    let reason = result.as_ref().err().map(|e| e.to_string()).unwrap_or_else(|| "-".into());
    write_row(row, fault, expected, &reason, serving, took);
    Checked { r: result, took }
}

/// What one check under a fault gave.
struct Checked {
    r: Result<UpdateStatus, UpdateError>,
    took: Duration,
}

/// The serving model is `m`: the pointer names it, the bytes hash to it, it loads and self-tests, and
/// no other file (partial download, temporary) is left in the cache.
fn assert_serving(updater: &Updater, cache: &Path, m: &Manifest) {
    let current = updater.current().expect("a model is installed");
    assert_eq!((current.sequence, current.sha256.as_str()), (m.sequence, m.sha256.as_str()));
    assert_eq!(support::sha256_file(&current.path), m.sha256, "installed bytes are the signed ones");
    updater.load_current().expect("the serving model loads and self-tests");
    let allowed: Vec<String> =
        [updater.current(), updater.known_good()].into_iter().flatten().map(|m| m.sha256).collect();
    for entry in std::fs::read_dir(cache.join("models")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(allowed.iter().any(|sha| name == format!("{sha}.onnx")), "leftover in the cache: {name}");
    }
    for entry in std::fs::read_dir(cache).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!([CURRENT, FLOOR, LOCK, "models"].contains(&name.as_str()), "leftover in the cache: {name}");
    }
}

fn write_row(row: &str, fault: &str, outcome: Outcome, reason: &str, serving: &Manifest, took: Duration) {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("delivery-faults");
    std::fs::create_dir_all(&dir).unwrap();
    let line = format!(
        "| {fault} | `{}` | {} | sequence {} ({}…), loads and self-tests | {:.2} |\n",
        outcome.as_str(),
        reason.replace('|', "\\|"),
        serving.sequence,
        &serving.sha256[..12],
        took.as_secs_f64()
    );
    std::fs::write(dir.join(format!("{row}.md")), line).unwrap();
}

fn model_file(env: &Env, m: &Manifest) -> Vec<u8> {
    std::fs::read(env.store.object(m)).unwrap()
}

#[test]
fn a_newer_signed_model_is_installed() {
    let env = Env::with_a_installed();
    let b = env.publish_b();
    let r = check_fault(&env, "01", "none: a newer model is published", Outcome::Updated, &b).r;
    assert!(matches!(r, Ok(UpdateStatus::Updated { .. })));
    // The previous model is kept as the known-good fallback.
    assert_eq!(env.updater().known_good().map(|m| m.sha256), Some(env.a.sha256.clone()));
}

#[test]
fn an_unchanged_manifest_is_a_304_and_up_to_date() {
    let env = Env::with_a_installed();
    check_fault(&env, "02", "none: nothing new (conditional GET)", Outcome::UpToDate, &env.a);
    let reqs = env.server.requests();
    assert_eq!(reqs.len(), 1, "{reqs:?}");
    assert!(reqs[0].if_none_match.is_some(), "the manifest request is conditional");
}

#[test]
fn truncation_at_random_offsets_resumes_with_range() {
    let env = Env::with_a_installed();
    let b = env.publish_b();
    let size = b.size;
    let rng = Mutex::new(rand_chacha::ChaCha8Rng::seed_from_u64(4));
    env.server.set_rule(move |r| {
        let remaining = size - r.range_from.unwrap_or(0);
        if r.path.starts_with(MODELS_PREFIX) && r.n < 3 && remaining > 1 {
            Behaviour::Truncate(rng.lock().unwrap().random_range(1..remaining))
        } else {
            Behaviour::Serve
        }
    });
    check_fault(&env, "03", "truncation at 3 random offsets, then served", Outcome::Updated, &b);
    let ranged = env.model_requests().iter().filter(|r| r.range_from.is_some()).count();
    assert!(ranged >= 3, "resumed with Range: {:?}", env.model_requests());
}

#[test]
fn truncation_that_never_progresses_gives_up() {
    let env = Env::with_a_installed();
    env.publish_b();
    env.server.set_rule(|r| match (r.path.starts_with(MODELS_PREFIX), r.n) {
        (true, 0) => Behaviour::Truncate(1000),
        (true, _) => Behaviour::Truncate(0),
        _ => Behaviour::Serve,
    });
    let r = check_fault(&env, "04", "truncation on every request, no progress", Outcome::Failed, &env.a).r;
    assert!(matches!(r, Err(UpdateError::Network { .. })), "{r:?}");
    assert_eq!(env.model_requests().len(), 4, "max_attempts failed tries since the last progress");
}

#[test]
fn a_connection_reset_mid_body_resumes() {
    let env = Env::with_a_installed();
    let b = env.publish_b();
    let half = b.size / 2;
    env.server.set_rule(move |r| {
        if r.path.starts_with(MODELS_PREFIX) && r.n == 0 { Behaviour::Reset(half) } else { Behaviour::Serve }
    });
    check_fault(&env, "05", "connection reset (RST) mid-body", Outcome::Updated, &b);
    assert_eq!(env.model_requests().last().and_then(|r| r.range_from), Some(half));
}

#[test]
fn a_slow_drip_completes() {
    let env = Env::with_a_installed();
    let b = env.publish_b();
    env.server.set_rule(|r| {
        if r.path.starts_with(MODELS_PREFIX) {
            Behaviour::Drip { chunk: 512, every: Duration::from_millis(5) }
        } else {
            Behaviour::Serve
        }
    });
    check_fault(&env, "06", "slow drip (512 B every 5 ms)", Outcome::Updated, &b);
}

#[test]
fn a_stall_past_the_idle_timeout_resumes() {
    let env = Env::with_a_installed();
    let b = env.publish_b();
    let half = b.size / 2;
    env.server.set_rule(move |r| {
        if r.path.starts_with(MODELS_PREFIX) && r.n == 0 {
            Behaviour::Stall(half, Duration::from_secs(5))
        } else {
            Behaviour::Serve
        }
    });
    let took = check_fault(&env, "07", "stall mid-body longer than the idle timeout", Outcome::Updated, &b).took;
    assert!(took < Duration::from_secs(4), "the idle timeout cut the stall short: {took:?}");
}

#[test]
fn a_content_length_beyond_the_manifest_size_is_refused() {
    let env = Env::with_a_installed();
    let b = env.publish_b();
    let size = b.size;
    env.server.set_rule(move |r| {
        if r.path.starts_with(MODELS_PREFIX) { Behaviour::WrongLength(size + 1000) } else { Behaviour::Serve }
    });
    let r = check_fault(&env, "08", "Content-Length larger than the manifest's size", Outcome::Rejected, &env.a).r;
    assert!(matches!(r, Err(UpdateError::BadModel { .. })), "{r:?}");
}

#[test]
fn a_short_content_length_resumes() {
    let env = Env::with_a_installed();
    let b = env.publish_b();
    let size = b.size;
    env.server.set_rule(move |r| {
        if r.path.starts_with(MODELS_PREFIX) && r.n == 0 {
            Behaviour::WrongLength(size - 500)
        } else {
            Behaviour::Serve
        }
    });
    check_fault(&env, "09", "Content-Length shorter than the body", Outcome::Updated, &b);
}

#[test]
fn a_missing_model_fails_without_retries() {
    let env = Env::with_a_installed();
    env.publish_b();
    env.server
        .set_rule(|r| if r.path.starts_with(MODELS_PREFIX) { Behaviour::Status(404, None) } else { Behaviour::Serve });
    check_fault(&env, "10", "404 for the model", Outcome::Failed, &env.a);
    assert_eq!(env.model_requests().len(), 1, "a 404 is not retried");
}

#[test]
fn a_missing_manifest_fails() {
    let env = Env::with_a_installed();
    env.server.set_rule(|_| Behaviour::Status(404, None));
    check_fault(&env, "11", "404 for latest.json", Outcome::Failed, &env.a);
}

#[test]
fn server_errors_are_retried_then_fail() {
    let env = Env::with_a_installed();
    env.publish_b();
    env.server
        .set_rule(|r| if r.path.starts_with(MODELS_PREFIX) { Behaviour::Status(500, None) } else { Behaviour::Serve });
    check_fault(&env, "12", "500 on every model request", Outcome::Failed, &env.a);
    assert_eq!(env.model_requests().len(), 4, "max_attempts tries");
}

#[test]
fn a_503_retry_after_is_honoured() {
    let env = Env::with_a_installed();
    let b = env.publish_b();
    env.server.set_rule(|r| {
        if r.path.starts_with(MODELS_PREFIX) && r.n == 0 {
            Behaviour::Status(503, Some("1".into()))
        } else {
            Behaviour::Serve
        }
    });
    let took = check_fault(&env, "13", "503 with Retry-After: 1, then served", Outcome::Updated, &b).took;
    assert!(took >= Duration::from_secs(1), "waited as asked: {took:?}");
}

#[test]
fn a_retry_after_beyond_the_limit_fails_at_once() {
    let env = Env::with_a_installed();
    env.server.set_rule(|_| Behaviour::Status(503, Some("3600".into())));
    let took = check_fault(&env, "14", "503 with Retry-After: 3600 on latest.json", Outcome::Failed, &env.a).took;
    assert!(took < Duration::from_secs(1), "{took:?}");
    assert_eq!(env.server.requests().len(), 1);
}

#[test]
fn one_flipped_byte_is_rejected() {
    let env = Env::with_a_installed();
    let b = env.publish_b();
    let mut bytes = model_file(&env, &b);
    let i = bytes.len() / 3;
    bytes[i] ^= 0x01;
    env.server.set_rule(move |r| {
        if r.path.starts_with(MODELS_PREFIX) { Behaviour::Body(bytes.clone()) } else { Behaviour::Serve }
    });
    let r = check_fault(&env, "15", "one flipped byte in the model", Outcome::Rejected, &env.a).r;
    assert!(r.unwrap_err().to_string().contains("SHA-256"));
}

#[test]
fn a_body_larger_than_declared_is_cut_off() {
    let env = Env::with_a_installed();
    let b = env.publish_b();
    let mut bytes = model_file(&env, &b);
    bytes.extend(std::iter::repeat_n(0u8, 4 << 20));
    let chunked = bytes.clone();
    env.server.set_rule(move |r| {
        if r.path.starts_with(MODELS_PREFIX) { Behaviour::Body(bytes.clone()) } else { Behaviour::Serve }
    });
    check_fault(&env, "16", "body 4 MiB larger than the manifest's size", Outcome::Rejected, &env.a);
    env.server.set_rule(move |r| {
        if r.path.starts_with(MODELS_PREFIX) { Behaviour::Chunked(chunked.clone()) } else { Behaviour::Serve }
    });
    check_fault(&env, "17", "same, chunked (no Content-Length)", Outcome::Rejected, &env.a);
}

#[test]
fn an_endless_body_is_cut_off() {
    let env = Env::with_a_installed();
    env.publish_b();
    env.server.set_rule(|r| if r.path.starts_with(MODELS_PREFIX) { Behaviour::Endless } else { Behaviour::Serve });
    check_fault(&env, "18", "endless model body", Outcome::Rejected, &env.a);
    std::thread::sleep(Duration::from_millis(100));
    assert!(env.server.body_bytes_sent() < 32 << 20, "stopped reading early: {}", env.server.body_bytes_sent());
    env.server.set_rule(|r| if r.path == "latest.json" { Behaviour::Endless } else { Behaviour::Serve });
    check_fault(&env, "19", "endless latest.json", Outcome::Rejected, &env.a);
}

#[test]
fn malformed_json_is_rejected() {
    let env = Env::with_a_installed();
    env.store.write_latest(b"{\"payload\": \"ewo=\", \"key_id\": ");
    let r = check_fault(&env, "20", "malformed JSON in latest.json", Outcome::Rejected, &env.a).r;
    assert!(matches!(r, Err(UpdateError::Untrusted { .. })), "{r:?}");
}

#[test]
fn a_bad_signature_is_rejected() {
    let env = Env::with_a_installed();
    let b = env.publish_b();
    let text = std::fs::read_to_string(env.store.root().join("latest.json")).unwrap();
    let mut envelope: hapticmat_core::delivery::Envelope = serde_json::from_str(&text).unwrap();
    // Sign other bytes (sequence 3) and keep the old signature: the classic substitution.
    let forged = fixture().signer().sign(&Manifest { sequence: 3, ..b.clone() }).unwrap();
    envelope.payload = forged.payload;
    env.store.write_latest(&envelope.to_bytes());
    let r = check_fault(&env, "21", "payload changed after signing", Outcome::Rejected, &env.a).r;
    assert!(r.unwrap_err().to_string().contains("signature"));
    assert!(env.model_requests().is_empty(), "nothing downloaded on a bad signature");
}

#[test]
fn an_unknown_key_is_rejected() {
    let env = Env::with_a_installed();
    let stranger = Signer25519::generate().unwrap();
    env.store.publish_raw(2, &std::fs::read(&fixture().b).unwrap(), &stranger, |_| {});
    let r = check_fault(&env, "22", "signed by a key that is not pinned", Outcome::Rejected, &env.a).r;
    assert!(r.unwrap_err().to_string().contains(&stranger.public_key().id().0));
}

#[test]
fn an_expired_manifest_is_rejected() {
    let env = Env::with_a_installed();
    env.store.publish_raw(2, &std::fs::read(&fixture().b).unwrap(), &fixture().signer(), |m| {
        m.created_at = chrono::Utc::now() - chrono::Duration::days(40);
        m.expires_at = chrono::Utc::now() - chrono::Duration::days(10);
    });
    let r = check_fault(&env, "23", "expired manifest", Outcome::Rejected, &env.a).r;
    assert!(matches!(r, Err(UpdateError::Refused { .. })), "{r:?}");
}

#[test]
fn an_older_sequence_is_refused_as_a_rollback() {
    let env = Env::with_a_installed();
    // The old, validly signed latest.json of sequence 1, kept by an attacker (history/ holds only
    // records, which no phone installs).
    let seq1 = std::fs::read(env.store.root().join(LATEST)).unwrap();
    let b = env.publish_b();
    assert!(matches!(env.updater().check_now(), Ok(UpdateStatus::Updated { .. })));
    // Replay the old, validly signed manifest of sequence 1.
    env.store.write_latest(&seq1);
    let r = check_fault(&env, "24", "replay of an older signed manifest", Outcome::Rejected, &b).r;
    assert!(r.unwrap_err().to_string().contains("rollback"));
}

#[test]
fn a_redirect_loop_fails() {
    let env = Env::with_a_installed();
    env.server.set_rule(|r| match r.path.as_str() {
        "latest.json" => Behaviour::Redirect("elsewhere.json".into()),
        _ => Behaviour::Redirect("latest.json".into()),
    });
    let r = check_fault(&env, "25", "redirect loop on latest.json", Outcome::Failed, &env.a).r;
    assert!(r.unwrap_err().to_string().contains("redirect"));
}

#[test]
fn a_model_failing_its_self_test_leaves_the_known_good_one() {
    let env = Env::with_a_installed();
    let bad = std::fs::read(&fixture().wrong_labels).unwrap();
    env.store.publish_raw(2, &bad, &fixture().signer(), |_| {});
    let r = check_fault(&env, "26", "signed model that fails to load (label contract)", Outcome::Rejected, &env.a).r;
    assert!(r.unwrap_err().to_string().contains("self-test"));
    // The refusal is remembered: the same model is not downloaded again.
    env.server.set_rule(|_| Behaviour::Serve);
    assert!(matches!(env.updater().check_now(), Err(UpdateError::BadModel { .. })));
    assert!(env.model_requests().is_empty(), "{:?}", env.model_requests());
}

#[test]
fn a_signed_file_that_is_not_a_model_is_rejected() {
    let env = Env::with_a_installed();
    env.store.publish_raw(2, b"this is not an ONNX model", &fixture().signer(), |_| {});
    check_fault(&env, "27", "signed garbage instead of a model", Outcome::Rejected, &env.a);
}

#[test]
fn a_foreign_contract_is_refused_before_download() {
    let env = Env::with_a_installed();
    env.store.publish_raw(2, &std::fs::read(&fixture().b).unwrap(), &fixture().signer(), |m| {
        m.contract.feature_version = 99;
    });
    let r = check_fault(&env, "28", "manifest for feature version 99", Outcome::Rejected, &env.a).r;
    assert!(r.unwrap_err().to_string().contains("feature version"));
    assert!(env.model_requests().is_empty());
}

#[test]
fn a_newer_schema_is_refused() {
    let env = Env::with_a_installed();
    let m = hapticmat_core::delivery::testing::manifest(2, b"x");
    let text =
        String::from_utf8(m.to_bytes().unwrap()).unwrap().replace("\"schema_version\": 1", "\"schema_version\": 2");
    env.store.write_latest(&fixture().signer().sign_bytes(text.as_bytes()).to_bytes());
    let r = check_fault(&env, "29", "manifest schema version 2", Outcome::Rejected, &env.a).r;
    assert!(r.unwrap_err().to_string().contains("schema version 2"));
}

#[test]
fn an_unreachable_store_fails() {
    let env = Env::with_a_installed();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", closed.local_addr().unwrap());
    drop(closed);
    let updater = updater(&url, env.cache.path());
    let start = Instant::now();
    let r = updater.check_now();
    assert!(matches!(r, Err(UpdateError::Network { .. })), "{r:?}");
    assert_serving(&updater, env.cache.path(), &env.a);
    write_row(
        "30",
        "connection refused (store down)",
        Outcome::Failed,
        &r.unwrap_err().to_string(),
        &env.a,
        start.elapsed(),
    );
}

#[test]
fn a_file_store_works_and_same_sequence_is_up_to_date() {
    let store = Store::new();
    let a = store.publish(&fixture().a, 1);
    let cache = tempfile::tempdir().unwrap();
    let u = updater(&store.file_url(), cache.path());
    assert!(matches!(u.check_now(), Ok(UpdateStatus::Updated { .. })));
    assert!(matches!(u.check_now(), Ok(UpdateStatus::UpToDate { .. })));
    assert_serving(&u, cache.path(), &a);
}

#[derive(Default)]
struct Recorder(Mutex<Vec<ProgressEvent>>);

impl ProgressListener for Recorder {
    fn on_progress(&self, event: ProgressEvent) {
        self.0.lock().unwrap().push(event);
    }
}

#[test]
fn the_listener_hears_download_progress_and_the_outcome() {
    let env = Env::with_a_installed();
    let b = env.publish_b();
    let u = env.updater();
    let rec = Arc::new(Recorder::default());
    u.set_listener(Some(rec.clone()));
    u.check_now().unwrap();
    let events = rec.0.lock().unwrap().clone();
    assert_eq!(events.first(), Some(&ProgressEvent::CheckingManifest));
    assert!(events.contains(&ProgressEvent::Downloading { received: b.size, total: b.size }), "{events:?}");
    assert_eq!(events.last(), Some(&ProgressEvent::Finished { outcome: Outcome::Updated }));
}

#[test]
fn cancel_stops_a_slow_download_and_leaves_no_partial_file() {
    let env = Env::with_a_installed();
    env.publish_b();
    env.server.set_rule(|r| {
        if r.path.starts_with(MODELS_PREFIX) {
            Behaviour::Drip { chunk: 64, every: Duration::from_millis(20) }
        } else {
            Behaviour::Serve
        }
    });
    let u = Arc::new(env.updater());
    let handle = u.cancel_handle();
    let t = std::thread::spawn({
        let u = u.clone();
        move || u.check_now()
    });
    std::thread::sleep(Duration::from_millis(300));
    handle.cancel();
    let r = t.join().unwrap();
    assert_eq!(r, Err(UpdateError::Cancelled));
    assert_serving(&u, env.cache.path(), &env.a);
}

#[test]
fn fetch_model_json_names_each_outcome() {
    let store = Store::new();
    let a = store.publish(&fixture().a, 1);
    let cache = tempfile::tempdir().unwrap();
    let fetch = || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_pipeline"))
            .args(["fetch-model", "--json", "--base-url", &store.file_url()])
            .arg("--cache-dir")
            .arg(cache.path())
            .arg("--public-key")
            .arg(&fixture().public)
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
        (out.status.success(), v)
    };
    let (ok, v) = fetch();
    assert!(ok, "{v}");
    assert_eq!(
        (v["outcome"].as_str(), v["sequence"].as_u64(), v["sha256"].as_str()),
        (Some("updated"), Some(1), Some(a.sha256.as_str()))
    );
    let (ok, v) = fetch();
    assert!(ok && v["outcome"] == "up_to_date" && v["reason"].is_null(), "{v}");
    store.write_latest(b"garbage");
    let (ok, v) = fetch();
    assert!(!ok && v["outcome"] == "rejected" && v["sequence"] == 1, "{v}");
    assert!(v["reason"].as_str().unwrap().contains("malformed"), "{v}");
}

/// The cache's `current.json`, edited as JSON (a cache written by another version, or damaged).
fn edit_current(cache: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let path = cache.join(CURRENT);
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    edit(&mut v);
    std::fs::write(&path, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
}

// Issue 12 item 6: a 304 is "not modified" only as the answer to a conditional request, and only after
// the manifest kept with the serving model verifies again and has not expired.

#[test]
fn an_unasked_304_is_refused() {
    let env = Env::with_a_installed();
    // A cache that kept no ETag (its store sent none): the request is unconditional.
    edit_current(env.cache.path(), |v| v["etag"] = serde_json::Value::Null);
    env.store.write_latest(b"garbage");
    env.server.set_rule(|r| if r.path == "latest.json" { Behaviour::Status(304, None) } else { Behaviour::Serve });
    let r =
        check_fault(&env, "31", "304 to an unconditional request (garbage at latest.json)", Outcome::Rejected, &env.a)
            .r;
    assert!(matches!(&r, Err(UpdateError::Untrusted { reason }) if reason.contains("304")), "{r:?}");
    let reqs = env.server.requests();
    assert!(reqs.iter().all(|r| r.if_none_match.is_none()), "the request was unconditional: {reqs:?}");
}

#[test]
fn a_304_after_the_kept_manifest_expired_is_refused() {
    let store = Store::new();
    let a_bytes = std::fs::read(&fixture().a).unwrap();
    let a = store.publish_raw(1, &a_bytes, &fixture().signer(), |m| {
        m.created_at = chrono::Utc::now() - chrono::Duration::days(29);
        m.expires_at = chrono::Utc::now() + chrono::Duration::milliseconds(1500);
    });
    let server = FaultServer::start(store.root());
    let cache = tempfile::tempdir().unwrap();
    let first = updater(&server.url(), cache.path()).check_now();
    assert!(matches!(first, Ok(UpdateStatus::Updated { .. })), "{first:?}");
    let env = Env { store, server, cache, a };
    // Before expiry a 304 is up to date; after it, the same 304 is not.
    let before = env.updater().check_now();
    assert!(matches!(before, Ok(UpdateStatus::UpToDate { .. })), "{before:?}");
    let left = env.a.expires_at - chrono::Utc::now();
    std::thread::sleep(left.to_std().unwrap_or_default() + Duration::from_millis(100));
    env.store.write_latest(b"garbage");
    env.server.set_rule(|r| if r.path == "latest.json" { Behaviour::Status(304, None) } else { Behaviour::Serve });
    let r = check_fault(
        &env,
        "32",
        "304 after the kept manifest expired (garbage at latest.json)",
        Outcome::Rejected,
        &env.a,
    )
    .r;
    assert!(matches!(&r, Err(UpdateError::Refused { reason }) if reason.contains("expired")), "{r:?}");
    let reqs = env.server.requests();
    assert!(reqs.len() == 1 && reqs[0].if_none_match.is_some(), "one conditional request: {reqs:?}");
}

// Issue 12 item 7: the rollback floor is the highest sequence verified, kept apart from the installed
// model, and one sequence names one model.

#[test]
fn a_verified_sequence_whose_download_failed_still_bounds_replays() {
    let env = Env::with_a_installed();
    env.publish_b();
    let seq2 = std::fs::read(env.store.root().join(LATEST)).unwrap();
    // Sequence 3 is verified, but its model cannot be fetched.
    env.store.publish_raw(3, b"model bytes the store lost", &fixture().signer(), |_| {});
    env.server
        .set_rule(|r| if r.path.starts_with(MODELS_PREFIX) { Behaviour::Status(404, None) } else { Behaviour::Serve });
    assert!(matches!(env.updater().check_now(), Err(UpdateError::Network { .. })));
    // Then the validly signed sequence 2 is replayed: it is above the installed 1, but below the verified 3.
    env.store.write_latest(&seq2);
    env.server.set_rule(|_| Behaviour::Serve);
    let r = check_fault(
        &env,
        "33",
        "sequence 3 verified but not downloaded, then sequence 2 replayed",
        Outcome::Rejected,
        &env.a,
    )
    .r;
    let e = r.unwrap_err();
    assert!(
        matches!(&e, UpdateError::Refused { .. }) && e.to_string().contains("sequence 2 is lower than sequence 3"),
        "{e}"
    );
    assert!(env.model_requests().is_empty(), "nothing downloaded for a rollback");
}

#[test]
fn a_second_model_under_a_verified_sequence_is_a_fork() {
    let env = Env::with_a_installed();
    // Sequence 1 again, signed by the pinned key, for model B.
    let fork = env.store.publish_raw(1, &std::fs::read(&fixture().b).unwrap(), &fixture().signer(), |_| {});
    let r = check_fault(&env, "34", "sequence 1 signed again for another model (fork)", Outcome::Rejected, &env.a).r;
    let e = r.unwrap_err();
    assert!(matches!(&e, UpdateError::Refused { .. }) && e.to_string().contains("fork"), "{e}");
    assert!(e.to_string().contains(&fork.sha256) && e.to_string().contains(&env.a.sha256), "{e}");
    assert!(env.model_requests().is_empty());
}

#[test]
fn a_damaged_pointer_does_not_lower_the_floor() {
    let env = Env::with_a_installed();
    let seq1 = std::fs::read(env.store.root().join(LATEST)).unwrap();
    let b = env.publish_b();
    assert!(matches!(env.updater().check_now(), Ok(UpdateStatus::Updated { .. })));
    let latest = std::fs::read(env.store.root().join("latest.json")).unwrap();
    // current.json damaged from outside: the cache starts empty, but the floor is kept apart.
    std::fs::write(env.cache.path().join(CURRENT), b"{ not json").unwrap();
    env.store.write_latest(&seq1);
    let u = env.updater();
    assert_eq!(u.current(), None);
    let r = u.check_now();
    assert!(matches!(&r, Err(UpdateError::Refused { reason }) if reason.contains("rollback")), "{r:?}");
    assert_eq!(u.current(), None, "the replayed sequence 1 was not installed");
    // The real latest (sequence 2, at the floor with the same model) is installed again.
    env.store.write_latest(&latest);
    assert!(matches!(u.check_now(), Ok(UpdateStatus::Updated { .. })));
    assert_serving(&u, env.cache.path(), &b);
}

#[test]
fn a_fall_back_to_the_previous_model_does_not_lower_the_floor() {
    let env = Env::with_a_installed();
    let b = env.publish_b();
    assert!(matches!(env.updater().check_now(), Ok(UpdateStatus::Updated { .. })));
    // B's file is damaged on disk: opening the cache falls back to A (sequence 1).
    let b_path = env.cache.path().join("models").join(format!("{}.onnx", b.sha256));
    std::fs::write(&b_path, b"damaged").unwrap();
    let u = env.updater();
    assert_eq!(u.current().map(|m| m.sequence), Some(1));
    // A replay of sequence 1 for another model is still refused: the floor stayed at 2.
    env.store.publish_raw(1, b"another model one", &fixture().signer(), |_| {});
    let r = u.check_now();
    assert!(matches!(&r, Err(UpdateError::Refused { reason }) if reason.contains("rollback")), "{r:?}");
    assert_serving(&u, env.cache.path(), &env.a);
}

// Issue 12 item 8: a manifest's validity is bounded and it may not come from the future.

#[test]
fn a_manifest_from_the_future_is_refused() {
    let env = Env::with_a_installed();
    env.store.publish_raw(2, &std::fs::read(&fixture().b).unwrap(), &fixture().signer(), |m| {
        m.created_at = "2099-01-01T00:00:00Z".parse().unwrap();
        m.expires_at = "9999-12-31T00:00:00Z".parse().unwrap();
    });
    let r = check_fault(&env, "35", "manifest created in 2099, expiring in 9999", Outcome::Rejected, &env.a).r;
    let e = r.unwrap_err();
    assert!(matches!(&e, UpdateError::Refused { .. }) && e.to_string().contains("2099-01-01"), "{e}");
    assert!(env.model_requests().is_empty());
}

#[test]
fn an_endless_validity_is_refused() {
    let env = Env::with_a_installed();
    env.store.publish_raw(2, &std::fs::read(&fixture().b).unwrap(), &fixture().signer(), |m| {
        m.expires_at = "9999-12-31T00:00:00Z".parse().unwrap();
    });
    let r = check_fault(&env, "36", "manifest created now, expiring in 9999", Outcome::Rejected, &env.a).r;
    let e = r.unwrap_err();
    assert!(matches!(&e, UpdateError::Refused { .. }) && e.to_string().contains("400 days"), "{e}");
    assert!(env.model_requests().is_empty());
}

// Issue 12 item 9: one updater per cache folder; only a model's own failure is a refusal.

/// Waits (up to 10 s) until a download is under way: its temporary file exists in the cache and the
/// server was asked for the model (progress events come only per 256 KiB, too rarely for a small model).
fn wait_for_download(env: &Env) {
    let start = Instant::now();
    let downloading = || {
        let temporary = std::fs::read_dir(env.cache.path().join("models"))
            .unwrap()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with(".download-"));
        temporary && !env.model_requests().is_empty()
    };
    while !downloading() {
        assert!(start.elapsed() < Duration::from_secs(10), "the download never started");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Model requests drip slowly enough (~2 s for B) that a test can act while a check downloads.
fn drip_models(env: &Env) {
    env.server.set_rule(|r| {
        if r.path.starts_with(MODELS_PREFIX) {
            Behaviour::Drip { chunk: 256, every: Duration::from_millis(20) }
        } else {
            Behaviour::Serve
        }
    });
}

/// Starts a check of `u` on its own thread and returns once its download is under way.
fn check_in_background(env: &Env, u: &Arc<Updater>) -> std::thread::JoinHandle<Result<UpdateStatus, UpdateError>> {
    let t = std::thread::spawn({
        let u = u.clone();
        move || u.check_now()
    });
    wait_for_download(env);
    t
}

#[test]
fn a_second_updater_on_the_same_cache_is_refused_and_the_first_download_survives() {
    let env = Env::with_a_installed();
    let b = env.publish_b();
    drip_models(&env);
    let first = Arc::new(env.updater());
    let start = Instant::now();
    let t = check_in_background(&env, &first);
    // Before the lock, this second updater's start-up cleanup deleted the first one's download as a
    // leftover, and the first then recorded the I/O error as a permanent refusal of model B.
    let second = support::try_updater(&env.server.url(), env.cache.path(), fixture().pinned());
    let e = second.err().expect("the second updater is refused");
    assert!(matches!(&e, UpdateError::Storage { reason } if reason.contains("in use by another updater")), "{e}");
    let r = t.join().unwrap();
    assert!(matches!(r, Ok(UpdateStatus::Updated { .. })), "the first updater's download survived: {r:?}");
    assert_serving(&first, env.cache.path(), &b);
    write_row(
        "37",
        "a second updater opens the cache while the first downloads B",
        Outcome::Updated,
        &format!("second updater: {e}"),
        &b,
        start.elapsed(),
    );
    drop(first);
    assert!(support::try_updater(&env.server.url(), env.cache.path(), fixture().pinned()).is_ok(), "lock released");
}

#[test]
fn a_download_lost_to_storage_trouble_is_not_a_refusal_of_the_model() {
    let env = Env::with_a_installed();
    let b = env.publish_b();
    drip_models(&env);
    let u = Arc::new(env.updater());
    let start = Instant::now();
    let t = check_in_background(&env, &u);
    // Something outside the updater removes the download (as a second updater's cleanup used to).
    for e in std::fs::read_dir(env.cache.path().join("models")).unwrap() {
        let e = e.unwrap();
        if e.file_name().to_string_lossy().starts_with(".download-") {
            std::fs::remove_file(e.path()).unwrap();
        }
    }
    let r = t.join().unwrap();
    assert!(matches!(&r, Err(UpdateError::Storage { .. })), "{r:?}");
    assert_serving(&u, env.cache.path(), &env.a);
    write_row(
        "38",
        "B's download deleted from outside before its self-test",
        Outcome::Failed,
        &r.unwrap_err().to_string(),
        &env.a,
        start.elapsed(),
    );
    // Not remembered as a refusal: the next check fetches B again and installs it.
    env.server.set_rule(|_| Behaviour::Serve);
    let again = u.check_now();
    assert!(matches!(again, Ok(UpdateStatus::Updated { .. })), "{again:?}");
    assert_serving(&u, env.cache.path(), &b);
}

// Issue 12 item 10: a model whose trial (self-test, first load) kills the process is refused next start.

/// Which trial the child process dies in, named in `HM_TRIAL_CHILD`.
const TRIAL_CHILD: &str = "HM_TRIAL_CHILD";

/// Not a test: the child process of the trial tests. It aborts (SIGABRT, no unwinding, as a native crash
/// in ONNX Runtime ends the app) the moment the updater reports that it is trying a model, after the
/// trial marker is on disk. `self-test`: a check that downloads B; `first-load`: loading the serving model.
#[test]
#[ignore = "run by the trial tests as their child process"]
fn trial_child() {
    let Ok(mode) = std::env::var(TRIAL_CHILD) else { return };
    struct AbortOnTrial;
    impl log::Log for AbortOnTrial {
        fn enabled(&self, _: &log::Metadata) -> bool {
            true
        }
        fn log(&self, record: &log::Record) {
            if record.args().to_string().contains("trying model") {
                std::process::abort();
            }
        }
        fn flush(&self) {}
    }
    static LOGGER: AbortOnTrial = AbortOnTrial;
    log::set_logger(&LOGGER).unwrap();
    log::set_max_level(log::LevelFilter::Info);
    let var = |name: &str| std::env::var(name).unwrap();
    let key = hapticmat_core::delivery::PublicKey::parse(&std::fs::read_to_string(var("HM_TRIAL_KEY")).unwrap());
    let keys = hapticmat_core::delivery::PinnedKeys::new([key.unwrap()]);
    let u = support::try_updater(&var("HM_TRIAL_URL"), Path::new(&var("HM_TRIAL_CACHE")), keys).unwrap();
    match mode.as_str() {
        "self-test" => drop(u.check_now()),
        "first-load" => drop(u.load_current()),
        other => panic!("unknown mode {other}"),
    }
}

/// Runs [`trial_child`] in `mode` on the env's cache; it must die of SIGABRT in the middle of a trial,
/// leaving the marker.
fn crash_in_trial(env: &Env, mode: &str) {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "trial_child", "--ignored", "--nocapture", "--test-threads", "1"])
        .env(TRIAL_CHILD, mode)
        .env("HM_TRIAL_URL", env.server.url())
        .env("HM_TRIAL_CACHE", env.cache.path())
        .env("HM_TRIAL_KEY", &fixture().public)
        .output()
        .unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(out.status.signal(), Some(6), "the child aborted mid-trial: {out:?}");
    let marker = if mode == "self-test" { TRIAL_SELF_TEST } else { TRIAL_FIRST_LOAD };
    assert!(env.cache.path().join(marker).exists(), "the trial marker was on disk when the process died");
}

#[test]
fn a_model_that_kills_the_app_in_its_self_test_is_refused_on_the_next_start() {
    let env = Env::with_a_installed();
    env.publish_b();
    crash_in_trial(&env, "self-test");
    // The next start: A serves; B (whose self-test never finished) is refused without downloading it.
    let before = env.model_requests().len();
    let r = check_fault(&env, "39", "the app dies during B's self-test; next start", Outcome::Rejected, &env.a).r;
    let e = r.unwrap_err();
    assert!(matches!(&e, UpdateError::BadModel { reason } if reason.contains("self-test never finished")), "{e}");
    assert_eq!(env.model_requests().len(), before, "B is not fetched again");
    assert!(!env.cache.path().join(TRIAL_SELF_TEST).exists());
}

#[test]
fn a_model_that_kills_the_app_on_its_first_load_falls_back_to_the_known_good_one() {
    let env = Env::with_a_installed();
    env.publish_b();
    assert!(matches!(env.updater().check_now(), Ok(UpdateStatus::Updated { .. })));
    crash_in_trial(&env, "first-load");
    // The next start: A (the known-good model) serves again, B is refused and not fetched again.
    let before = env.model_requests().len();
    let r = check_fault(&env, "40", "the app dies during B's first load; next start", Outcome::Rejected, &env.a).r;
    let e = r.unwrap_err();
    assert!(matches!(&e, UpdateError::BadModel { reason } if reason.contains("first load never finished")), "{e}");
    assert_eq!(env.model_requests().len(), before, "B is not fetched again");
    assert_eq!(env.updater().known_good(), None, "B is not kept as a fall-back either");
}

#[test]
fn a_proven_model_loads_without_a_trial_and_survives_a_crash_elsewhere() {
    let env = Env::with_a_installed();
    let b = env.publish_b();
    let u = env.updater();
    assert!(matches!(u.check_now(), Ok(UpdateStatus::Updated { .. })));
    u.load_current().expect("B's first load finishes");
    drop(u);
    // The app dies later while loading B again: B has loaded before, so that is no trial and no refusal.
    crash_free_reload(&env);
    let u = env.updater();
    assert_eq!(u.current().map(|m| m.sha256), Some(b.sha256.clone()));
    assert_serving(&u, env.cache.path(), &b);
}

/// Loads the serving model in a child that aborts on a trial: a proven model is loaded without one, so
/// the child exits normally.
fn crash_free_reload(env: &Env) {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "trial_child", "--ignored", "--nocapture", "--test-threads", "1"])
        .env(TRIAL_CHILD, "first-load")
        .env("HM_TRIAL_URL", env.server.url())
        .env("HM_TRIAL_CACHE", env.cache.path())
        .env("HM_TRIAL_KEY", &fixture().public)
        .output()
        .unwrap();
    assert!(out.status.success(), "no trial for a proven model: {out:?}");
}

// Issue 12 item 11: the cache is not locked across a check; a cancel reaches a check still waiting.

#[test]
fn current_and_loading_answer_while_a_check_downloads() {
    let env = Env::with_a_installed();
    let b = env.publish_b();
    drip_models(&env);
    let u = Arc::new(env.updater());
    let t = check_in_background(&env, &u);
    let start = Instant::now();
    let current = u.current();
    let took_current = start.elapsed();
    let model = u.load_current();
    let took_load = start.elapsed();
    assert!(!t.is_finished(), "the check was still downloading");
    assert_eq!(current.map(|m| m.sha256), Some(env.a.sha256.clone()));
    assert!(model.is_ok(), "{:?}", model.err());
    assert!(took_current < Duration::from_millis(100), "current() waited {took_current:?}");
    assert!(took_load < Duration::from_millis(1000), "load_current() waited {took_load:?}");
    assert!(matches!(t.join().unwrap(), Ok(UpdateStatus::Updated { .. })));
    assert_serving(&u, env.cache.path(), &b);
}

#[test]
fn a_cancel_while_a_second_check_waits_ends_both() {
    let env = Env::with_a_installed();
    let b = env.publish_b();
    drip_models(&env);
    let u = Arc::new(env.updater());
    let start = Instant::now();
    let first = check_in_background(&env, &u);
    let second = std::thread::spawn({
        let u = u.clone();
        move || u.check_now()
    });
    std::thread::sleep(Duration::from_millis(100));
    assert!(!second.is_finished(), "the second check waits for the first");
    u.cancel();
    assert_eq!(first.join().unwrap(), Err(UpdateError::Cancelled));
    let r = second.join().unwrap();
    let took = start.elapsed();
    assert_eq!(r, Err(UpdateError::Cancelled), "the cancel reached the waiting check too");
    assert_serving(&u, env.cache.path(), &env.a);
    write_row(
        "41",
        "cancel while a second check waits for the first",
        Outcome::Failed,
        "cancelled (both checks)",
        &env.a,
        took,
    );
    // A check asked for after the cancel runs.
    env.server.set_rule(|_| Behaviour::Serve);
    assert!(matches!(u.check_now(), Ok(UpdateStatus::Updated { .. })));
    assert_serving(&u, env.cache.path(), &b);
}

// Issue 12 item 12: publisher keys come from a key set signed by the pinned root; revocation, rollback of
// the key set, forged key sets and root rotation.

/// A store whose keys.json (key set version 1, signed by a root key the phone pins) lists the fixture's
/// publisher key; A installed by a phone that pins only the root.
struct RootEnv {
    env: Env,
    keys: tempfile::TempDir,
    root: hapticmat_core::delivery::PinnedRoot,
}

impl RootEnv {
    fn new() -> Self {
        let store = Store::new();
        let keys = tempfile::tempdir().unwrap();
        let root_file = pipeline::publish::keygen(&keys.path().join("root.pem")).unwrap();
        let root = hapticmat_core::delivery::PinnedRoot {
            key: hapticmat_core::delivery::PublicKey::parse(&std::fs::read_to_string(&root_file.public).unwrap())
                .unwrap(),
            version: 1,
        };
        let keys_json = store.root().join("keys.json");
        let p1 = fixture().public.to_str().unwrap().to_string();
        keys_cli(
            &["sign", "--root", &path(&keys, "root.pem"), "--version", "1", "--publisher", &p1, "--out"],
            &keys_json,
        );
        let a = store.publish(&fixture().a, 1);
        let server = FaultServer::start(store.root());
        let cache = tempfile::tempdir().unwrap();
        let first = support::root_updater(&server.url(), cache.path(), root).check_now();
        assert!(matches!(first, Ok(UpdateStatus::Updated { .. })), "{first:?}");
        assert!(cache.path().join("trust.json").exists(), "the accepted key set is kept");
        RootEnv { env: Env { store, server, cache, a }, keys, root }
    }

    fn updater(&self) -> Updater {
        support::root_updater(&self.env.server.url(), self.env.cache.path(), self.root)
    }

    fn keys_json(&self) -> PathBuf {
        self.env.store.root().join("keys.json")
    }

    /// A new publisher key pair in the keys folder.
    fn keygen(&self, name: &str) -> Signer25519 {
        pipeline::publish::keygen(&self.keys.path().join(name)).unwrap();
        pipeline::publish::read_signing_key(&self.keys.path().join(name)).unwrap()
    }

    /// Runs one check like `check_fault`, with a root-pinning updater, and writes the row.
    fn check(
        &self,
        row: &str,
        fault: &str,
        expected: Outcome,
        serving: &Manifest,
    ) -> Result<UpdateStatus, UpdateError> {
        let u = self.updater();
        let start = Instant::now();
        let r = u.check_now();
        let took = start.elapsed();
        assert_eq!(u.last_outcome().map(|o| o.outcome), Some(expected), "{fault}: {r:?}");
        assert_serving_with_trust(&u, self.env.cache.path(), serving);
        let reason = r.as_ref().err().map(|e| e.to_string()).unwrap_or_else(|| "-".into());
        write_row(row, fault, expected, &reason, serving, took);
        r
    }
}

fn path(dir: &tempfile::TempDir, name: &str) -> String {
    dir.path().join(name).to_str().unwrap().to_string()
}

/// Runs `pipeline keys ARGS OUT`, which must succeed.
fn keys_cli(args: &[&str], out: &Path) -> String {
    let o =
        std::process::Command::new(env!("CARGO_BIN_EXE_pipeline")).arg("keys").args(args).arg(out).output().unwrap();
    assert!(o.status.success(), "pipeline keys {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// [`assert_serving`] for a cache that also keeps `trust.json`.
fn assert_serving_with_trust(u: &Updater, cache: &Path, m: &Manifest) {
    let trust = cache.join("trust.json");
    let kept = std::fs::read(&trust).unwrap();
    std::fs::remove_file(&trust).unwrap();
    assert_serving(u, cache, m);
    std::fs::write(&trust, kept).unwrap();
}

#[test]
fn a_publisher_key_rotated_by_the_root_signs_the_next_model_and_the_revoked_one_is_refused() {
    let r = RootEnv::new();
    let p2 = r.keygen("p2.pem");
    let (p1_pub, p2_pub) = (fixture().public.to_str().unwrap().to_string(), path(&r.keys, "p2.pem.pub"));
    let keys_json = r.keys_json();
    let root = path(&r.keys, "root.pem");
    let v1 = std::fs::read(&keys_json).unwrap();
    // Key set 2: p2 joins, p1 (say, leaked) is revoked. No app update.
    keys_cli(
        &[
            "sign",
            "--root",
            &root,
            "--version",
            "2",
            "--publisher",
            &p1_pub,
            "--publisher",
            &p2_pub,
            "--revoke",
            &p1_pub,
            "--keys",
            keys_json.to_str().unwrap(),
            "--out",
        ],
        &keys_json,
    );
    let b = r.env.store.publish_raw(2, &std::fs::read(&fixture().b).unwrap(), &p2, |_| {});
    assert!(matches!(
        r.check("42", "publisher key rotated by a root-signed key set; B signed by the new key", Outcome::Updated, &b),
        Ok(UpdateStatus::Updated { .. })
    ));
    // The leaked p1 signs a manifest for other bytes: refused, B keeps serving.
    r.env.store.publish_raw(3, b"planted by the holder of a revoked key", &fixture().signer(), |_| {});
    let e = r.check("43", "manifest signed by a revoked publisher key", Outcome::Rejected, &b).unwrap_err();
    assert!(matches!(&e, UpdateError::Untrusted { reason } if reason.contains("revoked")), "{e}");
    // Replaying key set 1 (where p1 was not revoked) is a rollback.
    std::fs::write(&keys_json, &v1).unwrap();
    let e = r
        .check("44", "key set version 1 replayed after version 2 (p1 not revoked in it)", Outcome::Rejected, &b)
        .unwrap_err();
    assert!(matches!(&e, UpdateError::Refused { reason } if reason.contains("key set rollback")), "{e}");
    // Hiding keys.json leaves the accepted key set (kept in the cache) in force.
    std::fs::remove_file(&keys_json).unwrap();
    let e = r.check("45", "keys.json removed, manifest signed by the revoked key", Outcome::Rejected, &b).unwrap_err();
    assert!(e.to_string().contains("revoked"), "{e}");
    let downloads = r.env.model_requests();
    assert!(downloads[1..].iter().all(|q| q.path.contains(&b.sha256)), "only A, then B: {downloads:?}");
}

#[test]
fn a_key_set_not_signed_by_the_pinned_root_is_refused() {
    let r = RootEnv::new();
    // The store's attacker makes their own root and publisher key and lists it.
    let (evil_root, evil) = (r.keygen("evil-root.pem"), r.keygen("evil.pem"));
    let forged = hapticmat_core::delivery::KeysDocument {
        root_rotations: vec![],
        keyset: Some(hapticmat_core::delivery::KeySet::new(2, &[evil.public_key()], vec![], 30).sign(&evil_root)),
    };
    std::fs::write(r.keys_json(), forged.to_bytes()).unwrap();
    r.env.store.publish_raw(2, &std::fs::read(&fixture().b).unwrap(), &evil, |_| {});
    let e = r.check("46", "key set signed by a root the phone does not pin", Outcome::Rejected, &r.env.a).unwrap_err();
    assert!(
        matches!(&e, UpdateError::Untrusted { reason } if reason.contains("not signed by the current root")),
        "{e}"
    );
    assert_eq!(r.env.model_requests().len(), 1, "only A's download, at setup");
}

#[test]
fn the_root_rotates_by_a_chain_and_the_old_root_signs_nothing_after() {
    let r = RootEnv::new();
    let p2 = r.keygen("p2.pem");
    r.keygen("root2.pem");
    let keys_json = r.keys_json();
    let kj = keys_json.to_str().unwrap().to_string();
    keys_cli(
        &[
            "rotate-root",
            "--old-root",
            &path(&r.keys, "root.pem"),
            "--old-version",
            "1",
            "--new-root",
            &path(&r.keys, "root2.pem.pub"),
            "--keys",
            &kj,
            "--out",
        ],
        &keys_json,
    );
    keys_cli(
        &[
            "sign",
            "--root",
            &path(&r.keys, "root2.pem"),
            "--version",
            "2",
            "--publisher",
            &path(&r.keys, "p2.pem.pub"),
            "--keys",
            &kj,
            "--out",
        ],
        &keys_json,
    );
    // What a phone pinning the first root makes of it, as the ceremony checks before uploading.
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_pipeline"))
        .args(["keys", "verify", "--root", &path(&r.keys, "root.pem.pub"), "--keys", &kj])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success() && stdout.contains("root version 2") && stdout.contains(&p2.public_key().id().0),
        "{stdout}"
    );
    let b = r.env.store.publish_raw(2, &std::fs::read(&fixture().b).unwrap(), &p2, |_| {});
    assert!(matches!(
        r.check("47", "root rotated (new root signed by the old), key set 2 by the new root", Outcome::Updated, &b),
        Ok(UpdateStatus::Updated { .. })
    ));
    // The retired root (stolen later) signs key set 3 with its holder's key: refused.
    let old_root = pipeline::publish::read_signing_key(&r.keys.path().join("root.pem")).unwrap();
    let evil = r.keygen("evil.pem");
    let mut doc = hapticmat_core::delivery::KeysDocument::parse(&std::fs::read(&keys_json).unwrap()).unwrap();
    doc.keyset = Some(hapticmat_core::delivery::KeySet::new(3, &[evil.public_key()], vec![], 30).sign(&old_root));
    std::fs::write(&keys_json, doc.to_bytes()).unwrap();
    r.env.store.publish_raw(3, b"planted with a retired root", &evil, |_| {});
    let e =
        r.check("48", "key set 3 signed by the retired root after the rotation", Outcome::Rejected, &b).unwrap_err();
    assert!(matches!(&e, UpdateError::Untrusted { reason } if reason.contains("version 2")), "{e}");
}

#[test]
fn an_expired_key_set_verifies_no_manifest() {
    let r = RootEnv::new();
    let root = pipeline::publish::read_signing_key(&r.keys.path().join("root.pem")).unwrap();
    let mut ks = hapticmat_core::delivery::KeySet::new(2, &[fixture().signer().public_key()], vec![], 30);
    ks.created_at = chrono::Utc::now() - chrono::Duration::days(40);
    ks.expires_at = chrono::Utc::now() - chrono::Duration::days(10);
    let doc = hapticmat_core::delivery::KeysDocument { root_rotations: vec![], keyset: Some(ks.sign(&root)) };
    std::fs::write(r.keys_json(), doc.to_bytes()).unwrap();
    r.env.publish_b();
    let e = r.check("49", "key set expired (the root signed nothing newer)", Outcome::Rejected, &r.env.a).unwrap_err();
    assert!(matches!(&e, UpdateError::Refused { reason } if reason.contains("expired")), "{e}");
    assert_eq!(r.env.model_requests().len(), 1, "only A's download, at setup");
}
