"""Engine layer reports from the builder's DETAILED layer log: TensorRT-RTX's, full TensorRT
10/11's (one-line text and the engine inspector's JSON), read from fixtures in the form of
NVIDIA's published logs (tests/trt/fixtures: each file's header says where its form comes from)."""

import json
import logging
import runpy
from pathlib import Path
from types import SimpleNamespace

import pytest
from onnx import TensorProto, helper

from tests.conftest import ROOT, tiny_build, tiny_conv_bytes
from workflow.errors import PipelineError
from workflow.trt import layers as layers_module
from workflow.trt.layers import (
    compute_layer_precisions,
    engine_layer_report,
    is_compute_layer,
    layer_precision,
    layer_report,
    onnx_node_name,
    parse_layer_log,
)

FIXTURES = Path(__file__).parent / "fixtures"


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


def _graph(float_type=TensorProto.FLOAT):
    """The LOG's graph: a Q/DQ pair (int8 zero point) before the Conv and the MatMul, in a
    graph of ``float_type``."""
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "s", "zp"], ["xq"]),
        helper.make_node("DequantizeLinear", ["xq", "s", "zp"], ["xd"]),
        helper.make_node("Conv", ["xd", "w0"], ["c"], name="conv"),
        helper.make_node("Reshape", ["c", "shape"], ["r"], name="reshape"),
        helper.make_node("QuantizeLinear", ["r", "s", "zp"], ["rq"]),
        helper.make_node("DequantizeLinear", ["rq", "s", "zp"], ["rd"]),
        helper.make_node("MatMul", ["rd", "w1"], ["m"], name="fc"),
        helper.make_node("Relu", ["m"], ["f"], name="relu"),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", float_type, [1, 1, 4, 4])],
        [helper.make_tensor_value_info("f", float_type, [1, 8])],
        [
            helper.make_tensor("s", float_type, [], [0.1]),
            helper.make_tensor("zp", TensorProto.INT8, [], [0]),
            helper.make_tensor("w0", float_type, [2, 1, 3, 3], [0.5] * 18),
            helper.make_tensor("shape", TensorProto.INT64, [2], [1, 8]),
            helper.make_tensor("w1", float_type, [8, 8], [0.5] * 64),
        ],
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
    common = {"intended": "int8", "precision": "int8", "fused": False}
    assert report["compute"] == [
        {"node": "conv", "op": "Conv", "layer": "conv_0"} | common,
        {"node": "fc", "op": "MatMul", "layer": "fc_1"} | common,
    ]
    assert report["in_intended"] == report["compute_count"] == 2
    assert report["other_intended"] == {}
    assert report["layers"][2]["onnx_ops"] == ["Reshape", "MatMul", "Relu"]
    # the same graph named an FP16 plan: its nodes are meant for INT8, none counts for FP16
    fp16 = layer_report(parse_layer_log(LOG), onnx_bytes=_graph(), intended="fp16")
    assert fp16["in_intended"] == fp16["compute_count"] == 0
    assert fp16["other_intended"] == {"int8": {"nodes": 2, "as_intended": 2}}


def test_a_plan_that_misses_its_graphs_precision_counts_the_misses():
    """Q/DQ of an FP16 graph mean INT8 as well; a log whose layers read Float misses it."""
    float_log = LOG.replace("Datatype: Int8", "Datatype: Float")
    report = layer_report(
        parse_layer_log(float_log), onnx_bytes=_graph(TensorProto.FLOAT16), intended="int8"
    )
    assert [(c["intended"], c["precision"]) for c in report["compute"]] == [("int8", "fp32")] * 2
    assert report["compute_count"] == 2 and report["in_intended"] == 0


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


def _fixture(name):
    """A fixture's message: the file after its '#' header lines, line ends as stored."""
    with open(FIXTURES / name, encoding="utf-8", newline="") as file:
        lines = file.read().split("\n")
    start = next(i for i, line in enumerate(lines) if not line.startswith("#"))
    return "\n".join(lines[start:])


def _graph_of(nodes):
    """A graph of ``(op, name, output)`` nodes (``name`` empty: unnamed, as the pipeline's
    Cast and Q/DQ nodes are); the report reads only names and op types."""
    made = [helper.make_node(op, [f"{out}_in"], [out], name=name) for op, name, out in nodes]
    return helper.make_model(helper.make_graph(made, "g", [], [])).SerializeToString()


#: The small CNN of the full TensorRT fixtures, as PyTorch names its nodes.
CNN = [
    ("Conv", "/conv1/Conv", "/conv1/Conv_output_0"),
    ("Relu", "/relu1/Relu", "/relu1/Relu_output_0"),
    ("MaxPool", "/pool/MaxPool", "/pool/MaxPool_output_0"),
    ("Conv", "/conv2/Conv", "/conv2/Conv_output_0"),
    ("Add", "/Add", "/Add_output_0"),
    ("Relu", "/relu2/Relu", "/relu2/Relu_output_0"),
    ("Sigmoid", "/act/Sigmoid", "/act/Sigmoid_output_0"),
    ("Mul", "/act/Mul", "/act/Mul_output_0"),
    ("GlobalAveragePool", "/gap/GlobalAveragePool", "/gap/GlobalAveragePool_output_0"),
    ("Flatten", "/flatten/Flatten", "/flatten/Flatten_output_0"),
    ("Gemm", "/fc/Gemm", "/fc/Gemm_output_0"),
    ("Softmax", "/softmax/Softmax", "prob"),
]
#: The same in FP16: a Cast after the input, one before the softmax kept in FP32.
CNN_FP16 = [("Cast", "", "input_fp16"), *CNN[:-1], ("Cast", "", "/fc/Gemm_output_0_fp32"), CNN[-1]]


