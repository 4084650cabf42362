//! Post-training static quantization of an ONNX model to int8 in QDQ format, calibrated through ONNX
//! Runtime — the Rust counterpart of ONNX Runtime's Python `quantize_static`, following its QDQ
//! conventions so that ONNX Runtime (CPU and XNNPACK) fuses the result into integer kernels.
//!
//! The steps, each in its own module:
//! 1. `graph`: constants become initializers, nodes are put in topological order, element types are
//!    inferred; `opset` raises the default-domain opset to 13 (per-channel `DequantizeLinear`).
//! 2. `fold`: BatchNormalization is folded into the Conv before it.
//! 3. `plan`: which tensors get a QuantizeLinear/DequantizeLinear pair, which initializers become
//!    int8 weights or int32 biases, which nodes stay float (the float pre-processing at the input,
//!    excluded nodes, ops the quantizer does not know).
//! 4. `calibrate`: the float model, augmented with every tensor to quantize as a graph output, runs in
//!    one ONNX Runtime session over the calibration batches — streaming, so memory does not grow with
//!    the number of windows; `histogram` turns what it sees into ranges (min-max, percentile, entropy).
//! 5. `params` computes scales and zero points exactly as ONNX Runtime does; `qdq` rewrites the graph.
//!
//! The float pre-processing rule: starting from the graph inputs, element-wise `Mul`/`Add`/`Sub`/`Div`
//! whose other operands are constants or graph inputs, and shape-only ops (`Unsqueeze`, `Reshape`,
//! `Flatten`, `Squeeze`, `Transpose`, `Identity`) applied to their results, stay float; the first
//! QuantizeLinear sits on the tensor those nodes produce. ONNX Runtime's quantizer widens every range to
//! include zero, so a raw input far from zero (absolute pascal) would lose its signal to the step size.

mod calibrate;
mod fold;
mod graph;
mod histogram;
mod opset;
mod params;
mod plan;
mod qdq;
mod tensors;

use crate::proto::ModelProto;
use serde::Serialize;
use std::fmt;
use std::str::FromStr;
use std::time::Instant;

pub use calibrate::{CalibrationSource, InputBatch, MultiSliceSource, SliceSource, SourceError};
pub use fold::fold_batch_norms;
pub use opset::MIN_OPSET;

/// How activation ranges are chosen from what the calibration data shows.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "method")]
pub enum CalibrationMethod {
    /// The smallest and largest value seen (one pass over the data).
    MinMax,
    /// `±` the given percentile of |x| (ONNX Runtime's default symmetric form), clipped to what was seen.
    Percentile {
        /// Percentile of |x| kept, e.g. 99.999.
        percentile: f64,
        /// Histogram bins over `[0, max |x|]`.
        bins: usize,
    },
    /// The threshold minimising the KL divergence between the float and the quantized histogram
    /// (TensorRT's method, as ONNX Runtime implements it).
    Entropy {
        /// Histogram bins over `[-max |x|, max |x|]`.
        bins: usize,
        /// Levels the quantized distribution is modelled with.
        quantized_bins: usize,
    },
}

impl CalibrationMethod {
    /// Percentile calibration with ONNX Runtime's defaults (99.999, 2048 bins).
    pub const fn percentile() -> Self {
        CalibrationMethod::Percentile { percentile: 99.999, bins: 2048 }
    }

    /// Entropy calibration with 512 bins and 128 quantized bins. ONNX Runtime defaults to 128 bins,
    /// which leaves a single candidate threshold (the full range); 512 gives the search room to work
    /// while its cost (quadratic in bins) stays in milliseconds.
    pub const fn entropy() -> Self {
        CalibrationMethod::Entropy { bins: 512, quantized_bins: 128 }
    }

    /// Whether the method needs a second pass (histograms over the ranges of the first).
    pub fn needs_histograms(&self) -> bool {
        !matches!(self, CalibrationMethod::MinMax)
    }
}

