"""Pick the runner for a configured runtime.

The runner modules are named here, not imported: a scoring job loads only the backend it runs,
and its rule's code fingerprint (``RUNNER_MODULES``) covers only that backend, so an edit to
the TensorRT backend reruns no ONNX Runtime scoring and the other way round.
"""

import importlib
from collections.abc import Mapping

from workflow.backend.base import BaseRunner
from workflow.errors import PipelineError

#: Runtime name -> (module, runner class, model files it needs).
RUNNERS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "ort": ("workflow.ort.runner", "OrtRunner", ("onnx",)),
    "trt": ("workflow.trt.runner", "TrtRunner", ("plan", "meta")),
}
RUNTIMES = tuple(RUNNERS)
#: The module of each runtime's runner, for the rules' code fingerprints.
RUNNER_MODULES = {runtime: module for runtime, (module, _, _) in RUNNERS.items()}


def make_runner(
    runtime: str,
    files: Mapping[str, str],
    *,
    module: str = "auto",
    threads: int = 1,
) -> BaseRunner:
    """Return an inactive runner for ``runtime``.

    Args:
        runtime: ``ort`` (ONNX Runtime on the ONNX graph) or ``trt`` (TensorRT on the plan).
        files: model files by role: ``onnx`` (the graph) for ``ort``; ``plan`` and ``meta``
            (the engine and its ``.plan.json``) for ``trt``. Other keys are ignored.
        module: TensorRT module choice, for ``trt``. Defaults to ``auto``.
        threads: ONNX Runtime intra-op threads. Defaults to 1.

    Raises:
        PipelineError: unknown runtime, or a file it needs was not given.
    """
    if runtime in RUNNERS and all(key in files for key in RUNNERS[runtime][2]):
        module_name, class_name, _ = RUNNERS[runtime]
        runner = getattr(importlib.import_module(module_name), class_name)
        if runtime == "ort":
            return runner(files["onnx"], threads=threads)
        return runner(files["plan"], files["meta"], module=module)
    raise PipelineError(
        f"score.runtime={runtime!r}",
        "unknown runtime or missing model file",
        f"choose among {RUNTIMES}; ort needs an ONNX file, trt a plan and its .plan.json",
    )


def part_files(files: Mapping[str, str], part: str) -> dict[str, str]:
    """The model files of one part of a split sample, from files keyed ``<part>_<role>``
    (``rpn_onnx``, ``decoder_plan``, ...), keyed by role."""
    return {k.removeprefix(f"{part}_"): v for k, v in files.items() if k.startswith(f"{part}_")}
