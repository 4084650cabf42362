//! Command-line interface: argument parsing and terminal output only; the work is in the library.

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use hapticmat_core::features::{Baseline, BaselineEvent};
use hapticmat_core::inference::PresenceModel;
use hapticmat_core::monitor::{Monitor, MonitorConfig, MonitorEvent, MonitorSummary};
use hapticmat_core::simulator::SimConfig;
use hapticmat_core::source::{CancelToken, Pace, SourceEvent, SourceSpec, SourceStatus};
use hapticmat_core::{Label, StateUpdate};
use indicatif::{ProgressBar, ProgressStyle};
use onnx_ptq::quantize::{ActivationType, CalibrationMethod, Progress, QuantizeConfig, QuantizeEvent};
use pipeline::dataset::SimDatasetConfig;
use pipeline::run::{Reporter, RunConfig};
use pipeline::train::{TrainConfig, TrainProgress};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

/// The real mat recordings, relative to the working directory like `--out`: run from the repository's
/// root, this is its copy in `data/seroton-mat/`. A build-machine path would break the released binary.
const DEFAULT_RECORDINGS: &str = "data/seroton-mat";

#[derive(Parser)]
#[command(
    name = "pipeline",
    version,
    about = "HapticMat Presence: data, training, ONNX export, evaluation, live monitor and recorder"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Simulate a dataset, train the CNN, export ONNX and evaluate it (no servers needed).
    Run(RunArgs),
    /// Show live presence states from the mat, a replay or the simulator.
    Monitor(MonitorArgs),
    /// Hours-long sessions spliced from the real recordings, with weather drift: presence held while
    /// occupied, absence found after leaving, the absence timeout fired.
    Scenarios(ScenariosArgs),
    /// Record the mat's frames to a CSV file in the makers' format.
    Record(RecordArgs),
    /// Post-training static quantization of an ONNX model to int8 (QDQ).
    Quantize(QuantizeArgs),
    /// Score a float model against its quantized version on the same held-out data.
    Evaluate(EvaluateArgs),
    /// Make an ed25519 signing key (KEYFILE, owner-only) and the public key apps pin (KEYFILE.pub).
    Keygen(KeygenArgs),
    /// Key rotation: sign the publisher key set with the offline root key, rotate the root, verify keys.json.
    #[command(subcommand)]
    Keys(pipeline::keys::KeysCommand),
    /// Sign a model and lay it out in a bucket-shaped folder: models/<sha256>.onnx, history/<N>.json, latest.json.
    Publish(PublishArgs),
    /// Run the phone's model updater once against a store (http(s):// or file://) into a cache folder.
    FetchModel(FetchModelArgs),
    /// Jenkins' job: release the newest FINISHED MLflow run that passes the gates to the production store.
    Promote(PromoteArgs),
    /// Put the model of an earlier history sequence back into production under a new sequence.
    Rollback(RollbackArgs),
    /// Log a finished `pipeline run` folder to an MLflow tracking server and register its int8 model.
    Log(LogArgs),
    /// (internal) Peak memory of one inference session, measured in this fresh process.
    #[command(hide = true)]
    SessionMemory {
        /// The model.
        #[arg(long)]
        model: PathBuf,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Method {
    Minmax,
    Percentile,
    Entropy,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Activations {
    Int8,
    Uint8,
}

#[derive(Args)]
struct QuantizeArgs {
    /// The float model (ONNX).
    #[arg(long)]
    model: PathBuf,
    /// Calibration windows: a float32 .npy of shape [n, …input dims] (pipeline run writes data/calibration.npy).
    /// For a model with more inputs, this feeds the first; each other input INPUT is read from
    /// --calibration-input INPUT=FILE, else from calibration_INPUT.npy beside this file.
    #[arg(long)]
    calibration: PathBuf,
    /// Calibration windows of another model input, INPUT=FILE.npy (same number of windows).
    #[arg(long = "calibration-input", value_name = "INPUT=FILE")]
    calibration_inputs: Vec<String>,
    /// Where to write the int8 model (written under a temporary name, renamed when done).
    #[arg(long)]
    out: PathBuf,
    /// How activation ranges are calibrated.
    #[arg(long, value_enum, default_value = "minmax")]
    method: Method,
    /// Percentile of |x| kept by --method percentile.
    #[arg(long, default_value_t = 99.999)]
    percentile: f64,
    /// Histogram bins of --method percentile / entropy (defaults 2048 / 512; ONNX Runtime's entropy uses 128).
    #[arg(long)]
    bins: Option<usize>,
    /// One weight scale per tensor instead of per output channel.
    #[arg(long)]
    per_tensor: bool,
    /// Integer type of activations.
    #[arg(long, value_enum, default_value = "int8")]
    activation_type: Activations,
    /// Symmetric activation ranges.
    #[arg(long)]
    symmetric_activations: bool,
    /// Quantize the float pre-processing at the inputs too.
    #[arg(long)]
    quantize_prefix: bool,
    /// Leave this node float (repeatable).
    #[arg(long = "exclude-node", value_name = "NAME")]
    exclude_nodes: Vec<String>,
    /// Leave every node of this op type float (repeatable).
    #[arg(long = "exclude-op", value_name = "OP")]
    exclude_ops: Vec<String>,
    /// Fail on an op the quantizer does not know instead of leaving it float.
    #[arg(long)]
    strict: bool,
    /// Refuse (write nothing, exit non-zero) an int8 model more than this many accuracy points below
    /// fp32 on the held-out windows of --data.
    #[arg(long, value_name = "POINTS", requires = "data")]
    max_accuracy_drop: Option<f64>,
    /// With --max-accuracy-drop: also refuse an int8 model more than this many points of recall
    /// below fp32 on any one state.
    #[arg(long, value_name = "POINTS", default_value_t = 2.0)]
    max_recall_drop: f64,
    /// Folder with test.npy and test_labels.npy for --max-accuracy-drop.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Print the quantization report as JSON on stdout.
    #[arg(long)]
    json: bool,
}

impl QuantizeArgs {
    fn config(&self) -> QuantizeConfig {
        QuantizeConfig {
            method: match (method_config(self.method, self.percentile), self.bins) {
                (CalibrationMethod::Percentile { percentile, .. }, Some(bins)) => {
                    CalibrationMethod::Percentile { percentile, bins }
                }
                (CalibrationMethod::Entropy { quantized_bins, .. }, Some(bins)) => {
                    CalibrationMethod::Entropy { bins, quantized_bins }
                }
                (m, _) => m,
            },
            activation_type: match self.activation_type {
                Activations::Int8 => ActivationType::Int8,
                Activations::Uint8 => ActivationType::Uint8,
            },
            symmetric_activations: self.symmetric_activations,
            per_channel: !self.per_tensor,
            float_prefix: !self.quantize_prefix,
            exclude_nodes: self.exclude_nodes.clone(),
            exclude_op_types: self.exclude_ops.clone(),
            strict: self.strict,
            ..QuantizeConfig::default()
        }
    }
}

fn method_config(m: Method, percentile: f64) -> CalibrationMethod {
    match m {
        Method::Minmax => CalibrationMethod::MinMax,
        Method::Percentile => match CalibrationMethod::percentile() {
            CalibrationMethod::Percentile { bins, .. } => CalibrationMethod::Percentile { percentile, bins },
            other => other,
        },
        Method::Entropy => CalibrationMethod::entropy(),
    }
}

/// Draws calibration progress: one bar per pass over the calibration windows.
#[derive(Default)]
struct QuantizeBars {
    bar: Option<ProgressBar>,
}

impl Progress for QuantizeBars {
    fn event(&mut self, e: QuantizeEvent<'_>) {
        match e {
            QuantizeEvent::Stage(name) => eprintln!("[quantize] {name}"),
            QuantizeEvent::PassStarted { pass, windows } => {
                let bar = ProgressBar::new(windows.unwrap_or(0) as u64);
                bar.set_style(
                    ProgressStyle::with_template("[quantize] {prefix} {bar:40} {pos}/{len} windows")
                        .unwrap_or_else(|_| ProgressStyle::default_bar()),
                );
                bar.set_prefix(pass.to_string());
                self.bar = Some(bar);
            }
            QuantizeEvent::Batch { windows_done, .. } => {
                if let Some(b) = &self.bar {
                    b.set_position(windows_done as u64);
                }
            }
            QuantizeEvent::PassFinished { pass, windows } => {
                if let Some(b) = self.bar.take() {
                    b.finish_and_clear();
                }
                eprintln!("[quantize] {pass}: {windows} windows");
            }
        }
    }
}

#[derive(Args)]
struct EvaluateArgs {
    /// The float model.
    #[arg(long)]
    fp32: PathBuf,
    /// The quantized model.
    #[arg(long)]
    int8: PathBuf,
    /// Folder with test.npy and test_labels.npy (default: `data/` beside the float model).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Where to write evaluation.json, evaluation.md and the plots (default: beside the int8 model).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Folder with the real recordings for the replay evaluation (skipped when it lacks them).
    #[arg(long, default_value = DEFAULT_RECORDINGS)]
    recordings: PathBuf,
    /// Fail (non-zero exit) when int8 accuracy is more than this many points below fp32.
    #[arg(long, value_name = "POINTS")]
    max_accuracy_drop: Option<f64>,
}

#[derive(Args)]
struct RunArgs {
    /// Output folder for the model and reports.
    #[arg(long, default_value = "out/run")]
    out: PathBuf,
    /// Simulated sessions (one subject each).
    #[arg(long, default_value_t = SimDatasetConfig::default().sessions)]
    sessions: usize,
    /// Length of each simulated session, s.
    #[arg(long, default_value_t = SimDatasetConfig::default().session_s)]
    session_seconds: f64,
    /// Hours-long simulated sessions besides the short ones (drift under long stays, sleep).
    #[arg(long, default_value_t = SimDatasetConfig::default().long_sessions)]
    long_sessions: usize,
    /// Length of each long session, s.
    #[arg(long, default_value_t = SimDatasetConfig::default().long_session_s)]
    long_session_seconds: f64,
    /// Most training epochs.
    #[arg(long, default_value_t = TrainConfig::default().epochs)]
    epochs: usize,
    /// Learning rate of the first epoch (cosine decay to --final-learning-rate).
    #[arg(long, default_value_t = TrainConfig::default().learning_rate)]
    learning_rate: f64,
    /// Learning rate of the last epoch.
    #[arg(long, default_value_t = TrainConfig::default().final_learning_rate)]
    final_learning_rate: f64,
    /// Seed of the dataset and training.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Simulator configuration (JSON; e.g. another bladder layout). Defaults are built in.
    #[arg(long)]
    sim_config: Option<PathBuf>,
    /// Folder with the real recordings for the replay evaluation (skipped when it lacks them).
    #[arg(long, default_value = DEFAULT_RECORDINGS)]
    recordings: PathBuf,
    /// Labelled recordings to train on as well: CSV files, or folders holding one mat's files (labels
    /// from a Label column or the file name). Repeat for more.
    #[arg(long = "train-recordings", value_name = "PATH")]
    train_recordings: Vec<PathBuf>,
    /// Print no progress.
    #[arg(long)]
    quiet: bool,
    /// Calibration method of the int8 model.
    #[arg(long, value_enum, default_value = "minmax")]
    method: Method,
    /// Skip quantization: write the float model only.
    #[arg(long)]
    no_quantize: bool,
    /// Refuse the int8 model (fail the run) if it loses more accuracy points than this.
    #[arg(long, value_name = "POINTS", default_value_t = 2.0)]
    max_accuracy_drop: f64,
    /// Refuse the int8 model (fail the run) if it loses more recall points than this on any state.
    #[arg(long, value_name = "POINTS", default_value_t = 2.0)]
    max_recall_drop: f64,
    /// MLflow tracking server (http(s)://…; default: env MLFLOW_TRACKING_URI). The MLflow run is created
    /// before training and set FINISHED or FAILED at the end. Without one, only the output folder is written.
    #[arg(long, value_name = "URL")]
    tracking_uri: Option<String>,
    /// MLflow experiment of the run.
    #[arg(long, value_name = "NAME", default_value = pipeline::tracking::DEFAULT_EXPERIMENT)]
    experiment: String,
}

#[derive(Args)]
struct MonitorArgs {
    /// replay:FILE[,FILE…] | sim[:SEED] | ble[:NAME]
    #[arg(long)]
    source: String,
    /// The presence model (ONNX).
    #[arg(long)]
    model: PathBuf,
    /// Take the first SECONDS as the empty-mat baseline.
    #[arg(long, value_name = "SECONDS")]
    calibrate: Option<f64>,
    /// max or realtime (default: max for replay, realtime otherwise).
    #[arg(long)]
    speed: Option<Pace>,
    /// One JSON object per frame on stdout.
    #[arg(long)]
    json: bool,
    /// Stop after this much session time, s.
    #[arg(long)]
    seconds: Option<f64>,
    /// Report when nobody has been on the mat this long, s.
    #[arg(long, default_value_t = 600.0)]
    absence_timeout: f64,
    /// This mat's baseline file: used when it exists (unless --calibrate), written after a calibration.
    #[arg(long, value_name = "FILE")]
    baseline: Option<PathBuf>,
    /// The user's personal calibration on this mat (JSON {"reference_load_pa": …}, as the app saves
    /// it), for models that read it.
    #[arg(long, value_name = "FILE")]
    personal: Option<PathBuf>,
}

#[derive(Args)]
struct ScenariosArgs {
    /// The presence model (ONNX).
    #[arg(long)]
    model: PathBuf,
    /// Folder with the real recordings (empty_or_cat_on_mat.csv, human_on_mat.csv).
    #[arg(long, default_value = DEFAULT_RECORDINGS)]
    recordings: PathBuf,
    /// Absence timeout of the monitor, s.
    #[arg(long, default_value_t = 300.0)]
    absence_timeout: f64,
    /// Also write the table (Markdown) to this file.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// One JSON object per scenario on stdout instead of the table.
    #[arg(long)]
    json: bool,
    /// Exit with status 1 unless every scenario holds.
    #[arg(long)]
    check: bool,
}

#[derive(Args)]
struct RecordArgs {
    /// ble[:NAME] (sim[:SEED] and replay:FILE also work, for tests and demos)
    #[arg(long)]
    source: String,
    /// How long to record, s.
    #[arg(long)]
    seconds: f64,
    /// What is on the mat: absent, sitting, lying_full, lying_partial or present.
    #[arg(long)]
    label: Option<Label>,
    /// The CSV file to write.
    #[arg(long)]
    out: PathBuf,
}

/// Parses the command line and runs the command.
pub fn run() -> anyhow::Result<ExitCode> {
    match Cli::parse().command {
        Command::Run(a) => run_job(a),
        Command::Monitor(a) => monitor(a),
        Command::Scenarios(a) => scenarios(a),
        Command::Record(a) => record(a),
        Command::Quantize(a) => quantize_cmd(a),
        Command::Evaluate(a) => evaluate(a),
        Command::Keygen(a) => keygen(a),
        Command::Keys(c) => pipeline::keys::run(c),
        Command::Publish(a) => publish(a),
        Command::FetchModel(a) => fetch_model(a),
        Command::Promote(a) => promote(a),
        Command::Rollback(a) => rollback(a),
        Command::Log(a) => log_cmd(a),
        Command::SessionMemory { model } => {
            println!("{}", pipeline::compare::measure_session_memory(&model, 200)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Draws `pipeline run`'s progress: stage lines and a bar per training epoch (hidden when stderr
/// is not a terminal, where only the epoch summaries are printed).
struct RunProgress {
    quiet: bool,
    bar: Option<ProgressBar>,
    quantize: QuantizeBars,
}

impl RunProgress {
    fn new(quiet: bool) -> Self {
        RunProgress { quiet, bar: None, quantize: QuantizeBars::default() }
    }
}

impl Reporter for RunProgress {
    fn quantize(&mut self, e: QuantizeEvent<'_>) {
        if !self.quiet {
            self.quantize.event(e);
        }
    }
    fn stage(&mut self, name: &str) {
        if !self.quiet {
            eprintln!("[run] {name}");
        }
    }
    fn training(&mut self, p: TrainProgress<'_>) {
        if self.quiet {
            return;
        }
        match p {
            TrainProgress::Step { epoch, step, steps } => {
                let bar = self.bar.get_or_insert_with(|| {
                    let bar = ProgressBar::new(steps as u64);
                    bar.set_style(
                        ProgressStyle::with_template(
                            "[train] epoch {prefix:>2} {bar:40} {pos}/{len} steps, {eta} left",
                        )
                        .unwrap_or_else(|_| ProgressStyle::default_bar()),
                    );
                    bar
                });
                bar.set_prefix(epoch.to_string());
                bar.set_position(step as u64);
            }
            TrainProgress::Epoch(m) => {
                if let Some(bar) = self.bar.take() {
                    bar.finish_and_clear();
                }
                eprintln!(
                    "[train] epoch {}: lr {:.1e}, train loss {:.4}, validation loss {:.4}, accuracy {:.2}%, balanced accuracy {:.2}% ({:.2}% with personal calibration) ({:.1} s)",
                    m.epoch,
                    m.learning_rate,
                    m.train_loss,
                    m.validation_loss,
                    100.0 * m.validation_accuracy,
                    100.0 * m.validation_balanced_accuracy,
                    100.0 * m.validation_balanced_accuracy_calibrated,
                    m.seconds
                );
            }
        }
    }
}

fn run_job(a: RunArgs) -> anyhow::Result<ExitCode> {
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

fn scenarios(a: ScenariosArgs) -> anyhow::Result<ExitCode> {
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

fn monitor(a: MonitorArgs) -> anyhow::Result<ExitCode> {
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
    if let Some(path) = a.baseline.as_deref().filter(|p| a.calibrate.is_none() && p.exists()) {
        let b = Baseline::load(path)?;
        eprintln!("baseline from {}: {:?} Pa", path.display(), b.pressures);
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
            if let (Some(path), MonitorEvent::Baseline(BaselineEvent::Calibrated(b) | BaselineEvent::AutoBaseline(b))) =
                (&a.baseline, event)
            {
                match b.save(path) {
                    Ok(()) => eprintln!("baseline saved to {}", path.display()),
                    Err(e) => eprintln!("{e}"),
                }
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

fn describe_event(event: &MonitorEvent) {
    match event {
        MonitorEvent::Baseline(BaselineEvent::Calibrated(b)) => {
            eprintln!("calibrated: empty mat at {:?} Pa", b.pressures)
        }
        MonitorEvent::Baseline(BaselineEvent::AutoBaseline(b)) => {
            eprintln!("baseline taken from a still stretch: {:?} Pa", b.pressures)
        }
        MonitorEvent::Baseline(BaselineEvent::CalibrationFailed(e)) => eprintln!("calibration refused: {e}"),
        MonitorEvent::AbsenceTimeout { t, absent_for_s } => {
            eprintln!("t={t:.1}s: nobody on the mat for {absent_for_s:.0} s — the app would stop its session now")
        }
        MonitorEvent::PersonalCalibration(Ok(c)) => {
            eprintln!("personal calibration: {:.0} Pa lying fully", c.reference_load_pa)
        }
        MonitorEvent::PersonalCalibration(Err(e)) => eprintln!("personal calibration refused: {e}"),
        MonitorEvent::Skipped(e) => eprintln!("skipped: {e}"),
        MonitorEvent::Status(SourceStatus::Reconnecting { attempt, delay }) => {
            eprintln!("reconnecting (attempt {attempt}) in {:.1} s", delay.as_secs_f64())
        }
        MonitorEvent::Status(s) => eprintln!("source: {s:?}"),
        MonitorEvent::State(_) => {}
    }
}

fn print_summary(s: &MonitorSummary) {
    eprintln!("\n{} frames; states: {:?}", s.frames, s.state_frames);
    if s.skipped.is_empty() {
        eprintln!("no bad input");
    } else {
        eprintln!("skipped bad input: {:?}", s.skipped);
        for e in &s.skipped_examples {
            eprintln!("  {e}");
        }
    }
    eprintln!("inference: {} calls, p50 {:.1} µs, p99 {:.1} µs", s.inferences, s.inference_p50_us, s.inference_p99_us);
    if s.disconnects > 0 {
        eprintln!("link dropped {} times (reconnected with backoff)", s.disconnects);
    }
}

/// The readable live view: a line per state change; on a terminal also a status line redrawn in place.
struct LiveView {
    tty: bool,
    last_state: Option<&'static str>,
    last_line_t: f64,
}

impl LiveView {
    fn new(tty: bool) -> Self {
        LiveView { tty, last_state: None, last_line_t: f64::NEG_INFINITY }
    }

    fn show(&mut self, out: &mut impl Write, u: &StateUpdate) -> std::io::Result<()> {
        let p = u.pressures.map(|v| v / 1000.0);
        // A posture the four bladders cannot tell apart is shown as "on the mat (posture?)".
        let unsure = u.posture_confidence.is_some_and(|c| c < hapticmat_core::monitor::POSTURE_CONFIDENT);
        let absent_for = u.absent_for_s.map_or(String::new(), |s| format!("   empty for {s:.0} s"));
        let line = format!(
            "t={:7.1}s  {:<13}{} confidence {:>4.0}%   pressures {:.3} {:.3} {:.3} {:.3} kPa{absent_for}",
            u.t,
            u.state_name(),
            if unsure { " (posture?)" } else { "" },
            100.0 * u.confidence,
            p[0],
            p[1],
            p[2],
            p[3]
        );
        let changed = self.last_state != Some(u.state_name());
        if changed || (!self.tty && u.t - self.last_line_t >= 5.0) {
            if self.tty {
                write!(out, "\r\x1b[2K")?;
            }
            writeln!(out, "{line}{}", if changed { "   <- change" } else { "" })?;
            self.last_state = Some(u.state_name());
            self.last_line_t = u.t;
        } else if self.tty {
            write!(out, "\r\x1b[2K{line}")?;
            out.flush()?;
        }
        Ok(())
    }
}

fn record(a: RecordArgs) -> anyhow::Result<ExitCode> {
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
fn session_memory_in_child(model: &std::path::Path) -> Option<u64> {
    let exe = std::env::current_exe().ok()?;
    let out = std::process::Command::new(exe).arg("session-memory").arg("--model").arg(model).output().ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok().filter(|_| out.status.success())
}

fn evaluate(a: EvaluateArgs) -> anyhow::Result<ExitCode> {
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
fn calibration_tensors(a: &QuantizeArgs) -> anyhow::Result<Vec<pipeline::ptq::CalibrationTensor>> {
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

fn quantize_cmd(a: QuantizeArgs) -> anyhow::Result<ExitCode> {
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

#[derive(Args)]
struct KeygenArgs {
    /// Where to write the private key (PKCS#8 PEM, mode 0600); the public key goes to FILE.pub.
    #[arg(long, value_name = "KEYFILE")]
    out: PathBuf,
}

#[derive(Args)]
struct PublishArgs {
    /// The ONNX model to publish.
    #[arg(long)]
    model: PathBuf,
    /// The signing key (from `pipeline keygen`).
    #[arg(long, value_name = "KEYFILE")]
    key: PathBuf,
    /// Public key of a retired signing key whose signatures in the store are still trusted (repeatable):
    /// `KEYFILE.pub` as keygen wrote it. Entries signed by keys in neither list are refused.
    #[arg(long, value_name = "PUBFILE")]
    retired_key: Vec<PathBuf>,
    #[command(flatten)]
    key_set: KeySetArgs,
    /// Root folder of the store (bucket layout).
    #[arg(long, value_name = "DIR")]
    store: PathBuf,
    /// Publication counter: must be higher than the store's current latest.json.
    #[arg(long, value_name = "N")]
    sequence: u64,
    /// Semantic version (default 0.N.0).
    #[arg(long, value_name = "V")]
    version: Option<semver::Version>,
    /// Days until the manifest expires and phones refuse it (at most 400, the longest validity phones accept).
    #[arg(long, value_name = "DAYS", default_value_t = pipeline::publish::DEFAULT_EXPIRES_IN_DAYS)]
    expires_in: u32,
    /// The training run the model comes from.
    #[arg(long, default_value = "local")]
    run_id: String,
}

/// A root-signed key set to publish with a release (issue 12 item 12; docs/operations.md, "Key rotation").
#[derive(clap::Args, Debug)]
struct KeySetArgs {
    /// The root-signed key set (`pipeline keys sign`) to publish as keys.json with this release, for phones
    /// that pin the root: checked first as they will check it (the signing key listed, not revoked).
    #[arg(long, value_name = "FILE", requires = "root_key")]
    key_set: Option<PathBuf>,
    /// The root public key phones pin (ROOT.pub), to check --key-set against.
    #[arg(long, value_name = "PUBFILE", requires = "key_set")]
    root_key: Option<PathBuf>,
    /// The version of that root (1 unless it was rotated).
    #[arg(long, value_name = "N", default_value_t = 1)]
    root_version: u64,
}

/// The keyring of a publishing command: signing key, retired keys and the key set, if any.
fn keyring(
    signing_key: &std::path::Path,
    retired: &[PathBuf],
    k: &KeySetArgs,
) -> anyhow::Result<hapticmat_release::keyring::Keyring> {
    let keys = pipeline::publish::read_keyring(signing_key, retired)?;
    pipeline::publish::with_key_set(keys, k.key_set.as_deref(), k.root_key.as_deref(), k.root_version)
}

fn keygen(a: KeygenArgs) -> anyhow::Result<ExitCode> {
    let k = pipeline::publish::keygen(&a.out)?;
    eprintln!("signing key {} (keep it secret), public key {}", k.private.display(), k.public.display());
    println!("{}", k.key_id);
    Ok(ExitCode::SUCCESS)
}

fn publish(a: PublishArgs) -> anyhow::Result<ExitCode> {
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

#[derive(Args)]
struct FetchModelArgs {
    /// The store holding latest.json: http(s)://… or file:///….
    #[arg(long, value_name = "URL")]
    base_url: String,
    /// The model cache folder (as the app's).
    #[arg(long, value_name = "DIR")]
    cache_dir: PathBuf,
    /// A pinned public key (PEM, or 32 bytes in base64/hex); repeat to pin several.
    #[arg(long = "public-key", value_name = "FILE", required = true)]
    public_keys: Vec<PathBuf>,
    /// Print one JSON object: outcome, version, sequence, sha256, path (the model served), reason.
    #[arg(long)]
    json: bool,
    /// Longest wait for the next bytes before the connection is dropped and resumed, s.
    #[arg(long, value_name = "SECONDS", default_value_t = 30.0)]
    idle_timeout: f64,
    /// Most tries in a row without progress for one request.
    #[arg(long, value_name = "N", default_value_t = 5)]
    attempts: u32,
    /// First backoff delay between tries, ms (doubles each try, with jitter).
    #[arg(long, value_name = "MS", default_value_t = 500)]
    backoff_ms: u64,
}

fn fetch_model(a: FetchModelArgs) -> anyhow::Result<ExitCode> {
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

#[derive(Args)]
struct LogArgs {
    /// The `pipeline run --out` folder to log.
    #[arg(long, value_name = "DIR")]
    run_dir: PathBuf,
    /// MLflow tracking server, http(s)://… (default: env MLFLOW_TRACKING_URI; credentials from env
    /// MLFLOW_TRACKING_TOKEN or MLFLOW_TRACKING_USERNAME/PASSWORD).
    #[arg(long, value_name = "URL")]
    tracking_uri: Option<String>,
    /// Experiment (created if missing).
    #[arg(long, value_name = "NAME", default_value = pipeline::tracking::DEFAULT_EXPERIMENT)]
    experiment: String,
    /// Run name (default: run-<UTC time>).
    #[arg(long, value_name = "NAME")]
    run_name: Option<String>,
    /// Registered model the int8 model becomes a version of.
    #[arg(long, value_name = "NAME", default_value = pipeline::tracking::DEFAULT_REGISTERED_MODEL)]
    registered_model: String,
    /// Print the summary as one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

fn log_cmd(a: LogArgs) -> anyhow::Result<ExitCode> {
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

fn print_log_summary(s: &pipeline::tracking::LogSummary) {
    eprintln!(
        "[log] MLflow run {} ({}) FINISHED in experiment {:?} ({}): {} params, {} metric values, {} artifacts + manifest",
        s.run_id,
        s.run_name,
        s.experiment_name,
        s.experiment_id,
        s.params,
        s.metrics,
        s.artifacts.len()
    );
    eprintln!("[log] registered model {:?} version {} ← {}", s.registered_model, s.model_version, s.model_source);
    match &s.git_commit {
        Some(c) => eprintln!("[log] git commit {c}; data fingerprint {}", s.data_fingerprint),
        None => eprintln!(
            "[log] git commit unknown (no git checkout here and GIT_COMMIT unset): tag omitted; data fingerprint {}",
            s.data_fingerprint
        ),
    }
    eprintln!("[log] {}", s.run_url);
}

#[derive(Args)]
struct RollbackArgs {
    /// The history sequence whose model goes back into production (it is re-signed as a new sequence,
    /// since phones refuse lower ones).
    #[arg(long, value_name = "N")]
    to: u64,
    /// The production store: s3://bucket[/prefix], file:///dir or a folder path.
    #[arg(long, value_name = "URL")]
    store: String,
    /// The signing key (from `pipeline keygen`).
    #[arg(long, value_name = "KEYFILE")]
    signing_key: PathBuf,
    /// Public key of a retired signing key whose signatures in the store are still trusted (repeatable):
    /// `KEYFILE.pub` as keygen wrote it. Entries signed by keys in neither list are refused.
    #[arg(long, value_name = "PUBFILE")]
    retired_key: Vec<PathBuf>,
    #[command(flatten)]
    key_set: KeySetArgs,
    /// S3 endpoint URL (default: AWS_ENDPOINT_URL). Credentials are read from AWS_ACCESS_KEY_ID and
    /// AWS_SECRET_ACCESS_KEY only, never from the command line.
    #[arg(long, value_name = "URL")]
    s3_endpoint: Option<String>,
    /// Also write the summary (JSON) to this file, e.g. for Jenkins to check what phones get.
    #[arg(long, value_name = "FILE")]
    summary: Option<PathBuf>,
    /// Days until the new manifest expires and phones refuse it (at most 400, the longest validity phones accept).
    #[arg(long, value_name = "DAYS", default_value_t = hapticmat_release::release::DEFAULT_EXPIRES_IN_DAYS)]
    expires_in_days: u32,
    /// Print the summary as one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

fn rollback(a: RollbackArgs) -> anyhow::Result<ExitCode> {
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

/// The human lines of a release or rollback summary, on stderr.
fn print_release_summary(command: &str, s: &hapticmat_release::release::ReleaseSummary) {
    use hapticmat_release::release::ReleaseOutcome;
    match s.outcome {
        ReleaseOutcome::AlreadyCurrent => eprintln!(
            "[{command}] {}: already current: sequence {} serves model {} (sha256 {}); nothing written",
            s.store, s.sequence, s.version, s.sha256
        ),
        ReleaseOutcome::Released => {
            let from = s.rollback_of.map(|r| format!(", the model of history/{r}.json")).unwrap_or_default();
            eprintln!(
                "[{command}] {}: sequence {} (was {}) now serves model {}{from} (sha256 {}, {} bytes, run {}), \
                 signed by key {}, expires {}",
                s.store,
                s.sequence,
                s.previous_sequence.map_or("none".to_string(), |p| p.to_string()),
                s.version,
                s.sha256,
                s.size,
                s.source_run_id,
                s.key_id,
                s.expires_at.to_rfc3339()
            );
            eprintln!("[{command}] wrote {}", s.written.join(", "));
        }
    }
    for w in &s.warnings {
        eprintln!("[{command}] warning: {w}");
    }
}

#[derive(Args)]
struct PromoteArgs {
    /// The MLflow tracking server (default: MLFLOW_TRACKING_URI).
    #[arg(long, value_name = "URL")]
    tracking_uri: Option<String>,
    /// The experiment whose runs are candidates.
    #[arg(long, default_value = pipeline::tracking::DEFAULT_EXPERIMENT)]
    experiment: String,
    /// The production store: s3://bucket[/prefix], file:///dir or a folder path.
    #[arg(long, value_name = "URL")]
    store: String,
    /// S3 endpoint URL (default: AWS_ENDPOINT_URL). Credentials are read from AWS_ACCESS_KEY_ID and
    /// AWS_SECRET_ACCESS_KEY only, never from the command line.
    #[arg(long, value_name = "URL")]
    s3_endpoint: Option<String>,
    /// The signing key (from `pipeline keygen`).
    #[arg(long, value_name = "KEYFILE")]
    signing_key: PathBuf,
    /// Public key of a retired signing key whose signatures in the store are still trusted (repeatable):
    /// `KEYFILE.pub` as keygen wrote it. Entries signed by keys in neither list are refused.
    #[arg(long, value_name = "PUBFILE")]
    retired_key: Vec<PathBuf>,
    #[command(flatten)]
    key_set: KeySetArgs,
    /// Lowest int8 accuracy on held-out simulated subjects (0..1) a run needs.
    #[arg(long, value_name = "FRACTION", default_value_t = 0.80)]
    min_accuracy: f64,
    /// Most accuracy points the int8 model may lose against fp32.
    #[arg(long, value_name = "POINTS", default_value_t = 2.0)]
    max_accuracy_drop: f64,
    /// The registered model whose version gets the `production` alias.
    #[arg(long, value_name = "NAME", default_value = pipeline::tracking::DEFAULT_REGISTERED_MODEL)]
    registered_model: String,
    /// Semantic version of the release (default 0.<sequence>.0).
    #[arg(long, value_name = "V")]
    version: Option<semver::Version>,
    /// Days until the manifest expires and phones refuse it (at most 400, the longest validity phones accept).
    #[arg(long, value_name = "DAYS", default_value_t = hapticmat_release::release::DEFAULT_EXPIRES_IN_DAYS)]
    expires_in_days: u32,
    /// Also write the summary (JSON) to this file, e.g. for Jenkins to archive.
    #[arg(long, value_name = "FILE")]
    summary: Option<PathBuf>,
    /// Print the summary as one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

fn promote(a: PromoteArgs) -> anyhow::Result<ExitCode> {
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
fn mlflow_client(tracking_uri: Option<String>) -> anyhow::Result<mlflow_rest::Client> {
    let uri = pipeline::tracking::tracking_uri(tracking_uri)
        .context("no MLflow server: pass --tracking-uri or set MLFLOW_TRACKING_URI")?;
    Ok(mlflow_rest::Client::from_uri(&uri)?)
}

/// The production store of `--store`: S3 settings from the standard AWS variables, `--s3-endpoint` first.
fn open_store(url: &str, s3_endpoint: Option<String>) -> anyhow::Result<hapticmat_release::store::Store> {
    let mut s3 = hapticmat_release::store::S3Options::from_env();
    if s3_endpoint.is_some() {
        s3.endpoint = s3_endpoint;
    }
    Ok(hapticmat_release::store::Store::open(url, &s3)?)
}
