"""Writes the ONNX files that pipeline/crates/onnx-ptq/tests/onnx_proto.rs round-trips through our protobuf types
(pipeline/crates/onnx-ptq/src/proto.rs), with the `onnx` package's own serializer (the one ONNX Runtime's tools use):

  kitchen_sink.onnx  every message and field kind the spec has that a model can carry: attributes of
                     every type, a function, sparse and external-data tensors, sequence/map/optional
                     types, metadata, training info, value_info with symbolic dimensions
Run once with the benchmark venv (scripts/bench-quantize.sh makes it); the output is committed:

  build/venv-bench/bin/python scripts/onnx_fixtures.py pipeline/crates/onnx-ptq/tests/data/onnx
"""
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)

t = numpy_helper.from_array(np.arange(6, dtype=np.float32).reshape(2, 3), name="w")
t.doc_string = "a weight"
i8 = numpy_helper.from_array(np.array([-3, 4], dtype=np.int8), name="q")
ext = TensorProto(name="ext", data_type=TensorProto.FLOAT, dims=[4], data_location=TensorProto.EXTERNAL)
ext.external_data.add(key="location", value="weights.bin")
ext.external_data.add(key="offset", value="0")
sparse = helper.make_sparse_tensor(
    numpy_helper.from_array(np.array([1.5, 2.5], dtype=np.float32), name="sv"),
    numpy_helper.from_array(np.array([1, 4], dtype=np.int64), name="si"),
    [2, 3],
)
sub = helper.make_graph(
    [helper.make_node("Identity", ["a"], ["b"], name="inner")],
    "body",
    [helper.make_tensor_value_info("a", TensorProto.FLOAT, [1])],
    [helper.make_tensor_value_info("b", TensorProto.FLOAT, [1])],
)
node = helper.make_node(
    "Custom",
    ["x", "w"],
    ["y"],
    name="everything",
    domain="io.hapticmat.test",
    doc_string="a node with every attribute type",
    f=0.25,
    i=-7,
    s=b"bytes",
    t=t,
    g=sub,
    floats=[1.0, 2.5],
    ints=[1, -2, 3],
    strings=[b"a", b"bc"],
    tensors=[t, i8],
    graphs=[sub],
    sparse_tensor=sparse,
    tp=helper.make_sequence_type_proto(helper.make_tensor_type_proto(TensorProto.INT64, ["N"])),
)
ref = helper.make_attribute_ref("alpha", onnx.AttributeProto.FLOAT)
fnode = helper.make_node("Mul", ["u", "u"], ["v"])
fnode.attribute.append(ref)
function = helper.make_function(
    "io.hapticmat.test", "Square", ["u"], ["v"], [fnode], [helper.make_opsetid("", 21)], attributes=["alpha"]
)
graph = helper.make_graph(
    [node, helper.make_node("Relu", ["y"], ["z"], name="relu")],
    "kitchen-sink",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])],
    [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["batch", 3])],
    initializer=[t, ext],
    doc_string="a graph",
    value_info=[
        helper.make_value_info("y", helper.make_tensor_type_proto(TensorProto.FLOAT, ["batch", 3])),
        helper.make_value_info("m", helper.make_map_type_proto(TensorProto.STRING, helper.make_tensor_type_proto(TensorProto.FLOAT, []))),
        helper.make_value_info("o", helper.make_optional_type_proto(helper.make_tensor_type_proto(TensorProto.FLOAT, [2]))),
    ],
    sparse_initializer=[sparse],
)
graph.quantization_annotation.add(tensor_name="y").quant_parameter_tensor_names.add(key="SCALE_TENSOR", value="w")
model = helper.make_model(
    graph,
    opset_imports=[helper.make_opsetid("", 21), helper.make_opsetid("io.hapticmat.test", 1)],
    producer_name="onnx_fixtures.py",
    producer_version="1",
    doc_string="every kind of field",
    functions=[function],
)
model.model_version = 3
model.domain = "io.hapticmat"
helper.set_model_props(model, {"feature_version": "1", "labels": "absent,sitting"})
training = model.training_info.add()
training.initialization.CopyFrom(sub)
training.algorithm.CopyFrom(sub)
training.initialization_binding.add(key="w", value="b")
training.update_binding.add(key="w", value="b")
# Fields newer IR versions added to nodes, graphs and functions.
node = model.graph.node[0]
graph = model.graph
function = model.functions[0]
node.overload = "v2"
node.metadata_props.add(key="origin", value="fixture")
graph.metadata_props.add(key="stage", value="test")
function.value_info.append(helper.make_tensor_value_info("u", TensorProto.FLOAT, [1]))
function.attribute_proto.append(helper.make_attribute("beta", 2.0))
function.doc_string = "a function"
function.overload = "v1"
function.metadata_props.add(key="kind", value="square")
seg = model.graph.initializer[0].segment
seg.begin = 0
seg.end = 6
onnx.save(model, out / "kitchen_sink.onnx")
print(f"wrote {out / 'kitchen_sink.onnx'} ({(out / 'kitchen_sink.onnx').stat().st_size} bytes, onnx {onnx.__version__})")
