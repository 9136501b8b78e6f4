"""Your own model: the checks, each with a clear error, and the batch made dynamic or not."""

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from workflow.errors import FormatError, PipelineError
from workflow.models.byo import load_checked, normalise


def _conv_classifier(
    batch, *, classes=3, reshape_batch=None, extra_input=False, op=None, fixed=False
) -> bytes:
    """A small NCHW classifier (Conv, Relu, GlobalAveragePool, Flatten or Reshape, Gemm)."""
    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array(rng.normal(size=(4, 3, 3, 3)).astype(np.float32), "k"),
        numpy_helper.from_array(rng.normal(size=(classes, 4)).astype(np.float32), "w"),
        numpy_helper.from_array(np.zeros(classes, np.float32), "b"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "k"], ["c"]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("GlobalAveragePool", ["r"], ["p"]),
    ]
    if reshape_batch:
        inits.append(numpy_helper.from_array(np.array([reshape_batch, 4], np.int64), "shape"))
        nodes.append(helper.make_node("Reshape", ["p", "shape"], ["f"]))
    else:
        nodes.append(helper.make_node("Flatten", ["p"], ["f"]))
    nodes.append(
        helper.make_node("Gemm", ["f", "w", "b"], ["logits" if not fixed else "g"], transB=1)
    )
    if fixed:  # a shape computed from the batch: flattened to batch * classes and back
        inits += [
            numpy_helper.from_array(np.array([batch * classes], np.int64), "flat"),
            numpy_helper.from_array(np.array([batch, classes], np.int64), "back"),
        ]
        nodes += [
            helper.make_node("Reshape", ["g", "flat"], ["h"]),
            helper.make_node("Reshape", ["h", "back"], ["logits"]),
        ]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 3, 8, 8])]
    if extra_input:
        inputs.append(helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 1]))
    if op:
        nodes.append(op)
    graph = helper.make_graph(
        nodes,
        "mine",
        inputs,
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, classes])],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]).SerializeToString()


SAMPLE = np.random.default_rng(1).normal(size=(4, 3, 8, 8)).astype(np.float32)


