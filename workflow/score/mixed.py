"""Mixed INT8/FP32 graph: the fewest quantized nodes kept in FP32 for an accuracy target.

The quantized nodes are ordered most sensitive first from a sensitivity report
(``workflow.quant.mixed.sensitive_first``). The evaluation batches are split in two: the first
ones are the search split, the last ``held_out`` share (at least one batch) the held-out split.
On the search split, the shortest prefix of that order to keep in FP32 so that the target
holds is found by bisection (``workflow.quant.mixed.smallest_prefix``: about ``log2`` of the
node count graph evaluations). The choice is then checked on the held-out split; where the
target fails there, further nodes of the order go back to FP32 (bisection again, on the
held-out split) until it holds, and the layer map says so.

The target is the lowest output cosine or SNR (dB) over the float outputs against the FP32
graph (``workflow.score.agreement.Agreement``, as in ``workflow.score.sensitivity``), and
optionally a user metric: the value the metric gives for the candidate graph may fall at most
``max_drop`` (in the metric's own units) below the value it gives for the FP32 graph's own
outputs. Every graph runs at ONNX Runtime's basic optimization level
(``workflow.score.divergence.OPTIMIZATION``).
"""

import logging
import math
import time
from collections.abc import Collection, Sequence
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np

from workflow.errors import PipelineError
from workflow.ort.loader import session_from_onnx
from workflow.quant.batches import iter_folder
from workflow.quant.mixed import sensitive_first, smallest_prefix
from workflow.quant.qdq import qdq_from_ranges
from workflow.score.agreement import Agreement, load_metric
from workflow.score.divergence import OPTIMIZATION
from workflow.score.sensitivity import quantized_nodes

log = logging.getLogger(__name__)

KINDS = ("cosine", "snr_db")


def check_target(kind: str, value: float, metric_name: str = "", max_drop: float | None = None):
    """Refuse a target that cannot be read.

    Raises:
        PipelineError: an unknown kind; a cosine outside (-1, 1]; a negative ``max_drop``, or
            one without a metric name.
    """
    if kind not in KINDS:
        raise PipelineError("mixed.target", f"{kind!r} is not a target kind", f"use one of {KINDS}")
    if kind == "cosine" and not -1 < value <= 1:
        raise PipelineError(
            "mixed.value", f"a cosine target of {value} cannot be met", "give one in (-1, 1]"
        )
    if max_drop is not None and (max_drop < 0 or not metric_name):
        raise PipelineError(
            "mixed.max_drop",
            f"{max_drop} with metric name {metric_name!r}",
            "give a drop >= 0 and the name of a value the agreement.metric function returns",
        )


def _lowest(result: dict[str, Any], key: str) -> float | None:
    values = [o[key] for o in result["outputs"] if key in o]
    return min(values) if values else None


class _Split:
    """One split's batches with the FP32 graph's outputs (and the metric's FP32 values)."""

    def __init__(self, name, batches, session, output_names, metric) -> None:
        self.name = name
        self.batches = batches
        self.references = [
            dict(zip(output_names, session.run(output_names, b), strict=True)) for b in batches
        ]
        self.baseline = None
        if metric is not None:
            same = Agreement("int8", metric=metric)
            for batch, reference in zip(batches, self.references, strict=True):
                same.update(batch, reference, reference)
            self.baseline = same.result()["metric"]


def _as_feeds(batches: Sequence, names: list[str]) -> list[dict[str, np.ndarray]]:
    feeds = []
    for batch in batches:
        if not isinstance(batch, dict):
            if len(names) != 1:
                raise PipelineError(
                    "mixed",
                    f"the graph has inputs {names}; one array per batch feeds only one",
                    "give feed files (batch0.npz, ...) holding an array per input",
                )
            batch = {names[0]: batch}
        feeds.append(batch)
    return feeds


def split_batches(count: int, held_out: float) -> int:
    """How many of ``count`` batches form the search split: the held-out split takes
    ``held_out`` of them, rounded, at least one; the search split keeps at least one.

    Raises:
        PipelineError: fewer than two batches, or a share outside (0, 1).
    """
    if not 0 < held_out < 1:
        raise PipelineError("mixed.held_out", f"a share of {held_out}", "give one in (0, 1)")
    if count < 2:
        raise PipelineError(
            "mixed",
            f"{count} evaluation batch(es): a search and a held-out split need two",
            "give more evaluation batches (or raise mixed.max_batches)",
        )
    held = min(count - 1, max(1, round(count * held_out)))
    return count - held


