"""Your own model (config ``byo.<name>``): an ONNX file or a Keras ``.keras`` file, checked and
normalised for the pipeline's precision, calibration and engine rules.

Any ONNX model: several inputs and outputs, any dtypes and ranks, dynamic dimensions (named or
unnamed ``?``; the engine takes their ranges from ``byo.<name>.profile``). Checks, each a clear
error naming the file, the node or input, and the fix: the file is ONNX (or Keras); every node is
a standard ONNX op without subgraphs (the FP16 and INT8 converters handle those; a custom
domain, If, Loop or Scan they cannot). Where images feed the model (a labelled image set, or an
image folder of feeds), the image input (``input``, or the only input) is of rank 4 in the
declared layout with 1 or 3 channels, and a dynamic height and width take ``input_size``. A
classifier (labels given) has a first output (batch, classes) with at least as many classes as
the labels.

The batch: the inputs whose first dimension is the first input's (the same size, or dynamic)
are batched; the others (a scalar, a shape vector) are fed whole with every batch. A static
batch is made dynamic where the graph allows it (those inputs' and the outputs' first dimension
renamed ``batch``, a Reshape to a constant shape that starts with the static batch made to infer
it (-1) or copy it from its input (0), checked by running batches of 1 and 2 through ONNX
Runtime and comparing every output); where it does not (a shape computed from the batch, say),
the report says so and the batch stays static: every batch is then cut to that size, the last
one padded with copies of its last row, and the padding is dropped from the results.
"""

from pathlib import Path
from typing import Any

import numpy as np

from workflow.data.byo import (
    cut_batches,
    is_npz_folder,
    preprocess,
    read_image_folder,
    read_labelled,
    read_npz_folder,
)
from workflow.errors import PipelineError
from workflow.formats.onnx_file import load_onnx, prepare_model
from workflow.models.keras import import_tensorflow, onnx_from_keras
from workflow.ort.loader import session_from_onnx

#: Ops with subgraphs: the precision converters take flat graphs only.
SUBGRAPH_OPS = ("If", "Loop", "Scan")
#: How an unnamed dynamic dimension is written in reports.
UNNAMED = "?"


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
    """A value's shape: sizes, dimension names, ``?`` for an unnamed dynamic one (no value,
    or a value below 1: PaddlePaddle's exporter writes -1 for a dynamic dimension)."""
    return [
        d.dim_param or (d.dim_value if d.dim_value > 0 else UNNAMED)
        for d in value.type.tensor_type.shape.dim
    ]


def _spec(value: Any) -> dict[str, Any]:
    """A graph input's or output's name, numpy dtype name and shape."""
    from onnx import helper

    elem = value.type.tensor_type.elem_type
    dtype = np.dtype(helper.tensor_dtype_to_np_dtype(elem)).name if elem else "undefined"
    return {"name": value.name, "dtype": dtype, "shape": _dims(value)}


def graph_inputs(model: Any) -> list[dict[str, Any]]:
    """The inputs a caller feeds (not initializers): name, numpy dtype name, shape."""
    inits = {i.name for i in model.graph.initializer}
    return [_spec(i) for i in model.graph.input if i.name not in inits]


def batched_inputs(inputs: list[dict[str, Any]]) -> list[str]:
    """The inputs fed in batches: those whose first dimension is the first input's (the same
    size, or dynamic like it); none when the first input is a scalar."""
    if not inputs or not inputs[0]["shape"]:
        return []
    first = inputs[0]["shape"][0]
    dynamic = not isinstance(first, int)
    return [
        spec["name"]
        for spec in inputs
        if spec["shape"]
        and (spec["shape"][0] == first or (dynamic and not isinstance(spec["shape"][0], int)))
    ]


def _check_nodes(model: Any, path: Path) -> None:
    for node in model.graph.node:
        if node.domain not in ("", "ai.onnx"):
            raise PipelineError(
                path,
                f"node {node.name or node.op_type} is {node.domain}::"
                f"{node.op_type}, not a standard ONNX op",
                "the FP16 and INT8 converters take standard ops only: export without it",
            )
        if node.op_type in SUBGRAPH_OPS:
            raise PipelineError(
                path,
                f"node {node.name or node.op_type} is a {node.op_type} node (a subgraph)",
                "the FP16 and INT8 converters take flat graphs: export without control flow",
            )


