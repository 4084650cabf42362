//! The quantizer against real ONNX Runtime: the presence CNN (trained briefly here) and a
//! MobileNetV2-shaped graph are quantized, loaded, run on ONNX Runtime's integer kernels and compared
//! with their float originals; bad inputs give typed errors.

use hapticmat_core::features::{CHANNELS, INPUT_NAME, WINDOW_FRAMES, WINDOW_LEN};
use hapticmat_core::inference::environment;
use hapticmat_core::personal::{USER_LOAD_LEN, USER_LOAD_NAME};
use hapticmat_core::simulator::SimConfig;
use hapticmat_core::state::NUM_STATES;
use onnx_ptq::proto::tensor_proto::DataType;
use onnx_ptq::proto::{GraphProto, ModelProto, NodeProto, TensorProto};
use onnx_ptq::quantize::{
    ActivationType, CalibrationMethod, CalibrationPass, CalibrationSource, FloatReason, InputBatch, MultiSliceSource,
    NoProgress, QuantizeConfig, QuantizeError, QuantizeEvent, Quantized, SliceSource, SourceError, fold_batch_norms,
    quantize,
};
use onnx_ptq::{Attr, GraphBuilder};
use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::TensorRef;
use pipeline::dataset::{SimDatasetConfig, Windows, build_sim_dataset};
use pipeline::export::{ExportInfo, presence_model};
use pipeline::train::{TrainConfig, train};
use prost::Message;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::sync::OnceLock;

// ---------------------------------------------------------------------------------------------
// ONNX Runtime helpers

fn session(model: &ModelProto) -> Session {
    let env = environment().expect("ONNX Runtime loads (scripts/setup.sh)");
    // As the core loads models: U8U8 where ONNX Runtime's U8S8 kernels would saturate (x86-64 without VNNI).
    Session::builder(env)
        .unwrap()
        .with_precise_qmm()
        .unwrap()
        .commit_from_memory(&model.encode_to_vec())
        .expect("ONNX Runtime loads the model")
}

/// Runs a single-input, single-output model on `data` in batches; returns the outputs end to end.
fn run(model: &ModelProto, sample_shape: &[usize], data: &[f32]) -> Vec<f32> {
    let mut s = session(model);
    let len: usize = sample_shape.iter().product();
    let mut out = Vec::new();
    for chunk in data.chunks(512 * len) {
        let mut shape = vec![chunk.len() / len];
        shape.extend_from_slice(sample_shape);
        let outputs = s.run(ort::inputs![TensorRef::from_array_view((shape, chunk)).unwrap()]).unwrap();
        out.extend_from_slice(outputs[0].try_extract_tensor::<f32>().unwrap().1);
    }
    out
}

/// Op types of the graph ONNX Runtime actually executes (with its QDQ fusions), as it writes it.
fn executed_ops(model: &ModelProto) -> BTreeMap<String, usize> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("optimized.onnx");
    let env = environment().unwrap();
    let _session = Session::builder(env)
        .unwrap()
        .with_optimization_level(GraphOptimizationLevel::Level2)
        .unwrap()
        .with_optimized_model_path(&path)
        .unwrap()
        .commit_from_memory(&model.encode_to_vec())
        .unwrap();
    let optimized = onnx_ptq::load(&path).expect("ONNX Runtime wrote the optimized graph");
    let mut ops = BTreeMap::new();
    for n in &optimized.graph.unwrap().node {
        *ops.entry(n.op_type.clone().unwrap_or_default()).or_insert(0) += 1;
    }
    ops
}

fn argmax(row: &[f32]) -> usize {
    (0..row.len()).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap_or(0)
}

/// Fraction of rows with the same argmax, and the mean absolute difference.
fn agreement(a: &[f32], b: &[f32], classes: usize) -> (f64, f64) {
    let same = a.chunks(classes).zip(b.chunks(classes)).filter(|(x, y)| argmax(x) == argmax(y)).count();
    let mad = a.iter().zip(b).map(|(x, y)| (x - y).abs() as f64).sum::<f64>() / a.len() as f64;
    (same as f64 / (a.len() / classes) as f64, mad)
}

// ---------------------------------------------------------------------------------------------
// Proto inspection

fn graph(m: &ModelProto) -> &GraphProto {
    m.graph.as_ref().unwrap()
}

fn init<'a>(g: &'a GraphProto, name: &str) -> &'a TensorProto {
    g.initializer.iter().find(|t| t.name.as_deref() == Some(name)).unwrap_or_else(|| panic!("no initializer {name}"))
}

fn producer<'a>(g: &'a GraphProto, tensor: &str) -> &'a NodeProto {
    g.node.iter().find(|n| n.output.iter().any(|o| o == tensor)).unwrap_or_else(|| panic!("nothing produces {tensor}"))
}

fn floats(t: &TensorProto) -> Vec<f32> {
    t.raw_data.as_ref().unwrap().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
}

fn int32s(t: &TensorProto) -> Vec<i32> {
    t.raw_data.as_ref().unwrap().chunks_exact(4).map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
}

fn axis(n: &NodeProto) -> Option<i64> {
    n.attribute.iter().find(|a| a.name.as_deref() == Some("axis")).and_then(|a| a.i)
}

