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
"""

import hashlib
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np

from workflow.errors import PipelineError
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


def populate_network(trt: ModuleType, network: Any, layers: list[Layer]) -> list[Any]:
    """Add the layers to an empty strongly typed TensorRT network (dynamic batch).

    Every weight array gets the name :func:`weights_name` gives, so a refitter can address it.

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
            kernel, bias = weights(transposed), weights(bias_row)
            matrix = network.add_constant(transposed.shape, kernel)
            matrix.name = f"{layer.name}.weight"
            product = network.add_matrix_multiply(
                tensor, trt.MatrixOperation.NONE, matrix.get_output(0), trt.MatrixOperation.NONE
            )
            product.name = f"{layer.name}.matmul"
            constant = network.add_constant(bias_row.shape, bias)
            constant.name = f"{layer.name}.bias"
            added = network.add_elementwise(
                product.get_output(0), constant.get_output(0), trt.ElementWiseOperation.SUM
            )
            name_all(layer, [("weight", kernel), ("bias", bias)])
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


def describe_layers(layers: list[Layer]) -> list[dict[str, Any]]:
    """What the TensorRT network built from ``layers`` must contain, layer by layer: the
    TensorRT layer type, the output shape (batch -1), the kernel, stride and padding of
    convolutions and poolings, and the checksums of the weights, in the form
    :func:`describe_network` gives."""
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
            row["weights"] = [checksum(np.asarray(layer.weights))]
        if kind in ("CONVOLUTION", "POOLING"):
            row["stride"] = list(layer.stride_nd)
            row["padding"] = list(layer.padding_nd)
        rows.append(row)
    return rows


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


def check_network(network: Any, layers: list[Layer]) -> list[dict[str, Any]]:
    """Check that a populated TensorRT network holds exactly the described layers and weights.

    Returns:
        :func:`describe_network` of the network.

    Raises:
        PipelineError: naming the first layer whose type, output shape, kernel or window,
            stride, padding or weights differ.
    """
    found = describe_network(network)
    expected = describe_layers(layers)
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
