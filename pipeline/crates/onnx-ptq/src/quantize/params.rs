//! Scales, zero points and quantized values, computed the way ONNX Runtime's quantizer computes them
//! (`quant_utils.py`: `compute_scale_zp` widens ranges to include 0, scales in f64 stored as f32,
//! symmetric int8 uses [−127, 127], values round half to even), so that both tools give the same
//! numbers for the same ranges.

use super::calibrate::TensorRange;
use super::graph::Index;
use super::plan::{ActSource, Plan};
use super::tensors::read_f32;
use super::{ActivationType, QuantizeConfig, QuantizeError};
use crate::proto::GraphProto;
use std::collections::HashMap;

/// Integer range of a type: symmetric int8 leaves out −128 so that ±r map to ±127.
pub(crate) fn qrange(signed: bool, symmetric: bool) -> (i32, i32) {
    match (signed, symmetric) {
        (true, true) => (-127, 127),
        (true, false) => (-128, 127),
        (false, _) => (0, 255),
    }
}

/// Scale and zero point for the real range `[rmin, rmax]` (ONNX Runtime's `compute_scale_zp`).
pub(crate) fn scale_zero_point(rmin: f32, rmax: f32, qmin: i32, qmax: i32, symmetric: bool) -> (f32, i32) {
    // Zero must be exactly representable (padding, ReLU); this is the widening docs/design.md §8 warns about.
    let (mut lo, mut hi) = (rmin.min(0.0), rmax.max(0.0));
    if symmetric {
        let a = lo.abs().max(hi.abs());
        (lo, hi) = (-a, a);
    }
    let scale = (hi as f64 - lo as f64) / (qmax - qmin) as f64;
    if scale < f32::MIN_POSITIVE as f64 {
        return (1.0, 0);
    }
    let zp = if symmetric {
        ((qmin + qmax) as f64 / 2.0).round_ties_even()
    } else {
        (qmin as f64 - lo as f64 / scale).round_ties_even()
    };
    (scale as f32, (zp as i32).clamp(qmin, qmax))
}

/// Quantizes one value (ONNX `QuantizeLinear`: round half to even, saturate).
pub(crate) fn quantize_value(v: f32, scale: f32, zp: i32, qmin: i32, qmax: i32) -> i32 {
    ((v / scale).round_ties_even() + zp as f32).clamp(qmin as f32, qmax as f32) as i32
}

/// Quantization parameters of an activation tensor with its own scale.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ActParams {
    /// Scale.
    pub scale: f32,
    /// Zero point.
    pub zero_point: i32,
    /// Range the parameters were computed from (before widening to 0).
    pub rmin: f32,
    /// Upper end of that range.
    pub rmax: f32,
    /// Smallest and largest value calibration saw (`None` for fixed ranges).
    pub seen: Option<(f32, f32)>,
}

/// A weight (or constant operand) in int8 with its scales.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct QuantTensor {
    /// Quantized values, same layout as the float tensor.
    pub values: Vec<i32>,
    /// One scale per channel along `axis`, or one for the tensor.
    pub scales: Vec<f32>,
    /// Zero points, as many as scales.
    pub zero_points: Vec<i32>,
    /// Per-channel axis.
    pub axis: Option<usize>,
    /// Dimensions.
    pub dims: Vec<i64>,
    /// Signed (int8) or unsigned (uint8).
    pub signed: bool,
}

/// An int32 bias with its scales (input scale × weight scale).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct QuantBias {
    /// Quantized values, one per channel.
    pub values: Vec<i32>,
    /// Scales, one per channel when the weight is per channel, else one.
    pub scales: Vec<f32>,
}

