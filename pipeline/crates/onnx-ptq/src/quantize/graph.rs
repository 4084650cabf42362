//! Graph plumbing the protobuf types do not give: who produces and who consumes each tensor, a
//! topological order, constants as initializers, attribute access, fresh names and element types.

use super::QuantizeError;
use crate::proto::attribute_proto::AttributeType;
use crate::proto::tensor_proto::DataType;
use crate::proto::{AttributeProto, GraphProto, NodeProto, TensorProto, type_proto};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};

/// `DataType::Float` as stored in the protobuf.
pub(crate) const FLOAT: i32 = DataType::Float as i32;

/// The op type of a node.
pub(crate) fn op(n: &NodeProto) -> &str {
    n.op_type.as_deref().unwrap_or("")
}

/// Whether a node belongs to the default ONNX domain.
pub(crate) fn is_default_domain(n: &NodeProto) -> bool {
    matches!(n.domain.as_deref(), None | Some("") | Some("ai.onnx"))
}

/// A name for a node in reports: its own, or `<op_type>#index`.
pub(crate) fn display_name(n: &NodeProto, index: usize) -> String {
    match n.name.as_deref() {
        Some(s) if !s.is_empty() => s.to_string(),
        _ => format!("{}#{index}", op(n)),
    }
}

/// An attribute of a node.
pub(crate) fn attr<'a>(n: &'a NodeProto, name: &str) -> Option<&'a AttributeProto> {
    n.attribute.iter().find(|a| a.name.as_deref() == Some(name))
}

/// An integer attribute.
pub(crate) fn attr_int(n: &NodeProto, name: &str) -> Option<i64> {
    attr(n, name).and_then(|a| a.i)
}

/// A float attribute.
pub(crate) fn attr_float(n: &NodeProto, name: &str) -> Option<f32> {
    attr(n, name).and_then(|a| a.f)
}

/// Removes an attribute, returning it.
pub(crate) fn take_attr(n: &mut NodeProto, name: &str) -> Option<AttributeProto> {
    let i = n.attribute.iter().position(|a| a.name.as_deref() == Some(name))?;
    Some(n.attribute.remove(i))
}

/// Sets (or adds) an integer attribute.
pub(crate) fn set_attr_int(n: &mut NodeProto, name: &str, value: i64) {
    take_attr(n, name);
    n.attribute.push(AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Int as i32),
        i: Some(value),
        ..Default::default()
    });
}

/// Sets (or adds) a float attribute.
pub(crate) fn set_attr_float(n: &mut NodeProto, name: &str, value: f32) {
    take_attr(n, name);
    n.attribute.push(AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Float as i32),
        f: Some(value),
        ..Default::default()
    });
}

/// Producers, consumers, initializers, inputs and outputs of a graph, by tensor name.
#[derive(Debug, Default)]
pub(crate) struct Index {
    /// Node producing each tensor.
    pub producer: HashMap<String, usize>,
    /// Nodes reading each tensor (a node reading it twice appears twice).
    pub consumers: HashMap<String, Vec<usize>>,
    /// Initializer position of each initializer name.
    pub initializers: HashMap<String, usize>,
    /// Graph inputs that are not initializers.
    pub inputs: HashSet<String>,
    /// Graph outputs.
    pub outputs: HashSet<String>,
}

impl Index {
    /// Indexes a graph as it is now (rebuild it after changing the graph).
    pub fn new(g: &GraphProto) -> Self {
        let mut ix = Index::default();
        for (i, t) in g.initializer.iter().enumerate() {
            if let Some(n) = &t.name {
                ix.initializers.insert(n.clone(), i);
            }
        }
        for v in &g.input {
            if let Some(n) = &v.name
                && !ix.initializers.contains_key(n)
            {
                ix.inputs.insert(n.clone());
            }
        }
        ix.outputs = g.output.iter().filter_map(|v| v.name.clone()).collect();
        for (i, node) in g.node.iter().enumerate() {
            for o in node.output.iter().filter(|o| !o.is_empty()) {
                ix.producer.insert(o.clone(), i);
            }
            for t in node.input.iter().filter(|t| !t.is_empty()) {
                ix.consumers.entry(t.clone()).or_default().push(i);
            }
        }
        ix
    }

    /// Whether a tensor is an initializer.
    pub fn is_initializer(&self, t: &str) -> bool {
        self.initializers.contains_key(t)
    }

    /// Nodes reading a tensor.
    pub fn consumers_of(&self, t: &str) -> &[usize] {
        self.consumers.get(t).map_or(&[], |v| v.as_slice())
    }

    /// The initializer of this name, if it is one.
    pub fn initializer<'g>(&self, g: &'g GraphProto, t: &str) -> Option<&'g TensorProto> {
        self.initializers.get(t).map(|&i| &g.initializer[i])
    }
}