def mixed_of_graph(
    reference: str | Path | bytes,
    amax: dict[str, float],
    sensitivity: dict[str, Any],
    batches: Sequence[dict[str, np.ndarray] | np.ndarray],
    *,
    source: str,
    target: str,
    value: float,
    held_out: float = 0.5,
    ranking: str = "only",
    max_evaluations: int = 32,
    metric: str = "",
    metric_name: str = "",
    max_drop: float | None = None,
    fp32_ops: Collection[str] = (),
) -> tuple[bytes, dict[str, Any]]:
    """Choose the nodes in INT8 (see the module's description) and build the mixed graph.

    Args:
        reference: the FP32 graph (path or bytes).
        amax: the activation ranges of the INT8 graph (``workflow.quant.ranges``).
        sensitivity: the sensitivity report of the same graph and ranges.
        batches: the evaluation batches (dicts by input name, or arrays for one input).
        source: where the ranges came from, named in errors.
        target: ``cosine`` or ``snr_db``: the lowest over the float outputs must reach
            ``value``.
        held_out: the share of batches held out for the check.
        ranking: ``only`` or ``all_but`` (``workflow.quant.mixed``).
        max_evaluations: the most candidate graphs the search split evaluates.
        metric: a user metric ``module:function``; ``""``: none.
        metric_name: the metric's value the ``max_drop`` limit reads.
        max_drop: the largest fall of that value below its FP32 value; ``None``: no limit.
        fp32_ops: op types whose nodes stay FP32 whatever the ranking (an engine that would run
            them in FP32 layers anyway, so that the map says what the engine does).

    Returns:
        ``(mixed graph bytes, layer map)``; the map holds ``nodes`` (per node in graph order:
        ``node``, ``op``, ``precision`` int8/fp32, ``order`` in the ranking, ``only`` and
        ``all_but`` SNR and cosine, ``why``) and ``summary``.

    Raises:
        PipelineError: a bad target, share or ranking; too few batches; a metric value that
            is not returned.
    """
    start = time.perf_counter()
    check_target(target, value, metric_name, max_drop)
    fp32 = reference if isinstance(reference, bytes) else Path(reference).read_bytes()
    ranked = sensitive_first(sensitivity, ranking)
    order = [row["node"] for row in ranked if row.get("op") not in fp32_ops]
    by_op = {row["node"] for row in ranked if row.get("op") in fp32_ops}
    metric_fn = load_metric(metric) if metric and max_drop is not None else None
    session = session_from_onnx(fp32, threads=1, optimization=OPTIMIZATION)
    input_names = [i.name for i in session.get_inputs()]
    output_names = [o.name for o in session.get_outputs()]
    feeds = _as_feeds(batches, input_names)
    cut = split_batches(len(feeds), held_out)
    splits = {
        "search": _Split("search", feeds[:cut], session, output_names, metric_fn),
        "held_out": _Split("held_out", feeds[cut:], session, output_names, metric_fn),
    }
    del session
    if metric_fn is not None and metric_name not in (splits["search"].baseline or {}):
        raise PipelineError(
            "mixed.metric_name",
            f"{metric_name!r} is not among the metric's values "
            f"{sorted(splits['search'].baseline or {})}",
            "name one of them",
        )
    cache: dict[tuple[str, int], dict[str, Any]] = {}
    evaluations = {"search": 0, "held_out": 0}

    def evaluate(split: str, kept: int) -> dict[str, Any]:
        if (split, kept) in cache:
            return cache[(split, kept)]
        int8 = frozenset(order[kept:])
        graph = qdq_from_ranges(fp32, amax, source=source, nodes=int8) if int8 else fp32
        run = session_from_onnx(graph, threads=1, optimization=OPTIMIZATION)
        data = splits[split]
        collected = Agreement("int8", metric=metric_fn)
        for batch, ref in zip(data.batches, data.references, strict=True):
            outputs = dict(zip(output_names, run.run(output_names, batch), strict=True))
            collected.update(batch, ref, outputs)
        result = collected.result()
        row = {
            "fp32_nodes": kept,
            "cosine": _lowest(result, "cosine"),
            "snr_db": _lowest(result, "snr_db"),
        }
        if metric_fn is not None:
            row["metric"] = result["metric"]
            row["metric_drop"] = data.baseline[metric_name] - result["metric"][metric_name]
        row["holds"] = _holds(row)
        evaluations[split] += 1
        cache[(split, kept)] = row
        log.info("mixed | %s: %d of %d nodes FP32 -> %s", split, kept, len(order), row)
        return row

    def _holds(row: dict[str, Any]) -> bool:
        achieved = row[target]
        if achieved is None or math.isnan(achieved) or achieved < value:
            return False
        return not (max_drop is not None and row["metric_drop"] > max_drop)

    searched, tests = smallest_prefix(
        len(order), lambda k: evaluate("search", k)["holds"], max_tests=max_evaluations
    )
    kept = searched
    held = evaluate("held_out", kept)
    if not held["holds"]:
        kept, _ = smallest_prefix(
            len(order),
            lambda k: evaluate("held_out", k)["holds"],
            low=kept + 1,
            max_tests=max_evaluations,
        )
        log.warning(
            "mixed | the search split's choice (%d nodes FP32) misses the target on the "
            "held-out split; %d nodes FP32 meet it there",
            searched,
            kept,
        )
    final = {split: evaluate(split, kept) for split in ("search", "held_out")}
    int8 = frozenset(order[kept:])
    graph = qdq_from_ranges(fp32, amax, source=source, nodes=int8) if int8 else fp32
    graph_order = {row["node"]: i for i, row in enumerate(quantized_nodes(fp32))}
    layer_map = _layer_map(
        sensitivity, graph_order, order, kept, searched, target, value, tests, final, held["holds"]
    )
    if by_op:
        _keep_by_op(layer_map, by_op)
    layer_map["summary"] |= {
        "target": {
            "kind": target,
            "value": value,
            "metric": metric or None,
            "metric_name": metric_name or None,
            "max_drop": max_drop,
        },
        "ranking": ranking,
        "fp32_ops": sorted(fp32_ops),
        "batches": {split: len(data.batches) for split, data in splits.items()},
        "evaluations": dict(evaluations),
        "seconds": time.perf_counter() - start,
    }
    return graph, layer_map


