"""Build, serialize, describe and deserialize TensorRT engines.

One strongly typed build path serves TensorRT 10, 11 and TensorRT-RTX: the precision of every
tensor comes from the ONNX graph (FP16 casts, INT8 Q/DQ), never from builder flags. The build
config and the build itself are Polygraphy's loaders (``CreateConfig`` / ``CreateConfigRTX``
with the optimization profile, ``EngineBytesFromNetwork``); the builder and network are made
here with our own logger, so that the builder's errors are quoted in our exceptions and its
DETAILED engine layer log is kept for the layer report (Polygraphy's loaders log through one
global logger and hand back neither).
"""

import dataclasses
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from workflow.errors import EngineMismatch, FormatError, PipelineError, TensorRTUnavailable
from workflow.logs import timed
from workflow.repro import settings
from workflow.trt.config import BuildConfig
from workflow.trt.gpu import GpuInfo, gpu_info
from workflow.trt.layers import LAYERS_HEADER
from workflow.trt.module import import_tensorrt, polygraphy_backend

log = logging.getLogger(__name__)

#: Compute capabilities a TensorRT-RTX engine runs on when none are set (TensorRT-RTX docs:
#: Ampere and later; Turing 7.5 only when asked for explicitly).
RTX_DEFAULT_CC = ["8.0", "8.6", "8.9", "12.0", "12.1"]
#: Lowest compute capability whose tensor cores run FP8 (Ada; Hopper and Blackwell too).
FP8_MIN_CC = "8.9"
META_FORMAT = 1
FULL_TRT_NEEDS_GPU = (
    "full TensorRT builds on a CUDA GPU: run this job on a GPU host (e.g. a cluster node "
    "through a Snakemake executor plugin), "
    "or build ahead of time with TensorRT-RTX: pip install -e '.[rtx]' and set "
    "tensorrt.module: tensorrt_rtx"
)


def capturing_logger(trt: ModuleType) -> Any:
    """A TensorRT logger that forwards to ``logging``, keeps the error messages (``.errors``)
    and the builder's engine layer block (``.layer_log``, logged with DETAILED profiling)."""

    class Capture(trt.ILogger):
        def __init__(self) -> None:
            trt.ILogger.__init__(self)
            self.errors: list[str] = []
            self.layer_log = ""

        def log(self, severity: Any, msg: str) -> None:
            if severity in (trt.ILogger.Severity.INTERNAL_ERROR, trt.ILogger.Severity.ERROR):
                self.errors.append(msg)
                log.error("tensorrt | %s", msg)
            elif severity == trt.ILogger.Severity.WARNING:
                log.warning("tensorrt | %s", msg)
            else:
                if msg.startswith(LAYERS_HEADER):
                    self.layer_log = msg
                log.debug("tensorrt | %s", msg)

    return Capture()


@dataclass(frozen=True)
class BuiltEngine:
    """A serialized engine, its metadata and the builder's engine layer log.

    ``layer_log`` is the ``Layers:`` message of a DETAILED build (see
    :func:`workflow.trt.layers.parse_layer_log`); empty when the builder printed none.
    """

    plan: bytes
    meta: dict[str, Any]
    layer_log: str


def _network_io(network: Any, *, inputs: bool) -> list[dict[str, Any]]:
    count = network.num_inputs if inputs else network.num_outputs
    tensors = [network.get_input(i) if inputs else network.get_output(i) for i in range(count)]
    return [
        {"name": t.name, "dtype": t.dtype.name.lower(), "shape": list(t.shape)} for t in tensors
    ]


