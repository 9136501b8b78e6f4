"""Build, serialize, describe and deserialize TensorRT engines.

One strongly typed build path serves TensorRT 10, 11 and TensorRT-RTX: the precision of every
tensor comes from the ONNX graph (FP16 casts, INT8 Q/DQ), never from builder flags.
"""

import hashlib
import logging
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from workflow.errors import EngineMismatch, FormatError, PipelineError, TensorRTUnavailable
from workflow.logs import timed
from workflow.trt.gpu import GpuInfo, gpu_info
from workflow.trt.module import import_tensorrt

log = logging.getLogger(__name__)

#: Compute capabilities a TensorRT-RTX engine runs on when none are set (TensorRT-RTX docs:
#: Ampere and later; Turing 7.5 only when asked for explicitly).
RTX_DEFAULT_CC = ["8.0", "8.6", "8.9", "12.0", "12.1"]
META_FORMAT = 1
FULL_TRT_NEEDS_GPU = (
    "full TensorRT builds on a CUDA GPU: run this job on a GPU host (e.g. a cluster node "
    "through a Snakemake executor plugin), "
    "or build ahead of time with TensorRT-RTX: pip install -e '.[rtx]' and set "
    "tensorrt.module: tensorrt_rtx"
)


def capturing_logger(trt: ModuleType) -> Any:
    """A TensorRT logger that forwards to ``logging`` and keeps the error messages."""

    class Capture(trt.ILogger):
        def __init__(self) -> None:
            trt.ILogger.__init__(self)
            self.errors: list[str] = []

        def log(self, severity: Any, msg: str) -> None:
            if severity in (trt.ILogger.Severity.INTERNAL_ERROR, trt.ILogger.Severity.ERROR):
                self.errors.append(msg)
                log.error("tensorrt | %s", msg)
            elif severity == trt.ILogger.Severity.WARNING:
                log.warning("tensorrt | %s", msg)
            else:
                log.debug("tensorrt | %s", msg)

    return Capture()


def _network_io(network: Any, *, inputs: bool) -> list[dict[str, Any]]:
    count = network.num_inputs if inputs else network.num_outputs
    tensors = [network.get_input(i) if inputs else network.get_output(i) for i in range(count)]
    return [
        {"name": t.name, "dtype": t.dtype.name.lower(), "shape": list(t.shape)} for t in tensors
    ]


def _target(trt: ModuleType, config: Any, compute_capabilities: list[str]) -> dict[str, Any]:
    """Set the build target on ``config`` and describe it for the metadata."""
    if trt.__name__ == "tensorrt_rtx":
        if compute_capabilities:
            config.num_compute_capabilities = len(compute_capabilities)
            for index, cc in enumerate(compute_capabilities):
                member = "SM" + cc.replace(".", "")
                if member not in trt.ComputeCapability.__members__:
                    raise PipelineError(
                        f"tensorrt.compute_capabilities: {cc}",
                        "not supported by this TensorRT-RTX",
                        "choose among "
                        + ", ".join(
                            m[2:-1] + "." + m[-1]
                            for m in trt.ComputeCapability.__members__
                            if m.startswith("SM")
                        ),
                    )
                config.set_compute_capability(trt.ComputeCapability.__members__[member], index)
        return {
            "kind": "ahead-of-time",
            "gpu": None,
            "compute_capabilities": list(compute_capabilities) or RTX_DEFAULT_CC,
        }
    if compute_capabilities:
        raise PipelineError(
            "tensorrt.compute_capabilities",
            "only TensorRT-RTX builds for chosen compute capabilities",
            "leave it empty with full TensorRT: it builds for the GPU it runs on",
        )
    gpu, reason = gpu_info()
    if gpu is None:
        raise TensorRTUnavailable(
            f"tensorrt {trt.__version__}", f"no GPU ({reason})", FULL_TRT_NEEDS_GPU
        )
    return {"kind": "gpu", "gpu": gpu.name, "compute_capabilities": [gpu.compute_capability]}


def _builder(trt: ModuleType, logger: Any) -> Any:
    """A TensorRT builder, or a clear error where this TensorRT cannot build."""
    try:
        return trt.Builder(logger)
    except Exception as err:  # full TensorRT raises when CUDA cannot initialise
        raise TensorRTUnavailable(
            f"{trt.__name__} {trt.__version__}",
            f"cannot create a builder ({err})",
            FULL_TRT_NEEDS_GPU,
        ) from err


def strongly_typed_network(trt: ModuleType, builder: Any) -> Any:
    """An empty network whose tensor types come from the graph (no precision flags)."""
    flags = 0
    strongly_typed = getattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED", None)
    if strongly_typed is not None:  # TensorRT 11 networks are always strongly typed
        flags |= 1 << int(strongly_typed)
    return builder.create_network(flags)


