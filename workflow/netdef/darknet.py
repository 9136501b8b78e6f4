"""A darknet ``.cfg`` and its ``.weights`` written as an ONNX graph (the seed's yolov3_to_onnx).

One node per darknet layer: Conv (batch normalisation folded into its weights and bias, then
LeakyRelu with slope 0.1 for ``leaky``), Add (shortcut), Concat (route of several layers; a
route of one layer passes its tensor on), Resize (upsample, nearest), MaxPool (darknet's
padding: ``size - 1``, the first half before). The input ``image`` (N, C, H, W) has a dynamic
batch; each ``[yolo]`` head's input becomes an output ``yolo<k>`` (N, anchors * (5 + classes),
h, w) in head order, and decoding happens after the network, as in the seed.
"""

import numpy as np

from workflow.errors import FormatError
from workflow.formats.darknet import LEAKY_SLOPE, ConvWeights, Network, Weights

#: Batch-norm epsilon of the folded convolutions (the seed's converter and the PyTorch model).
BN_EPSILON = 1e-5
INPUT_NAME = "image"


def fold_batch_norm(conv: ConvWeights) -> tuple[np.ndarray, np.ndarray]:
    """The kernel and bias of a convolution with its batch normalisation folded in."""
    if conv.bn_scales is None:
        return conv.kernel.astype(np.float32), conv.biases.astype(np.float32)
    factor = conv.bn_scales / np.sqrt(conv.bn_vars + BN_EPSILON)
    kernel = conv.kernel * factor[:, None, None, None]
    bias = conv.biases - conv.bn_means * factor
    return kernel.astype(np.float32), bias.astype(np.float32)


def onnx_from_darknet(network: Network, weights: Weights, *, opset: int = 18) -> bytes:
    """Write the network as an ONNX graph (see the module docstring), checked by
    ``onnx.checker``.

    Raises:
        FormatError: a convolutional layer has no weights, or the network has no [yolo] head.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    if not network.heads():
        raise FormatError(network.source, "no [yolo] layer: nothing to output")
    nodes, inits, outputs = [], [], []
    names: list[str] = []
    current = INPUT_NAME
    for layer in network.layers:
        name = f"layer{layer.index}_{layer.kind}"
        if layer.kind == "convolutional":
            if layer.index not in weights.convs:
                raise FormatError(network.source, f"no weights for layer {layer.index}")
            kernel, bias = fold_batch_norm(weights.convs[layer.index])
            size, stride = layer.number("size"), layer.number("stride")
            pad = layer.conv_padding()
            inits += [
                numpy_helper.from_array(kernel, f"{name}.weight"),
                numpy_helper.from_array(bias, f"{name}.bias"),
            ]
            conv_out = name if layer.options["activation"] == "linear" else f"{name}.conv"
            nodes.append(
                helper.make_node(
                    "Conv",
                    [current, f"{name}.weight", f"{name}.bias"],
                    [conv_out],
                    kernel_shape=[size, size],
                    strides=[stride, stride],
                    pads=[pad] * 4,
                    name=f"{name}.conv",
                )
            )
            if layer.options["activation"] == "leaky":
                nodes.append(
                    helper.make_node(
                        "LeakyRelu", [conv_out], [name], alpha=LEAKY_SLOPE, name=f"{name}.leaky"
                    )
                )
        elif layer.kind == "shortcut":
            nodes.append(
                helper.make_node("Add", [current, names[layer.inputs[1]]], [name], name=name)
            )
        elif layer.kind == "route":
            sources = [names[i] for i in layer.inputs]
            if len(sources) == 1:
                name = sources[0]
            else:
                nodes.append(helper.make_node("Concat", sources, [name], axis=1, name=name))
        elif layer.kind == "upsample":
            stride = float(layer.number("stride"))
            scales = np.array([1.0, 1.0, stride, stride], dtype=np.float32)
            inits.append(numpy_helper.from_array(scales, f"{name}.scales"))
            nodes.append(
                helper.make_node(
                    "Resize", [current, "", f"{name}.scales"], [name], mode="nearest", name=name
                )
            )
        elif layer.kind == "maxpool":
            size, stride = layer.number("size"), layer.number("stride")
            before, after = (size - 1) // 2, size - 1 - (size - 1) // 2
            nodes.append(
                helper.make_node(
                    "MaxPool",
                    [current],
                    [name],
                    kernel_shape=[size, size],
                    strides=[stride, stride],
                    pads=[before, before, after, after],
                    name=name,
                )
            )
        elif layer.kind == "yolo":
            head = f"yolo{len(outputs)}"
            nodes.append(helper.make_node("Identity", [current], [head], name=head))
            outputs.append(
                helper.make_tensor_value_info(
                    head, TensorProto.FLOAT, ["batch", layer.channels, layer.height, layer.width]
                )
            )
            name = current  # a head computes nothing; the next layer reads what it read
        names.append(name)
        current = name
    channels, height, width = network.input_shape
    graph = helper.make_graph(
        nodes,
        "darknet",
        [
            helper.make_tensor_value_info(
                INPUT_NAME, TensorProto.FLOAT, ["batch", channels, height, width]
            )
        ],
        outputs,
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 9
    onnx.checker.check_model(model, full_check=True)
    return model.SerializeToString()
