"""Check built engines against the ONNX graphs they came from (like ``polygraphy run --trt
--onnxrt``): same random inputs through TensorRT and ONNX Runtime, outputs compared.

Running the engines needs a GPU; everything else does not, and is done for every engine even
where the engine itself cannot run: the metadata is read, the plan's bytes and the source's
bytes are checked against the sha256 the metadata holds, the graph the engine computes is made
(the source graph; for an engine of the ``onnx_topk`` builder, that graph with the same TopK,
see :func:`with_top_k`), valid inputs are drawn (integer inputs uniformly over the table they
index, see :func:`integer_ranges`) and the graph is run on them with ONNX Runtime.

An integer output that names the winners of a TopK (a next character, a beam's candidates, the
best movies) is compared by the reference's values of the entries it picks, so that two runs
that break a tie (or a near tie, within the tolerance) differently both pass, and a pick that
is not among the reference's best fails (:func:`picked_values`).
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from workflow.backend.base import BaseRunner
from workflow.backend.compare import ScoreReport, compare
from workflow.errors import EngineMismatch, GpuUnavailable, PipelineError, TensorRTUnavailable
from workflow.io import sha256_file
from workflow.ort.runner import OrtRunner
from workflow.repro import ORT_OPTIMIZATION
from workflow.score.recommend import SCORES, TOP_MOVIES, TOP_SCORES
from workflow.trt.runner import TRT_DTYPES

#: Errors of a runner that cannot run an engine on this machine (no GPU, no TensorRT, a
#: TensorRT or GPU other than the engine was built for): the engine is reported as not run.
NOT_RUN = (GpuUnavailable, TensorRTUnavailable, EngineMismatch)

#: ONNX Runtime's graph optimization level for the reference run: the strict mode's, short of
#: the NCHWc layout transform (ONNX Runtime 1.32 crashes making it for a float16 LSTM graph).
REFERENCE_OPTIMIZATION = ORT_OPTIMIZATION["strict"]

#: The candidates input an ``onnx_topk`` engine picks its movies from (workflow.trt.topk).
CANDIDATES = "movies"

#: Operators an integer input passes through unchanged in value on its way to a Gather, and an
#: index output on its way from a TopK.
PASS_THROUGH = frozenset({"Cast", "Identity", "Reshape", "Flatten", "Squeeze", "Unsqueeze"})


def reference_onnx(meta: dict[str, Any]) -> str:
    """The ONNX graph an engine must match: the graph it was parsed from, or for a network-API
    engine the ONNX emitted from the same layer description.

    Raises:
        PipelineError: the metadata names no ONNX graph.
    """
    path = meta.get("reference_onnx") or meta["source"]["path"]
    if not str(path).endswith(".onnx"):
        raise PipelineError("engine metadata", f"no ONNX reference (source {path})")
    return str(path)


def locate(path: str | Path, meta_path: str | Path) -> Path:
    """A path named in an engine's metadata: as written when absolute; else relative to the
    workflow folder the ``engines/`` folder sits in, or to the current folder.

    Raises:
        PipelineError: the file is in neither place.
    """
    path = Path(path)
    if path.is_absolute():
        places = [path]
    else:
        places = [Path(meta_path).parent.parent / path, path]
    for place in places:
        if place.is_file():
            return place
    raise PipelineError(
        meta_path,
        f"names {path}, which is not in {' or '.join(str(p) for p in dict.fromkeys(places))}",
        "run the check from the workflow folder, or rebuild what the engine came from "
        "(snakemake <engine plan>)",
    )


def read_engine_meta(meta_path: str | Path) -> dict[str, Any]:
    """An engine's ``.plan.json``, its plan beside it checked against the sha256 it holds.

    Raises:
        PipelineError: the metadata is unreadable or incomplete, or the plan is missing or
            differs from the sha256 in the metadata.
    """
    meta_path = Path(meta_path)
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        plan_digest = meta["plan"]["sha256"]
        missing = [key for key in ("inputs", "outputs", "source", "build") if key not in meta]
        if missing:
            raise KeyError(", ".join(missing))
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise PipelineError(
            meta_path,
            f"unreadable engine metadata ({type(err).__name__}: {err})",
            f"rebuild the engine: snakemake {meta_path.with_suffix('')}",
        ) from err
    plan = meta_path.with_name(meta_path.name.removesuffix(".json"))
    if not plan.is_file():
        raise PipelineError(plan, "no plan beside its metadata", f"rebuild it: snakemake {plan}")
    if sha256_file(plan) != plan_digest:
        raise PipelineError(
            plan,
            "plan bytes differ from the sha256 in its metadata",
            f"rebuild it: snakemake {plan}",
        )
    return meta


def engine_graph(meta: dict[str, Any], meta_path: str | Path) -> Any:
    """The ONNX model an engine computes, after checking that its source is the one it was
    built from (sha256 in the metadata): the source graph (or a network-API engine's reference
    graph); for an engine whose outputs are the best movies and their scores, that graph with
    the TopK the engine builder added (:func:`with_top_k`).

    Raises:
        PipelineError: no ONNX reference, a changed or missing source, or engine outputs that
            the graph does not have and no known edit makes.
    """
    import onnx

    source = locate(meta["source"]["path"], meta_path)
    if sha256_file(source) != meta["source"]["sha256"]:
        raise PipelineError(
            source,
            f"differs from the sha256 {meta_path} was built from: the engine is stale",
            f"rebuild it: snakemake {Path(meta_path).with_suffix('')}",
        )
    path = locate(reference_onnx(meta), meta_path)
    model = onnx.load(str(path))
    engine_outputs = [item["name"] for item in meta["outputs"]]
    graph_outputs = [item.name for item in model.graph.output]
    if set(engine_outputs) == set(graph_outputs):
        return model
    inputs = {item.name for item in model.graph.input}
    if set(engine_outputs) == {TOP_MOVIES, TOP_SCORES} and SCORES in graph_outputs:
        if CANDIDATES in inputs:
            k = next(item["shape"][-1] for item in meta["outputs"] if item["name"] == TOP_SCORES)
            return with_top_k(model, k=k)
    raise PipelineError(
        meta_path,
        f"engine outputs {sorted(engine_outputs)}, its graph {path} outputs "
        f"{sorted(graph_outputs)}",
        "rebuild the engine from that graph (snakemake <engine plan>)",
    )


def with_top_k(model: Any, *, k: int) -> Any:
    """The recommender graph with the TopK that ``workflow.trt.topk.add_top_k`` adds to its
    TensorRT network, in ONNX: ``scores`` (N, K) -> TopK (largest, sorted, along the candidates)
    -> ``top_scores`` and the candidates' positions; GatherElements of ``movies`` at those
    positions -> ``top_movies``. ``scores`` is no longer an output.

    Args:
        model: an ONNX model with input ``movies`` (N, K) and output ``scores`` (N, K).
        k: how many candidates to keep.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.ModelProto.FromString(model.SerializeToString())
    graph = model.graph
    scores = next(item for item in graph.output if item.name == SCORES)
    kind = scores.type.tensor_type.elem_type
    graph.initializer.append(numpy_helper.from_array(np.array([k], np.int64), "verify_top_k"))
    graph.node.extend(
        [
            helper.make_node(
                "TopK",
                [SCORES, "verify_top_k"],
                [TOP_SCORES, "verify_top_positions"],
                axis=1,
                largest=1,
                sorted=1,
            ),
            helper.make_node(
                "GatherElements", [CANDIDATES, "verify_top_positions"], [TOP_MOVIES], axis=1
            ),
        ]
    )
    graph.output.remove(scores)
    graph.output.extend(
        [
            helper.make_tensor_value_info(TOP_MOVIES, TensorProto.INT64, None),
            helper.make_tensor_value_info(TOP_SCORES, kind, None),
        ]
    )
    return model


