"""Darknet network descriptions (``.cfg``) and weights (``.weights``), as YOLOv3 ships them.

A ``.cfg`` is a list of sections, ``[name]`` then ``key=value`` lines (``#`` and ``;`` start
comments). ``[net]`` comes first (input ``width``, ``height``, ``channels`` and training
settings); then one layer per section:

- ``[convolutional]`` (or ``[conv]``): ``filters``, ``size``, ``stride``, ``pad`` (non-zero:
  padding ``size // 2``, whatever ``padding`` says, as darknet's ``parse_convolutional``),
  else ``padding`` (default 0), ``batch_normalize``, ``activation`` (``leaky``: slope 0.1, or
  ``linear``);
- ``[shortcut]``: ``from`` (a negative offset or an index), ``activation`` (``linear``): the sum
  of the previous layer's and that layer's outputs;
- ``[route]``: ``layers``, one or several offsets or indices, concatenated along the channels;
- ``[upsample]``: ``stride`` (nearest neighbour);
- ``[maxpool]`` (or ``[max]``): ``size``, ``stride`` (darknet pads ``size - 1``, the first half
  before);
- ``[yolo]``: ``mask``, ``anchors``, ``classes``, ``num``: a detection head on the previous
  layer's output (the decoding happens after the network).

The parser is strict: a section of a kind not listed above (darknet's other layer kinds are
named as such), an unknown key, a missing required key, a bad value, or a route or shortcut to a
layer that does not exist (or is not yet computed) is an error naming the file and line. Keys
darknet uses only for training (every ``[net]`` key its ``parse_net_options`` reads) are
accepted and kept but have no effect here. A key given twice in one section takes its first
value, as darknet's ``option_find`` (the first match in the section's list) does, with a
warning naming the file, section and key: darknet's own ``yolov3-openimages.cfg`` sets ``batch``
and ``subdivisions`` twice in ``[net]``.

A ``.weights`` file starts with int32 ``major``, ``minor``, ``revision`` and ``seen`` (int64 when
``major * 10 + minor >= 2``, as darknet writes it since 0.2; int32 before), then, for every
convolutional layer in order, float32: with batch normalisation its ``filters`` biases, scales,
rolling means and rolling variances, else its biases; then the kernel (filters, channels,
size, size). The reader checks the length to the byte: too short or too long is an error naming
the layer and the byte offset.
"""

import logging
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from workflow.errors import FormatError

log = logging.getLogger(__name__)

#: Keys of each section: required, optional (used here), and accepted for training only.
SECTIONS: dict[str, tuple[set[str], set[str], set[str]]] = {
    "net": (
        {"width", "height", "channels"},
        set(),
        {
            # darknet's parse_net_options (src/parser.c), in its order
            "batch",
            "learning_rate",
            "momentum",
            "decay",
            "subdivisions",
            "time_steps",
            "notruth",
            "random",
            "adam",
            "B1",
            "B2",
            "eps",
            "inputs",
            "max_crop",
            "min_crop",
            "max_ratio",
            "min_ratio",
            "center",
            "clip",
            "angle",
            "aspect",
            "saturation",
            "exposure",
            "hue",
            "policy",
            "burn_in",
            "power",
            "step",
            "scale",
            "steps",
            "scales",
            "gamma",
            "max_batches",
            # AlexeyAB's darknet
            "mosaic",
            "letter_box",
            "flip",
        },
    ),
    "convolutional": (
        {"filters", "size", "stride", "activation"},
        {"batch_normalize", "pad", "padding"},
        set(),
    ),
    "shortcut": ({"from"}, {"activation"}, set()),
    "route": ({"layers"}, set(), set()),
    "upsample": ({"stride"}, set(), set()),
    "maxpool": ({"size", "stride"}, set(), set()),
    "yolo": (
        {"mask", "anchors", "classes"},
        {"num"},
        {"jitter", "ignore_thresh", "truth_thresh", "random", "scale_x_y", "iou_thresh"},
    ),
}
#: darknet's other section names for the same kinds (``string_to_layer_type``).
ALIASES = {"network": "net", "conv": "convolutional", "max": "maxpool"}
#: darknet's layer kinds that this reader does not take (``string_to_layer_type``).
OTHER_DARKNET_KINDS = (
    "crop", "cost", "detection", "region", "iseg", "local", "deconv", "deconvolutional",
    "activation", "logistic", "l2norm", "crnn", "gru", "lstm", "rnn", "conn", "connected",
    "reorg", "avg", "avgpool", "dropout", "lrn", "normalization", "batchnorm", "soft",
    "softmax",
)  # fmt: skip
ACTIVATIONS = ("leaky", "linear")
#: Slope of darknet's leaky ReLU.
LEAKY_SLOPE = 0.1
HEADER = struct.Struct("<3i")

