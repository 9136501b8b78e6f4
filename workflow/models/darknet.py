"""A PyTorch model built from a darknet ``.cfg``, loading and saving darknet ``.weights``.

The same layers as ``workflow.netdef.darknet`` writes to ONNX (Conv with batch normalisation of
epsilon 1e-5 and leaky ReLU 0.1, shortcut, route, nearest upsample, darknet-padded max pool);
``forward`` returns the input of every ``[yolo]`` head, in order. It trains like any PyTorch
model; :func:`darknet_weights` turns it back into darknet weights, so that a trained model goes
through the seed's cfg + weights path to its engine.
"""

from typing import TYPE_CHECKING

import numpy as np

from workflow.formats.darknet import LEAKY_SLOPE, ConvWeights, Network, Weights
from workflow.netdef.darknet import BN_EPSILON

if TYPE_CHECKING:
    import torch

#: The header this pipeline writes (darknet 0.2: 64-bit ``seen``).
WEIGHTS_VERSION = (0, 2, 0)


def darknet_model(network: Network) -> "torch.nn.Module":
    """The network as a ``torch.nn.Module`` (random initial weights)."""
    import torch
    from torch import nn

    class Darknet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layers = nn.ModuleList()
            channels = network.input_shape[0]
            for layer in network.layers:
                self.layers.append(_module(layer, channels))
                channels = layer.channels

        def forward(self, image: "torch.Tensor") -> tuple["torch.Tensor", ...]:
            outputs: list[torch.Tensor] = []
            heads = []
            x = image
            for layer, module in zip(network.layers, self.layers, strict=True):
                if layer.kind == "shortcut":
                    x = x + outputs[layer.inputs[1]]
                elif layer.kind == "route":
                    x = torch.cat([outputs[i] for i in layer.inputs], dim=1)
                elif layer.kind == "yolo":
                    heads.append(x)
                else:
                    x = module(x)
                outputs.append(x)
            return tuple(heads)

    return Darknet()


def _module(layer, channels: int) -> "torch.nn.Module":
    from torch import nn

    if layer.kind == "convolutional":
        size, stride = layer.number("size"), layer.number("stride")
        pad = layer.conv_padding()
        batch_norm = bool(layer.number("batch_normalize", 0))
        parts: list[nn.Module] = [
            nn.Conv2d(channels, layer.number("filters"), size, stride, pad, bias=not batch_norm)
        ]
        if batch_norm:
            parts.append(nn.BatchNorm2d(layer.number("filters"), eps=BN_EPSILON))
        if layer.options["activation"] == "leaky":
            parts.append(nn.LeakyReLU(LEAKY_SLOPE))
        return nn.Sequential(*parts)
    if layer.kind == "upsample":
        return nn.Upsample(scale_factor=layer.number("stride"), mode="nearest")
    if layer.kind == "maxpool":
        size, stride = layer.number("size"), layer.number("stride")
        before, after = (size - 1) // 2, size - 1 - (size - 1) // 2
        # darknet pads with -inf-like values: max pooling ignores the padding
        return nn.Sequential(
            nn.ConstantPad2d((before, after, before, after), float("-inf")),
            nn.MaxPool2d(size, stride),
        )
    return nn.Identity()


def load_darknet_weights(model: "torch.nn.Module", network: Network, weights: Weights) -> None:
    """Copy darknet weights into a model from :func:`darknet_model` (in place)."""
    import torch

    with torch.no_grad():
        for layer, module in zip(network.layers, model.layers, strict=True):
            if layer.kind != "convolutional":
                continue
            conv = weights.convs[layer.index]
            module[0].weight.copy_(torch.from_numpy(conv.kernel))
            if conv.bn_scales is None:
                module[0].bias.copy_(torch.from_numpy(conv.biases))
            else:
                bn = module[1]
                bn.weight.copy_(torch.from_numpy(conv.bn_scales))
                bn.bias.copy_(torch.from_numpy(conv.biases))
                bn.running_mean.copy_(torch.from_numpy(conv.bn_means))
                bn.running_var.copy_(torch.from_numpy(conv.bn_vars))


def darknet_weights(model: "torch.nn.Module", network: Network, *, seen: int = 0) -> Weights:
    """The model's weights in darknet's layout (header version ``WEIGHTS_VERSION``)."""

    def array(tensor: "torch.Tensor") -> np.ndarray:
        return tensor.detach().cpu().numpy().astype(np.float32)

    convs = {}
    for layer, module in zip(network.layers, model.layers, strict=True):
        if layer.kind != "convolutional":
            continue
        if layer.number("batch_normalize", 0):
            bn = module[1]
            convs[layer.index] = ConvWeights(
                array(module[0].weight),
                array(bn.bias),
                array(bn.weight),
                array(bn.running_mean),
                array(bn.running_var),
            )
        else:
            convs[layer.index] = ConvWeights(array(module[0].weight), array(module[0].bias))
    return Weights(*WEIGHTS_VERSION, seen, convs)