fn nodes<'a>(g: &'a GraphProto, op: &'a str) -> impl Iterator<Item = &'a NodeProto> + 'a {
    g.node.iter().filter(move |n| n.op_type.as_deref() == Some(op))
}

// ---------------------------------------------------------------------------------------------
// The presence CNN

struct Presence {
    model: ModelProto,
    calibration: Windows,
    /// The calibration windows' `user_load` input: every other one with its subject's calibration.
    calibration_loads: Vec<f32>,
    test: Windows,
}

/// The presence CNN trained for a few epochs on a small simulated dataset, shared by the tests.
fn presence() -> &'static Presence {
    static P: OnceLock<Presence> = OnceLock::new();
    P.get_or_init(|| {
        let cfg = SimDatasetConfig { sessions: 24, session_s: 300.0, long_sessions: 0, ..Default::default() };
        let data = build_sim_dataset(&SimConfig::default(), &cfg);
        // Four epochs at a brisk rate: the default schedule (1e-3) is for full runs.
        let tc = TrainConfig { epochs: 4, learning_rate: 3e-3, final_learning_rate: 1e-4, ..Default::default() };
        let trained = train(&data.train, &data.validation, &tc, |_| {}).unwrap();
        let model = presence_model(&trained.weights, &ExportInfo::default());
        let calibration = data.validation;
        let calibration_loads = (0..calibration.len()).flat_map(|i| calibration.user_load(i, i % 2 == 0)).collect();
        Presence { model, calibration, calibration_loads, test: data.test }
    })
}

/// The presence model's calibration data: windows and their `user_load` input.
fn presence_source(p: &Presence, batch: usize) -> MultiSliceSource<'_> {
    MultiSliceSource::new(batch).input(Some(INPUT_NAME), &[CHANNELS, WINDOW_FRAMES], &p.calibration.x).input(
        Some(USER_LOAD_NAME),
        &[USER_LOAD_LEN],
        &p.calibration_loads,
    )
}

fn quantize_presence(cfg: &QuantizeConfig) -> Quantized {
    let p = presence();
    let mut source = presence_source(p, 1024);
    quantize(environment().unwrap(), &p.model, &mut source, cfg, &mut NoProgress).unwrap()
}

