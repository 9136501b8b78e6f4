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
    graph, done = normalise(model, report, classes=3, sample=SAMPLE)
    assert done["batch"] == "made dynamic (was 4)" and done["classes"] == 3
    (value,) = onnx.load_from_string(graph).graph.input
    assert value.type.tensor_type.shape.dim[0].dim_param == "batch"


def test_an_exporters_flatten_to_the_static_batch_is_made_dynamic(tmp_path):
    path = _write(tmp_path, _conv_classifier(4, reshape_batch=4))
    model, report = load_checked(path, input_name="", layout="NCHW", opset=18)
    graph, done = normalise(model, report, classes=3, sample=SAMPLE)
    assert done["batch"] == "made dynamic (was 4)"
    shape = [i for i in onnx.load_from_string(graph).graph.initializer if i.name == "shape"][0]
    assert numpy_helper.to_array(shape).tolist() == [-1, 4]


def test_a_batch_the_graph_fixes_stays_static_and_says_why(tmp_path):
    path = _write(tmp_path, _conv_classifier(4, fixed=True))
    model, report = load_checked(path, input_name="", layout="NCHW", opset=18)
    _, done = normalise(model, report, classes=3, sample=SAMPLE)
    assert done["batch"].startswith("static 4: cannot be made dynamic")


def test_bad_models_are_named_with_the_fix(tmp_path):
    def check(data, match, **kw):
        settings = {"input_name": "", "layout": "NCHW", "opset": 18} | kw
        with pytest.raises((PipelineError, FormatError), match=match):
            load_checked(_write(tmp_path, data), **settings)

    check(b"not a protobuf at all", "not an ONNX file")
    check(_conv_classifier(1, extra_input=True), r"2 inputs \['x', 'y'\]; the pipeline feeds one")
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
        normalise(model, report, classes=5, sample=SAMPLE)


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
_, done = normalise(onnx_model, report, classes=3, sample=sample)
print(json.dumps(done))
"""


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
    graph, _ = normalise(model, report, classes=3, sample=SAMPLE)
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
