"""Where a reduced-precision graph (FP16, INT8 Q/DQ) leaves its FP32 graph, tensor by tensor.

Both graphs run in ONNX Runtime on the same inputs with every intermediate tensor made a graph
output; each tensor of the FP32 graph is compared with its counterpart in the other graph by
the metrics of ``workflow.score.agreement`` (SNR in dB, cosine, max and mean absolute error;
running sums in float64, one batch's activations in memory at a time).

The matching rule. The FP32 tensors are the float graph inputs and every float tensor a node
computes, in the graph's (topological) order. A tensor ``t`` of the FP32 graph corresponds to:

- ``t`` in the reduced graph, where a node there computes it (or it is a graph input): the FP16
  and INT8 builders keep every tensor's name (``workflow.quant.fp16`` computes a graph output
  as ``t_fp16`` and casts it back to ``t``; ``workflow.quant.qdq`` reads ``t`` into its Q/DQ);
  a row ``as: "computed"``;
- and besides, to each copy that carries ``t`` to its readers: the output of a ``Cast`` whose
  input is ``t`` (``t_fp16``, ``t_fp32``: ``as: "cast"``), and the output of a
  ``DequantizeLinear`` whose input is a ``QuantizeLinear`` of ``t`` (``t_int8_dq``:
  ``as: "quantized"``). Those rows follow ``t``'s own and separate the error of rounding ``t``
  from the error that reached it from upstream.

An FP32 tensor the reduced graph neither computes nor carries is listed under ``missing``.
Weights are initializers, not tensors computed by a node, and are not compared (their
quantization shows in the outputs of the nodes that read them).

Both graphs run at ONNX Runtime's basic optimization level (:data:`OPTIMIZATION`), so a Q/DQ
pair computes the rounding the graph specifies, not a fused integer kernel's.

The first divergent tensor is the first row, in graph order, whose SNR falls below the
threshold (``nan`` counts as below).
"""

import itertools
import logging
import math
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from workflow.errors import PipelineError
from workflow.logs import timed
from workflow.ort.loader import session_from_onnx
from workflow.quant.batches import iter_folder
from workflow.quant.calibrate import with_all_outputs
from workflow.score.agreement import REFERENCE, OutputAgreement, with_sources

log = logging.getLogger(__name__)

#: ONNX Runtime's optimization level for both graphs: basic keeps every Q/DQ pair a float
#: operator, as the graph writes it; the extended level fuses DequantizeLinear -> MatMul / Conv
#: into integer kernels that round and saturate by the CPU's instruction set (workflow/repro.py).
OPTIMIZATION = "ORT_ENABLE_BASIC"
#: The numbers of an agreement row a tensor row keeps.
KEPT = ("shape", "elements", "snr_db", "cosine", "max_abs", "mean_abs", "nonfinite")


class TensorAgreement(OutputAgreement):
    """:class:`OutputAgreement`'s running sums (hence its SNR, cosine and errors) without its
    equality count and argmax agreement: an intermediate tensor is no score, and each of those
    is a further pass over every activation."""

    def update(self, reference: np.ndarray, candidate: np.ndarray) -> None:
        """Add one batch's values of the tensor in both graphs.

        Raises:
            PipelineError: the two differ in shape.
        """
        if reference.shape != candidate.shape:
            raise PipelineError(
                f"tensor {self.name}",
                f"shape {candidate.shape} differs from the FP32 graph's {reference.shape}",
                "both graphs must come from the same model (rebuild the precision graph)",
            )
        self.dtype = self.dtype or str(reference.dtype)
        self.shape = reference.shape
        self.elements += reference.size
        ref = reference.astype(np.float64).ravel()
        cand = candidate.astype(np.float64).ravel()
        if not np.isfinite(cand).all():
            self.nonfinite += int(np.count_nonzero(np.isfinite(ref) & ~np.isfinite(cand)))
        diff = ref - cand
        self.dot += float(np.dot(ref, cand))
        self.ref_sq += float(np.dot(ref, ref))
        self.cand_sq += float(np.dot(cand, cand))
        self.noise_sq += float(np.dot(diff, diff))
        np.abs(diff, out=diff)
        if diff.size:
            self.max_abs = max(self.max_abs, float(diff.max()))
        self.sum_abs += float(diff.sum())


