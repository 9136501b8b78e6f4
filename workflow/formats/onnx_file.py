"""Graph preparation shared by every precision path: any exporter's ONNX file made into the form
the FP16 and INT8 converters, calibration and the engine builders expect.

What it does, in order, each step reported:

- **Loads external data**: weights kept beside the model in ``.data`` files (``onnx.save`` with
  ``save_as_external_data``, PyTorch's exporter past 2 GB) are read into the graph; a graph that
  stays over protobuf's 2 GB limit is refused with the size.
- **Converts old opsets** to the pipeline's opset with ONNX's version converter (the Q/DQ graph
  needs per-channel ``DequantizeLinear``, opset 13 and up). A graph whose opset is newer is left
  as it is. A node the converter has no adapter for is refused by name, with the fix (export at
  the pipeline's opset).
- **Folds ``Constant`` nodes into initializers**, in the main graph and in every subgraph
  (``If`` branches, ``Loop`` and ``Scan`` bodies): PaddlePaddle's exporter, among others, stores
  every weight as a ``Constant`` node, which the converters would otherwise treat as a computed
  activation (an FP16 graph would type it FP16 while its value stays FP32; the INT8 graph would
  quantize it per tensor from activation ranges). A ``Constant`` whose output is itself a graph
  output stays a node (an initializer cannot be one).
- **Drops initializers listed as graph inputs** (exporters before IR version 4 list every weight
  as an input): they are weights, not inputs a caller feeds.
- **Infers shapes** (with data propagation, so ``Reshape`` targets computed from shapes are
  known).
- **Reports shared weights**: initializers read by more than one node, which the precision
  converters must keep consistent (one FP16 copy, one set of per-channel scales).
"""

import logging
from pathlib import Path
from typing import Any

import numpy as np

from workflow.errors import FormatError, PipelineError

log = logging.getLogger(__name__)

#: The ONNX default domain's names.
DEFAULT_DOMAINS = ("", "ai.onnx")
#: Protobuf's limit on one serialized message.
PROTOBUF_LIMIT = 2**31 - 1
#: Ops whose attributes hold subgraphs.
SUBGRAPH_ATTRIBUTES = ("then_branch", "else_branch", "body")


def default_opset(model: Any) -> int:
    """The graph's opset of the default ONNX domain (0 when it imports none)."""
    versions = [o.version for o in model.opset_import if o.domain in DEFAULT_DOMAINS]
    return max(versions, default=0)


def graphs(graph: Any) -> list[Any]:
    """``graph`` and every subgraph inside it, outermost first."""
    found = [graph]
    for node in graph.node:
        for attr in node.attribute:
            if attr.g.ByteSize():
                found += graphs(attr.g)
            for sub in attr.graphs:
                found += graphs(sub)
    return found


def _constant_value(node: Any) -> Any | None:
    """The tensor a ``Constant`` node makes, or ``None`` for a sparse value."""
    from onnx import TensorProto, helper, numpy_helper

    attr = {a.name: a for a in node.attribute}
    if "value" in attr:
        return attr["value"].t
    scalar_kinds = {
        "value_float": lambda a: numpy_helper.from_array(np.array(a.f, np.float32)),
        "value_floats": lambda a: numpy_helper.from_array(np.array(a.floats, np.float32)),
        "value_int": lambda a: numpy_helper.from_array(np.array(a.i, np.int64)),
        "value_ints": lambda a: numpy_helper.from_array(np.array(a.ints, np.int64)),
        "value_string": lambda a: helper.make_tensor("", TensorProto.STRING, [], [a.s]),
        "value_strings": lambda a: helper.make_tensor(
            "", TensorProto.STRING, [len(a.strings)], list(a.strings)
        ),
    }
    for kind, make in scalar_kinds.items():
        if kind in attr:
            return make(attr[kind])
    return None


def fold_constants(graph: Any) -> int:
    """Move every ``Constant`` node's value into an initializer of the graph it lives in (and
    likewise in every subgraph). Returns how many were folded."""
    folded = 0
    for each in graphs(graph):
        outputs = {o.name for o in each.output}
        kept = []
        for node in each.node:
            value = _constant_value(node) if node.op_type == "Constant" else None
            if value is None or node.domain not in DEFAULT_DOMAINS or node.output[0] in outputs:
                kept.append(node)
                continue
            init = each.initializer.add()
            init.CopyFrom(value)
            init.name = node.output[0]
            folded += 1
        if len(kept) != len(each.node):
            del each.node[:]
            each.node.extend(kept)
    return folded


def drop_initializer_inputs(graph: Any) -> list[str]:
    """Remove graph inputs that are initializers; returns their names."""
    inits = {i.name for i in graph.initializer}
    dropped = [i.name for i in graph.input if i.name in inits]
    if dropped:
        kept = [i for i in graph.input if i.name not in inits]
        del graph.input[:]
        graph.input.extend(kept)
    return dropped


def shared_weights(graph: Any) -> dict[str, int]:
    """Initializers read by more than one node of the main graph: name -> readers."""
    inits = {i.name for i in graph.initializer}
    readers: dict[str, int] = {}
    for node in graph.node:
        for name in set(node.input):
            if name in inits:
                readers[name] = readers.get(name, 0) + 1
    return {name: count for name, count in readers.items() if count > 1}