/// Every number the rewritten graph needs.
#[derive(Debug, Default)]
pub(crate) struct Params {
    /// Activation type is signed.
    pub signed: bool,
    /// Activations with their own parameters.
    pub activations: HashMap<String, ActParams>,
    /// The tensor owning the parameters each activation uses (itself, or the one it shares with).
    pub owner: HashMap<String, String>,
    /// Weights, quantized.
    pub weights: HashMap<String, QuantTensor>,
    /// Constant operands, quantized with the activation type.
    pub consts: HashMap<String, QuantTensor>,
    /// Biases, in the order of [`Plan::biases`].
    pub biases: Vec<QuantBias>,
}

impl Params {
    /// Scale and zero point an activation is quantized with.
    pub fn of(&self, t: &str) -> Option<&ActParams> {
        self.activations.get(self.owner.get(t)?)
    }
}

/// Computes every scale, zero point and quantized initializer the plan calls for.
pub(crate) fn compute(
    g: &GraphProto,
    plan: &Plan,
    ranges: &HashMap<String, TensorRange>,
    cfg: &QuantizeConfig,
) -> Result<Params, QuantizeError> {
    let ix = Index::new(g);
    let signed = cfg.activation_type == ActivationType::Int8;
    let (qmin, qmax) = qrange(signed, cfg.symmetric_activations);
    let mut p = Params { signed, ..Default::default() };

    for t in &plan.activations {
        let own = match plan.act_source.get(t) {
            Some(ActSource::Calibrated) => {
                let r = ranges.get(plan.range_tensor(t)).ok_or_else(|| {
                    QuantizeError::Runtime(format!(
                        "calibration produced no values for tensor '{}'",
                        plan.range_tensor(t)
                    ))
                })?;
                Some((r.rmin, r.rmax, Some((r.seen_min, r.seen_max))))
            }
            Some(ActSource::Fixed(lo, hi)) => Some((*lo, *hi, None)),
            _ => None,
        };
        if let Some((rmin, rmax, seen)) = own {
            let (scale, zero_point) = scale_zero_point(rmin, rmax, qmin, qmax, cfg.symmetric_activations);
            p.activations.insert(t.clone(), ActParams { scale, zero_point, rmin, rmax, seen });
            p.owner.insert(t.clone(), t.clone());
        }
    }
    for t in &plan.activations {
        let mut at = t;
        // A chain of shape ops shares back to the first tensor with parameters; the plan only shares
        // from tensors marked earlier, so the chain is finite.
        for _ in 0..=plan.activations.len() {
            match plan.act_source.get(at) {
                Some(ActSource::Shared(from)) => at = from,
                _ => break,
            }
        }
        if p.activations.contains_key(at) {
            p.owner.insert(t.clone(), at.clone());
        }
    }

    let read = |t: &str| -> Result<(Vec<f32>, Vec<i64>), QuantizeError> {
        let init =
            ix.initializer(g, t).ok_or_else(|| QuantizeError::InvalidModel(format!("'{t}' is not an initializer")))?;
        Ok((read_f32(init)?, init.dims.clone()))
    };

    // Weight scales first: a bias may need them raised (below) before the weights are rounded.
    let mut weight_data = HashMap::new();
    let mut weight_scales: HashMap<String, Vec<f32>> = HashMap::new();
    for w in &plan.weights {
        let (data, dims) = read(w)?;
        let axis = plan.weight_axis.get(w).copied().flatten().filter(|&a| a < dims.len());
        let scales = channel_slices(&data, &dims, axis)
            .iter()
            .map(|vals| {
                let (lo, hi) = min_max(vals.iter().copied());
                scale_zero_point(lo, hi, -127, 127, true).0
            })
            .collect();
        weight_scales.insert(w.clone(), scales);
        weight_data.insert(w.clone(), (data, dims, axis));
    }

    let input_scale = |p: &Params, t: &str| -> Option<f32> {
        p.of(t).map(|a| a.scale).or_else(|| p.consts.get(t).and_then(|c| c.scales.first().copied()))
    };
    for c in &plan.consts {
        let (data, dims) = read(c)?;
        let (lo, hi) = min_max(data.iter().copied());
        let (scale, zp) = scale_zero_point(lo, hi, qmin, qmax, cfg.symmetric_activations);
        let (fmin, fmax) = qrange(signed, false);
        let values = data.iter().map(|&v| quantize_value(v, scale, zp, fmin, fmax)).collect();
        p.consts.insert(
            c.clone(),
            QuantTensor { values, scales: vec![scale], zero_points: vec![zp], axis: None, dims, signed },
        );
    }

    let mut bias_data = Vec::with_capacity(plan.biases.len());
    for b in &plan.biases {
        let (mut data, _) = read(&b.bias)?;
        if data.len() == 1 && b.channels > 1 {
            data = vec![data[0]; b.channels];
        }
        data.iter_mut().for_each(|v| *v *= b.beta);
        let in_scale = input_scale(&p, &b.input);
        if let (Some(s), Some(ws)) = (in_scale, weight_scales.get_mut(&b.weight)) {
            raise_weight_scales_for_bias(s, ws, &data);
        }
        bias_data.push((data, in_scale));
    }

    for w in &plan.weights {
        let Some((data, dims, axis)) = weight_data.remove(w) else { continue };
        let scales = weight_scales.get(w).cloned().unwrap_or_default();
        let values = quantize_channels(&data, &dims, axis, &scales);
        let zero_points = vec![0; scales.len()];
        p.weights.insert(w.clone(), QuantTensor { values, scales, zero_points, axis, dims, signed: true });
    }

    for (b, (data, in_scale)) in plan.biases.iter().zip(bias_data) {
        let in_scale = in_scale.ok_or_else(|| {
            QuantizeError::InvalidModel(format!(
                "the input '{}' of bias '{}' has no quantization scale",
                b.input, b.bias
            ))
        })?;
        let ws = &p.weights.get(&b.weight).map(|w| w.scales.clone()).unwrap_or_default();
        let scales: Vec<f32> = ws.iter().map(|&s| in_scale * s).collect();
        let values = data
            .iter()
            .enumerate()
            .map(|(c, &v)| {
                let s = scales.get(c).or(scales.first()).copied().unwrap_or(1.0) as f64;
                (v as f64 / s).round_ties_even().clamp(i32::MIN as f64, i32::MAX as f64) as i32
            })
            .collect();
        p.biases.push(QuantBias { values, scales });
    }
    Ok(p)
}