def _qdq(tensor):
    return [("QuantizeLinear", "", f"{tensor}_q"), ("DequantizeLinear", "", f"{tensor}_dq")]


#: Its INT8 Q/DQ graph (no SiLU, no residual): unnamed Q/DQ nodes before every Conv and Gemm.
CNN_INT8 = [
    *_qdq("input"),
    ("DequantizeLinear", "", "conv1.weight_dq"),
    *CNN[0:2],
    *_qdq("/relu1/Relu_output_0"),
    CNN[2],
    *_qdq("/pool/MaxPool_output_0"),
    ("DequantizeLinear", "", "conv2.weight_dq"),
    CNN[3],
    CNN[5],
    *_qdq("/relu2/Relu_output_0"),
    CNN[8],
    *_qdq("/gap/GlobalAveragePool_output_0"),
    CNN[9],
    ("DequantizeLinear", "", "fc.weight_dq"),
    *CNN[10:],
]


def _compute(report):
    return [(c["node"], c["op"], c["layer"], c["precision"]) for c in report["compute"]]


def test_full_tensorrt_fp32_log_is_read_whole():
    message = _fixture("trt10_fp32.log")
    # U+001E splits a line for str.splitlines, not for the reader
    assert len(message.splitlines()) > len(message.split("\n"))
    layers = parse_layer_log(message)
    assert len(layers) == message.count("\nName: ") == 9
    conv1, pool, conv2, pwn = layers[:4]
    assert conv1["onnx_nodes"] == ["/conv1/Conv", "/relu1/Relu"]
    assert conv1["inputs"] == [{"name": "input", "dtype": "FP32"}]
    assert conv1["outputs"] == [{"name": "/relu1/Relu_output_0", "dtype": "FP32"}]
    assert conv1["weights"] == "Float" and conv1["tactic"].startswith("sm80_xmma_fprop")
    assert conv2["onnx_nodes"] == ["/conv2/Conv", "/Add", "/relu2/Relu"]
    assert len(conv2["inputs"]) == 2  # the residual
    assert pwn["name"] == "PWN(/act/Sigmoid, /act/Mul)" and pwn["type"] == "PointWiseV2"
    report = layer_report(layers, onnx_bytes=_graph_of(CNN), intended="fp32")
    assert _compute(report) == [
        ("/conv1/Conv", "Conv", "/conv1/Conv + /relu1/Relu", "fp32"),
        ("/conv2/Conv", "Conv", "/conv2/Conv + /Add + /relu2/Relu", "fp32"),
        ("/fc/Gemm", "Gemm", "/fc/Gemm", "fp32"),  # not the NoOp reshape that lists it too
    ]
    assert report["in_intended"] == report["compute_count"] == 3
    # two convolutions, two poolings, the Gemm as a convolution, the softmax: Cask kernels
    assert report["compute_layers"] == {"fp32": 6}
    assert report["gemm_precisions"] == {"fp32": 1}
    assert report["layers"][3]["onnx_ops"] == ["Sigmoid", "Mul"]
    assert layer_report(layers, onnx_bytes=_graph_of(CNN), intended="fp16")["in_intended"] == 0


def test_windows_line_ends_and_a_section_without_a_blank_line_read_the_same():
    message = _fixture("trt10_fp32.log")
    layers = parse_layer_log(message)
    assert parse_layer_log(message.replace("\n", "\r\n")) == layers
    assert parse_layer_log(message.replace("\n\nBindings:", "\nBindings:")) == layers


def test_full_tensorrt_fp16_inspector_json():
    message = _fixture("trt10_fp16.json.log")
    layers = parse_layer_log(message)
    assert len(layers) == 12
    cast, conv1 = layers[:2]
    assert cast["inputs"][0]["dtype"] == "FP32" and cast["outputs"][0]["dtype"] == "FP16"
    assert conv1["onnx_nodes"] == ["/conv1/Conv", "/relu1/Relu"] and conv1["weights"] == "Half"
    report = layer_report(layers, onnx_bytes=_graph_of(CNN_FP16), intended="fp16")
    assert _compute(report) == [
        ("/conv1/Conv", "Conv", "/conv1/Conv + /relu1/Relu", "fp16"),
        ("/conv2/Conv", "Conv", "/conv2/Conv + /Add + /relu2/Relu", "fp16"),
        ("/fc/Gemm", "Gemm", "/fc/Gemm", "fp16"),
    ]
    assert report["in_intended"] == report["compute_count"] == 3
    assert report["compute_layers"] == {"fp16": 5, "fp32": 1}  # the softmax kept in FP32
    precisions = [layer["precision"] for layer in report["layers"]]
    assert precisions == ["fp32"] + ["fp16"] * 10 + ["fp32"]  # each cast reads its input
    assert report["layers"][0]["onnx_ops"] == ["Cast"]