/// Hands out tensor and node names that do not clash with any name already in the graph.
#[derive(Debug, Default)]
pub(crate) struct Names {
    taken: HashSet<String>,
}

impl Names {
    /// Every tensor, initializer and node name of the graph.
    pub fn of(g: &GraphProto) -> Self {
        let mut taken: HashSet<String> = HashSet::new();
        taken.extend(g.initializer.iter().filter_map(|t| t.name.clone()));
        taken.extend(g.input.iter().chain(&g.output).chain(&g.value_info).filter_map(|v| v.name.clone()));
        for n in &g.node {
            taken.extend(n.input.iter().chain(&n.output).cloned());
            taken.extend(n.name.clone());
        }
        Names { taken }
    }

    /// `base` if free, else `base_1`, `base_2`, ... — reserved from now on.
    pub fn fresh(&mut self, base: &str) -> String {
        let mut name = base.to_string();
        let mut i = 1;
        while self.taken.contains(&name) {
            name = format!("{base}_{i}");
            i += 1;
        }
        self.taken.insert(name.clone());
        name
    }
}

/// Replaces `Constant` nodes by initializers, so constants look the same whatever wrote the model.
pub(crate) fn constants_to_initializers(g: &mut GraphProto) {
    let mut kept = Vec::with_capacity(g.node.len());
    for node in std::mem::take(&mut g.node) {
        if op(&node) == "Constant"
            && is_default_domain(&node)
            && node.output.len() == 1
            && let Some(t) = constant_value(&node)
        {
            g.initializer.push(t);
            continue;
        }
        kept.push(node);
    }
    g.node = kept;
}

fn constant_value(node: &NodeProto) -> Option<TensorProto> {
    let out = node.output.first()?.clone();
    let a = node.attribute.first()?;
    let mut t = match a.name.as_deref()? {
        "value" => a.t.clone()?,
        "value_float" => super::tensors::f32_tensor(&out, &[], &[a.f?]),
        "value_floats" => super::tensors::f32_tensor(&out, &[a.floats.len() as i64], &a.floats),
        "value_int" => super::tensors::i64_tensor(&out, &[], &[a.i?]),
        "value_ints" => super::tensors::i64_tensor(&out, &[a.ints.len() as i64], &a.ints),
        _ => return None,
    };
    t.name = Some(out);
    Some(t)
}

/// Puts the nodes in topological order (keeping the given order where it already is one) and checks
/// that every input is produced, an initializer or a graph input, and that no tensor has two producers.
pub(crate) fn topo_sort(g: &mut GraphProto) -> Result<(), QuantizeError> {
    let mut producer: HashMap<&str, usize> = HashMap::new();
    for (i, n) in g.node.iter().enumerate() {
        for o in n.output.iter().filter(|o| !o.is_empty()) {
            if producer.insert(o, i).is_some() {
                return Err(QuantizeError::InvalidModel(format!("tensor '{o}' is produced by two nodes")));
            }
        }
    }
    let external: HashSet<&str> = g
        .initializer
        .iter()
        .filter_map(|t| t.name.as_deref())
        .chain(g.input.iter().filter_map(|v| v.name.as_deref()))
        .collect();
    let mut indegree = vec![0usize; g.node.len()];
    let mut users: Vec<Vec<usize>> = vec![Vec::new(); g.node.len()];
    for (i, n) in g.node.iter().enumerate() {
        for t in n.input.iter().filter(|t| !t.is_empty()) {
            match producer.get(t.as_str()) {
                Some(&p) => {
                    indegree[i] += 1;
                    users[p].push(i);
                }
                None if external.contains(t.as_str()) => {}
                None => {
                    return Err(QuantizeError::InvalidModel(format!(
                        "node {} reads tensor '{t}', which no node, initializer or graph input provides",
                        display_name(n, i)
                    )));
                }
            }
        }
    }
    let mut ready: BinaryHeap<Reverse<usize>> = (0..g.node.len()).filter(|&i| indegree[i] == 0).map(Reverse).collect();
    let mut order = Vec::with_capacity(g.node.len());
    while let Some(Reverse(i)) = ready.pop() {
        order.push(i);
        for &u in &users[i] {
            indegree[u] -= 1;
            if indegree[u] == 0 {
                ready.push(Reverse(u));
            }
        }
    }
    if order.len() != g.node.len() {
        return Err(QuantizeError::InvalidModel("the graph has a cycle".into()));
    }
    if order.iter().enumerate().any(|(k, &i)| k != i) {
        let mut nodes: Vec<Option<NodeProto>> = std::mem::take(&mut g.node).into_iter().map(Some).collect();
        g.node = order.into_iter().filter_map(|i| nodes[i].take()).collect();
    }
    Ok(())
}

