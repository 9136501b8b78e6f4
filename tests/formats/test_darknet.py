import numpy as np
import pytest

from workflow.errors import FormatError
from workflow.formats.darknet import (
    ConvWeights,
    Weights,
    parse_cfg,
    parse_weights,
    weights_bytes,
)

#: Every section type and option the converter reads, YOLOv3's training keys, comments, a
#: multi-layer route with a negative and an absolute index, and two heads.
CFG = """\
[net]
# training settings, kept but unused
batch=64
subdivisions=16
width=32
height=32
channels=3
momentum=0.9
decay=0.0005
learning_rate=0.001
steps=400000,450000
scales=.1,.1

[convolutional]
batch_normalize=1
filters=8
size=3
stride=1
pad=1
activation=leaky

[maxpool]
size=2
stride=2

[convolutional]
batch_normalize=1
filters=16
size=3
stride=1
pad=1
activation=leaky

[convolutional]
batch_normalize=1
filters=16
size=1
stride=1
pad=1
activation=leaky

[shortcut]
from=-2
activation=linear

[maxpool]
size=2
stride=1

[convolutional]
size=1
stride=1
pad=1
filters=21
activation=linear

[yolo]
mask = 3,4,5
anchors = 4,5, 8,9, 12,10, 16,20, 24,18, 30,30
classes=2
num=6
jitter=.3
ignore_thresh = .7
truth_thresh = 1
random=1

[route]
layers = -3

[convolutional]
batch_normalize=1
filters=8
size=1
stride=1
pad=1
activation=leaky

[upsample]
stride=2

[route]
layers = -1, 0

[convolutional]
size=3
stride=2
padding=1
filters=21
activation=linear

[yolo]
mask = 0,1,2
anchors = 4,5, 8,9, 12,10, 16,20, 24,18, 30,30
classes=2
num=6
"""


def random_weights(network, seed=0):
    rng = np.random.default_rng(seed)
    convs = {}
    channels = network.input_shape[0]
    for layer in network.layers:
        if layer.kind == "convolutional":
            filters, size = layer.number("filters"), layer.number("size")
            kernel = rng.normal(0, 0.2, (filters, channels, size, size)).astype(np.float32)
            biases = rng.normal(0, 0.1, filters).astype(np.float32)
            if layer.number("batch_normalize", 0):
                convs[layer.index] = ConvWeights(
                    kernel,
                    biases,
                    rng.uniform(0.5, 1.5, filters).astype(np.float32),
                    rng.normal(0, 0.1, filters).astype(np.float32),
                    rng.uniform(0.5, 2.0, filters).astype(np.float32),
                )
            else:
                convs[layer.index] = ConvWeights(kernel, biases)
        channels = layer.channels
    return Weights(0, 2, 5, 123456789012, convs)


def test_every_section_parses_with_its_shapes():
    network = parse_cfg(CFG)
    assert network.input_shape == (3, 32, 32)
    kinds = [layer.kind for layer in network.layers]
    assert kinds == [
        "convolutional", "maxpool", "convolutional", "convolutional", "shortcut", "maxpool",
        "convolutional", "yolo", "route", "convolutional", "upsample", "route",
        "convolutional", "yolo",
    ]  # fmt: skip
    shapes = [(layer.channels, layer.height, layer.width) for layer in network.layers]
    assert shapes[1] == (8, 16, 16)  # maxpool 2/2
    assert shapes[5] == (16, 16, 16)  # maxpool 2/1 keeps the size (darknet pads size - 1)
    assert shapes[8] == (16, 16, 16) and network.layers[8].inputs == [5]  # route -3
    assert shapes[11] == (16, 32, 32) and network.layers[11].inputs == [10, 0]  # -1, 0
    assert shapes[12] == (21, 16, 16)  # explicit padding, stride 2
    assert [h.index for h in network.heads()] == [7, 13]
    assert network.net["steps"] == "400000,450000"