def _build(
    trt: ModuleType,
    builder: Any,
    network: Any,
    logger: Any,
    *,
    source: dict[str, str],
    batch: tuple[int, int, int],
    workspace_mib: int,
    compute_capabilities: list[str],
    optimization_level: int,
    refittable: list[str] | None = None,
) -> tuple[bytes, dict[str, Any]]:
    """Build a populated network into a plan; return it with its metadata."""
    refittable = refittable or []
    low, opt, high = batch
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_mib << 20)
    config.builder_optimization_level = optimization_level
    if refittable:  # only the named weights may be refitted
        config.set_flag(trt.BuilderFlag.REFIT_INDIVIDUAL)
        for name in refittable:
            if not network.mark_weights_refittable(name):
                raise PipelineError(name, "no weights of that name in the network")
    target = _target(trt, config, compute_capabilities)
    profile = builder.create_optimization_profile()
    shapes: dict[str, dict[str, list[int]]] = {}
    for index in range(network.num_inputs):
        tensor = network.get_input(index)
        dims = list(tensor.shape)
        if any(d < 0 for d in dims[1:]):
            raise PipelineError(
                source["path"],
                f"input {tensor.name!r} has dynamic dimensions {dims} beyond the batch",
                "export the graph with a fixed shape except the first dimension",
            )
        rest = dims[1:]
        shapes[tensor.name] = {
            "min": [low, *rest] if dims[0] < 0 else dims,
            "opt": [opt, *rest] if dims[0] < 0 else dims,
            "max": [high, *rest] if dims[0] < 0 else dims,
        }
        profile.set_shape(tensor.name, *(shapes[tensor.name][k] for k in ("min", "opt", "max")))
    config.add_optimization_profile(profile)
    with timed(log, f"{source['path']} | build with {trt.__name__} {trt.__version__}"):
        plan = builder.build_serialized_network(network, config)
    if plan is None:
        fix = "see the log for the layer that failed"
        if refittable:
            fix += "; refittable builds need full TensorRT on a GPU host"
        if trt.__name__ == "tensorrt_rtx" and _has_layer(trt, network, "NMS"):
            fix = (
                "TensorRT-RTX has no kernel for NonMaxSuppression: run NMS on the host "
                "(ssd.nms.place: host) or build with full TensorRT 10/11 on a GPU host"
            )
        raise PipelineError(
            source["path"],
            f"{trt.__name__} {trt.__version__} could not build an engine: "
            + ("; ".join(logger.errors) or "no error message"),
            fix,
        )
    data = bytes(plan)
    meta = {
        "format": META_FORMAT,
        "tensorrt": {"module": trt.__name__, "version": trt.__version__},
        "target": target,
        "source": source,
        "build": {
            "strongly_typed": True,
            "refittable": refittable,
            "workspace_mib": workspace_mib,
            "optimization_level": optimization_level,
            "profile": shapes,
        },
        "inputs": _network_io(network, inputs=True),
        "outputs": _network_io(network, inputs=False),
        "plan": {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()},
    }
    log.info("%s | plan of %d bytes for %s", source["path"], len(data), target)
    return data, meta


def _has_layer(trt: ModuleType, network: Any, kind: str) -> bool:
    """Whether the network has a layer of type ``trt.LayerType.<kind>``."""
    wanted = getattr(trt.LayerType, kind, None)
    return wanted is not None and any(
        network.get_layer(i).type == wanted for i in range(network.num_layers)
    )


def _check_batch(batch: tuple[int, int, int]) -> None:
    low, opt, high = batch
    if not 1 <= low <= opt <= high:
        raise PipelineError("engine.batch", f"need 1 <= min <= opt <= max, got {batch}")


