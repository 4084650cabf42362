//! The MLflow client, `pipeline log`, `pipeline run --tracking-uri` and promote's run selection against
//! the REAL MLflow server of the local stack (`scripts/services.sh start`; URL from HM_MLFLOW_URL), plus
//! fault injection (closed port, 503, 401, a server that never answers) on tiny in-test TCP servers.
//! Without HM_MLFLOW_URL the stack tests print "skipped: stack not running" and pass, unless
//! HM_REQUIRE_SERVICES=1.

use mlflow_rest::{Auth, Client, ClientConfig, Error, RetryPolicy, RunStatus, SearchRuns};
use pipeline::tracking::promotion::{Gates, PromotionError, fetch_verified, select_candidate, set_production_alias};
use pipeline::tracking::{
    self, ArtifactManifest, LogOptions, MANIFEST_FILE, TrackingError, metric_keys, sha256_hex, tag_keys,
};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

const EPOCHS: usize = 2;

/// The stack's MLflow URL, or `None` (after printing why) when the stack is not configured.
fn mlflow_url() -> Option<String> {
    match std::env::var("HM_MLFLOW_URL").ok().filter(|u| !u.trim().is_empty()) {
        Some(u) => Some(u),
        None => {
            assert_ne!(
                std::env::var("HM_REQUIRE_SERVICES").as_deref(),
                Ok("1"),
                "HM_REQUIRE_SERVICES=1 but HM_MLFLOW_URL is unset (scripts/services.sh env)"
            );
            println!("skipped: stack not running");
            None
        }
    }
}

macro_rules! stack {
    () => {
        match mlflow_url() {
            Some(u) => u,
            None => return,
        }
    };
}

/// A client with test-sized retries and the stack's credentials (`MLFLOW_TRACKING_USERNAME` /
/// `MLFLOW_TRACKING_PASSWORD`, exported by `scripts/services.sh env`).
fn client(url: &str) -> Client {
    let mut cfg = ClientConfig::from_env(url);
    cfg.retry = RetryPolicy { attempts: 3, base_delay: Duration::from_millis(100), max_delay: Duration::from_secs(1) };
    Client::new(cfg).expect("client")
}

/// A name no earlier run of these tests used (time + random).
fn unique(what: &str) -> String {
    format!("h1-test-{what}-{}-{:08x}", chrono::Utc::now().format("%Y%m%d-%H%M%S%3f"), rand::random::<u32>())
}

fn options(experiment: &str, model: &str) -> LogOptions {
    LogOptions { experiment: experiment.into(), registered_model: model.into(), ..Default::default() }
}

/// One small real training run per test binary, made by `pipeline run --tracking-uri` (so the folder is
/// also what that command logged): (folder, experiment it was logged to). A model this small quantizes
/// badly, so the run's own accuracy-drop gate is opened: these tests are about logging, not quality.
fn fixture(url: &str) -> &'static (tempfile::TempDir, String) {
    static F: OnceLock<Result<(tempfile::TempDir, String), String>> = OnceLock::new();
    let made = F.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let experiment = unique("pipeline-run");
        let out = Command::new(env!("CARGO_BIN_EXE_pipeline"))
            .args([
                "run",
                "--quiet",
                "--sessions",
                "8",
                "--session-seconds",
                "120",
                "--long-sessions",
                "0",
                "--epochs",
                &EPOCHS.to_string(),
            ])
            .args(["--max-accuracy-drop", "100", "--max-recall-drop", "100"])
            .args(["--recordings", concat!(env!("CARGO_MANIFEST_DIR"), "/../data/seroton-mat")])
            .arg("--out")
            .arg(dir.path())
            .args(["--tracking-uri", url, "--experiment", &experiment])
            .output()
            .expect("pipeline runs");
        // Kept as an error rather than a panic so the other tests do not train again.
        match out.status.success() {
            true => Ok((dir, experiment)),
            false => Err(format!("pipeline run failed: {}", String::from_utf8_lossy(&out.stderr))),
        }
    });
    made.as_ref().unwrap_or_else(|e| panic!("{e}"))
}

fn run_dir(url: &str) -> &'static Path {
    fixture(url).0.path()
}

fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        let to = dst.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &to);
        } else {
            std::fs::copy(e.path(), to).unwrap();
        }
    }
}

/// A copy of the fixture folder with report.json edited.
fn edited_copy(url: &str, edit: impl FnOnce(&mut serde_json::Value)) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(run_dir(url), dir.path());
    let path = dir.path().join("report.json");
    let mut report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(&mut report);
    std::fs::write(path, serde_json::to_vec_pretty(&report).unwrap()).unwrap();
    dir
}

