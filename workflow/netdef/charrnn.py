"""sampleCharRNN's network described once, emitted two ways: with the TensorRT network API
(embedding gather, one loop-based LSTM per layer, MatrixMultiply + ElementWise projection,
TopK K=1) and as an ONNX graph (Gather, the ONNX ``LSTM`` operator, MatMul + Add, TopK) that
ONNX Runtime runs on CPU; plus a numpy run of the same description in float32 or float16.

Inputs and outputs (batch-major): ``tokens`` int32 (N, T); ``h0``, ``c0`` float32
(layers, N, H) -> ``logits`` float32 (N, T, V), ``next`` int32 (N, 1) (the most likely next
character after the last step), ``hn``, ``cn`` float32 (layers, N, H) for the next call, so a
text is generated step by step.

Gate orders: Keras stores an LSTM's kernel (in, 4H), recurrent kernel (H, 4H) and bias (4H)
with the gates in the order input, forget, cell candidate, output (i f c o). ONNX's ``LSTM``
wants i o f c, weights transposed (4H, in), and TensorRT's ONNX parser lowers that node to
loop layers in the same order; the description keeps ONNX's order (:data:`GATES`), so one
reordering (:func:`keras_gates_to_iofc`) serves both emissions, in (in, 4H) layout.
"""

from dataclasses import dataclass
from typing import Any

import numpy as np

from workflow.errors import FormatError, PipelineError
from workflow.netdef.layers import (
    add_int4_matmul,
    checksum,
    constant_checksum,
    int4_blocks,
    layer_class,
)

#: The weights held as INT4 in precision int4w (the matrix products; the embedding, a gather,
#: and the biases stay float).
INT4_WEIGHTS = ("kernel", "recurrent", "proj")
#: The description's gate order (ONNX's, and TensorRT's ONNX parser's).
GATES = ("i", "o", "f", "c")
#: Keras' gate order.
KERAS_GATES = ("i", "f", "c", "o")
INPUTS = ("tokens", "h0", "c0")
OUTPUTS = ("logits", "next", "hn", "cn")


@dataclass(frozen=True)
class CharRnn:
    """The trained network: ``embedding`` (V, E); per LSTM layer ``kernel`` (in, 4H),
    ``recurrent`` (H, 4H), ``bias`` (4H) in :data:`GATES` order; ``proj`` (H, V) and
    ``proj_bias`` (V)."""

    embedding: np.ndarray
    lstm: tuple[dict[str, np.ndarray], ...]
    proj: np.ndarray
    proj_bias: np.ndarray

    @property
    def vocab(self) -> int:
        return int(self.embedding.shape[0])

    @property
    def hidden(self) -> int:
        return int(self.lstm[0]["recurrent"].shape[0])

    @property
    def layers(self) -> int:
        return len(self.lstm)

    def arrays(self) -> dict[str, np.ndarray]:
        """Every weight by the name it carries in both emissions."""
        named = {"embed": self.embedding, "proj": self.proj, "proj_bias": self.proj_bias}
        for index, layer in enumerate(self.lstm, start=1):
            named |= {f"lstm{index}_{key}": value for key, value in layer.items()}
        return named


def reorder_gates(
    array: np.ndarray, source: tuple[str, ...], target: tuple[str, ...] = GATES, *, axis: int = -1
) -> np.ndarray:
    """Reorder the four gate blocks along ``axis`` from the order ``source`` to ``target``."""
    blocks = dict(zip(source, np.split(np.asarray(array), 4, axis=axis), strict=True))
    return np.ascontiguousarray(np.concatenate([blocks[g] for g in target], axis=axis))


def keras_gates_to_iofc(array: np.ndarray) -> np.ndarray:
    """Reorder the gate blocks of the last axis from Keras' i f c o to i o f c."""
    return reorder_gates(array, KERAS_GATES)


