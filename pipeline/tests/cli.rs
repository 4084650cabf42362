//! End-to-end tests of the `pipeline` binary: a real (small) training run, then the monitor and the
//! recorder on the real recordings and the simulator, through real ONNX Runtime.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_pipeline"))
}

/// The real mat recordings kept in the repository.
const REAL_RECORDINGS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/seroton-mat");

fn real(name: &str) -> PathBuf {
    Path::new(REAL_RECORDINGS).join(name)
}

fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("pipeline runs");
    assert!(
        out.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// One small training run shared by the tests of this binary (a few seconds).
fn trained() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        run_ok(
            bin()
                .args(["run", "--quiet", "--sessions", "40", "--session-seconds", "300", "--epochs", "5"])
                .args(["--long-sessions", "6", "--long-session-seconds", "3600"])
                // A five-epoch model's rare postures move a few recall points when quantized; the
                // product gate (2 points) is for real runs and is tested on its own below.
                .args(["--max-recall-drop", "10", "--recordings", REAL_RECORDINGS, "--out"])
                .arg(dir.path()),
        );
        dir
    })
    .path()
}

fn model() -> PathBuf {
    trained().join("model.fp32.onnx")
}

fn json_lines(stdout: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect()
}

#[test]
fn run_writes_a_model_and_a_report_that_scores_it() {
    let dir = trained();
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    assert!(report["model_bytes"].as_u64().unwrap() > 1000);
    assert!(report["export_max_abs_diff"].as_f64().unwrap() < 1e-4);
    assert!(report["test"]["presence_accuracy"].as_f64().unwrap() > 0.9, "{}", report["test"]);
    assert!(!report["training"]["curves"].as_array().unwrap().is_empty());
    assert!(report["real"]["presence_accuracy"].as_f64().unwrap() > 0.9);
    // The same held-out subjects are scored with their personal calibration too, with intervals.
    let personal = &report["test_personal"];
    assert_eq!(personal["windows"], report["test"]["windows"], "{personal}");
    assert_eq!(personal["per_class"].as_array().unwrap().len(), 4);
    assert!(personal["presence_accuracy"].as_f64().unwrap() > 0.9, "{personal}");
    assert_eq!(report["test_personal_recall_intervals"].as_array().unwrap().len(), 4);
    assert!(std::fs::read_to_string(dir.join("report.md")).unwrap().contains("With personal calibration"));
    let c = &report["comparison"];
    assert!(c["personal_recall_drop_points"].as_array().is_some_and(|d| d.len() == 4), "{c}");
    assert!(c["agreement"].as_f64().unwrap() > 0.9, "{c}");
    assert!(c["int8"]["bytes"].as_u64().unwrap() < c["fp32"]["bytes"].as_u64().unwrap());
    assert!(c["int8"]["quantized"].as_bool().unwrap() && !c["fp32"]["quantized"].as_bool().unwrap());
    for file in [
        "report.md",
        "confusion.fp32.png",
        "training.png",
        "latency.png",
        "model.int8.onnx",
        "evaluation.md",
        "confusion.int8.png",
    ] {
        assert!(dir.join(file).is_file(), "{file} missing");
    }
}

#[test]
fn replaying_empty_then_person_then_empty_gives_absent_present_absent() {
    let (empty, human) = (real("empty_or_cat_on_mat.csv"), real("human_on_mat.csv"));
    let source = format!("replay:{},{},{}", empty.display(), human.display(), empty.display());
    let out =
        run_ok(bin().args(["monitor", "--json", "--calibrate", "10", "--source", &source, "--model"]).arg(model()));
    let lines = json_lines(&out.stdout);
    assert_eq!(lines.len(), 3 * 382, "exactly one object per decoded frame");
    for l in &lines {
        let keys: Vec<&String> = l.as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 6, "{l}");
        // posture_confidence: how sure of the posture, only with a person on the mat.
        assert_eq!(l["posture_confidence"].is_null(), l["present"] != true, "{l}");
        let c = l["confidence"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&c));
        // absent_for: seconds since someone was last on the mat, null unless the state is absent.
        assert_eq!(l["absent_for"].is_null(), l["state"] != "absent", "{l}");
    }
    // After the person leaves, absent_for counts from their last present frame.
    let last_present = lines.iter().rposition(|l| l["present"] == true).expect("a person was seen");
    let end = lines.last().unwrap();
    let expected = end["t"].as_f64().unwrap() - lines[last_present]["t"].as_f64().unwrap();
    assert!((end["absent_for"].as_f64().unwrap() - expected).abs() < 0.01, "{end} vs {expected}");
    assert_eq!(lines[0]["state"], "unknown", "calibrating first");
    let t: Vec<f64> = lines.iter().map(|l| l["t"].as_f64().unwrap()).collect();
    assert!(t.windows(2).all(|w| w[1] > w[0]), "time runs on across files");
    // Changes happen where the files meet; score outside 3 s around each change and after calibration.
    let (c1, c2) = (t[382], t[764]);
    let mut right = 0;
    let mut scored = 0;
    for (l, &t) in lines.iter().zip(&t) {
        let expected = (c1..c2).contains(&t);
        let near_change = (t - c1).abs() < 3.0 || (t - c2).abs() < 3.0;
        if t < 10.0 + 3.0 || near_change {
            continue;
        }
        scored += 1;
        right += (l["present"].as_bool().unwrap() == expected) as usize;
    }
    let acc = right as f64 / scored as f64;
    assert!(acc >= 0.95, "presence right on {:.1}% of {scored} frames", 100.0 * acc);
}