def test_full_tensorrt_int8_log():
    message = _fixture("trt10_int8.log")
    layers = parse_layer_log(message)
    assert len(layers) == 9
    quantize, conv1, pool = layers[:3]
    assert pool["name"] == "/pool/MaxPool\x1enode_of_/pool/MaxPool_output_0_q"  # kept whole
    assert quantize["outputs"][0]["dtype"] == "Int8"
    report = layer_report(layers, onnx_bytes=_graph_of(CNN_INT8), intended="int8")
    assert _compute(report) == [
        (
            "/conv1/Conv",
            "Conv",
            "conv1.weight + node_of_conv1.weight_dq + /conv1/Conv + /relu1/Relu",
            "int8",
        ),
        (
            "/conv2/Conv",
            "Conv",
            "conv2.weight + node_of_conv2.weight_dq + /conv2/Conv + /relu2/Relu",
            "int8",
        ),
        ("/fc/Gemm", "Gemm", "fc.weight + node_of_fc.weight_dq + /fc/Gemm", "int8"),
    ]
    assert report["in_intended"] == report["compute_count"] == 3
    assert report["compute_layers"] == {"int8": 5, "fp32": 1}
    assert report["layers"][1]["onnx_ops"] == [
        "DequantizeLinear",
        "DequantizeLinear",
        "Conv",
        "Relu",
        "QuantizeLinear",
    ]
    assert report["layers"][0]["precision"] == "fp32"  # the quantize reads FP32


def test_network_api_engine_with_dynamic_shapes():
    """No tensor types (dynamic shapes), no ONNX nodes: precision from the weights' type, the
    kernel's name or the Myelin layers' own types; the multiplying layers counted by type."""
    layers = parse_layer_log(_fixture("trt10_api_lenet.log"))
    assert [layer["type"] for layer in layers] == [
        "CaskConvolution",
        "CaskPooling",
        "CaskConvolution",
        "CaskPooling",
        "NoOp",
        "gemm",
        "kgen",
        "gemm",
        "kgen",
    ]
    assert layers[0]["inputs"] == [{"name": "data", "dtype": None}]  # N/A due to dynamic shapes
    report = layer_report(layers, onnx_bytes=None, intended="fp32")
    sources = {r["name"]: (r["precision"], r["precision_from"]) for r in report["layers"]}
    assert sources["conv1"] == ("fp32", "weights")
    assert sources["pool1"] == ("fp32", "tactic")  # ..._pooling_fw_4d_FP32FP32NCHW_Max
    assert sources["fc1.matmul_myl0_0"] == ("fp32", "input")
    assert sources["flatten"] == (None, None)  # a NoOp: no weights, no kernel
    assert report["compute_count"] == 0 and report["compute"] == []
    assert report["compute_layers"] == {"fp32": 6}
    assert report["gemm_precisions"] == {"fp32": 2}


def _rtx_tiny_conv_graph():
    """tests.conftest.tiny_conv_bytes()'s nodes: the graph the TensorRT-RTX fixture was built
    from."""
    return _graph_of(
        [
            ("Conv", "", "conv"),
            ("Relu", "", "relu"),
            ("Flatten", "", "flat"),
            ("Gemm", "", "logits"),
            ("Softmax", "", "prob"),
        ]
    )


def test_tensorrt_rtx_log_captured_here():
    layers = parse_layer_log(_fixture("rtx_tiny_conv_fp32.log"))
    assert [layer["type"] for layer in layers] == [
        "shape_call",
        "kgen",
        "correlation",
        "kgen",
        "runtime_fusion",
        "kgen",
    ]
    assert layers[2]["onnx_nodes"] == ["node_of_conv", "node_of_relu"]  # joined by U+001F
    assert len(layers[2]["constants"]) == 4
    report = layer_report(layers, onnx_bytes=_rtx_tiny_conv_graph(), intended="fp32")
    assert _compute(report) == [
        ("node_of_conv", "Conv", "node_of_conv_myl0_2", "fp32"),
        ("node_of_logits", "Gemm", "__myl_FcAdd_myl0_4", "fp32"),
    ]
    # the convolution and the run-time fusion around the Gemm (__myl_FcAdd)
    assert report["compute_layers"] == {"fp32": 2}


def _one_layer(kind, phrase, name="layer", meta=""):
    tensor = f"{{ Name: x, Location: Device, Dimensions: [1,8], Format/Datatype: {phrase} }}"
    return (
        f"Layers:\nName: {name}, LayerType: {kind}, Inputs: [ {tensor}], Outputs: [ {tensor}], "
        f"TacticValue: 0x0000000000000000, StreamId: 0, Metadata: {meta}"
    )


#: Format phrases as trt-engine-explorer's trex/activations.py lists them, with the type it
#: reads from each.
PHRASES = [
    ("Row major linear FP32", "fp32"),
    ("Row major linear FP32 format", "fp32"),
    ("Channel major FP32 format where channel % 4 == 0 with 3 spatial dimensions", "fp32"),
    ("Channel major FP16 format where channel % 8 == 0", "fp16"),
    ("Channel major FP16 format where channel == 4 and column stride % 32 == 0", "fp16"),
    ("Sixteen wide channel vectorized row major FP16 format", "fp16"),
    ("Two wide channel vectorized row major FP16 format", "fp16"),
    ("Four wide channel vectorized row major Int8 format", "int8"),
    ("Thirty-two wide channel vectorized row major Int8 format with 3 spatial dimensions", "int8"),
    ("Channel major INT8 format where column stride % 32 == 0", "int8"),
    ("Row major Int8 format", "int8"),
    ("Two wide channel vectorized row major BFloat16 format", "bf16"),
    ("Row major linear FP8 format", "fp8"),
    ("Row major linear Int4 format", "int4"),
    ("Row major linear Int32", "int32"),
    ("Row major linear Int64 format", "int64"),
    ("Row major linear BOOL", "bool"),
    ("Row major linear UInt8 format", "uint8"),
    ("Half", "fp16"),
    ("Float", "fp32"),
    ("N/A due to dynamic shapes", None),
    ("Unknown format", None),
]


