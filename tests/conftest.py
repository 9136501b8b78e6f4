"""Shared fixtures: tiny ONNX models built with onnx.helper, and real Snakemake runs."""

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
#: What a workflow copy needs; outputs are not copied.
WORKFLOW_FILES = (
    "Snakefile",
    "rules",
    "scripts",
    "config",
    "profiles",
    "report",
    "plugins",
    "environment.yml",
)


#: The session fixtures of the shared tiny runs (``tests/e2e/conftest.py``) and the group
#: of the tests that read each: ``text_tree`` does not read ``tree``, so its group can run on the
#: other worker meanwhile.
SHARED_RUNS = {"tree": "shared-runs", "rerun": "shared-runs", "text_tree": "text-run"}


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups
def pytest_collection_modifyitems(config, items):
    """Groups for pytest-xdist's ``--dist loadgroup`` (CI runs ``pytest -n 2 --dist loadgroup``):
    the tests that read a shared tiny run share its group's worker, which builds it once, and
    every other file's tests stay together, so that a module fixture is built once. The shared
    groups run first: they are the longest, and the other worker takes the files meanwhile."""
    first = []
    for item in items:
        definitions = getattr(item, "_fixtureinfo", None)
        definitions = definitions.name2fixturedefs if definitions else {}
        shared = [
            group
            for name, group in SHARED_RUNS.items()
            if definitions.get(name) and definitions[name][-1].scope == "session"
        ]
        if len(set(shared)) > 1:
            raise pytest.UsageError(f"{item.nodeid} reads shared runs of two groups: {shared}")
        group = shared[0] if shared else item.nodeid.split("::", 1)[0]
        item.add_marker(pytest.mark.xdist_group(group))
        if shared:
            first.append((item, shared[0]))
    order = list(dict.fromkeys(SHARED_RUNS.values()))  # the longest group first
    first.sort(key=lambda pair: order.index(pair[1]))
    chosen = {id(item) for item, _ in first}
    items[:] = [item for item, _ in first] + [item for item in items if id(item) not in chosen]


def tiny_classifier_bytes(*, dynamic_hw: bool = False, seed: int = 0) -> bytes:
    """A 3-class classifier on (N, 1, 4, 4) inputs: Flatten -> Gemm -> Softmax."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    weight = numpy_helper.from_array(rng.normal(size=(16, 3)).astype(np.float32), "w")
    bias = numpy_helper.from_array(rng.normal(size=(3,)).astype(np.float32), "b")
    dims = ["batch", 1, "h" if dynamic_hw else 4, 4]
    graph = helper.make_graph(
        [
            helper.make_node("Flatten", ["input"], ["flat"], axis=1),
            helper.make_node("Gemm", ["flat", "w", "b"], ["logits"]),
            helper.make_node("Softmax", ["logits"], ["prob"], axis=1),
        ],
        "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, dims)],
        [helper.make_tensor_value_info("prob", TensorProto.FLOAT, ["batch", 3])],
        initializer=[weight, bias],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    return model.SerializeToString()


def tiny_conv_bytes(seed: int = 0) -> bytes:
    """A 3-class conv net on (N, 1, 4, 4): Conv 2x3x3 -> Relu -> Flatten -> Gemm -> Softmax."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    inits = [
        numpy_helper.from_array(rng.normal(size=(2, 1, 3, 3)).astype(np.float32), "conv.w"),
        numpy_helper.from_array(rng.normal(size=(2,)).astype(np.float32), "conv.b"),
        numpy_helper.from_array(rng.normal(size=(3, 8)).astype(np.float32), "fc.w"),
        numpy_helper.from_array(rng.normal(size=(3,)).astype(np.float32), "fc.b"),
    ]
    graph = helper.make_graph(
        [
            helper.make_node("Conv", ["input", "conv.w", "conv.b"], ["conv"]),
            helper.make_node("Relu", ["conv"], ["relu"]),
            helper.make_node("Flatten", ["relu"], ["flat"], axis=1),
            helper.make_node("Gemm", ["flat", "fc.w", "fc.b"], ["logits"], transB=1),
            helper.make_node("Softmax", ["logits"], ["prob"], axis=1),
        ],
        "tiny_conv",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 1, 4, 4])],
        [helper.make_tensor_value_info("prob", TensorProto.FLOAT, ["batch", 3])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    return model.SerializeToString()


def tiny_recommender_bytes(seed: int = 0) -> bytes:
    """A 2-input scorer like NeuMF's graph: user (N,) and movies (N, 4) int64 -> scores (N, 4):
    Gather of two embeddings, their product, MatMul, Sigmoid."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    inits = [
        numpy_helper.from_array(rng.normal(size=(6, 3)).astype(np.float32), "user_emb"),
        numpy_helper.from_array(rng.normal(size=(9, 3)).astype(np.float32), "movie_emb"),
        numpy_helper.from_array(rng.normal(size=(3, 1)).astype(np.float32), "w"),
        numpy_helper.from_array(np.array([1], np.int64), "one"),
        numpy_helper.from_array(np.array([-1], np.int64), "last"),
    ]
    graph = helper.make_graph(
        [
            helper.make_node("Gather", ["user_emb", "user"], ["u"]),
            helper.make_node("Unsqueeze", ["u", "one"], ["u1"]),
            helper.make_node("Gather", ["movie_emb", "movies"], ["m"]),
            helper.make_node("Mul", ["u1", "m"], ["gmf"]),
            helper.make_node("MatMul", ["gmf", "w"], ["logit"]),
            helper.make_node("Squeeze", ["logit", "last"], ["logits"]),
            helper.make_node("Sigmoid", ["logits"], ["scores"]),
        ],
        "tiny_recommender",
        [
            helper.make_tensor_value_info("user", TensorProto.INT64, ["batch"]),
            helper.make_tensor_value_info("movies", TensorProto.INT64, ["batch", 4]),
        ],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["batch", 4])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    return model.SerializeToString()


def schema_default(*keys: str):
    """The default of a setting in config/config.schema.yaml, e.g. ("fp16", "keep_fp32")."""
    from workflow.samples import config_default

    return config_default(*keys)


@pytest.fixture(scope="session")
def tensorrt_headers() -> Path:
    """TensorRT 11.1's public headers in ``../shared/third_party`` (beside CI's clone; a copy in
    ``shared/`` travels to the GPU machine); tests that compile against them skip without."""
    for folder in (ROOT.parent / "shared", ROOT / "shared"):
        include = folder / "third_party" / "tensorrt-11.1" / "include"
        if (include / "NvInferRuntime.h").is_file():
            return include
    pytest.skip("no TensorRT headers in ../shared/third_party (a user's clone has none)")


@pytest.fixture(scope="session")
def t10k() -> Path:
    """The real MNIST test set in ``../shared/data/mnist-t10k`` (CI has it beside the clone);
    tests that read it skip where it is absent, as in a user's clone."""
    folder = SHARED_DATA / "mnist-t10k"
    if not (folder / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"{folder} is absent: the real MNIST test set lies beside the project's CI")
    return folder


