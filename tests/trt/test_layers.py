"""Engine layer reports from the builder's DETAILED layer log (the format TensorRT-RTX logs)."""

import pytest
from onnx import TensorProto, helper

from workflow.errors import PipelineError
from workflow.trt.layers import layer_report, onnx_node_name, parse_layer_log


def _tensor(name, dtype):
    return f"{{ Name: {name}, Dimensions: [-1,8], Strides: [8,1], Datatype: {dtype}, Format: x }}"


def _line(name, kind, inputs, outputs, nodes, constants=()):
    meta = "".join(f"[ONNX Layer: {node}]" for node in nodes)
    return (
        f"Name: {name}, LayerType: {kind}, Inputs: [ {', '.join(inputs)}], "
        f"Constants: [{', '.join(constants)}], Outputs: [ {', '.join(outputs)}], "
        f"TacticName: t, StreamId: 0, Metadata: {meta}"
    )


#: A Keras LeNet's tail as TensorRT-RTX logs it: the MatMul fused after a Reshape (tf2onnx).
LOG = "\n".join(
    [
        "Layers:",
        _line("__shape", "shape_call", [], [], []),
        _line("conv_0", "correlation", [_tensor("x", "Int8")], [_tensor("c", "Float")], ["conv"]),
        _line(
            "fc_1",
            "runtime_fusion",
            [_tensor("c", "Int8")],
            [_tensor("f", "Float")],
            ["reshape", "fc", "relu"],
            constants=[_tensor("w", "Int8")],
        ),
        _line("__q", "kgen", [_tensor("f", "Float")], [_tensor("q", "Int8")], ["fc", "q"]),
        "",
        "I/O Tensors:",
        " Name: x, IOMode: Input, DataType: Float",
    ]
)


def _graph():
    nodes = [
        helper.make_node("Conv", ["x", "w0"], ["c"], name="conv"),
        helper.make_node("Reshape", ["c", "s"], ["r"], name="reshape"),
        helper.make_node("MatMul", ["r", "w1"], ["m"], name="fc"),
        helper.make_node("Relu", ["m"], ["f"], name="relu"),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 4])],
        [helper.make_tensor_value_info("f", TensorProto.FLOAT, [1, 8])],
    )
    return helper.make_model(graph).SerializeToString()


def test_layer_log_is_parsed_layer_by_layer():
    layers = parse_layer_log(LOG)
    assert [layer["type"] for layer in layers] == [
        "shape_call",
        "correlation",
        "runtime_fusion",
        "kgen",
    ]
    fc = layers[2]
    assert fc["inputs"] == [{"name": "c", "dtype": "Int8"}]
    assert fc["constants"] == [{"name": "w", "dtype": "Int8"}]
    assert fc["onnx_nodes"] == ["reshape", "fc", "relu"]


def test_report_maps_every_compute_node_to_its_layer_and_precision():
    report = layer_report(parse_layer_log(LOG), onnx_bytes=_graph(), intended="int8")
    assert report["compute"] == [
        {"node": "conv", "op": "Conv", "layer": "conv_0", "precision": "int8"},
        {"node": "fc", "op": "MatMul", "layer": "fc_1", "precision": "int8"},
    ]
    assert report["in_intended"] == report["compute_count"] == 2
    assert report["layers"][2]["onnx_ops"] == ["Reshape", "MatMul", "Relu"]
    fp16 = layer_report(parse_layer_log(LOG), onnx_bytes=_graph(), intended="fp16")
    assert fp16["in_intended"] == 0  # what a wrong precision looks like in the report


def test_unnamed_nodes_take_the_parsers_names():
    node = helper.make_node("Gemm", ["a", "b"], ["logits"])
    assert onnx_node_name(node) == "node_of_logits"


def test_bad_logs_are_refused():
    with pytest.raises(PipelineError, match="no 'Layers:' block"):
        parse_layer_log("Engine generation completed")
    with pytest.raises(PipelineError, match="unreadable layer line"):
        parse_layer_log("Layers:\nName: x, LayerType: kgen, Inputs: []")
    missing = "\n".join(["Layers:", _line("other", "correlation", [], [], ["elsewhere"])])
    with pytest.raises(PipelineError, match="Conv node runs in 0 engine layers"):
        layer_report(parse_layer_log(missing), onnx_bytes=_graph(), intended="fp32")


def test_a_layer_without_weights_or_tactic_is_read():
    line = (
        "Name: [ShapeHostToDeviceCopy 0], LayerType: ShapeHostToDevice, Inputs: [], Outputs: "
        "[ { Name: (Unnamed Layer* 84) [ElementWise]_output, Location: Device, Dimensions: [1], "
        "Format/Datatype: Int64 }]"
    )
    (record,) = parse_layer_log(f"Layers:\n{line}")
    assert record["type"] == "ShapeHostToDevice" and record["constants"] == []
    assert record["onnx_nodes"] == [] and record["inputs"] == []
