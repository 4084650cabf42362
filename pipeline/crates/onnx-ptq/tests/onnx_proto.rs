//! Our hand-written ONNX protobuf types (`onnx_ptq::proto`) against files the `onnx` package's
//! own serializer wrote (tests/data/onnx, with their provenance): decoding and encoding again must give
//! the same bytes. A field our types lack would be dropped on decode, a wrong tag, type or packing would
//! be encoded differently — either changes the bytes.

use onnx_ptq::proto::ModelProto;
use prost::Message;
use std::path::Path;

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/onnx").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn round_trip(name: &str) -> ModelProto {
    let bytes = fixture(name);
    let model = ModelProto::decode(bytes.as_slice()).unwrap_or_else(|e| panic!("{name}: {e}"));
    let again = model.encode_to_vec();
    if again != bytes {
        let at = again.iter().zip(&bytes).position(|(a, b)| a != b).unwrap_or(again.len().min(bytes.len()));
        panic!("{name}: re-encoded {} bytes differ from the {} written, first at byte {at}", again.len(), bytes.len());
    }
    model
}

#[test]
fn every_field_kind_onnx_writes_survives_a_round_trip() {
    let m = round_trip("kitchen_sink.onnx");
    let g = m.graph.as_ref().unwrap();
    // Decoded, not just skipped: the parts are where the spec puts them.
    let node = &g.node[0];
    assert_eq!(
        node.attribute.len(),
        12,
        "an attribute of every type (f, i, s, t, g, sparse_tensor, tp and their lists)"
    );
    assert_eq!(m.functions.len(), 1);
    assert_eq!(g.sparse_initializer.len(), 1);
    assert_eq!(m.training_info.len(), 1);
    assert_eq!(m.metadata_props.len(), 2);
    assert_eq!(g.value_info.len(), 3, "tensor, map and optional types");
}

#[test]
fn a_model_onnx_runtimes_quantizer_wrote_survives_a_round_trip() {
    let m = round_trip("ort_quantize_static.onnx");
    let g = m.graph.as_ref().unwrap();
    assert!(g.node.iter().any(|n| n.op_type.as_deref() == Some("QuantizeLinear")), "a QDQ graph");
    assert!(g.node.iter().any(|n| n.op_type.as_deref() == Some("DequantizeLinear")));
}
