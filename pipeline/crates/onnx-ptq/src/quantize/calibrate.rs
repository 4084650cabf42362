//! Calibration through ONNX Runtime: a copy of the float model with every tensor to quantize added as a
//! graph output runs in one session over the calibration batches. Only running statistics are kept
//! (min/max, then fixed-size histograms for percentile and entropy), so memory does not grow with the
//! number of windows; the price is a second pass over the source for the histogram methods.

use super::graph::{FLOAT, Index};
use super::histogram::{Histogram, MinMax};
use super::{CalibrationMethod, CalibrationPass, Progress, QuantizeConfig, QuantizeError, QuantizeEvent};
use crate::proto::{GraphProto, ModelProto, TypeProto, ValueInfoProto, tensor_shape_proto, type_proto};
use ort::environment::Environment;
use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::TensorRef;
use prost::Message;
use std::collections::{HashMap, HashSet};

/// An error of a calibration source, passed through as is.
pub type SourceError = Box<dyn std::error::Error + Send + Sync>;

/// One input tensor of a calibration batch, borrowed from the source.
#[derive(Debug, Clone, PartialEq)]
pub struct InputBatch<'a> {
    /// Graph input it feeds; `None` for the model's only input.
    pub name: Option<&'a str>,
    /// Shape, batch dimension first.
    pub shape: Vec<usize>,
    /// Values, row-major, `shape.iter().product()` of them.
    pub data: &'a [f32],
}

impl<'a> InputBatch<'a> {
    /// A batch for the model's only input.
    pub fn new(shape: Vec<usize>, data: &'a [f32]) -> Self {
        InputBatch { name: None, shape, data }
    }

    /// A batch for the named input.
    pub fn named(name: &'a str, shape: Vec<usize>, data: &'a [f32]) -> Self {
        InputBatch { name: Some(name), shape, data }
    }
}

/// Calibration data, read in batches, possibly more than once.
pub trait CalibrationSource {
    /// Rewinds to the first batch; called before every pass, so it must give the same data again.
    fn reset(&mut self) -> Result<(), SourceError>;

    /// The next batch — one entry per graph input — or `None` after the last. Larger batches mean
    /// fewer ONNX Runtime calls; the quantizer holds one batch at a time.
    fn next_batch(&mut self) -> Option<Result<Vec<InputBatch<'_>>, SourceError>>;

    /// Windows (first-dimension rows) in the whole set, if known, for progress bars.
    fn len_hint(&self) -> Option<usize> {
        None
    }
}

/// Calibration windows laid end to end in one slice, served in batches to a single-input model.
#[derive(Debug, Clone)]
pub struct SliceSource<'a> {
    data: &'a [f32],
    window_shape: Vec<usize>,
    batch_size: usize,
    input: Option<String>,
    pos: usize,
}

impl<'a> SliceSource<'a> {
    /// Windows of `window_shape` (e.g. `[4, 20]`) from `data`, `batch_size` per batch.
    pub fn new(data: &'a [f32], window_shape: &[usize], batch_size: usize) -> Self {
        SliceSource { data, window_shape: window_shape.to_vec(), batch_size: batch_size.max(1), input: None, pos: 0 }
    }

    /// Feeds the named graph input instead of the model's only one.
    pub fn for_input(mut self, name: &str) -> Self {
        self.input = Some(name.to_string());
        self
    }

    fn window_len(&self) -> usize {
        self.window_shape.iter().product::<usize>().max(1)
    }
}

impl CalibrationSource for SliceSource<'_> {
    fn reset(&mut self) -> Result<(), SourceError> {
        self.pos = 0;
        Ok(())
    }

    fn next_batch(&mut self) -> Option<Result<Vec<InputBatch<'_>>, SourceError>> {
        if self.pos >= self.data.len() {
            return None;
        }
        let len = self.window_len();
        let remaining = self.data.len() - self.pos;
        let rows = (remaining / len).min(self.batch_size);
        if rows == 0 {
            self.pos = self.data.len();
            let shape = &self.window_shape;
            return Some(Err(
                format!("{remaining} trailing values do not make a whole window of shape {shape:?}").into()
            ));
        }
        let start = self.pos;
        self.pos += rows * len;
        let mut shape = vec![rows];
        shape.extend_from_slice(&self.window_shape);
        let data = &self.data[start..self.pos];
        Some(Ok(vec![InputBatch { name: self.input.as_deref(), shape, data }]))
    }

    fn len_hint(&self) -> Option<usize> {
        Some(self.data.len() / self.window_len())
    }
}