def _config_loader(trt: ModuleType, build: BuildConfig, kwargs: dict[str, Any]) -> tuple[Any, dict]:
    """Polygraphy's config loader for this TensorRT and the target it builds for."""
    polygraphy_backend(trt)
    if trt.__name__ == "tensorrt_rtx":
        from polygraphy.backend.tensorrt_rtx import CreateConfigRTX

        supported = [m for m in trt.ComputeCapability.__members__ if m.startswith("SM")]
        targets = []
        for cc in build.compute_capabilities:
            if "SM" + cc.replace(".", "") not in supported:
                raise PipelineError(
                    f"tensorrt.compute_capabilities: {cc}",
                    "not supported by this TensorRT-RTX",
                    "choose among " + ", ".join(m[2:-1] + "." + m[-1] for m in supported),
                )
            major, minor = cc.split(".")
            targets.append((int(major), int(minor)))
        target = {
            "kind": "ahead-of-time",
            "gpu": None,
            "compute_capabilities": list(build.compute_capabilities) or RTX_DEFAULT_CC,
        }
        return CreateConfigRTX(compute_capabilities=targets or None, **kwargs), target
    from polygraphy.backend.trt import CreateConfig

    if build.compute_capabilities:
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
    target = {"kind": "gpu", "gpu": gpu.name, "compute_capabilities": [gpu.compute_capability]}
    return CreateConfig(**kwargs), target


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


def _range_of(
    dims: dict[str, Any], tensor: str, axis: int, name: str
) -> tuple[int, int, int] | None:
    """The (min, opt, max) ``dims`` gives one axis of one input: by input and axis position
    (``{input: {axis: range}}``, the axis an integer or its digits), by input and dimension
    name (``{input: {name: range}}``), or by dimension name for every input
    (``{name: range}``); None where it gives none."""
    own = dims.get(tensor)
    if isinstance(own, dict):
        for key in (axis, str(axis), name):
            if key != "" and key in own:
                return tuple(own[key])
    shared = dims.get(name) if name else None
    if shared is not None and not isinstance(shared, dict):
        return tuple(shared)
    return None


def _profile_shapes(
    network: Any,
    build: BuildConfig,
    path: str,
    *,
    names: dict[str, list[str]] | None = None,
    dims: dict[str, Any] | None = None,
) -> dict[str, dict[str, list]]:
    """min/opt/max shapes of every input: a dynamic dimension with a range in ``dims`` (see
    :func:`_range_of`: by input and axis position, by input and dimension name, or by
    dimension name; ``names``: the graph's symbolic dimension names per input, "" for an
    unnamed one) takes that range; another dynamic first dimension the batch range.

    Raises:
        PipelineError: a dynamic dimension beyond the batch without a range, a range that is
            not min <= opt <= max of positive sizes, or a range for a fixed dimension that
            leaves its size out.
    """
    names, dims = names or {}, dims or {}
    shapes: dict[str, dict[str, list[int]]] = {}
    for index in range(network.num_inputs):
        tensor = network.get_input(index)
        shape = list(tensor.shape)
        named = names.get(tensor.name, [""] * len(shape))
        ranges = []
        for axis, (size, name) in enumerate(zip(shape, named, strict=True)):
            given = _range_of(dims, tensor.name, axis, name)
            where = f"input {tensor.name!r} axis {axis}" + (f" ({name})" if name else "")
            if given is not None and (
                len(given) != 3
                or not all(isinstance(v, int) and v > 0 for v in given)
                or not given[0] <= given[1] <= given[2]
            ):
                raise PipelineError(
                    path,
                    f"{where}: range {list(given)} is not [min, opt, max] with "
                    "0 < min <= opt <= max",
                    "fix its profile range",
                )
            if size >= 0:
                if given is not None and not given[0] <= size <= given[2]:
                    raise PipelineError(
                        path,
                        f"{where} is fixed at {size}, its range {list(given)} leaves it out",
                        "drop the range of a fixed dimension or include its size",
                    )
                ranges.append((size, size, size))
            elif given is not None:
                ranges.append(given)
            elif axis == 0:
                ranges.append(build.batch)
            else:
                raise PipelineError(
                    path,
                    f"{where} is dynamic (shape {shape}) beyond the batch and has no range; "
                    "dynamic dimensions beyond the batch need one",
                    f"give its range: profile {{{tensor.name}: {{{axis}: [min, opt, max]}}}} "
                    "(by axis position; a named dimension may be given by its name), or export "
                    "the graph with a fixed size there",
                )
        shapes[tensor.name] = {
            key: [int(r[k]) for r in ranges] for k, key in enumerate(("min", "opt", "max"))
        }
    return shapes