def _image_input(
    inputs: list[dict[str, Any]], path: Path, *, input_name: str, layout: str
) -> dict[str, Any]:
    if input_name:
        chosen = [i for i in inputs if i["name"] == input_name]
        if not chosen:
            raise PipelineError(
                path,
                f"no input {input_name!r}; it has {[i['name'] for i in inputs]}",
                "fix byo input",
            )
    elif len(inputs) != 1:
        raise PipelineError(
            path,
            f"{len(inputs)} inputs {[i['name'] for i in inputs]}; images feed one",
            "name the image input in byo input (a model of several inputs takes .npz feeds: "
            "byo data.calibration and data.evaluation)",
        )
    else:
        chosen = inputs
    if len(inputs) != 1:
        others = [i["name"] for i in inputs if i["name"] != chosen[0]["name"]]
        raise PipelineError(
            path,
            f"inputs {others} besides the image input {chosen[0]['name']!r}; images feed one",
            "give .npz feeds holding every input (byo data.calibration and data.evaluation)",
        )
    dims = chosen[0]["shape"]
    channel = 1 if layout == "NCHW" else 3
    if len(dims) != 4 or dims[channel] not in (1, 3):
        raise PipelineError(
            path,
            f"input {chosen[0]['name']} is {dims}, not {layout} with 1 or 3 channels",
            "fix byo layout (NCHW or NHWC)",
        )
    return chosen[0]


def check_model(
    model: Any, path: Path, *, input_name: str, layout: str, images: bool = True
) -> dict[str, Any]:
    """Check a loaded model (see the module docstring).

    Args:
        model: the ONNX model.
        path: its file, named in errors.
        input_name: the image input ("" for the only input).
        layout: the image input's layout, NCHW or NHWC.
        images: whether images feed it (the image input is checked).

    Returns:
        ``inputs`` and ``outputs`` (name, dtype, shape each), ``batched`` (the inputs fed in
        batches), and for images ``input`` and ``input_shape`` of the image input ("" and []
        otherwise).

    Raises:
        PipelineError: a non-standard op, a subgraph, an image input that is missing or not
            an image.
    """
    inputs = graph_inputs(model)
    if not inputs:
        raise PipelineError(path, "no inputs", "export the model with its inputs")
    _check_nodes(model, path)
    report: dict[str, Any] = {
        "inputs": inputs,
        "outputs": [_spec(o) for o in model.graph.output],
        "batched": batched_inputs(inputs),
        "input": "",
        "input_shape": [],
    }
    if images:
        image = _image_input(inputs, path, input_name=input_name, layout=layout)
        report |= {"input": image["name"], "input_shape": image["shape"]}
    return report


def _make_batch_dynamic(model: Any, batch: int, batched: list[str]) -> Any:
    """The model with the ``batched`` inputs' and the outputs' first dimension (where it is
    ``batch``) named ``batch``, and every Reshape whose constant target shape starts with the
    static batch (an exporter's flatten) inferring that dimension (-1) or copying it from its
    input (0) instead."""
    import onnx
    from onnx import numpy_helper

    dynamic = type(model)()
    dynamic.CopyFrom(model)
    values = [v for v in dynamic.graph.input if v.name in batched] + list(dynamic.graph.output)
    for value in values:
        dims = value.type.tensor_type.shape.dim
        if dims and dims[0].dim_value == batch:
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
    path: str | Path,
    *,
    input_name: str,
    layout: str,
    opset: int,
    input_size: list[int] | tuple[int, ...] = (),
    images: bool = True,
) -> tuple[Any, dict[str, Any]]:
    """Load your model and check it (see the module docstring).

    Args:
        path: the ``.onnx`` or ``.keras`` file.
        input_name: the image input ("" for the only input).
        layout: the image input's layout, NCHW or NHWC.
        opset: the pipeline's opset (older graphs are converted).
        input_size: (height, width) images are resized to where the image input's are dynamic
            (empty: the input's own).
        images: whether images feed the model (else ``.npz`` feeds: no image input is needed).

    Returns:
        The ONNX model and its report so far (:func:`check_model`'s, and ``file``,
        ``prepared``; for images ``size`` (height, width), ``channels`` and ``layout`` of the
        image input; a Keras model is converted with an NCHW input whatever ``layout`` says).

    Raises:
        FormatError: not an ONNX (or Keras) file.
        PipelineError: a missing file, any check above, a dynamic image size without
            ``input_size``, or an ``input_size`` that differs from the input's fixed one.
    """
    path = Path(path)
    if not path.is_file():
        raise PipelineError(path, "no such model file", "fix byo model")
    model, prepared = _load(path, opset=opset)
    if path.suffix == ".keras":
        layout = "NCHW"  # tf2onnx is asked for NCHW input (inputs_as_nchw)
        input_name = ""
    report = check_model(model, path, input_name=input_name, layout=layout, images=images)
    report |= {"file": str(path), "prepared": prepared}
    if not images:
        return model, report
    dims = report["input_shape"]
    h, w, c = (dims[2], dims[3], dims[1]) if layout == "NCHW" else (dims[1], dims[2], dims[3])
    fixed = [h, w] if all(isinstance(v, int) for v in (h, w)) else None
    if input_size and len(input_size) != 2:
        raise PipelineError(
            path, f"byo input_size is {list(input_size)}", "give [height, width], or leave it empty"
        )
    size = list(input_size) or fixed
    if size is None:
        raise PipelineError(
            path,
            f"input {report['input']} has a dynamic height and width {dims}",
            "set byo input_size: [height, width], the size images are resized to, and give "
            "the engine's range of each in byo profile",
        )
    if fixed and size != fixed:
        raise PipelineError(
            path,
            f"input {report['input']} is fixed at {fixed}, byo input_size is {size}",
            "leave input_size empty for a fixed-size input",
        )
    return model, report | {"size": size, "channels": c, "layout": layout}


