"""The character model: Keras training, the gate conversion, and the one description emitted
three ways (TensorRT network API built with TensorRT-RTX, ONNX, numpy) against Keras."""

import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import ROOT
from workflow.errors import FormatError, PipelineError
from workflow.formats.wts import read_wts_v2_bytes, wts_bytes
from workflow.models.charrnn import keras_charrnn
from workflow.models.charrnn_generate import keras_generate
from workflow.models.weights import blobs_from_keras
from workflow.netdef.charrnn import (
    charrnn_from_blobs,
    check_charrnn_network,
    keras_gates_to_iofc,
    onnx_from_charrnn,
    populate_charrnn,
    run_numpy,
)
from workflow.ort.loader import session_from_onnx
from workflow.score.text import generate

VOCAB, HIDDEN = 13, 8
# TensorFlow fixes its thread counts at its first op: the counts the trainers of this process
# (tests/models/test_keras.py) set, before any op here
tf.config.threading.set_intra_op_parallelism_threads(2)
tf.config.threading.set_inter_op_parallelism_threads(1)


@pytest.fixture(scope="module")
def model():
    tf.keras.utils.set_random_seed(0)
    model = keras_charrnn(VOCAB, embed=5, hidden=HIDDEN, layers=2)
    rng = np.random.default_rng(1)
    for variable in model.weights:  # weights far from zero, so that a gate mix-up shows
        variable.assign(rng.normal(0, 0.6, variable.shape).astype(np.float32))
    return model


@pytest.fixture(scope="module")
def net(model):
    # through the .wts2 file, as the pipeline carries the weights (dumpTFWts names)
    return charrnn_from_blobs(read_wts_v2_bytes(wts_bytes(blobs_from_keras(model), version=2)))


def test_gates_move_from_keras_order_to_onnx_order():
    blocks = np.repeat(np.array([1.0, 2.0, 3.0, 4.0]), 2)  # i f c o, H = 2
    assert keras_gates_to_iofc(blocks).tolist() == [1, 1, 4, 4, 2, 2, 3, 3]  # i o f c


def test_three_emissions_compute_what_keras_computes(model, net):
    tokens = np.random.default_rng(2).integers(0, VOCAB, (3, 9)).astype(np.int32)
    expected = np.asarray(model(tokens, training=False))
    zeros = np.zeros((2, 3, HIDDEN), np.float32)
    numpy_out = run_numpy(net, tokens, zeros, zeros)
    assert np.abs(numpy_out["logits"] - expected).max() < 1e-5
    session = session_from_onnx(onnx_from_charrnn(net, opset=18))
    names = [o.name for o in session.get_outputs()]
    states = np.random.default_rng(3).normal(size=(2, 3, HIDDEN)).astype(np.float32)
    onnx_out = dict(
        zip(names, session.run(None, {"tokens": tokens, "h0": states, "c0": -states}), strict=True)
    )
    reference = run_numpy(net, tokens, states, -states)
    for name in ("logits", "hn", "cn"):
        assert np.abs(onnx_out[name] - reference[name]).max() < 1e-5, name
    assert onnx_out["next"].dtype == np.int32 and (onnx_out["next"] == reference["next"]).all()
    half = run_numpy(net, tokens, zeros, zeros, dtype="float16")["logits"]
    assert 0 < np.abs(half - expected).max() < 0.05  # rounded, but close


def test_state_carried_call_by_call_generates_what_keras_generates(model, net):
    session = session_from_onnx(onnx_from_charrnn(net, opset=18))
    names = [o.name for o in session.get_outputs()]

    def step(tokens, h0, c0):
        return dict(
            zip(names, session.run(None, {"tokens": tokens, "h0": h0, "c0": c0}), strict=True)
        )

    seed = np.array([1, 5, 7], np.int32)
    assert np.array_equal(
        generate(step, seed, 25, layers=2, hidden=HIDDEN), keras_generate(model, seed, 25)
    )


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_network_api_build_holds_the_description_and_builds(net, precision):
    import tensorrt_rtx as trt

    from workflow.trt.config import BuildConfig
    from workflow.trt.loader import engine_bytes_from_network

    found = {}

    def populate(trt_module, network):
        keep = populate_charrnn(trt_module, network, net, precision=precision)
        found.update(check_charrnn_network(network, net, precision=precision))
        return keep

    shapes = {"tokens": {"min": [1, 1], "opt": [2, 8], "max": [4, 32]}}
    shapes |= {
        s: {k: [2, n, HIDDEN] for k, n in zip(("min", "opt", "max"), (1, 2, 4), strict=True)}
        for s in ("h0", "c0")
    }
    build = BuildConfig(
        module="tensorrt_rtx",
        batch=(1, 2, 4),
        workspace_mib=256,
        compute_capabilities=(),
        optimization_level=3,
    )
    built = engine_bytes_from_network(
        populate, source={"path": "t", "sha256": "0"}, build=build, shapes=shapes
    )
    assert built.plan[:4] and built.meta["build"]["profile"] == shapes
    assert found["layer_counts"]["RECURRENCE"] == 4 and found["outputs"] == [
        "logits",
        "next",
        "hn",
        "cn",
    ]
    assert trt.__name__ == "tensorrt_rtx"
    tampered = type(net)(net.embedding, net.lstm, net.proj * 2, net.proj_bias)
    network = trt.Builder(trt.Logger()).create_network(0)
    populate_charrnn(trt, network, tampered, precision=precision)
    with pytest.raises(PipelineError, match=r"weights differ from the description: \['proj'\]"):
        check_charrnn_network(network, net, precision=precision)


