"""The layer description: its ONNX graph computes what the trained model computes, and the
TensorRT network built from it holds exactly the described layers and weights."""

import re

import numpy as np
import pytest

from tests.conftest import tiny_build
from workflow.errors import PipelineError
from workflow.formats.wts import read_wts_v1_bytes, wts_v1_bytes
from workflow.models.export import onnx_parity
from workflow.models.lenet import with_softmax
from workflow.models.networks import build_network
from workflow.netdef.layers import (
    check_network,
    describe_layers,
    layers_for,
    onnx_from_layers,
    populate_network,
)
from workflow.trt.layers import layer_report, parse_layer_log
from workflow.trt.loader import engine_bytes_from_network, strongly_typed_network
from workflow.trt.module import import_tensorrt

SIZES = [784, 32, 16, 10]
INPUTS = np.random.default_rng(0).random((20, 1, 28, 28), dtype=np.float32)


@pytest.fixture(scope="module", params=["lenet", "mlp"])
def model_and_layers(request):
    import torch

    torch.manual_seed(0)
    model = build_network(request.param, mlp_sizes=SIZES).eval()
    blobs = {k: v.numpy() for k, v in model.state_dict().items()}
    blobs = read_wts_v1_bytes(wts_v1_bytes(blobs))  # through the .wts file, flattened
    return request.param, model, layers_for(request.param, blobs, mlp_sizes=SIZES)


def test_onnx_of_the_description_equals_the_model(model_and_layers):
    _, model, layers = model_and_layers
    graph = onnx_from_layers(layers, opset=18)
    report = onnx_parity(
        with_softmax(model),
        graph,
        INPUTS,
        input_name="input",
        output_name="prob",
        batch_size=8,
        tolerance=1e-5,
    )
    assert report["max_abs_diff"] < 1e-5


def test_tensorrt_network_holds_the_described_layers(model_and_layers):
    name, _, layers = model_and_layers
    trt = import_tensorrt("auto")
    network = strongly_typed_network(trt, trt.Builder(trt.Logger()))
    keep = populate_network(trt, network, layers)
    rows = check_network(network, layers)
    types = [row["type"] for row in rows]
    if name == "lenet":
        assert types[:5] == ["CONVOLUTION", "POOLING", "CONVOLUTION", "POOLING", "SHUFFLE"]
        assert rows[0]["shape"] == [-1, 20, 24, 24] and rows[4]["shape"] == [-1, 800]
    else:
        assert types[:5] == ["SHUFFLE", "CONSTANT", "MATRIX_MULTIPLY", "CONSTANT", "ELEMENTWISE"]
        assert rows[1]["shape"] == [784, 32]
    assert types[-1] == "SOFTMAX" and rows[-1]["shape"] == [-1, 10]
    assert keep


def test_check_network_catches_other_weights(model_and_layers):
    _, _, layers = model_and_layers
    trt = import_tensorrt("auto")
    network = strongly_typed_network(trt, trt.Builder(trt.Logger()))
    other = [layer for layer in layers]
    index = next(i for i, layer in enumerate(other) if layer.weights)
    changed = {k: v + 1 for k, v in other[index].weights.items()}
    other[index] = type(other[index])(
        other[index].op, other[index].name, changed, other[index].params
    )
    keep = populate_network(trt, network, other)
    with pytest.raises(PipelineError, match=f"network layer .*{other[index].name}.* expected"):
        check_network(network, layers)
    assert keep and describe_layers(other) != describe_layers(layers)


def test_engine_builds_from_the_description(model_and_layers):
    _, _, layers = model_and_layers
    built = engine_bytes_from_network(
        lambda trt, network: populate_network(trt, network, layers),
        source={"path": "w.wts", "sha256": "0"},
        build=tiny_build(),
    )
    assert len(built.plan) > 1000 and built.meta["inputs"][0]["shape"] == [-1, 1, 28, 28]
    assert built.meta["build"]["refittable"] == []
    report = layer_report(parse_layer_log(built.layer_log), onnx_bytes=None, intended="fp32")
    assert {layer["precision"] for layer in report["layers"]} <= {"fp32", None}
    types = {layer["type"] for layer in report["layers"]}
    assert types & {"correlation", "gemm", "runtime_fusion"}  # convolutions or matrix products


def test_missing_or_misshapen_blob():
    with pytest.raises(PipelineError, match=re.escape("conv1.weight | blob missing")):
        layers_for("lenet", {}, mlp_sizes=SIZES)
    blobs = {"fc1.weight": np.zeros(10, np.float32)}
    with pytest.raises(PipelineError, match="10 values, the layer needs \\(32, 784\\)"):
        layers_for("mlp", blobs, mlp_sizes=SIZES)