#: The official YOLOv3-608 files (darknet, COCO's 80 classes) as the seed's yolov3_onnx
#: downloads them: file name -> (url, md5). The weights are 248,007,048 bytes.
OFFICIAL_YOLOV3 = {
    "yolov3.cfg": (
        "https://raw.githubusercontent.com/pjreddie/darknet/"
        "f86901f6177dfc6116360a13cc06ab680e0c86b0/cfg/yolov3.cfg",
        "b969a43a848bbf26901643b833cfb96c",
    ),
    "yolov3.weights": (
        "https://pjreddie.com/media/files/yolov3.weights",
        "c84e5b99d0e52cd466ae710cadf6d84c",
    ),
    "coco.names": (
        "https://raw.githubusercontent.com/pjreddie/darknet/master/data/coco.names",
        "8fc50561361f8bcf96b0177086e7616c",
    ),
}


@dataclass
class Layer:
    """One layer section: its kind, options, the line it starts on, and what it computes
    (``channels``, ``height``, ``width`` of its output; ``inputs``: the layer indices it
    reads)."""

    index: int
    kind: str
    options: dict[str, str]
    line: int
    inputs: list[int] = field(default_factory=list)
    channels: int = 0
    height: int = 0
    width: int = 0

    def number(self, key: str, default: int | None = None) -> int:
        """An integer option (``default`` when absent; a missing required one raises)."""
        if key not in self.options and default is None:
            raise KeyError(key)
        return int(self.options[key]) if key in self.options else int(default)

    def conv_padding(self) -> int:
        """A convolution's padding on each side, as darknet's ``parse_convolutional`` sets it:
        ``size // 2`` where ``pad`` is non-zero (``padding`` is then ignored), else ``padding``
        (default 0)."""
        return self.number("size") // 2 if self.number("pad", 0) else self.number("padding", 0)

    def numbers(self, key: str) -> list[int]:
        """A comma-separated list of integers."""
        return [int(v) for v in self.options[key].split(",") if v.strip()]


@dataclass
class Network:
    """A parsed ``.cfg``: the ``[net]`` options and the layers in order."""

    net: dict[str, str]
    layers: list[Layer]
    source: str = "<cfg>"

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return int(self.net["channels"]), int(self.net["height"]), int(self.net["width"])

    def convolutions(self) -> list[Layer]:
        return [layer for layer in self.layers if layer.kind == "convolutional"]

    def heads(self) -> list[Layer]:
        """The ``[yolo]`` layers, in order."""
        return [layer for layer in self.layers if layer.kind == "yolo"]