def lstm_cell(
    x: np.ndarray, h: np.ndarray, c: np.ndarray, layer: dict[str, np.ndarray], matmul: Any
) -> tuple[np.ndarray, np.ndarray]:
    """One LSTM step in numpy with a layer's ``kernel``, ``recurrent`` and ``bias`` in
    :data:`GATES` order; ``matmul`` does the products (in the run's precision)."""
    hidden = h.shape[-1]
    gates = matmul(x, layer["kernel"]) + matmul(h, layer["recurrent"]) + layer["bias"]
    i, o, f, g = (gates[:, k * hidden : (k + 1) * hidden] for k in range(4))
    c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
    return _sigmoid(o) * np.tanh(c), c


def charrnn_from_blobs(blobs: dict[str, np.ndarray], *, source: str = "<wts>") -> CharRnn:
    """The description from the Keras model's weights as dumpTFWts names them
    (``embed_embeddings``, ``lstm<k>_lstm_cell_kernel`` ..., ``proj_kernel``, ``proj_bias``).

    Raises:
        FormatError: a missing tensor, or shapes that do not chain.
    """

    def blob(name: str) -> np.ndarray:
        if name not in blobs:
            raise FormatError(source, f"no tensor {name}", f"it has {sorted(blobs)[:8]}")
        return np.asarray(blobs[name], np.float32)

    embedding = blob("embed_embeddings")
    if embedding.ndim != 2:
        raise FormatError(source, f"embed_embeddings has shape {embedding.shape}, not (V, E)")
    layers, width, index = [], embedding.shape[1], 1
    while f"lstm{index}_lstm_cell_kernel" in blobs:
        prefix = f"lstm{index}_lstm_cell_"
        kernel, recurrent, bias = (blob(prefix + k) for k in ("kernel", "recurrent_kernel", "bias"))
        hidden = recurrent.shape[0]
        want = {
            "kernel": (width, 4 * hidden),
            "recurrent": (hidden, 4 * hidden),
            "bias": (4 * hidden,),
        }
        got = {"kernel": kernel.shape, "recurrent": recurrent.shape, "bias": bias.shape}
        if got != want:
            raise FormatError(source, f"lstm{index} has shapes {got}, expected {want}")
        layers.append(
            {
                "kernel": keras_gates_to_iofc(kernel),
                "recurrent": keras_gates_to_iofc(recurrent),
                "bias": keras_gates_to_iofc(bias),
            }
        )
        width, index = hidden, index + 1
    if not layers:
        raise FormatError(source, "no LSTM layer (lstm1_lstm_cell_kernel)")
    proj, proj_bias = blob("proj_kernel"), blob("proj_bias")
    if proj.shape != (width, embedding.shape[0]) or proj_bias.shape != (embedding.shape[0],):
        raise FormatError(source, f"proj has shapes {proj.shape} and {proj_bias.shape}")
    return CharRnn(embedding, tuple(layers), proj, proj_bias)


def with_int4_weights(net: CharRnn, *, block_size: int) -> CharRnn:
    """The description with every matrix product's weight (:data:`INT4_WEIGHTS`) replaced by
    its weight-only INT4 values dequantized to float32 (blocks of ``block_size`` along the
    input axis, :func:`workflow.netdef.layers.int4_blocks`): what the int4w engine multiplies
    by, for the numpy run that stands in for it on CPU."""

    def round_trip(weight: np.ndarray) -> np.ndarray:
        values, scale = int4_blocks(weight, block_size)
        full = values.astype(np.float32) * np.repeat(scale, block_size, axis=0)
        return np.ascontiguousarray(full[: weight.shape[0]])

    lstm = tuple(
        layer | {"kernel": round_trip(layer["kernel"]), "recurrent": round_trip(layer["recurrent"])}
        for layer in net.lstm
    )
    return CharRnn(net.embedding, lstm, round_trip(net.proj), net.proj_bias)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):  # exp overflows to inf in float16: the sigmoid is 0
        return (1 / (1 + np.exp(-x))).astype(x.dtype)