def test_weights_that_do_not_fit_are_named(model):
    blobs = blobs_from_keras(model)
    with pytest.raises(FormatError, match="no tensor proj_bias"):
        charrnn_from_blobs({k: v for k, v in blobs.items() if k != "proj_bias"}, source="x.wts2")
    wrong = blobs | {"lstm2_lstm_cell_kernel": np.zeros((3, 4 * HIDDEN), np.float32)}
    with pytest.raises(FormatError, match="lstm2 has shapes"):
        charrnn_from_blobs(wrong)
    with pytest.raises(FormatError, match="no LSTM layer"):
        charrnn_from_blobs({k: v for k, v in blobs.items() if not k.startswith("lstm")})
    with pytest.raises(PipelineError, match="fp32, fp16 or int4w"):
        populate_charrnn(None, None, charrnn_from_blobs(blobs), precision="int8")


@pytest.mark.slow
@pytest.mark.extended
def test_seeded_training_is_repeatable():
    # in a process of its own: TensorFlow's thread counts are fixed once per process
    code = """
import numpy as np
from workflow.models.charrnn import train_charrnn
ids = (np.arange(3000) * 7 % 13).astype(np.int32)
args = dict(seed=0, epochs=1, batch_size=8, seq_length=20, learning_rate=0.01, embed=4,
            hidden=6, layers=1, threads=1)
first, second = train_charrnn(ids, 13, **args), train_charrnn(ids, 13, **args)
for a, b in zip(first.weights, second.weights, strict=True):
    np.testing.assert_array_equal(a.numpy(), b.numpy())
print("identical", len(first.weights))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0 and "identical 6" in result.stdout, result.stderr[-3000:]


def test_int4w_network_holds_blocked_int4_weights_and_builds(net):
    """int4w through the network API: the matrix products' weights are INT4 constants with
    their scales (inputs padded to whole blocks inside the loops), the engine builds and its
    products read INT4 weights; the numpy stand-in multiplies by the same INT4 grid."""
    import tensorrt_rtx as trt

    from tests.conftest import tiny_build
    from workflow.netdef.charrnn import with_int4_weights
    from workflow.trt.layers import engine_layer_report
    from workflow.trt.loader import engine_bytes_from_network

    with pytest.raises(PipelineError, match="an INT4 block size goes with int4w"):
        populate_charrnn(trt, trt.Builder(trt.Logger()).create_network(0), net, precision="int4w")
    found = {}

    def populate(trt_module, network):
        keep = populate_charrnn(trt_module, network, net, precision="int4w", int4_block=32)
        found.update(
            check_charrnn_network(network, net, precision="int4w", int4_block=32)["weights"]
        )
        return keep

    shapes = {"tokens": {"min": [1, 1], "opt": [2, 8], "max": [4, 32]}}
    shapes |= {
        s: {k: [2, n, HIDDEN] for k, n in zip(("min", "opt", "max"), (1, 2, 4), strict=True)}
        for s in ("h0", "c0")
    }
    built = engine_bytes_from_network(
        populate, source={"path": "t", "sha256": "0"}, build=tiny_build(), shapes=shapes
    )
    assert found["lstm1_kernel.int4"] == f"int4 x {32 * 4 * HIDDEN}"  # 5 inputs -> one block
    assert found["proj.int4"] == f"int4 x {32 * VOCAB}" and "proj" not in found
    report = engine_layer_report(built.layer_log, onnx_bytes=None, intended="int4w")
    assert report["compute_layers"].get("int4w", 0) >= 1
    rounded = with_int4_weights(net, block_size=32)
    for before, after in (
        (net.proj, rounded.proj),
        (net.lstm[1]["kernel"], rounded.lstm[1]["kernel"]),
    ):
        step = np.abs(before).max(axis=0) / 7  # one block along the input axis (<= 32 rows)
        assert np.all(np.abs(after - before) <= step / 2 + 1e-7)
        assert np.allclose(after / step, np.rint(after / step), atol=1e-4)
    assert np.array_equal(rounded.embedding, net.embedding)