/// Runs the presence model on the test windows, each subject with its personal calibration on
/// every other window; returns the probabilities end to end.
fn run_presence(model: &ModelProto, test: &Windows) -> Vec<f32> {
    let mut s = session(model);
    let loads: Vec<f32> = (0..test.len()).flat_map(|i| test.user_load(i, i % 2 == 0)).collect();
    let mut out = Vec::new();
    for (chunk, load) in test.x.chunks(512 * WINDOW_LEN).zip(loads.chunks(512 * USER_LOAD_LEN)) {
        let n = chunk.len() / WINDOW_LEN;
        let window = TensorRef::from_array_view(([n, CHANNELS, WINDOW_FRAMES], chunk)).unwrap();
        let load = TensorRef::from_array_view(([n, USER_LOAD_LEN], load)).unwrap();
        let outputs = s.run(ort::inputs![INPUT_NAME => window, USER_LOAD_NAME => load]).unwrap();
        out.extend_from_slice(outputs[0].try_extract_tensor::<f32>().unwrap().1);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// A MobileNetV2-shaped graph

struct Builder {
    g: GraphBuilder,
    rng: ChaCha8Rng,
    n: usize,
}

impl Builder {
    fn uniform(&mut self, n: usize, lo: f32, hi: f32) -> Vec<f32> {
        (0..n).map(|_| self.rng.random_range(lo..hi)).collect()
    }

    fn name(&mut self, what: &str) -> String {
        self.n += 1;
        format!("{what}{}", self.n)
    }

    /// Conv (He-uniform weights, bias) + BatchNormalization with random statistics.
    fn conv_bn(&mut self, x: &str, cin: usize, cout: usize, k: usize, stride: usize, group: usize) -> String {
        let name = self.name("conv");
        let fan_in = cin / group * k * k;
        let bound = (6.0 / fan_in as f32).sqrt();
        let w = self.uniform(cout * fan_in, -bound, bound);
        let b = self.uniform(cout, -0.1, 0.1);
        let w =
            self.g.init_f32(&format!("{name}.weight"), &[cout as i64, (cin / group) as i64, k as i64, k as i64], &w);
        let b = self.g.init_f32(&format!("{name}.bias"), &[cout as i64], &b);
        let pad = (k / 2) as i64;
        let out = self.g.node(
            "Conv",
            &name,
            &[x, &w, &b],
            &[&format!("{name}_out")],
            vec![
                ("kernel_shape", Attr::Ints(vec![k as i64, k as i64])),
                ("pads", Attr::Ints(vec![pad; 4])),
                ("strides", Attr::Ints(vec![stride as i64; 2])),
                ("group", Attr::Int(group as i64)),
            ],
        );
        let (gamma, beta) = (self.uniform(cout, 0.5, 1.5), self.uniform(cout, -0.2, 0.2));
        let (mean, var) = (self.uniform(cout, -0.2, 0.2), self.uniform(cout, 0.5, 1.5));
        let bn = format!("{name}_bn");
        let params: Vec<String> = [("gamma", gamma), ("beta", beta), ("mean", mean), ("var", var)]
            .into_iter()
            .map(|(p, v)| self.g.init_f32(&format!("{bn}.{p}"), &[cout as i64], &v))
            .collect();
        self.g.node(
            "BatchNormalization",
            &bn,
            &[&out, &params[0], &params[1], &params[2], &params[3]],
            &[&format!("{bn}_out")],
            vec![("epsilon", Attr::Float(1e-5))],
        )
    }

    fn relu6(&mut self, x: &str) -> String {
        let name = self.name("relu6_");
        let lo = self.g.init_f32(&format!("{name}.min"), &[], &[0.0]);
        let hi = self.g.init_f32(&format!("{name}.max"), &[], &[6.0]);
        self.g.node("Clip", &name, &[x, &lo, &hi], &[&format!("{name}_out")], vec![])
    }

    /// Inverted residual: 1×1 expand + ReLU6, 3×3 depthwise + ReLU6, 1×1 project, residual Add.
    fn inverted_residual(&mut self, x: &str, cin: usize, cout: usize, expand: usize) -> String {
        let hidden = cin * expand;
        let e = self.conv_bn(x, cin, hidden, 1, 1, 1);
        let e = self.relu6(&e);
        let d = self.conv_bn(&e, hidden, hidden, 3, 1, hidden);
        let d = self.relu6(&d);
        let p = self.conv_bn(&d, hidden, cout, 1, 1, 1);
        if cin == cout {
            let name = self.name("add");
            self.g.node("Add", &name, &[x, &p], &[&format!("{name}_out")], vec![])
        } else {
            p
        }
    }
}

const IMAGE: [usize; 3] = [3, 16, 16];
const CLASSES: usize = 10;

/// Stem conv+BN+ReLU6; inverted residual blocks (expand, depthwise, project, Add); MaxPool; a Concat
/// with an AveragePool branch; GlobalAveragePool, Reshape, Gemm, Relu, MatMul + Add, Softmax.
fn mobilenet_like(seed: u64) -> ModelProto {
    let mut b = Builder { g: GraphBuilder::new("mobilenet_like"), rng: ChaCha8Rng::seed_from_u64(seed), n: 0 };
    b.g.input_f32("image", &[None, Some(3), Some(16), Some(16)]);
    b.g.output_f32("probabilities", &[None, Some(CLASSES as i64)]);
    let x = b.conv_bn("image", 3, 16, 3, 1, 1);
    let x = b.relu6(&x);
    let x = b.inverted_residual(&x, 16, 16, 4);
    let x = b.g.node(
        "MaxPool",
        "maxpool",
        &[&x],
        &["pooled"],
        vec![("kernel_shape", Attr::Ints(vec![2, 2])), ("strides", Attr::Ints(vec![2, 2]))],
    );
    let branch = b.g.node(
        "AveragePool",
        "avgpool",
        &[&x],
        &["avg"],
        vec![
            ("kernel_shape", Attr::Ints(vec![3, 3])),
            ("pads", Attr::Ints(vec![1; 4])),
            ("strides", Attr::Ints(vec![1, 1])),
        ],
    );
    let main = b.inverted_residual(&x, 16, 24, 3);
    let x = b.g.node("Concat", "concat", &[&main, &branch], &["joined"], vec![("axis", Attr::Int(1))]);
    let x = b.inverted_residual(&x, 40, 40, 2);
    let x = b.conv_bn(&x, 40, 64, 1, 1, 1);
    let x = b.relu6(&x);
    let x = b.g.node("GlobalAveragePool", "gap", &[&x], &["gap_out"], vec![]);
    let shape = b.g.init_i64("flat_shape", &[2], &[-1, 64]);
    let x = b.g.node("Reshape", "reshape", &[&x, &shape], &["flat"], vec![]);
    let w1 = b.uniform(32 * 64, -0.3, 0.3);
    let w1 = b.g.init_f32("fc1.weight", &[32, 64], &w1);
    let b1 = b.uniform(32, -0.1, 0.1);
    let b1 = b.g.init_f32("fc1.bias", &[32], &b1);
    let x = b.g.node("Gemm", "fc1", &[&x, &w1, &b1], &["fc1_out"], vec![("transB", Attr::Int(1))]);
    let x = b.g.node("Relu", "fc1_relu", &[&x], &["hidden"], vec![]);
    let w2 = b.uniform(32 * CLASSES, -0.8, 0.8);
    let w2 = b.g.init_f32("fc2.weight", &[32, CLASSES as i64], &w2);
    let x = b.g.node("MatMul", "fc2", &[&x, &w2], &["fc2_mm"], vec![]);
    let b2 = b.uniform(CLASSES, -0.1, 0.1);
    let b2 = b.g.init_f32("fc2.bias", &[CLASSES as i64], &b2);
    let x = b.g.node("Add", "fc2_bias", &[&x, &b2], &["logits"], vec![]);
    b.g.node("Softmax", "softmax", &[&x], &["probabilities"], vec![("axis", Attr::Int(1))]);
    b.g.into_model(&[])
}

fn random_images(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    // A smooth-ish image: per-image, per-channel offset plus pixel noise, roughly unit variance.
    let per = IMAGE.iter().product::<usize>();
    let mut out = Vec::with_capacity(n * per);
    for _ in 0..n {
        for _ in 0..IMAGE[0] {
            let offset: f32 = rng.random_range(-1.0..1.0);
            for _ in 0..IMAGE[1] * IMAGE[2] {
                out.push(offset + rng.random_range(-1.0f32..1.0));
            }
        }
    }
    out
}

fn quantize_mobilenet(cfg: &QuantizeConfig) -> (ModelProto, Quantized) {
    let model = mobilenet_like(3);
    let calibration = random_images(512, 11);
    let mut source = SliceSource::new(&calibration, &IMAGE, 128);
    let q = quantize(environment().unwrap(), &model, &mut source, cfg, &mut NoProgress).unwrap();
    (model, q)
}

/// Counts executed op types after quantizing the MobileNet-shaped graph.
fn mobilenet_executed_ops(cfg: &QuantizeConfig) -> (Quantized, BTreeMap<String, usize>) {
    let (_, q) = quantize_mobilenet(cfg);
    let ops = executed_ops(&q.model);
    eprintln!("mobilenet-like, {} activations, as ONNX Runtime runs it: {ops:?}", cfg.activation_type);
    (q, ops)
}

// ---------------------------------------------------------------------------------------------
// Bad input

/// Conv → Erf (not quantizable) → Conv: a model with an op the quantizer does not know.
fn model_with_unknown_op() -> ModelProto {
    let mut b = Builder { g: GraphBuilder::new("odd"), rng: ChaCha8Rng::seed_from_u64(8), n: 0 };
    b.g.input_f32("image", &[None, Some(3), Some(16), Some(16)]);
    let x = b.conv_bn("image", 3, 8, 3, 1, 1);
    b.g.node("Erf", "odd_one", &[&x], &["erf_out"], vec![]);
    let x = b.conv_bn("erf_out", 8, 4, 3, 1, 1);
    b.g.output_f32(&x, &[None, Some(4), Some(16), Some(16)]);
    b.g.into_model(&[])
}

/// A source that fails on its second batch, and one whose second pass differs from its first.
struct Flaky {
    data: Vec<f32>,
    served: usize,
    passes: usize,
    fail: bool,
}

impl CalibrationSource for Flaky {
    fn reset(&mut self) -> Result<(), SourceError> {
        self.served = 0;
        self.passes += 1;
        Ok(())
    }

    fn next_batch(&mut self) -> Option<Result<Vec<InputBatch<'_>>, SourceError>> {
        let batches = if self.passes == 1 { 3 } else { 2 };
        if self.served == batches {
            return None;
        }
        self.served += 1;
        if self.fail && self.served == 2 {
            return Some(Err("disk on fire".into()));
        }
        Some(Ok(vec![
            InputBatch::named(INPUT_NAME, vec![2, CHANNELS, WINDOW_FRAMES], &self.data),
            InputBatch::named(USER_LOAD_NAME, vec![2, USER_LOAD_LEN], &[0.9, 1.0, 0.0, 0.0]),
        ]))
    }
}

/// The presence CNN, trained briefly here.
mod quantize_presence_cnn {
    use super::*;

    #[test]
    fn presence_cnn_int8_agrees_with_float_for_every_calibration_method() {
        let p = presence();
        let float = run_presence(&p.model, &p.test);
        for method in [CalibrationMethod::MinMax, CalibrationMethod::percentile(), CalibrationMethod::entropy()] {
            let q = quantize_presence(&QuantizeConfig { method, ..Default::default() });
            let int8 = run_presence(&q.model, &p.test);
            let (agree, mad) = agreement(&float, &int8, NUM_STATES);
            eprintln!(
                "{method}: agreement {:.4} mean |Δp| {mad:.4} over {} windows; quantized in {:.1} ms (calibration {:.1} ms, {} windows)",
                agree,
                p.test.len(),
                q.report.seconds * 1e3,
                q.report.calibration_seconds * 1e3,
                q.report.calibration_windows
            );
            assert!(agree >= 0.95, "{method}: argmax agreement {agree}");
            assert!(mad <= 0.02, "{method}: mean |Δp| {mad}");
            assert_eq!(q.report.calibration_windows, p.calibration.len());
            assert_eq!(q.report.calibration_passes, if method == CalibrationMethod::MinMax { 1 } else { 2 });
            assert!(q.report.unsupported().next().is_none(), "{:?}", q.report.float_nodes);
        }
    }

    #[test]
    fn presence_cnn_weights_are_per_channel_int8_and_biases_int32_with_the_product_scale() {
        let q = quantize_presence(&QuantizeConfig::default());
        let g = graph(&q.model);
        let opset = q.model.opset_import.iter().find(|o| o.domain.as_deref().unwrap_or("").is_empty()).unwrap();
        assert!(opset.version.unwrap() >= 13);
        let weighted: Vec<&NodeProto> = nodes(g, "Conv").chain(nodes(g, "Gemm")).collect();
        assert_eq!(weighted.len(), 4);
        for node in weighted {
            // Weight: int8, zero points all 0, one scale per output channel along axis 0.
            let wdq = producer(g, &node.input[1]);
            assert_eq!(wdq.op_type.as_deref(), Some("DequantizeLinear"));
            assert_eq!(axis(wdq), Some(0), "{:?}", node.name);
            let w = init(g, &wdq.input[0]);
            assert_eq!(w.data_type, Some(DataType::Int8 as i32));
            let w_scale = floats(init(g, &wdq.input[1]));
            assert_eq!(w_scale.len() as i64, w.dims[0]);
            let zp = init(g, &wdq.input[2]);
            assert_eq!(zp.data_type, Some(DataType::Int8 as i32));
            assert!(zp.raw_data.as_ref().unwrap().iter().all(|&b| b == 0));

            // Bias: int32, zero point 0, scale = input scale × weight scale, per channel.
            let bdq = producer(g, &node.input[2]);
            assert_eq!(bdq.op_type.as_deref(), Some("DequantizeLinear"));
            let b = init(g, &bdq.input[0]);
            assert_eq!(b.data_type, Some(DataType::Int32 as i32));
            assert!(int32s(init(g, &bdq.input[2])).iter().all(|&z| z == 0));
            let x_dq = producer(g, &node.input[0]);
            assert_eq!(x_dq.op_type.as_deref(), Some("DequantizeLinear"));
            let x_scale = floats(init(g, &x_dq.input[1]))[0];
            let b_scale = floats(init(g, &bdq.input[1]));
            for (bs, ws) in b_scale.iter().zip(&w_scale) {
                assert_eq!(*bs, x_scale * ws);
            }
        }
        // The Relu after each Conv/Gemm is gone: the QuantizeLinear after it clamps at zero already.
        assert_eq!(nodes(g, "Relu").count(), 0);
        assert_eq!(q.report.removed_activations.len(), 3);
    }

    #[test]
    fn presence_cnn_input_scaling_stays_float_and_quantization_starts_after_it() {
        let q = quantize_presence(&QuantizeConfig::default());
        let g = graph(&q.model);
        let mul = nodes(g, "Mul").next().unwrap();
        assert_eq!(mul.input, [INPUT_NAME, "input_scale"], "the Mul reads the raw input and the float scale");
        assert_eq!(init(g, "input_scale").data_type, Some(DataType::Float as i32));
        // The user_load input ([share, known], 0..2) needs no scaling: it is quantized as it comes.
        let mut qs = nodes(g, "QuantizeLinear");
        let (first_q, load_q) = (qs.next().unwrap(), qs.next().unwrap());
        let (first_q, load_q) = if first_q.input[0] == USER_LOAD_NAME { (load_q, first_q) } else { (first_q, load_q) };
        assert_eq!(load_q.input[0], USER_LOAD_NAME);
        assert_eq!(first_q.input[0], "scaled_2d", "the window's first QuantizeLinear after Mul and Unsqueeze");
        let first_q_at = g.node.iter().position(|n| n == first_q).unwrap();
        let unsqueeze_at = g.node.iter().position(|n| n.op_type.as_deref() == Some("Unsqueeze")).unwrap();
        assert!(unsqueeze_at < first_q_at);
        let prefix: Vec<&str> = q
            .report
            .float_nodes
            .iter()
            .filter(|n| n.reason == FloatReason::FloatPrefix)
            .map(|n| n.name.as_str())
            .collect();
        assert_eq!(prefix, ["preprocess_scale", "to_2d"]);
        assert!(!q.report.tensors.iter().any(|t| t.tensor == INPUT_NAME || t.tensor == "scaled"));
        // The softmax output range is fixed to [0, 1], as ONNX Runtime does.
        let out = q.report.tensors.iter().find(|t| t.tensor == "probabilities").unwrap();
        assert_eq!((out.scale, out.zero_point), (1.0 / 255.0, -128));
    }

    #[test]
    fn presence_cnn_int8_runs_on_integer_kernels() {
        let q = quantize_presence(&QuantizeConfig::default());
        let ops = executed_ops(&q.model);
        eprintln!("presence CNN as ONNX Runtime runs it: {ops:?}");
        assert_eq!(ops.get("QLinearConv"), Some(&2), "{ops:?}");
        assert_eq!(ops.get("QGemm"), Some(&2), "{ops:?}");
        assert_eq!(ops.get("QLinearSoftmax"), Some(&1), "{ops:?}");
        assert!(!ops.contains_key("Conv") && !ops.contains_key("Gemm"), "float kernels left: {ops:?}");
    }

    #[test]
    fn presence_cnn_int8_loads_in_the_phone_runtime_and_keeps_its_contract() {
        let p = presence();
        let q = quantize_presence(&QuantizeConfig::default());
        let mut model =
            hapticmat_core::inference::PresenceModel::from_bytes(&q.model.encode_to_vec(), "model.int8.onnx")
                .expect("rust-core accepts the int8 model: metadata and input contract kept");
        assert!(model.info().quantized);
        // Its output checks (finite, non-negative, summing to 1 within 1e-2) hold on every test window.
        let probabilities = model.predict_batch(&p.test.x).expect("valid probability vectors");
        assert_eq!(probabilities.len(), p.test.len());
    }

    #[test]
    fn uint8_and_symmetric_activations_and_per_tensor_weights_also_agree() {
        let p = presence();
        let float = run_presence(&p.model, &p.test);
        let variants = [
            QuantizeConfig { activation_type: ActivationType::Uint8, ..Default::default() },
            QuantizeConfig { symmetric_activations: true, ..Default::default() },
            QuantizeConfig { per_channel: false, ..Default::default() },
        ];
        for cfg in variants {
            let q = quantize_presence(&cfg);
            let (agree, mad) = agreement(&float, &run_presence(&q.model, &p.test), NUM_STATES);
            eprintln!(
                "{} symmetric={} per_channel={}: agreement {agree:.4}, mean |Δp| {mad:.4}",
                cfg.activation_type, cfg.symmetric_activations, cfg.per_channel
            );
            assert!(agree >= 0.95 && mad <= 0.03, "{cfg:?}: {agree} {mad}");
        }
    }

    #[test]
    fn calibration_reports_both_passes_to_the_progress_callback() {
        let p = presence();
        let mut source = presence_source(p, 500);
        let mut events = Vec::new();
        let mut progress = |e: QuantizeEvent<'_>| {
            if let QuantizeEvent::PassStarted { pass, windows } = e {
                events.push((pass, windows));
            }
            if let QuantizeEvent::PassFinished { pass, windows } = e {
                events.push((pass, Some(windows)));
            }
        };
        let cfg = QuantizeConfig { method: CalibrationMethod::entropy(), ..Default::default() };
        quantize(environment().unwrap(), &p.model, &mut source, &cfg, &mut progress).unwrap();
        let n = Some(p.calibration.len());
        assert_eq!(
            events,
            [
                (CalibrationPass::Ranges, n),
                (CalibrationPass::Ranges, n),
                (CalibrationPass::Histograms, n),
                (CalibrationPass::Histograms, n)
            ]
        );
    }
}