def _load(graph: str | Path | bytes) -> bytes:
    return graph if isinstance(graph, bytes) else Path(graph).read_bytes()


def match_tensors(reference: bytes, candidate: bytes) -> tuple[list[dict[str, Any]], list[str]]:
    """The rows to compare, by the matching rule of the module's description.

    Args:
        reference: the FP32 graph.
        candidate: the reduced-precision graph.

    Returns:
        The rows in graph order, each ``{"tensor": FP32 name, "compared": the candidate's
        tensor, "as": "computed" | "cast" | "quantized", "op": the FP32 op computing it
        ("input" for a graph input), "node": that node's name}``; and the FP32 tensors the
        candidate lacks.
    """
    import onnx

    _, _, names = with_all_outputs(reference)
    graph = onnx.load_from_string(reference).graph
    made_by = {name: node for node in graph.node for name in node.output}
    other = onnx.load_from_string(candidate).graph
    present = {i.name for i in other.input} | {o for n in other.node for o in n.output}
    quantized = {n.output[0]: n.input[0] for n in other.node if n.op_type == "QuantizeLinear"}
    carriers: dict[str, list[tuple[str, str]]] = {}
    for node in other.node:
        if node.op_type == "Cast":
            carriers.setdefault(node.input[0], []).append((node.output[0], "cast"))
        elif node.op_type == "DequantizeLinear" and node.input[0] in quantized:
            carriers.setdefault(quantized[node.input[0]], []).append((node.output[0], "quantized"))
    rows, missing = [], []
    for name in names:
        node = made_by.get(name)
        where = {"op": node.op_type if node else "input", "node": node.name if node else ""}
        if name not in present:
            missing.append(name)
            continue
        rows.append({"tensor": name, "compared": name, "as": "computed", **where})
        for copy, kind in carriers.get(name, []):
            if copy not in made_by:  # a copy the FP32 graph has is compared on its own
                rows.append({"tensor": name, "compared": copy, "as": kind, **where})
    return rows, missing


def _with_outputs(model_bytes: bytes, names: list[str]) -> bytes:
    """The graph with ``names`` (tensors of any float type) made graph outputs."""
    import onnx

    model = onnx.shape_inference.infer_shapes(onnx.load_from_string(model_bytes))
    graph = model.graph
    types = {v.name: v.type.tensor_type.elem_type for v in [*graph.value_info, *graph.output]}
    existing = {o.name for o in graph.output} | {i.name for i in graph.input}
    for name in names:
        if name not in existing:
            elem = types.get(name) or onnx.TensorProto.FLOAT
            graph.output.append(onnx.helper.make_tensor_value_info(name, elem, None))
            existing.add(name)
    return model.SerializeToString()


def first_below(rows: list[dict[str, Any]], threshold_db: float) -> dict[str, Any] | None:
    """The first row whose SNR is below ``threshold_db`` (``nan`` is), or ``None``."""
    for row in rows:
        snr = row.get("snr_db")
        if snr is not None and (math.isnan(snr) or snr < threshold_db):
            return row
    return None