#[tokio::test]
async fn a_logged_run_folder_reads_back_whole_through_the_rest_api() {
    let url = stack!();
    let c = client(&url);
    let dir = run_dir(&url);
    let (experiment, model) = (unique("log"), unique("model"));
    let s = tracking::log_run_dir(&c, dir, &options(&experiment, &model)).await.expect("logged");
    assert!(s.run_url.starts_with(url.trim_end_matches('/')) && s.run_url.ends_with(&s.run_id), "{}", s.run_url);

    let run = c.get_run(&s.run_id).await.unwrap();
    assert_eq!(run.info.status, RunStatus::Finished);
    assert!(run.info.end_time.is_some());

    // Params: the flattened settings of report.json.
    assert_eq!(run.data.param("dataset.sessions"), Some("8"));
    assert_eq!(run.data.param("training.epochs"), Some(EPOCHS.to_string().as_str()));
    assert_eq!(run.data.param("quantization.method.method"), Some("min_max"));
    assert_eq!(s.params, run.data.params.len());

    // Metrics: the gated keys hold the report's figures.
    let report = tracking::read_report(dir).unwrap();
    let figure = |p: &str| report.pointer(p).and_then(serde_json::Value::as_f64);
    for (key, pointer) in [
        (metric_keys::TEST_ACCURACY, "/test/accuracy"),
        (metric_keys::INT8_TEST_ACCURACY, "/comparison/int8/test/accuracy"),
        (metric_keys::INT8_ACCURACY_DROP_POINTS, "/comparison/accuracy_drop_points"),
    ] {
        assert_eq!(run.data.metric(key), Some(figure(pointer).unwrap()), "{key}");
    }
    // The fixture's run replays the repository's real recordings, so these figures exist.
    assert!(figure("/real/presence_accuracy").is_some());
    assert_eq!(run.data.metric(metric_keys::REAL_PRESENCE_ACCURACY), figure("/real/presence_accuracy"));
    assert_eq!(
        run.data.metric(metric_keys::INT8_REAL_PRESENCE_ACCURACY),
        figure("/comparison/int8/real/presence_accuracy")
    );
    assert!(run.data.metric(metric_keys::INT8_MODEL_BYTES).unwrap() > 1000.0);

    // Curves: one value per epoch, step = epoch.
    let mut history = c.get_metric_history(&s.run_id, metric_keys::VALIDATION_LOSS).await.unwrap();
    history.sort_by_key(|m| m.step);
    assert_eq!(history.iter().map(|m| m.step).collect::<Vec<_>>(), (1..=EPOCHS as i64).collect::<Vec<_>>());
    let curves = report.pointer("/training/curves").unwrap().as_array().unwrap();
    for (m, e) in history.iter().zip(curves) {
        assert_eq!(Some(m.value), e["validation_loss"].as_f64());
    }

    // Tags.
    assert_eq!(run.data.tag(tag_keys::DATA_FINGERPRINT), Some(s.data_fingerprint.as_str()));
    assert_eq!(s.data_fingerprint, tracking::data_fingerprint(dir, &report).unwrap());
    assert_eq!(run.data.tag(tag_keys::RUN_NAME), Some(s.run_name.as_str()));
    assert_eq!(run.data.tag(tag_keys::SOURCE_TYPE), Some("LOCAL"));
    assert_eq!(run.data.tag(tag_keys::GIT_COMMIT), s.git_commit.as_deref());
    let head = Command::new("git").args(["rev-parse", "HEAD"]).output().ok().filter(|o| o.status.success());
    if let Some(head) = head {
        assert_eq!(
            s.git_commit.as_deref(),
            Some(String::from_utf8_lossy(&head.stdout).trim()),
            "tests run in the checkout"
        );
    }

    // Artifacts: every file listed, the manifest's hashes are the local files' hashes.
    let listed = c.list_artifacts(&run.info.artifact_uri, None).await.unwrap();
    let names: Vec<&str> = listed.iter().map(|f| f.path.as_str()).collect();
    for f in tracking::REQUIRED_FILES.iter().chain(&tracking::OPTIONAL_FILES).chain(&[MANIFEST_FILE]) {
        assert!(names.contains(f), "{f} not in {names:?}");
    }
    let manifest: ArtifactManifest =
        serde_json::from_slice(&c.download_artifact(&run.info.artifact_uri, MANIFEST_FILE).await.unwrap()).unwrap();
    assert_eq!((manifest.schema_version, manifest.run_id.as_str()), (1, s.run_id.as_str()));
    assert_eq!(manifest.artifacts.len(), tracking::REQUIRED_FILES.len() + tracking::OPTIONAL_FILES.len());
    for a in &manifest.artifacts {
        let local = std::fs::read(dir.join(&a.path)).unwrap();
        assert_eq!((a.sha256.as_str(), a.size), (sha256_hex(&local).as_str(), local.len() as u64), "{}", a.path);
    }
    let model_bytes = c.download_artifact(&run.info.artifact_uri, "model.int8.onnx").await.unwrap();
    assert_eq!(model_bytes, std::fs::read(dir.join("model.int8.onnx")).unwrap());

    // Registry: one version of the int8 artifact of this run.
    let versions = c.model_versions_of_run(&model, &s.run_id).await.unwrap();
    assert_eq!(versions.len(), 1, "{versions:?}");
    assert_eq!(versions[0].version, s.model_version);
    assert_eq!(versions[0].source, format!("{}/model.int8.onnx", run.info.artifact_uri));
    assert_eq!(versions[0].run_id.as_deref(), Some(s.run_id.as_str()));
}