/// Smallest and largest value (NaN ignored; nothing at all gives 0, 0).
fn min_max(values: impl Iterator<Item = f32>) -> (f32, f32) {
    let (lo, hi) = values.fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if lo > hi { (0.0, 0.0) } else { (lo, hi) }
}

/// The values of each channel along `axis` (all values as one channel when `None`).
fn channel_slices(data: &[f32], dims: &[i64], axis: Option<usize>) -> Vec<Vec<f32>> {
    let Some(axis) = axis else { return vec![data.to_vec()] };
    let (outer, ch, inner) = split_dims(dims, axis);
    let mut out = vec![Vec::with_capacity(outer * inner); ch];
    for o in 0..outer {
        for (c, vals) in out.iter_mut().enumerate() {
            let start = (o * ch + c) * inner;
            vals.extend_from_slice(&data[start..start + inner]);
        }
    }
    out
}

fn split_dims(dims: &[i64], axis: usize) -> (usize, usize, usize) {
    let p = |d: &[i64]| d.iter().map(|&x| x.max(0) as usize).product::<usize>();
    (p(&dims[..axis]), dims[axis].max(0) as usize, p(&dims[axis + 1..]))
}

/// Rounds weights with their per-channel (or single) scales, zero point 0, saturating to int8.
fn quantize_channels(data: &[f32], dims: &[i64], axis: Option<usize>, scales: &[f32]) -> Vec<i32> {
    let (ch, inner) = match axis {
        Some(axis) => {
            let (_, ch, inner) = split_dims(dims, axis);
            (ch.max(1), inner.max(1))
        }
        None => (1, 1),
    };
    data.iter()
        .enumerate()
        .map(|(i, &v)| quantize_value(v, scales.get((i / inner) % ch).copied().unwrap_or(1.0), 0, -128, 127))
        .collect()
}

