//! The whole path from an ML engineer's run to a phone, on the real local stack (scripts/services.sh:
//! MariaDB, SeaweedFS, MLflow), through the `pipeline` binary exactly as Jenkins and a phone use it:
//! `run --tracking-uri` → `promote` → `fetch-model` anonymously over HTTP from the `production` bucket →
//! the fetched model replays the real recordings → absent/present right. Then attacks on the bucket (a
//! swapped model object, an older signed `latest.json`, an unsigned one, one signed by another key): the
//! phone refuses each and keeps serving the good model.
//!
//! Needs HM_MLFLOW_URL and HM_S3_URL (`eval "$(scripts/services.sh env)"`); skipped without them unless
//! HM_REQUIRE_SERVICES=1 (scripts/test.sh sets it).

use hapticmat_release::store::{S3Options, Store};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_pipeline"))
}

/// The real mat recordings kept in the repository.
const REAL_RECORDINGS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/seroton-mat");

fn real(name: &str) -> PathBuf {
    Path::new(REAL_RECORDINGS).join(name)
}

/// The stack's URLs, or `None` (after saying so) when it is not running and not required.
fn stack() -> Option<(String, String)> {
    let var = |n: &str| std::env::var(n).ok().filter(|v| !v.is_empty()).map(|v| v.trim_end_matches('/').to_string());
    match (var("HM_MLFLOW_URL"), var("HM_S3_URL")) {
        (Some(m), Some(s)) => Some((m, s)),
        _ if std::env::var("HM_REQUIRE_SERVICES").as_deref() == Ok("1") => {
            panic!("HM_REQUIRE_SERVICES=1 but HM_MLFLOW_URL/HM_S3_URL are not set: scripts/services.sh start")
        }
        _ => {
            eprintln!("skipped: stack not running (HM_MLFLOW_URL/HM_S3_URL unset)");
            None
        }
    }
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

/// Jenkins' S3 identity: may write the production bucket only.
fn publisher_env<'a>(cmd: &'a mut Command, s3: &str) -> &'a mut Command {
    cmd.env("AWS_ACCESS_KEY_ID", env_or("HM_S3_PUBLISHER_ACCESS_KEY", "hm-publisher"))
        .env("AWS_SECRET_ACCESS_KEY", env_or("HM_S3_PUBLISHER_SECRET_KEY", "hm-publisher-dev-secret"))
        .env("AWS_REGION", env_or("HM_S3_REGION", "us-east-1"))
        .env("AWS_ENDPOINT_URL", s3)
        .env_remove("MLFLOW_TRACKING_URI")
}

/// The attacker: someone who got write access to the bucket, but not the signing key.
fn attacker_store(s3: &str, prefix: &str) -> Store {
    let opts = S3Options {
        endpoint: Some(s3.to_string()),
        region: Some(env_or("HM_S3_REGION", "us-east-1")),
        access_key_id: Some(env_or("HM_S3_ACCESS_KEY", "hm-admin")),
        secret_access_key: Some(env_or("HM_S3_SECRET_KEY", "hm-admin-dev-secret")),
        ..Default::default()
    };
    Store::open(&format!("s3://production/{prefix}"), &opts).expect("open the bucket as admin")
}

fn output(cmd: &mut Command) -> (Output, Value) {
    let out = cmd.output().expect("pipeline runs");
    let last = String::from_utf8_lossy(&out.stdout).lines().last().unwrap_or_default().to_string();
    (out, serde_json::from_str(&last).unwrap_or(Value::Null))
}

fn ok(cmd: &mut Command) -> Value {
    let (out, v) = output(cmd);
    assert!(out.status.success(), "failed: {v}\n{}", String::from_utf8_lossy(&out.stderr));
    v
}

