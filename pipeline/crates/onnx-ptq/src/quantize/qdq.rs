//! Writes the plan into the graph in ONNX Runtime's QDQ layout and naming:
//!
//! - weight `w` → int8 initializer `w_quantized` (+ `w_scale`, `w_zero_point`) → `DequantizeLinear`
//!   (`axis` when per channel) → `w_DequantizeLinear_Output`, read by the quantized nodes only;
//! - bias `b` → int32 `b_quantized` (scale input × weight, zero point 0) → `DequantizeLinear`;
//! - activation `t` → `QuantizeLinear` → `t_QuantizeLinear_Output` → `DequantizeLinear` →
//!   `t_DequantizeLinear_Output`, read by every consumer of `t`; a graph output keeps its name on the
//!   `DequantizeLinear` and the producer writes `t_QuantizeLinear_Input`;
//! - shape ops reuse their input's scale and zero point initializers;
//! - a Relu/Clip whose producer's QuantizeLinear already clamps to a range inside its bounds is removed.

use super::QuantizeError;
use super::graph::{Index, Names, attr, display_name, op, set_attr_float, set_attr_int};
use super::params::{Params, QuantTensor, qrange};
use super::plan::{Plan, Role};
use super::tensors::{f32_tensor, i32_tensor, q8_tensor};
use crate::proto::{GraphProto, NodeProto, TensorProto};
use std::collections::{BTreeMap, HashMap, HashSet};

/// What the rewrite did.
#[derive(Debug, Default)]
pub(crate) struct Rewritten {
    /// Quantized nodes per op type (removed clamps not counted).
    pub quantized_ops: BTreeMap<String, usize>,
    /// Relu/Clip nodes removed.
    pub removed_activations: Vec<String>,
}

fn dequantize(name: String, inputs: [&str; 3], output: String, axis: Option<usize>) -> NodeProto {
    let mut n = NodeProto {
        name: Some(name),
        op_type: Some("DequantizeLinear".into()),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output],
        ..Default::default()
    };
    if let Some(a) = axis {
        set_attr_int(&mut n, "axis", a as i64);
    }
    n
}

fn quantize(name: String, inputs: [&str; 3], output: String) -> NodeProto {
    NodeProto {
        name: Some(name),
        op_type: Some("QuantizeLinear".into()),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output],
        ..Default::default()
    }
}

struct Writer {
    names: Names,
    initializers: Vec<TensorProto>,
    head: Vec<NodeProto>,
    after: HashMap<usize, Vec<NodeProto>>,
}

impl Writer {
    /// Int8/uint8 initializer plus its scale and zero point, and the DequantizeLinear reading them;
    /// returns the DequantizeLinear's output.
    fn dequantized_constant(&mut self, t: &str, q: &QuantTensor) -> String {
        let qn = self.names.fresh(&format!("{t}_quantized"));
        let sn = self.names.fresh(&format!("{t}_scale"));
        let zn = self.names.fresh(&format!("{t}_zero_point"));
        let out = self.names.fresh(&format!("{t}_DequantizeLinear_Output"));
        let node = self.names.fresh(&format!("{t}_DequantizeLinear"));
        let qdims: Vec<i64> = if q.axis.is_some() { vec![q.scales.len() as i64] } else { vec![] };
        self.initializers.push(q8_tensor(&qn, &q.dims, &q.values, q.signed));
        self.initializers.push(f32_tensor(&sn, &qdims, &q.scales));
        self.initializers.push(q8_tensor(&zn, &qdims, &q.zero_points, q.signed));
        self.head.push(dequantize(node, [&qn, &sn, &zn], out.clone(), q.axis));
        out
    }
}