def build_options(params: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments of the loaders from the rules' ``build`` param (lists become tuples)."""
    return {
        "module": params["module"],
        "batch": tuple(params["batch"]),
        "workspace_mib": params["workspace_mib"],
        "compute_capabilities": list(params["compute_capabilities"]),
        "optimization_level": params["optimization_level"],
    }


def _start(module: str, batch: tuple[int, int, int]) -> tuple[ModuleType, Any, Any, Any]:
    """Check the profile, import TensorRT; return it with a logger, a builder and a network."""
    _check_batch(batch)
    trt = import_tensorrt(module)
    logger = capturing_logger(trt)
    builder = _builder(trt, logger)
    return trt, logger, builder, strongly_typed_network(trt, builder)


def engine_bytes_from_onnx(
    onnx_path: str | Path,
    *,
    module: str,
    batch: tuple[int, int, int],
    workspace_mib: int,
    compute_capabilities: list[str],
    optimization_level: int,
) -> tuple[bytes, dict[str, Any]]:
    """Parse an ONNX file and build a serialized, strongly typed TensorRT engine.

    Args:
        onnx_path: the ONNX graph; its precision is the engine's precision.
        module: ``auto``, ``tensorrt`` or ``tensorrt_rtx``.
        batch: (min, opt, max) batch size of the optimization profile, applied to every input
            whose first dimension is dynamic.
        workspace_mib: builder workspace limit in MiB.
        compute_capabilities: TensorRT-RTX targets such as ``"8.6"``; empty for the builder's
            default (full TensorRT always builds for the GPU it runs on).
        optimization_level: builder optimization level 0..5.

    Returns:
        The plan bytes and its metadata (TensorRT flavour and version, target, sha256 of the
        source graph, build options, inputs and outputs). The metadata holds no timestamp.

    Raises:
        TensorRTUnavailable: no TensorRT, or full TensorRT without a GPU.
        FormatError: the ONNX parser rejects the graph.
        PipelineError: a dynamic dimension other than the batch, a bad profile, or a failed
            build (the builder's own errors are quoted).
    """
    onnx_path = Path(onnx_path)
    trt, logger, builder, network = _start(module, batch)
    parser = trt.OnnxParser(network, logger)
    data = onnx_path.read_bytes()
    if not parser.parse(data, str(onnx_path)):
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise FormatError(onnx_path, "ONNX parser failed: " + "; ".join(errors))
    source = {"path": str(onnx_path), "sha256": hashlib.sha256(data).hexdigest()}
    return _build(
        trt,
        builder,
        network,
        logger,
        source=source,
        batch=batch,
        workspace_mib=workspace_mib,
        compute_capabilities=compute_capabilities,
        optimization_level=optimization_level,
    )


def engine_bytes_from_network(
    populate: Callable[[ModuleType, Any], Any],
    *,
    source: dict[str, str],
    module: str,
    batch: tuple[int, int, int],
    workspace_mib: int,
    compute_capabilities: list[str],
    optimization_level: int,
    refittable: list[str] | None = None,
) -> tuple[bytes, dict[str, Any]]:
    """Build an engine from a network defined with the TensorRT network API (no parser).

    Args:
        populate: called with the TensorRT module and an empty strongly typed network; adds
            the layers, inputs and outputs; what it returns is kept alive during the build.
        source: ``{"path", "sha256"}`` of what the network was made from (e.g. a ``.wts`` file).
        refittable: names of weights to make refittable (``BuilderFlag.REFIT_INDIVIDUAL``);
            a refittable build needs full TensorRT on a GPU host (TensorRT-RTX 1.7 refuses it on
            CPU).

    Other arguments and the return value are as for :func:`engine_bytes_from_onnx`.
    """
    trt, logger, builder, network = _start(module, batch)
    keep_alive = populate(trt, network)
    result = _build(
        trt,
        builder,
        network,
        logger,
        source=source,
        batch=batch,
        workspace_mib=workspace_mib,
        compute_capabilities=compute_capabilities,
        optimization_level=optimization_level,
        refittable=refittable,
    )
    del keep_alive
    return result


def check_engine_meta(
    meta: dict[str, Any],
    *,
    plan_path: str | Path,
    plan: bytes,
    module: str,
    version: str,
    gpu: GpuInfo,
) -> None:
    """Check that an engine fits this machine before deserializing it.

    Args:
        meta: the engine's ``.plan.json``.
        plan_path: the plan file, named in errors.
        plan: the plan bytes (checked against the metadata's sha256).
        module: the TensorRT module loaded here.
        version: its version.
        gpu: this machine's GPU.

    Raises:
        EngineMismatch: naming the field that does not fit and the command that rebuilds.
    """
    rebuild = f"rebuild it here: snakemake {plan_path} --forcerun engine_build"
    if meta.get("format") != META_FORMAT:
        raise EngineMismatch(
            plan_path, f"metadata format {meta.get('format')}, expected {META_FORMAT}", rebuild
        )
    built = meta["tensorrt"]
    if built["module"] != module or built["version"] != version:
        raise EngineMismatch(
            plan_path,
            f"built with {built['module']} {built['version']}, this machine has {module} {version}",
            rebuild,
        )
    targets = meta["target"]["compute_capabilities"]
    if gpu.compute_capability not in targets:
        raise EngineMismatch(
            plan_path,
            f"built for compute capability {', '.join(targets)}; this GPU ({gpu.name}) is "
            f"{gpu.compute_capability}",
            rebuild,
        )
    digest = hashlib.sha256(plan).hexdigest()
    if digest != meta["plan"]["sha256"]:
        raise EngineMismatch(
            plan_path, "plan bytes differ from the sha256 in its metadata", rebuild
        )


def engine_from_bytes(plan: bytes, *, module: str) -> Any:
    """Deserialize a plan into an ``ICudaEngine`` (needs a GPU).

    Raises:
        EngineMismatch: the runtime refused the plan (its errors are quoted).
    """
    trt = import_tensorrt(module)
    logger = capturing_logger(trt)
    runtime = trt.Runtime(logger)
    engine = runtime.deserialize_cuda_engine(plan)
    if engine is None:
        raise EngineMismatch(
            "plan", "deserialization failed: " + ("; ".join(logger.errors) or "no message")
        )
    return engine
