"""A sequential network described once, emitted two ways.

The description is a list of :class:`Layer` (input, conv, maxpool, flatten, dense, relu,
softmax) holding the trained weights. :func:`populate_network` adds it to a TensorRT network with
the network API, layer by layer, no parser (sampleMNISTAPI, sampleMLP,
network_api_pytorch_mnist); :func:`onnx_from_layers` writes the same layers as an ONNX graph,
which ONNX Runtime runs on CPU. A dense layer is a MatrixMultiply with a constant weight and an
ElementWise SUM with a constant bias, the form sampleMLP describes; in ONNX a MatMul and an Add.

Because both come from one description, checking the ONNX graph against the trained model on
CPU (and the TensorRT network's layer types, shapes and weight checksums against the
description) shows that the network given to TensorRT computes what the model computes.

Weight-only INT4 (precision ``int4w``, :func:`add_int4_matmul`): a dense layer's weight becomes
an INT4 constant in blocks along the reduction axis (``workflow.formats.int4.quantize_blocked``,
the same values the ONNX pass writes), dequantized by an IDequantizeLayer whose scale holds one
value per block and column; the activations stay float.
"""

import hashlib
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np

from workflow.errors import PipelineError
from workflow.formats.int4 import quantize_blocked
from workflow.plugins.spec import DOMAIN, NAMESPACE, VERSION, fc_node

OPS = ("input", "conv", "maxpool", "flatten", "dense", "fc_plugin", "relu", "softmax")
#: The networks :func:`layers_for` describes; lenet_fcplugin is LeNet with fc2 (the seed's ip2)
#: as the FC plugin (samplePlugin), the same computation as a plugin layer.
NETWORKS = ("lenet", "lenet_fcplugin", "mlp")


@dataclass(frozen=True)
class Layer:
    """One layer: its op, its name (also the name of its output tensor) and its settings.

    ``weights`` holds named arrays: ``weight`` and ``bias`` for conv (O, I, kh, kw), dense and
    fc_plugin (out, in, as in PyTorch); ``params`` holds ``shape`` for input (C, H, W) and
    ``window`` for maxpool (stride = window).
    """

    op: str
    name: str
    weights: dict[str, np.ndarray] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)


def weights_name(layer: Layer, key: str) -> str:
    """The name a layer's weights carry in the TensorRT network (what a refitter asks for)."""
    return f"{layer.name}.{key}"


def _blob(blobs: dict[str, np.ndarray], name: str, shape: tuple[int, ...]) -> np.ndarray:
    if name not in blobs:
        raise PipelineError(name, "blob missing from the weights file", f"it has {sorted(blobs)}")
    array = np.asarray(blobs[name], dtype=np.float32)
    if array.size != int(np.prod(shape)):
        raise PipelineError(name, f"{array.size} values, the layer needs {shape}")
    return array.reshape(shape)


def lenet_layers(blobs: dict[str, np.ndarray]) -> list[Layer]:
    """The seed's LeNet from PyTorch weights (``conv1.weight`` ... ``fc2.bias``)."""
    conv = [("conv1", 20, 1), ("conv2", 50, 20)]
    layers = [Layer("input", "input", params={"shape": (1, 28, 28)})]
    for index, (name, out, inp) in enumerate(conv, start=1):
        layers += [
            Layer(
                "conv",
                name,
                {
                    "weight": _blob(blobs, f"{name}.weight", (out, inp, 5, 5)),
                    "bias": _blob(blobs, f"{name}.bias", (out,)),
                },
            ),
            Layer("maxpool", f"pool{index}", params={"window": 2}),
        ]
    layers.append(Layer("flatten", "flatten"))
    layers += _dense_stack(blobs, [("fc1", 500, 800), ("fc2", 10, 500)])
    return layers


