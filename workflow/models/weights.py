"""Weights from trained models as named float32 arrays, ready for ``.wts``/``.wts2`` files."""

from pathlib import Path
from typing import Any

import numpy as np


def blobs_from_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """The tensors of a PyTorch state dict file (``torch.save``), by their PyTorch names."""
    import torch

    state = torch.load(path, map_location="cpu", weights_only=True)
    return {name: tensor.detach().numpy().astype(np.float32) for name, tensor in state.items()}


def tf_name(name: str) -> str:
    """A TensorFlow variable name as dumpTFWts writes it: ``/`` becomes ``_``, ``:0`` dropped."""
    return name.removesuffix(":0").replace("/", "_")


def blobs_from_keras(model: Any) -> dict[str, np.ndarray]:
    """The variables of a Keras model, named by their paths (``conv1/kernel`` -> ``conv1_kernel``).

    Float16 variables stay float16 (the ``.wts`` type field says so); others become float32.
    """
    blobs = {}
    for variable in model.weights:
        value = np.asarray(variable.numpy())
        dtype = np.float16 if value.dtype == np.float16 else np.float32
        blobs[tf_name(variable.path)] = value.astype(dtype)
    return blobs


def blobs_from_tf_checkpoint(prefix: str | Path) -> dict[str, np.ndarray]:
    """The float variables of a TF2 checkpoint (``tf.train.Checkpoint`` prefix), in name order.

    Bookkeeping entries (save counters, optimizer slots, the object graph) are skipped.
    """
    import tensorflow as tf

    reader = tf.train.load_checkpoint(str(prefix))
    blobs = {}
    for key in sorted(reader.get_variable_to_shape_map()):
        if (
            key.startswith("_CHECKPOINTABLE_OBJECT_GRAPH")
            or "OPTIMIZER_SLOT" in key
            or "save_counter" in key
        ):
            continue
        value = np.asarray(reader.get_tensor(key))
        if value.dtype.kind != "f":
            continue
        name = key.removesuffix("/.ATTRIBUTES/VARIABLE_VALUE")
        dtype = np.float16 if value.dtype == np.float16 else np.float32
        blobs[tf_name(name)] = value.astype(dtype)
    return blobs