impl fmt::Display for CalibrationMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CalibrationMethod::MinMax => write!(f, "minmax"),
            CalibrationMethod::Percentile { .. } => write!(f, "percentile"),
            CalibrationMethod::Entropy { .. } => write!(f, "entropy"),
        }
    }
}

impl FromStr for CalibrationMethod {
    type Err = QuantizeError;

    /// `minmax` (or `min-max`), `percentile`, `entropy`, with their default settings.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "minmax" | "min-max" | "min_max" => Ok(CalibrationMethod::MinMax),
            "percentile" => Ok(CalibrationMethod::percentile()),
            "entropy" => Ok(CalibrationMethod::entropy()),
            _ => Err(QuantizeError::Config(format!(
                "unknown calibration method '{s}', expected minmax, percentile or entropy"
            ))),
        }
    }
}

/// Integer type of the quantized activations (weights are always int8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActivationType {
    /// Signed 8-bit: what XNNPACK takes together with int8 weights.
    Int8,
    /// Unsigned 8-bit (ONNX Runtime's historical default; XNNPACK does not mix it with int8 weights).
    Uint8,
}

impl fmt::Display for ActivationType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ActivationType::Int8 => "int8",
            ActivationType::Uint8 => "uint8",
        })
    }
}

impl FromStr for ActivationType {
    type Err = QuantizeError;

    /// `int8` (or `s8`, `qint8`) and `uint8` (or `u8`, `quint8`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "int8" | "s8" | "qint8" => Ok(ActivationType::Int8),
            "uint8" | "u8" | "quint8" => Ok(ActivationType::Uint8),
            _ => Err(QuantizeError::Config(format!("unknown activation type '{s}', expected int8 or uint8"))),
        }
    }
}

/// Settings of [`quantize`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuantizeConfig {
    /// How activation ranges are calibrated.
    pub method: CalibrationMethod,
    /// Integer type of activations.
    pub activation_type: ActivationType,
    /// Symmetric activation ranges (zero point 0 for int8, 128 for uint8) instead of asymmetric.
    pub symmetric_activations: bool,
    /// One weight scale per output channel (the default) instead of one per tensor.
    pub per_channel: bool,
    /// Keep the float pre-processing at the graph inputs float (see the module documentation).
    pub float_prefix: bool,
    /// Node names left float.
    pub exclude_nodes: Vec<String>,
    /// Op types left float.
    pub exclude_op_types: Vec<String>,
    /// Fail on a node the quantizer does not know instead of leaving it float and reporting it.
    pub strict: bool,
    /// ONNX Runtime intra-op threads for calibration (`None`: its default, one per core).
    pub threads: Option<usize>,
}

impl Default for QuantizeConfig {
    fn default() -> Self {
        QuantizeConfig {
            method: CalibrationMethod::MinMax,
            activation_type: ActivationType::Int8,
            symmetric_activations: false,
            per_channel: true,
            float_prefix: true,
            exclude_nodes: Vec::new(),
            exclude_op_types: Vec::new(),
            strict: false,
            threads: None,
        }
    }
}

impl QuantizeConfig {
    fn validate(&self) -> Result<(), QuantizeError> {
        match self.method {
            CalibrationMethod::Percentile { percentile, bins } => {
                if !(percentile > 0.0 && percentile <= 100.0) {
                    return Err(QuantizeError::Config(format!("percentile {percentile} is not in (0, 100]")));
                }
                if bins < 2 {
                    return Err(QuantizeError::Config(format!("{bins} histogram bins: need at least 2")));
                }
            }
            CalibrationMethod::Entropy { bins, quantized_bins } => {
                if quantized_bins < 2 || bins < quantized_bins {
                    return Err(QuantizeError::Config(format!(
                        "entropy needs 2 ≤ quantized bins ≤ bins, got {quantized_bins} and {bins}"
                    )));
                }
            }
            CalibrationMethod::MinMax => {}
        }
        if self.threads == Some(0) {
            return Err(QuantizeError::Config("0 threads".into()));
        }
        Ok(())
    }
}