def mlp_layers(blobs: dict[str, np.ndarray], sizes: list[int]) -> list[Layer]:
    """An MLP (dense + ReLU, repeated; softmax output) from weights ``fc1.weight`` ...

    Args:
        blobs: weights by PyTorch name.
        sizes: layer widths from the input features to the classes, e.g. [784, 256, 256, 10].
    """
    dims = [(f"fc{i + 1}", sizes[i + 1], sizes[i]) for i in range(len(sizes) - 1)]
    return [
        Layer("input", "input", params={"shape": (1, 28, 28)}),
        Layer("flatten", "flatten"),
        *_dense_stack(blobs, dims),
    ]


def _dense_stack(blobs: dict[str, np.ndarray], dims: list[tuple[str, int, int]]) -> list[Layer]:
    layers = []
    for index, (name, out, inp) in enumerate(dims):
        weights = {
            "weight": _blob(blobs, f"{name}.weight", (out, inp)),
            "bias": _blob(blobs, f"{name}.bias", (out,)),
        }
        layers.append(Layer("dense", name, weights))
        last = index == len(dims) - 1
        layers.append(Layer("softmax", "prob") if last else Layer("relu", f"relu{index + 1}"))
    return layers


def _check(layers: list[Layer]) -> None:
    if not layers or layers[0].op != "input":
        raise PipelineError("network description", "must start with an input layer")
    unknown = [layer.op for layer in layers if layer.op not in OPS]
    if unknown:
        raise PipelineError("network description", f"unknown ops {unknown}", f"known: {OPS}")


def pack_int4(values: np.ndarray) -> np.ndarray:
    """INT4 values (-8..7, any integer dtype) packed two to a byte in C order, the first of
    each pair in the low nibble (TensorRT's and ONNX's INT4 layout)."""
    nibbles = (np.asarray(values).astype(np.int8).ravel() & 0x0F).astype(np.uint8)
    if nibbles.size % 2:
        nibbles = np.append(nibbles, np.uint8(0))
    return np.ascontiguousarray(nibbles[0::2] | (nibbles[1::2] << 4))


def int4_blocks(weight: np.ndarray, block_size: int) -> tuple[np.ndarray, np.ndarray]:
    """A (K, N) weight as weight-only INT4 in blocks of ``block_size`` along K, the values the
    ONNX pass writes (``workflow.formats.int4.quantize_blocked``), padded with zero rows to whole
    blocks.

    Returns:
        (int8 array of INT4 values, (blocks * block_size, N); float32 scales, (blocks, N)).
    """
    q, scale = quantize_blocked(weight, 0, block_size)
    values = np.zeros((scale.shape[0] * block_size, weight.shape[1]), np.int8)
    values[: weight.shape[0]] = np.asarray(q).astype(np.int8)
    return values, np.ascontiguousarray(scale, dtype=np.float32)


def add_int4_matmul(
    trt: ModuleType,
    network: Any,
    tensor: Any,
    weight: np.ndarray,
    *,
    block_size: int,
    name: str,
    keep: list[Any],
) -> Any:
    """``tensor`` (..., K) times ``weight`` (K, N) held as blocked INT4 (:func:`int4_blocks`).

    Adds an INT4 constant ``<name>.int4`` (K rounded up to whole blocks), its scales
    ``<name>.scale`` (blocks, N), an IDequantizeLayer to float32 along axis 0 (TensorRT infers
    the block size from the scale's shape; TensorRT-RTX 1.7 refuses an explicit block shape
    on INT4 input: "Blockwise dequantization requires input type to be int8 or fp8e4m3 or
    fp4e2m1") and the MatrixMultiply. Where K is no whole number of blocks, ``tensor`` is
    padded with zeros to the rounded K (a FILL slice): TensorRT needs whole blocks, and the
    padded rows are zero, so the product is the ONNX graph's (whose last block is short).

    Args:
        trt: the TensorRT module.
        network: the network being populated.
        tensor: the float32 activations, rank 2 (N, K) or 3 (B, T, K).
        weight: float32 (K, N).
        block_size: INT4 values per scale along K.
        name: prefix of the added layers' names.
        keep: list the packed arrays are appended to (alive until the build ends).

    Returns:
        The MatrixMultiply layer.
    """
    values, scale = int4_blocks(weight, block_size)
    packed = pack_int4(values)
    keep += [packed, scale]
    constant = network.add_constant(
        values.shape, trt.Weights(trt.DataType.INT4, packed.ctypes.data, values.size)
    )
    constant.name = f"{name}.int4"
    scales = network.add_constant(scale.shape, trt.Weights(scale))
    scales.name = f"{name}.scale"
    dequantized = network.add_dequantize(constant.get_output(0), scales.get_output(0), trt.float32)
    dequantized.axis = 0
    dequantized.name = f"{name}.dequantize"
    matrix = dequantized.get_output(0)
    rank = len(tensor.shape)
    if values.shape[0] != weight.shape[0]:
        tensor = _pad_last(trt, network, tensor, values.shape[0], name=name, keep=keep)
    if rank == 3:
        lifted = network.add_shuffle(matrix)
        lifted.reshape_dims = (1, *values.shape)
        lifted.name = f"{name}.int4_3d"
        matrix = lifted.get_output(0)
    product = network.add_matrix_multiply(
        tensor, trt.MatrixOperation.NONE, matrix, trt.MatrixOperation.NONE
    )
    product.name = f"{name}.matmul"
    return product


