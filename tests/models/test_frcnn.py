"""The PyTorch Faster R-CNN: ROI pooling, box decoding, training, and the two exported graphs
run as one detector."""

import numpy as np
import pytest
import torch

from workflow.backend.base import BaseRunner
from workflow.detect.boxes import decode
from workflow.detect.frcnn import (
    HEAD_VARIANCES,
    IMAGE,
    SEED_PIXEL_MEAN,
    FrcnnGeometry,
    network_input,
    select_proposals,
)
from workflow.errors import PipelineError
from workflow.formats.voc import Annotation
from workflow.models.checkpoint import state_dict_bytes
from workflow.models.detectors import detector_from
from workflow.models.frcnn import (
    POOL,
    FrcnnRunner,
    decode_torch,
    export_frcnn,
    frcnn_net,
    roi_pool,
    rpn_graph,
    train_frcnn,
)
from workflow.score.detect import detector_runner

CLASSES = ("square", "bar")
GEOMETRY = {
    "input_size": [64, 64],
    "pixel_mean": list(SEED_PIXEL_MEAN),
    "anchor_sizes": [16, 32],
    "anchor_ratios": [1.0, 2.0],
    "proposals": {"rois": 8, "pre_nms": 50, "nms_iou": 0.7, "min_size": 1},
}


def _bilinear(plane: np.ndarray, y: float, x: float) -> float:
    """Bilinear sample of a (h, w) plane at pixel-centre coordinates; zeros off the plane."""
    y0, x0 = int(np.floor(y)), int(np.floor(x))
    total = 0.0
    for yy, wy in ((y0, 1 - (y - y0)), (y0 + 1, y - y0)):
        for xx, wx in ((x0, 1 - (x - x0)), (x0 + 1, x - x0)):
            if 0 <= yy < plane.shape[0] and 0 <= xx < plane.shape[1]:
                total += wy * wx * plane[yy, xx]
    return total


def _roi_align(features: np.ndarray, roi: np.ndarray, stride: int) -> np.ndarray:
    """ROI Align of one ROI (input pixels), 2x2 samples per bin, written out point by point."""
    x0, y0, x1, y1 = roi
    out = np.zeros((features.shape[0], POOL, POOL))
    for by in range(POOL):
        for bx in range(POOL):
            for sy in range(2):
                for sx in range(2):
                    y = y0 + (by * 2 + sy + 0.5) * (y1 - y0) / (2 * POOL)
                    x = x0 + (bx * 2 + sx + 0.5) * (x1 - x0) / (2 * POOL)
                    for c in range(features.shape[0]):
                        out[c, by, bx] += (
                            _bilinear(features[c], y / stride - 0.5, x / stride - 0.5) / 4
                        )
    return out


def test_roi_pool_is_roi_align_with_two_by_two_samples_per_bin():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(2, 3, 4, 5)).astype(np.float32)  # input 64 x 80, stride 16
    rois = np.array(
        [
            [[0, 0, 80, 64], [10.5, 3.0, 40.0, 30.0], [60, 50, 90, 70]],  # the last leaves the map
            [[5, 5, 6, 6], [0, 0, 16, 16], [30, 10, 31, 60]],
        ],
        np.float32,
    )
    got = roi_pool(torch.from_numpy(features), torch.from_numpy(rois), (64, 80)).numpy()
    assert got.shape == (6, 3, POOL, POOL)
    for image in range(2):
        for k in range(3):
            want = _roi_align(features[image], rois[image, k], 16)
            np.testing.assert_allclose(got[image * 3 + k], want, atol=1e-5)


def test_torch_decoding_is_the_numpy_decoding():
    rng = np.random.default_rng(1)
    priors = np.sort(rng.uniform(0, 50, (10, 4)), axis=1).astype(np.float32)
    priors[:, 2:] += 5
    deltas = rng.normal(size=(3, 10, 4)).astype(np.float32)
    got = decode_torch(torch.from_numpy(deltas), torch.from_numpy(priors), HEAD_VARIANCES)
    np.testing.assert_allclose(got.numpy(), decode(deltas, priors, HEAD_VARIANCES), rtol=1e-5)