/// The MobileNetV2-shaped graph, and BatchNormalization folding.
mod quantize_mobilenet {
    use super::*;

    #[test]
    fn mobilenet_shaped_graph_quantizes_loads_and_matches_float() {
        let test = random_images(400, 99);
        for method in [CalibrationMethod::MinMax, CalibrationMethod::percentile(), CalibrationMethod::entropy()] {
            let (model, q) = quantize_mobilenet(&QuantizeConfig { method, ..Default::default() });
            assert!(q.report.float_nodes.is_empty(), "{:?}", q.report.float_nodes);
            assert_eq!(q.report.folded_batch_norms.len(), 11);
            let float = run(&model, &IMAGE, &test);
            let int8 = run(&q.model, &IMAGE, &test);
            let (agree, mad) = agreement(&float, &int8, CLASSES);
            eprintln!(
                "mobilenet-like {method}: top-1 agreement {agree:.4}, mean |Δp| {mad:.4}, {:.1} ms",
                q.report.seconds * 1e3
            );
            assert!(agree >= 0.9, "{method}: top-1 agreement {agree}");
            assert!(mad <= 0.01, "{method}: mean |Δp| {mad}");
        }
    }

    #[test]
    fn mobilenet_shaped_graph_runs_entirely_on_integer_kernels_with_uint8_activations() {
        let cfg = QuantizeConfig { activation_type: ActivationType::Uint8, ..Default::default() };
        let (q, ops) = mobilenet_executed_ops(&cfg);
        let expected = [
            ("QLinearConv", 11),
            ("QLinearAdd", 3),
            ("QLinearConcat", 1),
            ("QLinearAveragePool", 1),
            ("QLinearGlobalAveragePool", 1),
            ("QGemm", 1),
            ("QLinearMatMul", 1),
            ("QLinearSoftmax", 1),
            // Only the graph input is quantized and the graph output dequantized: int8 data in between.
            ("QuantizeLinear", 1),
            ("DequantizeLinear", 1),
        ];
        for (op, n) in expected {
            assert_eq!(ops.get(op), Some(&n), "{op} in {ops:?}");
        }
        for float_op in
            ["Conv", "BatchNormalization", "Clip", "Add", "Concat", "AveragePool", "Gemm", "MatMul", "Softmax"]
        {
            assert!(!ops.contains_key(float_op), "float {float_op} left in {ops:?}");
        }
        // Grouped (depthwise) convolutions keep per-channel weights.
        let g = graph(&q.model);
        let depthwise = nodes(g, "Conv")
            .find(|n| n.attribute.iter().any(|a| a.name.as_deref() == Some("group") && a.i.unwrap_or(1) > 1))
            .unwrap();
        let wdq = producer(g, &depthwise.input[1]);
        assert_eq!(axis(wdq), Some(0));
        assert_eq!(floats(init(g, &wdq.input[1])).len(), 64);
    }

