"""sampleNMT's translator described once (:class:`Nmt`), read from and written to the seed's
seven binary weight files (chpt_to_bin), emitted as two ONNX graphs that TensorRT builds into
two engines, and run in numpy in float32 or float16.

The two graphs (names used by the engines, the host and the tests):

* ``encoder``: ``source`` int32 (batch, source) -> ``memory`` and ``keys`` float32 (batch,
  source, U) (the encoder's outputs, and those through the memory layer, which Luong's
  "general" score multiplies with the decoder state), ``h`` and ``c`` (batch, U), the state
  the decoder starts from. Embedding Gather and the ONNX ``LSTM`` node, which TensorRT's parser
  lowers to a loop over the dynamic source length.
* ``decoder`` (one step of every hypothesis of every sentence; rows = batch x beam): ``token``
  int32 (rows), ``h``, ``c``, ``attention`` (rows, U), ``keys``, ``memory`` (rows, source, U),
  ``scores`` and ``finished`` float32 (batch, beam) -> ``h_out``, ``c_out``,
  ``attention_out``, ``logprobs`` (rows, vocabulary), and the beam step: ``beam_scores``
  float32 and ``beam_index`` int32 (batch, beam), the best ``beam`` continuations of each
  sentence over beam x vocabulary (TopK), ``index = beam * vocabulary + token``. A finished
  hypothesis (``finished`` 1) can only continue with ``</s>`` at no cost.

Gate orders: TensorFlow's BasicLSTMCell keeps one kernel over ``[x; h]`` with the gates
i, j (cell candidate), f, o and adds a forget bias when it runs; the seed's files hold
TensorRT's RNNv2 layout (per gate a (U, in) matrix, gates f, i, c, o, input weights then
recurrent weights, and a bias of 8 x U with the forget bias folded in and the recurrent half
zero); the description keeps ONNX's i, o, f, c in (in, 4U) layout, as the character model's
(workflow/netdef/charrnn.py).
"""

from dataclasses import dataclass

import numpy as np

from workflow.errors import FormatError
from workflow.formats.nmt_bin import expect_values, pack_bin, unpack_bin
from workflow.netdef.charrnn import GATES, lstm_cell, reorder_gates

#: The seed's files, in the order chpt_to_bin wrote them.
FILES = ("encembed", "decembed", "encrnn", "decrnn", "decproj", "decmem", "decatt")
#: TensorFlow's BasicLSTMCell gate order (j, the cell candidate, written c).
TF_GATES = ("i", "c", "f", "o")
#: TensorRT RNNv2's gate order, the seed's files'.
SEED_GATES = ("f", "i", "c", "o")
ENCODER_INPUTS = ("source",)
ENCODER_OUTPUTS = ("memory", "keys", "h", "c")
DECODER_INPUTS = ("token", "h", "c", "attention", "keys", "memory", "scores", "finished")
DECODER_OUTPUTS = ("h_out", "c_out", "attention_out", "logprobs", "beam_scores", "beam_index")
#: A hypothesis' score that cannot win (finite in float16).
DEAD = -1.0e4


@dataclass(frozen=True)
class Nmt:
    """The translator: embeddings (vocabulary, U); LSTMs with ``kernel`` (in, 4U),
    ``recurrent`` (U, 4U), ``bias`` (4U) in :data:`GATES` order, forget bias included;
    ``memory`` (U, U), ``attention`` (2U, U) and ``projection`` (U, target vocabulary)."""

    source_embedding: np.ndarray
    target_embedding: np.ndarray
    encoder: dict[str, np.ndarray]
    decoder: dict[str, np.ndarray]
    memory: np.ndarray
    attention: np.ndarray
    projection: np.ndarray

    @property
    def units(self) -> int:
        return int(self.memory.shape[0])

    @property
    def target_vocab(self) -> int:
        return int(self.projection.shape[1])


def _rnn_arrays(layer: dict[str, np.ndarray]) -> list[np.ndarray]:
    """A description LSTM in the seed's layout: W (4, U, in), R (4, U, U) gates f i c o,
    bias (8, U) with the recurrent half zero."""
    weights = [
        reorder_gates(layer[key], GATES, SEED_GATES)
        .reshape(layer[key].shape[0], 4, -1)
        .transpose(1, 2, 0)
        for key in ("kernel", "recurrent")
    ]
    bias = reorder_gates(layer["bias"], GATES, SEED_GATES).reshape(4, -1)
    return [*weights, np.concatenate([bias, np.zeros_like(bias)])]