def _scenes(count: int = 8) -> tuple[np.ndarray, list[list[Annotation]]]:
    rng = np.random.default_rng(0)
    images = np.full((count, 48, 48, 3), 30, np.uint8)
    annotations = []
    for k in range(count):
        x, y = (int(v) for v in rng.integers(2, 20, 2))
        images[k, y : y + 20, x : x + 20] = (220, 40, 40)
        objects = [Annotation("square", (x, y, x + 20, y + 20))]
        if k % 2:
            images[k, 40:46, 2:40] = (40, 220, 40)
            objects.append(Annotation("bar", (2, 40, 40, 46)))
        annotations.append(objects)
    return images, annotations


def _train(images, annotations, **changes):
    settings = {
        "seed": 0,
        "epochs": 1,
        "batch_size": 4,
        "learning_rate": 0.003,
        "weight_decay": 0.0,
        "threads": 1,
    }
    settings.update(changes)
    return train_frcnn(
        images, annotations, CLASSES, FrcnnGeometry.from_config(GEOMETRY), **settings
    )


def test_training_is_deterministic_and_refuses_unknown_classes():
    images, annotations = _scenes()
    first = state_dict_bytes(_train(images, annotations))
    assert state_dict_bytes(_train(images, annotations)) == first
    assert state_dict_bytes(_train(images, annotations, seed=1)) != first
    bad = [[Annotation("star", (1, 1, 9, 9))]] + annotations[1:]
    with pytest.raises(PipelineError, match="'star'"):
        _train(images, bad)


class _Broken(BaseRunner):
    """A runner that fails to activate."""

    def _activate(self):
        raise RuntimeError("no device")


@pytest.mark.slow
def test_the_two_graphs_and_the_proposal_step_detect_as_pytorch_does(tmp_path):
    images, annotations = _scenes()
    geometry = FrcnnGeometry.from_config(GEOMETRY)
    weights = tmp_path / "weights.pt"
    weights.write_bytes(state_dict_bytes(_train(images, annotations, epochs=2)))
    rpn_bytes, head_bytes, parity = export_frcnn(
        str(weights), 2, images, geometry, opset=18, batch_size=4, tolerance=1e-4
    )
    assert sorted(parity) == ["head", "rpn"]
    assert sorted(parity["rpn"]) == ["features", "objectness", "proposals"]
    assert sorted(parity["head"]) == ["boxes", "scores"]
    assert all(
        p["max_abs_diff"] <= p["tolerance"] for part in parity.values() for p in part.values()
    )
    (tmp_path / "rpn.onnx").write_bytes(rpn_bytes)
    (tmp_path / "head.onnx").write_bytes(head_bytes)
    detector = detector_from({"network": "faster_rcnn", **GEOMETRY})
    files = {"rpn_onnx": str(tmp_path / "rpn.onnx"), "head_onnx": str(tmp_path / "head.onnx")}
    runner = detector_runner("ort", files, detector)
    assert isinstance(runner, FrcnnRunner)
    inputs = network_input(images, geometry.input_size, geometry.pixel_mean)
    with runner:
        assert list(runner.input_metadata()) == [IMAGE]
        found = runner.infer({IMAGE: inputs})
    assert found["boxes"].shape == (8, 8, 4) and found["scores"].shape == (8, 8, 3)
    net = frcnn_net(2, geometry)
    net.load_state_dict(torch.load(weights))
    net.eval()
    with torch.no_grad():
        _, proposals, objectness = rpn_graph(net, geometry)(torch.from_numpy(inputs))
    rois, counts = select_proposals(proposals.numpy(), objectness.numpy(), geometry)
    np.testing.assert_array_equal(found["counts"], counts)
    np.testing.assert_allclose(found["rois"], rois, atol=1e-3)
    padding = np.arange(8)[None, :] >= counts[:, None]
    assert not found["scores"][padding][:, 1:].any()
    broken = FrcnnRunner(
        detector_runner(
            "ort", {"onnx": str(tmp_path / "rpn.onnx")}, detector_from({"network": "ssd"})
        ),
        _Broken("broken"),
        geometry,
    )
    with pytest.raises(RuntimeError, match="no device"):
        broken.activate()
    assert not broken.rpn.is_active  # the first runner was let go again
