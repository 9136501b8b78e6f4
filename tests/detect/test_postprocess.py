import numpy as np
import pytest

from workflow.detect.postprocess import (
    NmsParams,
    add_graph_nms,
    host_nms,
    seed_output,
)
from workflow.errors import PipelineError


def _identity_graph(points: int, scores: int) -> bytes:
    """A graph whose outputs boxes and scores are its inputs (so NMS sees chosen values)."""
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [
            helper.make_node("Identity", ["in_boxes"], ["boxes"]),
            helper.make_node("Identity", ["in_scores"], ["scores"]),
        ],
        "nms",
        [
            helper.make_tensor_value_info("in_boxes", TensorProto.FLOAT, ["N", points, 4]),
            helper.make_tensor_value_info("in_scores", TensorProto.FLOAT, ["N", points, scores]),
        ],
        [
            helper.make_tensor_value_info("boxes", TensorProto.FLOAT, ["N", points, 4]),
            helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", points, scores]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    return onnx.shape_inference.infer_shapes(model).SerializeToString()


def _random_batch(seed: int, batch: int = 3, points: int = 300, scores: int = 4):
    rng = np.random.default_rng(seed)
    centre = rng.uniform(0, 1, (batch, points, 2))
    size = rng.uniform(0.05, 0.4, (batch, points, 2))
    boxes = np.concatenate([centre - size / 2, centre + size / 2], -1).astype(np.float32)
    logits = rng.normal(0, 2, (batch, points, scores))
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    probs[0, :10, 1] = 0.5  # ties: the lower index must come first in both
    return boxes, probs.astype(np.float32)


@pytest.mark.parametrize(
    "params",
    [NmsParams(0.01, 0.45, 100, 100), NmsParams(0.3, 0.3, 5, 8), NmsParams(0.0, 1.0, 400, 400)],
)
def test_graph_nms_in_onnx_runtime_equals_host_nms(params):
    import onnxruntime as ort

    boxes, scores = _random_batch(1)
    graph = add_graph_nms(_identity_graph(300, 4), params)
    session = ort.InferenceSession(graph, providers=["CPUExecutionProvider"])
    (in_graph,) = session.run(None, {"in_boxes": boxes, "in_scores": scores})
    on_host = host_nms(boxes, scores, params)
    assert in_graph.shape[1] == 7 and len(on_host) > 0
    np.testing.assert_array_equal(in_graph, on_host)
    a, a_count = seed_output(in_graph, batch=3, keep_top_k=params.keep_top_k)
    b, b_count = seed_output(on_host, batch=3, keep_top_k=params.keep_top_k)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a_count, b_count)


def test_host_nms_thresholds():
    boxes = np.array([[[0, 0, 1, 1], [0, 0, 1, 0.9], [0.5, 0.5, 0.6, 0.6]]], np.float32)
    scores = np.array([[[0.1, 0.9], [0.2, 0.8], [0.7, 0.3]]], np.float32)
    rows = host_nms(boxes, scores, NmsParams(0.3, 0.5, 10, 10))
    # box 1 overlaps box 0 at IoU 0.9 (suppressed); box 2 scores exactly 0.3 (not above)
    np.testing.assert_allclose(rows, [[0, 1, 0.9, 0, 0, 1, 1]])
    rows = host_nms(boxes, scores, NmsParams(0.29, 0.95, 1, 10))
    assert rows[:, 2].tolist() == pytest.approx([0.9])  # top_k 1 per class
    assert host_nms(boxes, scores, NmsParams(0.95, 0.5, 10, 10)).shape == (0, 7)
    with pytest.raises(PipelineError, match="do not pair"):
        host_nms(boxes[:, :2], scores, NmsParams(0.3, 0.5, 10, 10))


def test_seed_output_keeps_each_images_best_and_counts_them():
    rows = np.array(
        [
            [0, 1, 0.2, 0, 0, 1, 1],
            [0, 2, 0.9, 0, 0, 1, 1],
            [0, 1, 0.5, 0, 0, 1, 1],
            [2, 3, 0.4, 0, 0, 1, 1],
        ],
        np.float32,
    )
    out, counts = seed_output(rows, batch=3, keep_top_k=2)
    assert out.shape == (3, 2, 7) and counts.tolist() == [2, 0, 1]
    assert out[0, :, 2].tolist() == pytest.approx([0.9, 0.5])
    assert not out[1].any() and out[2, 0, 1] == 3 and not out[2, 1].any()
    with pytest.raises(PipelineError, match="image ids"):
        seed_output(rows, batch=2, keep_top_k=2)


def test_bad_parameters_and_graphs_are_refused():
    with pytest.raises(PipelineError, match="confidence"):
        NmsParams(1.0, 0.5, 1, 1)
    with pytest.raises(PipelineError, match="top_k"):
        NmsParams(0.1, 0.5, 0, 1)
    graph = add_graph_nms(_identity_graph(10, 3), NmsParams(0.1, 0.5, 1, 1))
    with pytest.raises(PipelineError, match=r"graph outputs \['detections'\]"):
        add_graph_nms(graph, NmsParams(0.1, 0.5, 1, 1))