def _pad_last(trt: ModuleType, network: Any, tensor: Any, width: int, *, name: str, keep: list):
    """``tensor`` with its last axis padded with zeros to ``width`` (other axes as they come)."""
    rank = len(tensor.shape)
    shape = network.add_shape(tensor)
    shape.name = f"{name}.pad_shape"
    lead = network.add_slice(shape.get_output(0), (0,), (rank - 1,), (1,))
    lead.name = f"{name}.pad_lead"
    size = np.array([width], np.int64)
    keep.append(size)
    last = network.add_constant((1,), trt.Weights(size))
    last.name = f"{name}.pad_width"
    wanted = network.add_concatenation([lead.get_output(0), last.get_output(0)])
    wanted.name = f"{name}.pad_size"
    padded = network.add_slice(tensor, (0,) * rank, (1,) * rank, (1,) * rank)
    padded.set_input(2, wanted.get_output(0))
    padded.mode = trt.SampleMode.FILL
    padded.name = f"{name}.pad"
    return padded.get_output(0)


def populate_network(
    trt: ModuleType, network: Any, layers: list[Layer], *, int4_block: int = 0
) -> list[Any]:
    """Add the layers to an empty strongly typed TensorRT network (dynamic batch).

    Every float weight array gets the name :func:`weights_name` gives, so a refitter can
    address it.

    Args:
        trt: the TensorRT module.
        network: an empty strongly typed network.
        layers: the description.
        int4_block: 0 for float weights; else every dense layer's weight is weight-only INT4
            in blocks of this many values along its input axis (:func:`add_int4_matmul`).

    Returns:
        The weight objects handed to TensorRT; keep them alive until the engine is built.
    """
    _check(layers)
    keep: list[Any] = []

    def weights(array: np.ndarray) -> Any:
        array = np.ascontiguousarray(array, dtype=np.float32)
        made = trt.Weights(array)
        keep.append((made, array))
        return made

    def name_all(layer: Layer, pairs: list[tuple[str, Any]]) -> None:
        for key, made in pairs:  # only once the weights are used by a layer
            network.set_weights_name(made, weights_name(layer, key))

    tensor = None
    for layer in layers:
        if layer.op == "input":
            tensor = network.add_input(layer.name, trt.float32, (-1, *layer.params["shape"]))
            continue
        if layer.op == "conv":
            kernel = weights(layer.weights["weight"])
            bias = weights(layer.weights["bias"])
            shape = layer.weights["weight"].shape
            added = network.add_convolution_nd(tensor, shape[0], tuple(shape[2:]), kernel, bias)
            name_all(layer, [("weight", kernel), ("bias", bias)])
        elif layer.op == "maxpool":
            window = (layer.params["window"],) * 2
            added = network.add_pooling_nd(tensor, trt.PoolingType.MAX, window)
            added.stride_nd = window
        elif layer.op == "flatten":
            added = network.add_shuffle(tensor)
            added.reshape_dims = (0, -1)
        elif layer.op == "dense":
            transposed = layer.weights["weight"].T  # (out, in): multiply by its transpose
            bias_row = layer.weights["bias"].reshape(1, -1)
            if int4_block:
                product = add_int4_matmul(
                    trt,
                    network,
                    tensor,
                    np.ascontiguousarray(transposed),
                    block_size=int4_block,
                    name=layer.name,
                    keep=keep,
                )
                named = []
            else:
                kernel = weights(transposed)
                matrix = network.add_constant(transposed.shape, kernel)
                matrix.name = f"{layer.name}.weight"
                product = network.add_matrix_multiply(
                    tensor,
                    trt.MatrixOperation.NONE,
                    matrix.get_output(0),
                    trt.MatrixOperation.NONE,
                )
                named = [("weight", kernel)]
            product.name = f"{layer.name}.matmul"
            bias = weights(bias_row)
            constant = network.add_constant(bias_row.shape, bias)
            constant.name = f"{layer.name}.bias"
            added = network.add_elementwise(
                product.get_output(0), constant.get_output(0), trt.ElementWiseOperation.SUM
            )
            name_all(layer, [*named, ("bias", bias)])
        elif layer.op == "fc_plugin":
            added = _add_fc_plugin(trt, network, tensor, layer, keep)
        elif layer.op == "relu":
            added = network.add_activation(tensor, trt.ActivationType.RELU)
        else:  # softmax over the classes
            added = network.add_softmax(tensor)
            added.axes = 1 << 1
        added.name = layer.name
        tensor = added.get_output(0)
        tensor.name = layer.name
    network.mark_output(tensor)
    return keep


