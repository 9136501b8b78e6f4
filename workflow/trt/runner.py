"""TensorRT runner: deserialize a checked plan and execute it with cuda-python buffers.

Needs a CUDA GPU. On a machine without one, :meth:`TrtRunner.activate` stops with
:class:`~workflow.errors.GpuUnavailable` before touching TensorRT; everything up to that point
(metadata reading, dtype mapping, feed checks) is exercised on CPU by the tests.
"""

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from workflow.backend.base import BaseRunner, TensorSpec
from workflow.errors import GpuUnavailable, PipelineError, RunnerError
from workflow.trt.gpu import gpu_info
from workflow.trt.loader import check_engine_meta, engine_from_bytes
from workflow.trt.module import import_tensorrt

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


def _cuda(result: tuple[Any, ...]) -> Any:
    """Unpack a cuda-python ``(error, value...)`` tuple; raise on error."""
    from cuda.bindings import runtime as cudart

    err, *values = result
    if err != cudart.cudaError_t.cudaSuccess:
        raise PipelineError("cuda", cudart.cudaGetErrorString(err)[1].decode())
    return values[0] if len(values) == 1 else tuple(values)


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


class TrtRunner(BaseRunner):
    """Runs a serialized TensorRT engine on GPU 0.

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
        self.context: Any = None
        self.stream: Any = None
        self.buffers: dict[str, tuple[int, int]] = {}  # name -> (device pointer, bytes)

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
        from cuda.bindings import runtime as cudart

        self.engine = engine_from_bytes(plan, module=self.module)
        self.context = self.engine.create_execution_context()
        self.stream = _cuda(cudart.cudaStreamCreate())
        log.info("%s | active on %s (%s)", self.name, gpu.name, gpu.compute_capability)

    def _input_metadata(self) -> list[TensorSpec]:
        return io_specs(self.meta)

    def _buffer(self, name: str, nbytes: int) -> int:
        """Device buffer of at least ``nbytes`` for tensor ``name``, grown when needed."""
        from cuda.bindings import runtime as cudart

        pointer, size = self.buffers.get(name, (0, 0))
        if size < nbytes:
            if pointer:
                _cuda(cudart.cudaFree(pointer))
            pointer, size = int(_cuda(cudart.cudaMalloc(max(nbytes, 1)))), nbytes
            self.buffers[name] = (pointer, size)
        return pointer

    def _infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from cuda.bindings import runtime as cudart

        h2d = cudart.cudaMemcpyKind.cudaMemcpyHostToDevice
        d2h = cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
        hosts = {name: np.ascontiguousarray(array) for name, array in feed.items()}
        for name, array in hosts.items():
            low, _, high = self.engine.get_tensor_profile_shape(name, 0)
            if not all(a <= s <= b for a, s, b in zip(low, array.shape, high, strict=True)):
                raise RunnerError(
                    self.name,
                    f"input {name!r} shape {array.shape} outside the profile "
                    f"{tuple(low)}..{tuple(high)}",
                    "rebuild with a wider engine.batch range",
                )
            self.context.set_input_shape(name, array.shape)
            pointer = self._buffer(name, array.nbytes)
            _cuda(
                cudart.cudaMemcpyAsync(pointer, array.ctypes.data, array.nbytes, h2d, self.stream)
            )
            self.context.set_tensor_address(name, pointer)
        outputs: dict[str, np.ndarray] = {}
        for index in range(self.engine.num_io_tensors):
            name = self.engine.get_tensor_name(index)
            if name in hosts:
                continue
            dtype = TRT_DTYPES[self.engine.get_tensor_dtype(name).name.lower()]
            host = np.empty(tuple(self.context.get_tensor_shape(name)), dtype=dtype)
            self.context.set_tensor_address(name, self._buffer(name, host.nbytes))
            outputs[name] = host
        if not self.context.execute_async_v3(int(self.stream)):
            raise PipelineError(self.name, "execute_async_v3 failed", "see the TensorRT log")
        for name, host in outputs.items():
            pointer = self.buffers[name][0]
            _cuda(cudart.cudaMemcpyAsync(host.ctypes.data, pointer, host.nbytes, d2h, self.stream))
        _cuda(cudart.cudaStreamSynchronize(self.stream))
        return outputs

    def _deactivate(self) -> None:
        from cuda.bindings import runtime as cudart

        for pointer, _ in self.buffers.values():
            cudart.cudaFree(pointer)
        self.buffers.clear()
        if self.stream is not None:
            cudart.cudaStreamDestroy(self.stream)
        self.stream = self.context = self.engine = None