/// Calibration data for a model with several inputs: one slice per named input, the same number of
/// windows in each, served together in batches.
#[derive(Debug, Clone)]
pub struct MultiSliceSource<'a> {
    inputs: Vec<(Option<String>, Vec<usize>, &'a [f32])>,
    batch_size: usize,
    row: usize,
}

impl<'a> MultiSliceSource<'a> {
    /// An empty source; add inputs with [`input`](Self::input).
    pub fn new(batch_size: usize) -> Self {
        MultiSliceSource { inputs: Vec::new(), batch_size: batch_size.max(1), row: 0 }
    }

    /// Adds the windows of one input (`name` `None`: the model's only input), each of `window_shape`.
    pub fn input(mut self, name: Option<&str>, window_shape: &[usize], data: &'a [f32]) -> Self {
        self.inputs.push((name.map(str::to_string), window_shape.to_vec(), data));
        self
    }

    fn rows(&self) -> Result<usize, SourceError> {
        let mut rows = None;
        for (name, shape, data) in &self.inputs {
            let len = shape.iter().product::<usize>().max(1);
            let label = name.as_deref().unwrap_or("the input");
            if !data.len().is_multiple_of(len) {
                return Err(
                    format!("{label}: {} values do not make whole windows of shape {shape:?}", data.len()).into()
                );
            }
            match rows {
                None => rows = Some(data.len() / len),
                Some(r) if r != data.len() / len => {
                    return Err(format!("{label} has {} windows, the first input {r}", data.len() / len).into());
                }
                Some(_) => {}
            }
        }
        Ok(rows.unwrap_or(0))
    }
}

impl CalibrationSource for MultiSliceSource<'_> {
    fn reset(&mut self) -> Result<(), SourceError> {
        self.row = 0;
        self.rows().map(|_| ())
    }

    fn next_batch(&mut self) -> Option<Result<Vec<InputBatch<'_>>, SourceError>> {
        let total = match self.rows() {
            Ok(t) => t,
            Err(e) => return Some(Err(e)),
        };
        if self.row >= total {
            return None;
        }
        let rows = (total - self.row).min(self.batch_size);
        let start = self.row;
        self.row += rows;
        let batch = self
            .inputs
            .iter()
            .map(|(name, shape, data)| {
                let len = shape.iter().product::<usize>().max(1);
                let mut full = vec![rows];
                full.extend_from_slice(shape);
                InputBatch { name: name.as_deref(), shape: full, data: &data[start * len..(start + rows) * len] }
            })
            .collect();
        Some(Ok(batch))
    }

    fn len_hint(&self) -> Option<usize> {
        self.rows().ok()
    }
}

/// A graph input calibration data must feed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ModelInput {
    /// Its name.
    pub name: String,
    /// Its dimensions: fixed sizes, or `None` for symbolic ones; `None` overall if the rank is unknown.
    pub dims: Option<Vec<Option<i64>>>,
}

impl ModelInput {
    fn expected(&self) -> String {
        match &self.dims {
            None => "any shape".to_string(),
            Some(d) => {
                let parts: Vec<String> = d
                    .iter()
                    .enumerate()
                    .map(|(k, v)| v.map_or(if k == 0 { "batch".into() } else { "?".into() }, |v| v.to_string()))
                    .collect();
                format!("[{}]", parts.join(", "))
            }
        }
    }
}

/// The graph inputs (initializers excluded), checked to be float32 tensors.
pub(crate) fn model_inputs(g: &GraphProto) -> Result<Vec<ModelInput>, QuantizeError> {
    let ix = Index::new(g);
    let mut inputs = Vec::new();
    for v in &g.input {
        let Some(name) = v.name.clone().filter(|n| !ix.is_initializer(n)) else { continue };
        let unsupported = |reason: String| QuantizeError::UnsupportedInput { name: name.clone(), reason };
        let Some(TypeProto { value: Some(type_proto::Value::TensorType(t)), .. }) = &v.r#type else {
            return Err(unsupported("not a tensor".into()));
        };
        if t.elem_type != Some(FLOAT) {
            return Err(unsupported(format!("element type {:?}, calibration data is float32", t.elem_type)));
        }
        let dims = t.shape.as_ref().map(|s| {
            s.dim
                .iter()
                .map(|d| match d.value {
                    Some(tensor_shape_proto::dimension::Value::DimValue(v)) if v > 0 => Some(v),
                    _ => None,
                })
                .collect()
        });
        inputs.push(ModelInput { name, dims });
    }
    if inputs.is_empty() {
        return Err(QuantizeError::InvalidModel("the graph has no input to calibrate with".into()));
    }
    Ok(inputs)
}