    /// With int8 activations, ONNX Runtime's x86 build (not ARM) converts each int8 Q→DQ pair whose
    /// QuantizeLinear feeds a single DequantizeLinear to uint8 before fusing (`QDQS8ToU8Transformer`);
    /// tensors read by two nodes (residual inputs) stay int8, and the nodes between mismatched types stay
    /// float. ONNX Runtime's own `quantize_static` output behaves the same; on ARM int8 fuses natively.
    #[test]
    fn mobilenet_shaped_graph_runs_on_integer_kernels_with_int8_activations() {
        let (_, ops) = mobilenet_executed_ops(&QuantizeConfig::default());
        for op in ["QLinearConv", "QGemm", "QLinearMatMul", "QLinearGlobalAveragePool", "QLinearSoftmax"] {
            assert!(ops.contains_key(op), "no {op} in {ops:?}");
        }
        assert!(!ops.contains_key("BatchNormalization") && !ops.contains_key("Clip"), "{ops:?}");
    }

    #[test]
    fn batch_norm_folding_matches_the_unfolded_graph() {
        let mut b = Builder { g: GraphBuilder::new("conv_bn"), rng: ChaCha8Rng::seed_from_u64(5), n: 0 };
        b.g.input_f32("image", &[None, Some(3), Some(16), Some(16)]);
        let x = b.conv_bn("image", 3, 8, 3, 2, 1);
        let x = b.conv_bn(&x, 8, 8, 3, 1, 8);
        b.g.output_f32(&x, &[None, Some(8), Some(8), Some(8)]);
        let model = b.g.into_model(&[]);
        let mut folded = model.clone();
        let names = fold_batch_norms(folded.graph.as_mut().unwrap()).unwrap();
        assert_eq!(names.len(), 2);
        assert_eq!(nodes(graph(&folded), "BatchNormalization").count(), 0);
        let input = random_images(16, 1);
        let (before, after) = (run(&model, &IMAGE, &input), run(&folded, &IMAGE, &input));
        let scale = before.iter().fold(0f32, |m, v| m.max(v.abs()));
        let worst = before.iter().zip(&after).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        // Float rounding only: the fold is computed in f64 and stored as f32.
        assert!(worst <= 1e-5 * scale.max(1.0), "max |Δ| {worst} for outputs up to {scale}");
    }
}