def _keep_by_op(layer_map: dict[str, Any], by_op: set[str]) -> None:
    """Mark the nodes kept FP32 by their op type in a layer map and count them in its
    summary (the search ranked and counted only the others)."""
    for node in layer_map["nodes"]:
        if node["node"] in by_op:
            node |= {"precision": "fp32", "order": None, "why": f"its op {node['op']} stays FP32"}
    summary = layer_map["summary"]
    total = summary["quantizable_nodes"] + len(by_op)
    summary |= {
        "quantizable_nodes": total,
        "fp32_nodes": summary["fp32_nodes"] + len(by_op),
        "fp32_by_op": len(by_op),
        "int8_share": summary["int8_nodes"] / total,
    }


def _layer_map(
    sensitivity, graph_order, order, kept, searched, target, value, tests, final, held_ok
):
    position = {node: i for i, node in enumerate(order)}
    fp32_nodes = set(order[:kept])
    nodes = []
    for row in sensitivity["nodes"]:
        key = row["node"]
        where = position.get(key, -1)
        if key not in fp32_nodes:
            why = f"INT8 meets the target with the {kept} more sensitive node(s) in FP32"
        elif where < searched:
            why = f"among the {searched} most sensitive nodes the search split needs in FP32"
        else:
            why = "moved to FP32 for the held-out split to meet the target"
        nodes.append(
            {
                "node": key,
                "op": row.get("op"),
                "precision": "fp32" if key in fp32_nodes else "int8",
                "order": where + 1,
                "only": {k: (row.get("only") or {}).get(k) for k in ("snr_db", "cosine")},
                "all_but": {k: (row.get("all_but") or {}).get(k) for k in ("snr_db", "cosine")},
                "why": why,
            }
        )
    nodes.sort(key=lambda n: graph_order.get(n["node"], len(graph_order)))
    count = len(order)
    int8 = count - kept
    if kept == count:
        note = (
            f"the target {target} >= {value} is unreachable with any node in INT8: "
            "every node is FP32 and the mixed graph is the FP32 graph"
        )
    elif kept > searched:
        note = (
            f"the search split's choice ({searched} FP32) missed the target on the held-out "
            f"split; {kept - searched} more node(s) moved to FP32"
        )
    else:
        note = "the search split's choice meets the target on the held-out split"
    return {
        "nodes": nodes,
        "summary": {
            "quantizable_nodes": count,
            "int8_nodes": int8,
            "fp32_nodes": kept,
            "int8_share": int8 / count,
            "search_choice_fp32_nodes": searched,
            "held_out_confirmed_search_choice": held_ok,
            "search_tests": [{"fp32_nodes": k, "holds": h} for k, h in tests],
            "achieved": final,
            "note": note,
        },
    }


def mixed_from_folder(
    reference: str | Path, amax: dict[str, float], folder: str | Path, *, max_batches: int, **kw
) -> tuple[bytes, dict[str, Any]]:
    """:func:`mixed_of_graph` on the first ``max_batches`` batches of a folder (BatchStream
    files or feed files), with the graph and the folder named in the layer map."""
    batches = list(islice(iter_folder(folder), max_batches))
    graph, layer_map = mixed_of_graph(reference, amax, batches=batches, **kw)
    layer_map["summary"]["graphs"] = {"fp32": str(reference), "ranges": kw.get("source")}
    layer_map["summary"]["feeds"] = str(folder)
    return graph, layer_map
