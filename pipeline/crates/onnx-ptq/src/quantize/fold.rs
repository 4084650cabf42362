//! BatchNormalization folded into the Conv before it: `y = γ (conv(x) − μ) / √(σ² + ε) + β` is a conv
//! with weights scaled per output channel and a new bias. Quantizing the folded conv gives one integer
//! kernel and one set of per-channel weight scales, where quantizing the two ops apart would round the
//! conv output before the scaling.

use super::QuantizeError;
use super::graph::{Index, Names, attr_float, attr_int, display_name, is_default_domain, op};
use super::tensors::{f32_tensor, read_f32};
use crate::proto::GraphProto;
use std::collections::HashSet;

/// ONNX's default BatchNormalization epsilon.
const DEFAULT_EPSILON: f32 = 1e-5;

/// Folds every BatchNormalization that directly follows a Conv with constant weights (and whose conv
/// output nothing else reads) into that Conv; returns the names of the folded BatchNormalization nodes.
/// Initializers shared with other nodes are copied, never changed under them. CPU work only.
pub fn fold_batch_norms(graph: &mut GraphProto) -> Result<Vec<String>, QuantizeError> {
    let mut folded = Vec::new();
    let mut removed: HashSet<usize> = HashSet::new();
    let mut names = Names::of(graph);
    loop {
        let ix = Index::new(graph);
        let Some((conv, bn)) = (0..graph.node.len()).find_map(|b| foldable(graph, &ix, b, &removed)) else {
            break;
        };
        fold_one(graph, &ix, conv, bn, &mut names)?;
        folded.push(display_name(&graph.node[bn], bn));
        // The Conv now produces the BN's output: the BN must not look like a second producer.
        graph.node[bn].input.clear();
        graph.node[bn].output.clear();
        removed.insert(bn);
    }
    if !removed.is_empty() {
        let mut i = 0;
        graph.node.retain(|_| {
            i += 1;
            !removed.contains(&(i - 1))
        });
        drop_unused_initializers(graph);
    }
    Ok(folded)
}

/// `(conv, bn)` node indices if node `b` is a BatchNormalization that can be folded.
fn foldable(g: &GraphProto, ix: &Index, b: usize, removed: &HashSet<usize>) -> Option<(usize, usize)> {
    let bn = &g.node[b];
    if removed.contains(&b) || op(bn) != "BatchNormalization" || !is_default_domain(bn) || bn.input.len() != 5 {
        return None;
    }
    // Training mode, or its running statistics read by someone: not an inference-time affine map.
    if attr_int(bn, "training_mode").is_some_and(|t| t != 0)
        || bn.output.iter().skip(1).any(|o| !o.is_empty() && !ix.consumers_of(o).is_empty())
    {
        return None;
    }
    if !bn.input[1..].iter().all(|t| ix.is_initializer(t)) {
        return None;
    }
    let x = &bn.input[0];
    let &c = ix.producer.get(x)?;
    let conv = &g.node[c];
    let single_reader = ix.consumers_of(x) == [b] && !ix.outputs.contains(x);
    let constant_params = conv.input.get(1).is_some_and(|w| ix.is_initializer(w))
        && conv.input.get(2).is_none_or(|bias| bias.is_empty() || ix.is_initializer(bias));
    (op(conv) == "Conv" && is_default_domain(conv) && single_reader && constant_params).then_some((c, b))
}

