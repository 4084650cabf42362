//! Which tensors get a QuantizeLinear/DequantizeLinear pair, which initializers become int8 weights
//! or int32 biases, and which nodes stay float — the conventions of ONNX Runtime's QDQ quantizer
//! (`onnxruntime/quantization/qdq_quantizer.py` and `operators/*.py`), which its graph optimizer then
//! fuses into integer kernels:
//!
//! - `Conv`: input and output quantized; weight int8 per output channel (axis 0, also for grouped and
//!   depthwise convolutions); bias int32 with scale = input scale × weight scale, zero point 0.
//! - `Gemm`: likewise; weight axis 0 with `transB = 1`, 1 without; `beta` is folded into the bias.
//! - `MatMul`: both operands and the output quantized; a constant right operand `[.., K, N]` is a weight
//!   quantized per column (last axis), a constant left operand per tensor.
//! - `Add`, `Mul`, `Concat`, `GlobalAveragePool`, `Sigmoid`, `LeakyRelu`: every input and the output
//!   get their own parameters (constant operands are quantized with the activation type).
//! - `Softmax`: input calibrated, output range fixed to `[0, 1]`.
//! - `Relu`, `Clip` after a quantized tensor: the output is calibrated and its range is also used for
//!   the input; the node is removed when the QuantizeLinear after its producer clamps the same way.
//! - `Reshape`, `Flatten`, `Squeeze`, `Unsqueeze`, `Transpose`, `MaxPool`, `AveragePool`, `Slice`,
//!   `Resize`, `Identity`: the output shares the input's parameters (so the runtime can drop the pair
//!   and move int8 data), and only when the input is quantized.
//! - Anything else that touches float data stays float and is reported.

use super::graph::{FLOAT, Index, attr_int, display_name, is_default_domain, op};
use super::tensors::{numel, read_f32};
use super::{FloatNode, FloatReason, QuantizeConfig};
use crate::proto::GraphProto;
use crate::proto::tensor_proto::DataType;
use std::collections::{HashMap, HashSet};

/// What a node becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// Takes part in quantization.
    Quantize,
    /// Stays float, reported.
    Float(FloatReason),
    /// Touches no float data (shape arithmetic): stays as it is, not worth reporting.
    Neutral,
}

/// Where an activation tensor's parameters come from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ActSource {
    /// From its calibrated range (or that of its range alias).
    Calibrated,
    /// The same scale and zero point as another tensor.
    Shared(String),
    /// A range known without calibration (softmax output).
    Fixed(f32, f32),
}

/// A bias to store as int32.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct BiasSpec {
    /// Node reading it.
    pub node: usize,
    /// Its input slot.
    pub slot: usize,
    /// Float initializer.
    pub bias: String,
    /// Activation input whose scale enters the bias scale.
    pub input: String,
    /// Weight whose scale(s) enter the bias scale.
    pub weight: String,
    /// `Gemm` `beta`, folded into the bias values.
    pub beta: f32,
    /// Output channels (length of the int32 bias).
    pub channels: usize,
}

/// A Relu/Clip that may be removed once scales are known.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ClampSpec {
    /// The Relu or Clip node.
    pub node: usize,
    /// Its lower bound (−∞ when none).
    pub lo: f32,
    /// Its upper bound (+∞ when none).
    pub hi: f32,
}

/// The quantization plan of a graph.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    /// Role of each node, by index.
    pub roles: Vec<Role>,
    /// Activation tensors to quantize, in marking order.
    pub activations: Vec<String>,
    /// Where each activation's parameters come from.
    pub act_source: HashMap<String, ActSource>,
    /// Weight initializers, in marking order.
    pub weights: Vec<String>,
    /// Per-channel axis of each weight (`None`: one scale for the tensor).
    pub weight_axis: HashMap<String, Option<usize>>,
    /// Constant operands quantized per tensor with the activation type.
    pub consts: Vec<String>,
    /// Biases to store as int32.
    pub biases: Vec<BiasSpec>,
    /// Relu/Clip nodes that may be removed.
    pub clamps: Vec<ClampSpec>,
    /// Tensors whose range is taken from another tensor (a Relu/Clip input takes its output's).
    pub range_alias: HashMap<String, String>,
}

