"""INT4 weight-only graphs: blocked INT4 MatMul / Gemm weights, float activations.

Every constant weight of a MatMul (its B) or Gemm (its B) of the main graph is stored as INT4 in
blocks of ``block_size`` values along the reduction axis (K): each block gets its own scale, its
amax / 7 (symmetric, zero point 0, round to nearest), and a ``DequantizeLinear`` with the
``block_size`` attribute (opset 21, where an older graph is converted with ONNX's version
converter) turns it back into float before the MatMul. Activations are never quantized; Conv
weights stay float (weight-only INT4 serves the matrix products of language and recommender
models, whose weights dominate memory), and so does a weight that would be one single block
(one output column, K <= block size: TensorRT's ONNX parser rejects its DequantizeLinear).

Activation-aware scaling (AWQ, Lin et al. 2023, "AWQ: Activation-aware Weight Quantization"):
for a weight W (K, N) read by activations X (rows, K), a scale per input channel
s = mean|X|^alpha (normalised by sqrt(max(s) * min(s))) is searched over a grid of alpha in
[0, 1] for the one that minimises the mean squared error between X @ W and (X / s) @ Q(s * W)
on calibration activations. alpha = 0 (s = 1) is plain round to nearest and is in the grid, so a
scale is folded only where it lowers that error: s into the stored weight, 1 / s into a ``Mul``
on the activation before the MatMul; a scale that removes less than ``AWQ_MIN_GAIN`` of that
error is not folded (measured: such small gains on one layer did not carry to the output).
"""

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from workflow.errors import PipelineError
from workflow.formats.int4 import dequantize_blocked, quantize_blocked
from workflow.formats.onnx_file import convert_opset, default_opset
from workflow.quant.calibrate import activation_stream
from workflow.quant.qdq import subgraph_reads

log = logging.getLogger(__name__)

#: Block sizes the setting accepts (TensorRT's weight-only INT4 kernels take these).
BLOCK_SIZES = (32, 64, 128)
#: Opset whose DequantizeLinear takes INT4 and ``block_size``.
INT4_OPSET = 21
#: Activation rows kept per weight for the AWQ search.
AWQ_ROWS = 4096
#: Least share of round to nearest's output MSE a scale must remove to be folded: a small
#: gain on one layer's calibration error did not carry to the model's output (LeNet's fc2:
#: 7.6 % less layer MSE, 16 % more output MSE; NeuMF's last MatMul: 89 % less layer MSE, 90 %
#: less output MSE).
AWQ_MIN_GAIN = 0.1


@dataclass(frozen=True)
class Int4Weight:
    """A MatMul or Gemm constant weight that becomes INT4.

    Attributes:
        node: the node's name (``<op>#<index>`` for an unnamed one).
        index: the node's position in the main graph.
        weight: the initializer's name.
        axis: the reduction axis of the weight (K), along which blocks run.
        activation: the activation the weight multiplies (its columns are the weight's K),
            or "" where AWQ cannot fold a scale into it (Gemm with ``transA``).
    """

    node: str
    index: int
    weight: str
    axis: int
    activation: str


def _attribute(node: Any, name: str, default: int) -> int:
    for attr in node.attribute:
        if attr.name == name:
            return int(attr.i)
    return default


def int4_weights(graph: Any) -> list[Int4Weight]:
    """The constant weights of the main graph's MatMul and Gemm nodes: MatMul's B (2-D or
    more: K is its second last axis) and Gemm's B (K is axis 0, or 1 with ``transB``)."""
    inits = {init.name: init for init in graph.initializer}
    found = []
    for index, node in enumerate(graph.node):
        if node.op_type not in ("MatMul", "Gemm") or len(node.input) < 2:
            continue
        weight = inits.get(node.input[1])
        if weight is None or len(weight.dims) < 2:
            continue
        if node.op_type == "Gemm":
            axis = 1 if _attribute(node, "transB", 0) else 0
            activation = "" if _attribute(node, "transA", 0) else node.input[0]
        else:
            axis = len(weight.dims) - 2
            activation = node.input[0] if len(weight.dims) == 2 else ""
        name = node.name or f"{node.op_type}#{index}"
        found.append(Int4Weight(name, index, node.input[1], axis, activation))
    return found


def _rtn(weight: np.ndarray, axis: int, block_size: int) -> np.ndarray:
    return dequantize_blocked(*quantize_blocked(weight, axis, block_size), axis, block_size)