/// Element type of every tensor whose type can be known: declared (inputs, outputs, value_info),
/// initializers, and node outputs by the ops' type rules. Tensors missing from the map are not quantized.
pub(crate) fn elem_types(g: &GraphProto) -> HashMap<String, i32> {
    let mut types: HashMap<String, i32> = HashMap::new();
    for t in &g.initializer {
        if let (Some(n), Some(d)) = (&t.name, t.data_type) {
            types.insert(n.clone(), d);
        }
    }
    for v in g.input.iter().chain(&g.output).chain(&g.value_info) {
        let elem = v.r#type.as_ref().and_then(|t| match &t.value {
            Some(type_proto::Value::TensorType(tt)) => tt.elem_type,
            _ => None,
        });
        if let (Some(n), Some(e)) = (&v.name, elem) {
            types.entry(n.clone()).or_insert(e);
        }
    }
    let int64 = DataType::Int64 as i32;
    let boolean = DataType::Bool as i32;
    for n in &g.node {
        let first = n.input.iter().find_map(|t| types.get(t).copied());
        for (k, o) in n.output.iter().enumerate().filter(|(_, o)| !o.is_empty()) {
            if types.contains_key(o) {
                continue;
            }
            let ty = match op(n) {
                _ if !is_default_domain(n) => match op(n) {
                    "DequantizeLinear" => Some(FLOAT),
                    _ => None,
                },
                "Shape" | "Size" | "NonZero" | "ArgMax" | "ArgMin" => Some(int64),
                "TopK" if k == 1 => Some(int64),
                "MaxPool" if k == 1 => Some(int64),
                "Cast" => attr_int(n, "to").map(|t| t as i32),
                "ConstantOfShape" => Some(attr(n, "value").and_then(|a| a.t.as_ref()?.data_type).unwrap_or(FLOAT)),
                "Equal" | "Less" | "Greater" | "LessOrEqual" | "GreaterOrEqual" | "Not" | "And" | "Or" | "Xor"
                | "IsNaN" | "IsInf" => Some(boolean),
                "QuantizeLinear" => {
                    Some(n.input.get(2).and_then(|z| types.get(z).copied()).unwrap_or(DataType::Uint8 as i32))
                }
                "DequantizeLinear" => Some(FLOAT),
                "Where" => n.input.get(1).and_then(|t| types.get(t).copied()),
                _ => first,
            };
            if let Some(ty) = ty {
                types.insert(o.clone(), ty);
            }
        }
    }
    types
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Attr, GraphBuilder};

    fn graph(build: impl FnOnce(&mut GraphBuilder)) -> GraphProto {
        let mut b = GraphBuilder::new("t");
        build(&mut b);
        b.into_model(&[]).graph.unwrap()
    }

    #[test]
    fn nodes_out_of_order_are_sorted_and_dangling_inputs_named() {
        let mut g = graph(|b| {
            b.input_f32("x", &[None, Some(2)]);
            b.node("Relu", "second", &["a"], &["y"], vec![]);
            b.node("Relu", "first", &["x"], &["a"], vec![]);
        });
        topo_sort(&mut g).unwrap();
        assert_eq!(g.node.iter().map(|n| n.name.clone().unwrap()).collect::<Vec<_>>(), ["first", "second"]);

        let mut bad = graph(|b| {
            b.input_f32("x", &[None, Some(2)]);
            b.node("Relu", "r", &["missing"], &["y"], vec![]);
        });
        let e = topo_sort(&mut bad).unwrap_err().to_string();
        assert!(e.contains("'missing'") && e.contains("node r"), "{e}");
    }

    #[test]
    fn types_follow_shape_computations() {
        let g = graph(|b| {
            b.input_f32("x", &[None, Some(2)]);
            b.node("Shape", "s", &["x"], &["shape"], vec![]);
            b.node("Cast", "c", &["shape"], &["shape_f"], vec![("to", Attr::Int(1))]);
            b.node("Relu", "r", &["x"], &["y"], vec![]);
        });
        let t = elem_types(&g);
        assert_eq!(t["shape"], DataType::Int64 as i32);
        assert_eq!(t["shape_f"], FLOAT);
        assert_eq!(t["y"], FLOAT);
    }

    #[test]
    fn constants_become_initializers_and_names_stay_unique() {
        let mut g = graph(|b| {
            b.input_f32("x", &[None, Some(2)]);
            b.node("Constant", "k", &[], &["two"], vec![("value_float", Attr::Float(2.0))]);
            b.node("Mul", "m", &["x", "two"], &["y"], vec![]);
        });
        constants_to_initializers(&mut g);
        assert_eq!(g.node.len(), 1);
        assert_eq!(super::super::tensors::read_f32(&g.initializer[0]).unwrap(), vec![2.0]);
        let mut names = Names::of(&g);
        assert_eq!(names.fresh("y"), "y_1");
        assert_eq!(names.fresh("y"), "y_2");
        assert_eq!(names.fresh("z"), "z");
    }
}