def _write(tmp_path, data, name="mine.onnx"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_a_static_batch_is_made_dynamic_where_the_graph_allows(tmp_path):
    model, report = load_checked(
        _write(tmp_path, _conv_classifier(4)), input_name="", layout="NCHW", opset=18
    )
    assert report["size"] == [8, 8] and report["channels"] == 3
    graph, done = normalise(model, report, classes=3, sample={"x": SAMPLE})
    assert done["batch"] == "made dynamic (was 4)" and done["classes"] == 3
    (value,) = onnx.load_from_string(graph).graph.input
    assert value.type.tensor_type.shape.dim[0].dim_param == "batch"


def test_an_exporters_flatten_to_the_static_batch_is_made_dynamic(tmp_path):
    path = _write(tmp_path, _conv_classifier(4, reshape_batch=4))
    model, report = load_checked(path, input_name="", layout="NCHW", opset=18)
    graph, done = normalise(model, report, classes=3, sample={"x": SAMPLE})
    assert done["batch"] == "made dynamic (was 4)"
    shape = [i for i in onnx.load_from_string(graph).graph.initializer if i.name == "shape"][0]
    assert numpy_helper.to_array(shape).tolist() == [-1, 4]


def test_a_batch_the_graph_fixes_stays_static_and_says_why(tmp_path):
    path = _write(tmp_path, _conv_classifier(4, fixed=True))
    model, report = load_checked(path, input_name="", layout="NCHW", opset=18)
    _, done = normalise(model, report, classes=3, sample={"x": SAMPLE})
    assert done["batch"].startswith("static 4: cannot be made dynamic")


def test_bad_models_are_named_with_the_fix(tmp_path):
    def check(data, match, **kw):
        settings = {"input_name": "", "layout": "NCHW", "opset": 18} | kw
        with pytest.raises((PipelineError, FormatError), match=match):
            load_checked(_write(tmp_path, data), **settings)

    check(b"not a protobuf at all", "not an ONNX file")
    check(_conv_classifier(1, extra_input=True), r"2 inputs \['x', 'y'\]; images feed one")
    check(_conv_classifier(1), "no input 'image'", input_name="image")
    check(_conv_classifier(1), r"not NHWC with 1 or 3 channels", layout="NHWC")
    custom = helper.make_node("Fancy", ["logits"], ["z"], domain="acme.ops")
    check(_conv_classifier(1, op=custom), "acme.ops::Fancy, not a standard ONNX op")
    loop = helper.make_node("Loop", ["", ""], ["z"], body=helper.make_graph([], "b", [], []))
    check(_conv_classifier(1, op=loop), r"is a Loop node \(a subgraph\)")
    with pytest.raises(PipelineError, match="no such model file"):
        load_checked(tmp_path / "absent.onnx", input_name="", layout="NCHW", opset=18)
    model, report = load_checked(
        _write(tmp_path, _conv_classifier(4)), input_name="", layout="NCHW", opset=18
    )
    with pytest.raises(PipelineError, match="3 class scores, the labels hold 5 classes"):
        normalise(model, report, classes=5, sample={"x": SAMPLE})


KERAS_CHECK = """
import json, sys
import numpy as np
import tensorflow as tf
from workflow.models.byo import load_checked, normalise
layers = tf.keras.layers
model = tf.keras.Sequential(
    [tf.keras.Input((8, 8, 3), name="pixels"), layers.Conv2D(4, 3), layers.Flatten(),
     layers.Dense(3)]
)
model.save(sys.argv[1])
onnx_model, report = load_checked(sys.argv[1], input_name="", layout="NHWC", opset=18)
sample = np.random.default_rng(1).normal(size=(4, 3, 8, 8)).astype(np.float32)
_, done = normalise(onnx_model, report, classes=3, sample={report["input"]: sample})
print(json.dumps(done))
"""


@pytest.mark.slow
def test_a_keras_model_is_converted_and_checked(tmp_path):
    """In its own process: TensorFlow's threads are set once per process (train_keras sets them)."""
    import json
    import subprocess
    import sys

    pytest.importorskip("tensorflow")
    done = subprocess.run(
        [sys.executable, "-c", KERAS_CHECK, str(tmp_path / "mine.keras")],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["size"] == [8, 8] and report["channels"] == 3
    assert report["layout"] == "NCHW"  # tf2onnx is asked for NCHW input, whatever was declared
    assert report["batch"] == "dynamic" and report["classes"] == 3


def _paddle_style_opset11(classes=3) -> bytes:
    """The classifier as PaddlePaddle's exporter writes it at opset 11: every weight a Constant
    node, IR version 6."""
    model = onnx.load_from_string(_conv_classifier(4, classes=classes))
    constants = [
        helper.make_node("Constant", [], [init.name], value=init, name=f"const_{init.name}")
        for init in model.graph.initializer
    ]
    nodes = constants + list(model.graph.node)
    del model.graph.initializer[:]
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    del model.opset_import[:]
    model.opset_import.append(helper.make_opsetid("", 11))
    model.ir_version = 6
    return model.SerializeToString()


def test_an_old_opset_with_constant_weights_reaches_an_int8_graph(tmp_path):
    from workflow.ort.loader import session_from_onnx
    from workflow.quant.calibrate import calibrate, tensors_to_calibrate
    from workflow.quant.qdq import qdq_from_ranges

    original = _paddle_style_opset11()
    model, report = load_checked(_write(tmp_path, original), input_name="", layout="NCHW", opset=18)
    assert report["prepared"]["opset"] == {"found": 11, "used": 18}
    assert report["prepared"]["constants_folded"] == 3
    graph, _ = normalise(model, report, classes=3, sample={"x": SAMPLE})
    scope = tensors_to_calibrate(graph, "quantized")
    amax = calibrate(
        graph,
        lambda: iter([SAMPLE]),
        algorithm="minmax",
        bins=2048,
        percentile=99.9,
        threads=1,
        tensors=scope,
    )
    int8 = qdq_from_ranges(graph, amax, source="test")
    # per-channel weights: their DequantizeLinear nodes carry an axis, valid from opset 13
    quantized = onnx.load_from_string(int8)
    assert any(a.name == "axis" for n in quantized.graph.node for a in n.attribute)
    want = session_from_onnx(original).run(None, {"x": SAMPLE})[0]
    got = session_from_onnx(int8).run(None, {"x": SAMPLE})[0]
    assert np.abs(got - want).max() < 0.05 * np.abs(want).max()


def two_input_model(*, batch="N", scalar=True) -> bytes:
    """A model as a text detector's head: image ``x`` (batch, 3, ?, ?) with unnamed height and
    width, and ``s`` (a scalar, or (batch, 1) where ``scalar`` is False); outputs ``feat``
    (batch, 4): the pooled features times ``s``, and ``mask`` (batch, 1, ?, ?): a sigmoid map."""
    rng = np.random.default_rng(3)
    inits = [
        numpy_helper.from_array(rng.normal(size=(4, 3, 3, 3)).astype(np.float32), "k"),
        numpy_helper.from_array(rng.normal(size=(4,)).astype(np.float32), "kb"),
        numpy_helper.from_array(rng.normal(size=(1, 4, 1, 1)).astype(np.float32), "m"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "k", "kb"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("GlobalAveragePool", ["r"], ["p"]),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node("Mul", ["f", "s"], ["feat"]),
        helper.make_node("Conv", ["r", "m"], ["logit"]),
        helper.make_node("Sigmoid", ["logit"], ["mask"]),
    ]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 3, None, None])
    s = helper.make_tensor_value_info("s", TensorProto.FLOAT, [] if scalar else [batch, 1])
    outputs = [
        helper.make_tensor_value_info("feat", TensorProto.FLOAT, [batch, 4]),
        helper.make_tensor_value_info("mask", TensorProto.FLOAT, [batch, 1, None, None]),
    ]
    graph = helper.make_graph(nodes, "two", [x, s], outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    return model.SerializeToString()


def test_any_model_several_inputs_outputs_and_unnamed_dims(tmp_path):
    path = _write(tmp_path, two_input_model())
    model, report = load_checked(path, input_name="", layout="NCHW", opset=18, images=False)
    assert report["inputs"] == [
        {"name": "x", "dtype": "float32", "shape": ["N", 3, "?", "?"]},
        {"name": "s", "dtype": "float32", "shape": []},
    ]
    assert [o["name"] for o in report["outputs"]] == ["feat", "mask"]
    assert report["batched"] == ["x"]  # the scalar is fed whole
    x = np.random.default_rng(0).normal(size=(2, 3, 10, 14)).astype(np.float32)
    graph, done = normalise(model, report, sample={"x": x, "s": np.float32(2.0)})
    assert done["batch"] == "dynamic" and done["static_batch"] == 0 and "classes" not in done
    assert graph == model.SerializeToString()


def test_a_static_batch_of_several_inputs_is_made_dynamic_for_the_batched_ones(tmp_path):
    path = _write(tmp_path, two_input_model(batch=2, scalar=False))
    model, report = load_checked(path, input_name="", layout="NCHW", opset=18, images=False)
    assert report["batched"] == ["x", "s"]
    feed = {"x": np.ones((2, 3, 6, 6), np.float32), "s": np.ones((2, 1), np.float32)}
    graph, done = normalise(model, report, sample=feed)
    assert done["batch"] == "made dynamic (was 2)" and done["static_batch"] == 0
    shapes = {v.name: _dims(v) for v in onnx.load_from_string(graph).graph.input}
    assert shapes == {"x": ["batch", 3, "?", "?"], "s": ["batch", 1]}


def _dims(value):
    return [d.dim_param or d.dim_value or "?" for d in value.type.tensor_type.shape.dim]


def test_a_dynamic_image_size_takes_input_size(tmp_path):
    model = onnx.load_from_string(_conv_classifier(1))
    for axis in (2, 3):
        model.graph.input[0].type.tensor_type.shape.dim[axis].ClearField("dim_value")
    path = _write(tmp_path, model.SerializeToString())
    with pytest.raises(PipelineError, match=r"input x has a dynamic height and width .*input_size"):
        load_checked(path, input_name="", layout="NCHW", opset=18)
    _, report = load_checked(path, input_name="", layout="NCHW", opset=18, input_size=[12, 20])
    assert report["size"] == [12, 20] and report["input_shape"] == [1, 3, "?", "?"]
    fixed = _write(tmp_path, _conv_classifier(1), "fixed.onnx")
    with pytest.raises(PipelineError, match=r"fixed at \[8, 8\], byo input_size is \[12, 20\]"):
        load_checked(fixed, input_name="", layout="NCHW", opset=18, input_size=[12, 20])


def test_images_cannot_feed_a_model_of_several_inputs(tmp_path):
    path = _write(tmp_path, two_input_model())
    with pytest.raises(PipelineError, match=r"inputs \['s'\] besides the image input 'x'.*\.npz"):
        load_checked(path, input_name="x", layout="NCHW", opset=18)
    with pytest.raises(PipelineError, match=r"2 inputs \['x', 's'\]; images feed one"):
        load_checked(path, input_name="", layout="NCHW", opset=18)


def _feed_file(path, **arrays):
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)


def _settings(data, **changes):
    from workflow.samples import own_model_settings

    return own_model_settings({"model": "m.onnx", "data": data} | changes)


def test_import_of_a_model_without_labels_from_npz_feeds(tmp_path):
    from workflow.models.byo import import_own

    rng = np.random.default_rng(0)
    for k, (n, h, w) in enumerate([(3, 8, 12), (2, 16, 16), (1, 8, 8)]):
        x = rng.normal(size=(n, 3, h, w)).astype(np.float32)
        _feed_file(tmp_path / "cal" / f"{k}.npz", x=x, s=np.float32(k + 1))
        _feed_file(tmp_path / "eval" / f"{k}.npz", x=x[:1], s=np.float32(1))
    path = _write(tmp_path, two_input_model())
    data = {"calibration": str(tmp_path / "cal"), "evaluation": str(tmp_path / "eval")}
    graph, report, out = import_own(path, _settings(data), opset=18)
    assert report["task"] == "none" and report["classes_named"] == []
    assert report["calibration"] == {"source": ".npz feeds", "rows": 6, "real": [3, 2, 1]}
    assert report["evaluation"]["rows"] == 3 and len(out["evaluation"]) == 3
    assert [b["x"].shape[2:] for b in out["calibration"]] == [(8, 12), (16, 16), (8, 8)]
    assert [float(b["s"]) for b in out["calibration"]] == [1.0, 2.0, 3.0]
    assert out["labels"].size == 0
    np.savez(tmp_path / "eval" / "3.npz", x=np.ones((1, 3, 8, 8)), s=np.float32(1))
    with pytest.raises(PipelineError, match=r"3.npz \| input 'x' is float64 .*astype\(np.float32"):
        import_own(path, _settings(data), opset=18)
    with pytest.raises(PipelineError, match="neither labelled images nor calibration"):
        import_own(path, _settings({"calibration": data["calibration"]}), opset=18)


def test_import_of_an_image_folder_without_labels_keeps_every_image(tmp_path):
    """48 images with batches of 100 give one batch of 48; a static batch of 5 pads the last."""
    from PIL import Image

    from workflow.models.byo import import_own

    rng = np.random.default_rng(0)
    for folder in ("cal", "eval"):
        for k in range(48):
            (tmp_path / folder / f"{k // 10}").mkdir(parents=True, exist_ok=True)
            image = rng.integers(0, 255, (6 + k % 3, 9, 3), dtype=np.uint8)
            Image.fromarray(image).save(tmp_path / folder / f"{k // 10}" / f"{k:02d}.png")
    data = {"calibration": str(tmp_path / "cal"), "evaluation": str(tmp_path / "eval")}
    settings = _settings(data, input_size=[8, 8], batch_size=100, calibration_images=1000)

    def with_dynamic_size(graph_bytes, name):
        model = onnx.load_from_string(graph_bytes)
        for axis in (2, 3):
            model.graph.input[0].type.tensor_type.shape.dim[axis].dim_param = "hw"[axis - 2]
        return _write(tmp_path, model.SerializeToString(), name)

    dynamic = with_dynamic_size(_conv_classifier(4), "dynamic.onnx")
    _, report, out = import_own(dynamic, settings, opset=18)
    assert report["batch"] == "made dynamic (was 4)"
    assert report["calibration"] == {"source": "images", "rows": 48, "real": [48]}
    assert out["calibration"][0]["x"].shape == (48, 3, 8, 8)
    _, report, out = import_own(dynamic, settings | {"batch_size": 20}, opset=18)
    assert report["evaluation"]["real"] == [20, 20, 8]
    assert [len(b["x"]) for b in out["evaluation"]] == [20, 20, 8]
    static = with_dynamic_size(_conv_classifier(5, fixed=True), "static.onnx")
    _, report, out = import_own(static, settings, opset=18)
    assert report["batch"].startswith("static 5")  # the graph fixes it: batches of 5
    assert report["evaluation"] == {"source": "images", "rows": 48, "real": [5] * 9 + [3]}
    last = out["evaluation"][-1]["x"]
    assert len(last) == 5 and (last[3:] == last[2]).all()  # padded with its last real row


@pytest.mark.slow
def test_pp_ocr_text_detector_with_a_dynamic_image_size(tmp_path):
    """PaddleOCR's PP-OCRv4 detector (shipped in rapidocr-onnxruntime; opset 12, every weight a
    Constant node, batch, height and width dynamic): imported from an image folder at
    input_size and built into an engine whose height and width ranges are given by position."""
    import importlib.util

    from PIL import Image

    from tests.conftest import tiny_build
    from workflow.models.byo import import_own
    from workflow.trt.loader import engine_bytes_from_onnx

    spec = importlib.util.find_spec("rapidocr_onnxruntime")
    if spec is None:
        pytest.skip("rapidocr-onnxruntime is not installed")
    path = Path(spec.origin).parent / "models" / "ch_PP-OCRv4_det_infer.onnx"
    for k in range(5):
        image = np.full((60, 90, 3), 230, np.uint8)
        image[20:35, 10 + 5 * k : 70] = 20  # a dark line of "text"
        (tmp_path / "images").mkdir(exist_ok=True)
        Image.fromarray(image).save(tmp_path / "images" / f"{k}.png")
    folder = str(tmp_path / "images")
    settings = _settings(
        {"calibration": folder, "evaluation": folder}, input_size=[64, 96], batch_size=2
    )
    graph, report, out = import_own(path, settings, opset=18)
    assert report["inputs"][0]["name"] == "x" and report["inputs"][0]["shape"][1] == 3
    assert report["prepared"]["opset"] == {"found": 12, "used": 18}
    assert report["batch"] == "dynamic" and report["evaluation"]["real"] == [2, 2, 1]
    assert out["calibration"][0]["x"].shape == (2, 3, 64, 96)
    (tmp_path / "det.onnx").write_bytes(graph)
    dims = {"x": {2: [32, 64, 128], 3: [32, 96, 160]}}
    built = engine_bytes_from_onnx(tmp_path / "det.onnx", tiny_build(), dims=dims)
    assert built.meta["build"]["profile"]["x"] == {
        "min": [1, 3, 32, 32],
        "opt": [4, 3, 64, 96],
        "max": [8, 3, 128, 160],
    }
    with pytest.raises(PipelineError, match=r"input 'x' axis 2 .* is dynamic .*no range"):
        engine_bytes_from_onnx(tmp_path / "det.onnx", tiny_build())


def test_other_refusals_name_the_file_and_the_fix(tmp_path):
    from workflow.models.byo import import_own

    model = onnx.load_from_string(_conv_classifier(1))
    for axis in (2, 3):
        model.graph.input[0].type.tensor_type.shape.dim[axis].ClearField("dim_value")
    dynamic = _write(tmp_path, model.SerializeToString(), "dynamic.onnx")
    with pytest.raises(PipelineError, match=r"input_size is \[12\] \| give \[height, width\]"):
        load_checked(dynamic, input_name="", layout="NCHW", opset=18, input_size=[12])
    empty = helper.make_model(
        helper.make_graph([], "none", [], []), opset_imports=[helper.make_opsetid("", 18)]
    )
    with pytest.raises(PipelineError, match=r"none.onnx \| no inputs \| export the model"):
        load_checked(_write(tmp_path, empty.SerializeToString(), "none.onnx"), **_NCHW)
    reordered = onnx.load_from_string(two_input_model())
    outputs = list(reordered.graph.output)[::-1]  # the mask first: not (batch, classes)
    del reordered.graph.output[:]
    reordered.graph.output.extend(outputs)
    two = _write(tmp_path, reordered.SerializeToString(), "two.onnx")
    model, report = load_checked(two, **_NCHW)
    feed = {"x": np.ones((2, 3, 6, 6), np.float32), "s": np.array(1, np.float32)}
    with pytest.raises(PipelineError, match=r"first output mask is \(2, 1, 6, 6\), not \(batch, c"):
        normalise(model, report, sample=feed, classes=3)
    model, report = load_checked(_write(tmp_path, two_input_model(), "ok.onnx"), **_NCHW)
    with pytest.raises(PipelineError, match="4 class scores, the labels hold 5 classes"):
        normalise(model, report, sample=feed, classes=5)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "a.npz").write_bytes(b"not a zip")
    data = {"calibration": str(tmp_path / "bad"), "evaluation": str(tmp_path / "bad")}
    with pytest.raises(PipelineError, match=r"a.npz \| not a readable .npz .*np.savez"):
        import_own(two, _settings(data), opset=18)