def test_weights_round_trip_with_64_and_32_bit_seen():
    network = parse_cfg(CFG)
    weights = random_weights(network)
    data = weights_bytes(weights, network)
    back = parse_weights(data, network)
    assert (back.major, back.minor, back.revision, back.seen) == (0, 2, 5, 123456789012)
    for index, conv in weights.convs.items():
        assert np.array_equal(back.convs[index].kernel, conv.kernel)
        assert np.array_equal(back.convs[index].biases, conv.biases)
    old = Weights(0, 1, 0, 7, weights.convs)  # darknet before 0.2 wrote a 32-bit seen
    assert len(weights_bytes(old, network)) == len(data) - 4
    assert parse_weights(weights_bytes(old, network), network).seen == 7


def test_weights_of_the_wrong_length_name_the_layer_and_offset():
    network = parse_cfg(CFG)
    data = weights_bytes(random_weights(network), network)
    with pytest.raises(FormatError, match=r"too short: layer 12 .*line \d+.* byte offset \d+"):
        parse_weights(data[:-8], network)
    with pytest.raises(FormatError, match="too long: 4 bytes left at byte offset"):
        parse_weights(data + b"\0\0\0\0", network)
    with pytest.raises(FormatError, match="shorter than the header"):
        parse_weights(data[:10], network)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("[shortcut]", "[shortcutt]"), r"<cfg>:\d+ \| unknown section \[shortcutt\]"),
        (("random=1", "random=1\nflavour=2"), r"<cfg>:\d+ \| unknown key 'flavour' in \[yolo\]"),
        (("layers = -1, 0", "layers = -1, 14"), "names layer 14, which is not computed yet"),
        (("layers = -3", "layers = -30"), "before the first layer"),
        (("from=-2", "from=-3"), "shapes differ"),
        (("activation=linear\n\n[yolo]", "activation=mish\n\n[yolo]"), "activation 'mish'"),
        (("classes=2\nnum=6\n", "classes=3\nnum=6\n"), "5 \\+ 3 classes"),
        (("mask = 0,1,2", "mask = 0,1,9"), "outside the 6 anchors"),
        (
            ("filters=21\nactivation=linear\n\n[yolo]", "activation=linear\n\n[yolo]"),
            "lacks filters",
        ),
        (("stride=2\n\n[route]", "stride=x\n\n[route]"), "bad value"),
        (("width=32", "width 32"), "expected key=value"),
    ],
)
def test_bad_cfg_names_the_line_and_the_problem(edit, message):
    old, new = edit
    assert old in CFG
    with pytest.raises(FormatError, match=message):
        parse_cfg(CFG.replace(old, new, 1))


def test_the_first_section_must_be_net():
    with pytest.raises(FormatError, match="first section must be"):
        parse_cfg("[convolutional]\nfilters=1\n")


def test_the_official_yolov3_structure_needs_the_official_weights_size():
    """The cfg reader and the weights layout on darknet's YOLOv3-608 structure: 107 layers,
    75 convolutions, heads of 19, 38 and 76 cells of 255 channels, and exactly the official
    yolov3.weights' 248,007,048 bytes (not downloaded: zeros of that size)."""
    from tests.formats.official_yolov3 import OFFICIAL_WEIGHTS_BYTES, official_yolov3_cfg
    from workflow.formats.darknet import OFFICIAL_YOLOV3, parse_weights

    network = parse_cfg(official_yolov3_cfg())
    assert network.input_shape == (3, 608, 608)
    assert len(network.layers) == 107 and len(network.convolutions()) == 75
    assert [(h.height, h.width, h.channels) for h in network.heads()] == [
        (19, 19, 255),
        (38, 38, 255),
        (76, 76, 255),
    ]
    header = np.array([0, 2, 0], "<i4").tobytes() + np.array([0], "<i8").tobytes()
    body = bytes(OFFICIAL_WEIGHTS_BYTES - len(header))
    weights = parse_weights(header + body, network)
    assert len(weights.convs) == 75 and weights.seen == 0
    with pytest.raises(FormatError, match="too short: layer 105"):
        parse_weights(header + body[:-4], network)
    assert sorted(OFFICIAL_YOLOV3) == ["coco.names", "yolov3.cfg", "yolov3.weights"]
    assert all(len(md5) == 32 for _, md5 in OFFICIAL_YOLOV3.values())