@pytest.mark.parametrize("change", ["stride", "padding", "window"])
def test_check_network_catches_other_geometry(change):
    """A network whose pooling or convolution geometry differs from the description is refused,
    naming the layer and the values found and expected."""
    blobs = {
        "conv1.weight": np.zeros((20, 1, 5, 5), np.float32),
        "conv1.bias": np.zeros(20, np.float32),
        "conv2.weight": np.zeros((50, 20, 5, 5), np.float32),
        "conv2.bias": np.zeros(50, np.float32),
        "fc1.weight": np.zeros((500, 800), np.float32),
        "fc1.bias": np.zeros(500, np.float32),
        "fc2.weight": np.zeros((10, 500), np.float32),
        "fc2.bias": np.zeros(10, np.float32),
    }
    layers = layers_for("lenet", blobs, mlp_sizes=SIZES)
    trt = import_tensorrt("auto")
    network = strongly_typed_network(trt, trt.Builder(trt.Logger()))
    keep = populate_network(trt, network, layers)
    for index in range(network.num_layers):
        layer = network.get_layer(index)
        if change == "window" and layer.type.name == "POOLING":
            layer.__class__ = trt.IPoolingLayer
            layer.window_size_nd = (3, 3)
            break
        if change in ("stride", "padding") and layer.type.name == "CONVOLUTION":
            layer.__class__ = trt.IConvolutionLayer
            setattr(layer, f"{change}_nd", (2, 2) if change == "stride" else (1, 1))
            break
    with pytest.raises(PipelineError, match=rf"network layer \d+ \(\w+\) \| is .*'{change}'"):
        check_network(network, layers)
    assert keep


def test_lenet_with_the_fc_plugin_describes_a_plugin_layer():
    import onnx
    import torch

    from workflow.netdef.layers import describe_layers
    from workflow.ort.loader import session_from_onnx

    torch.manual_seed(0)
    blobs = {k: v.numpy() for k, v in build_network("lenet", mlp_sizes=[]).state_dict().items()}
    layers = layers_for("lenet", blobs, mlp_sizes=[])
    plugin = layers_for("lenet_fcplugin", blobs, mlp_sizes=[])
    assert [layer.op for layer in plugin] == [
        "fc_plugin" if layer.name == "fc2" else layer.op for layer in layers
    ]
    graph = onnx_from_layers(plugin, opset=18)
    ops = [node.op_type for node in onnx.load_from_string(graph).graph.node]
    assert "FCPlugin" in ops and ops.count("MatMul") == 1
    assert {"type": "PLUGIN_V3", "shape": [-1, 10]} in describe_layers(plugin)
    plain = session_from_onnx(onnx_from_layers(layers, opset=18)).run(None, {"input": INPUTS})[0]
    got = session_from_onnx(graph).run(None, {"input": INPUTS})[0]
    np.testing.assert_allclose(got, plain, atol=1e-6)


def _mlp_layers(sizes):
    rng = np.random.default_rng(3)
    blobs = {}
    for index in range(len(sizes) - 1):
        scale = 1 / np.sqrt(sizes[index])
        blobs[f"fc{index + 1}.weight"] = rng.normal(0, scale, (sizes[index + 1], sizes[index]))
        blobs[f"fc{index + 1}.bias"] = rng.normal(0, 0.1, sizes[index + 1])
    return layers_for("mlp", blobs, mlp_sizes=sizes)


def test_int4_network_matches_the_int4_graph_and_builds():
    """Weight-only INT4 through the network API: the INT4 values and scales the network gets
    are the ONNX pass's; padding the input to whole blocks (784 and 16 are no multiple of 32)
    computes what the graph's short last block computes (numpy against ONNX Runtime); the
    network holds the described layers; the engine's matrix products read INT4 constants."""
    from workflow.netdef.layers import check_int4_graph, int4_blocks
    from workflow.ort.loader import session_from_onnx
    from workflow.quant.int4 import int4_weight_only

    layers = _mlp_layers(SIZES)
    graph = int4_weight_only(onnx_from_layers(layers, opset=18), block_size=32, source="mlp")
    assert check_int4_graph(layers, graph, block_size=32) == 3
    x = INPUTS.reshape(len(INPUTS), -1)
    for layer in layers:
        if layer.op == "dense":
            values, scale = int4_blocks(layer.weights["weight"].T, 32)
            padded = np.zeros((len(x), values.shape[0]), np.float32)
            padded[:, : x.shape[1]] = x
            x = padded @ (values * np.repeat(scale, 32, axis=0)) + layer.weights["bias"]
        elif layer.op == "relu":
            x = np.maximum(x, 0)
    expected = np.exp(x - x.max(1, keepdims=True))
    expected /= expected.sum(1, keepdims=True)
    got = session_from_onnx(graph).run(None, {"input": INPUTS})[0]
    np.testing.assert_allclose(got, expected, atol=1e-6)
    other = int4_weight_only(onnx_from_layers(layers, opset=18), block_size=64, source="mlp")
    with pytest.raises(PipelineError, match="layer fc1 .* differ from the network's"):
        check_int4_graph(layers, other, block_size=32)

    def populate(trt, network):
        keep = populate_network(trt, network, layers, int4_block=32)
        rows = check_network(network, layers, int4_block=32)
        assert [row["type"] for row in rows].count("DEQUANTIZE") == 3
        assert {"type": "CONSTANT", "name": "fc1.int4", "shape": [800, 32]}.items() <= {
            **rows[1],
            "weights": None,
        }.items()
        return keep

    built = engine_bytes_from_network(
        populate, source={"path": "w.wts", "sha256": "0"}, build=tiny_build()
    )
    report = layer_report(parse_layer_log(built.layer_log), onnx_bytes=None, intended="int4w")
    assert report["compute_layers"] == {"int4w": 3}
