//! Raising a model's default-domain opset to what QDQ needs. Per-channel `DequantizeLinear` (its `axis`
//! attribute) exists from opset 13. Raising the number alone would silently change the meaning of ops
//! whose definition changed on the way (`Unsqueeze` axes moved to an input, `Softmax` stopped
//! flattening to 2-D, ...), so each op is either converted, checked, or known to be unchanged —
//! anything else is an error naming the op rather than a silently different model.

use super::QuantizeError;
use super::graph::{Names, attr, attr_float, attr_int, is_default_domain, op, set_attr_int, take_attr};
use super::tensors::{f32_tensor, i64_tensor};
use crate::proto::{GraphProto, ModelProto, NodeProto, type_proto};
use std::collections::HashMap;

/// Lowest default-domain opset of a quantized model (per-channel `DequantizeLinear`).
pub const MIN_OPSET: i64 = 13;
/// IR version that goes with opset 13.
const MIN_IR_VERSION: i64 = 7;
/// Oldest opset converted: before 7, broadcasting and several ops worked differently.
const OLDEST_OPSET: i64 = 7;

/// Ops whose meaning does not change from opset 7 up to 13 for the attributes and inputs they have.
const UNCHANGED: &[&str] = &[
    "Abs",
    "Add",
    "And",
    "ArgMax",
    "ArgMin",
    "AveragePool",
    "Cast",
    "Ceil",
    "Concat",
    "ConstantOfShape",
    "Conv",
    "ConvTranspose",
    "Cos",
    "DepthToSpace",
    "Div",
    "Einsum",
    "Elu",
    "Equal",
    "Erf",
    "Exp",
    "Expand",
    "Flatten",
    "Floor",
    "Gather",
    "Gemm",
    "GlobalAveragePool",
    "GlobalLpPool",
    "GlobalMaxPool",
    "Greater",
    "HardSigmoid",
    "Identity",
    "InstanceNormalization",
    "LeakyRelu",
    "Less",
    "Log",
    "LpNormalization",
    "LRN",
    "MatMul",
    "Max",
    "MaxPool",
    "Mean",
    "Min",
    "Mod",
    "Mul",
    "Neg",
    "NonZero",
    "Not",
    "Or",
    "PRelu",
    "Pow",
    "Range",
    "Reciprocal",
    "ReduceL1",
    "ReduceL2",
    "ReduceLogSumExp",
    "ReduceMax",
    "ReduceMean",
    "ReduceMin",
    "ReduceProd",
    "ReduceSumSquare",
    "Relu",
    "Reshape",
    "Round",
    "Selu",
    "Shape",
    "Sigmoid",
    "Sign",
    "Sin",
    "Size",
    "Softplus",
    "Softsign",
    "SpaceToDepth",
    "Sqrt",
    "Sub",
    "Sum",
    "Tanh",
    "Tile",
    "Transpose",
    "Where",
    "Xor",
];