@pytest.fixture
def tiny_onnx(tmp_path: Path) -> Path:
    """Path of a tiny ONNX classifier with a dynamic batch."""
    path = tmp_path / "tiny.onnx"
    path.write_bytes(tiny_classifier_bytes())
    return path


def copy_workflow(dest: Path) -> Path:
    """Copy the workflow (not its outputs) into ``dest``; return ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in WORKFLOW_FILES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, dest / name)
        else:
            shutil.copy2(source, dest / name)
    return dest


def snakemake(
    workdir: Path,
    *args: str,
    check: bool = True,
    timeout: int = 1200,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess:
    """Run the real ``snakemake`` of this environment in ``workdir`` (``env`` added to the
    environment), under ``timeout -k`` so that a hung run and its children are killed."""
    exe = Path(sys.executable).with_name("snakemake")
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", **(env or {}))
    result = subprocess.run(
        ["timeout", "-k", "10", str(timeout), str(exe), *args],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=timeout + 30,
        env=env,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"snakemake {' '.join(args)} failed ({result.returncode}):\n"
            f"{result.stdout[-4000:]}\n{result.stderr[-8000:]}"
        )
    return result


def planned_jobs(output: str) -> dict[str, int]:
    """Parse the 'Job stats' table of a (dry) run into {rule: count}, without 'total'."""
    if "Nothing to be done" in output:
        return {}
    table = output.split("Job stats:", 1)[1]
    jobs = {}
    for line in table.splitlines()[3:]:
        match = re.fullmatch(r"(\w+)\s+(\d+)", line.strip())
        if not match:
            break
        jobs[match.group(1)] = int(match.group(2))
    jobs.pop("total", None)
    return jobs


def tiny_build(**changes):
    """Build options of the tiny test engines, with ``changes``."""
    from workflow.trt.config import BuildConfig

    options = {
        "module": "auto",
        "batch": (1, 4, 8),
        "workspace_mib": 256,
        "compute_capabilities": (),
        "optimization_level": 3,
    }
    return BuildConfig(**(options | changes))


@dataclass(frozen=True)
class TinyEngine:
    """A built tiny engine: its source graph, plan, metadata file and metadata."""

    onnx: Path
    plan: Path
    meta_path: Path
    meta: dict


@pytest.fixture(scope="session")
def tiny_engine(tmp_path_factory) -> TinyEngine:
    """The tiny classifier built into a plan (TensorRT-RTX on CPU machines)."""
    from workflow.io import write_json_atomically
    from workflow.trt.loader import engine_bytes_from_onnx

    folder = tmp_path_factory.mktemp("engine")
    onnx = folder / "tiny.onnx"
    onnx.write_bytes(tiny_classifier_bytes())
    built = engine_bytes_from_onnx(onnx, tiny_build())
    (folder / "tiny.plan").write_bytes(built.plan)
    write_json_atomically(folder / "tiny.plan.json", built.meta)
    return TinyEngine(onnx, folder / "tiny.plan", folder / "tiny.plan.json", built.meta)