fn expected_inputs(inputs: &[ModelInput]) -> String {
    inputs.iter().map(|i| format!("'{}' {}", i.name, i.expected())).collect::<Vec<_>>().join(", ")
}

/// Orders a batch's tensors like the model inputs, checking names, shapes and lengths.
fn match_batch<'b, 'a>(
    inputs: &[ModelInput],
    batch: &'b [InputBatch<'a>],
    number: usize,
) -> Result<Vec<&'b InputBatch<'a>>, QuantizeError> {
    let bad = |reason: String| QuantizeError::BatchShape { batch: number, reason };
    let mut slots: Vec<Option<&InputBatch>> = vec![None; inputs.len()];
    for b in batch {
        let k = match b.name {
            Some(n) => inputs.iter().position(|i| i.name == n).ok_or_else(|| {
                bad(format!("the model has no input '{n}'; its inputs are {}", expected_inputs(inputs)))
            })?,
            None if inputs.len() == 1 => 0,
            None => {
                return Err(bad(format!(
                    "an unnamed tensor, but the model has {} inputs: {}",
                    inputs.len(),
                    expected_inputs(inputs)
                )));
            }
        };
        if slots[k].replace(b).is_some() {
            return Err(bad(format!("input '{}' given twice", inputs[k].name)));
        }
        let input = &inputs[k];
        let fits = match &input.dims {
            None => true,
            Some(d) => {
                d.len() == b.shape.len() && d.iter().zip(&b.shape).all(|(e, &f)| e.is_none_or(|e| e as usize == f))
            }
        };
        if !fits {
            return Err(bad(format!("input '{}' has shape {:?}, expected {}", input.name, b.shape, input.expected())));
        }
        let n: usize = b.shape.iter().product();
        if n != b.data.len() {
            return Err(bad(format!(
                "input '{}' has {} values for shape {:?} ({n})",
                input.name,
                b.data.len(),
                b.shape
            )));
        }
    }
    slots
        .into_iter()
        .zip(inputs)
        .map(|(s, i)| s.ok_or_else(|| bad(format!("input '{}' {} is missing", i.name, i.expected()))))
        .collect()
}

/// The range calibration chose for one tensor, and what it saw.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct TensorRange {
    /// Smallest value seen.
    pub seen_min: f32,
    /// Largest value seen.
    pub seen_max: f32,
    /// Chosen lower end.
    pub rmin: f32,
    /// Chosen upper end.
    pub rmax: f32,
}

/// Outcome of calibration.
#[derive(Debug, Default)]
pub(crate) struct Calibrated {
    /// Range per calibrated tensor.
    pub ranges: HashMap<String, TensorRange>,
    /// Windows per pass.
    pub windows: usize,
    /// Batches per pass.
    pub batches: usize,
    /// Passes made.
    pub passes: usize,
}

/// Where a calibrated tensor's values come from in each batch.
#[derive(Debug, Clone, Copy)]
enum Feed {
    /// A graph input: the batch itself.
    Input(usize),
    /// An output of the augmented session, by index.
    Output(usize),
}

/// The float model with `tensors` added as graph outputs (float32, shape left to the runtime).
fn augment(model: &ModelProto, tensors: &[String], inputs: &HashSet<&str>) -> ModelProto {
    let mut m = model.clone();
    if let Some(g) = m.graph.as_mut() {
        let existing: HashSet<String> = g.output.iter().filter_map(|o| o.name.clone()).collect();
        for t in tensors.iter().filter(|t| !existing.contains(*t) && !inputs.contains(t.as_str())) {
            g.output.push(ValueInfoProto {
                name: Some(t.clone()),
                r#type: Some(TypeProto {
                    value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                        elem_type: Some(FLOAT),
                        shape: None,
                    })),
                    ..Default::default()
                }),
                ..Default::default()
            });
        }
    }
    m
}

fn runtime<E: std::fmt::Display>(e: E) -> QuantizeError {
    QuantizeError::Runtime(e.to_string())
}

/// One session over the augmented model, with ONNX Runtime's full graph optimizations — the ones the
/// float model is deployed with. Requested tensors are graph outputs, which the optimizer keeps; fusing
/// the rest (Conv+Relu, blocked layouts) makes calibration about 3× faster than ONNX Runtime's own
/// calibrator, which disables all optimizations.
fn session(env: &Environment, model: &ModelProto, threads: Option<usize>) -> Result<Session, QuantizeError> {
    let mut builder = Session::builder(env)
        .map_err(runtime)?
        .with_optimization_level(GraphOptimizationLevel::Level3)
        .map_err(runtime)?;
    if let Some(t) = threads {
        builder = builder.with_intra_threads(t).map_err(runtime)?;
    }
    builder.commit_from_memory(&model.encode_to_vec()).map_err(runtime)
}