@pytest.mark.parametrize(("phrase", "precision"), PHRASES)
def test_every_format_phrase_gives_its_type(phrase, precision):
    (layer,) = parse_layer_log(_one_layer("Reformat", phrase))
    assert layer_precision(layer) == precision


@pytest.mark.parametrize(
    ("tactic", "precision"),
    [
        # kernel names as NVIDIA/TensorRT issues #3583 and #2418 and published build logs show them
        (
            "sm80_xmma_fprop_implicit_gemm_f32f32_tf32f32_f32_nhwckrsc_nhwc_tilesize256x64x32",
            "fp32",
        ),
        ("sm50_xmma_pooling_fw_4d_FP16FP32NHWC_Average_FastDiv_GenericWindowWidth_CAlign4", "fp16"),
        ("sm50_xmma_cublas_gemvx_f16f16_f32_f32_tn_n_int32_unit_n_launch_param4x32x32", "fp16"),
        ("sm80_xmma_fprop_implicit_gemm_interleaved_i8f32_i8i32_f32_nchw_vect_c_32kcrs", "int8"),
        ("ampere_first_layer_filter3x3_imma_fwd", None),
    ],
)
def test_kernel_names_give_the_type_where_the_log_gives_none(tactic, precision):
    line = _one_layer("CaskConvolution", "N/A due to dynamic shapes").replace(
        "TacticValue:", f"TacticName: {tactic}, TacticValue:"
    )
    (layer,) = parse_layer_log(line)
    assert layer["tactic"] == tactic and layer_precision(layer) == precision


@pytest.mark.parametrize(
    ("kind", "name", "computes"),
    [
        ("CaskConvolution", "c", True),
        ("CaskGemmConvolution", "c", True),
        ("CaskDeconvolutionV2", "c", True),
        ("CaskPooling", "c", True),
        ("CudnnConvolution", "c", True),
        ("MatrixMultiply", "c", True),
        ("FullyConnected", "c", True),
        ("gemm", "fc_myl0_3", True),
        ("correlation", "c", True),
        ("Myelin", "{ForeignNode[/a/MatMul.../b/Add]}", True),
        ("Reformat", "c", False),
        ("NoOp", "c", False),
        ("kgen", "__myl_AddRelu_myl0_1", False),
        ("PointWiseV2", "PWN(/a, /b)", False),
    ],
)
def test_compute_layers_by_type(kind, name, computes):
    (layer,) = parse_layer_log(_one_layer(kind, "Half", name=name))
    assert is_compute_layer(layer) is computes


def test_myelin_foreign_nodes_and_braces_in_names():
    """A Myelin subgraph as one layer, and a reformat named after it (as in published TensorRT
    verbose logs): braces inside layer and tensor names."""
    foreign = "{ForeignNode[/attn/MatMul.../attn/Add]}"
    copy = f"Reformatted Input Tensor 0 to {foreign}"
    tensor = "{{ Name: {}, Location: Device, Dimensions: [1,64,32], Format/Datatype: {} }}"
    message = "\n".join(
        [
            "Layers:",
            f"Name: Reformatting CopyNode for Input Tensor 0 to {foreign}, LayerType: Reformat, "
            f"Inputs: [ {tensor.format('x', 'Row major linear FP32 format')}], "
            f"Outputs: [ {tensor.format(copy, 'Row major linear FP16 format')}], "
            "ParameterType: Reformat, Origin: REFORMAT, TacticValue: 0x00000000000003e8, "
            "StreamId: 0, Metadata: ",
            f"Name: {foreign}, LayerType: Myelin, "
            f"Inputs: [ {tensor.format(copy, 'Row major linear FP16 format')}], "
            f"Outputs: [ {tensor.format('y', 'Row major linear FP16 format')}, "
            f"{tensor.format('z', 'Row major linear FP16 format')}], TacticValue: "
            "0x0000000000000000, StreamId: 0, Metadata: [ONNX Layer: /attn/MatMul]\x1e"
            "[ONNX Layer: /attn/Add]",
        ]
    )
    reformat, myelin = parse_layer_log(message)
    assert reformat["outputs"] == [{"name": copy, "dtype": "FP16"}]
    assert myelin["name"] == foreign and myelin["inputs"] == [{"name": copy, "dtype": "FP16"}]
    assert [t["name"] for t in myelin["outputs"]] == ["y", "z"]
    graph = _graph_of([("MatMul", "/attn/MatMul", "m"), ("Add", "/attn/Add", "a")])
    report = layer_report([reformat, myelin], onnx_bytes=graph, intended="fp16")
    assert _compute(report) == [("/attn/MatMul", "MatMul", foreign, "fp16")]
    assert report["compute_layers"] == {"fp16": 1}


def test_only_the_first_profile_computes_a_node():
    """An engine with two optimization profiles lists each layer twice, the second with a
    ``[profile 1]`` suffix."""
    meta = "[ONNX Layer: fc]"
    message = "\n".join(
        [
            _one_layer("CaskGemmConvolution", "Half", name="fc", meta=meta),
            _one_layer("CaskGemmConvolution", "Half", name="fc [profile 1]", meta=meta).split("\n")[
                1
            ],
        ]
    )
    graph = _graph_of([("Gemm", "fc", "y")])
    report = layer_report(parse_layer_log(message), onnx_bytes=graph, intended="fp16")
    assert _compute(report) == [("fc", "Gemm", "fc", "fp16")]