@dataclass(frozen=True)
class AwqChoice:
    """The result of the AWQ search for one weight: ``alpha`` (0 = round to nearest),
    ``scale`` per input channel (K,), and the output MSE of round to nearest and of the
    choice on the calibration activations."""

    alpha: float
    scale: np.ndarray
    mse_rtn: float
    mse: float


def awq_search(
    x: np.ndarray, weight: np.ndarray, *, axis: int, block_size: int, grid: int
) -> AwqChoice:
    """Search alpha in ``grid`` evenly spaced values over [0, 1] (see the module docstring).

    Args:
        x: calibration activations (rows, K).
        weight: the 2-D weight; ``axis`` is its K.
        axis: 0 (W is (K, N)) or 1 (W is (N, K)).
        block_size: INT4 block size along K.
        grid: how many alphas (at least 2: 0 and 1).

    Returns:
        The alpha of least output MSE (the first of equals, so round to nearest on a tie);
        round to nearest (alpha 0, s = 1) where that removes less than ``AWQ_MIN_GAIN`` of
        round to nearest's MSE.
    """
    w = np.asarray(weight, np.float32)
    w = w if axis == 0 else w.T
    x = np.asarray(x, np.float64)
    reference = x @ w
    mean_abs = np.maximum(np.abs(x).mean(axis=0), 1e-8)
    best = None
    mse_rtn = 0.0
    for alpha in np.linspace(0.0, 1.0, grid):
        s = mean_abs**alpha
        s = (s / np.sqrt(s.max() * s.min())).astype(np.float32)
        out = (x / s) @ _rtn(w * s[:, None], 0, block_size)
        mse = float(np.mean((out - reference) ** 2))
        if alpha == 0:
            mse_rtn = mse
        if best is None or mse < best.mse:
            best = AwqChoice(float(alpha), s, mse_rtn, mse)
    if best.mse > (1.0 - AWQ_MIN_GAIN) * mse_rtn:
        return AwqChoice(0.0, np.ones_like(mean_abs, np.float32), mse_rtn, mse_rtn)
    return best


def _activation_rows(
    model_bytes: bytes,
    batches: Callable[[], Iterable[Any]],
    names: list[str],
    *,
    threads: int,
    rows: int,
) -> dict[str, np.ndarray]:
    """Up to ``rows`` rows (last axis kept) of each named activation over the batches."""
    stream, _ = activation_stream(model_bytes, batches, threads, names)
    kept: dict[str, list[np.ndarray]] = {name: [] for name in names}
    for values in stream():
        for name in names:
            have = sum(len(a) for a in kept[name])
            if have < rows:
                value = np.asarray(values[name], np.float32)
                kept[name].append(value.reshape(-1, value.shape[-1])[: rows - have])
        if all(sum(len(a) for a in kept[n]) >= rows for n in names):
            break
    return {name: np.concatenate(parts) for name, parts in kept.items() if parts}