def _add_fc_plugin(trt: ModuleType, network: Any, tensor: Any, layer: Layer, keep: list) -> Any:
    """The FC plugin as a layer: made by its creator (the plugin library must be loaded) from
    the fields the ONNX parser would pass, added with ``add_plugin_v3``.

    Raises:
        PipelineError: the creator is not registered, or refuses the fields.
    """
    creator = trt.get_plugin_registry().get_creator("FCPlugin", VERSION, NAMESPACE)
    if creator is None:
        raise PipelineError(
            f"{NAMESPACE}::FCPlugin", "not registered", "load the plugin library first"
        )
    weight = np.ascontiguousarray(layer.weights["weight"], np.float32)
    arrays = {
        "weights": weight.ravel(),
        "bias": np.ascontiguousarray(layer.weights["bias"], np.float32),
        "outFeatures": np.array([weight.shape[0]], np.int32),
    }
    keep.append(arrays)
    fields = trt.PluginFieldCollection(
        [
            trt.PluginField(
                name,
                array,
                trt.PluginFieldType.INT32
                if array.dtype == np.int32
                else trt.PluginFieldType.FLOAT32,
            )
            for name, array in arrays.items()
        ]
    )
    plugin = creator.create_plugin(layer.name, fields, trt.TensorRTPhase.BUILD)
    if plugin is None:
        raise PipelineError(f"{NAMESPACE}::FCPlugin", f"the creator refused {layer.name}'s fields")
    keep.append(plugin)
    return network.add_plugin_v3([tensor], [], plugin)


