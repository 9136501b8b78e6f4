"""Your own model (config ``byo.<name>``): an ONNX file or a Keras ``.keras`` file, checked and
normalised for the pipeline's precision, calibration and engine rules.

Checks, each a clear error naming the file and the fix: the file is ONNX (or Keras); it has one
input (or ``input`` names one), of rank 4 in the declared layout with 1 or 3 channels; every node
is a standard ONNX op without subgraphs (the FP16 and INT8 converters handle those; a custom
domain, If, Loop or Scan they cannot); the output is (batch, classes) with at least as many
classes as the labels. The batch is made dynamic where the graph allows it (the input's and
outputs' first dimension renamed ``batch``, a Reshape to a constant shape that starts with the
static batch made to infer it (-1) or copy it from its input (0), checked by running batches of
1 and 2 through ONNX Runtime and comparing them); where it does not (a shape computed from the
batch, say), the report says so and the batch stays static (engines then take exactly that
batch; the last batch of a test split is padded).
"""

from pathlib import Path
from typing import Any

import numpy as np

from workflow.errors import PipelineError
from workflow.formats.onnx_file import load_onnx, prepare_model
from workflow.models.keras import import_tensorflow, onnx_from_keras
from workflow.ort.loader import session_from_onnx

#: Ops with subgraphs: the precision converters take flat graphs only.
SUBGRAPH_OPS = ("If", "Loop", "Scan")


def _load(path: Path, *, opset: int) -> tuple[Any, dict[str, Any]]:
    """The model, prepared (``formats.onnx_file``: opset, Constant weights, external data), and
    what the preparation did."""
    import onnx

    if path.suffix == ".keras":
        model = import_tensorflow().keras.models.load_model(path)
        names = {"input_name": model.inputs[0].name, "output_name": model.outputs[0].name}
        model = onnx.load_from_string(onnx_from_keras(model, opset=opset, **names))
    else:
        model = load_onnx(path)
    return prepare_model(model, opset=opset, source=str(path))


def _dims(value: Any) -> list[int | str]:
    return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]


def check_model(model: Any, path: Path, *, input_name: str, layout: str) -> dict[str, Any]:
    """Check a loaded model (see the module docstring); its input and output as they are."""
    inits = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in inits]
    if input_name:
        chosen = [i for i in inputs if i.name == input_name]
        if not chosen:
            raise PipelineError(
                path, f"no input {input_name!r}; it has {[i.name for i in inputs]}", "fix byo input"
            )
    elif len(inputs) != 1:
        raise PipelineError(
            path,
            f"{len(inputs)} inputs {[i.name for i in inputs]}; the pipeline feeds one",
            "name the image input in byo input (the others must be constants)",
        )
    else:
        chosen = inputs
    if len(inputs) != 1:
        raise PipelineError(path, f"{len(inputs)} inputs; the pipeline feeds one image input")
    dims = _dims(chosen[0])
    channel = 1 if layout == "NCHW" else 3
    if len(dims) != 4 or dims[channel] not in (1, 3):
        raise PipelineError(
            path,
            f"input {chosen[0].name} is {dims}, not {layout} with 1 or 3 channels",
            "fix byo layout (NCHW or NHWC)",
        )
    for node in model.graph.node:
        if node.domain not in ("", "ai.onnx"):
            raise PipelineError(
                path,
                f"node {node.name or node.op_type} is {node.domain}::"
                f"{node.op_type}, not a standard ONNX op",
                "the FP16 and INT8 converters take standard ops only",
            )
        if node.op_type in SUBGRAPH_OPS:
            raise PipelineError(
                path,
                f"node {node.name or node.op_type} is a {node.op_type} node (a subgraph)",
                "the FP16 and INT8 converters take flat graphs: export without control flow",
            )
    outputs = [(o.name, _dims(o)) for o in model.graph.output]
    return {"input": chosen[0].name, "input_shape": dims, "outputs": outputs}