/// Why a model could not be quantized.
#[derive(Debug, thiserror::Error)]
pub enum QuantizeError {
    /// The model has no graph.
    #[error("the model has no graph: not a usable ONNX model")]
    NoGraph,
    /// The graph is malformed (dangling inputs, cycles, duplicate producers).
    #[error("invalid model: {0}")]
    InvalidModel(String),
    /// The model's opset cannot be raised to what QDQ quantization needs.
    #[error("cannot raise the model from opset {from} to {to}: {reason}")]
    Opset {
        /// Default-domain opset of the model.
        from: i64,
        /// Opset needed.
        to: i64,
        /// What stands in the way.
        reason: String,
    },
    /// An initializer cannot be read.
    #[error("initializer '{name}': {reason}")]
    Initializer {
        /// Its name.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A graph input cannot be fed from calibration data.
    #[error("graph input '{name}' cannot be calibrated: {reason}")]
    UnsupportedInput {
        /// Input name.
        name: String,
        /// Why.
        reason: String,
    },
    /// The calibration source gave no window at all.
    #[error("the calibration set is empty: at least one batch of shape {expected} is needed")]
    EmptyCalibration {
        /// The input shapes the model expects.
        expected: String,
    },
    /// A calibration batch does not fit the model's inputs.
    #[error("calibration batch {batch}: {reason}")]
    BatchShape {
        /// 1-based batch number within the pass.
        batch: usize,
        /// What does not fit, naming what was expected.
        reason: String,
    },
    /// The source failed to produce a batch.
    #[error("calibration source failed: {0}")]
    Source(#[source] SourceError),
    /// The source gave different data on the second pass.
    #[error("calibration source is not restartable: pass 1 gave {first} windows, pass 2 gave {second}")]
    NotRestartable {
        /// Windows in the range pass.
        first: usize,
        /// Windows in the histogram pass.
        second: usize,
    },
    /// Calibration saw infinite values.
    #[error("tensor '{tensor}' reached {value} during calibration: cannot quantize an infinite range")]
    NonFinite {
        /// Tensor name.
        tensor: String,
        /// The infinite value.
        value: f32,
    },
    /// ONNX Runtime failed (loading the runtime, building the session, running a batch).
    #[error("ONNX Runtime: {0}")]
    Runtime(String),
    /// `strict` is set and some nodes cannot be quantized.
    #[error("{} node(s) cannot be quantized (strict mode): {}", .0.len(), describe(.0))]
    Unsupported(Vec<FloatNode>),
    /// A setting is out of range.
    #[error("invalid quantization settings: {0}")]
    Config(String),
}

fn describe(nodes: &[FloatNode]) -> String {
    nodes.iter().map(|n| format!("{} ({}: {})", n.name, n.op_type, n.reason)).collect::<Vec<_>>().join(", ")
}

/// Why a node was left float.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FloatReason {
    /// Part of the float pre-processing at the graph inputs.
    FloatPrefix,
    /// Excluded by name or op type in the settings.
    Excluded,
    /// An op (or a domain) the quantizer does not know how to quantize.
    UnsupportedOp,
    /// A pass-through op whose input is float, so it stays float too.
    InputNotQuantized,
    /// Its tensors are floating point but not float32 (float16, double).
    NotFloat32,
    /// A BatchNormalization with no Conv to fold into.
    BatchNormNotFolded,
}

impl fmt::Display for FloatReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FloatReason::FloatPrefix => "float pre-processing",
            FloatReason::Excluded => "excluded",
            FloatReason::UnsupportedOp => "op not supported by the quantizer",
            FloatReason::InputNotQuantized => "input is not quantized",
            FloatReason::NotFloat32 => "tensors are not float32",
            FloatReason::BatchNormNotFolded => "BatchNormalization without a Conv to fold into",
        })
    }
}