/// Raises the default-domain opset to at least `min`, converting ops whose form changed. Returns the
/// opset before and after.
pub(crate) fn raise(model: &mut ModelProto, min: i64) -> Result<(i64, i64), QuantizeError> {
    let entry = model
        .opset_import
        .iter()
        .position(|o| matches!(o.domain.as_deref(), None | Some("") | Some("ai.onnx")))
        .ok_or_else(|| QuantizeError::InvalidModel("the model imports no default-domain (ai.onnx) opset".into()))?;
    let from = model.opset_import[entry].version.unwrap_or(1);
    model.ir_version = Some(model.ir_version.unwrap_or(MIN_IR_VERSION).max(MIN_IR_VERSION));
    if from >= min {
        return Ok((from, from));
    }
    let refuse = |reason: String| QuantizeError::Opset { from, to: min, reason };
    if from < OLDEST_OPSET {
        return Err(refuse(format!(
            "models older than opset {OLDEST_OPSET} are not converted; run onnx.version_converter first"
        )));
    }
    let graph = model.graph.as_mut().ok_or(QuantizeError::NoGraph)?;
    let ranks = known_ranks(graph);
    let mut names = Names::of(graph);
    let mut new_initializers = Vec::new();
    for (i, node) in graph.node.iter_mut().enumerate() {
        if !is_default_domain(node) {
            continue;
        }
        let what = format!("{} ({})", super::graph::display_name(node, i), op(node));
        let mut to_input = |node: &mut NodeProto, attr_name: &str, slot: usize| {
            if let Some(a) = take_attr(node, attr_name) {
                let name = names.fresh(&format!("{}_{attr_name}", node.output.first().map_or("node", |s| s)));
                new_initializers.push(i64_tensor(&name, &[a.ints.len() as i64], &a.ints));
                while node.input.len() < slot {
                    node.input.push(String::new());
                }
                node.input.insert(slot, name);
            }
        };
        match op(node) {
            "Squeeze" | "Unsqueeze" | "ReduceSum" => to_input(node, "axes", 1),
            "Split" => to_input(node, "split", 1),
            "Slice" if from < 10 => {
                let (s, e) = (take_attr(node, "starts"), take_attr(node, "ends"));
                let axes = take_attr(node, "axes");
                for (k, a) in [s, e, axes].into_iter().enumerate() {
                    let Some(a) = a else { continue };
                    let name = names.fresh(&format!("{}_slice{k}", node.output.first().map_or("node", |s| s)));
                    new_initializers.push(i64_tensor(&name, &[a.ints.len() as i64], &a.ints));
                    node.input.push(name);
                }
            }
            "TopK" if from < 10 => {
                let k = attr_int(node, "k").ok_or_else(|| refuse(format!("{what} has no k")))?;
                take_attr(node, "k");
                let name = names.fresh(&format!("{}_k", node.output.first().map_or("node", |s| s)));
                new_initializers.push(i64_tensor(&name, &[1], &[k]));
                node.input.push(name);
            }
            "Clip" if from < 11 => {
                let lo = attr_float(node, "min");
                let hi = attr_float(node, "max");
                take_attr(node, "min");
                take_attr(node, "max");
                for (bound, tag) in [(lo, "min"), (hi, "max")] {
                    match bound {
                        Some(v) => {
                            let name = names.fresh(&format!("{}_{tag}", node.output.first().map_or("node", |s| s)));
                            new_initializers.push(f32_tensor(&name, &[], &[v]));
                            node.input.push(name);
                        }
                        None => node.input.push(String::new()),
                    }
                }
                while node.input.last().is_some_and(|s| s.is_empty()) {
                    node.input.pop();
                }
            }
            "Pad" if from < 11 => {
                let pads = take_attr(node, "pads").ok_or_else(|| refuse(format!("{what} has no pads")))?;
                let value = take_attr(node, "value").and_then(|a| a.f).unwrap_or(0.0);
                let base = node.output.first().map_or("node", |s| s).to_string();
                let p = names.fresh(&format!("{base}_pads"));
                let v = names.fresh(&format!("{base}_value"));
                new_initializers.push(i64_tensor(&p, &[pads.ints.len() as i64], &pads.ints));
                new_initializers.push(f32_tensor(&v, &[], &[value]));
                node.input.push(p);
                node.input.push(v);
            }
            "Dropout" => {
                // Inference-time identity in every version; the attributes moved to inputs in 12.
                take_attr(node, "ratio");
                take_attr(node, "is_test");
            }
            "BatchNormalization" => {
                if attr_int(node, "spatial").is_some_and(|s| s != 1) {
                    return Err(refuse(format!("{what} uses spatial=0, which opset 9 removed")));
                }
                take_attr(node, "spatial");
            }
            "Softmax" | "LogSoftmax" | "Hardmax" => {
                // Before 13 the input was flattened to 2-D at `axis`; the same as 13's per-axis
                // softmax only when `axis` is the last dimension.
                let axis = attr_int(node, "axis").unwrap_or(1);
                let rank = node.input.first().and_then(|t| ranks.get(t.as_str()).copied());
                match rank {
                    Some(r) if axis == -1 || axis == r - 1 => set_attr_int(node, "axis", axis),
                    _ => {
                        return Err(refuse(format!(
                            "{what} with axis {axis} over an input of {} changed meaning in opset 13",
                            rank.map_or("unknown rank".to_string(), |r| format!("rank {r}"))
                        )));
                    }
                }
            }
            "Clip" | "Pad" | "Slice" | "TopK" => {}
            "Upsample" | "Resize" | "Scatter" => {
                return Err(refuse(format!("{what} changed form before opset 13 and is not converted")));
            }
            o if UNCHANGED.contains(&o) => {
                if o == "Reshape" && attr(node, "shape").is_some() {
                    return Err(refuse(format!("{what} takes its shape as an attribute (opset < 5)")));
                }
            }
            _ => {
                return Err(refuse(format!(
                    "{what} is not known to keep its meaning up to opset {min}; run onnx.version_converter first"
                )));
            }
        }
    }
    graph.initializer.extend(new_initializers);
    model.opset_import[entry].version = Some(min);
    Ok((from, min))
}