#[test]
fn bad_rows_are_skipped_counted_and_reported_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(real("empty_or_cat_on_mat.csv")).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    lines[5] = "not-a-time,98213.5,98163.4,98161.7,98164.9".into();
    lines[6] = "2025-11-22 15:11:05.000,98213.5,98163.4".into();
    lines[7] = "2025-11-22 15:11:05.100,98213.5,NaN,98161.7,98164.9".into();
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, lines.join("\n")).unwrap();
    let out = run_ok(
        bin()
            .args(["monitor", "--json", "--source"])
            .arg(format!("replay:{}", bad.display()))
            .arg("--model")
            .arg(model()),
    );
    assert_eq!(json_lines(&out.stdout).len(), 382 - 3);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.csv:7:") && err.contains("Timestamp"), "{err}");
    assert!(err.contains("bad.csv:8:") && err.contains("missing column Float3"), "{err}");
    assert!(
        err.contains("bad timestamp") && err.contains("missing column") && err.contains("non-finite pressure"),
        "{err}"
    );
}

#[test]
fn unknown_sources_and_non_onnx_models_fail_with_a_clear_error() {
    let out = bin().args(["monitor", "--source", "usb:0", "--model"]).arg(model()).output().unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unknown source \"usb:0\""),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("model.onnx");
    std::fs::write(&fake, b"this is not a model").unwrap();
    let out = bin().args(["monitor", "--source", "sim:1", "--model"]).arg(&fake).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is not a loadable ONNX model") && err.contains("model.onnx"), "{err}");

    let out = bin().args(["monitor", "--source", "sim:1", "--model", "/nonexistent/m.onnx"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read model /nonexistent/m.onnx"));
}

#[test]
fn an_empty_mat_raises_the_absence_timeout_once() {
    let source = format!("replay:{}", real("empty_or_cat_on_mat.csv").display());
    let out = run_ok(
        bin()
            .args(["monitor", "--calibrate", "5", "--absence-timeout", "20", "--source", &source, "--model"])
            .arg(model()),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.matches("nobody on the mat for").count(), 1, "{err}");
    // The readable view shows states and pressures in kPa.
    let view = String::from_utf8_lossy(&out.stdout);
    assert!(view.contains("absent") && view.contains("kPa"), "{view}");
}

#[test]
fn the_simulated_mat_streams_states_at_full_speed() {
    let out = run_ok(
        bin()
            .args(["monitor", "--json", "--speed", "max", "--seconds", "120", "--source", "sim:4", "--model"])
            .arg(model()),
    );
    let lines = json_lines(&out.stdout);
    assert!(lines.len() > 600, "{} lines for 120 s", lines.len());
    assert_eq!(lines[0]["state"], "unknown");
    assert!(lines.iter().any(|l| l["state"] == "absent"), "a still stretch becomes the baseline without --calibrate");
}

#[test]
fn record_writes_the_makers_csv_with_a_label_column() {
    let dir = tempfile::tempdir().unwrap();
    let out_csv = dir.path().join("rec.csv");
    run_ok(
        bin().args(["record", "--source", "sim:2", "--seconds", "1.5", "--label", "sitting", "--out"]).arg(&out_csv),
    );
    let text = std::fs::read_to_string(&out_csv).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("Timestamp,Float1,Float2,Float3,Float4,Label"));
    let rows: Vec<&str> = lines.collect();
    assert!(rows.len() >= 5, "{text}");
    assert!(rows.iter().all(|r| r.ends_with(",sitting") && r.split(',').count() == 6), "{text}");
    assert!(!dir.path().join("rec.csv.partial").exists());

    let out = bin()
        .args(["record", "--source", "sim:2", "--seconds", "1", "--label", "dancing", "--out"])
        .arg(&out_csv)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown state"));
}