def bins_from_nmt(net: Nmt, *, dtype: str = "float32") -> dict[str, bytes]:
    """The seed's seven files (:data:`FILES`) of the description, values in ``dtype``."""
    units, kind = net.units, np.dtype(dtype)

    def pack(arrays: list[np.ndarray], dims: list[int]) -> bytes:
        return pack_bin([np.ascontiguousarray(a, kind) for a in arrays], dims)

    return {
        "encembed": pack([net.source_embedding], list(net.source_embedding.shape)),
        "decembed": pack([net.target_embedding], list(net.target_embedding.shape)),
        "encrnn": pack(_rnn_arrays(net.encoder), [0, 1, units]),
        "decrnn": pack(_rnn_arrays(net.decoder), [0, 1, units]),
        "decproj": pack([net.projection], list(net.projection.shape)),
        "decmem": pack([net.memory], list(net.memory.shape)),
        "decatt": pack([net.attention], list(net.attention.shape)),
    }


def _matrix(files: dict[str, bytes], name: str, rows: int | None, cols: int | None) -> np.ndarray:
    array, dims = unpack_bin(files[name], source=f"{name}.bin")
    if (
        len(dims) != 2
        or (rows is not None and dims[0] != rows)
        or (cols is not None and dims[1] != cols)
    ):
        raise FormatError(
            f"{name}.bin", f"dimensions {dims}", f"({rows or 'rows'}, {cols or 'columns'})"
        )
    expect_values(array, dims[0] * dims[1], source=f"{name}.bin", dims=dims)
    return array.astype(np.float32).reshape(dims)


def _rnn(files: dict[str, bytes], name: str, inputs_of: int) -> tuple[dict[str, np.ndarray], int]:
    """One of the seed's RNN files as a description LSTM, and its units."""
    array, dims = unpack_bin(files[name], source=f"{name}.bin")
    if len(dims) != 3:
        raise FormatError(f"{name}.bin", f"dimensions {dims}", "(encoder type, layers, units)")
    kind, layers, units = dims
    if kind != 0 or layers != 1:
        raise FormatError(
            f"{name}.bin",
            f"encoder type {kind}, {layers} layers",
            "a unidirectional one-layer LSTM (0, 1, units)",
        )
    inputs = inputs_of * units
    expect_values(array, 4 * units * (inputs + units) + 8 * units, source=f"{name}.bin", dims=dims)
    array = array.astype(np.float32)
    w = array[: 4 * units * inputs].reshape(4, units, inputs)
    r = array[4 * units * inputs : 4 * units * (inputs + units)].reshape(4, units, units)
    b = array[4 * units * (inputs + units) :].reshape(8, units)

    def back(blocks: np.ndarray) -> np.ndarray:  # (4, U, in) f i c o -> (in, 4U) i o f c
        return reorder_gates(blocks.transpose(2, 0, 1).reshape(blocks.shape[2], -1), SEED_GATES)

    bias = reorder_gates((b[:4] + b[4:]).reshape(-1), SEED_GATES)
    return {"kernel": back(w), "recurrent": back(r), "bias": bias}, units


def nmt_from_bins(files: dict[str, bytes]) -> Nmt:
    """The description from the seed's seven files (name -> bytes), read strictly.

    Raises:
        FormatError: a missing file, or one whose dimensions, value count, data type or
            footer is wrong (:func:`workflow.formats.nmt_bin.unpack_bin`), or files that do
            not agree on the units and vocabularies.
    """
    missing = [name for name in FILES if name not in files]
    if missing:
        raise FormatError(
            "nmt weights", f"no {missing[0]}.bin", f"chpt_to_bin writes {', '.join(FILES)}"
        )
    encoder, units = _rnn(files, "encrnn", 1)
    decoder, dec_units = _rnn(files, "decrnn", 2)
    if dec_units != units:
        raise FormatError("decrnn.bin", f"{dec_units} units, encrnn.bin has {units}")
    target = _matrix(files, "decembed", None, units)
    return Nmt(
        source_embedding=_matrix(files, "encembed", None, units),
        target_embedding=target,
        encoder=encoder,
        decoder=decoder,
        memory=_matrix(files, "decmem", units, units),
        attention=_matrix(files, "decatt", 2 * units, units),
        projection=_matrix(files, "decproj", units, target.shape[0]),
    )