def _dim_names(data: bytes) -> dict[str, list[str]]:
    """The symbolic dimension names of an ONNX graph's inputs ("" where a size is fixed)."""
    import onnx

    graph = onnx.load_from_string(data).graph
    return {
        value.name: [d.dim_param for d in value.type.tensor_type.shape.dim] for value in graph.input
    }


def _build(
    trt: ModuleType,
    builder: Any,
    network: Any,
    logger: Any,
    *,
    source: dict[str, str],
    build: BuildConfig,
    refittable: list[str] | None = None,
    shapes: dict[str, dict[str, list[int]]] | None = None,
) -> BuiltEngine:
    """Build a populated network into a plan with Polygraphy's config and build loaders (the
    profile: ``shapes`` where given, else the batch range on every input's first dimension)."""
    refittable = refittable or []
    for name in refittable:  # only the named weights may be refitted
        if not network.mark_weights_refittable(name):
            raise PipelineError(name, "no weights of that name in the network")
    shapes = shapes or _profile_shapes(network, build, source["path"])
    backend = polygraphy_backend(trt)
    profile = backend.Profile()
    for name, shape in shapes.items():
        profile.add(name, shape["min"], shape["opt"], shape["max"])
    create_config, target = _config_loader(
        trt,
        build,
        {
            "profiles": [profile],
            "memory_pool_limits": {trt.MemoryPoolType.WORKSPACE: build.workspace_mib << 20},
            "builder_optimization_level": build.optimization_level,
            "profiling_verbosity": trt.ProfilingVerbosity.DETAILED,
        },
    )
    from polygraphy.exception import PolygraphyException

    try:
        config = create_config(builder, network)
        if refittable:
            config.set_flag(trt.BuilderFlag.REFIT_INDIVIDUAL)
        tf32 = bool(config.get_flag(trt.BuilderFlag.TF32))
        with timed(log, f"{source['path']} | build with {trt.__name__} {trt.__version__}"):
            data = bytes(backend.EngineBytesFromNetwork((builder, network), config=config)())
    except PolygraphyException as err:
        fix = "see the log for the layer that failed"
        if refittable:
            fix += "; refittable builds need full TensorRT on a GPU host"
        if any("OutOfMemory" in line or "workspace limit" in line for line in logger.errors):
            fix = (
                f"the workspace ({build.workspace_mib} MiB) is too small for a layer at the"
                f" largest batch ({build.batch[2]}): raise engine.workspace_mib (or the sample's"
                " engine.per_sample entry) or lower engine.batch.max"
            )
        if trt.__name__ == "tensorrt_rtx" and _has_layer(trt, network, "NMS"):
            fix = (
                "TensorRT-RTX has no kernel for NonMaxSuppression: run NMS on the host "
                "(nms.place: host) or build with full TensorRT 10/11 on a GPU host"
            )
        raise PipelineError(
            source["path"],
            f"{trt.__name__} {trt.__version__} could not build an engine: "
            + ("; ".join(logger.errors) or str(err)),
            fix,
        ) from err
    meta = {
        "format": META_FORMAT,
        "tensorrt": {"module": trt.__name__, "version": trt.__version__},
        "target": target,
        "source": source,
        "build": {
            "strongly_typed": True,
            "tf32": tf32,
            "refittable": refittable,
            "workspace_mib": build.workspace_mib,
            "optimization_level": build.optimization_level,
            "profile": shapes,
        },
        "inputs": _network_io(network, inputs=True),
        "outputs": _network_io(network, inputs=False),
        "plan": {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()},
        "reproducibility": settings(threads=None),
    }
    log.info("%s | plan of %d bytes for %s", source["path"], len(data), target)
    return BuiltEngine(data, meta, logger.layer_log)


def _has_layer(trt: ModuleType, network: Any, kind: str) -> bool:
    """Whether the network has a layer of type ``trt.LayerType.<kind>``."""
    wanted = getattr(trt.LayerType, kind, None)
    return wanted is not None and any(
        network.get_layer(i).type == wanted for i in range(network.num_layers)
    )


