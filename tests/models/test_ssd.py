import numpy as np
import pytest

from tests.conftest import tiny_build
from workflow.data.images import to_nchw
from workflow.data.shapes import CLASSES, scene
from workflow.detect.match import match_priors
from workflow.detect.priors import SEED_CONFIG, grid_anchors, layer_boxes
from workflow.errors import PipelineError
from workflow.models.ssd import (
    INPUT_OFFSET,
    INPUT_SCALE,
    boxes_per_layer,
    export_ssd,
    fuse_batchnorm,
    multibox_loss,
    ssd_detector,
    ssd_net,
    train_ssd,
)

BOXES = boxes_per_layer()


def test_boxes_per_layer_follow_the_seed():
    assert BOXES == [len(layer_boxes(SEED_CONFIG, k)) for k in range(6)] == [3, 6, 6, 6, 6, 6]


def test_outputs_follow_the_priors():
    import torch

    torch.manual_seed(0)
    loc, conf = ssd_net(len(CLASSES), BOXES)(torch.zeros(2, 3, 300, 300))
    assert loc.shape == (2, 1917, 4) and conf.shape == (2, 1917, len(CLASSES) + 1)


@pytest.mark.slow
def test_loss_falls_when_fitting_two_scenes():
    import torch

    torch.manual_seed(0)
    priors = grid_anchors()
    images, locs, labels = [], [], []
    for seed in range(2):
        image, objects = scene(seed, max_objects=3, min_size=40, max_size=120)
        images.append(image.transpose(2, 0, 1) / 127.5 - 1)
        boxes = np.array([[v / 300 for v in o.box] for o in objects], np.float32)
        classes = np.array([CLASSES.index(o.name) + 1 for o in objects])
        target, label = match_priors(
            boxes, classes, priors, variances=SEED_CONFIG.variances, iou_threshold=0.5
        )
        locs.append(target)
        labels.append(label)
    x = torch.from_numpy(np.stack(images).astype(np.float32))
    target_loc, target_labels = torch.from_numpy(np.stack(locs)), torch.from_numpy(np.stack(labels))
    model = ssd_net(len(CLASSES), BOXES)
    optimizer = torch.optim.Adam(model.parameters(), 1e-3)
    losses = []
    for _ in range(15):
        loc, conf = model(x)
        loss = multibox_loss(loc, conf, target_loc, target_labels, negatives_per_positive=3)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert np.isfinite(losses).all() and losses[-1] < 0.5 * losses[0]


def _trained_weights(tmp_path):
    """Weights of an untrained SSD with non-trivial BatchNorm statistics, saved as the
    pipeline saves them."""
    import torch

    from workflow.io import write_atomically
    from workflow.models.checkpoint import state_dict_bytes

    torch.manual_seed(0)
    net = ssd_net(len(CLASSES), BOXES)
    net.train()
    with torch.no_grad():
        net(torch.randn(4, 3, 300, 300))  # BatchNorm running statistics move off 0/1
    path = tmp_path / "weights.pt"
    write_atomically(path, state_dict_bytes(net))
    return path


def _inputs(count: int) -> np.ndarray:
    images = np.stack([scene(s, max_objects=3, min_size=30, max_size=150)[0] for s in range(count)])
    return to_nchw(images, scale=INPUT_SCALE, offset=INPUT_OFFSET)


def test_folding_batchnorm_keeps_the_outputs(tmp_path):
    import torch

    from workflow.models.checkpoint import load_state_dict

    net = load_state_dict(ssd_net(len(CLASSES), BOXES), str(_trained_weights(tmp_path)))
    x = torch.from_numpy(_inputs(2))
    with torch.no_grad():
        before = net(x)
        fused = fuse_batchnorm(net)
        after = fused(x)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules())
    for a, b in zip(before, after, strict=True):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


def test_the_graph_decodes_boxes_as_the_library_does(tmp_path):
    import torch

    from workflow.detect.boxes import decode

    torch.manual_seed(0)
    net = ssd_net(len(CLASSES), BOXES).eval()
    priors = grid_anchors()
    detector = ssd_detector(net, priors, SEED_CONFIG.variances)
    x = torch.from_numpy(_inputs(2))
    with torch.no_grad():
        loc, conf = net(x)
        boxes, scores = detector(x)
    np.testing.assert_allclose(
        boxes.numpy(), decode(loc.numpy(), priors, SEED_CONFIG.variances), atol=1e-6
    )
    np.testing.assert_allclose(scores.sum(-1).numpy(), 1.0, atol=1e-6)


@pytest.mark.slow
def test_export_is_checked_and_builds_with_tensorrt_rtx(tmp_path):
    import onnx

    from workflow.detect.postprocess import NmsParams, add_graph_nms
    from workflow.errors import PipelineError
    from workflow.trt.loader import engine_bytes_from_onnx

    graph, parity = export_ssd(
        str(_trained_weights(tmp_path)),
        len(CLASSES),
        _inputs(3),
        opset=18,
        batch_size=2,
        tolerance=1e-5,
    )
    assert set(parity) == {"boxes", "scores"}
    assert all(p["count"] == 3 and p["max_abs_diff"] < 1e-5 for p in parity.values())
    model = onnx.load_from_string(graph)
    ops = {n.op_type for n in model.graph.node}
    assert "BatchNormalization" not in ops and {"Exp", "Softmax"} <= ops
    (tmp_path / "ssd.onnx").write_bytes(graph)
    build = tiny_build(batch=(1, 2, 4))
    built = engine_bytes_from_onnx(tmp_path / "ssd.onnx", build)
    assert [o["name"] for o in built.meta["outputs"]] == ["boxes", "scores"]
    assert len(built.plan) > 1e6
    # NMS inside the graph: TensorRT-RTX 1.7 has no kernel for it; the error says what to do
    (tmp_path / "nms.onnx").write_bytes(add_graph_nms(graph, NmsParams(0.01, 0.45, 100, 100)))
    with pytest.raises(PipelineError, match=r"no kernel for NonMaxSuppression.*place: host"):
        engine_bytes_from_onnx(tmp_path / "nms.onnx", build)


@pytest.mark.slow
def test_training_is_seeded_and_learns(tmp_path):
    import torch

    scenes = [scene(s, max_objects=2, min_size=60, max_size=120) for s in range(8)]
    images = np.stack([image for image, _ in scenes])
    annotations = [objects for _, objects in scenes]
    args = dict(
        seed=0,
        epochs=2,
        batch_size=4,
        learning_rate=3e-3,
        weight_decay=1e-4,
        negatives_per_positive=3,
        match_iou=0.5,
        threads=1,
    )
    first = train_ssd(images, annotations, CLASSES, **args)
    again = train_ssd(images, annotations, CLASSES, **args)
    for (name, a), b in zip(first.state_dict().items(), again.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    other = train_ssd(images, annotations, CLASSES, **(args | {"seed": 1}))
    assert not torch.equal(first.loc[0].weight, other.loc[0].weight)
    with pytest.raises(PipelineError, match="learning_rate"):
        train_ssd(images, annotations, CLASSES, **(args | {"learning_rate": 1e9}))