/// How an op is quantized.
enum Kind {
    Conv,
    Gemm,
    MatMul,
    /// Every float input and the outputs get their own parameters.
    OwnParams,
    Softmax,
    Clamp,
    /// The output shares the input's parameters.
    SharedParams,
    /// Reads float data only for its metadata.
    Metadata,
    BatchNorm,
    Unknown,
}

fn kind(op: &str) -> Kind {
    match op {
        "Conv" => Kind::Conv,
        "Gemm" => Kind::Gemm,
        "MatMul" => Kind::MatMul,
        "Add" | "Mul" | "Concat" | "GlobalAveragePool" | "Sigmoid" | "LeakyRelu" => Kind::OwnParams,
        "Softmax" => Kind::Softmax,
        "Relu" | "Clip" => Kind::Clamp,
        "Reshape" | "Flatten" | "Squeeze" | "Unsqueeze" | "Transpose" | "MaxPool" | "AveragePool" | "Slice"
        | "Resize" | "Identity" => Kind::SharedParams,
        "Shape" | "Size" => Kind::Metadata,
        "BatchNormalization" => Kind::BatchNorm,
        _ => Kind::Unknown,
    }
}

/// Ops of the float pre-processing: element-wise arithmetic on inputs and constants...
const PREFIX_ARITHMETIC: &[&str] = &["Mul", "Add", "Sub", "Div"];
/// ... and shape-only ops on its results.
const PREFIX_SHAPE: &[&str] = &["Unsqueeze", "Reshape", "Flatten", "Squeeze", "Transpose", "Identity"];

/// Nodes of the float pre-processing at the graph inputs (see the documentation of the quantize
/// module): a contiguous region grown from the graph inputs through element-wise arithmetic with
/// constant (or input) operands and the shape-only ops applied to its results.
fn float_prefix(g: &GraphProto, ix: &Index) -> HashSet<usize> {
    let mut tensors: HashSet<&str> = ix.inputs.iter().map(String::as_str).collect();
    let mut nodes = HashSet::new();
    for (i, n) in g.node.iter().enumerate() {
        if !is_default_domain(n) {
            continue;
        }
        let from_prefix = |t: &String| tensors.contains(t.as_str());
        let constant = |t: &String| t.is_empty() || ix.is_initializer(t);
        let member = if PREFIX_ARITHMETIC.contains(&op(n)) {
            n.input.iter().any(from_prefix) && n.input.iter().all(|t| from_prefix(t) || constant(t))
        } else if PREFIX_SHAPE.contains(&op(n)) {
            n.input.first().is_some_and(from_prefix) && n.input.iter().skip(1).all(constant)
        } else {
            false
        };
        if member {
            nodes.insert(i);
            tensors.extend(n.output.iter().map(String::as_str));
        }
    }
    nodes
}

struct Planner<'g> {
    g: &'g GraphProto,
    ix: Index,
    types: &'g HashMap<String, i32>,
    per_channel: bool,
    plan: Plan,
}