def _sections(text: str, source: str) -> list[tuple[str, dict[str, str], int, dict[str, int]]]:
    sections: list[tuple[str, dict[str, str], int, dict[str, int]]] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = re.split(r"[#;]", raw, maxsplit=1)[0].strip()
        if not line:
            continue
        if line.startswith("["):
            if not line.endswith("]"):
                raise FormatError(f"{source}:{number}", f"malformed section header {raw!r}")
            kind = line[1:-1].strip()
            sections.append((ALIASES.get(kind, kind), {}, number, {}))
            continue
        if "=" not in line:
            raise FormatError(f"{source}:{number}", f"expected key=value, got {raw!r}")
        if not sections:
            raise FormatError(f"{source}:{number}", "key before the first section")
        key, value = (part.strip() for part in line.split("=", 1))
        kind, options, start, lines = sections[-1]
        if key in options:
            log.warning(
                "%s:%d: [%s] (line %d) gives %s twice: %s=%s (line %d) is used, as darknet "
                "takes the first; %s=%s is ignored",
                source, number, kind, start, key, key, options[key], lines[key], key, value,
            )  # fmt: skip
            continue
        options[key], lines[key] = value, number
    return sections


def _check_kind(kind: str, where: str) -> None:
    if kind in SECTIONS:
        return
    known = ", ".join(f"[{name}]" for name in SECTIONS)
    if kind in OTHER_DARKNET_KINDS:
        raise FormatError(
            where,
            f"[{kind}] is a darknet layer kind this reader does not support",
            f"supported: {known}",
        )
    raise FormatError(where, f"unknown section [{kind}]", f"known sections: {known}")


def _check_keys(kind: str, options: dict[str, str], lines: dict[str, int], where: str) -> None:
    required, optional, training = SECTIONS[kind]
    for key in options:
        if key not in required | optional | training:
            raise FormatError(
                f"{where.rsplit(':', 1)[0]}:{lines[key]}", f"unknown key {key!r} in [{kind}]"
            )
    missing = sorted(required - set(options))
    if missing:
        raise FormatError(where, f"[{kind}] lacks {', '.join(missing)}")


def _resolve(reference: int, index: int, count: int, where: str, what: str) -> int:
    target = index + reference if reference < 0 else reference
    if not 0 <= target < index:
        raise FormatError(
            where,
            f"{what} {reference} of layer {index} names layer {target}, which is "
            + ("not computed yet" if target >= index else "before the first layer")
            + f" (layers 0..{index - 1} exist before it, {count} in all)",
        )
    return target


def parse_cfg(text: str, *, source: str = "<cfg>") -> Network:
    """Parse and check a darknet ``.cfg`` (see the module docstring).

    Raises:
        FormatError: naming ``source:line`` and the problem.
    """
    sections = _sections(text, source)
    if not sections or sections[0][0] not in ("net", "network"):
        raise FormatError(source, "the first section must be [net]")
    net_options, net_line, net_lines = sections[0][1], sections[0][2], sections[0][3]
    for kind, _, line, _ in sections[1:]:
        _check_kind(kind, f"{source}:{line}")
    _check_keys("net", net_options, net_lines, f"{source}:{net_line}")
    layers: list[Layer] = []
    for kind, options, line, lines in sections[1:]:
        where = f"{source}:{line}"
        _check_keys(kind, options, lines, where)
        layers.append(Layer(len(layers), kind, options, line))
    try:
        channels, height, width = (int(net_options[k]) for k in ("channels", "height", "width"))
    except ValueError as err:
        raise FormatError(f"{source}:{net_line}", f"[net] size is not an integer ({err})") from err
    for layer in layers:
        where = f"{source}:{layer.line}"
        try:
            _shape(layer, layers, (channels, height, width), where)
        except (ValueError, KeyError) as err:
            raise FormatError(where, f"[{layer.kind}] has a bad value ({err})") from err
    return Network(net_options, layers, source)