def _start(module: str) -> tuple[ModuleType, Any, Any, Any]:
    """Import TensorRT; return it with a logger, a builder and an empty network."""
    trt = import_tensorrt(module)
    logger = capturing_logger(trt)
    builder = _builder(trt, logger)
    return trt, logger, builder, strongly_typed_network(trt, builder)


def load_plugin_libraries(trt: ModuleType, builder: Any, libraries: list[str]) -> None:
    """Load plugin libraries into the builder's plugin registry (their ``getCreators``), so that
    the ONNX parser finds the plugins that nodes of their op types name.

    Raises:
        PipelineError: TensorRT-RTX (it has no plugins), a missing library, or one TensorRT
            cannot load.
    """
    if not libraries:
        return
    if trt.__name__ == "tensorrt_rtx":
        raise PipelineError(
            "plugins",
            "TensorRT-RTX builds no plugins (its network has no add_plugin*, its plugin "
            "module does not import)",
            "build the plugin samples' engines with full TensorRT 10/11 on a GPU host "
            "(tensorrt.module: tensorrt)",
        )
    registry = builder.get_plugin_registry()
    for library in libraries:
        if not Path(library).is_file():
            raise PipelineError(library, "no such plugin library", "build it: rule plugin_library")
        if registry.load_library(str(library)) is None:
            raise PipelineError(library, "TensorRT could not load the plugin library")


def engine_bytes_from_onnx(
    onnx_path: str | Path,
    build: BuildConfig,
    edit: Callable[[ModuleType, Any], None] | None = None,
    *,
    plugin_libraries: list[str] | None = None,
    dims: dict[str, Any] | None = None,
) -> BuiltEngine:
    """Parse an ONNX file and build a serialized, strongly typed TensorRT engine.

    Args:
        onnx_path: the ONNX graph; its precision is the engine's precision.
        build: the build options.
        edit: called with the TensorRT module and the parsed network before the build, to add
            layers with the network API (e.g. ``workflow.trt.topk.add_top_k``).
        plugin_libraries: plugin libraries loaded before parsing (:func:`load_plugin_libraries`).
        dims: (min, opt, max) of the graph's dynamic dimensions beyond the batch (a sequence
            length, a beam, an image's height and width): ``{input: {axis: [min, opt, max]}}``
            by input and axis position (an integer or its digits; unnamed ``?`` dimensions
            too) or by input and dimension name, or ``{name: [min, opt, max]}`` by dimension
            name for every input that has it. A range given for the first axis replaces the
            batch range there.

    Returns:
        The plan, its metadata (TensorRT flavour and version, target, sha256 of the source
        graph, build options, inputs and outputs; no timestamp) and the builder's layer log.

    Raises:
        TensorRTUnavailable: no TensorRT, or full TensorRT without a GPU.
        FormatError: the ONNX parser rejects the graph.
        PipelineError: a dynamic dimension other than the batch, a failed build (the
            builder's own errors are quoted), or an FP8 graph for a GPU below compute
            capability 8.9 (an FP8 engine's metadata lists only the targets that run FP8).
    """
    onnx_path = Path(onnx_path)
    trt, logger, builder, network = _start(build.module)
    load_plugin_libraries(trt, builder, list(plugin_libraries or []))
    parser = trt.OnnxParser(network, logger)
    data = onnx_path.read_bytes()
    if not parser.parse(data, str(onnx_path)):
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise FormatError(onnx_path, "ONNX parser failed: " + "; ".join(errors))
    if edit is not None:
        edit(trt, network)
    source = {"path": str(onnx_path), "sha256": hashlib.sha256(data).hexdigest()}
    shapes = _profile_shapes(network, build, str(onnx_path), names=_dim_names(data), dims=dims)
    needs = _fp8_in_graph(data)
    if needs:  # FP8 tensor cores: compute capability FP8_MIN_CC and later
        _check_fp8_targets(build.compute_capabilities, str(onnx_path))
        if trt.__name__ == "tensorrt_rtx" and not build.compute_capabilities:
            fp8_targets = tuple(cc for cc in RTX_DEFAULT_CC if _cc(cc) >= _cc(FP8_MIN_CC))
            build = dataclasses.replace(build, compute_capabilities=fp8_targets)
    built = _build(trt, builder, network, logger, source=source, build=build, shapes=shapes)
    if needs:
        _restrict_to_fp8(built.meta, str(onnx_path))
    return built