/// A node the quantized model runs in float.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FloatNode {
    /// Node name (or `<op_type>#index` when the node has none).
    pub name: String,
    /// Op type.
    pub op_type: String,
    /// Why it stays float.
    pub reason: FloatReason,
}

/// The calibrated range and quantization parameters of one activation tensor.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TensorQuantization {
    /// Tensor name in the float model.
    pub tensor: String,
    /// Smallest value seen during calibration.
    pub seen_min: f32,
    /// Largest value seen.
    pub seen_max: f32,
    /// Range chosen by the calibration method, before widening to include 0.
    pub range: (f32, f32),
    /// Scale.
    pub scale: f32,
    /// Zero point.
    pub zero_point: i32,
}

/// What [`quantize`] did, for reports and MLflow.
#[derive(Debug, Clone, Serialize)]
pub struct QuantizeReport {
    /// Settings used.
    pub config: QuantizeConfig,
    /// Default-domain opset of the input model and of the result.
    pub opset: (i64, i64),
    /// Calibration windows (first dimension of the batches) seen per pass.
    pub calibration_windows: usize,
    /// Calibration batches per pass.
    pub calibration_batches: usize,
    /// Passes over the calibration source.
    pub calibration_passes: usize,
    /// Nodes quantized, by op type.
    pub quantized_ops: std::collections::BTreeMap<String, usize>,
    /// Relu/Clip nodes removed because the QuantizeLinear after their producer clamps the same way.
    pub removed_activations: Vec<String>,
    /// BatchNormalization nodes folded into the Conv before them.
    pub folded_batch_norms: Vec<String>,
    /// Nodes left float, with the reason.
    pub float_nodes: Vec<FloatNode>,
    /// Activation tensors with their own quantization parameters.
    pub tensors: Vec<TensorQuantization>,
    /// Wall time of the calibration passes, s.
    pub calibration_seconds: f64,
    /// Wall time of the whole call, s.
    pub seconds: f64,
}

impl QuantizeReport {
    /// Nodes left float because the quantizer does not know them (what `strict` rejects).
    pub fn unsupported(&self) -> impl Iterator<Item = &FloatNode> {
        self.float_nodes.iter().filter(|n| n.reason == FloatReason::UnsupportedOp)
    }
}

/// The quantized model and what was done to it.
#[derive(Debug, Clone)]
pub struct Quantized {
    /// The QDQ model.
    pub model: ModelProto,
    /// Figures and decisions.
    pub report: QuantizeReport,
}

/// The pass over the calibration source a progress event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CalibrationPass {
    /// Smallest and largest value of every tensor.
    Ranges,
    /// Histograms over those ranges (percentile and entropy only).
    Histograms,
}

impl fmt::Display for CalibrationPass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CalibrationPass::Ranges => "calibration: ranges",
            CalibrationPass::Histograms => "calibration: histograms",
        })
    }
}

/// Progress of [`quantize`], for a progress bar drawn by the binary.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum QuantizeEvent<'a> {
    /// A step that is not a calibration pass starts.
    Stage(&'a str),
    /// A calibration pass starts; `windows` is the source's [`CalibrationSource::len_hint`].
    PassStarted {
        /// Which pass.
        pass: CalibrationPass,
        /// Windows expected, if known.
        windows: Option<usize>,
    },
    /// A batch went through ONNX Runtime.
    Batch {
        /// Which pass.
        pass: CalibrationPass,
        /// Windows done in this pass so far.
        windows_done: usize,
    },
    /// A calibration pass ended.
    PassFinished {
        /// Which pass.
        pass: CalibrationPass,
        /// Windows seen.
        windows: usize,
    },
}