def test_unreadable_lines_are_named_by_number_and_text():
    message = _one_layer("Reformat", "Half") + "\nLayer(CaskConvolution): conv1, Tactic: 0x1"
    with pytest.raises(PipelineError, match=r"line 3: unreadable layer line: 'Layer\(Cask"):
        parse_layer_log(message)
    cut = "Layers:\nName: a, LayerType: Reformat, Inputs: [], Outputs: [ { Name: x, Format/Da"
    with pytest.raises(PipelineError, match="line 2: unreadable Outputs list: 'Name: a, "):
        parse_layer_log(cut)
    with pytest.raises(PipelineError, match="line 2: not JSON"):
        parse_layer_log('{"Layers": [\n{"Name": }]}')
    with pytest.raises(PipelineError, match="layer 0: 'conv1' has no Name and LayerType"):
        parse_layer_log('{"Layers": ["conv1"], "Bindings": ["input"]}')  # layer names only


def test_a_report_failure_keeps_the_plan(caplog):
    with caplog.at_level(logging.ERROR):
        report = engine_layer_report("", onnx_bytes=None, intended="fp16", plan="engines/x.plan")
    assert report["error"].startswith("engines/x.plan | layer report not made")
    assert "no 'Layers:' block" in report["error"] and report["error"] in caplog.text
    assert report["compute_count"] == 0 and report["layers"] == []
    good = engine_layer_report(_fixture("trt10_api_lenet.log"), onnx_bytes=None, intended="fp32")
    assert "error" not in good and good["compute_layers"] == {"fp32": 6}


class _Named(SimpleNamespace):
    def keys(self):
        return list(vars(self))


def test_the_build_script_keeps_a_good_plan_when_the_report_fails(tmp_path, monkeypatch):
    """scripts/engine_build.py run with a stand-in ``snakemake`` object: the plan, its metadata
    and a layer report; with a layer log the reader refuses, the plan and metadata still, and a
    report whose error names the line."""
    onnx_path = tmp_path / "g.onnx"
    onnx_path.write_bytes(tiny_conv_bytes())
    monkeypatch.setattr("workflow.logs.log_to", lambda path: None)

    def run(name):
        out = {key: str(tmp_path / f"{name}.{key}") for key in ("plan", "meta", "layers")}
        stand_in = SimpleNamespace(
            input=_Named(onnx=str(onnx_path)),
            output=_Named(**out),
            params=_Named(build=tiny_build().as_params(), top_k=0, dims={}),
            wildcards=_Named(precision="fp32"),
            log=[str(tmp_path / f"{name}.log")],
        )
        runpy.run_path(str(ROOT / "scripts/engine_build.py"), init_globals={"snakemake": stand_in})
        return Path(out["plan"]).stat().st_size, json.loads(Path(out["layers"]).read_text())

    size, report = run("good")
    assert size > 1000 and "error" not in report
    assert report["in_intended"] == report["compute_count"] == 2

    def refuse(number, line):
        raise PipelineError("builder layer log", f"line {number}: unreadable layer line")

    monkeypatch.setattr(layers_module, "_parse_line", refuse)
    kept, refused = run("refused")
    assert kept == size and (tmp_path / "refused.meta").is_file()
    assert "layer report not made" in refused["error"] and "line 2" in refused["error"]
    assert refused["compute_count"] == 0


def _se_block_fp16():
    """A squeeze-and-excitation block (Conv 3->8, Relu, GlobalAveragePool, 1x1 Conv 8->2, Relu,
    1x1 Conv 2->8, Sigmoid, Mul), seeded, as the pipeline's FP16 graph (no op kept FP32)."""
    import numpy as np
    from onnx import numpy_helper

    from workflow.quant.fp16 import fp16_from_fp32

    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array(rng.normal(size=shape).astype(np.float32), name)
        for name, shape in (("w0", (8, 3, 3, 3)), ("w1", (2, 8, 1, 1)), ("w2", (8, 2, 1, 1)))
    ]
    nodes = [
        helper.make_node("Conv", ["x", "w0"], ["a"], name="conv0", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["a"], ["r"], name="relu0"),
        helper.make_node("GlobalAveragePool", ["r"], ["p"], name="pool"),
        helper.make_node("Conv", ["p", "w1"], ["s1"], name="se_fc1"),
        helper.make_node("Relu", ["s1"], ["s1r"], name="se_relu"),
        helper.make_node("Conv", ["s1r", "w2"], ["s2"], name="se_fc2"),
        helper.make_node("Sigmoid", ["s2"], ["g"], name="se_sig"),
        helper.make_node("Mul", ["r", "g"], ["y"], name="se_mul"),
    ]
    graph = helper.make_graph(
        nodes,
        "se",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 8, 8, 8])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    return fp16_from_fp32(model.SerializeToString(), keep_fp32=[])


#: The SE block's layers as TensorRT-RTX 1.7.1 builds its FP16 graph: the second 1x1 Conv is
#: fused with the Sigmoid and the Mul into one generated kernel.
SE_FP16 = [
    ("conv0", "Conv", "conv0_myl0_2", "fp16"),
    ("se_fc1", "Conv", "se_fc1_myl0_4", "fp16"),
    ("se_fc2", "Conv", "__myl_SlicSlicMulMulAddSigmReshMulCast_myl0_5", "fp16"),
]


