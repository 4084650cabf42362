//! ONNX models in Rust without Python or `protoc`: the protobuf types of `onnx.proto` ([`proto`], proven
//! by round-trip tests against files the `onnx` package wrote), a small graph builder ([`GraphBuilder`]),
//! reading and atomic writing ([`load`], [`save`]), and post-training static quantization to int8 in QDQ
//! format, calibrated through ONNX Runtime ([`quantize`]) — the Rust counterpart of ONNX Runtime's Python
//! `quantize_static`, which nothing else in Rust provides (it inserts the activation QDQ pairs too).
//!
//! Nothing here knows the model it is used for: the HapticMat pipeline builds its presence model with
//! [`GraphBuilder`] (`pipeline::export`) and quantizes it with [`quantize::quantize`].

pub mod proto;
pub mod quantize;

use prost::Message;
use proto::tensor_proto::DataType;
use proto::{
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto, TensorProto,
    TensorShapeProto, TypeProto, ValueInfoProto, attribute_proto::AttributeType, tensor_shape_proto::Dimension,
    tensor_shape_proto::dimension, type_proto,
};
use std::path::Path;

/// ONNX IR version written (IR 8 = ONNX 1.10+; every ONNX Runtime since 1.10 reads it).
pub const IR_VERSION: i64 = 8;
/// Default-domain opset written: 13 has everything the presence model needs.
pub const OPSET: i64 = 13;

/// Why an ONNX file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum OnnxError {
    /// The file cannot be read or written.
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    /// The bytes are not an ONNX model.
    #[error("{path} is not an ONNX model: {reason}")]
    NotOnnx { path: String, reason: String },
}

/// Reads and decodes an ONNX model (file I/O).
pub fn load(path: &Path) -> Result<ModelProto, OnnxError> {
    let bytes = std::fs::read(path).map_err(|source| OnnxError::Io { path: path.display().to_string(), source })?;
    let not_onnx = |reason: String| OnnxError::NotOnnx { path: path.display().to_string(), reason };
    let model = ModelProto::decode(bytes.as_slice()).map_err(|e| not_onnx(e.to_string()))?;
    if model.graph.is_none() || model.ir_version.is_none() {
        return Err(not_onnx("no graph or IR version".into()));
    }
    Ok(model)
}

/// Encodes and writes a model atomically: a temporary file in the same directory, fsync, rename.
pub fn save(model: &ModelProto, path: &Path) -> Result<(), OnnxError> {
    write_atomic(path, &model.encode_to_vec())
        .map_err(|source| OnnxError::Io { path: path.display().to_string(), source })
}

/// A temporary file beside `path`, written and fsynced, renamed over `path`, then the folder fsynced: a
/// reader sees the old file or the whole new one, never a part.
fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new().prefix(".onnx-tmp-").tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    std::fs::File::open(dir)?.sync_all()
}

/// Builds a graph node by node.
#[derive(Debug, Default)]
pub struct GraphBuilder {
    graph: GraphProto,
}

/// A node attribute value.
pub enum Attr {
    /// One integer.
    Int(i64),
    /// A list of integers.
    Ints(Vec<i64>),
    /// One float.
    Float(f32),
}

impl GraphBuilder {
    /// An empty graph with a name.
    pub fn new(name: &str) -> Self {
        GraphBuilder { graph: GraphProto { name: Some(name.into()), ..Default::default() } }
    }

    /// Declares a float graph input; `None` dims become the symbolic batch dimension.
    pub fn input_f32(&mut self, name: &str, dims: &[Option<i64>]) {
        self.graph.input.push(value_info_f32(name, dims));
    }

    /// Declares a float graph output.
    pub fn output_f32(&mut self, name: &str, dims: &[Option<i64>]) {
        self.graph.output.push(value_info_f32(name, dims));
    }