def _rows(feed: dict[str, np.ndarray], batched: list[str], count: int) -> dict[str, np.ndarray]:
    """The feed with its batched inputs cut (or repeated) to ``count`` rows."""
    out = {name: np.asarray(value) for name, value in feed.items()}
    for name in batched:
        value = feed[name]
        if len(value) < count:
            value = np.concatenate([value] * -(-count // len(value)))
        out[name] = value[:count]
    return out


def _batch_of(feed: dict[str, np.ndarray], batched: list[str]) -> int:
    return len(feed[batched[0]]) if batched else 1


def normalise(
    model: Any,
    report: dict[str, Any],
    *,
    sample: dict[str, np.ndarray],
    classes: int | None = None,
) -> tuple[bytes, dict[str, Any]]:
    """Make the batch dynamic where the graph allows it and, for a classifier, check the
    outputs against the labels (see the module docstring).

    Args:
        model, report: :func:`load_checked`'s.
        sample: one feed (arrays by input name; images preprocessed), at least one row.
        classes: how many classes the labels hold (None: no labels, no classifier check).

    Returns:
        The graph and the completed report (``batch``: dynamic, made dynamic, or static and
        why; ``static_batch``: the size every batch is cut to, 0 where the batch is dynamic;
        ``output``: the first output; for a classifier ``classes``).

    Raises:
        PipelineError: for a classifier, a first output that is not (batch, classes), or
            fewer classes than the labels.
    """
    path = report["file"]
    batched = report["batched"]
    first = report["inputs"][0]["shape"]
    static = first[0] if batched and isinstance(first[0], int) else 0
    graph = model
    report = report | {"batch": "dynamic" if batched else "none (no batched input)"}
    if static:
        candidate = _make_batch_dynamic(model, static, batched)
        try:
            session = session_from_onnx(candidate.SerializeToString())
            both = session.run(None, _rows(sample, batched, 2))
            one = session.run(None, _rows(sample, batched, 1))
            for name, b, o in zip([v.name for v in candidate.graph.output], both, one, strict=True):
                b, o = np.asarray(b), np.asarray(o)
                if b.ndim and o.ndim and (len(b), len(o)) == (2, 1) and b.shape[1:] == o.shape[1:]:
                    b = b[:1]  # a batched output: its first row
                if b.shape != o.shape or not np.allclose(b, o, atol=1e-4):
                    raise RuntimeError(f"output {name}: batch 2 gives {b.shape}, differing from 1")
            graph = candidate
            report["batch"] = f"made dynamic (was {static})"
            static = 0
        except Exception as err:  # the graph fixes its batch somewhere
            report["batch"] = f"static {static}: cannot be made dynamic ({str(err)[:300]})"
    data = graph.SerializeToString()
    report |= {"static_batch": int(static), "output": graph.graph.output[0].name}
    if classes is None:
        return data, report
    probe = _rows(sample, batched, static or min(2, _batch_of(sample, batched)))
    scores = np.asarray(session_from_onnx(data).run(None, probe)[0])
    if scores.ndim != 2:
        raise PipelineError(
            path,
            f"its first output {report['output']} is {scores.shape}, not (batch, classes)",
            "a classifier ends with one score per class (for any other model, leave out "
            "the labels: byo data.calibration and data.evaluation)",
        )
    if scores.shape[1] < classes:
        raise PipelineError(
            path,
            f"{scores.shape[1]} class scores, the labels hold {classes} classes",
            "the labels must match the outputs (fix byo data)",
        )
    return data, report | {"classes": int(scores.shape[1])}


def _image_feeds(images: Any, report: dict[str, Any], pixels: dict[str, Any]) -> list[dict]:
    """One feed of the image input: ``images`` preprocessed (``pixels``: scale, mean, ...)."""
    size, channels, layout = tuple(report["size"]), report["channels"], report["layout"]
    arrays = preprocess(images, size=size, channels=channels, layout=layout, **pixels)
    return [{report["input"]: arrays}]


def import_own(
    path: str | Path, settings: dict[str, Any], *, opset: int
) -> tuple[bytes, dict[str, Any], dict[str, Any]]:
    """Your model checked and normalised, with its calibration and evaluation batches.

    Args:
        path: the model file.
        settings: the ``byo.<name>`` entry, defaults filled in (``input``, ``layout``,
            ``input_size``, ``preprocess``, ``data``, ``calibration_images``, ``batch_size``).
        opset: the pipeline's opset.

    Returns:
        The graph, its report (:func:`normalise`'s, with ``task``: classify or none,
        ``classes_named``, and per set ``calibration`` and ``evaluation`` its ``source``,
        ``rows`` and ``real`` rows per batch), and the data: ``calibration`` and
        ``evaluation`` batches (feeds), ``labels`` of the evaluation rows (empty without a
        task) and ``classes``.

    Raises:
        DataError: missing or unreadable data, feeds that do not fit the graph.
        PipelineError: the model's checks (:func:`load_checked`, :func:`normalise`), or data
            naming neither labelled images nor calibration and evaluation feeds.
    """
    data = settings["data"]
    labelled = "folder" in data or "train_images" in data
    if not labelled and not ("calibration" in data and "evaluation" in data):
        raise PipelineError(
            f"byo {Path(path).name} data",
            f"names {sorted(data)}: neither labelled images nor calibration and evaluation feeds",
            "give folder (train/ and test/ class folders), the four IDX files, or calibration "
            "and evaluation (folders of .npz feeds or images)",
        )
    sets = ("calibration", "evaluation")
    npz = {} if labelled else {key: is_npz_folder(data[key]) for key in sets}
    images = labelled or not all(npz.values())
    model, report = load_checked(
        path,
        input_name=settings["input"],
        layout=settings["layout"],
        opset=opset,
        input_size=settings["input_size"],
        images=images,
    )
    count = settings["calibration_images"]
    if labelled:
        train, test, classes = read_labelled(data)
        train = type(train)(train.images[:count], train.labels[:count])
        feeds = {
            "calibration": _image_feeds(train, report, settings["preprocess"]),
            "evaluation": _image_feeds(test, report, settings["preprocess"]),
        }
        labels = test.labels
    else:
        feeds = {}
        for key in sets:
            if npz[key]:
                feeds[key] = read_npz_folder(data[key], report["inputs"], batched=report["batched"])
            else:
                found = read_image_folder(data[key])
                if key == "calibration":
                    found = type(found)(found.images[:count], found.labels[:count])
                feeds[key] = _image_feeds(found, report, settings["preprocess"])
        classes, labels = [], np.zeros(0, np.int64)
    sample = feeds["evaluation"][0]
    graph, report = normalise(
        model, report, sample=sample, classes=len(classes) if labelled else None
    )
    report |= {"task": "classify" if labelled else "none", "classes_named": classes}
    out: dict[str, Any] = {"labels": labels, "classes": classes}
    for key, found in feeds.items():
        image_rows = labelled or not npz[key]
        batches, real = cut_batches(
            found,
            batched=report["batched"],
            size=settings["batch_size"] if image_rows else 0,
            static=report["static_batch"],
        )
        out[key] = batches
        report[key] = {
            "source": "images" if image_rows else ".npz feeds",
            "rows": int(sum(real)),
            "real": real,
        }
    return graph, report, out