def _cc(value: str) -> tuple[int, int]:
    major, minor = value.split(".")
    return int(major), int(minor)


def _fp8_in_graph(data: bytes) -> bool:
    """Whether an ONNX graph holds FP8 tensors (an FP8 Q/DQ graph's weights and zero points)."""
    import onnx

    fp8 = (onnx.TensorProto.FLOAT8E4M3FN, onnx.TensorProto.FLOAT8E5M2)
    return any(i.data_type in fp8 for i in onnx.load_from_string(data).graph.initializer)


def _check_fp8_targets(chosen: tuple[str, ...], path: str) -> None:
    """Refuse FP8 for chosen compute capabilities below FP8_MIN_CC (no FP8 tensor cores)."""
    below = [cc for cc in chosen if _cc(cc) < _cc(FP8_MIN_CC)]
    if below:
        raise PipelineError(
            path,
            f"an FP8 graph, built for compute capabilities {', '.join(below)}: FP8 runs on "
            f"{FP8_MIN_CC} and later (Ada, Hopper, Blackwell)",
            f"set tensorrt.compute_capabilities to targets of {FP8_MIN_CC} or later "
            '(e.g. ["8.9", "12.0"]), or drop fp8 from \'precisions\'',
        )


def _restrict_to_fp8(meta: dict[str, Any], path: str) -> None:
    """Keep in an FP8 engine's target only the GPUs that run FP8, and say so in its metadata.

    Raises:
        PipelineError: no target left (full TensorRT on a GPU below FP8_MIN_CC).
    """
    target = meta["target"]
    runs = [cc for cc in target["compute_capabilities"] if _cc(cc) >= _cc(FP8_MIN_CC)]
    if not runs:
        raise PipelineError(
            path,
            f"an FP8 graph built for {target['gpu'] or 'compute capabilities'} "
            f"{', '.join(target['compute_capabilities'])}: FP8 runs on {FP8_MIN_CC} and later",
            f"build it on a GPU of compute capability {FP8_MIN_CC} or later, or with "
            "TensorRT-RTX ahead of time",
        )
    target["compute_capabilities"] = runs
    target["fp8_min_compute_capability"] = FP8_MIN_CC


def engine_bytes_from_network(
    populate: Callable[[ModuleType, Any], Any],
    *,
    source: dict[str, str],
    build: BuildConfig,
    refittable: list[str] | None = None,
    plugin_libraries: list[str] | None = None,
    shapes: dict[str, dict[str, list[int]]] | None = None,
) -> BuiltEngine:
    """Build an engine from a network defined with the TensorRT network API (no parser).

    Args:
        populate: called with the TensorRT module and an empty strongly typed network; adds
            the layers, inputs and outputs; what it returns is kept alive during the build.
        source: ``{"path", "sha256"}`` of what the network was made from (e.g. a ``.wts`` file).
        build: the build options.
        refittable: names of weights to make refittable (``BuilderFlag.REFIT_INDIVIDUAL``);
            a refittable build needs full TensorRT on a GPU host (TensorRT-RTX 1.7 refuses it on
            CPU).
        plugin_libraries: plugin libraries loaded before ``populate`` makes plugin layers
            (:func:`load_plugin_libraries`).
        shapes: the optimization profile, ``{input: {"min", "opt", "max"}}``, for networks
            whose inputs are dynamic beyond the first dimension.

    The return value is as for :func:`engine_bytes_from_onnx`.
    """
    trt, logger, builder, network = _start(build.module)
    load_plugin_libraries(trt, builder, list(plugin_libraries or []))
    keep_alive = populate(trt, network)
    result = _build(
        trt,
        builder,
        network,
        logger,
        source=source,
        build=build,
        refittable=refittable,
        shapes=shapes,
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
