//! One handler per command: reads its arguments, calls the library, prints through [`super::output`].

use super::args::*;
use super::output::*;
use anyhow::Context;
use hapticmat_core::inference::PresenceModel;
use hapticmat_core::monitor::{Monitor, MonitorConfig, MonitorEvent};
use hapticmat_core::simulator::SimConfig;
use hapticmat_core::source::{CancelToken, Pace, SourceEvent, SourceSpec};
use onnx_ptq::quantize::QuantizeConfig;
use pipeline::dataset::SimDatasetConfig;
use pipeline::run::RunConfig;
use pipeline::train::TrainConfig;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

pub(super) fn run_job(a: RunArgs) -> anyhow::Result<ExitCode> {
    let sim = match &a.sim_config {
        Some(p) => {
            serde_json::from_str(&std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?)
                .with_context(|| format!("{} is not a simulator configuration", p.display()))?
        }
        None => SimConfig::default(),
    };
    let cfg = RunConfig {
        out: a.out,
        sim,
        data: SimDatasetConfig {
            sessions: a.sessions,
            session_s: a.session_seconds,
            long_sessions: a.long_sessions,
            long_session_s: a.long_session_seconds,
            seed: a.seed,
            ..Default::default()
        },
        train: TrainConfig {
            epochs: a.epochs,
            seed: a.seed,
            learning_rate: a.learning_rate,
            final_learning_rate: a.final_learning_rate,
            ..Default::default()
        },
        recordings: a.recordings.is_dir().then_some(a.recordings),
        train_recordings: a.train_recordings,
        quantize: (!a.no_quantize)
            .then(|| QuantizeConfig { method: method_config(a.method, 99.999), ..Default::default() }),
        max_accuracy_drop: Some(a.max_accuracy_drop),
        max_recall_drop: Some(a.max_recall_drop),
    };
    let mut progress = RunProgress::new(a.quiet);
    let report = match pipeline::tracking::tracking_uri(a.tracking_uri) {
        None => pipeline::run::run(&cfg, &mut progress, &session_memory_in_child)?,
        Some(uri) => {
            anyhow::ensure!(!a.no_quantize, "MLflow tracking registers the int8 model: drop --no-quantize");
            let client = mlflow_rest::Client::from_uri(&uri)?;
            let opts = pipeline::tracking::LogOptions { experiment: a.experiment, ..Default::default() };
            let tracked = pipeline::tracking::TrackedRun::start(client, opts)?;
            if !a.quiet {
                eprintln!("[run] MLflow run {}", tracked.run().run_url);
            }
            let (report, summary) =
                tracked.track(&cfg.out, || pipeline::run::run(&cfg, &mut progress, &session_memory_in_child))?;
            if !a.quiet {
                print_log_summary(&summary);
            }
            report
        }
    };
    if !a.quiet {
        eprintln!("{}", pipeline::run::markdown(&report));
        eprintln!("[run] wrote {}", cfg.out.display());
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) fn scenarios(a: ScenariosArgs) -> anyhow::Result<ExitCode> {
    use pipeline::scenarios;
    let results = scenarios::run_all(&a.model, &a.recordings, &scenarios::standard(), a.absence_timeout)?;
    let table = scenarios::markdown(&a.model, &results);
    if a.json {
        for r in &results {
            println!("{}", serde_json::to_string(r)?);
        }
    } else {
        print!("{table}");
    }
    if let Some(out) = &a.out {
        pipeline::fsutil::write_atomic(out, table.as_bytes())?;
    }
    let failed = results.iter().filter(|r| !r.holds()).count();
    if a.check && failed > 0 {
        eprintln!("{failed} of {} scenarios do not hold", results.len());
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) fn monitor(a: MonitorArgs) -> anyhow::Result<ExitCode> {
    let spec: SourceSpec = a.source.parse()?;
    let pace = a.speed.unwrap_or(match spec {
        SourceSpec::Replay(_) => Pace::Max,
        _ => Pace::Realtime,
    });
    let model = PresenceModel::load(&a.model)?;
    let cancel = CancelToken::new();
    let mut source = spec.open(pace, cancel.clone())?;
    let cfg =
        MonitorConfig { calibrate_s: a.calibrate, absence_timeout_s: Some(a.absence_timeout), ..Default::default() };
    let mut monitor = Monitor::new(model, cfg);
    let baseline_file = a.baseline.as_ref().map(|p| pipeline::live::BaselineFile::new(p, a.calibrate.is_some()));
    if let Some(file) = &baseline_file
        && let Some(b) = file.load()?
    {
        eprintln!("baseline from {}: {:?} Pa", file.path().display(), b.pressures);
        monitor.features().set_baseline(b);
    }
    if let Some(path) = &a.personal {
        let c = hapticmat_core::personal::PersonalCalibration::load(path)?;
        if !monitor.model_info().takes_user_load() {
            eprintln!("note: {} does not read the personal calibration; it is ignored", a.model.display());
        }
        eprintln!("personal calibration from {}: {:.0} Pa", path.display(), c.reference_load_pa);
        monitor.set_personal_calibration(Some(c));
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut view = LiveView::new(std::io::stdout().is_terminal());
    let seconds = a.seconds;
    let mut write_error = None;
    eprintln!("monitoring {} with {}", source.describe(), a.model.display());
    let mut fatal = pipeline::live::FatalWatch::default();
    let summary = monitor.run(source.as_mut(), &cancel, |event| {
        if let MonitorEvent::Skipped(e) = event {
            fatal.see(&SourceEvent::Skipped(e.clone()));
        }
        if let MonitorEvent::State(u) = event {
            if seconds.is_some_and(|s| u.t > s) {
                cancel.cancel();
                return;
            }
            let r = if a.json { writeln!(out, "{}", pipeline::live::json_line(u)) } else { view.show(&mut out, u) };
            if let Err(e) = r {
                // stdout closed (e.g. piped into `head`): stop quietly.
                write_error = Some(e);
                cancel.cancel();
            }
        } else {
            describe_event(event);
            match baseline_file.as_ref().and_then(|f| f.on_event(event).map(|r| (f, r))) {
                Some((f, Ok(_))) => eprintln!("baseline saved to {}", f.path().display()),
                Some((_, Err(e))) => eprintln!("{e}"),
                None => {}
            }
        }
    })?;
    let _ = out.flush();
    if write_error.is_none() {
        print_summary(&summary);
    }
    if let Some(error) = fatal.into_error() {
        return Err(error.into());
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) fn record(a: RecordArgs) -> anyhow::Result<ExitCode> {
    let spec: SourceSpec = a.source.parse()?;
    let cancel = CancelToken::new();
    let mut source = spec.open(Pace::Realtime, cancel.clone())?;
    eprintln!("recording {} for {} s into {}", source.describe(), a.seconds, a.out.display());
    let summary = pipeline::live::record(source.as_mut(), &cancel, a.seconds, a.label, &a.out, None, |e| match e {
        SourceEvent::Status(s) => eprintln!("source: {s:?}"),
        SourceEvent::Skipped(e) => eprintln!("skipped: {e}"),
        SourceEvent::Frame(_) => {}
    })?;
    eprintln!(
        "wrote {} rows to {} ({} bad frames skipped, link dropped {} times)",
        summary.rows,
        summary.path.display(),
        summary.skipped,
        summary.disconnects
    );
    Ok(ExitCode::SUCCESS)
}

/// Measures a session's peak memory in a fresh `pipeline session-memory` process, so the models
/// measured before do not count.
pub(super) fn session_memory_in_child(model: &std::path::Path) -> Option<u64> {
    let exe = std::env::current_exe().ok()?;
    let out = std::process::Command::new(exe).arg("session-memory").arg("--model").arg(model).output().ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok().filter(|_| out.status.success())
}

pub(super) fn evaluate(a: EvaluateArgs) -> anyhow::Result<ExitCode> {
    let beside = |p: &std::path::Path| p.parent().map(std::path::Path::to_path_buf).unwrap_or_default();
    let data = a.data.unwrap_or_else(|| beside(&a.fp32).join(pipeline::run::DATA_DIR));
    let out = a.out.unwrap_or_else(|| beside(&a.int8));
    let test = pipeline::run::read_test_windows(&data)?;
    let recordings = pipeline::evaluate::real_session(&a.recordings);
    let c = pipeline::compare::compare(&a.fp32, &a.int8, &test, recordings.as_deref(), &session_memory_in_child)?;
    pipeline::compare::write_reports(&out, &c)?;
    eprintln!("{}", pipeline::compare::markdown(&c));
    eprintln!("wrote {}", out.join("evaluation.md").display());
    if let Some(max) = a.max_accuracy_drop {
        anyhow::ensure!(
            c.accuracy_drop_points <= max,
            "int8 accuracy is {:.2} points below fp32, more than --max-accuracy-drop {max}",
            c.accuracy_drop_points
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// One calibration tensor per model input: --calibration for the first, the others from
/// --calibration-input or `calibration_<input>.npy` beside --calibration.
pub(super) fn calibration_tensors(a: &QuantizeArgs) -> anyhow::Result<Vec<pipeline::ptq::CalibrationTensor>> {
    use anyhow::Context;
    use pipeline::ptq::CalibrationTensor;
    let (shape, data) = pipeline::npy::read_f32(&a.calibration)?;
    // Unreadable models are named by the quantizer itself; here only their inputs matter.
    let inputs = onnx_ptq::load(&a.model).ok().map(|m| onnx_ptq::graph_inputs(&m)).unwrap_or_default();
    if inputs.len() <= 1 {
        anyhow::ensure!(a.calibration_inputs.is_empty(), "--calibration-input is for models with several inputs");
        return Ok(vec![CalibrationTensor { name: None, shape, data }]);
    }
    let mut given = std::collections::BTreeMap::new();
    for spec in &a.calibration_inputs {
        let (name, file) =
            spec.split_once('=').with_context(|| format!("--calibration-input {spec:?} is not INPUT=FILE"))?;
        anyhow::ensure!(inputs.iter().any(|i| i == name), "the model has no input {name:?}; its inputs are {inputs:?}");
        given.insert(name.to_string(), PathBuf::from(file));
    }
    let mut out = vec![CalibrationTensor { name: Some(inputs[0].clone()), shape, data }];
    for name in &inputs[1..] {
        let path = match given.remove(name) {
            Some(p) => p,
            None => a.calibration.with_file_name(format!("calibration_{name}.npy")),
        };
        anyhow::ensure!(
            path.is_file(),
            "the model's input {name:?} needs calibration data: give --calibration-input {name}=FILE.npy (or put {})",
            path.display()
        );
        let (shape, data) = pipeline::npy::read_f32(&path)?;
        out.push(CalibrationTensor { name: Some(name.clone()), shape, data });
    }
    Ok(out)
}

pub(super) fn quantize_cmd(a: QuantizeArgs) -> anyhow::Result<ExitCode> {
    let cfg = a.config();
    let calibration = calibration_tensors(&a)?;
    let test = a.data.as_deref().map(pipeline::run::read_test_windows).transpose()?;
    let gate = a.max_accuracy_drop.zip(test.as_ref()).map(|(max_accuracy_drop, test)| pipeline::ptq::Gate {
        max_accuracy_drop,
        max_recall_drop: a.max_recall_drop,
        test,
        recordings: None,
        peak_memory: &|_: &std::path::Path| None,
    });
    let outcome =
        pipeline::ptq::quantize_file(&a.model, &calibration, &a.out, &cfg, gate, &mut QuantizeBars::default())?;
    let r = &outcome.report;
    for n in &r.float_nodes {
        eprintln!("[quantize] left float: node '{}' ({}) — {:?}", n.name, n.op_type, n.reason);
    }
    eprintln!(
        "[quantize] wrote {} ({} windows, {} passes, calibration {:.2} s, total {:.2} s; quantized ops {:?})",
        a.out.display(),
        r.calibration_windows,
        r.calibration_passes,
        r.calibration_seconds,
        r.seconds,
        r.quantized_ops
    );
    if let Some(c) = &outcome.comparison {
        eprintln!(
            "[quantize] accuracy drop {:+.2} points, agreement {:.2}%",
            c.accuracy_drop_points,
            100.0 * c.agreement
        );
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(r)?);
    }
    Ok(ExitCode::SUCCESS)
}

/// The keyring of a publishing command: signing key, retired keys and the key set, if any.
pub(super) fn keyring(
    signing_key: &std::path::Path,
    retired: &[PathBuf],
    k: &KeySetArgs,
) -> anyhow::Result<hapticmat_release::keyring::Keyring> {
    let keys = pipeline::publish::read_keyring(signing_key, retired)?;
    pipeline::publish::with_key_set(keys, k.key_set.as_deref(), k.root_key.as_deref(), k.root_version)
}

pub(super) fn keygen(a: KeygenArgs) -> anyhow::Result<ExitCode> {
    let k = pipeline::publish::keygen(&a.out)?;
    eprintln!("signing key {} (keep it secret), public key {}", k.private.display(), k.public.display());
    println!("{}", k.key_id);
    Ok(ExitCode::SUCCESS)
}

pub(super) fn publish(a: PublishArgs) -> anyhow::Result<ExitCode> {
    let keys = keyring(&a.key, &a.retired_key, &a.key_set)?;
    let cfg = pipeline::publish::PublishConfig {
        model: a.model,
        store: a.store,
        sequence: a.sequence,
        version: a.version,
        expires_in_days: a.expires_in,
        source_run_id: a.run_id,
    };
    let p = pipeline::publish::publish(&cfg, &keys)?;
    let m = &p.manifest;
    eprintln!(
        "published sequence {} (version {}, {} bytes, sha256 {}, key {}){}; expires {}",
        m.sequence,
        m.version,
        m.size,
        m.sha256,
        keys.current_id(),
        if p.model_written { "" } else { ", model already in the store" },
        m.expires_at.to_rfc3339()
    );
    Ok(ExitCode::SUCCESS)
}

pub(super) fn fetch_model(a: FetchModelArgs) -> anyhow::Result<ExitCode> {
    use hapticmat_core::delivery::{PinnedKeys, PublicKey, TransportConfig, Updater, UpdaterConfig};
    let keys = a
        .public_keys
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            PublicKey::parse(&text).with_context(|| format!("public key {}", p.display()))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut cfg = UpdaterConfig::new(a.base_url, a.cache_dir, PinnedKeys::new(keys));
    cfg.transport = TransportConfig {
        idle_timeout: std::time::Duration::from_secs_f64(a.idle_timeout.max(0.001)),
        max_attempts: a.attempts.max(1),
        backoff_base: std::time::Duration::from_millis(a.backoff_ms),
        ..TransportConfig::default()
    };
    let updater = Updater::new(cfg)?;
    let result = updater.check_now();
    let report = updater.last_outcome().context("the check left no report")?;
    let model = report.model.as_ref();
    let reason = result.as_ref().err().map(ToString::to_string);
    if a.json {
        let line = serde_json::json!({
            "outcome": report.outcome.as_str(),
            "version": model.map(|m| m.version.clone()),
            "sequence": model.map(|m| m.sequence),
            "sha256": model.map(|m| m.sha256.clone()),
            "path": model.map(|m| m.path.clone()),
            "reason": reason,
        });
        println!("{line}");
    }
    match (&result, model) {
        (Ok(_), Some(m)) => eprintln!(
            "{}: model {} (sequence {}) at {}",
            report.outcome.as_str(),
            m.version,
            m.sequence,
            m.path.display()
        ),
        _ => eprintln!(
            "{}: {}; serving {}",
            report.outcome.as_str(),
            reason.as_deref().unwrap_or("-"),
            model.map_or("no model".to_string(), |m| format!("model {} (sequence {})", m.version, m.sequence))
        ),
    }
    Ok(if result.is_ok() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

pub(super) fn log_cmd(a: LogArgs) -> anyhow::Result<ExitCode> {
    let client = mlflow_client(a.tracking_uri)?;
    let opts = pipeline::tracking::LogOptions {
        experiment: a.experiment,
        run_name: a.run_name,
        registered_model: a.registered_model,
        git_commit: None,
    };
    let summary = pipeline::tracking::log_run_dir_blocking(&client, &a.run_dir, &opts)?;
    if a.json {
        println!("{}", serde_json::to_string(&summary)?);
    }
    print_log_summary(&summary);
    Ok(ExitCode::SUCCESS)
}

pub(super) fn rollback(a: RollbackArgs) -> anyhow::Result<ExitCode> {
    let keys = keyring(&a.signing_key, &a.retired_key, &a.key_set)?;
    let store = open_store(&a.store, a.s3_endpoint)?;
    let summary = hapticmat_release::release::rollback(&store, &keys, a.to, a.expires_in_days)?;
    print_release_summary("rollback", &summary);
    if let Some(path) = &a.summary {
        let json = serde_json::to_string_pretty(&summary)?;
        pipeline::fsutil::write_atomic(path, json.as_bytes()).with_context(|| format!("writing {}", path.display()))?;
    }
    if a.json {
        println!("{}", serde_json::to_string(&summary)?);
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) fn promote(a: PromoteArgs) -> anyhow::Result<ExitCode> {
    use pipeline::tracking::promotion::Gates;
    let client = mlflow_client(a.tracking_uri)?;
    let keys = keyring(&a.signing_key, &a.retired_key, &a.key_set)?;
    let store = open_store(&a.store, a.s3_endpoint)?;
    let cfg = pipeline::promote::PromoteConfig {
        experiment: a.experiment,
        gates: Gates { min_accuracy: a.min_accuracy, max_accuracy_drop: a.max_accuracy_drop },
        registered_model: a.registered_model,
        version: a.version,
        expires_in_days: a.expires_in_days,
        held_out: Default::default(),
    };
    let summary = pipeline::promote::promote(&client, &store, &keys, &cfg)?;
    let r = &summary.reevaluation;
    eprintln!(
        "[promote] re-scored by the promoter on {} windows of its own held-out subjects: accuracy {:.4} (gate {}), \
         {} accuracy points lost against fp32 (gate {}), {:.1} s",
        r.windows,
        r.accuracy,
        cfg.gates.min_accuracy,
        r.accuracy_drop_points.map_or("?".to_string(), |d| format!("{d:.2}")),
        cfg.gates.max_accuracy_drop,
        r.seconds
    );
    for r in &summary.rejected {
        eprintln!("[promote] skipped run {}: {}", r.run_id, r.reason);
    }
    print_release_summary("promote", &summary.release);
    match (&summary.model_version, &summary.alias_error) {
        (Some(v), _) => {
            eprintln!("[promote] registered model {:?} version {v} is now alias production", cfg.registered_model)
        }
        (None, Some(e)) => eprintln!("[promote] warning: the production alias was not moved: {e}"),
        _ => {}
    }
    let json = serde_json::to_string_pretty(&summary)?;
    if let Some(path) = &a.summary {
        pipeline::fsutil::write_atomic(path, json.as_bytes()).with_context(|| format!("writing {}", path.display()))?;
    }
    if a.json {
        println!("{}", serde_json::to_string(&summary)?);
    }
    Ok(ExitCode::SUCCESS)
}

/// The MLflow server of `--tracking-uri`, else of MLFLOW_TRACKING_URI.
pub(super) fn mlflow_client(tracking_uri: Option<String>) -> anyhow::Result<mlflow_rest::Client> {
    let uri = pipeline::tracking::tracking_uri(tracking_uri)
        .context("no MLflow server: pass --tracking-uri or set MLFLOW_TRACKING_URI")?;
    Ok(mlflow_rest::Client::from_uri(&uri)?)
}

/// The production store of `--store`: S3 settings from the standard AWS variables, `--s3-endpoint` first.
pub(super) fn open_store(url: &str, s3_endpoint: Option<String>) -> anyhow::Result<hapticmat_release::store::Store> {
    let mut s3 = hapticmat_release::store::S3Options::from_env();
    if s3_endpoint.is_some() {
        s3.endpoint = s3_endpoint;
    }
    Ok(hapticmat_release::store::Store::open(url, &s3)?)
}