def _log_softmax(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float32)
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _softmax(x: np.ndarray) -> np.ndarray:
    return np.exp(_log_softmax(x))


def _matmul(kind: np.dtype):
    def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return (a.astype(np.float32) @ b.astype(np.float32)).astype(kind)

    return matmul


def encode_numpy(net: Nmt, source: np.ndarray, *, dtype: str = "float32") -> dict[str, np.ndarray]:
    """The encoder graph in numpy, weights and arithmetic in ``dtype`` (float16: products summed
    in float32 and rounded, as a strongly typed FP16 engine), outputs float32."""
    kind = np.dtype(dtype)
    matmul = _matmul(kind)
    layer = {k: v.astype(kind) for k, v in net.encoder.items()}
    x = net.source_embedding.astype(kind)[np.asarray(source)]
    h = np.zeros((x.shape[0], net.units), kind)
    c = np.zeros_like(h)
    outputs = []
    for step in range(x.shape[1]):
        h, c = lstm_cell(x[:, step], h, c, layer, matmul)
        outputs.append(h)
    memory = np.stack(outputs, 1)
    keys = matmul(memory.reshape(-1, net.units), net.memory.astype(kind)).reshape(memory.shape)
    return {
        k: v.astype(np.float32) for k, v in (("memory", memory), ("keys", keys), ("h", h), ("c", c))
    }


def decode_numpy(
    net: Nmt, feeds: dict[str, np.ndarray], *, eos: int, dtype: str = "float32"
) -> dict[str, np.ndarray]:
    """The decoder graph in numpy (inputs and outputs as the graph's), in ``dtype`` except the
    softmaxes and the TopK, which stay float32 as in the FP16 graph."""
    kind = np.dtype(dtype)
    matmul = _matmul(kind)
    f = {k: np.asarray(v) for k, v in feeds.items()}
    y = net.target_embedding.astype(kind)[f["token"]]
    layer = {k: v.astype(kind) for k, v in net.decoder.items()}
    x = np.concatenate([y, f["attention"].astype(kind)], 1)
    h, c = lstm_cell(x, f["h"].astype(kind), f["c"].astype(kind), layer, matmul)
    keys, memory = f["keys"].astype(kind), f["memory"].astype(kind)
    score = np.einsum("rsu,ru->rs", keys.astype(np.float32), h.astype(np.float32)).astype(kind)
    weights = _softmax(score).astype(kind)
    context = np.einsum("rs,rsu->ru", weights.astype(np.float32), memory.astype(np.float32)).astype(
        kind
    )
    attention = np.tanh(matmul(np.concatenate([h, context], 1), net.attention.astype(kind)))
    logprobs = _log_softmax(matmul(attention, net.projection.astype(kind)))
    batch, beam = f["scores"].shape
    vocab = net.target_vocab
    finished = f["finished"].reshape(-1, 1).astype(kind)
    only_eos = np.full(vocab, DEAD, kind)
    only_eos[eos] = 0
    step = logprobs.astype(kind) * (1 - finished) + finished * only_eos
    total = (step.reshape(batch, beam, vocab) + f["scores"].astype(kind)[..., None]).reshape(
        batch, -1
    )
    total = total.astype(np.float32)
    index = np.argsort(-total, axis=1, kind="stable")[:, :beam]
    return {
        "h_out": h.astype(np.float32),
        "c_out": c.astype(np.float32),
        "attention_out": attention.astype(np.float32),
        "logprobs": logprobs,
        "beam_scores": np.take_along_axis(total, index, 1),
        "beam_index": index.astype(np.int32),
    }


