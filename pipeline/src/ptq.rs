//! The quantization step as a job on files: read the float model and the calibration windows,
//! quantize, optionally check the int8 model against the float one on held-out windows, and only
//! then move the result into place — a refused or failed model never appears under its name.

use crate::compare::{Comparison, compare};
use crate::dataset::Windows;
use anyhow::Context;
use onnx_ptq::quantize::{MultiSliceSource, Progress, QuantizeConfig, QuantizeReport, quantize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Windows per ONNX Runtime call during calibration.
pub const CALIBRATION_BATCH: usize = 256;

/// The gate refused the int8 model (nothing was written); the message says by how much.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct GateRefused(pub String);

/// A check the int8 model must pass before it is written.
#[derive(Clone, Copy)]
pub struct Gate<'a> {
    /// Largest accuracy drop allowed, in points.
    pub max_accuracy_drop: f64,
    /// Largest recall drop allowed on any one state, in points (a model can keep its overall
    /// accuracy while losing a rare posture).
    pub max_recall_drop: f64,
    /// Held-out windows to score both models on.
    pub test: &'a Windows,
    /// Real recordings for the replay evaluation, if any.
    pub recordings: Option<&'a [(PathBuf, bool)]>,
    /// Measures a session's peak memory (a fresh process), if available.
    pub peak_memory: &'a dyn Fn(&Path) -> Option<u64>,
}

/// What a quantization job produced.
pub struct QuantizeOutcome {
    /// The quantizer's report.
    pub report: QuantizeReport,
    /// The gate's comparison, when a gate was given.
    pub comparison: Option<Comparison>,
}

/// Refuses unless `$cond` holds; a comparison with NaN does not hold, so a NaN drop is refused.
macro_rules! gate_ensure {
    ($cond:expr, $($fmt:tt)+) => {
        let holds: bool = $cond;
        if !holds {
            return Err(GateRefused(format!($($fmt)+)).into());
        }
    };
}

/// Calibration windows of one model input: `[n, ...input dims]` values laid end to end.
#[derive(Debug, Clone, PartialEq)]
pub struct CalibrationTensor {
    /// The graph input it feeds (`None`: the model's only input).
    pub name: Option<String>,
    /// `[n, ...input dims]`.
    pub shape: Vec<usize>,
    /// The values.
    pub data: Vec<f32>,
}

/// Quantizes `fp32` with `calibration` windows (one tensor per model input, the same `n`) into
/// `out`. With a gate, the int8 model is scored first and refused (nothing written) when it loses
/// more than allowed.
pub fn quantize_file(
    fp32: &Path,
    calibration: &[CalibrationTensor],
    out: &Path,
    cfg: &QuantizeConfig,
    gate: Option<Gate<'_>>,
    progress: &mut dyn Progress,
) -> anyhow::Result<QuantizeOutcome> {
    let model = onnx_ptq::load(fp32)?;
    // Load ONNX Runtime before the quantizer's clock starts: its report then times quantization
    // alone, as Python's times exclude `import onnxruntime`.
    let env = hapticmat_core::inference::environment()?;
    let mut source = MultiSliceSource::new(CALIBRATION_BATCH);
    for c in calibration {
        anyhow::ensure!(!c.shape.is_empty(), "calibration windows of {:?} have no shape", c.name);
        source = source.input(c.name.as_deref(), &c.shape[1..], &c.data);
    }
    let q = quantize(env, &model, &mut source, cfg, progress)?;

    let dir = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    // Written under a temporary name in the same folder, renamed only once it is known good.
    let mut tmp = tempfile::Builder::new().prefix(".quantizing-").suffix(".onnx").tempfile_in(dir)?;
    tmp.write_all(&prost::Message::encode_to_vec(&q.model))?;
    tmp.as_file().sync_all()?;
    let comparison = match gate {
        Some(g) => {
            let c = compare(fp32, tmp.path(), g.test, g.recordings, g.peak_memory)?;
            gate_ensure!(
                c.accuracy_drop_points <= g.max_accuracy_drop,
                "the int8 model is {:.2} accuracy points below fp32 (fp32 {:.2}%, int8 {:.2}%), more than the allowed \
                 --max-accuracy-drop {}: not written",
                c.accuracy_drop_points,
                100.0 * c.fp32.test.accuracy,
                100.0 * c.int8.test.accuracy,
                g.max_accuracy_drop
            );
            gate_ensure!(
                c.max_recall_drop_points <= g.max_recall_drop,
                "the int8 model loses {:.2} points of recall on {} (per state: {:?}), more than the allowed \
                 --max-recall-drop {}: not written",
                c.max_recall_drop_points,
                c.max_recall_drop_state,
                c.recall_drop_points.iter().map(|d| format!("{d:+.2}")).collect::<Vec<_>>(),
                g.max_recall_drop
            );
            Some(c)
        }
        None => None,
    };
    tmp.persist(out).map_err(|e| e.error).with_context(|| format!("writing {}", out.display()))?;
    std::fs::File::open(dir)?.sync_all()?;
    let mut comparison = comparison;
    if let Some(c) = comparison.as_mut() {
        // The comparison scored the temporary file; name the file it became.
        c.int8.path = out.to_path_buf();
    }
    Ok(QuantizeOutcome { report: q.report, comparison })
}
