"""chpt_to_bin: the translator's TensorFlow checkpoint -> the seed's seven binary weight files
(workflow/formats/nmt_bin.py), through the description (workflow/netdef/nmt.py): the
checkpoint's variables are read by name (:data:`workflow.models.nmt.VARIABLES`), the LSTM
kernels split into input and recurrent weights, their gates reordered and the forget bias
folded into the bias, as the seed's script did.
"""

from pathlib import Path

import numpy as np

from workflow.errors import FormatError
from workflow.io import write_atomically
from workflow.models.keras import import_tensorflow
from workflow.models.nmt import VARIABLES, checkpoint_key
from workflow.netdef.charrnn import GATES, reorder_gates
from workflow.netdef.nmt import FILES, TF_GATES, Nmt, bins_from_nmt, nmt_from_bins


def read_checkpoint(prefix: str | Path) -> dict[str, np.ndarray]:
    """The model's variables from a ``tf.train.Checkpoint`` (``prefix``.index and its data
    file), by name.

    Raises:
        FormatError: unreadable, or a variable missing.
    """
    tf = import_tensorflow()
    try:
        reader = tf.train.load_checkpoint(str(prefix))
    except (tf.errors.OpError, ValueError) as err:
        raise FormatError(prefix, f"not a readable TensorFlow checkpoint ({err})") from err
    stored = reader.get_variable_to_shape_map()
    tensors = {}
    for name in VARIABLES:
        key = checkpoint_key(name)
        if key not in stored:
            raise FormatError(prefix, f"no variable {name}", f"it has {sorted(stored)[:6]}")
        tensors[name] = np.asarray(reader.get_tensor(key), np.float32)
    return tensors


def _split_kernel(kernel: np.ndarray, bias: np.ndarray, inputs: int, forget_bias: float) -> dict:
    """A BasicLSTMCell's kernel over [x; h] and bias as a description LSTM."""
    bias = reorder_gates(bias, TF_GATES).copy()
    units = bias.shape[0] // 4
    bias[GATES.index("f") * units : (GATES.index("f") + 1) * units] += np.float32(forget_bias)
    return {
        "kernel": reorder_gates(kernel[:inputs], TF_GATES),
        "recurrent": reorder_gates(kernel[inputs:], TF_GATES),
        "bias": bias,
    }


def nmt_from_checkpoint(
    tensors: dict[str, np.ndarray], *, forget_bias: float, source: str = "<ckpt>"
) -> Nmt:
    """The description from the checkpoint's variables (:data:`workflow.models.nmt.VARIABLES`).

    Raises:
        FormatError: a missing variable, or shapes that do not chain.
    """
    missing = [name for name in VARIABLES if name not in tensors]
    if missing:
        raise FormatError(source, f"no variable {missing[0]}", f"it has {sorted(tensors)[:6]}")
    t = {name: np.asarray(tensors[name], np.float32) for name in VARIABLES}
    units = t["decoder/memory_layer/kernel"].shape[0]
    want = {
        "encoder/basic_lstm_cell/kernel": (2 * units, 4 * units),
        "decoder/attention/basic_lstm_cell/kernel": (3 * units, 4 * units),
        "decoder/attention/attention_layer/kernel": (2 * units, units),
        "embeddings/encoder/embedding_encoder": (
            t["embeddings/encoder/embedding_encoder"].shape[0],
            units,
        ),
        "decoder/output_projection/kernel": (
            units,
            t["embeddings/decoder/embedding_decoder"].shape[0],
        ),
    }
    wrong = {k: (t[k].shape, v) for k, v in want.items() if t[k].shape != v}
    if wrong:
        raise FormatError(source, f"shapes (found, expected): {wrong}")
    return Nmt(
        source_embedding=t["embeddings/encoder/embedding_encoder"],
        target_embedding=t["embeddings/decoder/embedding_decoder"],
        encoder=_split_kernel(
            t["encoder/basic_lstm_cell/kernel"],
            t["encoder/basic_lstm_cell/bias"],
            units,
            forget_bias,
        ),
        decoder=_split_kernel(
            t["decoder/attention/basic_lstm_cell/kernel"],
            t["decoder/attention/basic_lstm_cell/bias"],
            2 * units,
            forget_bias,
        ),
        memory=t["decoder/memory_layer/kernel"],
        attention=t["decoder/attention/attention_layer/kernel"],
        projection=t["decoder/output_projection/kernel"],
    )


def chpt_to_bin(prefix: str | Path, out_dir: str | Path, *, forget_bias: float) -> dict[str, int]:
    """Write the seven files into ``out_dir``, then read them back strictly and check that they
    give the checkpoint's description value for value; return each file's size.

    Raises:
        FormatError: the checkpoint is unreadable, or the files do not read back.
    """
    net = nmt_from_checkpoint(read_checkpoint(prefix), forget_bias=forget_bias, source=str(prefix))
    files = bins_from_nmt(net)
    back = nmt_from_bins(files)
    for field in ("source_embedding", "target_embedding", "memory", "attention", "projection"):
        if not np.array_equal(getattr(back, field), getattr(net, field)):
            raise FormatError(out_dir, f"{field} does not read back from the files")
    for part in ("encoder", "decoder"):
        for key, value in getattr(net, part).items():
            if not np.array_equal(getattr(back, part)[key], value):
                raise FormatError(out_dir, f"{part} {key} does not read back from the files")
    out = Path(out_dir)
    for name in FILES:
        write_atomically(out / f"{name}.bin", files[name])
    return {name: len(files[name]) for name in FILES}


def read_bins(folder: str | Path) -> Nmt:
    """The description from the seven files in ``folder`` (read strictly).

    Raises:
        FormatError: a file missing or malformed.
    """
    folder = Path(folder)
    files = {}
    for name in FILES:
        path = folder / f"{name}.bin"
        if not path.is_file():
            raise FormatError(path, "missing", "run chpt_to_bin (rule weights_nmt) first")
        files[name] = path.read_bytes()
    return nmt_from_bins(files)