/// Share of scored frames whose presence is right when the empty mat, a person, then the empty mat again are
/// replayed as one session (±3 s around each change and the 10 s calibration are not scored).
fn replay_presence_accuracy(model: &Path) -> f64 {
    let (empty, human) = (real("empty_or_cat_on_mat.csv"), real("human_on_mat.csv"));
    let source = format!("replay:{},{},{}", empty.display(), human.display(), empty.display());
    let out =
        bin().args(["monitor", "--json", "--calibrate", "10", "--source", &source, "--model"]).arg(model).output();
    let out = out.expect("monitor runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).expect("JSON line")).collect();
    let t: Vec<f64> = lines.iter().map(|l| l["t"].as_f64().unwrap()).collect();
    let per_file = lines.len() / 3;
    let (c1, c2) = (t[per_file], t[2 * per_file]);
    let (mut right, mut scored) = (0, 0);
    for (l, &t) in lines.iter().zip(&t) {
        if t < 13.0 || (t - c1).abs() < 3.0 || (t - c2).abs() < 3.0 {
            continue;
        }
        scored += 1;
        right += usize::from(l["present"].as_bool() == Some((c1..c2).contains(&t)));
    }
    right as f64 / scored as f64
}

#[test]
fn a_tracked_run_is_promoted_fetched_by_a_phone_and_bucket_attacks_are_refused() {
    let Some((mlflow, s3)) = stack() else { return };
    let dir = tempfile::tempdir().unwrap();
    let tag = format!("e2e-{}-{}", std::process::id(), chrono::Utc::now().timestamp_millis());
    let (key, public) = (dir.path().join("signing.key"), dir.path().join("signing.key.pub"));
    ok(bin().args(["keygen", "--out"]).arg(&key));

    // The ML engineer's run, tracked in MLflow as it goes.
    let train = |seed: &str| {
        let run_dir = dir.path().join(format!("run-{seed}"));
        ok(bin()
            .args(["run", "--quiet", "--sessions", "40", "--session-seconds", "300", "--long-sessions", "0"])
            .args(["--epochs", "5", "--seed", seed, "--max-recall-drop", "10"])
            .args(["--recordings", REAL_RECORDINGS])
            .args(["--tracking-uri", &mlflow, "--experiment", &tag, "--out"])
            .arg(&run_dir)
            .env_remove("MLFLOW_TRACKING_URI"));
        run_dir
    };
    let run_dir = train("1");

    // Jenkins: promote with the publisher identity.
    let promote = |min_accuracy: &str| {
        let mut cmd = bin();
        cmd.args(["promote", "--json", "--tracking-uri", &mlflow, "--experiment", &tag])
            .args(["--store", &format!("s3://production/{tag}"), "--s3-endpoint", &s3, "--signing-key"])
            .arg(&key)
            .args(["--min-accuracy", min_accuracy, "--max-accuracy-drop", "5", "--summary"])
            .arg(dir.path().join("promotion.json"));
        publisher_env(&mut cmd, &s3);
        output(&mut cmd)
    };
    let (out, summary) = promote("0.5");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let said = String::from_utf8_lossy(&out.stderr);
    eprintln!("{}", said.lines().find(|l| l.contains("re-scored by the promoter")).expect("the promoter re-scores"));
    assert_eq!(summary["outcome"], "released", "{summary}");
    assert_eq!(summary["sequence"], 1);
    let sha = summary["sha256"].as_str().unwrap().to_string();
    let on_disk: Value = serde_json::from_slice(&std::fs::read(dir.path().join("promotion.json")).unwrap()).unwrap();
    assert_eq!(on_disk["sha256"], sha.as_str(), "the archived summary is the printed one");
    assert!(summary["model_version"].is_string(), "the production alias moved: {summary}");
    let local = std::fs::read(run_dir.join("model.int8.onnx")).unwrap();
    assert_eq!(sha, pipeline::tracking::sha256_hex(&local), "the promoted model is the run's int8 model");

    // Promoting again finds nothing new and writes nothing.
    let (out, again) = promote("0.5");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(again["outcome"], "already_current", "{again}");
    // A stricter gate finds no run and leaves production alone.
    let (out, _) = promote("0.999");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("passes the gates"), "{err}");

    // A phone: anonymous HTTP from the production bucket, the public key pinned.
    let base = format!("{s3}/production/{tag}");
    let phone = dir.path().join("phone");
    let fetch = |cache: &Path| {
        output(
            bin()
                .args(["fetch-model", "--json", "--attempts", "2", "--backoff-ms", "50", "--base-url", &base])
                .arg("--cache-dir")
                .arg(cache)
                .arg("--public-key")
                .arg(&public)
                .env_remove("AWS_ACCESS_KEY_ID")
                .env_remove("AWS_SECRET_ACCESS_KEY"),
        )
    };
    let (out, got) = fetch(&phone);
    assert!(out.status.success(), "{got} {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!((got["outcome"].as_str(), got["sha256"].as_str()), (Some("updated"), Some(sha.as_str())), "{got}");
    let served = PathBuf::from(got["path"].as_str().unwrap());
    let accuracy = replay_presence_accuracy(&served);
    assert!(accuracy >= 0.95, "the fetched model is right on {:.1}% of the real frames", 100.0 * accuracy);

    // A newer run passes the gates too: it becomes release 2 and the phone takes it.
    let newer = std::fs::read(train("2").join("model.int8.onnx")).unwrap();
    let (out, second) = promote("0.5");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(second["sequence"], 2, "{second}");
    assert_eq!(second["sha256"].as_str(), Some(pipeline::tracking::sha256_hex(&newer).as_str()), "the newest run");
    let (out, got) = fetch(&phone);
    assert!(out.status.success(), "{got} {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!((got["sequence"].as_u64(), got["outcome"].as_str()), (Some(2), Some("updated")), "{got}");
    // What an attacker keeps of release 2 to replay later: its latest.json (history/ holds only records).
    let release_2 = attacker_store(&s3, &tag).get("latest.json", "read latest.json").unwrap().expect("latest.json");

    // Issue 12 item 14: MLflow is unauthenticated, so anyone can log a run's gate metric. Release 2's run
    // is made to claim an accuracy of 0.9999; the promoter re-scores its model on its own held-out
    // subjects, finds it below a 0.999 gate, and signs nothing.
    let liar_run = second["source_run_id"].as_str().unwrap().to_string();
    let client = mlflow_rest::Client::from_uri(&mlflow).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let now = chrono::Utc::now().timestamp_millis();
    let lie = vec![
        mlflow_rest::Metric::new(pipeline::tracking::metric_keys::INT8_TEST_ACCURACY, 0.9999, 1, now),
        mlflow_rest::Metric::new(pipeline::tracking::metric_keys::INT8_ACCURACY_DROP_POINTS, 0.0, 1, now),
    ];
    rt.block_on(client.log_batch(&liar_run, lie, vec![], vec![])).unwrap();
    let (out, _) = promote("0.999");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a run lying about its accuracy was promoted: {err}");
    eprintln!("refused as it should be: {}", err.trim());
    assert!(err.contains(&liar_run) && err.contains("re-scored by the promoter") && err.contains("0.9999"), "{err}");
    let (out, got) = fetch(&phone);
    assert!(out.status.success(), "{got} {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!((got["sequence"].as_u64(), got["outcome"].as_str()), (Some(2), Some("up_to_date")), "{got}");

    // And its int8 artifact swapped (with manifest.json to match) for a weaker model that still clears
    // the 0.5 accuracy gate: re-scored against the run's own float model, it loses far more than the
    // 5-point drop gate allows, whatever the run claims, and nothing is signed.
    let weak_dir = dir.path().join("weak");
    ok(bin()
        .args(["run", "--quiet", "--no-quantize", "--sessions", "20", "--session-seconds", "200"])
        .args(["--long-sessions", "0", "--epochs", "2", "--out"])
        .arg(&weak_dir)
        .env_remove("MLFLOW_TRACKING_URI"));
    let weak = std::fs::read(weak_dir.join("model.fp32.onnx")).unwrap();
    rt.block_on(async {
        let run = client.get_run(&liar_run).await.unwrap();
        let mut manifest = pipeline::tracking::promotion::read_manifest(&client, &liar_run).await.unwrap();
        for e in manifest.artifacts.iter_mut().filter(|e| e.path == "model.int8.onnx") {
            *e = pipeline::tracking::ArtifactEntry::of("model.int8.onnx", &weak);
        }
        client.upload_artifact(&run.info.artifact_uri, "model.int8.onnx", weak.clone()).await.unwrap();
        let bytes = serde_json::to_vec(&manifest).unwrap();
        client.upload_artifact(&run.info.artifact_uri, "manifest.json", bytes).await.unwrap();
    });
    let (out, _) = promote("0.5");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a swapped, weaker int8 model was promoted: {err}");
    eprintln!("refused as it should be: {}", err.trim());
    assert!(err.contains(&liar_run) && err.contains("accuracy points against model.fp32.onnx"), "{err}");
    let (out, got) = fetch(&phone);
    assert!(out.status.success(), "{got} {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!((got["sequence"].as_u64(), got["outcome"].as_str()), (Some(2), Some("up_to_date")), "{got}");

    // The operator rolls back to release 1: its model comes back as release 3, and phones take it.
    let mut rb = bin();
    rb.args(["rollback", "--json", "--to", "1", "--store", &format!("s3://production/{tag}"), "--signing-key"])
        .arg(&key);
    publisher_env(&mut rb, &s3);
    let rolled = ok(&mut rb);
    assert_eq!((rolled["sequence"].as_u64(), rolled["sha256"].as_str()), (Some(3), Some(sha.as_str())), "{rolled}");
    let (out, got) = fetch(&phone);
    assert!(out.status.success(), "{got} {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!((got["sequence"].as_u64(), got["sha256"].as_str()), (Some(3), Some(sha.as_str())), "{got}");
    let served = PathBuf::from(got["path"].as_str().unwrap());

    let bucket = attacker_store(&s3, &tag);
    let object_key = format!("models/{sha}.onnx");
    let good_latest = bucket.get("latest.json", "read latest.json").unwrap().expect("latest.json").bytes;
    let keeps_the_good_model = |what: &str, refused_because: &[&str]| {
        let (out, v) = fetch(&phone);
        let err = String::from_utf8_lossy(&out.stderr).to_lowercase();
        assert!(!out.status.success(), "{what}: accepted: {v}");
        assert_eq!(v["outcome"], "rejected", "{what}: {v}");
        assert!(refused_because.iter().any(|w| err.contains(w)), "{what}: unclear reason: {err}");
        assert_eq!((v["sha256"].as_str(), v["sequence"].as_u64()), (Some(sha.as_str()), Some(3)), "{what}: {v}");
        assert_eq!(pipeline::tracking::sha256_hex(&std::fs::read(&served).unwrap()), sha, "{what}: cache touched");
    };

    // 1. The model object swapped for other bytes: a phone without the model refuses it and installs nothing.
    // Same size, other bytes: only the hash can tell.
    let mut swapped = local.clone();
    let mid = swapped.len() / 2;
    swapped[mid..mid + 16].iter_mut().for_each(|b| *b ^= 0x5a);
    bucket.put(&object_key, &swapped, "attack: overwrite model").unwrap();
    let (out, v) = fetch(&dir.path().join("new-phone"));
    let err = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert!(!out.status.success() && v["sha256"].is_null(), "swapped model installed: {v}");
    assert!(err.contains("sha-256") || err.contains("sha256") || err.contains("hash"), "{err}");
    bucket.put(&object_key, &local, "restore model").unwrap();

    // 2. An older, validly signed latest.json (release 2, the other model): a rollback attack.
    bucket.put("latest.json", &release_2.bytes, "attack: replay release 2").unwrap();
    keeps_the_good_model("older signed latest.json", &["sequence", "rollback", "older"]);
    // 2b. A history record served as latest.json (issue 12 item 5): signed, but never installable.
    let record = bucket.get("history/2.json", "read history").unwrap().expect("history/2.json").bytes;
    bucket.put("latest.json", &record, "attack: serve a history record").unwrap();
    keeps_the_good_model("history record as latest.json", &["malformed manifest"]);

    // 3. Unsigned: the manifest alone with a higher sequence, then that manifest under the old signature.
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let envelope: Value = serde_json::from_slice(&good_latest).unwrap();
    let mut manifest: Value =
        serde_json::from_slice(&b64.decode(envelope["payload"].as_str().unwrap()).unwrap()).unwrap();
    manifest["sequence"] = 99.into();
    bucket.put("latest.json", manifest.to_string().as_bytes(), "attack: unsigned").unwrap();
    keeps_the_good_model("unsigned latest.json", &["envelope", "signature", "signed"]);
    let mut forged = envelope.clone();
    forged["payload"] = b64.encode(manifest.to_string()).into();
    bucket.put("latest.json", forged.to_string().as_bytes(), "attack: edited payload").unwrap();
    keeps_the_good_model("edited manifest under the old signature", &["signature"]);

    // 4. A latest.json signed by a key the phone does not pin.
    let other_key = dir.path().join("other.key");
    ok(bin().args(["keygen", "--out"]).arg(&other_key));
    let other_store = dir.path().join("other-store");
    ok(bin()
        .args(["publish", "--sequence", "9", "--model"])
        .arg(run_dir.join("model.int8.onnx"))
        .arg("--key")
        .arg(&other_key)
        .arg("--store")
        .arg(&other_store));
    bucket.put("latest.json", &std::fs::read(other_store.join("latest.json")).unwrap(), "attack: foreign key").unwrap();
    keeps_the_good_model("latest.json signed by another key", &["key", "signature"]);

    // The real pointer back: the phone is content again.
    bucket.put("latest.json", &good_latest, "restore latest.json").unwrap();
    let (out, v) = fetch(&phone);
    assert!(out.status.success(), "{v} {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(v["outcome"], "up_to_date", "{v}");
}

/// MLflow's artifact proxy holds the S3 identity `mlflow`: it reads and writes its own bucket, and a write to
/// `production` (what phones download) is refused by the real SeaweedFS. Before, MLflow held the admin
/// identity, so whoever took over the tracking server could replace published models.
#[test]
fn mlflow_s3_identity_writes_its_own_bucket_but_not_production() {
    let Some((_, s3)) = stack() else { return };
    let tag = format!("e2e-mlflow-identity-{}-{}", std::process::id(), chrono::Utc::now().timestamp_millis());
    let as_mlflow = |url: &str| {
        let opts = S3Options {
            endpoint: Some(s3.clone()),
            region: Some(env_or("HM_S3_REGION", "us-east-1")),
            access_key_id: Some(env_or("HM_S3_MLFLOW_ACCESS_KEY", "hm-mlflow")),
            secret_access_key: Some(env_or("HM_S3_MLFLOW_SECRET_KEY", "hm-mlflow-dev-secret")),
            ..Default::default()
        };
        Store::open(url, &opts).expect("open the bucket as mlflow")
    };

    let own = as_mlflow(&format!("s3://mlflow/{tag}"));
    own.put("probe.txt", b"artifact", "mlflow writes its bucket").expect("mlflow may write bucket mlflow");
    let back = own.get("probe.txt", "mlflow reads its bucket").unwrap().expect("written");
    assert_eq!(back.bytes, b"artifact");
    own.delete("probe.txt", "clean up").unwrap();

    let production = as_mlflow(&format!("s3://production/{tag}"));
    for key in ["latest.json", "models/planted.onnx"] {
        let e = production.put(key, b"planted", "mlflow writes production").expect_err("refused");
        let text = e.to_string();
        assert!(text.contains("403") || text.to_ascii_lowercase().contains("denied"), "{key}: {text}");
        assert!(attacker_store(&s3, &tag).head(key, "admin looks").unwrap().is_none(), "{key} was written anyway");
    }
}

/// The secrets of the running stack (dev defaults, or what `scripts/services.sh env` exports) appear on no
/// command line of its processes: `/proc/PID/cmdline` is readable by every user (`ps`). Before, MLflow
/// got the database password inside `--backend-store-uri` and curl the S3 admin secret in `--user`.
#[test]
fn no_secret_of_the_stack_is_on_a_command_line() {
    let Some(_) = stack() else { return };
    let secrets: Vec<(&str, String)> = [
        ("HM_DB_PASSWORD", "mlflow-dev-password"),
        ("HM_S3_SECRET_KEY", "hm-admin-dev-secret"),
        ("HM_S3_PUBLISHER_SECRET_KEY", "hm-publisher-dev-secret"),
        ("HM_S3_MLFLOW_SECRET_KEY", "hm-mlflow-dev-secret"),
        ("HM_MLFLOW_PASSWORD", "hm-mlflow-dev-password"),
        ("HM_MLFLOW_FLASK_SECRET", "hm-mlflow-dev-flask-secret"),
    ]
    .into_iter()
    .map(|(name, default)| (name, env_or(name, default)))
    .collect();
    let port = |name: &str, default: &str| env_or(name, default);
    let (mysql, s3, mlflow) =
        (port("HM_MYSQL_PORT", "13306"), port("HM_S3_PORT", "18333"), port("HM_MLFLOW_PORT", "15000"));

    // Processes of this stack: the three servers (found by the port they were started with), everything
    // in their sessions (services.sh starts each with setsid: workers, helpers), and anything naming one of
    // its ports (health checks).
    let processes: Vec<(u32, String, u32)> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // Field 6 (session id), counted after the ")" that ends the command name.
            let session = stat.rsplit_once(')')?.1.split_whitespace().nth(3)?.parse().ok()?;
            Some((pid, String::from_utf8_lossy(&cmdline).replace('\0', " "), session))
        })
        .collect();
    let leaders = [
        ("mariadbd", format!("--port={mysql}")),
        ("weed", format!("-s3.port={s3}")),
        ("mlflow", format!("--port {mlflow}")),
    ];
    let mut sessions = Vec::new();
    for (program, flag) in &leaders {
        let found = processes.iter().find(|(_, c, _)| c.contains(program) && c.contains(flag.as_str()));
        let (_, _, session) =
            found.unwrap_or_else(|| panic!("no {program} process with {flag}: is the stack running?"));
        sessions.push(*session);
    }
    let ours = |cmdline: &str, session: u32| {
        sessions.contains(&session) || [&mysql, &s3, &mlflow].iter().any(|p| cmdline.contains(&format!(":{p}")))
    };
    let mut scanned = 0;
    for (pid, cmdline, session) in &processes {
        if !ours(cmdline, *session) {
            continue;
        }
        scanned += 1;
        for (name, secret) in &secrets {
            assert!(!cmdline.contains(secret.as_str()), "process {pid} has {name} on its command line");
        }
    }
    assert!(scanned >= leaders.len(), "scanned {scanned} processes");
}

/// `scripts/services.sh start` refuses a secret still holding a "change-me" placeholder of .env.example,
/// naming the variable, before it starts or installs anything (its own folder here, so nothing is touched).
#[test]
fn services_start_refuses_the_placeholders_of_env_example() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/services.sh");
    let dir = tempfile::tempdir().unwrap();
    for name in ["HM_DB_PASSWORD", "HM_S3_SECRET_KEY", "HM_S3_MLFLOW_SECRET_KEY", "HM_MLFLOW_PASSWORD"] {
        let out = Command::new("bash")
            .arg(&script)
            .arg("start")
            .env("HM_SERVICES_DIR", dir.path())
            .env(name, "change-me-mlflow-db-password")
            .output()
            .expect("services.sh runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name}: started with a placeholder\n{stderr}");
        assert!(stderr.contains(name) && stderr.contains("change-me"), "{name}: {stderr}");
        let started: Vec<_> = std::fs::read_dir(dir.path().join("run")).unwrap().collect();
        assert!(started.is_empty(), "{name}: something was started: {started:?}");
    }
}