def int4_weight_only(
    model_bytes: bytes,
    *,
    block_size: int,
    source: str,
    batches: Callable[[], Iterable[Any]] | None = None,
    awq_grid: int = 0,
    threads: int = 1,
    report: dict[str, Any] | None = None,
) -> bytes:
    """The INT4 weight-only graph of an FP32 graph (see the module docstring).

    Args:
        model_bytes: the FP32 graph (converted to opset 21 where older).
        block_size: values per INT4 block along K: 32, 64 or 128.
        source: the graph, named in errors.
        batches: calibration batches (as ``workflow.quant.calibrate.calibrate`` takes them), for
            the AWQ search; None: round to nearest everywhere.
        awq_grid: alphas searched over [0, 1]; 0: no AWQ search.
        threads: ONNX Runtime threads while collecting activations.
        report: if given, receives per weight its block count, alpha and the output MSEs.

    Returns:
        The INT4 weight-only graph, checked by ``onnx.checker``.

    Raises:
        PipelineError: a block size other than 32, 64 or 128; a graph with no MatMul or Gemm
            constant weight; an AWQ grid of one value; a graph the converter cannot bring to
            opset 21.
    """
    import onnx
    from onnx import helper, numpy_helper

    if block_size not in BLOCK_SIZES:
        raise PipelineError(
            f"int4.block_size={block_size}", f"choose among {', '.join(map(str, BLOCK_SIZES))}"
        )
    if awq_grid == 1:
        raise PipelineError("int4.awq_grid=1", "the grid needs 0 (off) or at least 2 alphas")
    model = onnx.load_from_string(model_bytes)
    if default_opset(model) < INT4_OPSET:
        log.info("int4w | opset %d -> %d (blocked INT4)", default_opset(model), INT4_OPSET)
        model = convert_opset(model, INT4_OPSET, source)
    graph = model.graph
    targets = int4_weights(graph)
    if not targets:
        raise PipelineError(
            source,
            "has no MatMul or Gemm with a constant weight: int4w (INT4 weight-only) has "
            "nothing to quantize",
            "build fp32, fp16, int8 or fp8 of this graph instead (its sample's precisions in "
            "config/samples.yaml)",
        )
    shared = {t.weight for t in targets if sum(u.weight == t.weight for u in targets) > 1}
    seen = [t.activation for t in targets if t.activation and t.weight not in shared]
    activations = {}
    if awq_grid and batches is not None and seen:
        activations = _activation_rows(
            model_bytes, batches, list(dict.fromkeys(seen)), threads=threads, rows=AWQ_ROWS
        )
    inits = {init.name: init for init in graph.initializer}
    before: dict[int, list[Any]] = {}
    new_inits: list[Any] = []
    done: dict[str, str] = {}
    kept_entries: list[dict[str, Any]] = []
    for target in targets:
        node = graph.node[target.index]
        weight = numpy_helper.to_array(inits[target.weight]).astype(np.float32)
        entry: dict[str, Any] = {"weight": target.weight, "alpha": 0.0}
        kept_entries.append(entry)
        if weight.size <= block_size and weight.size == weight.shape[target.axis]:
            # one block for the whole weight (K <= block_size, one output): TensorRT's ONNX
            # parser rejects its DequantizeLinear, and a single value per block saves nothing
            entry["kept_float"] = "a single INT4 block (one output column, K <= block_size)"
            log.info(
                "int4w | %s: %s stays float: %s", target.node, target.weight, entry["kept_float"]
            )
            if report is not None:
                report[target.node] = entry
            continue
        x = activations.get(target.activation)
        if x is not None:
            choice = awq_search(x, weight, axis=target.axis, block_size=block_size, grid=awq_grid)
            entry |= {"alpha": choice.alpha, "mse_rtn": choice.mse_rtn, "mse": choice.mse}
            if choice.alpha > 0:
                weight = weight * choice.scale.reshape([-1, 1] if target.axis == 0 else [1, -1])
                mul = f"{target.weight}_awq"
                inverse = (1.0 / choice.scale).astype(np.float32)
                new_inits.append(numpy_helper.from_array(inverse, f"{mul}_inv"))
                before.setdefault(target.index, []).append(
                    helper.make_node(
                        "Mul", [target.activation, f"{mul}_inv"], [f"{mul}_x"], name=mul
                    )
                )
                node.input[0] = f"{mul}_x"
        awq = entry["alpha"] > 0
        if awq or target.weight not in done:
            base = f"{target.weight}_int4"
            q, scale = quantize_blocked(weight, target.axis, block_size)
            new_inits += [
                numpy_helper.from_array(q, base),
                numpy_helper.from_array(scale, f"{base}_scale"),
                numpy_helper.from_array(np.zeros(scale.shape, q.dtype), f"{base}_zp"),
            ]
            before.setdefault(target.index, []).append(
                helper.make_node(
                    "DequantizeLinear",
                    [base, f"{base}_scale", f"{base}_zp"],
                    [f"{base}_dq"],
                    name=f"{base}_dq",
                    axis=target.axis,
                    block_size=block_size,
                )
            )
            entry["blocks"] = int(scale.size)
            if not awq:
                done[target.weight] = f"{base}_dq"
            node.input[1] = f"{base}_dq"
        else:
            node.input[1] = done[target.weight]
        if report is not None:
            report[target.node] = entry
        log.info(
            "int4w | %s: %s, alpha %.2f%s",
            target.node,
            target.weight,
            entry["alpha"],
            f", output MSE {entry['mse_rtn']:.3g} -> {entry['mse']:.3g}" if "mse" in entry else "",
        )
    if not any("kept_float" not in entry for entry in kept_entries):
        raise PipelineError(
            source,
            f"every MatMul/Gemm weight is a single INT4 block of {block_size} (one output "
            "column): int4w would quantize nothing",
            "choose a smaller int4.block_size, or build fp32, fp16 or int8 of this graph",
        )
    nodes = []
    for index, node in enumerate(graph.node):
        nodes += before.get(index, [])
        nodes.append(node)
    used = {name for node in nodes for name in node.input} | subgraph_reads(graph)
    kept = [init for init in graph.initializer if init.name in used]
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.initializer[:]
    graph.initializer.extend(kept + new_inits)
    onnx.checker.check_model(model, full_check=True)
    log.info("int4w | %d weights, block size %d", len(targets), block_size)
    return model.SerializeToString()
