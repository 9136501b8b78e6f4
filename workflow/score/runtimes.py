"""Pick the runner for a configured runtime."""

from collections.abc import Mapping

from workflow.errors import PipelineError
from workflow.score.runner import BaseRunner

RUNTIMES = ("ort", "trt")


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
    if runtime == "ort" and "onnx" in files:
        from workflow.ort.runner import OrtRunner

        return OrtRunner(files["onnx"], threads=threads)
    if runtime == "trt" and "plan" in files and "meta" in files:
        from workflow.trt.runner import TrtRunner

        return TrtRunner(files["plan"], files["meta"], module=module)
    raise PipelineError(
        f"score.runtime={runtime!r}",
        "unknown runtime or missing model file",
        f"choose among {RUNTIMES}; ort needs an ONNX file, trt a plan and its .plan.json",
    )