def onnx_from_layers(layers: list[Layer], *, opset: int) -> bytes:
    """The same layers as an ONNX graph (dynamic batch; output named after the last layer)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    _check(layers)
    nodes, inits = [], []
    previous = layers[0].name
    for layer in layers[1:]:
        out = layer.name
        if layer.op == "conv":
            inits += [
                numpy_helper.from_array(layer.weights["weight"], f"{out}.weight"),
                numpy_helper.from_array(layer.weights["bias"], f"{out}.bias"),
            ]
            nodes.append(
                helper.make_node(
                    "Conv", [previous, f"{out}.weight", f"{out}.bias"], [out], name=out
                )
            )
        elif layer.op == "maxpool":
            window = [layer.params["window"]] * 2
            nodes.append(
                helper.make_node(
                    "MaxPool", [previous], [out], kernel_shape=window, strides=window, name=out
                )
            )
        elif layer.op == "flatten":
            inits.append(numpy_helper.from_array(np.array([0, -1], np.int64), f"{out}.shape"))
            nodes.append(helper.make_node("Reshape", [previous, f"{out}.shape"], [out], name=out))
        elif layer.op == "dense":
            inits += [
                numpy_helper.from_array(layer.weights["weight"].T.copy(), f"{out}.weight"),
                numpy_helper.from_array(layer.weights["bias"].reshape(1, -1), f"{out}.bias"),
            ]
            nodes += [
                helper.make_node(
                    "MatMul", [previous, f"{out}.weight"], [f"{out}.matmul"], name=f"{out}.matmul"
                ),
                helper.make_node("Add", [f"{out}.matmul", f"{out}.bias"], [out], name=out),
            ]
        elif layer.op == "fc_plugin":
            nodes.append(
                fc_node(out, previous, out, layer.weights["weight"], layer.weights["bias"])
            )
        elif layer.op == "relu":
            nodes.append(helper.make_node("Relu", [previous], [out], name=out))
        else:
            nodes.append(helper.make_node("Softmax", [previous], [out], axis=1, name=out))
        previous = out
    first = layers[0]
    graph = helper.make_graph(
        nodes,
        "layers",
        [
            helper.make_tensor_value_info(
                first.name, TensorProto.FLOAT, ["batch", *first.params["shape"]]
            )
        ],
        [helper.make_tensor_value_info(previous, TensorProto.FLOAT, _output_shape(layers))],
        initializer=inits,
    )
    opsets = [helper.make_opsetid("", opset)]
    if any(layer.op == "fc_plugin" for layer in layers):
        opsets.append(helper.make_opsetid(DOMAIN, 1))
    model = helper.make_model(graph, opset_imports=opsets, producer_name="trt-samples-pipeline")
    model.ir_version = 9
    model = onnx.shape_inference.infer_shapes(model)
    onnx.checker.check_model(model, full_check=True)
    return model.SerializeToString()


def _output_shape(layers: list[Layer]) -> list[Any] | None:
    """The output's shape where shape inference cannot reach it (after a plugin layer, which it
    does not know): (batch, classes); else None (inferred)."""
    if not any(layer.op == "fc_plugin" for layer in layers):
        return None
    last = [layer for layer in layers if "weight" in layer.weights][-1]
    return ["batch", int(last.weights["weight"].shape[0])]


def checksum(array: np.ndarray) -> str:
    """Short sha256 of an array's float32 bytes (C order)."""
    return hashlib.sha256(np.ascontiguousarray(array, dtype=np.float32).tobytes()).hexdigest()[:16]


