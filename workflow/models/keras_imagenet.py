"""ResNet-50 written in Keras in torchvision's layout, its weights read from a PyTorch ``.wts``
file (introductory_parser_samples: one network from several frameworks).

The two frameworks store the same weights differently; the conversion, by layer kind:

* convolution: PyTorch (out, in, kh, kw) -> Keras (kh, kw, in, out);
* fully connected: PyTorch (out, in) -> Keras (in, out);
* batch norm: PyTorch weight, bias, running_mean, running_var -> Keras gamma, beta,
  moving_mean, moving_variance (epsilon 1e-5, PyTorch's); ``num_batches_tracked`` is a
  training counter and carries nothing.

PyTorch pads symmetrically; Keras' ``same`` padding of a strided convolution pads more on the
bottom and right, so every padded convolution and the stem's max pool get an explicit
``ZeroPadding2D`` and ``valid`` padding (zero padding before the max pool equals PyTorch's
-inf padding there: it follows a ReLU). Keras is NHWC; the global average pool leaves the
2048 features in the same order, so the fully connected layer needs no permutation.
"""

import logging
from typing import Any

import numpy as np

from workflow.errors import FormatError, PipelineError
from workflow.models.imagenet import RESNET50_BLOCKS
from workflow.models.keras import import_tensorflow

log = logging.getLogger(__name__)
#: PyTorch's batch-norm epsilon (torchvision's ResNet uses the default).
BN_EPSILON = 1e-5


def keras_conv_kernel(weight: np.ndarray) -> np.ndarray:
    """A PyTorch convolution weight (out, in, kh, kw) as a Keras kernel (kh, kw, in, out)."""
    return np.ascontiguousarray(weight.transpose(2, 3, 1, 0))


def keras_resnet50(blobs: dict[str, np.ndarray], *, size: int, source: str = "<wts>") -> Any:
    """ResNet-50 as a Keras model on NHWC (N, size, size, 3) input named ``input``, softmax
    output ``prob``, with
    the weights of ``blobs`` (PyTorch names, as :func:`workflow.models.imagenet.resnet50`
    has them); its width and classes follow from the weights.

    Raises:
        FormatError: a tensor the network needs is missing or has the wrong shape, or
            ``blobs`` holds tensors the network does not use (naming ``source``).
    """
    tf = import_tensorflow()
    layers = tf.keras.layers
    used: set[str] = set()
    assigned: list[tuple[Any, list[np.ndarray]]] = []

    def blob(name: str, shape: tuple[int, ...] | None = None) -> np.ndarray:
        if name not in blobs:
            raise FormatError(source, f"no tensor {name}", "write it from resnet50's weights")
        value = np.asarray(blobs[name], np.float32)
        if shape is not None and value.shape not in (shape, (int(np.prod(shape)),)):
            raise FormatError(source, f"{name} has shape {value.shape}, expected {shape}")
        if shape is not None:  # a .wts (v1) holds flat values, a .wts2 their shapes
            value = value.reshape(shape)
        used.add(name)
        return value

    def conv(x: Any, name: str, cout: int, kernel: int, stride: int = 1) -> Any:
        cin = int(x.shape[-1])
        weight = blob(f"{name}.weight", (cout, cin, kernel, kernel))
        key = name.replace(".", "_")
        if kernel // 2:
            x = layers.ZeroPadding2D(kernel // 2, name=f"{key}_pad")(x)
        layer = layers.Conv2D(cout, kernel, strides=stride, use_bias=False, name=key)
        out = layer(x)
        assigned.append((layer, [keras_conv_kernel(weight)]))
        return out

    def batch_norm(x: Any, name: str) -> Any:
        channels = (int(x.shape[-1]),)
        parts = ("weight", "bias", "running_mean", "running_var")
        values = [blob(f"{name}.{part}", channels) for part in parts]
        if f"{name}.num_batches_tracked" in blobs:
            used.add(f"{name}.num_batches_tracked")
        layer = layers.BatchNormalization(epsilon=BN_EPSILON, name=name.replace(".", "_"))
        out = layer(x)
        assigned.append((layer, values))
        return out

    if "conv1.weight" not in blobs or "fc.bias" not in blobs:
        raise FormatError(source, "not a ResNet-50's weights (no conv1.weight or fc.bias)")
    width = int(np.size(blobs["conv1.weight"]) // (3 * 7 * 7))
    classes = int(np.size(blobs["fc.bias"]))
    inputs = tf.keras.Input((size, size, 3), name="input")
    x = layers.ReLU(name="relu")(batch_norm(conv(inputs, "conv1", width, 7, 2), "bn1"))
    x = layers.MaxPooling2D(3, 2, name="maxpool")(layers.ZeroPadding2D(1, name="pool_pad")(x))
    for stage, blocks in enumerate(RESNET50_BLOCKS):
        planes = width * 2**stage
        for block in range(blocks):
            name = f"layer{stage + 1}.{block}"
            stride = 2 if stage > 0 and block == 0 else 1
            shortcut = x
            if block == 0:
                shortcut = batch_norm(
                    conv(x, f"{name}.downsample.0", planes * 4, 1, stride), f"{name}.downsample.1"
                )
            out = layers.ReLU()(batch_norm(conv(x, f"{name}.conv1", planes, 1), f"{name}.bn1"))
            out = batch_norm(conv(out, f"{name}.conv2", planes, 3, stride), f"{name}.bn2")
            out = batch_norm(
                conv(layers.ReLU()(out), f"{name}.conv3", planes * 4, 1), f"{name}.bn3"
            )
            x = layers.ReLU(name=f"{name.replace('.', '_')}_out")(layers.Add()([out, shortcut]))
    x = layers.GlobalAveragePooling2D(name="avgpool")(x)
    fc = layers.Dense(classes, name="fc")
    logits = fc(x)
    assigned.append(
        (fc, [blob("fc.weight", (classes, planes * 4)).T.copy(), blob("fc.bias", (classes,))])
    )
    model = tf.keras.Model(inputs, layers.Softmax(name="prob")(logits), name="resnet50")
    unused = sorted(set(blobs) - used)
    if unused:
        raise FormatError(source, f"{len(unused)} tensors the network does not use: {unused[:5]}")
    for layer, values in assigned:
        layer.set_weights(values)
    log.info(
        "keras resnet50 | width %d, %d classes, %d tensors from %s",
        width,
        classes,
        len(used),
        source,
    )
    return model


#: The image networks written in Keras (registry rows with train: wts_keras).
KERAS_IMAGE_NETWORKS = ("resnet50",)


def keras_image_network(
    name: str, blobs: dict[str, np.ndarray], *, size: int, source: str = "<wts>"
) -> Any:
    """The Keras network ``name`` with the weights of a PyTorch ``.wts``.

    Raises:
        PipelineError: a network not written in Keras.
        FormatError: weights that do not fit it.
    """
    if name not in KERAS_IMAGE_NETWORKS:
        raise PipelineError(
            f"network {name!r}", "not written in Keras", f"use one of {KERAS_IMAGE_NETWORKS}"
        )
    return keras_resnet50(blobs, size=size, source=source)