/// Bad input, and the less common paths: unknown ops, exclusions, an old opset, the report.
mod quantize_bad_input {
    use super::*;

    #[test]
    fn an_unknown_op_is_left_float_and_reported_or_refused_in_strict_mode() {
        let model = model_with_unknown_op();
        let data = random_images(64, 2);
        let mut source = SliceSource::new(&data, &IMAGE, 32);
        let q =
            quantize(environment().unwrap(), &model, &mut source, &QuantizeConfig::default(), &mut NoProgress).unwrap();
        let unknown: Vec<_> = q.report.unsupported().collect();
        assert_eq!(unknown.len(), 1);
        assert_eq!((unknown[0].name.as_str(), unknown[0].op_type.as_str()), ("odd_one", "Erf"));
        let erf = nodes(graph(&q.model), "Erf").next().unwrap();
        assert_eq!(producer(graph(&q.model), &erf.input[0]).op_type.as_deref(), Some("DequantizeLinear"));
        let (float, int8) = (run(&model, &IMAGE, &data), run(&q.model, &IMAGE, &data));
        let scale = float.iter().fold(0f32, |m, v| m.max(v.abs()));
        let mad = float.iter().zip(&int8).map(|(a, b)| (a - b).abs()).sum::<f32>() / float.len() as f32;
        assert!(mad < 0.02 * scale, "mean |Δ| {mad} for outputs up to {scale}");

        let strict = QuantizeConfig { strict: true, ..Default::default() };
        let e = quantize(environment().unwrap(), &model, &mut source, &strict, &mut NoProgress).unwrap_err();
        assert!(matches!(e, QuantizeError::Unsupported(ref n) if n.len() == 1), "{e}");
        assert!(e.to_string().contains("odd_one (Erf: op not supported by the quantizer)"), "{e}");
    }

