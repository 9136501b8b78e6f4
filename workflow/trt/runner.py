"""TensorRT runner: check a plan's metadata, deserialize it and execute it with Polygraphy.

Needs a CUDA GPU. On a machine without one, :meth:`TrtRunner.activate` stops with
:class:`~workflow.errors.GpuUnavailable` before touching TensorRT; everything up to that point
(metadata reading, dtype mapping, feed checks) is exercised on CPU by the tests.
"""

import json
import logging
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from workflow.backend.base import BaseRunner, TensorSpec
from workflow.errors import GpuUnavailable, RunnerError
from workflow.trt.gpu import gpu_info
from workflow.trt.loader import check_engine_meta, engine_from_bytes
from workflow.trt.module import import_tensorrt, polygraphy_backend

log = logging.getLogger(__name__)

#: TensorRT DataType names -> numpy dtypes, for the types a runner exchanges with the host.
TRT_DTYPES = {
    "float": np.dtype(np.float32),
    "half": np.dtype(np.float16),
    "int8": np.dtype(np.int8),
    "int32": np.dtype(np.int32),
    "int64": np.dtype(np.int64),
    "bool": np.dtype(np.bool_),
    "uint8": np.dtype(np.uint8),
}


def read_meta(meta_path: str | Path) -> dict[str, Any]:
    """Read an engine's ``.plan.json``."""
    return json.loads(Path(meta_path).read_text(encoding="utf-8"))


def io_specs(meta: dict[str, Any]) -> list[TensorSpec]:
    """Input specs of an engine from its metadata (dynamic dimensions become ``None``)."""
    return [
        TensorSpec(
            item["name"],
            TRT_DTYPES[item["dtype"]],
            tuple(None if dim < 0 else dim for dim in item["shape"]),
        )
        for item in meta["inputs"]
    ]


class LayerTimes:
    """What a TensorRT ``IProfiler`` made by :func:`trt_profiler` collected: per engine layer,
    its time (ms) in each inference since it was attached."""

    def __init__(self) -> None:
        self.times: dict[str, list[float]] = defaultdict(list)

    def report_layer_time(self, layer_name: str, ms: float) -> None:
        self.times[layer_name].append(float(ms))


def trt_profiler(trt: Any) -> LayerTimes:
    """A ``trt.IProfiler`` of the module ``trt`` that is also a :class:`LayerTimes`."""

    class Profiler(trt.IProfiler, LayerTimes):
        def __init__(self) -> None:
            trt.IProfiler.__init__(self)
            LayerTimes.__init__(self)

    return Profiler()


class TrtRunner(BaseRunner):
    """Runs a serialized TensorRT engine on GPU 0 through Polygraphy's ``TrtRunner``.

    The plan's metadata is checked against this machine first (TensorRT flavour and version,
    compute capability, sha256); then Polygraphy's runner, NVIDIA's tested one, executes it:
    device buffers, the stream, input shapes (checked), and outputs whose shape is only known
    after execution (e.g. graph NMS's ``(-1, 7)``) through its output allocator.

    Args:
        plan_path: the ``.plan`` file.
        meta_path: its ``.plan.json``; checked against this machine before deserializing.
        module: ``auto``, ``tensorrt`` or ``tensorrt_rtx``.
    """

    def __init__(self, plan_path: str | Path, meta_path: str | Path, *, module: str) -> None:
        super().__init__(f"trt:{plan_path}")
        self.plan_path = Path(plan_path)
        self.meta = read_meta(meta_path)
        self.module = module
        self.engine: Any = None
        self.runner: Any = None

    def _activate(self) -> None:
        gpu, reason = gpu_info()
        if gpu is None:
            raise GpuUnavailable(
                self.plan_path,
                f"engine execution needs a CUDA GPU ({reason})",
                "run this step on a GPU host (e.g. a cluster node through a Snakemake "
                "executor plugin), or set score.runtime: ort to score the same graph with "
                "ONNX Runtime on CPU",
            )
        trt = import_tensorrt(self.module)
        plan = self.plan_path.read_bytes()
        check_engine_meta(
            self.meta,
            plan_path=self.plan_path,
            plan=plan,
            module=trt.__name__,
            version=trt.__version__,
            gpu=gpu,
        )
        backend = polygraphy_backend(trt)
        self.engine = engine_from_bytes(plan, module=self.module)
        self.runner = backend.TrtRunner(self.engine, name=self.name)
        self.runner.activate()
        log.info("%s | active on %s (%s)", self.name, gpu.name, gpu.compute_capability)

    def _input_metadata(self) -> list[TensorSpec]:
        return io_specs(self.meta)

    def _infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        for name, array in feed.items():
            low, _, high = self.engine.get_tensor_profile_shape(name, 0)
            if not all(a <= s <= b for a, s, b in zip(low, array.shape, high, strict=True)):
                raise RunnerError(
                    self.name,
                    f"input {name!r} shape {array.shape} outside the profile "
                    f"{tuple(low)}..{tuple(high)}",
                    "rebuild with a wider engine.batch range",
                )
        outputs = self.runner.infer({k: np.ascontiguousarray(v) for k, v in feed.items()})
        # Polygraphy reuses its host buffers from call to call: hand out copies
        return {name: np.array(value, copy=True) for name, value in outputs.items()}

    def attach_profiler(self) -> "LayerTimes":
        """Attach a TensorRT ``IProfiler`` to the active runner's execution context; every
        later inference adds each engine layer's time (ms) to the returned ``times``."""
        if self.runner is None:
            raise RunnerError(self.name, "not active", "activate the runner first")
        profiler = trt_profiler(import_tensorrt(self.module))
        self.runner.context.profiler = profiler
        return profiler

    def _deactivate(self) -> None:
        try:
            if self.runner is not None:
                self.runner.deactivate()
        finally:
            self.runner = self.engine = None
