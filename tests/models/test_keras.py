"""The TensorFlow path: seeded Keras training, tf2onnx parity, dumpTFWts."""

import sys

import numpy as np
import pytest
import tensorflow as tf

from workflow.data.mnist import embedded_digits, to_input
from workflow.formats.wts import read_wts
from workflow.models.keras import keras_parity, onnx_from_keras, train_keras
from workflow.models.weights import blobs_from_keras, blobs_from_tf_checkpoint, tf_name
from workflow.tools.dump_tf_wts import main as dump_tf_wts

ARGS = {
    "seed": 0,
    "epochs": 1,
    "batch_size": 32,
    "learning_rate": 0.02,
    "momentum": 0.9,
    "threads": 2,
}


@pytest.fixture(scope="module")
def trained():
    images, labels = embedded_digits()
    inputs = to_input(images[:256])
    return train_keras(inputs, labels[:256], **ARGS), inputs, labels[:256]


@pytest.mark.slow
def test_seeded_training_is_repeatable(trained):
    model, inputs, labels = trained
    again = train_keras(inputs, labels, **ARGS)
    for a, b in zip(model.weights, again.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_tf2onnx_export_matches_tensorflow(trained):
    import onnx

    model, inputs, _ = trained
    graph = onnx_from_keras(model, input_name="input", output_name="prob", opset=18)
    dims = onnx.load_from_string(graph).graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_value for d in dims[1:]] == [1, 28, 28]  # NCHW like the PyTorch graphs
    report = keras_parity(
        model, graph, inputs, input_name="input", output_name="prob", batch_size=64, tolerance=1e-5
    )
    assert report["max_abs_diff"] <= 1e-5


def test_tf_names_and_types(trained):
    model, _, _ = trained
    blobs = blobs_from_keras(model)
    assert any(name.endswith("conv1_kernel") for name in blobs)
    assert all("/" not in name for name in blobs)
    assert tf_name("block/conv:0") == "block_conv"


@pytest.mark.slow
def test_dump_tf_wts_from_a_checkpoint(tmp_path):
    weights = {
        "dense/kernel": tf.Variable(np.arange(6, dtype=np.float32).reshape(2, 3)),
        "half": tf.Variable(np.array([1.5, -2.0], np.float16)),
    }
    module = tf.Module()
    module.dense_kernel = weights["dense/kernel"]
    module.half = weights["half"]
    prefix = tf.train.Checkpoint(model=module).write(str(tmp_path / "ckpt" / "model"))
    blobs = blobs_from_tf_checkpoint(prefix)
    assert sorted(blobs) == ["model_dense_kernel", "model_half"]
    for version, suffix in ((1, "wts"), (2, "wts2")):
        out = tmp_path / f"w.{suffix}"
        args = ["--checkpoint", prefix, "--version", str(version), "--out", str(out)]
        assert dump_tf_wts(args) == 0
        back = read_wts(out)
        assert back["model_half"].dtype == np.float16  # the real type field, not always 0
        np.testing.assert_array_equal(back["model_dense_kernel"].ravel(), np.arange(6))
    text = (tmp_path / "w.wts").read_text().splitlines()
    assert text[0] == "2" and text[2].startswith("model_half 1 2 3e00 c000")


def test_dump_tf_wts_bad_input(tmp_path, capsys):
    args = ["--keras", str(tmp_path / "none.keras"), "--out", str(tmp_path / "x.wts")]
    assert dump_tf_wts(args) == 2
    assert "error:" in capsys.readouterr().err
    assert not (tmp_path / "x.wts").exists()


def test_without_tensorflow_the_error_says_what_to_install(monkeypatch):
    from workflow.errors import PipelineError
    from workflow.models.keras import import_tensorflow

    monkeypatch.setitem(sys.modules, "tensorflow", None)
    with pytest.raises(PipelineError, match=r"dependencies: pip install -e \."):
        import_tensorflow()