impl Planner<'_> {
    fn is_f32(&self, t: &str) -> bool {
        self.types.get(t) == Some(&FLOAT)
    }

    fn is_marked(&self, t: &str) -> bool {
        self.plan.act_source.contains_key(t)
    }

    /// An input or output to quantize: activations get calibrated parameters, constants are quantized
    /// per tensor with the activation type, unless already a weight.
    fn mark(&mut self, t: &str) {
        if t.is_empty() || !self.is_f32(t) {
            return;
        }
        if self.ix.is_initializer(t) {
            if !self.plan.weight_axis.contains_key(t) && !self.plan.consts.iter().any(|c| c == t) {
                self.plan.consts.push(t.to_string());
            }
        } else if !self.is_marked(t) {
            self.plan.activations.push(t.to_string());
            self.plan.act_source.insert(t.to_string(), ActSource::Calibrated);
        }
    }

    fn mark_as(&mut self, t: &str, source: ActSource) {
        if t.is_empty() || !self.is_f32(t) || self.ix.is_initializer(t) {
            return;
        }
        if !self.is_marked(t) {
            self.plan.activations.push(t.to_string());
        }
        self.plan.act_source.insert(t.to_string(), source);
    }

    /// A constant weight; consumers asking for different axes get one scale per tensor.
    fn weight(&mut self, t: &str, axis: Option<usize>) {
        let axis = if self.per_channel { axis } else { None };
        self.plan.consts.retain(|c| c != t);
        match self.plan.weight_axis.get(t) {
            Some(a) if *a != axis => {
                self.plan.weight_axis.insert(t.to_string(), None);
            }
            Some(_) => {}
            None => {
                self.plan.weights.push(t.to_string());
                self.plan.weight_axis.insert(t.to_string(), axis);
            }
        }
    }

    fn dims(&self, t: &str) -> Option<&[i64]> {
        self.ix.initializer(self.g, t).map(|i| i.dims.as_slice())
    }

    /// A float32 constant.
    fn is_f32_constant(&self, t: &str) -> bool {
        self.ix.is_initializer(t) && self.is_f32(t)
    }

    /// Plans a bias of `channels` values for node `i`, if it is a float constant of a usable shape.
    fn bias(&mut self, i: usize, slot: usize, input: &str, weight: &str, channels: usize, beta: f32) {
        let node = &self.g.node[i];
        let Some(bias) = node.input.get(slot).filter(|b| !b.is_empty()) else { return };
        if !self.is_f32_constant(bias) || !self.is_f32_constant(weight) {
            return;
        }
        let n = self.dims(bias).and_then(numel);
        if n == Some(channels) || n == Some(1) {
            self.plan.biases.push(BiasSpec {
                node: i,
                slot,
                bias: bias.clone(),
                input: input.to_string(),
                weight: weight.to_string(),
                beta,
                channels,
            });
        }
    }

    fn role(&self, i: usize, cfg: &QuantizeConfig, prefix: &HashSet<usize>) -> Role {
        let n = &self.g.node[i];
        let floating = [DataType::Float16, DataType::Bfloat16, DataType::Double].map(|d| d as i32);
        let tensors = || n.input.iter().chain(&n.output).filter(|t| !t.is_empty());
        let touches_f32 = tensors().any(|t| self.is_f32(t));
        let touches_other_float = tensors().any(|t| self.types.get(t).is_some_and(|ty| floating.contains(ty)));
        let excluded = n.name.as_ref().is_some_and(|name| cfg.exclude_nodes.contains(name))
            || cfg.exclude_op_types.iter().any(|o| o == op(n));
        if excluded {
            Role::Float(FloatReason::Excluded)
        } else if prefix.contains(&i) {
            Role::Float(FloatReason::FloatPrefix)
        } else if !touches_f32 && !touches_other_float {
            Role::Neutral
        } else if touches_other_float {
            Role::Float(FloatReason::NotFloat32)
        } else if !is_default_domain(n) {
            Role::Float(FloatReason::UnsupportedOp)
        } else {
            Role::Quantize
        }
    }

    /// Marks what node `i` quantizes; returns its final role.
    fn node(&mut self, i: usize, role: Role) -> Role {
        if role != Role::Quantize {
            return role;
        }
        let g = self.g;
        let n = &g.node[i];
        let input = |k: usize| n.input.get(k).map(String::as_str).unwrap_or("");
        match kind(op(n)) {
            Kind::Conv => {
                self.mark(input(0));
                let w = input(1);
                if self.is_f32_constant(w) {
                    self.weight(w, Some(0));
                    let channels = self.dims(w).and_then(|d| d.first()).map_or(0, |&c| c as usize);
                    self.bias(i, 2, input(0), w, channels, 1.0);
                } else {
                    self.mark(w);
                }
                n.output.first().inspect(|o| self.mark(o));
            }
            Kind::Gemm => {
                self.mark(input(0));
                let w = input(1);
                let trans_b = attr_int(n, "transB").unwrap_or(0) != 0;
                if self.is_f32_constant(w) && self.dims(w).is_some_and(|d| d.len() == 2) {
                    let axis = if trans_b { 0 } else { 1 };
                    self.weight(w, Some(axis));
                    let channels = self.dims(w).map_or(0, |d| d[axis] as usize);
                    let beta = super::graph::attr_float(n, "beta").unwrap_or(1.0);
                    self.bias(i, 2, input(0), w, channels, beta);
                } else {
                    self.mark(w);
                }
                n.output.first().inspect(|o| self.mark(o));
            }
            Kind::MatMul => {
                for (k, t) in n.input.iter().enumerate().take(2) {
                    if self.is_f32_constant(t) {
                        let rank = self.dims(t).map_or(0, |d| d.len());
                        self.weight(t, (k == 1 && rank >= 2).then(|| rank - 1));
                    } else {
                        self.mark(t);
                    }
                }
                n.output.first().inspect(|o| self.mark(o));
            }
            Kind::OwnParams => {
                for t in n.input.iter().chain(&n.output) {
                    self.mark(t);
                }
            }
            Kind::Softmax => {
                self.mark(input(0));
                n.output.first().inspect(|o| self.mark_as(o, ActSource::Fixed(0.0, 1.0)));
            }
            Kind::Clamp => {
                let x = input(0);
                if !self.is_marked(x) {
                    return Role::Float(FloatReason::InputNotQuantized);
                }
                let Some(y) = n.output.first() else { return Role::Neutral };
                self.mark(y);
                // ONNX Runtime's adjust_tensor_ranges: the input takes the output's range when the
                // clamp is its only reader, so the producer's QuantizeLinear already clamps.
                if self.ix.consumers_of(x) == [i] && self.plan.act_source.get(x) == Some(&ActSource::Calibrated) {
                    self.plan.range_alias.insert(x.to_string(), y.clone());
                }
                if let Some((lo, hi)) = self.clamp_bounds(i) {
                    self.plan.clamps.push(ClampSpec { node: i, lo, hi });
                }
            }
            Kind::SharedParams => {
                let x = input(0);
                if !self.is_marked(x) {
                    return Role::Float(FloatReason::InputNotQuantized);
                }
                n.output.first().inspect(|o| self.mark_as(o, ActSource::Shared(x.to_string())));
            }
            Kind::Metadata => return Role::Neutral,
            Kind::BatchNorm => return Role::Float(FloatReason::BatchNormNotFolded),
            Kind::Unknown => return Role::Float(FloatReason::UnsupportedOp),
        }
        Role::Quantize
    }

    /// Bounds of a Relu (0, ∞) or Clip (its constant min/max); `None` when not readable constants,
    /// which only means the clamp is kept.
    fn clamp_bounds(&self, i: usize) -> Option<(f32, f32)> {
        let n = &self.g.node[i];
        if op(n) == "Relu" {
            return Some((0.0, f32::INFINITY));
        }
        let mut bounds = [f32::NEG_INFINITY, f32::INFINITY];
        for (k, b) in bounds.iter_mut().enumerate() {
            match n.input.get(k + 1).filter(|t| !t.is_empty()) {
                None => {}
                Some(t) => match self.ix.initializer(self.g, t) {
                    Some(init) if self.is_f32(t) => match read_f32(init).ok()?.as_slice() {
                        [v] => *b = *v,
                        _ => return None,
                    },
                    _ => return None,
                },
            }
        }
        Some((bounds[0], bounds[1]))
    }
}