#[test]
fn a_calibrated_baseline_is_saved_and_reused_for_the_same_mat() {
    let dir = tempfile::tempdir().unwrap();
    let baseline = dir.path().join("mat.json");
    let empty = format!("replay:{}", real("empty_or_cat_on_mat.csv").display());
    run_ok(
        bin()
            .args(["monitor", "--json", "--calibrate", "10", "--source", &empty, "--baseline"])
            .arg(&baseline)
            .arg("--model")
            .arg(model()),
    );
    assert!(baseline.is_file());
    // The person's recording alone: no empty stretch to calibrate on, the saved baseline serves.
    let human = format!("replay:{}", real("human_on_mat.csv").display());
    let out = run_ok(
        bin().args(["monitor", "--json", "--source", &human, "--baseline"]).arg(&baseline).arg("--model").arg(model()),
    );
    let lines = json_lines(&out.stdout);
    let known: Vec<_> = lines.iter().filter(|l| l["state"] != "unknown").collect();
    assert!(known.len() >= 382 - 20, "only {} frames known", known.len());
    let present = known.iter().filter(|l| l["present"] == true).count();
    assert!(present as f64 >= 0.95 * known.len() as f64, "{present} of {} present", known.len());
}

#[test]
fn evaluate_scores_two_models_on_the_same_data_and_gates_on_accuracy_drop() {
    let dir = tempfile::tempdir().unwrap();
    assert!(trained().join("data/calibration.npy").is_file() && trained().join("data/test.npy").is_file());
    // The float model against itself: full agreement, no drop; the reports and plots appear.
    run_ok(
        bin()
            .args(["evaluate", "--recordings", REAL_RECORDINGS, "--fp32"])
            .arg(model())
            .arg("--int8")
            .arg(model())
            .arg("--out")
            .arg(dir.path()),
    );
    let e: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("evaluation.json")).unwrap()).unwrap();
    assert_eq!(e["agreement"].as_f64(), Some(1.0));
    assert_eq!(e["accuracy_drop_points"].as_f64(), Some(0.0));
    assert!(e["fp32"]["session_peak_bytes"].as_u64().unwrap() > 0, "{}", e["fp32"]);
    for f in ["evaluation.md", "confusion.fp32.png", "confusion.int8.png", "latency.png"] {
        assert!(dir.path().join(f).is_file(), "{f}");
    }
    // A gate nothing can pass fails the command, after the reports are written.
    let out = bin()
        .args(["evaluate", "--max-accuracy-drop=-1", "--fp32"])
        .arg(model())
        .arg("--int8")
        .arg(model())
        .arg("--out")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--max-accuracy-drop"));
}

#[test]
fn quantize_refuses_bad_input_and_never_leaves_a_half_written_model() {
    let dir = tempfile::tempdir().unwrap();
    let calib = trained().join("data/calibration.npy");
    let out = dir.path().join("q.onnx");
    let fails = |args: &mut Command, needle: &str| {
        let o = args.output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        assert!(!o.status.success() && err.contains(needle), "expected {needle:?} in: {err}");
        assert!(!out.exists(), "nothing may be written on failure");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert!(leftovers.iter().all(|e| !e.as_ref().unwrap().file_name().to_string_lossy().contains("quantizing")));
    };
    let not_onnx = dir.path().join("x.onnx");
    std::fs::write(&not_onnx, b"definitely not protobuf").unwrap();
    fails(
        bin().args(["quantize", "--model"]).arg(&not_onnx).arg("--calibration").arg(&calib).arg("--out").arg(&out),
        "is not an ONNX model",
    );

    // The model's second input needs its own calibration data; without it, the input is named.
    let wrong = dir.path().join("wrong.npy");
    pipeline::npy::write_f32(&wrong, &[3, 5, 20], &[0.0; 300]).unwrap();
    fails(
        bin().args(["quantize", "--model"]).arg(model()).arg("--calibration").arg(&wrong).arg("--out").arg(&out),
        "input \"user_load\" needs calibration data",
    );
    let loads = dir.path().join("loads.npy");
    pipeline::npy::write_f32(&loads, &[3, 2], &[0.0; 6]).unwrap();
    let user_load = format!("user_load={}", loads.display());
    fails(
        bin()
            .args(["quantize", "--model"])
            .arg(model())
            .arg("--calibration")
            .arg(&wrong)
            .args(["--calibration-input", &user_load, "--out"])
            .arg(&out),
        "expected [batch, 4, 20]",
    );

    let empty = dir.path().join("empty.npy");
    pipeline::npy::write_f32(&empty, &[0, 4, 20], &[]).unwrap();
    let no_loads = dir.path().join("no_loads.npy");
    pipeline::npy::write_f32(&no_loads, &[0, 2], &[]).unwrap();
    let user_load = format!("user_load={}", no_loads.display());
    fails(
        bin()
            .args(["quantize", "--model"])
            .arg(model())
            .arg("--calibration")
            .arg(&empty)
            .args(["--calibration-input", &user_load, "--out"])
            .arg(&out),
        "calibration set is empty",
    );

    let data = trained().join("data");
    fails(
        bin()
            .args(["quantize", "--max-accuracy-drop=-5", "--data"])
            .arg(&data)
            .arg("--model")
            .arg(model())
            .arg("--calibration")
            .arg(&calib)
            .arg("--out")
            .arg(&out),
        "not written",
    );
    // The per-state gate: a model that does not gain 100 recall points on every state is refused,
    // and the message names the state.
    fails(
        bin()
            .args(["quantize", "--max-accuracy-drop=100", "--max-recall-drop=-100", "--data"])
            .arg(&data)
            .arg("--model")
            .arg(model())
            .arg("--calibration")
            .arg(&calib)
            .arg("--out")
            .arg(&out),
        "points of recall on",
    );

    // And a good run writes a smaller model that names what it left float.
    let o = run_ok(
        bin()
            .args(["quantize", "--json", "--method", "entropy", "--model"])
            .arg(model())
            .arg("--calibration")
            .arg(&calib)
            .arg("--out")
            .arg(&out),
    );
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["quantized_ops"]["Conv"], 2, "{r}");
    assert!(std::fs::metadata(&out).unwrap().len() < std::fs::metadata(model()).unwrap().len());
}

