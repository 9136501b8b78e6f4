"""Per-layer INT8 sensitivity: which quantized node costs the graph's outputs the most.

For every node the INT8 graph quantizes (``workflow.quant.qdq``: Conv, ConvTranspose, Gemm,
MatMul of the main graph), two graphs are built from the same ranges with
``qdq_from_ranges(nodes=...)``:

- ``only``: that node alone in INT8, every other node FP32: the loss the node causes by itself;
- ``all_but``: every quantized node in INT8 except that one: how much of the full INT8 graph's
  loss keeping the node in FP32 recovers.

Each graph's outputs are compared with the FP32 graph's on the same batches by
``workflow.score.agreement.Agreement`` (per output cosine and SNR; the user metric where one is
configured), every graph at ONNX Runtime's basic optimization level as in
``workflow.score.divergence`` (Q/DQ as float operators). A node's ``snr_db`` and ``cosine``
are the lowest over the float outputs. Nodes are ranked by the ``only`` SNR, worst first.

The FP32 outputs of the (at most ``max_batches``) batches are computed once and held with the
batches; the candidate graphs are built and run by a pool of ``workers`` processes, each graph
in one process with one ONNX Runtime thread, so that only ``workers`` graphs are in memory at
a time.
"""

import itertools
import logging
import multiprocessing
import time
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from workflow.errors import PipelineError
from workflow.logs import timed
from workflow.ort.loader import session_from_onnx
from workflow.quant.batches import iter_folder
from workflow.quant.qdq import QUANTIZED_OPS, node_key, qdq_from_ranges
from workflow.score.agreement import Agreement, load_metric
from workflow.score.divergence import OPTIMIZATION

log = logging.getLogger(__name__)

MODES = ("only", "all_but")

#: What a worker process reads: set before the pool forks, or in the caller for one worker.
_STATE: dict[str, Any] = {}


def quantized_nodes(model_bytes: bytes) -> list[dict[str, str]]:
    """The nodes of the main graph the INT8 graph quantizes, in graph order: ``{"node": key
    (its name, or <op>#<index>), "op": op type}``."""
    import onnx

    graph = onnx.load_from_string(model_bytes).graph
    return [
        {"node": node_key(node, index), "op": node.op_type}
        for index, node in enumerate(graph.node)
        if node.op_type in QUANTIZED_OPS
    ]


def _summary(result: dict[str, Any]) -> dict[str, Any]:
    """The lowest cosine and SNR over the float outputs of an agreement result, its outputs'
    numbers and its metric."""
    floats = [o for o in result["outputs"] if "snr_db" in o]
    return {
        "snr_db": min((o["snr_db"] for o in floats), default=None),
        "cosine": min((o["cosine"] for o in floats), default=None),
        "outputs": {
            o["name"]: {"snr_db": o["snr_db"], "cosine": o["cosine"], "max_abs": o["max_abs"]}
            for o in floats
        },
        "metric": result["metric"],
    }


def _evaluate(task: tuple[str, frozenset[str]]) -> tuple[str, dict[str, Any], float]:
    """Build the INT8 graph of the nodes in ``task`` and compare its outputs with FP32."""
    label, nodes = task
    start = time.perf_counter()
    state = _STATE
    graph = qdq_from_ranges(state["fp32"], state["amax"], source=state["source"], nodes=nodes)
    session = session_from_onnx(graph, threads=1, optimization=OPTIMIZATION)
    metric = load_metric(state["metric"]) if state["metric"] else None
    collected = Agreement("int8", metric=metric)
    for batch, reference in zip(state["batches"], state["references"], strict=True):
        outputs = dict(
            zip(state["output_names"], session.run(state["output_names"], batch), strict=True)
        )
        collected.update(batch, reference, outputs)
    return label, _summary(collected.result()), time.perf_counter() - start


def _as_feed(batch: dict[str, np.ndarray] | np.ndarray, names: list[str]) -> dict:
    if isinstance(batch, dict):
        return batch
    if len(names) != 1:
        raise PipelineError(
            "sensitivity",
            f"the graph has inputs {names}; one array per batch feeds only one",
            "give feed files (batch0.npz, ...) holding an array per input",
        )
    return {names[0]: batch}