def divergence_of_graphs(
    reference: str | Path | bytes,
    candidate: str | Path | bytes,
    feeds: Iterable[dict[str, np.ndarray] | np.ndarray],
    *,
    precision: str,
    max_batches: int,
    threshold_db: float,
    threads: int = 1,
) -> dict[str, Any]:
    """Compare every tensor of the FP32 graph with its counterpart in ``candidate``.

    Args:
        reference: the FP32 graph (path or bytes).
        candidate: the graph in ``precision`` (path or bytes).
        feeds: the batches, streamed: dicts of arrays by input name, or single arrays for a
            graph of one input.
        precision: the candidate's precision (``fp16``, ``int8``).
        max_batches: compare at most this many batches (the first ones).
        threshold_db: the SNR under which a tensor has diverged.
        threads: ONNX Runtime threads per session.

    Returns:
        ``{"precision", "reference", "threshold_db", "batches", "samples", "tensors": [rows of
        :func:`match_tensors` with index, shape, elements, snr_db, cosine, max_abs, mean_abs,
        nonfinite], "outputs": [the FP32 graph's output names], "first_divergent": a row or
        None, "missing": [names], "seconds": wall time}``.

    Raises:
        PipelineError: no batches; an array batch for a graph of several inputs; a tensor
            whose shape differs between the graphs.
    """
    import onnx

    start = time.perf_counter()
    fp32_bytes, other_bytes = _load(reference), _load(candidate)
    rows, missing = match_tensors(fp32_bytes, other_bytes)
    outputs = [o.name for o in onnx.load_from_string(fp32_bytes).graph.output]
    fp32_model, input_names, _ = with_all_outputs(fp32_bytes)
    fp32_names = list(dict.fromkeys(row["tensor"] for row in rows))
    other_names = list(dict.fromkeys(row["compared"] for row in rows))
    fp32 = session_from_onnx(fp32_model, threads=threads, optimization=OPTIMIZATION)
    other = session_from_onnx(
        _with_outputs(other_bytes, other_names), threads=threads, optimization=OPTIMIZATION
    )
    sums = [TensorAgreement(f"{row['tensor']} ({row['compared']})") for row in rows]
    batches = samples = 0

    def values(session: Any, names: list[str], batch: dict[str, np.ndarray]) -> dict:
        run = [n for n in names if n not in batch]
        got = dict(zip(run, session.run(run, batch), strict=True))
        return {n: batch[n] if n in batch else got[n] for n in names}

    with timed(log, f"divergence | {precision} vs {REFERENCE}, {len(rows)} tensors"):
        for batch in itertools.islice(feeds, max_batches):
            if not isinstance(batch, dict):
                if len(input_names) != 1:
                    raise PipelineError(
                        "divergence",
                        f"the graph has inputs {input_names}; one array per batch feeds only one",
                        "give feed files (batch0.npz, ...) holding an array per input",
                    )
                batch = {input_names[0]: batch}
            ref = values(fp32, fp32_names, batch)
            cand = values(other, other_names, batch)
            for row, total in zip(rows, sums, strict=True):
                total.update(ref[row["tensor"]], cand[row["compared"]])
            batches += 1
            first = np.asarray(next(iter(batch.values())))
            samples += int(first.shape[0]) if first.ndim else 1
    if not batches:
        raise PipelineError("divergence", "no batches", "give at least one batch")
    tensors = []
    for index, (row, total) in enumerate(zip(rows, sums, strict=True)):
        numbers = total.result()
        tensors.append({"index": index, **row, **{k: numbers.get(k) for k in KEPT}})
    first_divergent = first_below(tensors, threshold_db)
    if first_divergent is not None:
        log.info(
            "divergence | %s: first below %.1f dB: %s (%s, %s) at %.1f dB",
            precision,
            threshold_db,
            first_divergent["tensor"],
            first_divergent["as"],
            first_divergent["op"],
            first_divergent["snr_db"],
        )
    return {
        "precision": precision,
        "reference": REFERENCE,
        "threshold_db": threshold_db,
        "batches": batches,
        "samples": samples,
        "tensors": tensors,
        "outputs": outputs,
        "first_divergent": first_divergent,
        "missing": missing,
        "seconds": time.perf_counter() - start,
    }


def divergence_from_folder(
    reference: str | Path,
    candidate: str | Path,
    folder: str | Path,
    *,
    source: str,
    precision: str,
    max_batches: int,
    threshold_db: float,
    threads: int = 1,
) -> dict[str, Any]:
    """:func:`divergence_of_graphs` on the batches of a folder (BatchStream files or feed
    files), with the graphs and the feeds named in the result; ``source`` says what the folder
    holds (``evaluation`` or ``calibration``)."""
    batches = iter_folder(folder)
    result = divergence_of_graphs(
        reference,
        candidate,
        batches,
        precision=precision,
        max_batches=max_batches,
        threshold_db=threshold_db,
        threads=threads,
    )
    return with_sources(result, reference, candidate, folder, precision=precision, source=source)