#[test]
fn the_int8_model_is_published_signed_and_installed_as_a_phone_would() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("signing.key");
    let store = dir.path().join("store");
    run_ok(bin().args(["keygen", "--out"]).arg(&key));
    run_ok(
        bin()
            .args(["publish", "--sequence", "1", "--model"])
            .arg(trained().join("model.int8.onnx"))
            .arg("--key")
            .arg(&key)
            .arg("--store")
            .arg(&store),
    );
    let base = format!("file://{}", store.display());
    let fetch = || {
        bin()
            .args(["fetch-model", "--json", "--base-url", &base, "--cache-dir"])
            .arg(dir.path().join("cache"))
            .arg("--public-key")
            .arg(dir.path().join("signing.key.pub"))
            .output()
            .unwrap()
    };
    let out = fetch();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    assert!(out.status.success(), "{v} {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(v["outcome"], "updated", "{v}");
    assert_eq!(v["sequence"], 1);
    let again: serde_json::Value = serde_json::from_slice(&fetch().stdout).unwrap();
    assert_eq!(again["outcome"], "up_to_date", "{again}");
}

#[test]
fn hours_of_drifting_weather_keep_presence_and_the_absence_timeout_fires_after_leaving() {
    let out = run_ok(
        bin()
            .args(["scenarios", "--json", "--absence-timeout", "120", "--recordings"])
            .arg(real("empty_or_cat_on_mat.csv").parent().unwrap())
            .arg("--model")
            .arg(model()),
    );
    let results = json_lines(&out.stdout);
    assert!(results.len() >= 10, "{} scenarios", results.len());
    let mut rates = std::collections::BTreeSet::new();
    for r in &results {
        let name = r["scenario"]["name"].as_str().unwrap();
        rates.insert(r["scenario"]["drift_pa_per_h"].as_f64().unwrap() as i64);
        // Without a barometer, weather that turns under a sleeper, or a −500 Pa/h front that arrives
        // with the person before any trend was seen, moves the mat ~1000 Pa where no empty stretch can
        // show it (docs/long-sessions.md): only the departure is held to the promise. With the phone's
        // barometer fed, the same sessions are held to all of it.
        let unknowable = name.starts_with("weather turns") || name.starts_with("arrives at once, −500");
        if unknowable && r["scenario"]["barometer"] == false {
            let gone = r["time_to_absent_s"].as_f64().unwrap_or(f64::INFINITY);
            assert!(gone <= 60.0, "{name}: absent only {gone:.1} s after the person left");
            continue;
        }
        let present = r["occupied_present"].as_f64().unwrap();
        assert!(present >= 0.95, "{name}: present on only {:.1}% of occupied frames", 100.0 * present);
        let gone = r["time_to_absent_s"].as_f64().unwrap_or(f64::INFINITY);
        assert!(gone <= 60.0, "{name}: absent only {gone:.1} s after the person left");
        assert_eq!(r["timeout_while_occupied"], false, "{name}");
        let fired = r["timeout_after_leaving_s"].as_f64().unwrap_or(f64::INFINITY);
        assert!((120.0..=180.0).contains(&fired), "{name}: absence timeout fired {fired} s after leaving");
        let empty = r["empty_absent"].as_f64().unwrap();
        assert!(empty >= 0.95, "{name}: the empty mat reported absent on only {:.1}% of frames", 100.0 * empty);
    }
    assert!(rates.contains(&-500) && rates.contains(&500) && rates.contains(&-100), "{rates:?}");
    let measured = results.iter().filter(|r| r["scenario"]["barometer"] == true).count();
    assert!(measured >= 3, "the turning weather and the early arrivals are run with the barometer too");
}

