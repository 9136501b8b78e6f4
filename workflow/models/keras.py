"""The seed's LeNet in TensorFlow/Keras (end_to_end_tensorflow_mnist, sampleUffMNIST today):
seeded training, export to ONNX with tf2onnx, and the parity check against TensorFlow.

Keras works in NHWC; the ONNX export takes NCHW input (``inputs_as_nchw``) so every MNIST graph
of the pipeline is fed the same arrays.
"""

import logging
import os
import re
from types import ModuleType
from typing import Any

import numpy as np

from workflow.errors import PipelineError
from workflow.logs import timed
from workflow.models.export import parity_report

log = logging.getLogger(__name__)
TF_HINT = "install the project's dependencies: pip install -e ."


def import_tensorflow() -> ModuleType:
    """Import TensorFlow quietly, or say what to install."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import tensorflow as tf
    except ImportError as err:
        raise PipelineError("tensorflow", f"not installed ({err})", TF_HINT) from err
    return tf


#: The Keras networks: LeNet, and LeNet whose fc1 activation is a ReLU6 (the clip layer that the
#: uff_custom_plugin sample replaced by its plugin; tf2onnx writes it as a Clip node).
KERAS_NETWORKS = ("lenet", "lenet_relu6")


def keras_lenet(network: str = "lenet") -> Any:
    """LeNet as a Keras model on NHWC (N, 28, 28, 1) input, softmax output named ``prob``.

    Raises:
        PipelineError: a network not in :data:`KERAS_NETWORKS`.
    """
    if network not in KERAS_NETWORKS:
        raise PipelineError(f"network {network!r}", f"choose among {KERAS_NETWORKS}")
    tf = import_tensorflow()
    layers = tf.keras.layers
    if network == "lenet_relu6":
        fc1 = [layers.Dense(500, name="fc1"), layers.ReLU(max_value=6.0, name="relu6")]
    else:
        fc1 = [layers.Dense(500, activation="relu", name="fc1")]
    return tf.keras.Sequential(
        [
            tf.keras.Input((28, 28, 1), name="input"),
            layers.Conv2D(20, 5, name="conv1"),
            layers.MaxPooling2D(2, name="pool1"),
            layers.Conv2D(50, 5, name="conv2"),
            layers.MaxPooling2D(2, name="pool2"),
            layers.Flatten(name="flatten"),
            *fc1,
            layers.Dense(10, name="fc2"),
            layers.Softmax(name="prob"),
        ],
        name=network,
    )


def nhwc(inputs: np.ndarray) -> np.ndarray:
    """(N, 1, H, W) network input -> (N, H, W, 1) for Keras."""
    return np.ascontiguousarray(np.moveaxis(inputs, 1, -1))


def train_keras(
    inputs: np.ndarray,
    labels: np.ndarray,
    *,
    seed: int,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    momentum: float,
    threads: int,
    network: str = "lenet",
) -> Any:
    """Train the Keras LeNet with SGD (cosine decay), seeded and with deterministic ops.

    Args:
        inputs: float32 (N, 1, 28, 28) in [0, 1].
        labels: class indices (N,).
        seed: seeds initial weights and shuffling.
        epochs, batch_size, learning_rate, momentum: SGD settings.
        threads: TensorFlow intra-op threads.
        network: one of :data:`KERAS_NETWORKS`.
    """
    tf = import_tensorflow()
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    model = keras_lenet(network)
    steps = epochs * ((len(inputs) + batch_size - 1) // batch_size)
    schedule = tf.keras.optimizers.schedules.CosineDecay(learning_rate, steps)
    model.compile(
        optimizer=tf.keras.optimizers.SGD(schedule, momentum=momentum),
        loss=tf.keras.losses.SparseCategoricalCrossentropy(),
        metrics=["accuracy"],
    )
    with timed(log, f"train keras | {len(inputs)} images, {epochs} epochs"):
        history = model.fit(
            nhwc(inputs),
            np.asarray(labels, np.int64),
            epochs=epochs,
            batch_size=batch_size,
            shuffle=True,
            verbose=0,
        )
    log.info(
        "train keras | final loss %.4f accuracy %.4f",
        history.history["loss"][-1],
        history.history["accuracy"][-1],
    )
    return model


def onnx_from_keras(model: Any, *, input_name: str, output_name: str, opset: int) -> bytes:
    """Convert the Keras model with tf2onnx; the ONNX input is NCHW with a dynamic batch."""
    tf = import_tensorflow()
    import onnx
    import tf2onnx

    model.output_names = [output_name]  # Keras 3 models lack it; tf2onnx reads it
    spec = [tf.TensorSpec((None, *model.inputs[0].shape[1:]), tf.float32, name=input_name)]
    with timed(log, f"tf2onnx | opset {opset}"):
        proto, _ = tf2onnx.convert.from_keras(
            model, input_signature=spec, opset=opset, inputs_as_nchw=[input_name]
        )
    proto.producer_version = ""  # keep the bytes independent of the converter's build
    renumber_generated_names(proto)
    onnx.checker.check_model(proto, full_check=True)
    return proto.SerializeToString()


GENERATED = re.compile(r"__\d+(:\d+)?$")


def renumber_generated_names(proto: Any) -> None:
    """Rename tf2onnx's generated names (``const_axes__27``) to ``tf2onnx__g<k>`` in order of
    appearance, and sort the initializers by name.

    tf2onnx numbers the tensors it creates from a counter, and merges equal constants under one
    of their names, in an order that depends on Python's hash seed: two conversions of the same
    model differ in names and initializer order. After this the bytes depend on the model only
    (measured: identical ONNX from processes with different hash seeds).
    """
    graph = proto.graph
    mapping: dict[str, str] = {}

    def new(name: str) -> str:
        if name and GENERATED.search(name) and name not in mapping:
            mapping[name] = f"tf2onnx__g{len(mapping)}"
        return mapping.get(name, name)

    for node in graph.node:
        for index, name in enumerate(node.input):
            node.input[index] = new(name)
        for index, name in enumerate(node.output):
            node.output[index] = new(name)
        node.name = new(node.name)
    for item in [*graph.initializer, *graph.value_info, *graph.input, *graph.output]:
        item.name = new(item.name)
    ordered = sorted(graph.initializer, key=lambda init: init.name)
    del graph.initializer[:]
    graph.initializer.extend(ordered)


def keras_parity(
    model: Any,
    graph: bytes,
    inputs: np.ndarray,
    *,
    input_name: str,
    output_name: str,
    batch_size: int,
    tolerance: float,
) -> dict[str, float | int]:
    """Max and mean abs difference between TensorFlow and ONNX Runtime on the same inputs.

    Raises:
        ToleranceError: the largest difference exceeds ``tolerance``.
    """

    expected = model.predict(nhwc(inputs), batch_size=batch_size, verbose=0)
    return parity_report(
        expected,
        graph,
        inputs,
        input_name=input_name,
        output_name=output_name,
        batch_size=batch_size,
        tolerance=tolerance,
        framework="TensorFlow",
    )