def _consumers(graph: Any) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    for node in graph.node:
        for name in node.input:
            found.setdefault(name, []).append(node)
    return found


def _static_shapes(model: Any) -> dict[str, list[int | None]]:
    """Every tensor's shape that ONNX shape inference, the initializers and Constant nodes give
    (unknown dimensions are ``None``)."""
    import onnx
    from onnx import numpy_helper

    shapes: dict[str, list[int | None]] = {}
    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception:  # noqa: BLE001 - inference is a help here; initializers remain
        inferred = model
    graph = inferred.graph
    for item in [*graph.value_info, *graph.input, *graph.output]:
        if item.type.tensor_type.HasField("shape"):
            shapes[item.name] = [
                dim.dim_value if dim.HasField("dim_value") else None
                for dim in item.type.tensor_type.shape.dim
            ]
    for init in graph.initializer:
        shapes[init.name] = list(init.dims)
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            shapes[node.output[0]] = list(numpy_helper.to_array(node.attribute[0].t).shape)
    return shapes


def integer_ranges(model: Any) -> dict[str, int]:
    """How many values each integer input of a graph can take: the size of the table it indexes
    (the smallest, where it indexes several), found by following the input through value-keeping
    operators (:data:`PASS_THROUGH`) to the indices of a ``Gather`` whose data has a known size
    along the Gather's axis. Inputs that reach no such Gather are left out.
    """
    from onnx import TensorProto

    integer = {TensorProto.INT32, TensorProto.INT64, TensorProto.INT8, TensorProto.UINT8}
    graph = model.graph
    consumers = _consumers(graph)
    shapes = _static_shapes(model)
    ranges = {}
    for item in graph.input:
        if item.type.tensor_type.elem_type not in integer:
            continue
        sizes, todo, seen = [], [item.name], set()
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            seen.add(name)
            for node in consumers.get(name, []):
                if node.op_type in PASS_THROUGH and node.input[0] == name:
                    todo.append(node.output[0])
                elif node.op_type == "Gather" and len(node.input) > 1 and node.input[1] == name:
                    axis = next((a.i for a in node.attribute if a.name == "axis"), 0)
                    table = shapes.get(node.input[0])
                    if table and -len(table) <= axis < len(table) and table[axis]:
                        sizes.append(int(table[axis]))
        if sizes:
            ranges[item.name] = min(sizes)
    return ranges


