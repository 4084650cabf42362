//! The command line's arguments: what each command takes, with its defaults and help.

use clap::{Args, Parser, Subcommand};
use hapticmat_core::Label;
use hapticmat_core::source::Pace;
use onnx_ptq::quantize::{ActivationType, CalibrationMethod, QuantizeConfig};
use pipeline::dataset::SimDatasetConfig;
use pipeline::train::TrainConfig;
use std::path::PathBuf;

/// The real mat recordings, relative to the working directory like `--out`: run from the repository's
/// root, this is its copy in `data/seroton-mat/`. A build-machine path would break the released binary.
pub(super) const DEFAULT_RECORDINGS: &str = "data/seroton-mat";

#[derive(Parser)]
#[command(
    name = "pipeline",
    version,
    about = "HapticMat Presence: data, training, ONNX export, evaluation, live monitor and recorder"
)]
pub(super) struct Cli {
    #[command(subcommand)]
    pub(super) command: Command,
}

#[derive(Subcommand)]
pub(super) enum Command {
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
pub(super) enum Method {
    Minmax,
    Percentile,
    Entropy,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub(super) enum Activations {
    Int8,
    Uint8,
}

#[derive(Args)]
pub(super) struct QuantizeArgs {
    /// The float model (ONNX).
    #[arg(long)]
    pub(super) model: PathBuf,
    /// Calibration windows: a float32 .npy of shape [n, …input dims] (pipeline run writes data/calibration.npy).
    /// For a model with more inputs, this feeds the first; each other input INPUT is read from
    /// --calibration-input INPUT=FILE, else from calibration_INPUT.npy beside this file.
    #[arg(long)]
    pub(super) calibration: PathBuf,
    /// Calibration windows of another model input, INPUT=FILE.npy (same number of windows).
    #[arg(long = "calibration-input", value_name = "INPUT=FILE")]
    pub(super) calibration_inputs: Vec<String>,
    /// Where to write the int8 model (written under a temporary name, renamed when done).
    #[arg(long)]
    pub(super) out: PathBuf,
    /// How activation ranges are calibrated.
    #[arg(long, value_enum, default_value = "minmax")]
    pub(super) method: Method,
    /// Percentile of |x| kept by --method percentile.
    #[arg(long, default_value_t = 99.999)]
    pub(super) percentile: f64,
    /// Histogram bins of --method percentile / entropy (defaults 2048 / 512; ONNX Runtime's entropy uses 128).
    #[arg(long)]
    pub(super) bins: Option<usize>,
    /// One weight scale per tensor instead of per output channel.
    #[arg(long)]
    pub(super) per_tensor: bool,
    /// Integer type of activations.
    #[arg(long, value_enum, default_value = "int8")]
    pub(super) activation_type: Activations,
    /// Symmetric activation ranges.
    #[arg(long)]
    pub(super) symmetric_activations: bool,
    /// Quantize the float pre-processing at the inputs too.
    #[arg(long)]
    pub(super) quantize_prefix: bool,
    /// Leave this node float (repeatable).
    #[arg(long = "exclude-node", value_name = "NAME")]
    pub(super) exclude_nodes: Vec<String>,
    /// Leave every node of this op type float (repeatable).
    #[arg(long = "exclude-op", value_name = "OP")]
    pub(super) exclude_ops: Vec<String>,
    /// Fail on an op the quantizer does not know instead of leaving it float.
    #[arg(long)]
    pub(super) strict: bool,
    /// Refuse (write nothing, exit non-zero) an int8 model more than this many accuracy points below
    /// fp32 on the held-out windows of --data.
    #[arg(long, value_name = "POINTS", requires = "data")]
    pub(super) max_accuracy_drop: Option<f64>,
    /// With --max-accuracy-drop: also refuse an int8 model more than this many points of recall
    /// below fp32 on any one state.
    #[arg(long, value_name = "POINTS", default_value_t = 2.0)]
    pub(super) max_recall_drop: f64,
    /// Folder with test.npy and test_labels.npy for --max-accuracy-drop.
    #[arg(long)]
    pub(super) data: Option<PathBuf>,
    /// Print the quantization report as JSON on stdout.
    #[arg(long)]
    pub(super) json: bool,
}

impl QuantizeArgs {
    pub(super) fn config(&self) -> QuantizeConfig {
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

pub(super) fn method_config(m: Method, percentile: f64) -> CalibrationMethod {
    match m {
        Method::Minmax => CalibrationMethod::MinMax,
        Method::Percentile => match CalibrationMethod::percentile() {
            CalibrationMethod::Percentile { bins, .. } => CalibrationMethod::Percentile { percentile, bins },
            other => other,
        },
        Method::Entropy => CalibrationMethod::entropy(),
    }
}

#[derive(Args)]
pub(super) struct EvaluateArgs {
    /// The float model.
    #[arg(long)]
    pub(super) fp32: PathBuf,
    /// The quantized model.
    #[arg(long)]
    pub(super) int8: PathBuf,
    /// Folder with test.npy and test_labels.npy (default: `data/` beside the float model).
    #[arg(long)]
    pub(super) data: Option<PathBuf>,
    /// Where to write evaluation.json, evaluation.md and the plots (default: beside the int8 model).
    #[arg(long)]
    pub(super) out: Option<PathBuf>,
    /// Folder with the real recordings for the replay evaluation (skipped when it lacks them).
    #[arg(long, default_value = DEFAULT_RECORDINGS)]
    pub(super) recordings: PathBuf,
    /// Fail (non-zero exit) when int8 accuracy is more than this many points below fp32.
    #[arg(long, value_name = "POINTS")]
    pub(super) max_accuracy_drop: Option<f64>,
}

#[derive(Args)]
pub(super) struct RunArgs {
    /// Output folder for the model and reports.
    #[arg(long, default_value = "out/run")]
    pub(super) out: PathBuf,
    /// Simulated sessions (one subject each).
    #[arg(long, default_value_t = SimDatasetConfig::default().sessions)]
    pub(super) sessions: usize,
    /// Length of each simulated session, s.
    #[arg(long, default_value_t = SimDatasetConfig::default().session_s)]
    pub(super) session_seconds: f64,
    /// Hours-long simulated sessions besides the short ones (drift under long stays, sleep).
    #[arg(long, default_value_t = SimDatasetConfig::default().long_sessions)]
    pub(super) long_sessions: usize,
    /// Length of each long session, s.
    #[arg(long, default_value_t = SimDatasetConfig::default().long_session_s)]
    pub(super) long_session_seconds: f64,
    /// Most training epochs.
    #[arg(long, default_value_t = TrainConfig::default().epochs)]
    pub(super) epochs: usize,
    /// Learning rate of the first epoch (cosine decay to --final-learning-rate).
    #[arg(long, default_value_t = TrainConfig::default().learning_rate)]
    pub(super) learning_rate: f64,
    /// Learning rate of the last epoch.
    #[arg(long, default_value_t = TrainConfig::default().final_learning_rate)]
    pub(super) final_learning_rate: f64,
    /// Seed of the dataset and training.
    #[arg(long, default_value_t = 1)]
    pub(super) seed: u64,
    /// Simulator configuration (JSON; e.g. another bladder layout). Defaults are built in.
    #[arg(long)]
    pub(super) sim_config: Option<PathBuf>,
    /// Folder with the real recordings for the replay evaluation (skipped when it lacks them).
    #[arg(long, default_value = DEFAULT_RECORDINGS)]
    pub(super) recordings: PathBuf,
    /// Labelled recordings to train on as well: CSV files, or folders holding one mat's files (labels
    /// from a Label column or the file name). Repeat for more.
    #[arg(long = "train-recordings", value_name = "PATH")]
    pub(super) train_recordings: Vec<PathBuf>,
    /// Print no progress.
    #[arg(long)]
    pub(super) quiet: bool,
    /// Calibration method of the int8 model.
    #[arg(long, value_enum, default_value = "minmax")]
    pub(super) method: Method,
    /// Skip quantization: write the float model only.
    #[arg(long)]
    pub(super) no_quantize: bool,
    /// Refuse the int8 model (fail the run) if it loses more accuracy points than this.
    #[arg(long, value_name = "POINTS", default_value_t = 2.0)]
    pub(super) max_accuracy_drop: f64,
    /// Refuse the int8 model (fail the run) if it loses more recall points than this on any state.
    #[arg(long, value_name = "POINTS", default_value_t = 2.0)]
    pub(super) max_recall_drop: f64,
    /// MLflow tracking server (http(s)://…; default: env MLFLOW_TRACKING_URI). The MLflow run is created
    /// before training and set FINISHED or FAILED at the end. Without one, only the output folder is written.
    #[arg(long, value_name = "URL")]
    pub(super) tracking_uri: Option<String>,
    /// MLflow experiment of the run.
    #[arg(long, value_name = "NAME", default_value = pipeline::tracking::DEFAULT_EXPERIMENT)]
    pub(super) experiment: String,
}

#[derive(Args)]
pub(super) struct MonitorArgs {
    /// replay:FILE[,FILE…] | sim[:SEED] | ble[:NAME]
    #[arg(long)]
    pub(super) source: String,
    /// The presence model (ONNX).
    #[arg(long)]
    pub(super) model: PathBuf,
    /// Take the first SECONDS as the empty-mat baseline.
    #[arg(long, value_name = "SECONDS")]
    pub(super) calibrate: Option<f64>,
    /// max or realtime (default: max for replay, realtime otherwise).
    #[arg(long)]
    pub(super) speed: Option<Pace>,
    /// One JSON object per frame on stdout.
    #[arg(long)]
    pub(super) json: bool,
    /// Stop after this much session time, s.
    #[arg(long)]
    pub(super) seconds: Option<f64>,
    /// Report when nobody has been on the mat this long, s.
    #[arg(long, default_value_t = 600.0)]
    pub(super) absence_timeout: f64,
    /// This mat's baseline file: used when it exists (unless --calibrate), written after a calibration.
    #[arg(long, value_name = "FILE")]
    pub(super) baseline: Option<PathBuf>,
    /// The user's personal calibration on this mat (JSON {"reference_load_pa": …}, as the app saves
    /// it), for models that read it.
    #[arg(long, value_name = "FILE")]
    pub(super) personal: Option<PathBuf>,
}

#[derive(Args)]
pub(super) struct ScenariosArgs {
    /// The presence model (ONNX).
    #[arg(long)]
    pub(super) model: PathBuf,
    /// Folder with the real recordings (empty_or_cat_on_mat.csv, human_on_mat.csv).
    #[arg(long, default_value = DEFAULT_RECORDINGS)]
    pub(super) recordings: PathBuf,
    /// Absence timeout of the monitor, s.
    #[arg(long, default_value_t = 300.0)]
    pub(super) absence_timeout: f64,
    /// Also write the table (Markdown) to this file.
    #[arg(long, value_name = "FILE")]
    pub(super) out: Option<PathBuf>,
    /// One JSON object per scenario on stdout instead of the table.
    #[arg(long)]
    pub(super) json: bool,
    /// Exit with status 1 unless every scenario holds.
    #[arg(long)]
    pub(super) check: bool,
}

#[derive(Args)]
pub(super) struct RecordArgs {
    /// ble[:NAME] (sim[:SEED] and replay:FILE also work, for tests and demos)
    #[arg(long)]
    pub(super) source: String,
    /// How long to record, s.
    #[arg(long)]
    pub(super) seconds: f64,
    /// What is on the mat: absent, sitting, lying_full, lying_partial or present.
    #[arg(long)]
    pub(super) label: Option<Label>,
    /// The CSV file to write.
    #[arg(long)]
    pub(super) out: PathBuf,
}

#[derive(Args)]
pub(super) struct KeygenArgs {
    /// Where to write the private key (PKCS#8 PEM, mode 0600); the public key goes to FILE.pub.
    #[arg(long, value_name = "KEYFILE")]
    pub(super) out: PathBuf,
}

#[derive(Args)]
pub(super) struct PublishArgs {
    /// The ONNX model to publish.
    #[arg(long)]
    pub(super) model: PathBuf,
    /// The signing key (from `pipeline keygen`).
    #[arg(long, value_name = "KEYFILE")]
    pub(super) key: PathBuf,
    /// Public key of a retired signing key whose signatures in the store are still trusted (repeatable):
    /// `KEYFILE.pub` as keygen wrote it. Entries signed by keys in neither list are refused.
    #[arg(long, value_name = "PUBFILE")]
    pub(super) retired_key: Vec<PathBuf>,
    #[command(flatten)]
    pub(super) key_set: KeySetArgs,
    /// Root folder of the store (bucket layout).
    #[arg(long, value_name = "DIR")]
    pub(super) store: PathBuf,
    /// Publication counter: must be higher than the store's current latest.json.
    #[arg(long, value_name = "N")]
    pub(super) sequence: u64,
    /// Semantic version (default 0.N.0).
    #[arg(long, value_name = "V")]
    pub(super) version: Option<semver::Version>,
    /// Days until the manifest expires and phones refuse it (at most 400, the longest validity phones accept).
    #[arg(long, value_name = "DAYS", default_value_t = pipeline::publish::DEFAULT_EXPIRES_IN_DAYS)]
    pub(super) expires_in: u32,
    /// The training run the model comes from.
    #[arg(long, default_value = "local")]
    pub(super) run_id: String,
}

/// A root-signed key set to publish with a release (issue 12 item 12; docs/operations.md, "Key rotation").
#[derive(clap::Args, Debug)]
pub(super) struct KeySetArgs {
    /// The root-signed key set (`pipeline keys sign`) to publish as keys.json with this release, for phones
    /// that pin the root: checked first as they will check it (the signing key listed, not revoked).
    #[arg(long, value_name = "FILE", requires = "root_key")]
    pub(super) key_set: Option<PathBuf>,
    /// The root public key phones pin (ROOT.pub), to check --key-set against.
    #[arg(long, value_name = "PUBFILE", requires = "key_set")]
    pub(super) root_key: Option<PathBuf>,
    /// The version of that root (1 unless it was rotated).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub(super) root_version: u64,
}

#[derive(Args)]
pub(super) struct FetchModelArgs {
    /// The store holding latest.json: http(s)://… or file:///….
    #[arg(long, value_name = "URL")]
    pub(super) base_url: String,
    /// The model cache folder (as the app's).
    #[arg(long, value_name = "DIR")]
    pub(super) cache_dir: PathBuf,
    /// A pinned public key (PEM, or 32 bytes in base64/hex); repeat to pin several.
    #[arg(long = "public-key", value_name = "FILE", required = true)]
    pub(super) public_keys: Vec<PathBuf>,
    /// Print one JSON object: outcome, version, sequence, sha256, path (the model served), reason.
    #[arg(long)]
    pub(super) json: bool,
    /// Longest wait for the next bytes before the connection is dropped and resumed, s.
    #[arg(long, value_name = "SECONDS", default_value_t = 30.0)]
    pub(super) idle_timeout: f64,
    /// Most tries in a row without progress for one request.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub(super) attempts: u32,
    /// First backoff delay between tries, ms (doubles each try, with jitter).
    #[arg(long, value_name = "MS", default_value_t = 500)]
    pub(super) backoff_ms: u64,
}

#[derive(Args)]
pub(super) struct LogArgs {
    /// The `pipeline run --out` folder to log.
    #[arg(long, value_name = "DIR")]
    pub(super) run_dir: PathBuf,
    /// MLflow tracking server, http(s)://… (default: env MLFLOW_TRACKING_URI; credentials from env
    /// MLFLOW_TRACKING_TOKEN or MLFLOW_TRACKING_USERNAME/PASSWORD).
    #[arg(long, value_name = "URL")]
    pub(super) tracking_uri: Option<String>,
    /// Experiment (created if missing).
    #[arg(long, value_name = "NAME", default_value = pipeline::tracking::DEFAULT_EXPERIMENT)]
    pub(super) experiment: String,
    /// Run name (default: run-<UTC time>).
    #[arg(long, value_name = "NAME")]
    pub(super) run_name: Option<String>,
    /// Registered model the int8 model becomes a version of.
    #[arg(long, value_name = "NAME", default_value = pipeline::tracking::DEFAULT_REGISTERED_MODEL)]
    pub(super) registered_model: String,
    /// Print the summary as one JSON object on stdout.
    #[arg(long)]
    pub(super) json: bool,
}

#[derive(Args)]
pub(super) struct RollbackArgs {
    /// The history sequence whose model goes back into production (it is re-signed as a new sequence,
    /// since phones refuse lower ones).
    #[arg(long, value_name = "N")]
    pub(super) to: u64,
    /// The production store: s3://bucket[/prefix], file:///dir or a folder path.
    #[arg(long, value_name = "URL")]
    pub(super) store: String,
    /// The signing key (from `pipeline keygen`).
    #[arg(long, value_name = "KEYFILE")]
    pub(super) signing_key: PathBuf,
    /// Public key of a retired signing key whose signatures in the store are still trusted (repeatable):
    /// `KEYFILE.pub` as keygen wrote it. Entries signed by keys in neither list are refused.
    #[arg(long, value_name = "PUBFILE")]
    pub(super) retired_key: Vec<PathBuf>,
    #[command(flatten)]
    pub(super) key_set: KeySetArgs,
    /// S3 endpoint URL (default: AWS_ENDPOINT_URL). Credentials are read from AWS_ACCESS_KEY_ID and
    /// AWS_SECRET_ACCESS_KEY only, never from the command line.
    #[arg(long, value_name = "URL")]
    pub(super) s3_endpoint: Option<String>,
    /// Also write the summary (JSON) to this file, e.g. for Jenkins to check what phones get.
    #[arg(long, value_name = "FILE")]
    pub(super) summary: Option<PathBuf>,
    /// Days until the new manifest expires and phones refuse it (at most 400, the longest validity phones accept).
    #[arg(long, value_name = "DAYS", default_value_t = hapticmat_release::release::DEFAULT_EXPIRES_IN_DAYS)]
    pub(super) expires_in_days: u32,
    /// Print the summary as one JSON object on stdout.
    #[arg(long)]
    pub(super) json: bool,
}

#[derive(Args)]
pub(super) struct PromoteArgs {
    /// The MLflow tracking server (default: MLFLOW_TRACKING_URI).
    #[arg(long, value_name = "URL")]
    pub(super) tracking_uri: Option<String>,
    /// The experiment whose runs are candidates.
    #[arg(long, default_value = pipeline::tracking::DEFAULT_EXPERIMENT)]
    pub(super) experiment: String,
    /// The production store: s3://bucket[/prefix], file:///dir or a folder path.
    #[arg(long, value_name = "URL")]
    pub(super) store: String,
    /// S3 endpoint URL (default: AWS_ENDPOINT_URL). Credentials are read from AWS_ACCESS_KEY_ID and
    /// AWS_SECRET_ACCESS_KEY only, never from the command line.
    #[arg(long, value_name = "URL")]
    pub(super) s3_endpoint: Option<String>,
    /// The signing key (from `pipeline keygen`).
    #[arg(long, value_name = "KEYFILE")]
    pub(super) signing_key: PathBuf,
    /// Public key of a retired signing key whose signatures in the store are still trusted (repeatable):
    /// `KEYFILE.pub` as keygen wrote it. Entries signed by keys in neither list are refused.
    #[arg(long, value_name = "PUBFILE")]
    pub(super) retired_key: Vec<PathBuf>,
    #[command(flatten)]
    pub(super) key_set: KeySetArgs,
    /// Lowest int8 accuracy on held-out simulated subjects (0..1) a run needs.
    #[arg(long, value_name = "FRACTION", default_value_t = 0.80)]
    pub(super) min_accuracy: f64,
    /// Most accuracy points the int8 model may lose against fp32.
    #[arg(long, value_name = "POINTS", default_value_t = 2.0)]
    pub(super) max_accuracy_drop: f64,
    /// The registered model whose version gets the `production` alias.
    #[arg(long, value_name = "NAME", default_value = pipeline::tracking::DEFAULT_REGISTERED_MODEL)]
    pub(super) registered_model: String,
    /// Semantic version of the release (default 0.<sequence>.0).
    #[arg(long, value_name = "V")]
    pub(super) version: Option<semver::Version>,
    /// Days until the manifest expires and phones refuse it (at most 400, the longest validity phones accept).
    #[arg(long, value_name = "DAYS", default_value_t = hapticmat_release::release::DEFAULT_EXPIRES_IN_DAYS)]
    pub(super) expires_in_days: u32,
    /// Also write the summary (JSON) to this file, e.g. for Jenkins to archive.
    #[arg(long, value_name = "FILE")]
    pub(super) summary: Option<PathBuf>,
    /// Print the summary as one JSON object on stdout.
    #[arg(long)]
    pub(super) json: bool,
}