/// Plans the quantization of a graph (topologically sorted, constants as initializers).
pub(crate) fn plan(g: &GraphProto, types: &HashMap<String, i32>, cfg: &QuantizeConfig) -> Plan {
    let ix = Index::new(g);
    let prefix = if cfg.float_prefix { float_prefix(g, &ix) } else { HashSet::new() };
    let mut p = Planner { g, ix, types, per_channel: cfg.per_channel, plan: Plan::default() };
    for i in 0..g.node.len() {
        let role = p.role(i, cfg, &prefix);
        let role = p.node(i, role);
        p.plan.roles.push(role);
    }
    p.plan
}

impl Plan {
    /// Nodes left float, with their reason.
    pub fn float_nodes(&self, g: &GraphProto) -> Vec<FloatNode> {
        self.roles
            .iter()
            .enumerate()
            .filter_map(|(i, r)| match r {
                Role::Float(reason) => Some(FloatNode {
                    name: display_name(&g.node[i], i),
                    op_type: op(&g.node[i]).to_string(),
                    reason: *reason,
                }),
                _ => None,
            })
            .collect()
    }

    /// The tensor whose calibrated range an activation uses.
    pub fn range_tensor<'a>(&'a self, t: &'a str) -> &'a str {
        self.range_alias.get(t).map_or(t, String::as_str)
    }