/// Receives [`QuantizeEvent`]s; any `FnMut(QuantizeEvent)` closure is one.
pub trait Progress {
    /// Something happened.
    fn event(&mut self, event: QuantizeEvent<'_>);
}

impl<F: FnMut(QuantizeEvent<'_>)> Progress for F {
    fn event(&mut self, event: QuantizeEvent<'_>) {
        self(event)
    }
}

/// A [`Progress`] that ignores everything (tests, embedding).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn event(&mut self, _: QuantizeEvent<'_>) {}
}

/// Quantizes `model` to int8 QDQ, calibrating activations on `calibration` through ONNX Runtime (CPU
/// work and one session in `env`, the caller's ONNX Runtime environment). The source is read once for
/// min-max and twice for percentile and entropy; memory does not depend on its length.
pub fn quantize(
    env: &ort::environment::Environment,
    model: &ModelProto,
    calibration: &mut dyn CalibrationSource,
    cfg: &QuantizeConfig,
    progress: &mut dyn Progress,
) -> Result<Quantized, QuantizeError> {
    let started = Instant::now();
    cfg.validate()?;
    if model.graph.is_none() {
        return Err(QuantizeError::NoGraph);
    }
    let mut model = model.clone();

    progress.event(QuantizeEvent::Stage("preparing the graph"));
    let graph = model.graph.as_mut().ok_or(QuantizeError::NoGraph)?;
    graph::constants_to_initializers(graph);
    graph::topo_sort(graph)?;
    let opset = opset::raise(&mut model, MIN_OPSET)?;
    let graph = model.graph.as_mut().ok_or(QuantizeError::NoGraph)?;
    let folded_batch_norms = fold::fold_batch_norms(graph)?;
    let types = graph::elem_types(graph);
    let plan = plan::plan(graph, &types, cfg);
    let float_nodes = plan.float_nodes(graph);
    if cfg.strict {
        let unsupported: Vec<FloatNode> =
            float_nodes.iter().filter(|n| n.reason == FloatReason::UnsupportedOp).cloned().collect();
        if !unsupported.is_empty() {
            return Err(QuantizeError::Unsupported(unsupported));
        }
    }

    let calibration_started = Instant::now();
    let inputs = calibrate::model_inputs(graph)?;
    let wanted = plan.calibrated_tensors();
    let calibrated = calibrate::calibrate(env, &model, &inputs, &wanted, cfg, calibration, progress)?;
    let calibration_seconds = calibration_started.elapsed().as_secs_f64();

    progress.event(QuantizeEvent::Stage("writing QuantizeLinear/DequantizeLinear"));
    let graph = model.graph.as_mut().ok_or(QuantizeError::NoGraph)?;
    let params = params::compute(graph, &plan, &calibrated.ranges, cfg)?;
    let rewritten = qdq::rewrite(graph, &plan, &params)?;

    // Tensors still in the graph (a removed Relu's input is gone: its producer writes the output).
    let live: std::collections::HashSet<&str> = graph
        .node
        .iter()
        .flat_map(|n| n.output.iter())
        .chain(graph.input.iter().filter_map(|v| v.name.as_ref()))
        .map(String::as_str)
        .collect();
    let tensors = plan
        .activations
        .iter()
        .filter(|t| live.contains(t.as_str()))
        .filter_map(|t| {
            let p = params.activations.get(t)?;
            let (seen_min, seen_max) = p.seen.unwrap_or((p.rmin, p.rmax));
            Some(TensorQuantization {
                tensor: t.clone(),
                seen_min,
                seen_max,
                range: (p.rmin, p.rmax),
                scale: p.scale,
                zero_point: p.zero_point,
            })
        })
        .collect();
    let report = QuantizeReport {
        config: cfg.clone(),
        opset,
        calibration_windows: calibrated.windows,
        calibration_batches: calibrated.batches,
        calibration_passes: calibrated.passes,
        quantized_ops: rewritten.quantized_ops,
        removed_activations: rewritten.removed_activations,
        folded_batch_norms,
        float_nodes,
        tensors,
        calibration_seconds,
        seconds: started.elapsed().as_secs_f64(),
    };
    Ok(Quantized { model, report })
}