def onnx_encoder(net: Nmt, *, opset: int) -> bytes:
    """The encoder graph (dynamic batch and source length), checked by onnx.checker."""
    from onnx import TensorProto, helper, numpy_helper

    units, layer = net.units, net.encoder
    inits = [
        numpy_helper.from_array(net.source_embedding, "encembed"),
        numpy_helper.from_array(layer["kernel"].T[None].copy(), "enc_W"),
        numpy_helper.from_array(layer["recurrent"].T[None].copy(), "enc_R"),
        numpy_helper.from_array(
            np.concatenate([layer["bias"], np.zeros_like(layer["bias"])])[None], "enc_B"
        ),
        numpy_helper.from_array(net.memory, "decmem"),
        numpy_helper.from_array(np.array([0], np.int64), "axis0"),
        numpy_helper.from_array(np.array([1], np.int64), "axis1"),
    ]
    nodes = [
        helper.make_node("Gather", ["encembed", "source"], ["embedded"]),
        helper.make_node("Transpose", ["embedded"], ["steps_first"], perm=[1, 0, 2]),
        helper.make_node(
            "LSTM",
            ["steps_first", "enc_W", "enc_R", "enc_B"],
            ["Y", "Y_h", "Y_c"],
            hidden_size=units,
            name="encoder_lstm",
        ),
        helper.make_node("Squeeze", ["Y", "axis1"], ["outputs"]),  # (S, N, U)
        helper.make_node("Transpose", ["outputs"], ["memory"], perm=[1, 0, 2]),
        helper.make_node("MatMul", ["memory", "decmem"], ["keys"], name="memory_layer"),
        helper.make_node("Squeeze", ["Y_h", "axis0"], ["h"]),
        helper.make_node("Squeeze", ["Y_c", "axis0"], ["c"]),
    ]
    state = [
        helper.make_tensor_value_info(n, TensorProto.FLOAT, ["batch", units]) for n in ("h", "c")
    ]
    sequence = [
        helper.make_tensor_value_info(n, TensorProto.FLOAT, ["batch", "source", units])
        for n in ("memory", "keys")
    ]
    graph = helper.make_graph(
        nodes,
        "nmt_encoder",
        [helper.make_tensor_value_info("source", TensorProto.INT32, ["batch", "source"])],
        [*sequence, *state],
        initializer=inits,
    )
    return _finish(graph, opset)