def _check_se_report(report):
    assert _compute(report) == SE_FP16
    assert [c["fused"] for c in report["compute"]] == [False, False, True]
    assert {c["intended"] for c in report["compute"]} == {"fp16"}
    assert report["in_intended"] == report["compute_count"] == 3


def test_a_conv_fused_into_a_generated_kernel_is_reported_fused():
    layers = parse_layer_log(_fixture("rtx_se_block_fp16.log"))
    kernel = next(r for r in layers if r["name"] == SE_FP16[2][2])
    assert kernel["type"] == "kgen" and "se_fc2" in kernel["onnx_nodes"]
    _check_se_report(layer_report(layers, onnx_bytes=_se_block_fp16(), intended="fp16"))


def test_a_conv_fused_into_a_generated_kernel_in_a_real_build(tmp_path):
    from workflow.trt.loader import engine_bytes_from_onnx

    path = tmp_path / "se.onnx"
    path.write_bytes(_se_block_fp16())
    built = engine_bytes_from_onnx(path, tiny_build())
    report = layer_report(
        parse_layer_log(built.layer_log), onnx_bytes=path.read_bytes(), intended="fp16"
    )
    _check_se_report(report)


def _loop_fp16():
    """``h = x @ w0``, then a Loop of 3 steps: ``h = tanh(h @ w) + If(sum(h) > 0, h @ w2, h)``,
    as the pipeline's FP16 graph (the Loop kept whole in FP32)."""
    import numpy as np
    from onnx import numpy_helper

    from workflow.quant.fp16 import fp16_from_fp32

    def floats(name):
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N", 8])

    rng = np.random.default_rng(0)
    then = helper.make_graph(
        [helper.make_node("MatMul", ["h_in", "w2"], ["t"], name="inner_mm")],
        "ithen",
        [],
        [floats("t")],
    )
    otherwise = helper.make_graph(
        [helper.make_node("Identity", ["h_in"], ["e"], name="inner_id")], "ielse", [], [floats("e")]
    )
    body = helper.make_graph(
        [
            helper.make_node("MatMul", ["h_in", "w"], ["m"], name="body_mm"),
            helper.make_node("Tanh", ["m"], ["h1"], name="body_tanh"),
            helper.make_node("ReduceSum", ["h_in"], ["s"], name="body_sum", keepdims=0),
            helper.make_node("Greater", ["s", "zero"], ["pos"], name="body_gt"),
            helper.make_node(
                "If", ["pos"], ["h2"], name="inner_if", then_branch=then, else_branch=otherwise
            ),
            helper.make_node("Add", ["h1", "h2"], ["h_out"], name="body_add"),
            helper.make_node("Identity", ["cond_in"], ["cond_out"], name="body_cond"),
        ],
        "body",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
            floats("h_in"),
        ],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []), floats("h_out")],
    )
    inits = [
        numpy_helper.from_array(rng.normal(size=(8, 8)).astype(np.float32) * 0.3, name)
        for name in ("w0", "w", "w2")
    ]
    inits += [
        numpy_helper.from_array(np.array(3, np.int64), "trip"),
        numpy_helper.from_array(np.array(True), "true"),
        numpy_helper.from_array(np.array(0.0, np.float32), "zero"),
    ]
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "w0"], ["h"], name="top_mm"),
            helper.make_node("Loop", ["trip", "true", "h"], ["y"], name="loop", body=body),
        ],
        "loop",
        [floats("x")],
        [floats("y")],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    return fp16_from_fp32(model.SerializeToString(), keep_fp32=[])


def test_loop_body_and_nested_if_nodes_are_counted_in_their_own_precision(tmp_path):
    """TensorRT-RTX names a Loop body's node by its own name and an If branch's node by its
    place; both are found, meant and run in FP32, beside the FP16 MatMul outside."""
    from workflow.trt.loader import engine_bytes_from_onnx

    path = tmp_path / "loop.onnx"
    path.write_bytes(_loop_fp16())
    built = engine_bytes_from_onnx(path, tiny_build())
    layers = parse_layer_log(built.layer_log)
    assert any("body_mm" in r["onnx_nodes"] for r in layers)  # the body's node: its own name
    report = layer_report(layers, onnx_bytes=path.read_bytes(), intended="fp16")
    assert [(c["node"], c["intended"], c["precision"]) for c in report["compute"]] == [
        ("top_mm", "fp16", "fp16"),
        ("body_mm | body (body) | loop (Loop)", "fp32", "fp32"),
        ("inner_mm | ithen (then_branch) | inner_if (If)", "fp32", "fp32"),
    ]
    assert report["compute_count"] == report["in_intended"] == 1
    assert report["other_intended"] == {"fp32": {"nodes": 2, "as_intended": 2}}


#: The PP-OCRv4 detector's Convs in the fixture's layers, and the layer each runs in (FP16).
OCR_DET_FP16 = [
    ("p2o.Conv.25", "p2o.Conv.25_myl0_34"),
    ("p2o.Conv.26", "p2o.Conv.26_myl0_36"),
    ("p2o.Conv.27", "p2o.Conv.27_myl0_37"),
    ("p2o.Conv.28", "__myl_FcMulAddAddMaxMinMulMulMulAdd_myl0_39"),
    ("p2o.Conv.29", "__myl_CorrMulAddAddMaxMinMulMulMulAdd_myl0_40"),
    ("p2o.Conv.30", "__myl_FcMulAddAddMaxMinMulMulMulAdd_myl0_41"),
    ("p2o.Conv.31", "__myl_CorrMulAddAddMaxMinMulMulMulAdd_myl0_42"),
    ("p2o.Conv.32", "__myl_FcMulAddAddMaxMinMulMulMulAdd_myl0_43"),
    ("p2o.Conv.36", "__mye24627_myl0_44"),
]