#[test]
fn a_run_whose_int8_model_every_calibration_fails_keeps_the_float_model_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["run", "--quiet", "--sessions", "8", "--session-seconds", "120", "--epochs", "1"])
        .args(["--long-sessions", "0", "--max-recall-drop=-100", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a refused int8 model fails the run: {stderr}");
    assert!(stderr.contains("every calibration method was refused"), "{stderr}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap()).unwrap();
    let why = report["int8_refused"].as_str().unwrap();
    assert!(why.contains("MinMax") && why.contains("Entropy"), "every method was tried: {why}");
    assert!(dir.path().join("model.fp32.onnx").is_file() && !dir.path().join("model.int8.onnx").exists());
    assert!(std::fs::read_to_string(dir.path().join("report.md")).unwrap().contains("Quantized (int8): refused"));
}

/// issue 12 item 12, publisher side: a release carries the root-signed key set as `keys.json` (before
/// `latest.json`), checked first as phones pinning the root will check it; a phone in root mode installs
/// it; a key set that does not list the signing key, or is older than the store's, stops the release
/// before anything is written.
#[test]
fn a_release_publishes_the_root_signed_key_set_phones_pinning_the_root_accept() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name);
    for k in ["publisher.key", "other.key", "root.key"] {
        run_ok(bin().args(["keygen", "--out"]).arg(p(k)));
    }
    let sign_set = |version: &str, publisher: &str, out: &str| {
        run_ok(
            bin()
                .args(["keys", "sign", "--version", version, "--root"])
                .arg(p("root.key"))
                .arg("--publisher")
                .arg(p(publisher))
                .arg("--out")
                .arg(p(out)),
        )
    };
    sign_set("1", "publisher.key.pub", "keys-v1.json");
    sign_set("2", "publisher.key.pub", "keys-v2.json");
    sign_set("3", "other.key.pub", "keys-other.json");
    let store = p("store");
    let publish = |sequence: &str, keys: &str| {
        bin()
            .args(["publish", "--sequence", sequence, "--model"])
            .arg(trained().join("model.int8.onnx"))
            .arg("--key")
            .arg(p("publisher.key"))
            .arg("--store")
            .arg(&store)
            .arg("--key-set")
            .arg(p(keys))
            .arg("--root-key")
            .arg(p("root.key.pub"))
            .output()
            .unwrap()
    };

    // A key set that does not list the signing key: refused, nothing written.
    let out = publish("1", "keys-other.json");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not listed in key set version 3"), "{err}");
    assert!(!store.join("latest.json").exists() && !store.join("keys.json").exists());

    let out = publish("2", "keys-v2.json");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read(store.join("keys.json")).unwrap(), std::fs::read(p("keys-v2.json")).unwrap());

    // A phone that pins the root (not the publisher key) installs it over file://.
    let root_key = std::fs::read_to_string(p("root.key.pub")).unwrap();
    let root = hapticmat_core::delivery::PinnedRoot {
        key: hapticmat_core::delivery::PublicKey::parse(&root_key).unwrap(),
        version: 1,
    };
    let mut cfg = hapticmat_core::delivery::UpdaterConfig::new(
        format!("file://{}/", store.display()),
        p("cache"),
        hapticmat_core::delivery::PinnedKeys::new([]),
    );
    cfg.root = Some(root);
    let status = hapticmat_core::delivery::Updater::new(cfg).unwrap().check_now();
    assert!(matches!(status, Ok(hapticmat_core::delivery::UpdateStatus::Updated { .. })), "{status:?}");

    // An older key set than the store's: phones refuse to go back, so the release stops.
    let out = publish("3", "keys-v1.json");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("key set version 2, this release carries version 1"), "{err}");
    assert_eq!(std::fs::read(store.join("keys.json")).unwrap(), std::fs::read(p("keys-v2.json")).unwrap());
}