#[tokio::test]
async fn pipeline_run_with_a_tracking_uri_creates_the_run_before_training_and_finishes_it() {
    let url = stack!();
    let c = client(&url);
    let (dir, experiment) = fixture(&url);
    let exp = c.get_experiment_by_name(experiment).await.unwrap().expect("experiment created");
    let page = c
        .search_runs(&SearchRuns {
            experiment_ids: vec![exp.experiment_id],
            filter: None,
            order_by: vec![],
            max_results: 10,
            page_token: None,
        })
        .await
        .unwrap();
    assert_eq!(page.runs.len(), 1);
    let run = &page.runs[0];
    assert_eq!(run.info.status, RunStatus::Finished);
    let report = tracking::read_report(dir.path()).unwrap();
    let training_ms = report["training"]["seconds"].as_f64().unwrap() * 1000.0;
    let (start, end) = (run.info.start_time.unwrap() as f64, run.info.end_time.unwrap() as f64);
    assert!(end - start >= training_ms, "run spans {} ms, training alone took {training_ms} ms", end - start);
    assert!(run.data.metric(metric_keys::INT8_TEST_ACCURACY).is_some());
    assert!(!c.model_versions_of_run(tracking::DEFAULT_REGISTERED_MODEL, &run.info.run_id).await.unwrap().is_empty());
}

#[tokio::test]
async fn pipeline_run_that_fails_marks_its_mlflow_run_failed_with_the_reason() {
    let url = stack!();
    let c = client(&url);
    let experiment = unique("run-fails");
    let out = tempfile::tempdir().unwrap();
    // The tracking URI comes from the environment here, as MLflow's own tools read it.
    let output = Command::new(env!("CARGO_BIN_EXE_pipeline"))
        .args([
            "run",
            "--quiet",
            "--sessions",
            "4",
            "--long-sessions",
            "0",
            "--epochs",
            "1",
            "--experiment",
            &experiment,
        ])
        .arg("--out")
        .arg(out.path())
        .args(["--train-recordings", "/nonexistent/labelled.csv"])
        .env("MLFLOW_TRACKING_URI", &url)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("marked FAILED"), "{stderr}");
    let exp = c.get_experiment_by_name(&experiment).await.unwrap().unwrap();
    let page = c
        .search_runs(&SearchRuns {
            experiment_ids: vec![exp.experiment_id],
            filter: None,
            order_by: vec![],
            max_results: 10,
            page_token: None,
        })
        .await
        .unwrap();
    assert_eq!(page.runs.len(), 1);
    assert_eq!(page.runs[0].info.status, RunStatus::Failed);
    let reason = page.runs[0].data.tag(tag_keys::FAILURE_REASON).unwrap();
    assert!(reason.contains("/nonexistent/labelled.csv"), "{reason}");
}