def sensitivity_of_graph(
    reference: str | Path | bytes,
    amax: dict[str, float],
    feeds: Iterable[dict[str, np.ndarray] | np.ndarray],
    *,
    source: str,
    max_batches: int,
    metric: str = "",
    workers: int = 1,
) -> dict[str, Any]:
    """Rank the quantized nodes of a graph by what INT8 costs at each (see the module's
    description).

    Args:
        reference: the FP32 graph (path or bytes).
        amax: the activation ranges of the INT8 graph (``workflow.quant.ranges``).
        feeds: the batches (dicts by input name, or arrays for a graph of one input); the
            first ``max_batches`` are held in memory.
        source: where the ranges came from, named in errors.
        max_batches: batches each candidate graph runs.
        metric: a user metric ``module:function`` (``agreement.load_metric``); ``""``: none.
        workers: processes building and running candidate graphs at once.

    Returns:
        ``{"batches", "samples", "int8": the full INT8 graph's summary, "nodes": [per node
        {"node", "op", "rank", "only": summary, "all_but": summary or None (a graph of one
        quantized node)}], worst first, "seconds", "workers"}``; a summary is ``{"snr_db",
        "cosine", "outputs": {name: {snr_db, cosine, max_abs}}, "metric"}``.

    Raises:
        PipelineError: no batches; the graph has no node to quantize; bad ranges or metric.
    """
    start = time.perf_counter()
    fp32 = reference if isinstance(reference, bytes) else Path(reference).read_bytes()
    if metric:
        load_metric(metric)  # a bad setting fails here, not in every worker
    nodes = quantized_nodes(fp32)
    if not nodes:
        raise PipelineError(
            source,
            "the graph has no Conv, ConvTranspose, Gemm or MatMul to quantize",
            "sensitivity ranks quantized nodes: build the FP32 or FP16 graph of this model",
        )
    session = session_from_onnx(fp32, threads=max(1, workers), optimization=OPTIMIZATION)
    input_names = [i.name for i in session.get_inputs()]
    output_names = [o.name for o in session.get_outputs()]
    batches = [_as_feed(b, input_names) for b in itertools.islice(feeds, max_batches)]
    if not batches:
        raise PipelineError("sensitivity", "no batches", "give at least one batch")
    references = [
        dict(zip(output_names, session.run(output_names, b), strict=True)) for b in batches
    ]
    del session
    keys = [n["node"] for n in nodes]
    every = frozenset(keys)
    tasks: list[tuple[str, frozenset[str]]] = [("int8", every)]
    for key in keys:
        tasks.append((f"only\0{key}", frozenset([key])))
        if len(keys) > 1:
            tasks.append((f"all_but\0{key}", every - {key}))
    _STATE.update(
        fp32=fp32,
        amax=amax,
        source=source,
        metric=metric,
        batches=batches,
        references=references,
        output_names=output_names,
    )
    results: dict[str, dict[str, Any]] = {}
    busy = 0.0
    try:
        with timed(log, f"sensitivity | {len(tasks)} graphs, {workers} workers"):
            if workers > 1:
                context = multiprocessing.get_context("fork")
                with ProcessPoolExecutor(workers, mp_context=context) as pool:
                    done = pool.map(_evaluate, tasks)
                    for count, (label, summary, seconds) in enumerate(done, 1):
                        results[label] = summary
                        busy += seconds
                        if count % 10 == 0:
                            log.info("sensitivity | %d of %d graphs", count, len(tasks))
            else:
                for label, summary, seconds in map(_evaluate, tasks):
                    results[label] = summary
                    busy += seconds
    finally:
        _STATE.clear()
    rows = []
    for node in nodes:
        only = results[f"only\0{node['node']}"]
        rows.append({**node, "only": only, "all_but": results.get(f"all_but\0{node['node']}")})
    rows.sort(key=lambda row: _worst_first(row["only"]["snr_db"]))
    for rank, row in enumerate(rows, 1):
        row["rank"] = rank
    return {
        "batches": len(batches),
        "samples": sum(int(np.asarray(next(iter(b.values()))).shape[0]) for b in batches),
        "int8": results["int8"],
        "nodes": rows,
        "graphs_evaluated": len(tasks),
        "seconds": time.perf_counter() - start,
        "graph_seconds": busy,
        "workers": workers,
    }


def _worst_first(snr: float | None) -> float:
    """Sort key: lowest SNR first, ``nan`` and ``None`` (no float output) first of all."""
    if snr is None or snr != snr:
        return -np.inf
    return snr


def sensitivity_from_folder(
    reference: str | Path,
    amax: dict[str, float],
    folder: str | Path,
    *,
    source: str,
    feeds_source: str,
    max_batches: int,
    metric: str = "",
    workers: int = 1,
) -> dict[str, Any]:
    """:func:`sensitivity_of_graph` on the batches of a folder (BatchStream files or feed
    files), with the graph and the feeds named in the result; ``feeds_source`` says what the
    folder holds (``evaluation`` or ``calibration``)."""
    batches = iter_folder(folder)
    result = sensitivity_of_graph(
        reference,
        amax,
        batches,
        source=source,
        max_batches=max_batches,
        metric=metric,
        workers=workers,
    )
    return {
        **result,
        "graphs": {"fp32": str(reference), "ranges": source},
        "feeds": {"source": feeds_source, "folder": str(folder)},
    }
