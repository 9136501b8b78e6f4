"""The CPU part of engine verification, with ONNX Runtime standing in for TensorRT."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ROOT, tiny_classifier_bytes, tiny_recommender_bytes
from workflow.backend.compare import compare
from workflow.errors import PipelineError
from workflow.ort.runner import OrtRunner
from workflow.score.verify import feed_from_meta, reference_onnx, verify_engine


def test_feed_follows_the_profile_and_the_seed(tiny_engine):
    feed = feed_from_meta(tiny_engine.meta, batch=None, seed=3)
    assert feed["input"].shape == (4, 1, 4, 4) and feed["input"].dtype == np.float32
    np.testing.assert_array_equal(
        feed["input"], feed_from_meta(tiny_engine.meta, batch=None, seed=3)["input"]
    )
    assert feed_from_meta(tiny_engine.meta, batch=2, seed=3)["input"].shape == (2, 1, 4, 4)


def test_reference_graph():
    assert reference_onnx({"source": {"path": "a.onnx"}}) == "a.onnx"
    assert reference_onnx({"source": {"path": "w.wts"}, "reference_onnx": "b.onnx"}) == "b.onnx"
    with pytest.raises(PipelineError, match="no ONNX reference"):
        reference_onnx({"source": {"path": "w.wts"}})


def test_compare_reports_each_output():
    ref = {"a": np.array([1.0, 2.0]), "b": np.zeros(3)}
    report = compare(ref, {"a": np.array([1.0, 2.1]), "b": np.zeros(3)}, atol=1e-3, rtol=0.0)
    a, b = report.outputs
    assert a.max_abs == pytest.approx(0.1) and a.mean_abs == pytest.approx(0.05) and not a.passed
    assert b.passed and not report.passed
    assert report.to_dict()["outputs"][0]["name"] == "a"
    with pytest.raises(PipelineError, match="shape"):
        compare(ref, {"a": np.zeros(3), "b": np.zeros(3)}, atol=0, rtol=0)


def test_engine_against_its_graph(tiny_engine, tmp_path):
    same = verify_engine(
        tiny_engine.meta_path,
        candidate=lambda plan, meta: OrtRunner(tiny_engine.onnx),
        batch=None,
        seed=0,
        atol=1e-6,
        rtol=0.0,
    )
    assert same.passed and same.outputs[0].max_abs == 0.0
    other = tmp_path / "other.onnx"
    other.write_bytes(tiny_classifier_bytes(seed=5))
    differs = verify_engine(
        tiny_engine.meta_path,
        candidate=lambda plan, meta: OrtRunner(other),
        batch=None,
        seed=0,
        atol=1e-6,
        rtol=0.0,
    )
    assert not differs.passed and differs.outputs[0].max_abs > 0.01


@pytest.mark.slow
def test_script_without_gpu_checks_the_reference_and_says_why(tiny_engine, tmp_path):
    from workflow.trt.gpu import gpu_info

    if gpu_info()[0] is not None:
        pytest.skip("this machine has a GPU")
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts/cli/verify_engines.py"),
            "--engines",
            str(tiny_engine.plan.parent),
            "--json",
            str(tmp_path / "r.json"),
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert "tiny.plan.json: not run: engine execution needs a CUDA GPU" in out.stdout
    report = json.loads((tmp_path / "r.json").read_text())["tiny.plan.json"]
    assert report["status"] == "not run" and "CUDA GPU" in report["reason"]


@pytest.mark.slow
def test_script_fails_on_broken_metadata(tiny_engine, tmp_path):
    engines = tmp_path / "engines"
    engines.mkdir()
    (engines / "tiny.plan").write_bytes(tiny_engine.plan.read_bytes())
    meta = dict(tiny_engine.meta, plan={"sha256": "0" * 64, "bytes": 1})
    (engines / "tiny.plan.json").write_text(json.dumps(meta))
    (engines / "cut.plan.json").write_text("{")
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts/cli/verify_engines.py"), "--engines", str(engines)],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2
    assert "cut.plan.json: broken:" in out.stderr and "unreadable engine metadata" in out.stderr
    assert "tiny.plan.json: broken:" in out.stderr and "differ from the sha256" in out.stderr


def test_tolerances_follow_the_engine_precision():
    from workflow.score.verify import TOLERANCES, engine_precision

    assert engine_precision("engines/mnist_int8.plan.json") == "int8"
    assert engine_precision("engines/mnist_api_fp32.plan.json") == "fp32"
    assert engine_precision("engines/mnist_refit.plan.json") == "fp32"
    assert TOLERANCES["fp16"]["atol"] > TOLERANCES["fp32"]["atol"]
    ref = {"prob": np.array([[0.1, 0.9], [0.6, 0.4]]), "box": np.zeros((2, 4))}
    close = {"prob": np.array([[0.3, 0.7], [0.55, 0.45]]), "box": np.full((2, 4), 0.01)}
    int8 = compare(ref, close, atol=5e-2, rtol=5e-2, min_top1=0.99)
    prob, box = sorted(int8.outputs, key=lambda o: o.name)[::-1]
    assert prob.top1_agreement == 1.0 and prob.passed and not prob.max_abs < 0.1
    assert box.top1_agreement is None or box.passed  # boxes take the element check
    flipped = {"prob": np.array([[0.6, 0.4], [0.55, 0.45]]), "box": np.zeros((2, 4))}
    assert not compare(ref, flipped, atol=5e-2, rtol=5e-2, min_top1=0.99).passed
    far = {"prob": ref["prob"], "box": np.ones((2, 4))}
    assert not compare(ref, far, atol=5e-2, rtol=5e-2, min_top1=0.99).passed


def _int_meta(inputs: dict[str, tuple[str, list[int]]]) -> dict:
    """Engine metadata of integer inputs ``{name: (dtype, opt shape)}`` with a dynamic batch."""
    return {
        "inputs": [
            {"name": name, "dtype": dtype, "shape": [-1, *shape[1:]]}
            for name, (dtype, shape) in inputs.items()
        ],
        "build": {
            "profile": {
                name: {"min": [1, *shape[1:]], "opt": shape, "max": [512, *shape[1:]]}
                for name, (_, shape) in inputs.items()
            }
        },
    }


def test_integer_inputs_are_drawn_over_the_tables_they_index():
    import onnx

    from workflow.score.verify import integer_ranges

    # tiny_recommender_bytes: user indexes a 6-row table, movies a 9-row one
    model = onnx.load_from_string(tiny_recommender_bytes())
    ranges = integer_ranges(model)
    assert ranges == {"user": 6, "movies": 9}
    meta = _int_meta({"user": ("int64", [300]), "movies": ("int64", [300, 4])})
    feed = feed_from_meta(meta, batch=None, seed=1, ranges=ranges)
    assert feed["user"].shape == (300,) and feed["movies"].shape == (300, 4)
    assert feed["user"].dtype == np.int64 and feed["movies"].dtype == np.int64
    assert set(np.unique(feed["user"])) == set(range(6))
    assert set(np.unique(feed["movies"])) == set(range(9))
    with OrtRunner(tiny_recommender_bytes()) as runner:  # every id is valid for the graph
        assert np.isfinite(runner.infer(feed)["scores"]).all()


def test_integer_input_through_a_cast_and_one_of_unknown_range():
    from onnx import TensorProto, helper, numpy_helper

    from workflow.score.verify import integer_ranges

    table = numpy_helper.from_array(np.zeros((7, 2), np.float32), "table")
    graph = helper.make_graph(
        [
            helper.make_node("Cast", ["tokens"], ["wide"], to=TensorProto.INT64),
            helper.make_node("Gather", ["table", "wide"], ["rows"]),
            helper.make_node("Cast", ["count"], ["count_f"], to=TensorProto.FLOAT),
        ],
        "g",
        [
            helper.make_tensor_value_info("tokens", TensorProto.INT32, ["n", 5]),
            helper.make_tensor_value_info("count", TensorProto.INT32, ["n"]),
        ],
        [
            helper.make_tensor_value_info("rows", TensorProto.FLOAT, None),
            helper.make_tensor_value_info("count_f", TensorProto.FLOAT, None),
        ],
        initializer=[table],
    )
    ranges = integer_ranges(helper.make_model(graph))
    assert ranges == {"tokens": 7}
    meta = _int_meta({"tokens": ("int32", [400, 5])})
    tokens = feed_from_meta(meta, batch=None, seed=0, ranges=ranges)["tokens"]
    assert tokens.dtype == np.int32 and set(np.unique(tokens)) == set(range(7))
    with pytest.raises(PipelineError, match="'count'.*valid values are unknown"):
        feed_from_meta(_int_meta({"count": ("int32", [4])}), batch=None, seed=0, ranges=ranges)


def test_batch_scales_rows_and_stays_in_the_profile():
    from workflow.score.verify import feed_shapes

    # a translator's decoder step: rows are batch x beam (5), the scores batch x beam
    meta = {
        "inputs": [
            {"name": "token", "dtype": "int32", "shape": [-1]},
            {"name": "keys", "dtype": "float", "shape": [-1, -1, 16]},
            {"name": "scores", "dtype": "float", "shape": [-1, -1]},
        ],
        "build": {
            "profile": {
                "token": {"min": [1], "opt": [40], "max": [320]},
                "keys": {"min": [1, 1, 16], "opt": [40, 16, 16], "max": [320, 24, 16]},
                "scores": {"min": [1, 1], "opt": [8, 5], "max": [64, 5]},
            }
        },
    }
    assert feed_shapes(meta, batch=None) == {
        "token": [40],
        "keys": [40, 16, 16],
        "scores": [8, 5],
    }
    assert feed_shapes(meta, batch=2) == {"token": [10], "keys": [10, 16, 16], "scores": [2, 5]}
    with pytest.raises(PipelineError, match="outside the engine's profile"):
        feed_shapes(meta, batch=65)


def test_picks_are_judged_by_the_reference_values():
    from workflow.score.verify import picked_values

    values = np.array([[0.5, 0.5, 0.1, 0.3]])
    # a tie broken the other way picks the same value; a worse or impossible pick does not
    np.testing.assert_array_equal(picked_values(values, np.array([[1, 0]]), axis=1), [[0.5, 0.5]])
    np.testing.assert_array_equal(picked_values(values, np.array([[0, 3]]), axis=1), [[0.5, 0.3]])
    assert np.isnan(picked_values(values, np.array([[0, 4]]), axis=1)[0, 1])
    pool = np.array([[11, 12, 13, 14]])
    picked = picked_values(values, np.array([[12, 14, 99]]), axis=1, pool=pool)
    np.testing.assert_array_equal(picked[0, :2], [0.5, 0.3])
    assert np.isnan(picked[0, 2])


class TopKStandIn(OrtRunner):
    """The engine's stand-in: ONNX Runtime on the source graph, then the best ``k`` candidates
    by a stable descending sort, as the TopK layer the engine builder adds answers;
    ``swap`` puts the worst candidate in place of the second best."""

    def __init__(self, onnx_path, k: int, swap: bool = False) -> None:
        super().__init__(onnx_path)
        self.k, self.swap = k, swap

    def _infer(self, feed):
        scores = super()._infer(feed)["scores"]
        order = np.argsort(-scores, axis=1, kind="stable")
        best = order[:, : self.k].copy()
        if self.swap:
            best[:, 1] = order[:, -1]
        return {
            "top_movies": np.take_along_axis(feed["movies"], best, axis=1),
            "top_scores": np.take_along_axis(scores, best, axis=1),
        }


@pytest.fixture(scope="module")
def top_k_engine(tmp_path_factory):
    """The tiny recommender built with the engine builder's TopK (k=2): workflow/engines/."""
    from tests.conftest import tiny_build
    from workflow.io import write_json_atomically
    from workflow.trt.loader import engine_bytes_from_onnx
    from workflow.trt.topk import add_top_k

    work = tmp_path_factory.mktemp("workflow")
    (work / "engines").mkdir()
    (work / "scorer.onnx").write_bytes(tiny_recommender_bytes())
    built = engine_bytes_from_onnx(
        work / "scorer.onnx", tiny_build(), edit=lambda trt, net: add_top_k(trt, net, k=2)
    )
    (work / "engines/rec_fp32.plan").write_bytes(built.plan)
    meta = built.meta | {"source": built.meta["source"] | {"path": "scorer.onnx"}}
    write_json_atomically(work / "engines/rec_fp32.plan.json", meta)
    return work