fn fold_one(g: &mut GraphProto, ix: &Index, c: usize, b: usize, names: &mut Names) -> Result<(), QuantizeError> {
    let bn = &g.node[b];
    let param = |k: usize| -> Result<Vec<f32>, QuantizeError> {
        let t = ix.initializer(g, &bn.input[k]).ok_or_else(|| missing(&bn.input[k]))?;
        read_f32(t)
    };
    let (gamma, beta, mean, var) = (param(1)?, param(2)?, param(3)?, param(4)?);
    let eps = attr_float(bn, "epsilon").unwrap_or(DEFAULT_EPSILON) as f64;
    let bn_out = bn.output[0].clone();
    let conv = &g.node[c];
    let w_name = conv.input[1].clone();
    let w_init = ix.initializer(g, &w_name).ok_or_else(|| missing(&w_name))?;
    let dims = w_init.dims.clone();
    let mut w = read_f32(w_init)?;
    let channels = gamma.len();
    let lengths_agree = [beta.len(), mean.len(), var.len()].iter().all(|&n| n == channels);
    if dims.first() != Some(&(channels as i64)) || !lengths_agree || w.len() % channels.max(1) != 0 {
        return Err(QuantizeError::InvalidModel(format!(
            "BatchNormalization {} has {channels} channels but the Conv weights '{w_name}' have shape {dims:?}",
            display_name(bn, b)
        )));
    }
    let bias_name = conv.input.get(2).filter(|s| !s.is_empty()).cloned();
    let mut bias = match &bias_name {
        Some(n) => read_f32(ix.initializer(g, n).ok_or_else(|| missing(n))?)?,
        None => vec![0.0; channels],
    };
    if bias.len() != channels {
        return Err(QuantizeError::InvalidModel(format!(
            "Conv bias has {} values for {channels} channels",
            bias.len()
        )));
    }

    // In f64: the folded model should match the unfolded one to float rounding.
    let per_channel = w.len() / channels.max(1);
    for ch in 0..channels {
        let s = gamma[ch] as f64 / (var[ch] as f64 + eps).sqrt();
        for v in &mut w[ch * per_channel..(ch + 1) * per_channel] {
            *v = (*v as f64 * s) as f32;
        }
        bias[ch] = ((bias[ch] as f64 - mean[ch] as f64) * s + beta[ch] as f64) as f32;
    }

    // Write to fresh initializers when another node shares the originals.
    let w_target = if ix.consumers_of(&w_name).len() == 1 { w_name.clone() } else { names.fresh(&w_name) };
    let b_target = match &bias_name {
        Some(n) if ix.consumers_of(n).len() == 1 => n.clone(),
        Some(n) => names.fresh(n),
        None => names.fresh(&format!("{w_name}_bias")),
    };
    put_initializer(g, f32_tensor(&w_target, &dims, &w));
    put_initializer(g, f32_tensor(&b_target, &[channels as i64], &bias));
    let conv = &mut g.node[c];
    conv.input[1] = w_target;
    if conv.input.len() > 2 {
        conv.input[2] = b_target;
    } else {
        conv.input.push(b_target);
    }
    conv.output[0] = bn_out;
    Ok(())
}

fn missing(name: &str) -> QuantizeError {
    QuantizeError::InvalidModel(format!("initializer '{name}' disappeared while folding"))
}

/// Replaces the initializer of the same name, or adds it.
fn put_initializer(g: &mut GraphProto, t: crate::proto::TensorProto) {
    match g.initializer.iter_mut().find(|i| i.name == t.name) {
        Some(slot) => *slot = t,
        None => g.initializer.push(t),
    }
}

/// Removes initializers no node reads and no graph input or output names.
pub(crate) fn drop_unused_initializers(g: &mut GraphProto) {
    let used: HashSet<&str> = g
        .node
        .iter()
        .flat_map(|n| n.input.iter().map(String::as_str))
        .chain(g.input.iter().chain(&g.output).filter_map(|v| v.name.as_deref()))
        .collect();
    let keep: Vec<bool> = g.initializer.iter().map(|t| t.name.as_deref().is_some_and(|n| used.contains(n))).collect();
    let mut k = keep.into_iter();
    g.initializer.retain(|_| k.next().unwrap_or(true));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Attr, GraphBuilder};

    #[test]
    fn conv_and_batch_norm_become_one_conv_with_scaled_weights() {
        let mut b = GraphBuilder::new("t");
        b.input_f32("x", &[None, Some(1), Some(1), Some(1)]);
        b.init_f32("w", &[2, 1, 1, 1], &[1.0, 2.0]);
        b.init_f32("g", &[2], &[2.0, 1.0]);
        b.init_f32("beta", &[2], &[0.5, 0.0]);
        b.init_f32("mean", &[2], &[1.0, 0.0]);
        b.init_f32("var", &[2], &[4.0, 1.0]);
        b.node("Conv", "conv", &["x", "w"], &["c"], vec![("kernel_shape", Attr::Ints(vec![1, 1]))]);
        b.node(
            "BatchNormalization",
            "bn",
            &["c", "g", "beta", "mean", "var"],
            &["y"],
            vec![("epsilon", Attr::Float(0.0))],
        );
        b.output_f32("y", &[None, Some(2), Some(1), Some(1)]);
        let mut g = b.into_model(&[]).graph.unwrap();
        assert_eq!(fold_batch_norms(&mut g).unwrap(), vec!["bn".to_string()]);
        assert_eq!(g.node.len(), 1);
        assert_eq!(g.node[0].output[0], "y");
        let ix = Index::new(&g);
        let w = read_f32(ix.initializer(&g, &g.node[0].input[1]).unwrap()).unwrap();
        let bias = read_f32(ix.initializer(&g, &g.node[0].input[2]).unwrap()).unwrap();
        // channel 0: s = 2/2 = 1 → w 1, b (0−1)·1 + 0.5 = −0.5; channel 1: s = 1 → w 2, b 0.
        assert_eq!(w, vec![1.0, 2.0]);
        assert_eq!(bias, vec![-0.5, 0.0]);
        assert!(ix.initializer(&g, "g").is_none(), "BN parameters are dropped");
    }
}