#[tokio::test]
async fn a_failure_after_the_run_exists_marks_it_failed_and_a_bad_folder_creates_no_run() {
    let url = stack!();
    let c = client(&url);
    let dir = tempfile::tempdir().unwrap();
    copy_dir(run_dir(&url), dir.path());
    std::fs::remove_file(dir.path().join("model.int8.onnx")).unwrap();
    let opts = options(&unique("fails"), &unique("model"));

    // `pipeline log` checks the folder first: nothing is created for it.
    let e = tracking::log_run_dir(&c, dir.path(), &opts).await.unwrap_err();
    assert!(matches!(&e, TrackingError::MissingFile { file, .. } if file == "model.int8.onnx"), "{e}");
    assert!(c.get_experiment_by_name(&opts.experiment).await.unwrap().is_none());

    // A run created before the work (as `pipeline run --tracking-uri` does) is set FAILED with the reason.
    let started = tracking::start_run(&c, &opts).await.unwrap();
    let e = tracking::log_folder(&c, &started, dir.path(), &opts).await.unwrap_err();
    let TrackingError::RunFailed { run_id, mark_error, source, .. } = &e else { panic!("{e}") };
    assert_eq!(run_id, &started.run_id);
    assert!(mark_error.is_none(), "{e}");
    assert!(matches!(**source, TrackingError::MissingFile { .. }), "{e}");
    let run = c.get_run(&started.run_id).await.unwrap();
    assert_eq!(run.info.status, RunStatus::Failed);
    let reason = run.data.tag(tag_keys::FAILURE_REASON).unwrap();
    assert!(reason.contains("model.int8.onnx"), "{reason}");
    assert!(c.list_artifacts(&run.info.artifact_uri, None).await.unwrap().iter().all(|f| f.path != MANIFEST_FILE));
}

#[tokio::test]
async fn select_candidate_takes_the_newest_passing_run_and_says_why_newer_ones_were_skipped() {
    let url = stack!();
    let c = client(&url);
    let (experiment, model) = (unique("select"), unique("model"));
    let opts = options(&experiment, &model);
    let gates = Gates { min_accuracy: 0.9, max_accuracy_drop: 1.0 };
    let pause = || tokio::time::sleep(Duration::from_millis(20));

    let figures = |accuracy: f64, drop: f64| {
        move |r: &mut serde_json::Value| {
            r["comparison"]["int8"]["test"]["accuracy"] = serde_json::json!(accuracy);
            r["comparison"]["accuracy_drop_points"] = serde_json::json!(drop);
        }
    };
    let good = edited_copy(&url, figures(0.95, 0.5));
    let passing = tracking::log_run_dir(&c, good.path(), &opts).await.unwrap();
    pause().await;
    let big_drop = edited_copy(&url, figures(0.95, 50.0));
    let dropping = tracking::log_run_dir(&c, big_drop.path(), &opts).await.unwrap();
    pause().await;
    let no_int8_figures = edited_copy(&url, |r| {
        r.as_object_mut().unwrap().remove("comparison");
    });
    let unmeasured = tracking::log_run_dir(&c, no_int8_figures.path(), &opts).await.unwrap();
    pause().await;
    let failed = tracking::start_run(&c, &opts).await.unwrap();
    tracking::mark_failed(&c, &failed.run_id, "test").await.unwrap();

    let cand = select_candidate(&c, &experiment, gates).await.unwrap();
    assert_eq!(cand.run_id, passing.run_id);
    assert!(cand.metrics.contains_key(metric_keys::INT8_TEST_ACCURACY));
    let rejected: Vec<(&str, &str)> = cand.rejected.iter().map(|r| (r.run_id.as_str(), r.reason.as_str())).collect();
    assert_eq!(rejected.len(), 2, "{rejected:?} (the FAILED run is not even considered)");
    assert_eq!(rejected[0].0, unmeasured.run_id);
    assert_eq!(rejected[0].1, format!("no metric {}", metric_keys::INT8_TEST_ACCURACY));
    assert_eq!(rejected[1].0, dropping.run_id);
    assert!(rejected[1].1.contains(metric_keys::INT8_ACCURACY_DROP_POINTS), "{}", rejected[1].1);

    // Gates nobody passes: every run is listed with its reason.
    let e = select_candidate(&c, &experiment, Gates { min_accuracy: 1.0, max_accuracy_drop: -1.0 }).await.unwrap_err();
    let PromotionError::NoCandidate { rejected, .. } = &e else { panic!("{e}") };
    assert_eq!(rejected.len(), 3);
    assert!(e.to_string().contains(&passing.run_id), "{e}");
    assert!(matches!(
        select_candidate(&c, &unique("nothing-here"), gates).await,
        Err(PromotionError::ExperimentNotFound { .. })
    ));

    // The chosen run's version becomes `production`.
    let v = set_production_alias(&c, &model, &cand.run_id).await.unwrap();
    assert_eq!(v.version, passing.model_version);
    let aliased = c.get_model_version_by_alias(&model, "production").await.unwrap().unwrap();
    assert_eq!(aliased.version, passing.model_version);
    assert!(matches!(
        set_production_alias(&c, &model, &failed.run_id).await,
        Err(PromotionError::NoModelVersion { .. })
    ));
}