def _make_batch_dynamic(model: Any, batch: int) -> Any:
    """The model with its input's and outputs' first dimension named ``batch``, and every
    Reshape whose constant target shape starts with the static batch (an exporter's flatten)
    inferring that dimension (-1) or copying it from its input (0) instead."""
    import onnx
    from onnx import numpy_helper

    dynamic = type(model)()
    dynamic.CopyFrom(model)
    for value in [*dynamic.graph.input, *dynamic.graph.output]:
        dims = value.type.tensor_type.shape.dim
        if dims and dims[0].dim_value:
            dims[0].ClearField("dim_value")
            dims[0].dim_param = "batch"
    inits = {init.name: init for init in dynamic.graph.initializer}
    for node in dynamic.graph.node:
        if node.op_type == "Reshape" and len(node.input) > 1 and node.input[1] in inits:
            shape = numpy_helper.to_array(inits[node.input[1]])
            allow_zero = any(a.name == "allowzero" and a.i for a in node.attribute)
            if shape.ndim == 1 and len(shape) and shape[0] == batch:
                shape = shape.copy()
                if -1 not in shape[1:]:
                    shape[0] = -1  # whatever is left: the batch
                elif not allow_zero:
                    shape[0] = 0  # copied from the input
                else:
                    continue
                inits[node.input[1]].CopyFrom(numpy_helper.from_array(shape, node.input[1]))
    del dynamic.graph.value_info[:]
    onnx.checker.check_model(dynamic)
    return dynamic


def load_checked(
    path: str | Path, *, input_name: str, layout: str, opset: int
) -> tuple[Any, dict[str, Any]]:
    """Load your model and check it (see the module docstring).

    Returns:
        The ONNX model and its report so far: ``input``, ``input_shape``, ``outputs``,
        ``size`` (height, width), ``channels`` and ``layout`` of the image input (a Keras model
        is converted with an NCHW input whatever ``layout`` says).

    Raises:
        FormatError: not an ONNX (or Keras) file.
        PipelineError: a missing file, or any check above.
    """
    path = Path(path)
    if not path.is_file():
        raise PipelineError(path, "no such model file", "fix byo model")
    model, prepared = _load(path, opset=opset)
    if path.suffix == ".keras":
        layout = "NCHW"  # tf2onnx is asked for NCHW input (inputs_as_nchw)
        input_name = ""
    report = check_model(model, path, input_name=input_name, layout=layout)
    dims = report["input_shape"]
    h, w, c = (dims[2], dims[3], dims[1]) if layout == "NCHW" else (dims[1], dims[2], dims[3])
    if not all(isinstance(v, int) and v > 0 for v in (h, w)):
        raise PipelineError(
            path,
            f"input {report['input']} has no fixed height and width {dims}",
            "export it with a fixed image size",
        )
    return model, report | {
        "size": [h, w],
        "channels": c,
        "layout": layout,
        "file": str(path),
        "prepared": prepared,
    }


def normalise(
    model: Any, report: dict[str, Any], *, classes: int, sample: np.ndarray
) -> tuple[bytes, dict[str, Any]]:
    """Make the batch dynamic where the graph allows it and check the outputs against the
    labels (see the module docstring).

    Args:
        model, report: :func:`load_checked`'s.
        classes: how many classes the labels hold.
        sample: at least two preprocessed images.

    Returns:
        The graph and the completed report (``batch``: dynamic, made dynamic, or static and
        why; ``output``; ``classes``).

    Raises:
        PipelineError: an output that is not (batch, classes), or fewer classes than the labels.
    """
    path = report["file"]
    name = report["input"]
    static = report["input_shape"][0]
    graph = model
    report = report | {"batch": "dynamic"}
    if isinstance(static, int) and static > 0:
        candidate = _make_batch_dynamic(model, static)
        try:
            session = session_from_onnx(candidate.SerializeToString())
            both = session.run(None, {name: sample[:2]})[0]
            one = session.run(None, {name: sample[:1]})[0]
            if not np.allclose(both[:1], one, atol=1e-4):
                raise RuntimeError("batch 2 differs from batch 1")
            graph = candidate
            report["batch"] = f"made dynamic (was {static})"
        except Exception as err:  # the graph fixes its batch somewhere
            report["batch"] = f"static {static}: cannot be made dynamic ({str(err)[:300]})"
    data = graph.SerializeToString()
    fixed = report["batch"].startswith("static")
    probe = sample[: int(static)] if fixed else sample[:2]
    first = np.asarray(session_from_onnx(data).run(None, {name: probe})[0])
    if first.ndim != 2:
        raise PipelineError(
            path,
            f"its first output is {first.shape}, not (batch, classes)",
            "classify models end with one score per class",
        )
    if first.shape[1] < classes:
        raise PipelineError(
            path,
            f"{first.shape[1]} class scores, the labels hold {classes} classes",
            "the labels must match the outputs (fix byo data)",
        )
    return data, report | {"output": graph.graph.output[0].name, "classes": int(first.shape[1])}