def describe_layers(layers: list[Layer], *, int4_block: int = 0) -> list[dict[str, Any]]:
    """What the TensorRT network built from ``layers`` must contain, layer by layer: the
    TensorRT layer type, the output shape (batch -1), the kernel, stride and padding of
    convolutions and poolings, and the checksums of the weights, in the form
    :func:`describe_network` gives; with ``int4_block``, each dense layer's INT4 constant (its
    values' checksum), scales, dequantization and, where its input is padded to whole blocks,
    the padding layers (:func:`add_int4_matmul`)."""
    kinds = {
        "conv": ["CONVOLUTION"],
        "maxpool": ["POOLING"],
        "flatten": ["SHUFFLE"],
        "dense": ["CONSTANT", "MATRIX_MULTIPLY", "CONSTANT", "ELEMENTWISE"],
        "fc_plugin": ["PLUGIN_V3"],
        "relu": ["ACTIVATION"],
        "softmax": ["SOFTMAX"],
    }
    shape = list(layers[0].params["shape"])  # (C, H, W) of the input
    rows: list[dict[str, Any]] = []
    for layer in layers[1:]:
        sums = []
        geometry: dict[str, Any] = {}
        if layer.op == "conv":
            sums = [checksum(layer.weights["weight"]), checksum(layer.weights["bias"])]
            out, _, kh, kw = layer.weights["weight"].shape
            shape = [out, shape[1] - kh + 1, shape[2] - kw + 1]
            geometry = {"kernel": [kh, kw], "stride": [1, 1], "padding": [0, 0]}
        elif layer.op == "maxpool":
            window = layer.params["window"]
            shape = [shape[0], shape[1] // window, shape[2] // window]
            geometry = {"window": [window, window], "stride": [window, window], "padding": [0, 0]}
        elif layer.op == "flatten":
            shape = [int(np.prod(shape))]
        elif layer.op in ("dense", "fc_plugin"):
            shape = [layer.weights["weight"].shape[0]]
        if layer.op == "dense" and int4_block:
            rows += _describe_int4_dense(layer, int4_block, shape)
            continue
        for index, kind in enumerate(kinds[layer.op]):
            row: dict[str, Any] = {"type": kind, "shape": [-1, *shape]} | geometry
            if layer.op == "conv":
                row["weights"] = sums
            if layer.op == "dense" and kind == "CONSTANT":
                key = "weight" if index == 0 else "bias"
                value = layer.weights["weight"].T if key == "weight" else layer.weights["bias"]
                row["weights"] = [checksum(value)]
                row["shape"] = list(value.shape) if key == "weight" else [1, shape[0]]
            rows.append(row)
    return rows


def _describe_int4_dense(layer: Layer, block_size: int, shape: list[int]) -> list[dict[str, Any]]:
    """The rows of one dense layer built with :func:`add_int4_matmul`."""
    transposed = np.ascontiguousarray(layer.weights["weight"].T)
    values, scale = int4_blocks(transposed, block_size)
    rows: list[dict[str, Any]] = [
        {"type": "CONSTANT", "shape": list(values.shape), "weights": [f"int4 x {values.size}"]},
        {"type": "CONSTANT", "shape": list(scale.shape), "weights": [checksum(scale)]},
        {"type": "DEQUANTIZE", "shape": list(values.shape)},
    ]
    if values.shape[0] != transposed.shape[0]:
        rows += [
            {"type": "SHAPE"},
            {"type": "SLICE"},
            {"type": "CONSTANT", "weights": [checksum(np.array([values.shape[0]]))]},
            {"type": "CONCATENATION"},
            {"type": "SLICE"},
        ]
    rows += [
        {"type": "MATRIX_MULTIPLY", "shape": [-1, *shape]},
        {"type": "CONSTANT", "shape": [1, shape[0]], "weights": [checksum(layer.weights["bias"])]},
        {"type": "ELEMENTWISE", "shape": [-1, *shape]},
    ]
    return rows


def describe_network(network: Any) -> list[dict[str, Any]]:
    """Layer type, name, output shape, convolution and pooling geometry (kernel or window,
    stride, padding) and weight checksums of a TensorRT network definition."""
    rows = []
    for index in range(network.num_layers):
        layer = network.get_layer(index)
        try:
            shape = list(layer.get_output(0).shape)
        except RuntimeError:  # TensorRT cannot infer it: an earlier layer made it inconsistent
            shape = None
        row: dict[str, Any] = {"type": layer.type.name, "name": layer.name, "shape": shape}
        kind = layer.type.name
        if kind == "CONVOLUTION":
            layer.__class__ = layer_class(layer, "IConvolutionLayer")
            row["weights"] = [checksum(np.asarray(layer.kernel)), checksum(np.asarray(layer.bias))]
            row["kernel"] = list(layer.kernel_size_nd)
        elif kind == "POOLING":
            layer.__class__ = layer_class(layer, "IPoolingLayer")
            row["window"] = list(layer.window_size_nd)
        elif kind == "CONSTANT":
            layer.__class__ = layer_class(layer, "IConstantLayer")
            row["weights"] = [constant_checksum(layer)]
        if kind in ("CONVOLUTION", "POOLING"):
            row["stride"] = list(layer.stride_nd)
            row["padding"] = list(layer.padding_nd)
        rows.append(row)
    return rows


def constant_checksum(layer: Any) -> str:
    """The checksum of a constant layer's weights (:func:`checksum`); for an INT4 constant,
    whose Weights give TensorRT's Python API no array to read back, ``int4 x <count>`` (its
    values are checked against the ONNX graph that ONNX Runtime scores instead:
    :func:`check_int4_graph`)."""
    weights = layer.weights
    if weights.dtype.name == "INT4":
        return f"int4 x {weights.size}"
    return checksum(np.asarray(weights))


def layer_class(layer: Any, name: str) -> type:
    """TensorRT's Python layer class ``name`` from the module the layer belongs to."""
    import importlib

    module = importlib.import_module(type(layer).__module__)
    return getattr(module, name)


def layers_for(network: str, blobs: dict[str, np.ndarray], *, mlp_sizes: list[int]) -> list[Layer]:
    """The description of a named network (:data:`NETWORKS`) with the given weights."""
    if network == "lenet":
        return lenet_layers(blobs)
    if network == "lenet_fcplugin":
        return [
            Layer("fc_plugin", layer.name, layer.weights) if layer.name == "fc2" else layer
            for layer in lenet_layers(blobs)
        ]
    if network == "mlp":
        return mlp_layers(blobs, mlp_sizes)
    raise PipelineError(f"network {network!r}", "no layer description", f"use one of {NETWORKS}")


def check_network(
    network: Any, layers: list[Layer], *, int4_block: int = 0
) -> list[dict[str, Any]]:
    """Check that a populated TensorRT network holds exactly the described layers and weights
    (``int4_block`` as given to :func:`populate_network`).

    Returns:
        :func:`describe_network` of the network.

    Raises:
        PipelineError: naming the first layer whose type, output shape, kernel or window,
            stride, padding or weights differ.
    """
    found = describe_network(network)
    expected = describe_layers(layers, int4_block=int4_block)
    if len(found) != len(expected):
        raise PipelineError(
            "network", f"{len(found)} layers, the description makes {len(expected)}"
        )
    for index, (row, want) in enumerate(zip(found, expected, strict=True)):
        got = {key: row[key] for key in want}
        if got != want:
            raise PipelineError(
                f"network layer {index} ({row['name']})", f"is {got}, expected {want}"
            )
    return found


def check_int4_graph(layers: list[Layer], onnx_bytes: bytes, *, block_size: int) -> int:
    """Check that the INT4 weight-only ONNX graph of the same description (the ONNX pass's,
    ``workflow.quant.int4``, which ONNX Runtime scores) holds, for every dense layer, the INT4
    values and scales :func:`add_int4_matmul` gives TensorRT.

    Returns:
        The number of dense layers checked.

    Raises:
        PipelineError: naming the first dense layer whose INT4 weight is missing or differs.
    """
    import onnx
    from onnx import numpy_helper

    graph = onnx.load_from_string(onnx_bytes).graph
    found = {init.name: init for init in graph.initializer}
    checked = 0
    for layer in layers:
        if layer.op != "dense":
            continue
        weight = np.ascontiguousarray(layer.weights["weight"].T)
        values, scale = int4_blocks(weight, block_size)
        base = f"{layer.name}.weight_int4"
        if base not in found or f"{base}_scale" not in found:
            raise PipelineError(
                f"int4w graph, layer {layer.name}",
                f"has no INT4 weight {base}",
                "rebuild the graph with the same int4.block_size",
            )
        graph_values = numpy_helper.to_array(found[base]).astype(np.int8)
        graph_scale = numpy_helper.to_array(found[f"{base}_scale"])
        same = np.array_equal(graph_values, values[: weight.shape[0]]) and np.array_equal(
            graph_scale, scale
        )
        if not same:
            raise PipelineError(
                f"int4w graph, layer {layer.name}",
                f"its INT4 values or scales differ from the network's (block size {block_size})",
                "rebuild the graph and the engine with the same int4.block_size",
            )
        checked += 1
    return checked