#[tokio::test]
async fn fetch_verified_returns_logged_bytes_and_refuses_anything_the_manifest_does_not_vouch_for() {
    let url = stack!();
    let c = client(&url);
    let dir = run_dir(&url);
    let opts = options(&unique("verify"), &unique("model"));
    let s = tracking::log_run_dir(&c, dir, &opts).await.unwrap();
    let local = std::fs::read(dir.join("model.int8.onnx")).unwrap();
    assert_eq!(fetch_verified(&c, &s.run_id, "model.int8.onnx").await.unwrap(), local);

    // Not in the manifest.
    let e = fetch_verified(&c, &s.run_id, "data/test.npy").await.unwrap_err();
    assert!(matches!(e, PromotionError::NotInManifest { .. }), "{e}");
    assert!(e.to_string().contains(&s.run_id) && e.to_string().contains("data/test.npy"), "{e}");

    // Tampered: other bytes uploaded over the logged model through the artifact API.
    let run = c.get_run(&s.run_id).await.unwrap();
    let mut tampered = local.clone();
    tampered.extend_from_slice(b"tampered");
    c.upload_artifact(&run.info.artifact_uri, "model.int8.onnx", tampered).await.unwrap();
    let e = fetch_verified(&c, &s.run_id, "model.int8.onnx").await.unwrap_err();
    assert!(matches!(e, PromotionError::Mismatch { .. }), "{e}");
    let text = e.to_string();
    assert!(text.contains(&s.run_id) && text.contains("model.int8.onnx"), "{text}");

    // A run with no manifest, and a manifest naming a file the store lacks.
    let bare = tracking::start_run(&c, &opts).await.unwrap();
    let e = fetch_verified(&c, &bare.run_id, "model.int8.onnx").await.unwrap_err();
    assert!(matches!(e, PromotionError::ManifestMissing { .. }) && e.to_string().contains(&bare.run_id), "{e}");
    let ghost = ArtifactManifest {
        schema_version: 1,
        run_id: bare.run_id.clone(),
        artifacts: vec![pipeline::tracking::ArtifactEntry::of("model.int8.onnx", &local)],
    };
    c.upload_artifact(&bare.artifact_uri, MANIFEST_FILE, serde_json::to_vec(&ghost).unwrap()).await.unwrap();
    let e = fetch_verified(&c, &bare.run_id, "model.int8.onnx").await.unwrap_err();
    assert!(matches!(e, PromotionError::MissingFromStore { .. }), "{e}");
    assert!(e.to_string().contains(&bare.run_id) && e.to_string().contains("model.int8.onnx"), "{e}");
}

#[tokio::test]
async fn experiments_and_registered_models_are_got_or_created_without_races() {
    let url = stack!();
    let c = client(&url);
    let name = unique("race");
    let (a, b, d) = tokio::join!(
        c.get_or_create_experiment(&name),
        c.get_or_create_experiment(&name),
        c.get_or_create_experiment(&name)
    );
    let ids: Vec<String> = [a, b, d].into_iter().map(|r| r.unwrap().experiment_id).collect();
    assert!(ids.iter().all(|i| i == &ids[0]), "{ids:?}");
    let model = unique("model");
    let (m1, m2) = tokio::join!(c.get_or_create_registered_model(&model), c.get_or_create_registered_model(&model));
    assert_eq!(m1.unwrap().name, m2.unwrap().name);
}