/// ONNX Runtime's `_adjust_weight_scale_for_int32_bias`: when input scale × weight scale is so small
/// that the bias would overflow int32, the weight scale is raised just enough.
fn raise_weight_scales_for_bias(input_scale: f32, weight_scales: &mut [f32], bias: &[f32]) {
    let qrange = i32::MAX as f64 - (i32::MIN as f64 + 1.0);
    let smallest = |absmax: f64| 1.0001 * 2.0 * absmax / qrange;
    let adjust = |ws: &mut f32, absmax: f64| {
        let candidate = input_scale as f64 * *ws as f64;
        let needed = smallest(absmax);
        if candidate > 0.0 && candidate < needed {
            *ws = (*ws as f64 * needed / candidate) as f32;
        }
    };
    if weight_scales.len() == 1 {
        let (lo, hi) = min_max(bias.iter().copied());
        adjust(&mut weight_scales[0], lo.min(0.0).abs().max(hi.max(0.0)) as f64);
    } else {
        for (ws, b) in weight_scales.iter_mut().zip(bias) {
            adjust(ws, b.abs() as f64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_match_onnx_runtime() {
        // Values ONNX Runtime 1.31 wrote for the presence model: relu range [0, 7.1289] → scale
        // 0.02795657, zero point −128; softmax [0, 1] → 1/255, −128.
        let (s, z) = scale_zero_point(0.0, 7.128925, -128, 127, false);
        assert!((s - 0.02795657).abs() < 1e-7 && z == -128, "{s} {z}");
        assert_eq!(scale_zero_point(0.0, 1.0, -128, 127, false), (1.0 / 255.0, -128));
        // A range not containing 0 is widened to it.
        let (s, z) = scale_zero_point(2.0, 4.0, -128, 127, false);
        assert_eq!((s, z), (4.0 / 255.0, -128));
        // Symmetric: zero point 0 for int8, 128 for uint8.
        assert_eq!(scale_zero_point(-1.0, 3.0, -127, 127, true), (6.0 / 254.0, 0));
        assert_eq!(scale_zero_point(-1.0, 3.0, 0, 255, true).1, 128);
        // Degenerate range.
        assert_eq!(scale_zero_point(0.0, 0.0, -128, 127, false), (1.0, 0));
    }

    #[test]
    fn rounding_is_half_to_even_and_saturates() {
        assert_eq!(quantize_value(0.5, 1.0, 0, -128, 127), 0);
        assert_eq!(quantize_value(1.5, 1.0, 0, -128, 127), 2);
        assert_eq!(quantize_value(-1000.0, 1.0, 0, -128, 127), -128);
        assert_eq!(quantize_value(3.0, 1.0, 253, 0, 255), 255);
    }

    #[test]
    fn channels_are_taken_along_the_axis() {
        // [2, 3] matrix, axis 1: three channels of two values.
        let data = [1.0, -2.0, 3.0, 4.0, 5.0, -6.0];
        let ch = channel_slices(&data, &[2, 3], Some(1));
        assert_eq!(ch, vec![vec![1.0, 4.0], vec![-2.0, 5.0], vec![3.0, -6.0]]);
        let q = quantize_channels(&data, &[2, 3], Some(1), &[4.0 / 127.0, 5.0 / 127.0, 6.0 / 127.0]);
        assert_eq!(q, vec![32, -51, 64, 127, 127, -127]);
    }

    #[test]
    fn a_tiny_weight_scale_is_raised_for_a_large_bias() {
        let mut ws = [1e-12];
        raise_weight_scales_for_bias(1e-3, &mut ws, &[1e3]);
        let bias_q = 1e3 / (1e-3 * ws[0] as f64);
        assert!(bias_q <= i32::MAX as f64, "{bias_q}");
    }
}
