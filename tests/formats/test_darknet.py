import hashlib
import logging
from pathlib import Path

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


@pytest.mark.slow
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


FIXTURES = Path(__file__).parent / "fixtures" / "darknet"
#: The size of pjreddie.com's yolov3-tiny.weights (version 0.2 header with a 64-bit seen).
YOLOV3_TINY_WEIGHTS_BYTES = 35_434_956


def _weights_bytes_needed(network):
    """The .weights length darknet's load_convolutional_weights reads for ``network``: a 20-byte
    header, then per convolution its biases (and scales, rolling means and variances with batch
    normalisation) and its filters x channels x size x size kernel, float32."""
    values, channels = 0, network.input_shape[0]
    for layer in network.layers:
        if layer.kind == "convolutional":
            filters, size = layer.number("filters"), layer.number("size")
            values += filters * (4 if layer.number("batch_normalize", 0) else 1)
            values += filters * channels * size * size
        channels = layer.channels
    return 20 + 4 * values


def test_darknets_own_yolov3_cfg_is_the_official_structure():
    """darknet's cfg/yolov3.cfg (the md5 the seed's downloader checks) parses to the structure
    written out from YOLOv3's description, layer by layer."""
    from tests.formats.official_yolov3 import OFFICIAL_WEIGHTS_BYTES, official_yolov3_cfg
    from workflow.formats.darknet import OFFICIAL_YOLOV3, read_cfg

    path = FIXTURES / "yolov3.cfg"
    assert hashlib.md5(path.read_bytes()).hexdigest() == OFFICIAL_YOLOV3["yolov3.cfg"][1]
    real, described = read_cfg(path), parse_cfg(official_yolov3_cfg())
    assert real.input_shape == described.input_shape == (3, 608, 608)
    assert [(x.kind, x.inputs, x.channels, x.height, x.width) for x in real.layers] == [
        (x.kind, x.inputs, x.channels, x.height, x.width) for x in described.layers
    ]
    assert _weights_bytes_needed(real) == OFFICIAL_WEIGHTS_BYTES


def test_darknets_yolov3_tiny_cfg_needs_the_published_weights_size():
    from workflow.formats.darknet import read_cfg

    network = read_cfg(FIXTURES / "yolov3-tiny.cfg")
    assert network.input_shape == (3, 416, 416)
    assert [(h.channels, h.height, h.width) for h in network.heads()] == [
        (255, 13, 13),
        (255, 26, 26),
    ]
    assert network.layers[11].kind == "maxpool" and network.layers[11].height == 13  # stride 1
    assert network.layers[20].inputs == [19, 8]  # layers = -1, 8
    assert _weights_bytes_needed(network) == YOLOV3_TINY_WEIGHTS_BYTES
    header = np.array([0, 2, 0], "<i4").tobytes() + np.array([0], "<i8").tobytes()
    zeros = header + bytes(YOLOV3_TINY_WEIGHTS_BYTES - len(header))
    assert len(parse_weights(zeros, network).convs) == 13


def test_darknets_yolov3_spp_cfg_pools_at_three_sizes():
    from workflow.formats.darknet import read_cfg

    network = read_cfg(FIXTURES / "yolov3-spp.cfg")
    pools = [x for x in network.layers if x.kind == "maxpool"]
    assert [(x.number("size"), x.number("stride")) for x in pools] == [(5, 1), (9, 1), (13, 1)]
    assert all((x.channels, x.height, x.width) == (512, 19, 19) for x in pools)  # padded size-1
    spp = network.layers[pools[-1].index + 1]
    assert spp.kind == "route" and spp.inputs == [x.index for x in reversed(pools)] + [
        pools[0].index - 1
    ]
    assert (spp.channels, spp.height, spp.width) == (2048, 19, 19)
    assert [(h.channels, h.height) for h in network.heads()] == [(255, 19), (255, 38), (255, 76)]


def test_a_key_given_twice_takes_the_first_value_as_darknet_does(caplog):
    """darknet's cfg/yolov3-openimages.cfg sets batch and subdivisions twice in [net];
    darknet's option_find returns the first."""
    from workflow.formats.darknet import read_cfg

    path = FIXTURES / "yolov3-openimages.cfg"
    with caplog.at_level(logging.WARNING, logger="workflow.formats.darknet"):
        network = read_cfg(path)
    assert network.net["batch"] == "1" and network.net["subdivisions"] == "1"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert warnings[0].startswith(f"{path}:6: [net] (line 1) gives batch twice: batch=1 (line 3)")
    assert "subdivisions" in warnings[1]
    assert [(h.channels, h.height) for h in network.heads()] == [
        (1818, 19),
        (1818, 38),
        (1818, 76),
    ]  # 3 x (5 + 601 classes)
    twice = CFG.replace("filters=8\n", "filters=8\nfilters=4\n", 1)
    assert parse_cfg(twice).layers[0].channels == 8


def test_a_darknet_layer_kind_not_supported_is_named():
    from workflow.formats.darknet import read_cfg

    with pytest.raises(
        FormatError,
        match=r"yolov2-tiny.cfg:122 \| \[region\] is a darknet layer kind this reader does not "
        r"support \| supported: \[net\], \[convolutional\]",
    ):
        read_cfg(FIXTURES / "yolov2-tiny.cfg")


@pytest.mark.parametrize(
    ("options", "side"),
    [
        ("pad=1\npadding=0", 16),  # darknet: if(pad) padding = size/2
        ("padding=0\npad=1", 16),
        ("pad=0\npadding=2", 18),
        ("padding=2", 18),
        ("pad=0", 14),
        ("", 14),
    ],
)
def test_pad_and_padding_as_darknet_reads_them(options, side):
    """Output side from darknet's convolutional_out_height: (h + 2 * pad - size) / stride + 1,
    on a 16x16 input with a 3x3 kernel of stride 1."""
    cfg = (
        "[net]\nwidth=16\nheight=16\nchannels=3\n\n"
        f"[convolutional]\nfilters=4\nsize=3\nstride=1\n{options}\nactivation=linear\n"
    )
    assert parse_cfg(cfg).layers[0].height == side


def test_darknets_other_section_names():
    cfg = (
        "[network]\nwidth=16\nheight=16\nchannels=3\n\n"
        "[conv]\nfilters=4\nsize=3\nstride=1\npad=1\nactivation=leaky\n\n"
        "[max]\nsize=2\nstride=2\n"
    )
    network = parse_cfg(cfg)
    assert [x.kind for x in network.layers] == ["convolutional", "maxpool"]
    assert network.layers[1].height == 8