def test_a_conv_run_as_a_matrix_multiply_is_matched_by_its_tagged_name():
    """TensorRT-RTX runs the detector's 1x1 Convs of 384 channels as matrix multiplies and
    tags their metadata entry (``[ONNX Layer: p2o.Conv.28]__gemm_from_conv1x1``)."""
    layers = parse_layer_log(_fixture("rtx_ocr_det_fp16.log"))
    assert len(layers) == 11
    by_name = {layer["name"]: layer for layer in layers}
    assert by_name["__myl_FcMulAddAddMaxMinMulMulMulAdd_myl0_39"]["onnx_nodes"] == ["p2o.Conv.28"]
    assert by_name["__mye24627_myl0_44"]["onnx_nodes"] == ["p2o.Conv.36"]
    assert by_name["__mye24627_myl0_44"]["type"] == "gemm"
    convs = [("Conv", node, f"{node}_out") for node, _ in OCR_DET_FP16]
    report = layer_report(layers, onnx_bytes=_graph_of(convs), intended="fp16")
    assert _compute(report) == [(node, "Conv", layer, "fp16") for node, layer in OCR_DET_FP16]
    assert not any(c["fused"] for c in report["compute"])
    assert report["in_intended"] == report["compute_count"] == 9 and report["removed"] == 0


@pytest.mark.parametrize(
    ("metadata", "nodes"),
    [
        ("[ONNX Layer: conv]__gemm_from_conv1x1", ["conv"]),
        ("[ONNX Layer: a]__gemm_from_conv1x1\x1f[ONNX Layer: b]", ["a", "b"]),
        ("[ONNX Layer: a]__gemm_from_conv1x1[ONNX Layer: b]", ["a", "b"]),
        ("[ONNX Layer: x[0]]", ["x[0]"]),  # a name holding brackets
        ("[ONNX Layer: a][ONNX Layer: b]", ["a", "b"]),
    ],
)
def test_metadata_entries_with_a_rewrite_tag(metadata, nodes):
    from workflow.trt.layers import fused_onnx_nodes

    assert fused_onnx_nodes(metadata) == nodes


def _pointwise_fp16(channels):
    """``y = Conv1x1(x)`` with ``channels`` in and out channels (seeded), as the pipeline's FP16
    graph."""
    import numpy as np
    from onnx import numpy_helper

    from workflow.quant.fp16 import fp16_from_fp32

    rng = np.random.default_rng(0)
    weight = rng.normal(size=(channels, channels, 1, 1)) / np.sqrt(channels)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"], name="pointwise")],
        "pointwise",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", channels, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", channels, 8, 8])],
        [numpy_helper.from_array(weight.astype(np.float32), "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    return fp16_from_fp32(model.SerializeToString(), keep_fp32=[])


def test_a_conv_run_as_a_matrix_multiply_in_a_real_build(tmp_path):
    """TensorRT-RTX 1.7.1 runs a 1x1 Conv of 256 channels as a gemm layer, tagged (of 128 as
    a correlation, untagged)."""
    from workflow.trt.loader import engine_bytes_from_onnx

    path = tmp_path / "pointwise.onnx"
    path.write_bytes(_pointwise_fp16(256))
    built = engine_bytes_from_onnx(path, tiny_build())
    assert "[ONNX Layer: pointwise]__gemm_from_conv1x1" in built.layer_log
    report = layer_report(
        parse_layer_log(built.layer_log), onnx_bytes=path.read_bytes(), intended="fp16"
    )
    (item,) = report["compute"]
    layer = next(r for r in report["layers"] if r["name"] == item["layer"])
    assert layer["type"] == "gemm" and layer["onnx_nodes"] == ["pointwise"]
    assert (item["precision"], item["fused"]) == ("fp16", False)
    assert report["in_intended"] == report["compute_count"] == 1


def _with_unused_conv():
    """``y = Conv(x, w) + Conv(c, wc)`` (the second on constants), and ``Conv(x, wd)`` whose
    output nothing reads: FP32, seeded."""
    import numpy as np
    from onnx import numpy_helper

    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array(rng.normal(size=shape).astype(np.float32), name)
        for name, shape in (
            ("w", (8, 3, 3, 3)),
            ("wd", (8, 3, 3, 3)),
            ("c", (1, 3, 8, 8)),
            ("wc", (8, 3, 3, 3)),
        )
    ]
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["a"], name="live", pads=[1] * 4),
        helper.make_node("Conv", ["x", "wd"], ["unread"], name="unused", pads=[1] * 4),
        helper.make_node("Conv", ["c", "wc"], ["k"], name="on_constants", pads=[1] * 4),
        helper.make_node("Add", ["a", "k"], ["y"], name="add"),
    ]
    graph = helper.make_graph(
        nodes,
        "unused",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 8, 8, 8])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    return model.SerializeToString()


