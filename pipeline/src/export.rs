//! Writes the trained presence CNN as ONNX (opset 13). The graph starts with the float
//! pre-processing (pascal → kilopascal) so a later quantizer can begin after it; the 1-D
//! convolutions are written as 2-D ones over `[N, C, 1, T]`, numerically the same, because that is
//! the form mobile execution providers (XNNPACK) accelerate.

use crate::train::{C1, C2, FC1_IN, H, INPUT_SCALE, K, NetWeights};
use hapticmat_core::features::{CHANNELS, FEATURE_VERSION, INPUT_NAME, OUTPUT_NAME, WINDOW_FRAMES};
use hapticmat_core::inference::meta;
use hapticmat_core::personal::{USER_LOAD_LEN, USER_LOAD_NAME};
use hapticmat_core::state::{NUM_STATES, STATE_NAMES};
use onnx_ptq::{Attr, GraphBuilder, proto::ModelProto};

/// Extra metadata written into the model besides the feature contract.
#[derive(Debug, Clone, Default)]
pub struct ExportInfo {
    /// Free-form key/values (run id, data fingerprint, ...).
    pub extra: Vec<(String, String)>,
}

/// `rows × cols` row-major → `cols × rows`.
fn transpose(m: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    (0..cols).flat_map(|c| (0..rows).map(move |r| m[r * cols + c])).collect()
}

/// Builds the ONNX model of the presence CNN.
pub fn presence_model(w: &NetWeights, info: &ExportInfo) -> ModelProto {
    let mut g = GraphBuilder::new("hapticmat_presence");
    let (c, t, c1, c2, h, k, n) =
        (CHANNELS as i64, WINDOW_FRAMES as i64, C1 as i64, C2 as i64, H as i64, K as i64, NUM_STATES as i64);
    g.input_f32(INPUT_NAME, &[None, Some(c), Some(t)]);
    g.input_f32(USER_LOAD_NAME, &[None, Some(USER_LOAD_LEN as i64)]);
    g.output_f32(OUTPUT_NAME, &[None, Some(n)]);

    // Float pre-processing: quantization must start after this (absolute-scale inputs would lose
    // the signal to the quantizer's range).
    let scale = g.init_f32("input_scale", &[], &[INPUT_SCALE]);
    g.node("Mul", "preprocess_scale", &[INPUT_NAME, &scale], &["scaled"], vec![]);
    let axes = g.init_i64("unsqueeze_axes", &[1], &[2]);
    g.node("Unsqueeze", "to_2d", &["scaled", &axes], &["scaled_2d"], vec![]);

    let w1 = g.init_f32("conv1.weight", &[c1, c, 1, k], &w.conv1_w);
    let b1 = g.init_f32("conv1.bias", &[c1], &w.conv1_b);
    let pads = || Attr::Ints(vec![0, K as i64 / 2, 0, K as i64 / 2]);
    g.node(
        "Conv",
        "conv1",
        &["scaled_2d", &w1, &b1],
        &["conv1_out"],
        vec![("kernel_shape", Attr::Ints(vec![1, k])), ("pads", pads()), ("strides", Attr::Ints(vec![1, 1]))],
    );
    g.node("Relu", "relu1", &["conv1_out"], &["relu1_out"], vec![]);
    let w2 = g.init_f32("conv2.weight", &[c2, c1, 1, k], &w.conv2_w);
    let b2 = g.init_f32("conv2.bias", &[c2], &w.conv2_b);
    g.node(
        "Conv",
        "conv2",
        &["relu1_out", &w2, &b2],
        &["conv2_out"],
        vec![("kernel_shape", Attr::Ints(vec![1, k])), ("pads", pads()), ("strides", Attr::Ints(vec![1, 2]))],
    );
    g.node("Relu", "relu2", &["conv2_out"], &["relu2_out"], vec![]);
    g.node("Flatten", "flatten", &["relu2_out"], &["flat"], vec![("axis", Attr::Int(1))]);
    let w3 = g.init_f32("fc1.weight", &[h, FC1_IN as i64], &w.fc1_w);
    let b3 = g.init_f32("fc1.bias", &[h], &w.fc1_b);
    g.node("Gemm", "fc1", &["flat", &w3, &b3], &["fc1_window"], vec![("transB", Attr::Int(1))]);
    // The personal calibration ([share of the user's load, known]) joins the hidden layer through
    // weights of its own, quantized at their own scale.
    let wu: Vec<f32> = transpose(&w.fc1_user_w, H, USER_LOAD_LEN);
    let wu = g.init_f32("fc1.user_load_weight", &[USER_LOAD_LEN as i64, h], &wu);
    g.node("MatMul", "fc1_user_load", &[USER_LOAD_NAME, &wu], &["fc1_user"], vec![]);
    g.node("Add", "fc1_sum", &["fc1_window", "fc1_user"], &["fc1_out"], vec![]);
    g.node("Relu", "relu3", &["fc1_out"], &["relu3_out"], vec![]);
    let w4 = g.init_f32("fc2.weight", &[n, h], &w.fc2_w);
    let b4 = g.init_f32("fc2.bias", &[n], &w.fc2_b);
    g.node("Gemm", "fc2", &["relu3_out", &w4, &b4], &["logits"], vec![("transB", Attr::Int(1))]);
    g.node("Softmax", "softmax", &["logits"], &[OUTPUT_NAME], vec![("axis", Attr::Int(1))]);

    let mut metadata = vec![
        (meta::FEATURE_VERSION, FEATURE_VERSION.to_string()),
        (meta::WINDOW, WINDOW_FRAMES.to_string()),
        (meta::CHANNELS, CHANNELS.to_string()),
        (meta::LABELS, STATE_NAMES.join(",")),
        ("hapticmat.input_units", "pascal relative to the empty-mat baseline".to_string()),
        (
            "hapticmat.user_load",
            "[share of the user's personal-calibration load, 1] or [0, 0] without personal calibration".to_string(),
        ),
    ];
    let extra: Vec<(&str, String)> = info.extra.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    metadata.extend(extra);
    g.into_model(&metadata)
}