def run_numpy(
    net: CharRnn, tokens: np.ndarray, h0: np.ndarray, c0: np.ndarray, *, dtype: str = "float32"
) -> dict[str, np.ndarray]:
    """Run the description in numpy, every weight and intermediate in ``dtype`` (float16: as
    a strongly typed FP16 engine computes, products summed in float32 and rounded), outputs in
    float32: the CPU stand-in for the FP16 engine."""
    kind = np.dtype(dtype)

    def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return (a.astype(np.float32) @ b.astype(np.float32)).astype(kind)

    hidden = net.hidden
    x = net.embedding.astype(kind)[np.asarray(tokens)]
    hn, cn = [], []
    for index, layer in enumerate(net.lstm):
        weights = {k: v.astype(kind) for k, v in layer.items()}
        h, c = h0[index].astype(kind), c0[index].astype(kind)
        outputs = []
        for step in range(x.shape[1]):
            h, c = lstm_cell(x[:, step], h, c, weights, matmul)
            outputs.append(h)
        x = np.stack(outputs, axis=1)
        hn.append(h)
        cn.append(c)
    logits = matmul(x.reshape(-1, hidden), net.proj.astype(kind)) + net.proj_bias.astype(kind)
    logits = logits.reshape(x.shape[0], x.shape[1], -1).astype(np.float32)
    return {
        "logits": logits,
        "next": np.argmax(logits[:, -1], axis=-1).astype(np.int32)[:, None],
        "hn": np.stack(hn).astype(np.float32),
        "cn": np.stack(cn).astype(np.float32),
    }