struct Pass<'s> {
    session: &'s mut Session,
    inputs: &'s [ModelInput],
    feeds: &'s [Feed],
}

impl Pass<'_> {
    /// Runs every batch of the source; `sink(k, values)` gets tensor `k`'s values. Returns the windows
    /// and batches seen.
    fn run(
        &mut self,
        pass: CalibrationPass,
        source: &mut dyn CalibrationSource,
        progress: &mut dyn Progress,
        mut sink: impl FnMut(usize, &[f32]),
    ) -> Result<(usize, usize), QuantizeError> {
        source.reset().map_err(QuantizeError::Source)?;
        progress.event(QuantizeEvent::PassStarted { pass, windows: source.len_hint() });
        let (mut windows, mut batches) = (0usize, 0usize);
        while let Some(batch) = source.next_batch() {
            let batch = batch.map_err(QuantizeError::Source)?;
            batches += 1;
            let ordered = match_batch(self.inputs, &batch, batches)?;
            let rows = ordered[0].shape.first().copied().unwrap_or(1);
            if ordered.iter().any(|b| b.data.is_empty()) {
                continue;
            }
            let values = ordered
                .iter()
                .zip(self.inputs)
                .map(|(b, i)| {
                    let t = TensorRef::from_array_view((b.shape.clone(), b.data)).map_err(runtime)?;
                    Ok((i.name.clone(), ort::session::SessionInputValue::from(t)))
                })
                .collect::<Result<Vec<_>, QuantizeError>>()?;
            let outputs = self.session.run(values).map_err(runtime)?;
            for (k, feed) in self.feeds.iter().enumerate() {
                match *feed {
                    Feed::Input(i) => sink(k, ordered[i].data),
                    Feed::Output(o) => {
                        let (_, data) = outputs[o].try_extract_tensor::<f32>().map_err(runtime)?;
                        sink(k, data);
                    }
                }
            }
            windows += rows;
            progress.event(QuantizeEvent::Batch { pass, windows_done: windows });
        }
        progress.event(QuantizeEvent::PassFinished { pass, windows });
        Ok((windows, batches))
    }
}