/// The stack's MLflow runs its basic-auth app: without credentials, or with a wrong password, every API
/// request is refused with 401 and creates nothing; the credentials `scripts/services.sh env` exports work.
/// (Before, the tracking server took anyone's runs, and `promote` signs what those runs say.)
#[tokio::test]
async fn the_stack_refuses_requests_without_valid_credentials_and_accepts_its_own() {
    let url = stack!();
    let user = std::env::var(mlflow_rest::ENV_USERNAME)
        .expect("MLFLOW_TRACKING_USERNAME unset: eval \"$(scripts/services.sh env)\" exports the stack's credentials");
    let name = unique("auth");
    let quick = |auth: Option<Auth>| {
        let mut cfg = ClientConfig::new(url.as_str());
        cfg.auth = auth;
        cfg.retry = RetryPolicy { attempts: 1, ..RetryPolicy::default() };
        Client::new(cfg).unwrap()
    };
    let anonymous = quick(None);
    let wrong = quick(Some(Auth::Basic { username: user.clone(), password: "not-the-password-1234".into() }));
    for (who, c) in [("no credentials", &anonymous), ("a wrong password", &wrong)] {
        let e = c.get_or_create_experiment(&name).await.unwrap_err();
        assert_eq!(e.status(), Some(401), "{who}: {e}");
        assert!(e.to_string().contains("MLFLOW_TRACKING_USERNAME"), "{who}: the error says what to set: {e}");
        let query = SearchRuns {
            experiment_ids: vec!["0".into()],
            filter: None,
            order_by: vec![],
            max_results: 1,
            page_token: None,
        };
        let e = c.search_runs(&query).await.unwrap_err();
        assert_eq!(e.status(), Some(401), "{who}: {e}");
    }
    let authed = client(&url);
    assert!(authed.get_experiment_by_name(&name).await.unwrap().is_none(), "the refused requests created nothing");
    let made = authed.get_or_create_experiment(&name).await.expect("the stack's credentials are accepted");
    assert_eq!(made.name, name);
    let e = anonymous.get_experiment_by_name(&name).await.unwrap_err();
    assert_eq!(e.status(), Some(401), "reading needs credentials too: {e}");
}

#[test]
fn pipeline_log_prints_one_json_summary() {
    let Some(url) = mlflow_url() else { return };
    let experiment = unique("cli");
    let out = Command::new(env!("CARGO_BIN_EXE_pipeline"))
        .args(["log", "--json", "--tracking-uri", &url, "--experiment", &experiment, "--run-name", "cli-test"])
        .args(["--registered-model", &unique("model")])
        .arg("--run-dir")
        .arg(run_dir(&url))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    let s: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(s["run_name"], "cli-test");
    assert_eq!(s["experiment_name"], experiment.as_str());
    assert!(s["run_id"].as_str().is_some_and(|r| r.len() >= 32), "{s}");
    assert!(s["run_url"].as_str().unwrap().contains("/#/experiments/"));
    assert_eq!(s["model_version"], "1");

    let out = Command::new(env!("CARGO_BIN_EXE_pipeline"))
        .args(["log", "--run-dir", "/nonexistent/run", "--tracking-uri", &url])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("report.json"));
}

// ---- faults, no stack needed --------------------------------------------------------------------

/// What the in-test server does with every request.
#[derive(Clone)]
enum Answer {
    /// This status with this body.
    Status(u16, String),
    /// Reads the request, then says nothing for a long time.
    Hang,
}

/// A one-trick HTTP server on 127.0.0.1 that counts the requests it gets.
struct FaultServer {
    url: String,
    requests: Arc<AtomicUsize>,
    last_request: Arc<std::sync::Mutex<String>>,
}

impl FaultServer {
    fn start(answer: Answer) -> FaultServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(AtomicUsize::new(0));
        let last_request = Arc::new(std::sync::Mutex::new(String::new()));
        let (count, last) = (requests.clone(), last_request.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (answer, count, last) = (answer.clone(), count.clone(), last.clone());
                std::thread::spawn(move || serve(stream, answer, &count, &last));
            }
        });
        FaultServer { url, requests, last_request }
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

fn serve(mut stream: TcpStream, answer: Answer, count: &AtomicUsize, last: &std::sync::Mutex<String>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    count.fetch_add(1, Ordering::SeqCst);
    let head = String::from_utf8_lossy(&buf).into_owned();
    *last.lock().unwrap() = head.clone();
    match answer {
        Answer::Hang => std::thread::sleep(Duration::from_secs(30)),
        Answer::Status(code, body) => {
            // The worst case for secrets: a server that echoes the request's headers in its error.
            let auth = head.lines().find(|l| l.to_ascii_lowercase().starts_with("authorization")).unwrap_or("");
            let body = body.replace("{auth}", auth);
            let _ = write!(
                stream,
                "HTTP/1.1 {code} Whatever\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    }
}

/// A proxy to the real server that lets each request through but, for the first request to each of
/// `lose`, throws the server's answer away and says 502: the server acted, the client cannot know.
struct LossyProxy {
    url: String,
    lost: Arc<AtomicUsize>,
}

impl LossyProxy {
    fn start(upstream: &str, lose: &'static [&'static str]) -> LossyProxy {
        let authority = upstream.trim_end_matches('/').trim_start_matches("http://").to_string();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let lost = Arc::new(AtomicUsize::new(0));
        let pending = Arc::new(std::sync::Mutex::new(lose.to_vec()));
        let counter = lost.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(client) = stream else { continue };
                let (authority, pending, counter) = (authority.clone(), pending.clone(), counter.clone());
                std::thread::spawn(move || forward(client, &authority, &pending, &counter));
            }
        });
        LossyProxy { url, lost }
    }

    fn lost(&self) -> usize {
        self.lost.load(Ordering::SeqCst)
    }
}