def onnx_decoder(net: Nmt, *, opset: int, eos: int) -> bytes:
    """The decoder-step graph (dynamic rows, source length, batch and beam), checked by
    onnx.checker."""
    from onnx import TensorProto, helper, numpy_helper

    units, vocab, layer = net.units, net.target_vocab, net.decoder
    only_eos = np.full(vocab, DEAD, np.float32)
    only_eos[eos] = 0
    inits = [
        numpy_helper.from_array(net.target_embedding, "decembed"),
        numpy_helper.from_array(layer["kernel"], "dec_kernel"),
        numpy_helper.from_array(layer["recurrent"], "dec_recurrent"),
        numpy_helper.from_array(layer["bias"], "dec_bias"),
        numpy_helper.from_array(net.attention, "decatt"),
        numpy_helper.from_array(net.projection, "decproj"),
        numpy_helper.from_array(only_eos, "only_eos"),
        numpy_helper.from_array(np.array(1.0, np.float32), "one"),
        numpy_helper.from_array(np.array([-1, 1], np.int64), "column"),
        numpy_helper.from_array(np.array([-1], np.int64), "last_axis"),
        numpy_helper.from_array(np.array([1], np.int64), "axis1"),
        numpy_helper.from_array(np.array([vocab], np.int64), "vocab_dim"),
        numpy_helper.from_array(np.array([0, -1], np.int64), "flat_beams"),
        numpy_helper.from_array(np.full(4, units, np.int64), "gate_sizes"),
    ]
    n = helper.make_node
    nodes = [
        n("Gather", ["decembed", "token"], ["embedded"], name="target_embedding"),
        n("Concat", ["embedded", "attention"], ["cell_in"], axis=1),
        n("MatMul", ["cell_in", "dec_kernel"], ["x_gates"], name="lstm_x_gates"),
        n("MatMul", ["h", "dec_recurrent"], ["h_gates"], name="lstm_h_gates"),
        n("Add", ["x_gates", "h_gates"], ["gates_sum"]),
        n("Add", ["gates_sum", "dec_bias"], ["gates"]),
        n("Split", ["gates", "gate_sizes"], [f"gate_{g}" for g in GATES], axis=1),
        n("Sigmoid", ["gate_i"], ["act_i"]),
        n("Sigmoid", ["gate_o"], ["act_o"]),
        n("Sigmoid", ["gate_f"], ["act_f"]),
        n("Tanh", ["gate_c"], ["act_c"]),
        n("Mul", ["act_f", "c"], ["kept"]),
        n("Mul", ["act_i", "act_c"], ["added"]),
        n("Add", ["kept", "added"], ["c_out"]),
        n("Tanh", ["c_out"], ["c_squashed"]),
        n("Mul", ["act_o", "c_squashed"], ["h_out"]),
        # Luong "general" score: keys (the memory through W_a) against the new state
        n("Unsqueeze", ["h_out", "last_axis"], ["h_column"]),
        n("MatMul", ["keys", "h_column"], ["score_column"], name="alignment"),
        n("Squeeze", ["score_column", "last_axis"], ["score"]),
        n("Softmax", ["score"], ["align"], axis=1),
        n("Unsqueeze", ["align", "axis1"], ["align_row"]),
        n("MatMul", ["align_row", "memory"], ["context_row"], name="context"),
        n("Squeeze", ["context_row", "axis1"], ["context"]),
        n("Concat", ["h_out", "context"], ["att_in"], axis=1),
        n("MatMul", ["att_in", "decatt"], ["att_linear"], name="attention_layer"),
        n("Tanh", ["att_linear"], ["attention_out"]),
        n("MatMul", ["attention_out", "decproj"], ["logits"], name="projection"),
        n("LogSoftmax", ["logits"], ["logprobs"], axis=1),
        # the beam step: finished hypotheses continue with </s> only, at no cost
        n("Reshape", ["finished", "column"], ["finished_rows"]),
        n("Sub", ["one", "finished_rows"], ["live_rows"]),
        n("Mul", ["logprobs", "live_rows"], ["live_logprobs"]),
        n("Mul", ["finished_rows", "only_eos"], ["dead_logprobs"]),
        n("Add", ["live_logprobs", "dead_logprobs"], ["step_logprobs"]),
        n("Shape", ["scores"], ["beam_shape"]),
        n("Concat", ["beam_shape", "vocab_dim"], ["by_beam"], axis=0),
        n("Reshape", ["step_logprobs", "by_beam"], ["step_by_beam"]),
        n("Unsqueeze", ["scores", "last_axis"], ["scores_column"]),
        n("Add", ["step_by_beam", "scores_column"], ["totals"]),
        n("Reshape", ["totals", "flat_beams"], ["candidates"]),  # (batch, beam x vocabulary)
        n("Shape", ["scores"], ["beam_k"], start=1, end=2),
        n(
            "TopK",
            ["candidates", "beam_k"],
            ["beam_scores", "beam_index64"],
            axis=1,
            name="beam_topk",
        ),
        n("Cast", ["beam_index64"], ["beam_index"], to=TensorProto.INT32),
    ]
    f = TensorProto.FLOAT
    rows = [helper.make_tensor_value_info(k, f, ["rows", units]) for k in ("h", "c", "attention")]
    memory = [
        helper.make_tensor_value_info(k, f, ["rows", "source", units]) for k in ("keys", "memory")
    ]
    beams = [helper.make_tensor_value_info(k, f, ["batch", "beam"]) for k in ("scores", "finished")]
    graph = helper.make_graph(
        nodes,
        "nmt_decoder",
        [
            helper.make_tensor_value_info("token", TensorProto.INT32, ["rows"]),
            *rows,
            *memory,
            *beams,
        ],
        [
            *(
                helper.make_tensor_value_info(k, f, ["rows", units])
                for k in ("h_out", "c_out", "attention_out")
            ),
            helper.make_tensor_value_info("logprobs", f, ["rows", vocab]),
            helper.make_tensor_value_info("beam_scores", f, ["batch", "beam"]),
            helper.make_tensor_value_info("beam_index", TensorProto.INT32, ["batch", "beam"]),
        ],
        initializer=inits,
    )
    return _finish(graph, opset)


def _finish(graph, opset: int) -> bytes:
    import onnx
    from onnx import helper

    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 9
    onnx.checker.check_model(model, full_check=True)
    return model.SerializeToString()