def test_a_conv_whose_output_nothing_reads_is_reported_removed(tmp_path):
    """The builder drops a Conv whose output reaches no graph output: it is in no layer, is
    reported removed with no precision and is not counted; the Conv on constants is built."""
    from workflow.trt.loader import engine_bytes_from_onnx

    path = tmp_path / "unused.onnx"
    path.write_bytes(_with_unused_conv())
    built = engine_bytes_from_onnx(path, tiny_build())
    layers = parse_layer_log(built.layer_log)
    assert not any("unused" in r["onnx_nodes"] for r in layers)
    report = layer_report(layers, onnx_bytes=path.read_bytes(), intended="fp32")
    assert [(c["node"], c["layer"], c["precision"]) for c in report["compute"]] == [
        ("live", "live_myl0_2", "fp32"),
        ("unused", None, None),
        ("on_constants", "on_constants_myl0_3", "fp32"),  # read from its constants' type
    ]
    assert [c.get("removed") for c in report["compute"]] == [None, "unused", None]
    assert report["removed"] == 1
    assert report["compute_count"] == report["in_intended"] == 2


def test_unused_nodes_follow_reads_back_from_the_outputs_through_subgraphs():
    """``a`` feeds only the unused ``b``; the If branch's ``kept`` makes its output, its
    ``dropped`` nothing reads; the branch reads the outer ``c``, so ``c``'s maker is used."""
    from workflow.trt.layers import unused_nodes

    def floats(name):
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, [2, 2])

    then = helper.make_graph(
        [
            helper.make_node("MatMul", ["c", "x"], ["t"], name="kept"),
            helper.make_node("MatMul", ["x", "x"], ["spare"], name="dropped"),
        ],
        "then",
        [],
        [floats("t")],
    )
    otherwise = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["e"], name="same")], "else", [], [floats("e")]
    )
    nodes = [
        helper.make_node("MatMul", ["x", "x"], ["a"], name="a"),
        helper.make_node("Relu", ["a"], ["b_out"], name="b"),
        helper.make_node("MatMul", ["x", "x"], ["c"], name="c"),
        helper.make_node("ReduceSum", ["x"], ["s"], name="sum", keepdims=0),
        helper.make_node("Greater", ["s", "zero"], ["pos"], name="gt"),
        helper.make_node(
            "If", ["pos"], ["y"], name="branch", then_branch=then, else_branch=otherwise
        ),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [floats("x"), helper.make_tensor_value_info("zero", TensorProto.FLOAT, [])],
        [floats("y")],
    )
    assert unused_nodes(helper.make_model(graph)) == {
        "a",
        "b",
        "dropped | then (then_branch) | branch (If)",
    }


def test_attention_matmuls_are_reported_fused_into_the_attention_kernel():
    """The recogniser's attention: its two MatMuls are listed by the element-wise kernels
    around the fused attention kernel too; the kernel named for the multiply is theirs."""
    layers = parse_layer_log(_fixture("rtx_ocr_rec_fp16.log"))
    assert [r["type"] for r in layers] == ["gemm", *["kgen"] * 5, "runtime_fusion"]
    holders = [r["name"] for r in layers if "p2o.MatMul.2" in r["onnx_nodes"]]
    assert len(holders) == 5 and "_gemm_mha_v2_myl0_50" in holders
    matmuls = [("MatMul", f"p2o.MatMul.{i}", f"m{i}") for i in (0, 2, 4, 6)]
    report = layer_report(layers, onnx_bytes=_graph_of(matmuls), intended="fp16")
    assert _compute(report) == [
        ("p2o.MatMul.0", "MatMul", "__mye53185+__mye53173+__mye53161_myl0_46", "fp16"),
        ("p2o.MatMul.2", "MatMul", "_gemm_mha_v2_myl0_50", "fp16"),
        ("p2o.MatMul.4", "MatMul", "_gemm_mha_v2_myl0_50", "fp16"),
        ("p2o.MatMul.6", "MatMul", "__myl_FcAddAdd_myl0_52", "fp16"),
    ]
    assert [c["fused"] for c in report["compute"]] == [False, True, True, False]
    assert report["in_intended"] == report["compute_count"] == 4


@pytest.mark.parametrize(
    ("name", "kind", "multiplies"),
    [
        ("__myl_ReplCastMulCastFc_myl0_2", "runtime_fusion", True),
        ("__myl_FcAddRelu_myl0_5", "runtime_fusion", True),
        ("__myl_AddRelu_myl0_3", "runtime_fusion", False),
        ("__myl_FcAddRelu_myl0_5", "kgen", False),
        ("__myl_CastMulFcst_myl0_4", "runtime_fusion", False),
    ],
)
def test_run_time_fusions_around_a_fully_connected_op_multiply(name, kind, multiplies):
    assert is_compute_layer({"name": name, "type": kind}) is multiplies


def test_float_product_of_weights_dequantized_from_int4_counts_as_int4w():
    """The network-API count (no graph): a gemm fed by a kernel holding INT4 constants is
    weight-only INT4; one fed by float constants stays fp32."""
    dequant = {
        "name": "__myl_CastMulCast_myl0_7",
        "type": "kgen",
        "inputs": [],
        "constants": [{"name": "s", "dtype": "Float"}, {"name": "q", "dtype": "Int4"}],
        "outputs": [{"name": "w_float"}],
        "precision": "int4w",
    }

    def gemm(weight):
        return {
            "name": "mm",
            "type": "gemm",
            "inputs": [{"name": "x"}, {"name": weight}],
            "constants": [],
            "outputs": [{"name": "y"}],
            "precision": "fp32",
        }

    assert compute_layer_precisions([dequant, gemm("w_float")]) == {"int4w": 1}
    assert compute_layer_precisions([dequant, gemm("other")]) == {"fp32": 1}