fn forward(mut client: TcpStream, upstream: &str, pending: &std::sync::Mutex<Vec<&str>>, lost: &AtomicUsize) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match client.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let length: usize = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap_or(0)))
        .unwrap_or(0);
    while buf.len() < head_end + length {
        match client.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
    // The server checks the Host header against its allowed hosts; one connection per request.
    let mut request: String = head
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let lower = l.to_ascii_lowercase();
            if lower.starts_with("host:") {
                format!("Host: {upstream}\r\n")
            } else if lower.starts_with("connection:") {
                String::new()
            } else {
                format!("{l}\r\n")
            }
        })
        .collect();
    request.push_str("Connection: close\r\n\r\n");
    let Ok(mut server) = TcpStream::connect(upstream) else { return };
    let _ = server.write_all(request.as_bytes());
    let _ = server.write_all(&buf[head_end..head_end + length]);
    let mut answer = Vec::new();
    let _ = server.read_to_end(&mut answer);
    let lose = {
        let mut p = pending.lock().unwrap();
        match p.iter().position(|l| path.contains(l)) {
            Some(i) => {
                p.remove(i);
                true
            }
            None => false,
        }
    };
    if lose {
        lost.fetch_add(1, Ordering::SeqCst);
        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    } else {
        let _ = client.write_all(&answer);
    }
}

#[tokio::test]
async fn creates_whose_answer_is_lost_are_not_made_twice() {
    let url = stack!();
    let proxy = LossyProxy::start(&url, &["/runs/create", "/model-versions/create"]);
    let c = client(&proxy.url);
    let exp = c.get_or_create_experiment(&unique("lossy")).await.unwrap();
    let run = c
        .create_run(&mlflow_rest::CreateRun {
            experiment_id: exp.experiment_id.clone(),
            run_name: "lossy".into(),
            start_time: chrono::Utc::now().timestamp_millis(),
            tags: vec![],
        })
        .await
        .unwrap();
    assert_eq!(proxy.lost(), 1, "the first create's answer was lost");
    let page = c
        .search_runs(&SearchRuns {
            experiment_ids: vec![exp.experiment_id],
            filter: None,
            order_by: vec![],
            max_results: 10,
            page_token: None,
        })
        .await
        .unwrap();
    assert_eq!(page.runs.iter().map(|r| r.info.run_id.as_str()).collect::<Vec<_>>(), [run.info.run_id.as_str()]);

    let model = unique("model");
    c.get_or_create_registered_model(&model).await.unwrap();
    let source = format!("{}/model.int8.onnx", run.info.artifact_uri);
    let v = c.create_model_version(&model, &source, &run.info.run_id).await.unwrap();
    assert_eq!(proxy.lost(), 2);
    let versions = c.model_versions_of_run(&model, &run.info.run_id).await.unwrap();
    assert_eq!(versions.iter().map(|v| v.version.as_str()).collect::<Vec<_>>(), [v.version.as_str()]);
}

fn fast_client(url: &str, attempts: u32, auth: Option<Auth>) -> Client {
    let mut cfg = ClientConfig::new(url);
    cfg.auth = auth;
    cfg.timeout = Duration::from_millis(500);
    cfg.connect_timeout = Duration::from_millis(500);
    cfg.retry = RetryPolicy { attempts, base_delay: Duration::from_millis(20), max_delay: Duration::from_millis(100) };
    Client::new(cfg).unwrap()
}

#[tokio::test]
async fn a_closed_port_fails_naming_server_and_step_after_bounded_retries() {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port(); // closed on drop
    let c = fast_client(&format!("http://127.0.0.1:{port}/prefix?token=abc"), 3, None);
    let started = Instant::now();
    let e = c.get_or_create_experiment("hapticmat-presence").await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    assert!(matches!(e, Error::Unreachable { attempts: 3, .. }), "{e:?}");
    let text = e.to_string();
    assert!(text.contains(&format!("http://127.0.0.1:{port}:")), "{text}");
    assert!(text.contains("get experiment \"hapticmat-presence\""), "{text}");
    assert!(text.contains("3 attempts"), "{text}");
    assert!(!text.contains("prefix") && !text.contains("token=abc") && !text.contains("experiment_name="), "{text}");
}