def feed_shapes(meta: dict[str, Any], *, batch: int | None) -> dict[str, list[int]]:
    """The input shapes of an engine: its profile's optimum; with ``batch``, every input's first
    dynamic dimension scaled so that the smallest of them is ``batch`` (a translator's rows,
    batch x beam, grow with its batch), checked against the profile's range.

    Raises:
        PipelineError: an input with a dynamic shape and no profile, a first dynamic dimension
            that is not a multiple of the batch, or a batch outside the profile.
    """
    profile = meta["build"].get("profile") or {}
    shapes, first = {}, {}
    for item in meta["inputs"]:
        name, declared = item["name"], item["shape"]
        dynamic = [axis for axis, dim in enumerate(declared) if dim < 0]
        if name in profile:
            shapes[name] = list(profile[name]["opt"])
        elif not dynamic:
            shapes[name] = list(declared)
        else:
            raise PipelineError(
                "engine metadata",
                f"input {name!r} has shape {declared} and no optimization profile",
                "rebuild the engine (snakemake <engine plan>)",
            )
        if dynamic:
            first[name] = dynamic[0]
    if batch is None or not first:
        return shapes
    base = min(shapes[name][axis] for name, axis in first.items())
    for name, axis in first.items():
        if shapes[name][axis] % base:
            raise PipelineError(
                "--batch",
                f"input {name!r} has {shapes[name][axis]} rows at the profile's optimum, not a "
                f"multiple of its batch {base}",
                "leave --batch out to use the profile's optimum",
            )
        shapes[name][axis] = batch * shapes[name][axis] // base
        low, high = profile[name]["min"], profile[name]["max"]
        if not all(a <= b <= c for a, b, c in zip(low, shapes[name], high, strict=True)):
            raise PipelineError(
                "--batch",
                f"{batch} makes input {name!r} {shapes[name]}, outside the engine's profile "
                f"{low} .. {high}",
                "choose a batch within the profile, or leave --batch out",
            )
    return shapes