/// Calibrates `tensors` of `model` on `source` with the configured method.
pub(crate) fn calibrate(
    env: &Environment,
    model: &ModelProto,
    inputs: &[ModelInput],
    tensors: &[String],
    cfg: &QuantizeConfig,
    source: &mut dyn CalibrationSource,
    progress: &mut dyn Progress,
) -> Result<Calibrated, QuantizeError> {
    let input_names: HashSet<&str> = inputs.iter().map(|i| i.name.as_str()).collect();
    let augmented = augment(model, tensors, &input_names);
    let mut session = session(env, &augmented, cfg.threads)?;
    let output_index: HashMap<&str, usize> = session.outputs().iter().enumerate().map(|(k, o)| (o.name(), k)).collect();
    let feeds = tensors
        .iter()
        .map(|t| match inputs.iter().position(|i| &i.name == t) {
            Some(i) => Ok(Feed::Input(i)),
            None => output_index
                .get(t.as_str())
                .map(|&o| Feed::Output(o))
                .ok_or_else(|| QuantizeError::Runtime(format!("the calibration session does not output '{t}'"))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut pass = Pass { session: &mut session, inputs, feeds: &feeds };

    let mut ranges = vec![MinMax::default(); tensors.len()];
    let (windows, batches) = pass.run(CalibrationPass::Ranges, source, progress, |k, d| ranges[k].update(d))?;
    if windows == 0 {
        return Err(QuantizeError::EmptyCalibration { expected: expected_inputs(inputs) });
    }
    for (t, r) in tensors.iter().zip(&ranges) {
        if let Some(value) = [r.min, r.max].into_iter().find(|v| v.is_infinite() && r.min <= r.max) {
            return Err(QuantizeError::NonFinite { tensor: t.clone(), value });
        }
    }

    let mut chosen: Vec<(f32, f32)> = ranges.iter().map(MinMax::range).collect();
    let mut passes = 1;
    if cfg.method.needs_histograms() {
        let mut hists: Vec<Histogram> = ranges
            .iter()
            .map(|r| match cfg.method {
                CalibrationMethod::Percentile { bins, .. } => Histogram::of_magnitudes(r.abs_max(), bins),
                CalibrationMethod::Entropy { bins, .. } => Histogram::symmetric(r.abs_max(), bins),
                // Not reached: min-max needs no histogram.
                CalibrationMethod::MinMax => Histogram::symmetric(r.abs_max(), 1),
            })
            .collect();
        let (second, _) = pass.run(CalibrationPass::Histograms, source, progress, |k, d| hists[k].add(d))?;
        if second != windows {
            return Err(QuantizeError::NotRestartable { first: windows, second });
        }
        passes = 2;
        chosen = thresholds(&hists, &ranges, cfg.method);
    }

    let ranges = tensors
        .iter()
        .zip(ranges.iter().zip(chosen))
        .map(|(t, (seen, (rmin, rmax)))| {
            let (seen_min, seen_max) = seen.range();
            (t.clone(), TensorRange { seen_min, seen_max, rmin, rmax })
        })
        .collect();
    Ok(Calibrated { ranges, windows, batches, passes })
}

/// Ranges from the histograms, clipped to what was seen (as ONNX Runtime does). The entropy search is
/// quadratic in the bins, so it gets one thread per core; a percentile is one scan.
fn thresholds(hists: &[Histogram], seen: &[MinMax], method: CalibrationMethod) -> Vec<(f32, f32)> {
    let pick = |h: &Histogram, m: &MinMax| -> (f32, f32) {
        let (lo, hi) = m.range();
        if m.abs_max() == 0.0 {
            return (lo, hi);
        }
        let (a, b) = match method {
            CalibrationMethod::Percentile { percentile, .. } => {
                let t = h.percentile(percentile);
                (-t, t)
            }
            CalibrationMethod::Entropy { quantized_bins, .. } => h.entropy_range(quantized_bins),
            CalibrationMethod::MinMax => (lo, hi),
        };
        (a.max(lo), b.min(hi))
    };
    if !matches!(method, CalibrationMethod::Entropy { .. }) {
        return hists.iter().zip(seen).map(|(h, m)| pick(h, m)).collect();
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(hists.len()).max(1);
    let chunk = hists.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = hists
            .chunks(chunk)
            .zip(seen.chunks(chunk))
            .map(|(h, m)| s.spawn(move || h.iter().zip(m).map(|(h, m)| pick(h, m)).collect::<Vec<_>>()))
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(dims: &[Option<i64>]) -> Vec<ModelInput> {
        vec![ModelInput { name: "window".into(), dims: Some(dims.to_vec()) }]
    }

    #[test]
    fn slice_source_serves_whole_windows_in_batches_and_restarts() {
        let data: Vec<f32> = (0..10 * 6).map(|v| v as f32).collect();
        let mut s = SliceSource::new(&data, &[2, 3], 4);
        assert_eq!(s.len_hint(), Some(10));
        let mut rows = Vec::new();
        while let Some(b) = s.next_batch() {
            rows.push(b.unwrap()[0].shape[0]);
        }
        assert_eq!(rows, [4, 4, 2]);
        s.reset().unwrap();
        assert_eq!(s.next_batch().unwrap().unwrap()[0].data[0], 0.0);

        let ragged = [0.0f32; 7];
        let mut s = SliceSource::new(&ragged, &[2, 3], 4);
        assert!(s.next_batch().unwrap().is_ok());
        let e = s.next_batch().unwrap().unwrap_err().to_string();
        assert!(e.contains("1 trailing values"), "{e}");
        assert!(s.next_batch().is_none());
    }

    #[test]
    fn batches_of_the_wrong_shape_name_what_was_expected() {
        let inputs = input(&[None, Some(4), Some(20)]);
        let data = vec![0.0f32; 2 * 5 * 20];
        let batch = [InputBatch::new(vec![2, 5, 20], &data)];
        let e = match_batch(&inputs, &batch, 3).unwrap_err().to_string();
        assert_eq!(e, "calibration batch 3: input 'window' has shape [2, 5, 20], expected [batch, 4, 20]");

        let batch = [InputBatch::named("other", vec![2, 4, 20], &data[..160])];
        let e = match_batch(&inputs, &batch, 1).unwrap_err().to_string();
        assert!(e.contains("no input 'other'") && e.contains("'window' [batch, 4, 20]"), "{e}");

        let batch = [InputBatch::new(vec![2, 4, 20], &data[..100])];
        assert!(match_batch(&inputs, &batch, 1).unwrap_err().to_string().contains("100 values"));
        let batch = [InputBatch::new(vec![2, 4, 20], &data[..160])];
        assert_eq!(match_batch(&inputs, &batch, 1).unwrap().len(), 1);
    }
}