#[tokio::test]
async fn a_server_answering_503_is_retried_a_bounded_number_of_times() {
    let server = FaultServer::start(Answer::Status(503, "upstream unavailable".into()));
    let c = fast_client(&server.url, 4, None);
    let e = c.get_run("0123456789abcdef").await.unwrap_err();
    assert_eq!(server.requests(), 4);
    assert!(matches!(e, Error::Http { status: 503, attempts: 4, .. }), "{e:?}");
    let text = e.to_string();
    assert!(text.contains(&server.url) && text.contains("get run 0123456789abcdef"), "{text}");
    assert!(text.contains("upstream unavailable"), "{text}");

    // A create that cannot tell whether a lost attempt went through asks before trying again; against a
    // server that keeps failing the whole thing still stops.
    let before = server.requests();
    let e = c
        .create_run(&mlflow_rest::CreateRun {
            experiment_id: "1".into(),
            run_name: "x".into(),
            start_time: 0,
            tags: vec![],
        })
        .await
        .unwrap_err();
    assert!(e.to_string().contains("search runs"), "the first look-up fails and ends it: {e}");
    assert!(server.requests() - before <= 1 + 4, "{} requests", server.requests() - before);
}

#[tokio::test]
async fn a_client_error_is_not_retried() {
    let server = FaultServer::start(Answer::Status(
        400,
        r#"{"error_code": "INVALID_PARAMETER_VALUE", "message": "Missing value for required parameter 'run_id'"}"#
            .into(),
    ));
    let c = fast_client(&server.url, 4, None);
    let e = c.get_run("r").await.unwrap_err();
    assert_eq!(server.requests(), 1);
    assert_eq!(e.error_code(), Some("INVALID_PARAMETER_VALUE"));
    assert!(e.to_string().contains("Missing value for required parameter"), "{e}");
}

#[tokio::test]
async fn a_server_that_never_answers_times_out_within_the_retry_budget() {
    let server = FaultServer::start(Answer::Hang);
    let c = fast_client(&server.url, 2, None);
    let started = Instant::now();
    let e = c.get_run("r").await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    assert_eq!(server.requests(), 2);
    assert!(matches!(e, Error::Unreachable { attempts: 2, .. }) && e.to_string().contains("timeout"), "{e}");
}

#[tokio::test]
async fn credentials_are_sent_but_never_appear_in_errors() {
    let server = FaultServer::start(Answer::Status(401, "unauthorized; you sent {auth}".into()));
    let token = "secret-token-123";
    let c = fast_client(&server.url, 3, Some(Auth::Bearer(token.into())));
    let e = c.get_or_create_experiment("x").await.unwrap_err();
    assert_eq!(server.requests(), 1, "401 is final");
    assert!(server.last_request.lock().unwrap().contains(&format!("Bearer {token}")), "the token is sent");
    assert_eq!(e.status(), Some(401));
    for text in [e.to_string(), format!("{e:?}"), format!("{c:?}")] {
        assert!(!text.contains(token), "{text}");
    }

    // Basic credentials in the URL: neither the password nor its base64 form leaks.
    let with_password = server.url.replace("http://", "http://jenkins:hunter2-password@");
    let c = fast_client(&with_password, 1, None);
    let e = c.get_run("r").await.unwrap_err();
    assert!(server.last_request.lock().unwrap().to_ascii_lowercase().contains("authorization: basic"));
    let text = format!("{e} {e:?} {c:?}");
    assert!(!text.contains("hunter2-password") && !text.contains("aHVudGVyMi1wYXNzd29yZA"), "{text}");
    assert!(!text.contains("amVua2luczpodW50ZXIyLXBhc3N3b3Jk"), "{text}");
    assert!(text.contains("<redacted>"), "the echoed header was redacted: {text}");
}

#[test]
fn an_unusable_tracking_uri_is_refused_without_repeating_it() {
    for uri in ["file:///tmp/mlruns", "databricks", "http://"] {
        let e = Client::new(ClientConfig::new(uri)).unwrap_err();
        assert!(matches!(e, Error::InvalidUri { .. }), "{uri}: {e}");
    }
    let e = Client::new(ClientConfig::new("ftp://u:topsecret@host")).unwrap_err();
    assert!(!e.to_string().contains("topsecret"), "{e}");
}