/// Rewrites `g` (as planned, unchanged since) into its QDQ form.
pub(crate) fn rewrite(g: &mut GraphProto, plan: &Plan, params: &Params) -> Result<Rewritten, QuantizeError> {
    let ix = Index::new(g);
    let mut done = Rewritten::default();
    let mut producer = ix.producer.clone();

    // Clamps whose job the producer's QuantizeLinear does: the producer writes the clamp's output.
    let mut removed: HashSet<usize> = HashSet::new();
    let mut vanished: HashSet<String> = HashSet::new();
    let (qmin, qmax) = qrange(params.signed, false);
    for c in &plan.clamps {
        let node = &g.node[c.node];
        let (x, y) = (node.input[0].clone(), node.output[0].clone());
        let Some(&p) = producer.get(&x) else { continue };
        let structural = plan.roles[p] == Role::Quantize
            && ix.consumers_of(&x) == [c.node]
            && !ix.outputs.contains(&x)
            && plan.range_tensor(&x) == y;
        let Some(a) = params.of(&y).filter(|_| params.owner.get(&y) == Some(&y)) else { continue };
        // The integer range Q can produce, in real units: inside [lo, hi] means Q clamps at least as hard.
        let (lo, hi) = ((qmin - a.zero_point) as f32 * a.scale, (qmax - a.zero_point) as f32 * a.scale);
        let tolerance = |b: f32| b.abs() * 1e-6;
        if structural && lo >= c.lo - tolerance(c.lo) && hi <= c.hi + tolerance(c.hi) {
            if let Some(slot) = g.node[p].output.iter_mut().find(|o| **o == x) {
                *slot = y.clone();
            }
            producer.insert(y, p);
            removed.insert(c.node);
            vanished.insert(x);
            done.removed_activations.push(display_name(&g.node[c.node], c.node));
        }
    }

    let mut w = Writer { names: Names::of(g), initializers: Vec::new(), head: Vec::new(), after: HashMap::new() };
    let quantized = |i: usize| plan.roles[i] == Role::Quantize && !removed.contains(&i);

    // Weights and constant operands: only quantized nodes read the int8 version; float nodes keep
    // the exact float initializer.
    for (t, q) in plan
        .weights
        .iter()
        .filter_map(|t| params.weights.get(t).map(|q| (t, q)))
        .chain(plan.consts.iter().filter_map(|t| params.consts.get(t).map(|q| (t, q))))
    {
        let readers: Vec<usize> = ix.consumers_of(t).iter().copied().filter(|&i| quantized(i)).collect();
        if readers.is_empty() {
            continue;
        }
        let out = w.dequantized_constant(t, q);
        for i in readers {
            g.node[i].input.iter_mut().filter(|s| *s == t).for_each(|s| *s = out.clone());
        }
    }

    // Biases: int32, one copy per reading node (its scale depends on that node's input).
    for (b, q) in plan.biases.iter().zip(&params.biases) {
        if !quantized(b.node) {
            continue;
        }
        let qn = w.names.fresh(&format!("{}_quantized", b.bias));
        let sn = w.names.fresh(&format!("{qn}_scale"));
        let zn = w.names.fresh(&format!("{qn}_zero_point"));
        let out = w.names.fresh(&format!("{}_DequantizeLinear_Output", b.bias));
        let node = w.names.fresh(&format!("{}_DequantizeLinear", b.bias));
        let per_channel = q.scales.len() > 1 || params.weights.get(&b.weight).is_some_and(|w| w.axis.is_some());
        let sdims: Vec<i64> = if per_channel { vec![q.scales.len() as i64] } else { vec![] };
        w.initializers.push(i32_tensor(&qn, &[q.values.len() as i64], &q.values));
        w.initializers.push(f32_tensor(&sn, &sdims, &q.scales));
        w.initializers.push(i32_tensor(&zn, &sdims, &vec![0; q.scales.len()]));
        w.head.push(dequantize(node, [&qn, &sn, &zn], out.clone(), per_channel.then_some(0)));
        let n = &mut g.node[b.node];
        n.input[b.slot] = out;
        if op(n) == "Gemm" && attr(n, "beta").is_some() {
            set_attr_float(n, "beta", 1.0);
        }
    }

    // Activations: scale and zero point initializers for tensors with their own parameters...
    let mut qparams: HashMap<String, (String, String)> = HashMap::new();
    for t in plan.activations.iter().filter(|t| !vanished.contains(*t)) {
        if params.owner.get(t) != Some(t) {
            continue;
        }
        let Some(a) = params.activations.get(t) else { continue };
        let sn = w.names.fresh(&format!("{t}_scale"));
        let zn = w.names.fresh(&format!("{t}_zero_point"));
        w.initializers.push(f32_tensor(&sn, &[], &[a.scale]));
        w.initializers.push(q8_tensor(&zn, &[], &[a.zero_point], params.signed));
        qparams.insert(t.clone(), (sn, zn));
    }
    // ... then a QuantizeLinear/DequantizeLinear pair on each, right after its producer.
    for t in plan.activations.iter().filter(|t| !vanished.contains(*t)) {
        let Some((sn, zn)) = params.owner.get(t).and_then(|o| qparams.get(o)).cloned() else { continue };
        let q_out = w.names.fresh(&format!("{t}_QuantizeLinear_Output"));
        let q_node = w.names.fresh(&format!("{t}_QuantizeLinear"));
        let dq_node = w.names.fresh(&format!("{t}_DequantizeLinear"));
        let source = producer.get(t).copied();
        let (q_in, dq_out) = if ix.outputs.contains(t) {
            let q_in = w.names.fresh(&format!("{t}_QuantizeLinear_Input"));
            if let Some(p) = source
                && let Some(slot) = g.node[p].output.iter_mut().find(|o| *o == t)
            {
                *slot = q_in.clone();
            }
            (q_in, t.clone())
        } else {
            let dq_out = w.names.fresh(&format!("{t}_DequantizeLinear_Output"));
            for &c in ix.consumers_of(t) {
                if !removed.contains(&c) {
                    g.node[c].input.iter_mut().filter(|s| *s == t).for_each(|s| *s = dq_out.clone());
                }
            }
            (t.clone(), dq_out)
        };
        let pair =
            [quantize(q_node, [&q_in, &sn, &zn], q_out.clone()), dequantize(dq_node, [&q_out, &sn, &zn], dq_out, None)];
        match source {
            Some(p) => w.after.entry(p).or_default().extend(pair),
            None => w.head.extend(pair),
        }
    }

    for (i, n) in g.node.iter().enumerate() {
        if quantized(i) {
            *done.quantized_ops.entry(op(n).to_string()).or_default() += 1;
        }
    }
    let mut nodes = std::mem::take(&mut w.head);
    for (i, n) in std::mem::take(&mut g.node).into_iter().enumerate() {
        if removed.contains(&i) {
            continue;
        }
        nodes.push(n);
        if let Some(extra) = w.after.remove(&i) {
            nodes.extend(extra);
        }
    }
    g.node = nodes;
    g.initializer.extend(std::mem::take(&mut w.initializers));
    super::fold::drop_unused_initializers(g);
    let live: HashSet<String> = g.node.iter().flat_map(|n| n.input.iter().chain(&n.output).cloned()).collect();
    g.value_info.retain(|v| v.name.as_ref().is_some_and(|n| live.contains(n)));
    Ok(done)
}
