"""The darknet converter against a PyTorch model built from the same cfg and weights."""

import numpy as np
import onnx
import pytest
import torch

from tests.conftest import tiny_build
from tests.formats.test_darknet import CFG, random_weights
from workflow.errors import FormatError
from workflow.formats.darknet import parse_cfg, parse_weights, weights_bytes
from workflow.models.darknet import darknet_model, darknet_weights, load_darknet_weights
from workflow.netdef.darknet import INPUT_NAME, onnx_from_darknet
from workflow.ort.loader import session_from_onnx
from workflow.trt.loader import engine_bytes_from_onnx


def test_onnx_equals_the_pytorch_model_of_the_same_cfg_and_weights():
    network = parse_cfg(CFG)
    weights = parse_weights(weights_bytes(random_weights(network), network), network)
    graph = onnx_from_darknet(network, weights)
    model = darknet_model(network).eval()
    load_darknet_weights(model, network, weights)
    images = np.random.default_rng(1).uniform(0, 1, (3, 3, 32, 32)).astype(np.float32)
    with torch.no_grad():
        expected = [t.numpy() for t in model(torch.from_numpy(images))]
    got = session_from_onnx(graph).run(None, {INPUT_NAME: images})
    assert [g.shape for g in got] == [(3, 21, 16, 16), (3, 21, 16, 16)]
    worst = max(float(np.abs(e - g).max()) for e, g in zip(expected, got, strict=True))
    print(f"darknet ONNX vs PyTorch: max abs difference {worst:.2e}")
    assert worst < 1e-4
    outputs = onnx.load_from_string(graph).graph.output
    assert [o.name for o in outputs] == ["yolo0", "yolo1"]
    assert outputs[0].type.tensor_type.shape.dim[0].dim_param == "batch"


def test_a_trained_model_round_trips_through_darknet_weights():
    network = parse_cfg(CFG)
    model = darknet_model(network).eval()
    weights = darknet_weights(model, network, seen=64)
    again = parse_weights(weights_bytes(weights, network), network)
    assert again.seen == 64 and set(again.convs) == {0, 2, 3, 6, 9, 12}
    copy = darknet_model(network).eval()
    load_darknet_weights(copy, network, again)
    for a, b in zip(model.state_dict().values(), copy.state_dict().values(), strict=True):
        assert np.array_equal(a.numpy(), b.numpy())


def test_a_network_without_heads_is_refused():
    network = parse_cfg(CFG.split("[yolo]")[0])
    with pytest.raises(FormatError, match="no \\[yolo\\] layer"):
        onnx_from_darknet(network, random_weights(network))


def test_tensorrt_rtx_builds_the_converted_graph(tmp_path):
    pytest.importorskip("tensorrt_rtx", reason="TensorRT-RTX builds the engines on CPU")
    network = parse_cfg(CFG)
    path = tmp_path / "darknet.onnx"
    path.write_bytes(onnx_from_darknet(network, random_weights(network)))
    built = engine_bytes_from_onnx(path, tiny_build())
    assert [o["name"] for o in built.meta["outputs"]] == ["yolo0", "yolo1"]
    assert built.meta["outputs"][1]["shape"] == [-1, 21, 16, 16]