_NCHW = {"input_name": "", "layout": "NCHW", "opset": 18, "images": False}


def test_a_dimension_of_minus_one_is_dynamic_not_a_static_batch(tmp_path):
    """PaddlePaddle's exporter writes -1 for a dynamic dimension (the PP-OCR direction
    classifier's input is [-1, 3, ?, ?]): read as dynamic, the batch stays as it is and .npz
    feeds of any rows fit, where it was taken for a static batch of -1 "made dynamic"."""
    from workflow.models.byo import graph_inputs, import_own

    path = _write(tmp_path, _conv_classifier(-1))
    assert graph_inputs(onnx.load(path))[0]["shape"] == ["?", 3, 8, 8]
    rng = np.random.default_rng(0)
    for k, rows in enumerate([3, 2]):
        x = rng.normal(size=(rows, 3, 8, 8)).astype(np.float32)
        _feed_file(tmp_path / "cal" / f"{k}.npz", x=x)
        _feed_file(tmp_path / "eval" / f"{k}.npz", x=x)
    data = {"calibration": str(tmp_path / "cal"), "evaluation": str(tmp_path / "eval")}
    _, report, out = import_own(path, _settings(data), opset=18)
    assert report["batch"] == "dynamic" and report["static_batch"] == 0
    assert report["evaluation"]["real"] == [3, 2]
    assert [len(b["x"]) for b in out["evaluation"]] == [3, 2]