def onnx_from_charrnn(net: CharRnn, *, opset: int) -> bytes:
    """The description as an ONNX graph (dynamic batch and length), checked by onnx.checker."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    hidden, nodes = net.hidden, []
    inits = [
        numpy_helper.from_array(net.embedding, "embed"),
        numpy_helper.from_array(net.proj, "proj"),
        numpy_helper.from_array(net.proj_bias, "proj_bias"),
        numpy_helper.from_array(np.array([1], np.int64), "axis1"),
        numpy_helper.from_array(np.array([1], np.int64), "k1"),
        numpy_helper.from_array(np.array(-1, np.int64), "last"),
    ]
    nodes.append(helper.make_node("Gather", ["embed", "tokens"], ["embedded"]))
    nodes.append(helper.make_node("Transpose", ["embedded"], ["x0"], perm=[1, 0, 2]))  # (T, N, E)
    x, last_h, last_c = "x0", [], []
    for index, layer in enumerate(net.lstm, start=1):
        name = f"lstm{index}"
        inits += [
            numpy_helper.from_array(layer["kernel"].T[None].copy(), f"{name}_W"),
            numpy_helper.from_array(layer["recurrent"].T[None].copy(), f"{name}_R"),
            numpy_helper.from_array(
                np.concatenate([layer["bias"], np.zeros_like(layer["bias"])])[None], f"{name}_B"
            ),
            numpy_helper.from_array(np.array([index - 1], np.int64), f"{name}_index"),
        ]
        for state in ("h0", "c0"):
            nodes.append(
                helper.make_node("Gather", [state, f"{name}_index"], [f"{name}_{state}"], axis=0)
            )
        nodes.append(
            helper.make_node(
                "LSTM",
                [x, f"{name}_W", f"{name}_R", f"{name}_B", "", f"{name}_h0", f"{name}_c0"],
                [f"{name}_Y", f"{name}_Yh", f"{name}_Yc"],
                hidden_size=hidden,
                name=name,
            )
        )
        nodes.append(helper.make_node("Squeeze", [f"{name}_Y", "axis1"], [f"{name}_out"]))
        x = f"{name}_out"
        last_h.append(f"{name}_Yh")
        last_c.append(f"{name}_Yc")
    nodes += [
        helper.make_node("Concat", last_h, ["hn"], axis=0),
        helper.make_node("Concat", last_c, ["cn"], axis=0),
        helper.make_node("Transpose", [x], ["top"], perm=[1, 0, 2]),  # (N, T, H)
        helper.make_node("MatMul", ["top", "proj"], ["projected"]),
        helper.make_node("Add", ["projected", "proj_bias"], ["logits"]),
        helper.make_node("Gather", ["logits", "last"], ["last_logits"], axis=1),
        helper.make_node("TopK", ["last_logits", "k1"], ["best", "best_index"], axis=1),
        helper.make_node("Cast", ["best_index"], ["next"], to=TensorProto.INT32),
    ]
    layers = net.layers
    graph = helper.make_graph(
        nodes,
        "charrnn",
        [
            helper.make_tensor_value_info("tokens", TensorProto.INT32, ["batch", "steps"]),
            helper.make_tensor_value_info("h0", TensorProto.FLOAT, [layers, "batch", hidden]),
            helper.make_tensor_value_info("c0", TensorProto.FLOAT, [layers, "batch", hidden]),
        ],
        [
            helper.make_tensor_value_info(
                "logits", TensorProto.FLOAT, ["batch", "steps", net.vocab]
            ),
            helper.make_tensor_value_info("next", TensorProto.INT32, ["batch", 1]),
            helper.make_tensor_value_info("hn", TensorProto.FLOAT, [layers, "batch", hidden]),
            helper.make_tensor_value_info("cn", TensorProto.FLOAT, [layers, "batch", hidden]),
        ],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 9
    onnx.checker.check_model(model, full_check=True)
    return model.SerializeToString()


def populate_charrnn(
    trt: Any, network: Any, net: CharRnn, *, precision: str, int4_block: int = 0
) -> list[Any]:
    """Add the network to an empty strongly typed TensorRT network, layer by layer: embedding
    gather; per LSTM layer a loop over the steps (iterator, trip limit, two recurrences for h
    and c, the gates as one MatrixMultiply of the input and one of h, slices, activations and
    element-wise products); the projection as MatrixMultiply + ElementWise SUM; TopK (K=1) on
    the last step. ``precision`` fp16: weights and arithmetic in half, the float inputs cast in
    and the float outputs cast out; int4w: float32 arithmetic, the weights of the matrix
    products (:data:`INT4_WEIGHTS`) weight-only INT4 in blocks of ``int4_block`` along their
    input axis (:func:`workflow.netdef.layers.add_int4_matmul`). Returns the weight arrays (to
    keep alive while building).

    Raises:
        PipelineError: a precision other than fp32, fp16 and int4w, or int4w without a block.
    """
    if precision not in ("fp32", "fp16", "int4w"):
        raise PipelineError(f"precision {precision}", "charrnn engines are fp32, fp16 or int4w")
    if (precision == "int4w") != bool(int4_block):
        raise PipelineError(
            f"precision {precision}, int4_block {int4_block}",
            "an INT4 block size goes with int4w and only with it",
            "pass int4.block_size for int4w, 0 otherwise",
        )
    kind = np.float16 if precision == "fp16" else np.float32
    dtype = trt.float16 if precision == "fp16" else trt.float32
    keep: list[Any] = []
    ew, act = trt.ElementWiseOperation, trt.ActivationType
    hidden, layers = net.hidden, net.layers

    def const(array: np.ndarray, name: str) -> Any:
        array = np.array(array, order="C")  # ascontiguousarray would make a 0-d array 1-d
        keep.append(array)
        layer = network.add_constant(array.shape, trt.Weights(array))
        layer.name = name
        return layer.get_output(0)

    def index_of(shape_tensor: Any, axis: int, name: str) -> Any:
        """One dimension of a shape tensor as a 0-d int64 tensor."""
        piece = network.add_slice(shape_tensor, (axis,), (1,), (1,))
        piece.name = f"{name}_slice"
        scalar = network.add_shuffle(piece.get_output(0))
        scalar.reshape_dims = ()
        scalar.name = name
        return scalar.get_output(0)

    def cast(tensor: Any, to: Any, name: str) -> Any:
        layer = network.add_cast(tensor, to)
        layer.name = name
        return layer.get_output(0)

    def product(tensor: Any, weight: np.ndarray, name: str) -> Any:
        """tensor times a weight (in, out): a float constant, or blocked INT4 for int4w."""
        if int4_block:
            return add_int4_matmul(
                trt, network, tensor, weight, block_size=int4_block, name=name, keep=keep
            )
        lifted = weight.astype(kind)[None] if len(tensor.shape) == 3 else weight.astype(kind)
        return network.add_matrix_multiply(
            tensor, trt.MatrixOperation.NONE, const(lifted, name), trt.MatrixOperation.NONE
        )

    tokens = network.add_input("tokens", trt.int32, (-1, -1))
    states = {s: network.add_input(s, trt.float32, (layers, -1, hidden)) for s in ("h0", "c0")}
    gathered = network.add_gather(const(net.embedding.astype(kind), "embed"), tokens, 0)
    gathered.name = "embed_gather"
    x = gathered.get_output(0)  # (N, T, E)
    shape = network.add_shape(tokens).get_output(0)
    steps = index_of(shape, 1, "steps")
    batch = network.add_slice(shape, (0,), (1,), (1,)).get_output(0)
    gate_shape = network.add_concatenation([batch, const(np.array([hidden], np.int64), "H")])
    gate_shape.name = "gate_shape"
    outputs_h, outputs_c = [], []
    for index, layer in enumerate(net.lstm, start=1):
        name = f"lstm{index}"
        loop = network.add_loop()
        loop.name = f"{name}_loop"
        loop.add_trip_limit(steps, trt.TripLimit.COUNT)
        step = loop.add_iterator(x, 1, False).get_output(0)  # (N, in)
        picked = []
        for state in ("h0", "c0"):
            choose = network.add_gather(
                states[state], const(np.array(index - 1, np.int32), f"{name}_{state}_index"), 0
            )
            choose.name = f"{name}_{state}"
            picked.append(cast(choose.get_output(0), dtype, f"{name}_{state}_cast"))
        h_prev, c_prev = (loop.add_recurrence(t) for t in picked)
        x_part = product(step, layer["kernel"], f"{name}_kernel")
        h_part = product(h_prev.get_output(0), layer["recurrent"], f"{name}_recurrent")
        x_part.name, h_part.name = f"{name}_x_gates", f"{name}_h_gates"
        summed = network.add_elementwise(x_part.get_output(0), h_part.get_output(0), ew.SUM)
        summed.name = f"{name}_gates"
        biased = network.add_elementwise(
            summed.get_output(0), const(layer["bias"].astype(kind)[None], f"{name}_bias"), ew.SUM
        )
        biased.name = f"{name}_gates_bias"
        gates = {}
        for k, gate in enumerate(GATES):
            piece = network.add_slice(biased.get_output(0), (0, k * hidden), (1, hidden), (1, 1))
            piece.set_input(2, gate_shape.get_output(0))
            piece.name = f"{name}_{gate}"
            activation = network.add_activation(
                piece.get_output(0), act.TANH if gate == "c" else act.SIGMOID
            )
            activation.name = f"{name}_{gate}_act"
            gates[gate] = activation.get_output(0)
        forget = network.add_elementwise(gates["f"], c_prev.get_output(0), ew.PROD)
        update = network.add_elementwise(gates["i"], gates["c"], ew.PROD)
        cell = network.add_elementwise(forget.get_output(0), update.get_output(0), ew.SUM)
        squashed = network.add_activation(cell.get_output(0), act.TANH)
        hidden_out = network.add_elementwise(gates["o"], squashed.get_output(0), ew.PROD)
        for layer_, label in (
            (forget, "forget"),
            (update, "update"),
            (cell, "cell"),
            (squashed, "c_tanh"),
            (hidden_out, "h"),
        ):
            layer_.name = f"{name}_{label}"
        h_prev.set_input(1, hidden_out.get_output(0))
        c_prev.set_input(1, cell.get_output(0))
        sequence = loop.add_loop_output(hidden_out.get_output(0), trt.LoopOutput.CONCATENATE, 1)
        sequence.set_input(1, steps)
        x = sequence.get_output(0)  # (N, T, H)
        for state, store in ((h_prev, outputs_h), (c_prev, outputs_c)):
            final = loop.add_loop_output(state.get_output(0), trt.LoopOutput.LAST_VALUE)
            unsqueeze = network.add_shuffle(final.get_output(0))
            unsqueeze.reshape_dims = (1, -1, hidden)
            store.append(unsqueeze.get_output(0))
    projected = product(x, net.proj, "proj")
    projected.name = "proj_matmul"
    logits = network.add_elementwise(
        projected.get_output(0), const(net.proj_bias.astype(kind)[None, None], "proj_bias"), ew.SUM
    )
    logits.name = "proj_bias_add"
    out_logits = cast(logits.get_output(0), trt.float32, "logits_cast")
    last_step = network.add_elementwise(steps, const(np.array(1, np.int64), "one"), ew.SUB)
    last_step.name = "last_step"
    last = network.add_gather(out_logits, last_step.get_output(0), 1)
    last.name = "last_logits"
    topk = network.add_topk(last.get_output(0), trt.TopKOperation.MAX, 1, 1 << 1)
    topk.name = "next_topk"
    results = {"logits": out_logits, "next": topk.get_output(1)}
    for label, pieces in (("hn", outputs_h), ("cn", outputs_c)):
        joined = network.add_concatenation(pieces)
        joined.axis = 0
        joined.name = f"{label}_concat"
        results[label] = cast(joined.get_output(0), trt.float32, f"{label}_cast")
    for label in OUTPUTS:
        results[label].name = label
        network.mark_output(results[label])
    return keep


def check_charrnn_network(
    network: Any, net: CharRnn, *, precision: str, int4_block: int = 0
) -> dict[str, Any]:
    """Check a populated network against the description: its loops (one per LSTM layer, each
    with a trip limit, an iterator and two recurrences), its inputs and outputs, and the
    checksums of every weight constant (for int4w, of the INT4 weights' scales and their
    INT4 constants' sizes); return what was found.

    Raises:
        PipelineError: naming what differs.
    """
    kind = np.float16 if precision == "fp16" else np.float32
    expected = _expected_weights(net, kind, int4_block)
    counts: dict[str, int] = {}
    found: dict[str, str] = {}
    for index in range(network.num_layers):
        layer = network.get_layer(index)
        counts[layer.type.name] = counts.get(layer.type.name, 0) + 1
        if layer.type.name == "CONSTANT" and layer.name in expected:
            layer.__class__ = layer_class(layer, "IConstantLayer")
            found[layer.name] = constant_checksum(layer)
    loops = net.layers
    want = {
        "TRIP_LIMIT": loops,
        "ITERATOR": loops,
        "RECURRENCE": 2 * loops,
        "LOOP_OUTPUT": 3 * loops,
        "TOPK": 1,
    }
    wrong = {k: (counts.get(k, 0), v) for k, v in want.items() if counts.get(k, 0) != v}
    if wrong:
        raise PipelineError("charrnn network", f"layer counts (found, expected): {wrong}")
    if found != expected:
        differ = sorted(k for k in expected if found.get(k) != expected[k])
        raise PipelineError("charrnn network", f"weights differ from the description: {differ}")
    io = {
        "inputs": [network.get_input(k).name for k in range(network.num_inputs)],
        "outputs": [network.get_output(k).name for k in range(network.num_outputs)],
    }
    if io != {"inputs": list(INPUTS), "outputs": list(OUTPUTS)}:
        raise PipelineError("charrnn network", f"inputs and outputs {io}")
    return {"layer_counts": counts, "weights": found} | io


def _expected_weights(net: CharRnn, kind: type, int4_block: int) -> dict[str, str]:
    """Checksums of the weight constants a network of the description holds, by name."""
    expected = {}
    for name, array in net.arrays().items():
        if int4_block and name.endswith(INT4_WEIGHTS):
            values, scale = int4_blocks(array, int4_block)
            expected[f"{name}.int4"] = f"int4 x {values.size}"
            expected[f"{name}.scale"] = checksum(scale)
            continue
        shaped = array.astype(kind)
        if name == "proj":
            shaped = shaped[None]
        elif name == "proj_bias":
            shaped = shaped[None, None]
        elif name.endswith("_bias"):
            shaped = shaped[None]
        expected[name] = checksum(shaped)
    return expected
