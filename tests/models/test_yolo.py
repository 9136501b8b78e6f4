import numpy as np
import pytest
import torch

from tests.formats.test_darknet import CFG
from workflow.errors import PipelineError
from workflow.formats.darknet import parse_cfg, read_cfg
from workflow.formats.voc import Annotation
from workflow.models.darknet import darknet_weights
from workflow.models.yolo import build_targets, head_anchors, network_input, train_yolo, yolo_loss
from workflow.netdef.darknet import onnx_from_darknet
from workflow.ort.loader import session_from_onnx

PROJECT_CFG = "config/darknet/yolov3-shapes.cfg"


def test_the_projects_cfg_has_two_heads_of_three_anchors():
    network = read_cfg(PROJECT_CFG)
    assert network.input_shape == (3, 256, 256)
    assert head_anchors(network) == [
        [(84.0, 84.0), (104.0, 104.0), (128.0, 128.0)],
        [(28.0, 28.0), (44.0, 44.0), (64.0, 64.0)],
    ]
    assert [(h.height, h.channels) for h in network.heads()] == [(8, 30), (16, 30)]


def test_an_object_goes_to_the_best_fitting_anchor_in_its_cell():
    network = read_cfg(PROJECT_CFG)
    classes = ("circle", "square", "triangle", "diamond", "cross")
    box = Annotation("diamond", (100, 100, 160, 160))  # 51.2 px at 256/300: the 44 anchor
    large, small = build_targets([[box]], classes, network, (300, 300))
    assert large.shape == (1, 3, 8, 8, 11) and not large[..., 0].any()
    ((image, anchor, row, col),) = np.argwhere(small[..., 0] > 0)
    assert (image, anchor) == (0, 1)
    centre = 130 * 256 / 300 / 16  # in cells of the 16x16 head
    assert (row, col) == (int(centre), int(centre))
    values = small[0, 1, row, col]
    assert values[1] == pytest.approx(centre - int(centre), abs=1e-5)
    assert values[3] == pytest.approx(np.log(60 * 256 / 300 / 44), abs=1e-5)
    assert values[6:].tolist() == [0, 0, 0, 1, 0]
    with pytest.raises(PipelineError, match="not among"):
        build_targets([[Annotation("star", (1, 1, 9, 9))]], classes, network, (300, 300))


def _scenes(count=4):
    rng = np.random.default_rng(0)
    images = np.zeros((count, 32, 32, 3), np.uint8)
    annotations = []
    for k in range(count):
        x, y = rng.integers(2, 14, 2)
        images[k, y : y + 14, x : x + 14] = 255
        annotations.append(
            [Annotation("a" if k % 2 else "b", (int(x), int(y), int(x) + 14, int(y) + 14))]
        )
    return images, annotations


def test_training_lowers_the_loss_and_the_weights_convert():
    network = parse_cfg(CFG)  # 32x32 input, two heads of 2 classes
    images, annotations = _scenes()
    classes = ("a", "b")

    def loss_of(model):
        x = torch.from_numpy(network_input(images, network))
        targets = [
            torch.from_numpy(t) for t in build_targets(annotations, classes, network, (32, 32))
        ]
        truths = torch.tensor(
            [[[v / 32 for v in o.box] for o in objs] for objs in annotations], dtype=torch.float32
        )
        with torch.no_grad():
            return float(
                yolo_loss(
                    model(x),
                    targets,
                    head_anchors(network),
                    truths,
                    input_size=(32, 32),
                    ignore=0.7,
                )
            )

    settings = dict(seed=0, batch_size=4, learning_rate=0.01, weight_decay=0.0, threads=1)
    start = loss_of(train_yolo(images, annotations, classes, network, epochs=1, **settings))
    trained = train_yolo(images, annotations, classes, network, epochs=40, **settings)
    assert loss_of(trained) < 0.5 * start
    again = train_yolo(images, annotations, classes, network, epochs=40, **settings)
    assert all(
        torch.equal(a, b)
        for a, b in zip(trained.state_dict().values(), again.state_dict().values(), strict=True)
    )
    graph = onnx_from_darknet(network, darknet_weights(trained, network))
    x = network_input(images, network)
    got = session_from_onnx(graph).run(None, {"image": x})
    with torch.no_grad():
        expected = [t.numpy() for t in trained(torch.from_numpy(x))]
    assert max(float(np.abs(a - b).max()) for a, b in zip(expected, got, strict=True)) < 1e-4
    with pytest.raises(PipelineError, match="not for 3 classes"):
        train_yolo(images, annotations, ("a", "b", "c"), network, epochs=1, **settings)