def convert_opset(model: Any, opset: int, source: str) -> Any:
    """The model at ``opset`` through ONNX's version converter.

    Raises:
        PipelineError: the converter has no adapter for a node (named, with the fix).
    """
    import onnx
    from onnx import version_converter

    found = default_opset(model)
    try:
        converted = version_converter.convert_version(model, opset)
    except Exception as err:  # the converter raises RuntimeError or ValidationError
        text = str(err).strip()
        # the C++ assertion's location is noise to a user: keep what follows "failed: "
        message = text.split(" failed: ", 1)[-1].splitlines()[0] if text else type(err).__name__
        ops = {n.op_type for g in graphs(model.graph) for n in g.node}
        named = sorted((op for op in ops if op in message), key=len, reverse=True)
        where = ""
        if named:
            node = next(n for g in graphs(model.graph) for n in g.node if n.op_type == named[0])
            where = f" at node {node.name or '(unnamed)'!r} ({named[0]})"
        raise PipelineError(
            source,
            f"cannot convert opset {found} to {opset}{where}: {message}",
            f"export the model at opset {opset} or newer",
        ) from err
    needed = onnx.helper.find_min_ir_version_for(list(converted.opset_import), True)
    converted.ir_version = max(converted.ir_version, needed)
    return converted


def prepare_model(model: Any, *, opset: int, source: str = "model") -> tuple[Any, dict[str, Any]]:
    """Prepare a loaded model (see the module docstring); ``source`` names it in errors.

    Returns:
        The prepared model and the report: ``opset`` (found, used), ``constants_folded``,
        ``initializer_inputs``, ``shapes`` (inferred, or why not), ``subgraphs``,
        ``shared_weights``.

    Raises:
        PipelineError: an opset the converter cannot reach, or a graph over 2 GB.
    """
    import onnx

    found = default_opset(model)
    report: dict[str, Any] = {"opset": {"found": found, "used": max(found, opset)}}
    if model.ByteSize() > PROTOBUF_LIMIT:
        raise PipelineError(
            source,
            f"{model.ByteSize() / 2**30:.2f} GB of graph and weights: over protobuf's 2 GB",
            "the precision graphs of models this large are not supported",
        )
    # folding first: the converter's adapters read some inputs only as initializers
    report["constants_folded"] = fold_constants(model.graph)
    report["initializer_inputs"] = len(drop_initializer_inputs(model.graph))
    if report["initializer_inputs"]:
        model.ir_version = max(model.ir_version, 4)  # IR 4: initializers need not be inputs
    if found < opset:
        model = convert_opset(model, opset, source)
        report["constants_folded"] += fold_constants(model.graph)
    report["shapes"] = "inferred"
    try:
        model = onnx.shape_inference.infer_shapes(model, data_prop=True)
    except Exception:  # an exporter's value_info that disagrees with inference: infer afresh
        fresh = type(model)()
        fresh.CopyFrom(model)
        del fresh.graph.value_info[:]
        try:
            model = onnx.shape_inference.infer_shapes(fresh, data_prop=True)
        except Exception as err:  # an op ONNX does not know: the model's own checks name it
            report["shapes"] = f"not inferred: {str(err).strip()[:300]}"
    report["subgraphs"] = len(graphs(model.graph)) - 1
    report["shared_weights"] = shared_weights(model.graph)
    if report["constants_folded"] or found < opset:
        log.info(
            "prepare | %s: opset %d -> %d, %d Constant nodes folded into initializers",
            source,
            found,
            report["opset"]["used"],
            report["constants_folded"],
        )
    return model, report


def load_onnx(path: str | Path) -> Any:
    """An ONNX file with its external data, if any (looked up beside the file).

    Raises:
        FormatError: not an ONNX file, or an external data file that is missing.
    """
    import onnx
    from onnx.external_data_helper import (
        ExternalDataInfo,
        load_external_data_for_model,
        uses_external_data,
    )

    path = Path(path)
    try:
        model = onnx.load(path, load_external_data=False)
    except Exception as err:  # protobuf's DecodeError and friends
        raise FormatError(
            path, f"not an ONNX file ({type(err).__name__}: {err})", "give a .onnx file"
        ) from err
    tensors = [t for g in graphs(model.graph) for t in g.initializer if uses_external_data(t)]
    for tensor in tensors:
        location = path.parent / ExternalDataInfo(tensor).location
        if not location.is_file():
            raise FormatError(
                path,
                f"external data file missing: {location} (weight {tensor.name!r})",
                f"keep the model's data files beside it in {path.parent}",
            )
    if tensors:
        load_external_data_for_model(model, str(path.parent))
    return model


def prepare_file(path: str | Path, *, opset: int) -> tuple[bytes, dict[str, Any]]:
    """Load an ONNX file (with external data), prepare it and serialize it."""
    model, report = prepare_model(load_onnx(path), opset=opset, source=str(path))
    return model.SerializeToString(), report


def prepare_bytes(data: bytes, *, opset: int, source: str = "model") -> tuple[bytes, dict]:
    """Prepare a serialized graph (no external data)."""
    import onnx

    model, report = prepare_model(onnx.load_from_string(data), opset=opset, source=source)
    return model.SerializeToString(), report
