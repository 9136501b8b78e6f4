"""Does a mixed INT8/FP32 engine compute as its layer map says?

Rule precision_mixed writes ``mixed.onnx`` and its layer map ``mixed.layers.json``
(``workflow.score.mixed``: per quantized node, ``int8`` or ``fp32``); the engine built from that
graph has a layer report (``workflow.trt.layers``: per compute node of the graph, the engine
layer that runs it and that layer's precision). :func:`check_against_map` puts the two side by
side, node by node: every node the map says INT8 must run in an INT8 layer, every node it keeps
FP32 in an FP32 one, and every compute node the map does not name (one the INT8 graph does not
quantize) in FP32 too. A node the builder removed (its output reaches no graph output) runs in
no layer and is listed apart, not counted as a difference.
"""

from typing import Any

from workflow.errors import PipelineError

#: What a compute node the layer map does not name is meant to run in: the mixed graph leaves
#: it as the FP32 graph has it.
UNMAPPED = "fp32"


def check_against_map(report: dict[str, Any], layer_map: dict[str, Any]) -> dict[str, Any]:
    """Compare an engine's layer report with the layer map its graph was made from.

    Args:
        report: the engine's layer report (``engines/<model>_mixed.layers.json``).
        layer_map: the mixed graph's layer map (``results/precision/<model>/mixed.layers.json``).

    Returns:
        ``{"agrees", "nodes", "by_precision", "int8_share", "differences", "removed",
        "unmapped", "compute_layers"}``: whether every node runs as the map says; how many
        nodes were compared; per precision of the map, how many nodes it names and how many of
        them run in it; the INT8 share of the compared nodes by the map and by the engine; per
        node that differs, ``node``, ``op``, ``map`` (its precision by the map), ``graph``
        (what the graph means it to compute in, by the layer report), ``engine`` (the precision
        of the layer that runs it), ``layer`` and ``why``; the nodes the builder removed; the
        compute nodes the map does not name (with the precision they run in); the engine's
        multiplying layers by precision.

    Raises:
        PipelineError: the layer report is an error report (it could not be read or matched to
            the graph), or names none of the map's nodes.
    """
    if report.get("error"):
        raise PipelineError(
            "engine layer report",
            report["error"],
            "the map cannot be checked without a layer report; see the engine build's log",
        )
    meant = {row["node"]: row["precision"] for row in layer_map["nodes"]}
    runs = {row["node"]: row for row in report["compute"]}
    if meant and not set(meant) & set(runs):
        raise PipelineError(
            "engine layer report",
            f"names none of the layer map's {len(meant)} nodes",
            "check that the engine was built from the map's mixed.onnx",
        )
    differences: list[dict[str, Any]] = []
    removed: list[str] = []
    unmapped: list[dict[str, Any]] = []
    counts = {p: {"nodes": 0, "as_map": 0} for p in sorted(set(meant.values()))}
    engine_int8 = 0
    for node, precision in meant.items():
        row = runs.get(node)
        if row is not None and row.get("removed"):
            removed.append(node)
            continue
        counts[precision]["nodes"] += 1
        if row is None:
            differences.append(_difference(node, precision, None, "no compute node of the report"))
            continue
        engine_int8 += row["precision"] == "int8"
        if row["precision"] == precision and row["intended"] == precision:
            counts[precision]["as_map"] += 1
            continue
        why = (
            f"the graph means it for {row['intended']}"
            if row["intended"] != precision
            else f"its engine layer computes in {row['precision']}"
        )
        differences.append(_difference(node, precision, row, why))
    for node, row in runs.items():
        if node in meant or row.get("removed"):
            continue
        unmapped.append({"node": node, "op": row["op"], "engine": row["precision"]})
        if row["precision"] != UNMAPPED:
            differences.append(
                _difference(node, UNMAPPED, row, "not in the map (not quantized), yet not FP32")
            )
    compared = sum(c["nodes"] for c in counts.values())
    map_int8 = counts.get("int8", {"nodes": 0})["nodes"]
    return {
        "agrees": not differences,
        "nodes": compared,
        "by_precision": counts,
        "int8_share": {
            "map": map_int8 / compared if compared else 0.0,
            "engine": engine_int8 / compared if compared else 0.0,
        },
        "differences": differences,
        "removed": removed,
        "unmapped": unmapped,
        "compute_layers": report.get("compute_layers", {}),
    }


def _difference(node: str, meant: str, row: dict[str, Any] | None, why: str) -> dict[str, Any]:
    return {
        "node": node,
        "op": None if row is None else row["op"],
        "map": meant,
        "graph": None if row is None else row["intended"],
        "engine": None if row is None else row["precision"],
        "layer": None if row is None else row["layer"],
        "why": why,
    }


def mismatch_error(check: dict[str, Any], plan: str, shown: int = 8) -> PipelineError:
    """The error a check that does not agree raises: how many nodes differ, the first
    ``shown`` of them with their precisions by the map and by the engine."""
    rows = check["differences"]
    listed = "; ".join(
        f"{d['node']} ({d['op']}): map {d['map']}, engine {d['engine']}" for d in rows[:shown]
    )
    more = f"; and {len(rows) - shown} more" if len(rows) > shown else ""
    return PipelineError(
        plan,
        f"{len(rows)} of {check['nodes']} nodes do not run as mixed.layers.json says: "
        f"{listed}{more}",
        "the builder chose other precisions than the graph's Q/DQ placement; see the check's "
        "log for every node",
    )
