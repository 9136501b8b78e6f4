"""scripts/cli/verify_engines.py on the session's text run (the character model's, the
translator's, the digit classifier's and the recommender's tiny chains): every engine checked
against the graph it computes with ONNX Runtime standing in for TensorRT (exit 0, a line per
output), a wrong pick flagged (exit 1), and without a GPU every engine reported as not run
(exit 0)."""

import importlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ROOT
from tests.e2e.conftest import PRECISIONS, TEXT_SAMPLES
from workflow.ort.runner import OrtRunner
from workflow.samples import load_registry

pytestmark = pytest.mark.slow

SCRIPT = ROOT / "scripts/cli/verify_engines.py"


@pytest.fixture
def work(text_tree) -> Path:
    """The text run: its engines are those of :data:`TEXT_SAMPLES`."""
    return text_tree


def cli_module():
    """The tool behind scripts/cli/verify_engines.py and `trtsamples verify-engines`."""
    return importlib.import_module("workflow.tools.verify_engines")


class StandIn(OrtRunner):
    """ONNX Runtime on the graph an engine was built from (a network-API engine's reference
    graph), answering with the engine's outputs: for an engine with the recommender's TopK,
    the best candidates by a stable descending sort of the graph's scores (``swap``: the worst
    candidate in place of the second best). Records what it is fed."""

    fed: dict[str, list[dict[str, np.ndarray]]] = {}

    def __init__(self, plan: Path, meta_path: Path, *, swap: bool = False) -> None:
        meta = json.loads(Path(meta_path).read_text())
        graph = meta.get("reference_onnx") or meta["source"]["path"]
        # ONNX Runtime's NCHWc transform crashes on the FP16 LSTM graph: the strict level
        super().__init__(Path(meta_path).parent.parent / graph, optimization="ORT_ENABLE_EXTENDED")
        self.engine = Path(plan).name
        self.k = {o["name"]: o["shape"][-1] for o in meta["outputs"]}.get("top_scores")
        self.swap = swap

    def _infer(self, feed):
        StandIn.fed.setdefault(self.engine, []).append(feed)
        out = super()._infer(feed)
        if self.k is None:
            return out
        scores = out.pop("scores")
        order = np.argsort(-scores, axis=1, kind="stable")
        best = order[:, : self.k].copy()
        if self.swap:
            best[:, 1] = order[:, -1]
        out["top_movies"] = np.take_along_axis(feed["movies"], best, axis=1)
        out["top_scores"] = np.take_along_axis(scores, best, axis=1)
        return out


def test_every_engine_matches_its_graph(work, tmp_path, monkeypatch, capsys):
    cli = cli_module()
    monkeypatch.setattr(cli, "TrtRunner", lambda plan, meta, module: StandIn(plan, meta))
    report = tmp_path / "verify.json"
    status = cli.main(["--engines", str(work / "engines"), "--json", str(report)])
    out = capsys.readouterr()
    assert status == 0, out.out + out.err
    lines = set(out.out.splitlines())
    metas = sorted(path.name for path in (work / "engines").glob("*.plan.json"))
    expected = {
        "movielens": ["top_movies", "top_scores"],
        "charrnn": ["cn", "hn", "logits", "next"],
        "nmt_encoder": ["c", "h", "keys", "memory"],
        "nmt_decoder": [
            "attention_out",
            "beam_index",
            "beam_scores",
            "c_out",
            "h_out",
            "logprobs",
        ],
    }
    for graph, outputs in expected.items():
        for precision in ("fp32", "fp16"):
            for name in outputs:
                line = f"{graph}_{precision}.plan.json {name}: max 0 mean 0 ok"
                assert line in lines, (line, out.out)
    assert "movielens_int8.plan.json top_movies: max 0 mean 0 ok" in lines
    reports = json.loads(report.read_text())
    registry = load_registry(work / "config/samples.yaml")
    built = [
        f"{Path(plan).name}.json"
        for name in TEXT_SAMPLES
        if registry.samples[name]["builder"] != "serve"  # it serves its weights sample's
        for precision in PRECISIONS
        if precision in registry.samples[name]["precisions"]
        for plan in registry.engines(name, precision)
    ]
    assert sorted(reports) == metas == sorted(built) and len(metas) >= 12
    assert {r["status"] for r in reports.values()} == {"ok"}

    # the ids fed are valid and not all 0: within the tiny config's users, movies, vocabularies
    def fed(engine: str, name: str) -> np.ndarray:
        return np.concatenate([feed[name].ravel() for feed in StandIn.fed[engine]])

    chars = len(json.loads((work / "results/data/text-embedded/vocab.json").read_text()))
    data = work / "results/data/translation-numbers"
    vocab_fr = len((data / "vocab.fr").read_text().splitlines())
    vocab_en = len((data / "vocab.en").read_text().splitlines())
    for engine, name, size in [
        ("movielens_fp32.plan", "user", 150),
        ("movielens_fp32.plan", "movies", 300),
        ("charrnn_fp16.plan", "tokens", chars),
        ("nmt_encoder_fp32.plan", "source", vocab_fr),
        ("nmt_decoder_fp32.plan", "token", vocab_en),
    ]:
        ids = fed(engine, name)
        assert ids.min() >= 0 and ids.max() < size, (engine, name)
        assert len(np.unique(ids)) > min(size, ids.size) // 2, (engine, name)


def test_a_wrong_pick_is_a_mismatch(work, monkeypatch, capsys):
    one = work / "one-engine"  # beside engines/: the stand-in finds the graph from there
    one.mkdir(exist_ok=True)
    for suffix in (".plan", ".plan.json"):
        shutil.copy2(work / f"engines/movielens_fp32{suffix}", one / f"movielens_fp32{suffix}")
    cli = cli_module()
    monkeypatch.setattr(cli, "TrtRunner", lambda plan, meta, module: StandIn(plan, meta, swap=True))
    assert cli.main(["--engines", str(one)]) == 1
    out = capsys.readouterr().out
    assert "movielens_fp32.plan.json top_movies:" in out and "DIFFERS" in out


def test_without_a_gpu_every_engine_is_not_run(work):
    from workflow.trt.gpu import gpu_info

    if gpu_info()[0] is not None:
        pytest.skip("this machine has a GPU")
    done = subprocess.run(
        [sys.executable, str(SCRIPT)], cwd=work, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr
    metas = sorted(path.name for path in (work / "engines").glob("*.plan.json"))
    lines = done.stdout.splitlines()
    assert len(lines) == len(metas)
    for meta, line in zip(metas, lines, strict=True):
        assert line.startswith(f"{meta}: not run: engine execution needs a CUDA GPU"), line