def test_top_k_engine_against_its_graph_with_the_same_top_k(top_k_engine):
    from workflow.errors import GpuUnavailable
    from workflow.score.verify import EXIT_STATUS, verify_engines

    meta_path = top_k_engine / "engines/rec_fp32.plan.json"
    assert [o["name"] for o in json.loads(meta_path.read_text())["outputs"]] == [
        "top_movies",
        "top_scores",
    ]
    graph = top_k_engine / "scorer.onnx"
    same = verify_engine(
        meta_path, candidate=lambda plan, meta: TopKStandIn(graph, 2), batch=None, seed=0
    )
    assert same.passed and {o.name for o in same.outputs} == {"top_movies", "top_scores"}
    swapped = verify_engine(
        meta_path, candidate=lambda plan, meta: TopKStandIn(graph, 2, swap=True), batch=3, seed=0
    )
    verdicts = {o.name: o.passed for o in swapped.outputs}
    assert verdicts == {"top_movies": False, "top_scores": False}

    def no_gpu(plan, meta):
        raise GpuUnavailable(plan, "engine execution needs a CUDA GPU (none)")

    checks = verify_engines(
        [meta_path, meta_path], candidate=no_gpu, batch=None, seed=0
    ) + verify_engines(
        [meta_path], candidate=lambda p, m: TopKStandIn(graph, 2, swap=True), batch=None, seed=0
    )
    assert [c.status for c in checks] == ["not run", "not run", "differs"]
    assert checks[0].reason.startswith("engine execution needs a CUDA GPU")
    assert max(EXIT_STATUS[c.status] for c in checks[:2]) == 0


def test_a_changed_source_graph_is_refused(top_k_engine, tmp_path):
    import shutil

    from workflow.score.verify import verify_engines

    work = Path(shutil.copytree(top_k_engine, tmp_path / "copy"))
    (work / "scorer.onnx").write_bytes(tiny_recommender_bytes(seed=1))
    (check,) = verify_engines(
        [work / "engines/rec_fp32.plan.json"],
        candidate=lambda p, m: TopKStandIn(work / "scorer.onnx", 2),
        batch=None,
        seed=0,
    )
    assert check.status == "broken" and "the engine is stale" in check.reason