/// Ranks of tensors declared with a shape, and of outputs of ops that always give 2-D results.
fn known_ranks(g: &GraphProto) -> HashMap<String, i64> {
    let mut ranks: HashMap<String, i64> = HashMap::new();
    for v in g.input.iter().chain(&g.output).chain(&g.value_info) {
        let shape = v.r#type.as_ref().and_then(|t| match &t.value {
            Some(type_proto::Value::TensorType(tt)) => tt.shape.as_ref(),
            _ => None,
        });
        if let (Some(n), Some(s)) = (v.name.as_deref(), shape) {
            ranks.insert(n.to_string(), s.dim.len() as i64);
        }
    }
    for n in &g.node {
        if matches!(op(n), "Gemm" | "Flatten")
            && let Some(o) = n.output.first()
        {
            ranks.entry(o.clone()).or_insert(2);
        }
    }
    ranks
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Attr, GraphBuilder};

    fn model(opset: i64, build: impl FnOnce(&mut GraphBuilder)) -> ModelProto {
        let mut b = GraphBuilder::new("t");
        build(&mut b);
        let mut m = b.into_model(&[]);
        m.opset_import[0].version = Some(opset);
        m
    }

    #[test]
    fn old_unsqueeze_gets_its_axes_as_an_input() {
        let mut m = model(11, |b| {
            b.input_f32("x", &[None, Some(4)]);
            b.node("Unsqueeze", "u", &["x"], &["y"], vec![("axes", Attr::Ints(vec![1]))]);
            b.node("Softmax", "s", &["y2"], &["p"], vec![]);
            b.node("Flatten", "f", &["y"], &["y2"], vec![]);
        });
        assert_eq!(raise(&mut m, 13).unwrap(), (11, 13));
        let g = m.graph.unwrap();
        assert_eq!(g.node[0].input.len(), 2);
        assert!(g.node[0].attribute.is_empty());
        assert_eq!(m.opset_import[0].version, Some(13));
    }

    #[test]
    fn softmax_over_an_inner_axis_is_refused() {
        let mut m = model(11, |b| {
            b.input_f32("x", &[None, Some(4), Some(5)]);
            b.node("Softmax", "s", &["x"], &["p"], vec![("axis", Attr::Int(1))]);
        });
        let e = raise(&mut m, 13).unwrap_err().to_string();
        assert!(e.contains("s (Softmax)") && e.contains("rank 3"), "{e}");
    }

    #[test]
    fn unknown_ops_are_refused_and_new_models_untouched() {
        let mut m = model(11, |b| {
            b.input_f32("x", &[None, Some(4)]);
            b.node("Mystery", "m", &["x"], &["y"], vec![]);
        });
        assert!(raise(&mut m, 13).unwrap_err().to_string().contains("Mystery"));
        let mut m = model(13, |b| b.input_f32("x", &[None, Some(4)]));
        assert_eq!(raise(&mut m, 13).unwrap(), (13, 13));
    }
}