def feed_from_meta(
    meta: dict[str, Any],
    *,
    batch: int | None,
    seed: int,
    ranges: dict[str, int] | None = None,
) -> dict[str, np.ndarray]:
    """Seeded random inputs of the engine's input shapes (:func:`feed_shapes`): floats uniform
    in [0, 1), integers uniform over [0, their range), booleans fair coins.

    Args:
        meta: the engine's ``.plan.json``.
        batch: batch size; ``None`` takes the profile's optimum.
        seed: random seed.
        ranges: how many values each integer input can take (:func:`integer_ranges`).

    Raises:
        PipelineError: an integer input with no known range.
    """
    rng = np.random.default_rng(seed)
    ranges = ranges or {}
    shapes = feed_shapes(meta, batch=batch)
    feed = {}
    for item in meta["inputs"]:
        name, dtype = item["name"], TRT_DTYPES[item["dtype"]]
        shape = shapes[name]
        if dtype == np.bool_:
            feed[name] = rng.random(shape) < 0.5
        elif np.issubdtype(dtype, np.integer):
            if name not in ranges:
                raise PipelineError(
                    f"engine input {name!r} ({item['dtype']})",
                    "its valid values are unknown: it reaches no Gather of a table of known "
                    "size in the engine's graph",
                    "give the graph's Gather a constant table (an initializer), or check this "
                    "engine with inputs of your own through workflow.score.verify",
                )
            feed[name] = rng.integers(0, ranges[name], size=shape).astype(dtype)
        else:
            feed[name] = rng.random(shape).astype(dtype)
    return feed


@dataclass(frozen=True)
class Ranked:
    """An integer output holding a TopK's winners: positions along ``axis`` of ``values`` (the
    TopK's input), or, with ``pool``, the entries of that input picked at those positions;
    ``chosen`` is the TopK's output of the winners' values."""

    output: str
    values: str
    chosen: str
    axis: int
    pool: str | None = None


def ranked_outputs(model: Any) -> dict[str, Ranked]:
    """The outputs of a graph that hold a TopK's winners, found by following each output back
    through value-keeping operators (:data:`PASS_THROUGH`) to a TopK's indices, or to a
    ``GatherElements`` of a graph input at such indices."""
    graph = model.graph
    producer = {name: node for node in graph.node for name in node.output}
    inputs = {item.name for item in graph.input}

    def source(name: str) -> tuple[Any, str]:
        """The node that makes ``name``'s values, and which of its outputs carries them."""
        node = producer.get(name)
        while node is not None and node.op_type in PASS_THROUGH:
            name, node = node.input[0], producer.get(node.input[0])
        return node, name

    found = {}
    for item in graph.output:
        node, name = source(item.name)
        pool = None
        if node is not None and node.op_type == "GatherElements" and node.input[0] in inputs:
            pool = node.input[0]
            node, name = source(node.input[1])
        if node is None or node.op_type != "TopK" or name != node.output[1]:
            continue
        axis = next((a.i for a in node.attribute if a.name == "axis"), -1)
        found[item.name] = Ranked(item.name, node.input[0], node.output[0], axis, pool)
    return found