    /// Adds a float initializer (raw little-endian data).
    pub fn init_f32(&mut self, name: &str, dims: &[i64], data: &[f32]) -> String {
        self.init_raw(name, dims, DataType::Float, data.iter().flat_map(|v| v.to_le_bytes()).collect())
    }

    /// Adds an int64 initializer.
    pub fn init_i64(&mut self, name: &str, dims: &[i64], data: &[i64]) -> String {
        self.init_raw(name, dims, DataType::Int64, data.iter().flat_map(|v| v.to_le_bytes()).collect())
    }

    /// Adds an initializer of any element type from its little-endian bytes.
    pub fn init_raw(&mut self, name: &str, dims: &[i64], data_type: DataType, raw: Vec<u8>) -> String {
        self.graph.initializer.push(TensorProto {
            name: Some(name.into()),
            dims: dims.to_vec(),
            data_type: Some(data_type as i32),
            raw_data: Some(raw),
            ..Default::default()
        });
        name.to_string()
    }

    /// Adds a node; returns the name of its (first) output.
    pub fn node(
        &mut self,
        op: &str,
        name: &str,
        inputs: &[&str],
        outputs: &[&str],
        attrs: Vec<(&str, Attr)>,
    ) -> String {
        let attribute = attrs
            .into_iter()
            .map(|(n, a)| {
                let mut p = AttributeProto { name: Some(n.into()), ..Default::default() };
                match a {
                    Attr::Int(i) => {
                        p.i = Some(i);
                        p.r#type = Some(AttributeType::Int as i32);
                    }
                    Attr::Ints(v) => {
                        p.ints = v;
                        p.r#type = Some(AttributeType::Ints as i32);
                    }
                    Attr::Float(f) => {
                        p.f = Some(f);
                        p.r#type = Some(AttributeType::Float as i32);
                    }
                }
                p
            })
            .collect();
        self.graph.node.push(NodeProto {
            name: Some(name.into()),
            op_type: Some(op.into()),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: outputs.iter().map(|s| s.to_string()).collect(),
            attribute,
            ..Default::default()
        });
        outputs.first().map(|s| s.to_string()).unwrap_or_default()
    }

    /// Wraps the graph into a model with the default opset and metadata.
    pub fn into_model(self, metadata: &[(&str, String)]) -> ModelProto {
        ModelProto {
            ir_version: Some(IR_VERSION),
            opset_import: vec![OperatorSetIdProto { domain: Some(String::new()), version: Some(OPSET) }],
            producer_name: Some("hapticmat-pipeline".into()),
            producer_version: Some(env!("CARGO_PKG_VERSION").into()),
            graph: Some(self.graph),
            metadata_props: metadata
                .iter()
                .map(|(k, v)| StringStringEntryProto { key: Some(k.to_string()), value: Some(v.clone()) })
                .collect(),
            ..Default::default()
        }
    }
}

fn value_info_f32(name: &str, dims: &[Option<i64>]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| Dimension {
            value: Some(match d {
                Some(v) => dimension::Value::DimValue(*v),
                None => dimension::Value::DimParam("batch".into()),
            }),
            ..Default::default()
        })
        .collect();
    ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: Some(DataType::Float as i32),
                shape: Some(TensorShapeProto { dim }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A metadata value of a model, if present.
pub fn metadata<'a>(model: &'a ModelProto, key: &str) -> Option<&'a str> {
    model.metadata_props.iter().find(|p| p.key.as_deref() == Some(key)).and_then(|p| p.value.as_deref())
}

/// The graph's input tensors (initializers excluded), in order.
pub fn graph_inputs(model: &ModelProto) -> Vec<String> {
    let Some(g) = model.graph.as_ref() else { return Vec::new() };
    let initializers: std::collections::HashSet<&str> =
        g.initializer.iter().filter_map(|t| t.name.as_deref()).collect();
    g.input.iter().filter_map(|v| v.name.clone()).filter(|n| !initializers.contains(n.as_str())).collect()
}
