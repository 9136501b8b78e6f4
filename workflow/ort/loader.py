"""Loaders for ONNX Runtime sessions."""

from pathlib import Path
from typing import TYPE_CHECKING

from workflow.errors import PipelineError
from workflow.plugins.reference import has_plugin_nodes, ort_view, register_operators
from workflow.plugins.spec import DOMAIN
from workflow.repro import ort_optimization_level, ort_session_config

if TYPE_CHECKING:
    import onnxruntime


#: The optimization level of a graph holding FP8 tensors. ONNX Runtime 1.32's extended
#: optimizations on CPU compute such graphs wrongly: measured on the resnet50 sample's FP8 graph
#: (a calibration batch of 50 images), the extended and full levels agree with FP32 on 10 % of
#: the top-1 classes (logits off by up to 1.0), the basic level on 100 % (within 0.07).
FP8_OPTIMIZATION = "ORT_ENABLE_BASIC"
#: ONNX's FP8 element types.
FP8_TYPES = (17, 18, 19, 20)  # FLOAT8E4M3FN, FLOAT8E4M3FNUZ, FLOAT8E5M2, FLOAT8E5M2FNUZ


def holds_fp8(data: bytes) -> bool:
    """Whether an ONNX graph (its bytes) holds an FP8 initializer, as an FP8 Q/DQ graph's
    weights and zero points are; parsed only where it names a QuantizeLinear or
    DequantizeLinear node."""
    if b"QuantizeLinear" not in data:
        return False
    import onnx

    graph = onnx.load_from_string(data).graph
    return any(init.data_type in FP8_TYPES for init in graph.initializer)


def session_from_onnx(
    model: str | Path | bytes,
    *,
    providers: list[str] | None = None,
    threads: int = 1,
    profile_prefix: str | Path | None = None,
    optimization: str | None = None,
) -> "onnxruntime.InferenceSession":
    """Create an ONNX Runtime session.

    Args:
        model: path to an ONNX file, or its bytes.
        providers: execution providers in order of preference. Defaults to
            ``["CPUExecutionProvider"]``.
        threads: intra-op threads (results are reproducible for a fixed count). Defaults to 1.
            The graph optimization level and the session configuration entries follow the
            process's reproducibility mode.
        profile_prefix: where given, ONNX Runtime's profiler times every node of every run and
            ``end_profiling()`` writes its JSON events to a file starting with this prefix.
        optimization: a ``GraphOptimizationLevel`` member name. Defaults to the level of the
            process's reproducibility mode (:func:`workflow.repro.ort_optimization_level`), or
            :data:`FP8_OPTIMIZATION` for a graph holding FP8 tensors (:func:`holds_fp8`).

    A graph holding sample plugin nodes runs them through their CPU reference
    (``workflow.plugins.reference``).

    Raises:
        PipelineError: a requested provider is not available in this onnxruntime build.
    """
    import onnxruntime as ort

    providers = providers or ["CPUExecutionProvider"]
    available = ort.get_available_providers()
    missing = [p for p in providers if p not in available]
    if missing:
        raise PipelineError(
            "onnxruntime",
            f"provider(s) {missing} not available",
            f"available here: {available}",
        )
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    source = model if isinstance(model, bytes) else str(model)
    data = model if isinstance(model, bytes) else Path(model).read_bytes()
    # strict reproducibility stops short of the NCHWc layout, whose blocking follows the CPU's
    # vector width (workflow/repro.py); an FP8 Q/DQ graph runs at the basic level
    # (FP8_OPTIMIZATION)
    level = optimization or (FP8_OPTIMIZATION if holds_fp8(data) else ort_optimization_level())
    options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, level)
    # strict reproducibility runs Q/DQ as float operators: the fused integer kernels round and
    # saturate differently by instruction set (workflow/repro.py)
    for key, value in ort_session_config().items():
        options.add_session_config_entry(key, value)
    if profile_prefix is not None:
        options.enable_profiling = True
        options.profile_file_prefix = str(profile_prefix)
    if DOMAIN.encode() in data:  # cheap test first: only then parse
        import onnx

        parsed = onnx.load_from_string(data)
        if has_plugin_nodes(parsed):
            options.register_custom_ops_library(register_operators())
            source = ort_view(parsed).SerializeToString()
    return ort.InferenceSession(source, sess_options=options, providers=providers)
