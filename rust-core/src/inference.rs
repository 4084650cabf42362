//! The presence model through ONNX Runtime (`ort`, loaded dynamically). One process-wide runtime,
//! one session per model; each call reports its latency.

use crate::features::{CHANNELS, FEATURE_VERSION, INPUT_NAME, WINDOW_FRAMES, WINDOW_LEN};
use crate::personal::{UNCALIBRATED, USER_LOAD_LEN, USER_LOAD_NAME};
use crate::state::{NUM_STATES, STATE_NAMES};
use ort::session::Session;
use ort::value::TensorRef;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Metadata keys every presence model carries (written by the pipeline's exporter).
pub mod meta {
    /// Feature definition version the model was trained on.
    pub const FEATURE_VERSION: &str = "hapticmat.feature_version";
    /// Frames per window.
    pub const WINDOW: &str = "hapticmat.window_frames";
    /// Channels per frame.
    pub const CHANNELS: &str = "hapticmat.channels";
    /// Comma-separated label names in output order.
    pub const LABELS: &str = "hapticmat.labels";
}

/// Why a model could not be loaded or run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InferenceError {
    /// The ONNX Runtime shared library could not be loaded.
    #[error("cannot load ONNX Runtime from {path}: {message} (run scripts/setup.sh, or set ORT_DYLIB_PATH)")]
    Runtime { path: PathBuf, message: String },
    /// The model file cannot be read.
    #[error("cannot read model {path}: {message}")]
    ModelFile { path: PathBuf, message: String },
    /// ONNX Runtime refused the bytes: not an ONNX model, or a broken one.
    #[error("{path} is not a loadable ONNX model: {message}")]
    InvalidModel { path: PathBuf, message: String },
    /// The model does not fit the feature/label contract of this core.
    #[error("{path} does not fit this core: {what} is {found}, expected {expected}")]
    Contract { path: PathBuf, what: &'static str, found: String, expected: String },
    /// A run failed inside ONNX Runtime.
    #[error("inference failed: {0}")]
    Run(String),
    /// The model produced something that is not a probability vector.
    #[error("model output is not a probability vector: {0}")]
    BadOutput(String),
}

/// How far a model's probabilities may sum from 1. An int8 model's Softmax output is quantized in
/// steps of 1/255 (as ONNX Runtime does), so four rounded probabilities can miss 1 by up to ~0.008.
pub const PROBABILITY_SUM_TOLERANCE: f32 = 0.02;

static RUNTIME_PATH: Mutex<Option<PathBuf>> = Mutex::new(None);
static ENVIRONMENT: OnceLock<Result<ort::environment::Environment, InferenceError>> = OnceLock::new();

/// Sets where `libonnxruntime` is, before the first model loads (Android passes the name of the
/// library packaged in the APK). Without it, `ORT_DYLIB_PATH` or the platform's default name is used.
pub fn set_runtime_library(path: impl Into<PathBuf>) {
    if let Ok(mut p) = RUNTIME_PATH.lock() {
        *p = Some(path.into());
    }
}

/// The path the runtime is (or will be) loaded from: [`set_runtime_library`], else `ORT_DYLIB_PATH`,
/// else the library this crate was built against, else the platform's default name.
pub fn runtime_library() -> PathBuf {
    if let Some(p) = RUNTIME_PATH.lock().ok().and_then(|p| p.clone()) {
        return p;
    }
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    // The library scripts/setup.sh installed when this was built (.cargo/config.toml sets it), so a
    // binary built here runs without environment variables. A host path means nothing on a phone: the
    // Android library never carries it.
    #[cfg(not(target_os = "android"))]
    if let Some(p) = option_env!("ORT_DYLIB_PATH").map(PathBuf::from).filter(|p| p.is_file()) {
        return p;
    }
    PathBuf::from(format!("{}onnxruntime{}", std::env::consts::DLL_PREFIX, std::env::consts::DLL_SUFFIX))
}

/// The process-wide ONNX Runtime environment, loaded on first use (loads a shared library).
pub fn environment() -> Result<&'static ort::environment::Environment, InferenceError> {
    ENVIRONMENT
        .get_or_init(|| {
            let path = runtime_library();
            let err = |message: String| InferenceError::Runtime { path: path.clone(), message };
            ort::init_from(&path)
                .map_err(|e| err(e.to_string()))?
                .with_name("hapticmat")
                .build()
                .map_err(|e| err(e.to_string()))
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// What a model says it is: its feature contract and labels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// Where it was loaded from (or a name for in-memory models).
    pub path: PathBuf,
    /// Feature definition version.
    pub feature_version: u32,
    /// Frames per window.
    pub window_frames: usize,
    /// Channels per frame.
    pub channels: usize,
    /// Label names in output order.
    pub labels: Vec<String>,
    /// The model's input tensors in graph order: [`INPUT_NAME`], and [`USER_LOAD_NAME`] for a
    /// model that reads the personal calibration.
    #[serde(default = "window_only")]
    pub inputs: Vec<String>,
    /// Whether the graph holds quantized (QDQ) nodes.
    pub quantized: bool,
}

/// The inputs of a model that reads the window alone (what older models and manifests mean).
pub(crate) fn window_only() -> Vec<String> {
    vec![INPUT_NAME.to_string()]
}

/// The model inputs this core can give, in the order a model lists them.
pub const SUPPORTED_INPUTS: [&str; 2] = [INPUT_NAME, USER_LOAD_NAME];

impl ModelInfo {
    /// Whether the model reads the personal calibration ([`USER_LOAD_NAME`]).
    pub fn takes_user_load(&self) -> bool {
        self.inputs.iter().any(|i| i == USER_LOAD_NAME)
    }
}

/// Class probabilities for one window, and how long the call took.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prediction {
    /// Probability of each state, in [`crate::PresenceState`] order.
    pub probabilities: [f32; NUM_STATES],
    /// Wall time of the ONNX Runtime call.
    pub latency: Duration,
}

/// On Android, ONNX Runtime's XNNPACK execution provider takes the int8 Conv and Softmax groups (docs/design.md §8).
/// It is registered with `error_on_failure` so that ort does not fall back without saying so: if the loaded
/// runtime lacks it, the session runs on the CPU provider and the log says why.
#[cfg(target_os = "android")]
fn with_platform_providers(builder: ort::session::builder::SessionBuilder) -> ort::session::builder::SessionBuilder {
    // One XNNPACK thread, like the session's: a tiny model per frame (XNNPACK's own advice).
    let xnnpack =
        ort::ep::XNNPACK::default().with_intra_op_num_threads(std::num::NonZeroUsize::MIN).build().error_on_failure();
    match builder.with_execution_providers([xnnpack]) {
        Ok(builder) => builder,
        Err(e) => {
            log::warn!("XNNPACK execution provider unavailable, running on the CPU provider: {e}");
            e.recover()
        }
    }
}

/// Elsewhere the CPU provider serves (the PyPI wheel used on hosts has no XNNPACK).
#[cfg(not(target_os = "android"))]
fn with_platform_providers(builder: ort::session::builder::SessionBuilder) -> ort::session::builder::SessionBuilder {
    builder
}

/// A loaded presence model. Not shared between threads while running (`&mut self`).
pub struct PresenceModel {
    session: Session,
    info: ModelInfo,
}

impl PresenceModel {
    /// Loads and checks a model file (file I/O; loads ONNX Runtime on first use).
    pub fn load(path: impl AsRef<Path>) -> Result<Self, InferenceError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path)
            .map_err(|e| InferenceError::ModelFile { path: path.to_path_buf(), message: e.to_string() })?;
        Self::from_bytes(&bytes, path)
    }

    /// Loads and checks a model from memory; `name` only names it in errors.
    pub fn from_bytes(bytes: &[u8], name: impl AsRef<Path>) -> Result<Self, InferenceError> {
        let path = name.as_ref().to_path_buf();
        let env = environment()?;
        let invalid = |message: String| InferenceError::InvalidModel { path: path.clone(), message };
        // One intra-op thread and no spinning: a tiny model per frame on a phone, where waking
        // threads costs more than the work (ONNX Runtime's mobile guidance). Precise int8 matrix
        // products: on x86-64 without VNNI (AVX2-only hosts, x86_64 emulators) ONNX Runtime's U8S8
        // kernels saturate 16-bit sums and the int8 model answers differently than on a phone or a
        // VNNI host (an AVX2 EPYC: 0.53 top-1 agreement on a Gemm that agrees ≥ 0.9 elsewhere).
        // U8U8 there, no effect on ARM or VNNI.
        let builder = (|| -> Result<ort::session::builder::SessionBuilder, String> {
            let s = |e: ort::Error<ort::session::builder::SessionBuilder>| e.to_string();
            Session::builder(env)
                .map_err(|e| e.to_string())?
                .with_intra_threads(1)
                .map_err(s)?
                .with_inter_threads(1)
                .map_err(s)?
                .with_intra_op_spinning(false)
                .map_err(s)?
                .with_precise_qmm()
                .map_err(s)
        })()
        .map_err(|message| InferenceError::Runtime { path: runtime_library(), message })?;
        let mut builder = with_platform_providers(builder);
        let session = builder.commit_from_memory(bytes).map_err(|e| invalid(e.to_string()))?;
        let info = Self::check_contract(&session, &path, bytes)?;
        Ok(PresenceModel { session, info })
    }

    fn check_contract(session: &Session, path: &Path, bytes: &[u8]) -> Result<ModelInfo, InferenceError> {
        let contract = |what: &'static str, found: String, expected: String| InferenceError::Contract {
            path: path.to_path_buf(),
            what,
            found,
            expected,
        };
        let md = session
            .metadata()
            .map_err(|e| InferenceError::InvalidModel { path: path.into(), message: e.to_string() })?;
        let get = |key: &'static str| {
            md.custom(key).ok_or_else(|| contract(key, "missing".into(), "present in the model metadata".into()))
        };
        let number = |key: &'static str| -> Result<usize, InferenceError> {
            let v = get(key)?;
            v.trim().parse().map_err(|_| contract(key, v.clone(), "a whole number".into()))
        };
        let feature_version = number(meta::FEATURE_VERSION)? as u32;
        if feature_version != FEATURE_VERSION {
            return Err(contract("feature version", feature_version.to_string(), FEATURE_VERSION.to_string()));
        }
        let window_frames = number(meta::WINDOW)?;
        if window_frames != WINDOW_FRAMES {
            return Err(contract("window length", window_frames.to_string(), WINDOW_FRAMES.to_string()));
        }
        let channels = number(meta::CHANNELS)?;
        if channels != CHANNELS {
            return Err(contract("channel count", channels.to_string(), CHANNELS.to_string()));
        }
        let labels: Vec<String> = get(meta::LABELS)?.split(',').map(|s| s.trim().to_string()).collect();
        if labels != STATE_NAMES {
            return Err(contract("labels", labels.join(","), STATE_NAMES.join(",")));
        }
        let (inputs, outputs) = (session.inputs(), session.outputs());
        if outputs.is_empty() {
            return Err(contract("outputs", "0".into(), "≥1 output".into()));
        }
        let mut names = Vec::with_capacity(inputs.len());
        for input in inputs.iter() {
            let name = input.name().to_string();
            let want: Vec<i64> = match name.as_str() {
                INPUT_NAME => vec![CHANNELS as i64, WINDOW_FRAMES as i64],
                USER_LOAD_NAME => vec![USER_LOAD_LEN as i64],
                _ => {
                    return Err(contract(
                        "model input",
                        format!("'{name}'"),
                        format!("one this core can give: {}", SUPPORTED_INPUTS.join(", ")),
                    ));
                }
            };
            if let Some(shape) = input.dtype().tensor_shape() {
                let dims: Vec<i64> = shape.iter().copied().collect();
                if dims.len() != want.len() + 1 || dims[1..] != want[..] {
                    let expected: Vec<String> = want.iter().map(|d| d.to_string()).collect();
                    return Err(contract(
                        "input shape",
                        format!("{name} {dims:?}"),
                        format!("{name} [batch, {}]", expected.join(", ")),
                    ));
                }
            }
            names.push(name);
        }
        if !names.iter().any(|n| n == INPUT_NAME) {
            return Err(contract("model inputs", names.join(","), format!("at least '{INPUT_NAME}'")));
        }
        // A QDQ model names QuantizeLinear in its graph; scanning the bytes avoids a protobuf parser here.
        let quantized = bytes.windows(14).any(|w| w == b"QuantizeLinear");
        Ok(ModelInfo {
            path: path.to_path_buf(),
            feature_version,
            window_frames,
            channels,
            labels,
            inputs: names,
            quantized,
        })
    }

    /// The model's contract and labels.
    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// Scores one window without personal calibration (CPU work, ~µs; call from the monitor's thread).
    pub fn predict(&mut self, window: &[f32; WINDOW_LEN]) -> Result<Prediction, InferenceError> {
        self.predict_with(window, &UNCALIBRATED)
    }

    /// Scores one window with its [`USER_LOAD_NAME`] input (see [`crate::personal`]); a model that
    /// does not read it ignores it.
    pub fn predict_with(
        &mut self,
        window: &[f32; WINDOW_LEN],
        user_load: &[f32; USER_LOAD_LEN],
    ) -> Result<Prediction, InferenceError> {
        let start = Instant::now();
        let mut out = [[0f32; NUM_STATES]; 1];
        self.run(window, Some(user_load), 1, &mut out)?;
        Ok(Prediction { probabilities: out[0], latency: start.elapsed() })
    }

    /// Scores `out.len()` windows laid end to end in `windows`, without personal calibration
    /// (training-side evaluation).
    pub fn predict_batch(&mut self, windows: &[f32]) -> Result<Vec<[f32; NUM_STATES]>, InferenceError> {
        self.predict_batch_with(windows, None)
    }

    /// [`predict_batch`](Self::predict_batch) with each window's [`USER_LOAD_NAME`] input laid end
    /// to end in `user_loads` (`None`: uncalibrated).
    pub fn predict_batch_with(
        &mut self,
        windows: &[f32],
        user_loads: Option<&[f32]>,
    ) -> Result<Vec<[f32; NUM_STATES]>, InferenceError> {
        if !windows.len().is_multiple_of(WINDOW_LEN) {
            return Err(InferenceError::Run(format!(
                "{} values is not a whole number of {WINDOW_LEN}-value windows",
                windows.len()
            )));
        }
        let n = windows.len() / WINDOW_LEN;
        if let Some(u) = user_loads
            && u.len() != n * USER_LOAD_LEN
        {
            return Err(InferenceError::Run(format!(
                "{} {USER_LOAD_NAME} values for {n} windows; expected {}",
                u.len(),
                n * USER_LOAD_LEN
            )));
        }
        let mut out = vec![[0f32; NUM_STATES]; n];
        if n > 0 {
            self.run(windows, user_loads, n, &mut out)?;
        }
        Ok(out)
    }

    fn run(
        &mut self,
        windows: &[f32],
        user_loads: Option<&[f32]>,
        n: usize,
        out: &mut [[f32; NUM_STATES]],
    ) -> Result<(), InferenceError> {
        let err = |e: ort::Error| InferenceError::Run(e.to_string());
        let window = TensorRef::from_array_view(([n, CHANNELS, WINDOW_FRAMES], windows)).map_err(err)?;
        let outputs = if self.info.takes_user_load() {
            let zeros;
            let loads = match user_loads {
                Some(u) => u,
                None => {
                    zeros = vec![0f32; n * USER_LOAD_LEN];
                    &zeros[..]
                }
            };
            let load = TensorRef::from_array_view(([n, USER_LOAD_LEN], loads)).map_err(err)?;
            self.session.run(ort::inputs![INPUT_NAME => window, USER_LOAD_NAME => load]).map_err(err)?
        } else {
            self.session.run(ort::inputs![window]).map_err(err)?
        };
        let (shape, data) =
            outputs[0].try_extract_tensor::<f32>().map_err(|e| InferenceError::BadOutput(e.to_string()))?;
        if data.len() != n * NUM_STATES {
            return Err(InferenceError::BadOutput(format!("shape {shape:?}, expected [{n}, {NUM_STATES}]")));
        }
        for (o, p) in out.iter_mut().zip(data.chunks_exact(NUM_STATES)) {
            let sum: f32 = p.iter().sum();
            if p.iter().any(|v| !v.is_finite() || *v < -1e-4) || (sum - 1.0).abs() > PROBABILITY_SUM_TOLERANCE {
                return Err(InferenceError::BadOutput(format!("{p:?} (sum {sum})")));
            }
            o.copy_from_slice(p);
        }
        Ok(())
    }
}