def with_outputs(model: Any, names: list[str]) -> Any:
    """A copy of ``model`` that also outputs the tensors ``names`` (types from shape
    inference)."""
    import onnx
    from onnx import helper

    have = {item.name for item in model.graph.output}
    names = [name for name in names if name not in have]
    if not names:
        return model
    inferred = onnx.shape_inference.infer_shapes(model)
    kinds = {
        item.name: item.type.tensor_type.elem_type
        for item in [*inferred.graph.value_info, *inferred.graph.input]
    }
    missing = [name for name in names if not kinds.get(name)]
    if missing:
        raise PipelineError("engine graph", f"no type inferred for tensors {missing}")
    model = onnx.ModelProto.FromString(model.SerializeToString())
    model.graph.output.extend(helper.make_tensor_value_info(n, kinds[n], None) for n in names)
    return model


def picked_values(
    values: np.ndarray, picks: np.ndarray, *, axis: int, pool: np.ndarray | None = None
) -> np.ndarray:
    """The entries of ``values`` that ``picks`` designates along ``axis``: positions, or with
    ``pool`` (same shape as ``values``), entries of ``pool`` found at the first position holding
    them. A position out of range, or an entry the row does not hold, gives NaN (a failure).

    Args:
        values: what a TopK ranked, e.g. every candidate's score.
        picks: the winners a run named, shaped like the TopK's output.
        axis: the TopK's axis.
        pool: the entries picked from, e.g. the candidate movie ids.
    """
    values = np.asarray(values, dtype=np.float64)
    axis = axis % values.ndim
    picks = np.asarray(picks).astype(np.int64)
    if pool is not None:
        pool = np.moveaxis(np.asarray(pool), axis, -1)[..., None, :]
        wanted = np.moveaxis(picks, axis, -1)[..., :, None]
        match = pool == wanted
        positions = np.where(match.any(-1), match.argmax(-1), -1)
        picks = np.moveaxis(positions, -1, axis)
    valid = (picks >= 0) & (picks < values.shape[axis])
    out = np.take_along_axis(values, np.where(valid, picks, 0), axis=axis)
    out[~valid] = np.nan
    return out