    #[test]
    fn excluded_nodes_stay_float() {
        let cfg = QuantizeConfig {
            exclude_nodes: vec!["fc1".into()],
            exclude_op_types: vec!["Softmax".into()],
            ..Default::default()
        };
        let (_, q) = quantize_mobilenet(&cfg);
        let g = graph(&q.model);
        let fc1 = nodes(g, "Gemm").next().unwrap();
        assert!(g.initializer.iter().any(|t| t.name.as_deref() == Some(fc1.input[1].as_str())), "float weights kept");
        let excluded: Vec<_> = q.report.float_nodes.iter().filter(|n| n.reason == FloatReason::Excluded).collect();
        assert_eq!(excluded.len(), 2, "{excluded:?}");
        assert!(!q.report.tensors.iter().any(|t| t.tensor == "probabilities"));
    }

    #[test]
    fn a_model_without_graph_is_a_typed_error() {
        let data = [0f32; WINDOW_LEN];
        let mut source = SliceSource::new(&data, &[CHANNELS, WINDOW_FRAMES], 1);
        let e = quantize(
            environment().unwrap(),
            &ModelProto::default(),
            &mut source,
            &QuantizeConfig::default(),
            &mut NoProgress,
        )
        .unwrap_err();
        assert!(matches!(e, QuantizeError::NoGraph), "{e}");
        // Bytes that are not ONNX never reach the quantizer: the loader refuses them.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("junk.onnx");
        std::fs::write(&path, b"this is not a protobuf at all").unwrap();
        assert!(matches!(onnx_ptq::load(&path), Err(onnx_ptq::OnnxError::NotOnnx { .. })));
    }