def _shape(layer: Layer, layers: list[Layer], first: tuple[int, int, int], where: str) -> None:
    """Fill ``layer.inputs`` and its output shape from the layers before it."""
    previous = (
        (
            layers[layer.index - 1].channels,
            layers[layer.index - 1].height,
            layers[layer.index - 1].width,
        )
        if layer.index
        else first
    )
    c, h, w = previous
    kind = layer.kind
    layer.inputs = [layer.index - 1] if layer.index else []
    if kind == "convolutional":
        size, stride = layer.number("size"), layer.number("stride")
        if layer.options["activation"] not in ACTIVATIONS:
            raise FormatError(
                where, f"activation {layer.options['activation']!r}", f"supported: {ACTIVATIONS}"
            )
        if layer.number("filters") < 1 or size < 1 or stride < 1:
            raise FormatError(where, "filters, size and stride must be positive")
        pad = layer.conv_padding()
        h, w = (h + 2 * pad - size) // stride + 1, (w + 2 * pad - size) // stride + 1
        c = layer.number("filters")
    elif kind == "shortcut":
        source = _resolve(layer.number("from"), layer.index, len(layers), where, "from")
        other = layers[source]
        if layer.options.get("activation", "linear") != "linear":
            raise FormatError(where, "a shortcut's activation must be linear")
        if (other.channels, other.height, other.width) != previous:
            raise FormatError(
                where,
                f"shortcut adds layer {source} {(other.channels, other.height, other.width)} "
                f"to layer {layer.index - 1} {previous}: shapes differ",
            )
        layer.inputs = [layer.index - 1, source]
    elif kind == "route":
        refs = layer.numbers("layers")
        if not refs:
            raise FormatError(where, "route without layers")
        layer.inputs = [_resolve(r, layer.index, len(layers), where, "route") for r in refs]
        shapes = {(layers[i].height, layers[i].width) for i in layer.inputs}
        if len(shapes) != 1:
            raise FormatError(where, f"route joins layers of different sizes {sorted(shapes)}")
        (h, w), c = shapes.pop(), sum(layers[i].channels for i in layer.inputs)
    elif kind == "upsample":
        stride = layer.number("stride")
        if stride < 1:
            raise FormatError(where, "upsample stride must be positive")
        h, w = h * stride, w * stride
    elif kind == "maxpool":
        size, stride = layer.number("size"), layer.number("stride")
        if size < 1 or stride < 1:
            raise FormatError(where, "maxpool size and stride must be positive")
        h, w = (h + size - 1 - size) // stride + 1, (w + size - 1 - size) // stride + 1
    elif kind == "yolo":
        anchors = layer.numbers("anchors")
        mask = layer.numbers("mask")
        classes = layer.number("classes")
        if len(anchors) % 2 or not anchors:
            raise FormatError(where, f"{len(anchors)} anchor values; they come in (w, h) pairs")
        if "num" in layer.options and layer.number("num") != len(anchors) // 2:
            raise FormatError(where, f"num={layer.options['num']} but {len(anchors) // 2} anchors")
        if not mask or any(not 0 <= m < len(anchors) // 2 for m in mask):
            raise FormatError(where, f"mask {mask} outside the {len(anchors) // 2} anchors")
        if c != len(mask) * (5 + classes):
            raise FormatError(
                where,
                f"the layer before has {c} channels; {len(mask)} anchors x (5 + {classes} "
                f"classes) = {len(mask) * (5 + classes)} expected",
            )
    if h < 1 or w < 1:
        raise FormatError(where, f"output size {h}x{w}: the input is too small for this layer")
    layer.channels, layer.height, layer.width = c, h, w


def read_cfg(path: str | Path) -> Network:
    """Parse a ``.cfg`` file (see :func:`parse_cfg`)."""
    path = Path(path)
    return parse_cfg(path.read_text(encoding="utf-8"), source=str(path))


@dataclass
class ConvWeights:
    """One convolutional layer's weights, as darknet stores them."""

    kernel: np.ndarray  # (filters, channels, size, size)
    biases: np.ndarray  # (filters,)
    bn_scales: np.ndarray | None = None
    bn_means: np.ndarray | None = None
    bn_vars: np.ndarray | None = None


@dataclass
class Weights:
    """A ``.weights`` file: its header and every convolutional layer's weights, by layer index."""

    major: int
    minor: int
    revision: int
    seen: int
    convs: dict[int, ConvWeights]


def _wide_seen(major: int, minor: int) -> bool:
    return major * 10 + minor >= 2 and major < 1000 and minor < 1000


def parse_weights(data: bytes, network: Network, *, source: str = "<weights>") -> Weights:
    """Read a ``.weights`` file for ``network``, checked to the byte.

    Raises:
        FormatError: a short header, a layer whose weights run past the end (its index, kind,
            line and the byte offset), or bytes left after the last layer.
    """
    if len(data) < HEADER.size:
        raise FormatError(source, f"{len(data)} bytes: shorter than the header")
    major, minor, revision = HEADER.unpack_from(data, 0)
    seen_format = "<q" if _wide_seen(major, minor) else "<i"
    offset = HEADER.size + struct.calcsize(seen_format)
    if len(data) < offset:
        raise FormatError(source, f"{len(data)} bytes: shorter than the header")
    (seen,) = struct.unpack_from(seen_format, data, HEADER.size)
    convs = {}
    channels = network.input_shape[0]
    for layer in network.layers:
        if layer.kind != "convolutional":
            channels = layer.channels
            continue
        filters, size = layer.number("filters"), layer.number("size")
        kernel_count = filters * channels * size * size
        batch_norm = bool(layer.number("batch_normalize", 0))
        parts = (["biases", "scales", "means", "vars"] if batch_norm else ["biases"]) + ["kernel"]
        arrays = {}
        for part in parts:
            count = kernel_count if part == "kernel" else filters
            end = offset + 4 * count
            if end > len(data):
                raise FormatError(
                    source,
                    f"too short: layer {layer.index} ([convolutional], {network.source} line "
                    f"{layer.line}) needs {4 * count} bytes of {part} at byte offset {offset}, "
                    f"{len(data) - offset} are left",
                    "the weights belong to another .cfg, or the file is truncated",
                )
            arrays[part] = np.frombuffer(data, dtype="<f4", count=count, offset=offset).copy()
            offset = end
        convs[layer.index] = ConvWeights(
            arrays["kernel"].reshape(filters, channels, size, size),
            arrays["biases"],
            arrays.get("scales"),
            arrays.get("means"),
            arrays.get("vars"),
        )
        channels = layer.channels
    if offset != len(data):
        raise FormatError(
            source,
            f"too long: {len(data) - offset} bytes left at byte offset {offset} after the last "
            "convolutional layer",
            "the weights belong to another .cfg",
        )
    return Weights(major, minor, revision, seen, convs)


def read_weights(path: str | Path, network: Network) -> Weights:
    """Read a ``.weights`` file (see :func:`parse_weights`)."""
    path = Path(path)
    return parse_weights(path.read_bytes(), network, source=str(path))


def weights_bytes(weights: Weights, network: Network) -> bytes:
    """Encode weights as darknet writes them (the inverse of :func:`parse_weights`).

    Raises:
        FormatError: a convolutional layer without weights, or weights of the wrong shape.
    """
    seen_format = "<q" if _wide_seen(weights.major, weights.minor) else "<i"
    out = [HEADER.pack(weights.major, weights.minor, weights.revision)]
    out.append(struct.pack(seen_format, weights.seen))
    channels = network.input_shape[0]
    for layer in network.layers:
        if layer.kind == "convolutional":
            conv = weights.convs.get(layer.index)
            shape = (layer.number("filters"), channels, layer.number("size"), layer.number("size"))
            if conv is None or conv.kernel.shape != shape:
                found = None if conv is None else conv.kernel.shape
                raise FormatError(f"layer {layer.index}", f"kernel {found}, the cfg needs {shape}")
            batch_norm = bool(layer.number("batch_normalize", 0))
            parts = [conv.biases]
            if batch_norm:
                if conv.bn_scales is None or conv.bn_means is None or conv.bn_vars is None:
                    raise FormatError(
                        f"layer {layer.index}", "batch_normalize=1 without its values"
                    )
                parts += [conv.bn_scales, conv.bn_means, conv.bn_vars]
            out += [np.ascontiguousarray(p, dtype="<f4").tobytes() for p in [*parts, conv.kernel]]
        channels = layer.channels
    return b"".join(out)