def _by_picked_values(
    ranked: dict[str, Ranked],
    expected: dict[str, np.ndarray],
    got: dict[str, np.ndarray],
    feed: dict[str, np.ndarray],
    extra: set[str],
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Both runs' ranked outputs replaced by the reference's values of what they pick; the
    tensors added to the reference only for this are dropped."""
    expected, got = dict(expected), dict(got)
    for name, rank in ranked.items():
        if name not in got or np.shape(got[name]) != np.shape(expected[name]):
            continue  # compare() names the missing output or the shape
        chosen = np.asarray(expected[rank.chosen], dtype=np.float64)
        picks = np.reshape(got[name], chosen.shape)
        pool = feed[rank.pool] if rank.pool else None
        picked = picked_values(expected[rank.values], picks, axis=rank.axis, pool=pool)
        expected[name] = chosen.reshape(np.shape(got[name]))
        got[name] = picked.reshape(np.shape(got[name]))
    for name in extra:
        expected.pop(name, None)
    return expected, got


#: Tolerances of an engine against the graph it was built from, by the engine's precision:
#: FP32 (TF32 off) agrees to float rounding; FP16 to half precision; an INT8 engine fuses and
#: accumulates differently from ONNX Runtime's Q/DQ emulation, so its class scores are judged
#: by top-1 agreement and its other outputs by a loose element check.
TOLERANCES: dict[str, dict[str, float]] = {
    "fp32": {"atol": 1e-4, "rtol": 1e-3},
    "fp16": {"atol": 1e-2, "rtol": 1e-2},
    "int8": {"atol": 5e-2, "rtol": 5e-2, "min_top1": 0.99},
}


def engine_precision(meta_path: str | Path) -> str:
    """The precision of an engine from its file name ``<sample>_<precision>.plan.json``; a
    refit engine (``<sample>.plan.json``) is FP32."""
    stem = Path(meta_path).name.removesuffix(".plan.json")
    tail = stem.rsplit("_", 1)[-1]
    return tail if tail in TOLERANCES else "fp32"


def verify_engine(
    meta_path: str | Path,
    *,
    candidate: Callable[[Path, Path], BaseRunner],
    batch: int | None,
    seed: int,
    atol: float | None = None,
    rtol: float | None = None,
) -> ScoreReport:
    """Run an engine and the graph it computes on the same inputs and compare the outputs.

    The reference side (metadata, plan and source checks, the graph, the inputs, the ONNX
    Runtime run) is done first, so that an engine this machine cannot run is still checked as
    far as it can be.

    Args:
        meta_path: the engine's ``.plan.json`` (the plan beside it).
        candidate: makes the runner under test from (plan path, metadata path); the TensorRT
            runner on a GPU host.
        batch, seed: the inputs (see :func:`feed_from_meta`).
        atol, rtol: tolerances of :func:`workflow.backend.compare.compare`. Defaults to the
            :data:`TOLERANCES` of the engine's precision (INT8 also judges class scores by
            top-1 agreement).

    Raises:
        PipelineError: broken metadata, plan or source (:func:`read_engine_meta`,
            :func:`engine_graph`), inputs that cannot be made, or outputs that do not match
            by name or shape; one of :data:`NOT_RUN` where the candidate cannot run here.
    """
    meta_path = Path(meta_path)
    meta = read_engine_meta(meta_path)
    model = engine_graph(meta, meta_path)
    feed = feed_from_meta(meta, batch=batch, seed=seed, ranges=integer_ranges(model))
    ranked = ranked_outputs(model)
    wanted = [name for rank in ranked.values() for name in (rank.values, rank.chosen)]
    outputs = {item.name for item in model.graph.output}
    extra = {name for name in wanted if name not in outputs}
    reference = with_outputs(model, wanted).SerializeToString()
    with OrtRunner(reference, optimization=REFERENCE_OPTIMIZATION) as runner:
        expected = runner.infer(dict(feed))
    plan = meta_path.with_name(meta_path.name.removesuffix(".json"))
    with candidate(plan, meta_path) as runner:
        got = runner.infer(dict(feed))
    expected, got = _by_picked_values(ranked, expected, got, feed, extra)
    tolerance = TOLERANCES[engine_precision(meta_path)]
    return compare(
        expected,
        got,
        atol=tolerance["atol"] if atol is None else atol,
        rtol=tolerance["rtol"] if rtol is None else rtol,
        min_top1=tolerance.get("min_top1"),
    )


@dataclass(frozen=True)
class EngineCheck:
    """How one engine fared: ``ok``, ``differs`` (a real mismatch), ``not run`` (this machine
    cannot run it; its reference side was checked) or ``broken`` (unreadable or stale
    metadata, plan or source, or outputs that do not match by name or shape)."""

    name: str
    status: str
    reason: str | None = None
    report: ScoreReport | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "reason": self.reason} | (
            self.report.to_dict() if self.report else {}
        )


#: Exit status of a check of several engines, by the worst status among them.
EXIT_STATUS = {"ok": 0, "not run": 0, "differs": 1, "broken": 2}


def verify_engines(
    meta_paths: list[Path],
    *,
    candidate: Callable[[Path, Path], BaseRunner],
    batch: int | None,
    seed: int,
    atol: float | None = None,
    rtol: float | None = None,
) -> list[EngineCheck]:
    """:func:`verify_engine` for each engine, each failure kept as that engine's status (see
    :class:`EngineCheck`); the exit status of the lot is the largest :data:`EXIT_STATUS`."""
    checks = []
    for meta_path in meta_paths:
        name = Path(meta_path).name
        try:
            report = verify_engine(
                meta_path, candidate=candidate, batch=batch, seed=seed, atol=atol, rtol=rtol
            )
        except NOT_RUN as err:
            checks.append(EngineCheck(name, "not run", err.problem))
        except PipelineError as err:
            checks.append(EngineCheck(name, "broken", str(err)))
        else:
            checks.append(EngineCheck(name, "ok" if report.passed else "differs", None, report))
    return checks