    #[test]
    fn calibration_windows_of_the_wrong_shape_are_a_typed_error() {
        let p = presence();
        let wrong = vec![0f32; 10 * 5 * WINDOW_FRAMES];
        let loads = vec![0f32; 10 * USER_LOAD_LEN];
        let mut source = MultiSliceSource::new(4).input(Some(INPUT_NAME), &[5, WINDOW_FRAMES], &wrong).input(
            Some(USER_LOAD_NAME),
            &[USER_LOAD_LEN],
            &loads,
        );
        let e = quantize(environment().unwrap(), &p.model, &mut source, &QuantizeConfig::default(), &mut NoProgress)
            .unwrap_err();
        assert!(matches!(e, QuantizeError::BatchShape { batch: 1, .. }), "{e}");
        assert_eq!(e.to_string(), "calibration batch 1: input 'window' has shape [4, 5, 20], expected [batch, 4, 20]");
        // A two-input model fed only its windows names the input that is missing.
        let mut windows_only = SliceSource::new(&p.calibration.x, &[CHANNELS, WINDOW_FRAMES], 4).for_input(INPUT_NAME);
        let e =
            quantize(environment().unwrap(), &p.model, &mut windows_only, &QuantizeConfig::default(), &mut NoProgress)
                .unwrap_err();
        assert_eq!(e.to_string(), "calibration batch 1: input 'user_load' [batch, 2] is missing");
    }

    #[test]
    fn an_empty_calibration_set_is_a_typed_error() {
        let p = presence();
        let mut source = MultiSliceSource::new(64).input(Some(INPUT_NAME), &[CHANNELS, WINDOW_FRAMES], &[]).input(
            Some(USER_LOAD_NAME),
            &[USER_LOAD_LEN],
            &[],
        );
        let e = quantize(environment().unwrap(), &p.model, &mut source, &QuantizeConfig::default(), &mut NoProgress)
            .unwrap_err();
        assert!(matches!(e, QuantizeError::EmptyCalibration { .. }), "{e}");
        assert_eq!(
            e.to_string(),
            "the calibration set is empty: at least one batch of shape 'window' [batch, 4, 20], 'user_load' [batch, 2] is needed"
        );
    }

    #[test]
    fn source_failures_and_sources_that_change_between_passes_are_typed_errors() {
        let p = presence();
        let data = p.calibration.x[..2 * WINDOW_LEN].to_vec();
        let mut failing = Flaky { data: data.clone(), served: 0, passes: 0, fail: true };
        let e = quantize(environment().unwrap(), &p.model, &mut failing, &QuantizeConfig::default(), &mut NoProgress)
            .unwrap_err();
        assert_eq!(e.to_string(), "calibration source failed: disk on fire");
        let mut shrinking = Flaky { data, served: 0, passes: 0, fail: false };
        let cfg = QuantizeConfig { method: CalibrationMethod::percentile(), ..Default::default() };
        let e = quantize(environment().unwrap(), &p.model, &mut shrinking, &cfg, &mut NoProgress).unwrap_err();
        assert!(matches!(e, QuantizeError::NotRestartable { first: 6, second: 4 }), "{e}");
    }

    #[test]
    fn an_opset_11_model_is_raised_to_13_and_still_runs() {
        let mut g = GraphBuilder::new("old");
        g.input_f32("x", &[None, Some(8)]);
        let w = g.init_f32("w", &[4, 8], &(0..32).map(|i| (i as f32 - 16.0) / 16.0).collect::<Vec<_>>());
        g.node("Unsqueeze", "u", &["x"], &["x3"], vec![("axes", Attr::Ints(vec![1]))]);
        g.node("Flatten", "f", &["x3"], &["xf"], vec![]);
        g.node("Gemm", "fc", &["xf", &w], &["y"], vec![("transB", Attr::Int(1))]);
        g.node("Softmax", "s", &["y"], &["p"], vec![]);
        g.output_f32("p", &[None, Some(4)]);
        let mut model = g.into_model(&[]);
        model.opset_import[0].version = Some(11);
        let data: Vec<f32> = (0..64 * 8).map(|i| ((i * 37 % 17) as f32 - 8.0) / 4.0).collect();
        let mut source = SliceSource::new(&data, &[8], 16);
        let cfg = QuantizeConfig { float_prefix: false, ..Default::default() };
        let q = quantize(environment().unwrap(), &model, &mut source, &cfg, &mut NoProgress).unwrap();
        assert_eq!(q.report.opset, (11, 13));
        let (agree, _) = agreement(&run(&model, &[8], &data), &run(&q.model, &[8], &data), 4);
        assert!(agree >= 0.9, "{agree}");
    }

    #[test]
    fn quantize_report_serialises_for_mlflow() {
        let q = quantize_presence(&QuantizeConfig::default());
        let json = serde_json::to_value(&q.report).unwrap();
        assert_eq!(json["config"]["method"]["method"], "min_max");
        assert!(json["tensors"].as_array().unwrap().len() >= 5);
        assert_eq!(json["quantized_ops"]["Conv"], 2);
    }
}