    /// Tensors calibration must observe, each once, in marking order.
    pub fn calibrated_tensors(&self) -> Vec<String> {
        let mut seen = HashSet::new();
        self.activations
            .iter()
            .filter(|t| self.act_source.get(*t) == Some(&ActSource::Calibrated))
            .map(|t| self.range_tensor(t))
            .filter(|t| seen.insert(*t))
            .map(str::to_string)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Attr, GraphBuilder};

    fn planned(cfg: &QuantizeConfig, build: impl FnOnce(&mut GraphBuilder)) -> (GraphProto, Plan) {
        let mut b = GraphBuilder::new("t");
        build(&mut b);
        let g = b.into_model(&[]).graph.unwrap();
        let types = super::super::graph::elem_types(&g);
        let p = plan(&g, &types, cfg);
        (g, p)
    }

    #[test]
    fn input_scaling_stays_float_and_quantization_starts_after_it() {
        let (_, p) = planned(&QuantizeConfig::default(), |b| {
            b.input_f32("x", &[None, Some(4)]);
            b.init_f32("k", &[], &[1e-3]);
            b.init_f32("w", &[3, 4], &[0.5; 12]);
            b.node("Mul", "scale", &["x", "k"], &["xs"], vec![]);
            b.node("Gemm", "fc", &["xs", "w"], &["y"], vec![("transB", Attr::Int(1))]);
            b.node("Relu", "relu", &["y"], &["z"], vec![]);
            b.output_f32("z", &[None, Some(3)]);
        });
        assert_eq!(p.roles[0], Role::Float(FloatReason::FloatPrefix));
        assert_eq!(p.activations, ["xs", "y", "z"]);
        assert!(!p.act_source.contains_key("x"));
        assert_eq!(p.weight_axis["w"], Some(0));
        assert_eq!(p.range_tensor("y"), "z");
        assert_eq!(p.calibrated_tensors(), ["xs", "z"]);
        assert_eq!(p.clamps.len(), 1);
    }

    #[test]
    fn shape_ops_share_parameters_only_after_quantized_tensors() {
        let (_, p) = planned(&QuantizeConfig { float_prefix: false, ..Default::default() }, |b| {
            b.input_f32("x", &[None, Some(4)]);
            b.node("Erf", "odd", &["x"], &["e"], vec![]);
            b.node("Flatten", "f1", &["e"], &["e1"], vec![]);
            b.node("Sigmoid", "s", &["e1"], &["s1"], vec![]);
            b.node("Flatten", "f2", &["s1"], &["s2"], vec![]);
        });
        assert_eq!(p.roles[0], Role::Float(FloatReason::UnsupportedOp));
        assert_eq!(p.roles[1], Role::Float(FloatReason::InputNotQuantized));
        assert_eq!(p.act_source["s2"], ActSource::Shared("s1".into()));
    }
}
