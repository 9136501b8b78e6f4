"""The translator: the TensorFlow model and its checkpoint, chpt_to_bin (the seed's seven files,
round trip byte for byte, strict reading), and the description emitted as ONNX graphs and run
in numpy, against TensorFlow."""

import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import ROOT
from workflow.errors import FormatError
from workflow.formats.nmt_bin import pack_bin
from workflow.models.nmt import Seq2Seq, restore, teacher_forced_logprobs
from workflow.models.nmt_bin import chpt_to_bin, nmt_from_checkpoint, read_bins, read_checkpoint
from workflow.netdef.nmt import (
    DECODER_OUTPUTS,
    ENCODER_OUTPUTS,
    FILES,
    bins_from_nmt,
    decode_numpy,
    encode_numpy,
    nmt_from_bins,
    onnx_decoder,
    onnx_encoder,
)
from workflow.ort.runner import OrtRunner
from workflow.score.translate import BeamOptions, framework_parity, translate

SRC, TGT, UNITS, SOS, EOS = 11, 9, 8, 1, 2
# TensorFlow fixes its thread counts at its first op (see tests/models/test_charrnn.py)
tf.config.threading.set_intra_op_parallelism_threads(2)
tf.config.threading.set_inter_op_parallelism_threads(1)


@pytest.fixture(scope="module")
def model():
    model = Seq2Seq(SRC, TGT, units=UNITS, forget_bias=1.0, seed=3)
    rng = np.random.default_rng(4)
    for variable in model.variables.values():  # far from zero, so that a gate mix-up shows
        variable.assign(rng.normal(0, 0.5, variable.shape).astype(np.float32))
    return model


@pytest.fixture(scope="module")
def checkpoint(model, tmp_path_factory):
    prefix = str(tmp_path_factory.mktemp("ckpt") / "translate.ckpt")
    model.checkpoint().write(prefix)
    return prefix


@pytest.fixture(scope="module")
def bins(checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("bins")
    sizes = chpt_to_bin(checkpoint, out, forget_bias=1.0)
    assert sorted(sizes) == sorted(FILES) and len(FILES) == 7
    return out


def run(graph):
    """The graph's runner, active for the test (the runner checks every feed)."""
    runner = OrtRunner(graph)
    runner.activate()
    return runner.infer


def test_checkpoint_keys_are_the_variable_names(checkpoint):
    tensors = read_checkpoint(checkpoint)
    assert tensors["embeddings/encoder/embedding_encoder"].shape == (SRC, UNITS)
    assert tensors["decoder/attention/basic_lstm_cell/kernel"].shape == (3 * UNITS, 4 * UNITS)


def test_chpt_to_bin_round_trip_is_byte_identical(bins):
    files = {name: (bins / f"{name}.bin").read_bytes() for name in FILES}
    assert bins_from_nmt(nmt_from_bins(files)) == files
    sizes = {name: len(data) for name, data in files.items()}
    trailer = 16  # count and footer
    assert sizes["encembed"] == 4 * SRC * UNITS + 4 * 3 + trailer
    lstm = 4 * UNITS * (UNITS + UNITS) + 8 * UNITS
    assert sizes["encrnn"] == 4 * lstm + 4 * 4 + trailer
    assert sizes["decatt"] == 4 * 2 * UNITS * UNITS + 4 * 3 + trailer


def test_seed_layout_of_the_lstm_file(checkpoint, bins):
    """encrnn.bin: W as (4 gates f i c o, U, in), then R, then bias (8, U) with the forget
    bias folded into f and the recurrent half zero; TensorFlow's kernel is (in + U, 4U) i j f o."""
    kernel = read_checkpoint(checkpoint)["encoder/basic_lstm_cell/kernel"]
    bias = read_checkpoint(checkpoint)["encoder/basic_lstm_cell/bias"]
    data = np.frombuffer((bins / "encrnn.bin").read_bytes()[: -16 - 16], "<f4")
    w = data[: 4 * UNITS * UNITS].reshape(4, UNITS, UNITS)
    u = UNITS
    tf_blocks = {g: kernel[:u, k * u : (k + 1) * u] for k, g in enumerate("icfo")}
    for k, gate in enumerate("fico"):
        assert np.array_equal(w[k], tf_blocks[gate].T), gate
    b = data[-8 * u :].reshape(8, u)
    assert np.array_equal(b[0], bias[2 * u : 3 * u] + 1.0)  # f, forget bias folded in
    assert np.array_equal(b[1], bias[:u]) and not b[4:].any()


def test_strict_reading_of_the_folder(bins, tmp_path):
    files = {name: (bins / f"{name}.bin").read_bytes() for name in FILES}
    with pytest.raises(FormatError, match="no decatt.bin"):
        nmt_from_bins({k: v for k, v in files.items() if k != "decatt"})
    with pytest.raises(FormatError, match="not the footer"):
        nmt_from_bins(files | {"decproj": files["decproj"][:-3]})
    with pytest.raises(FormatError, match="values, its dimensions"):
        nmt_from_bins(files | {"encrnn": files["encrnn"][40:]})
    wrong = pack_bin([np.zeros((4, 4), np.float32)], [4, 4])
    with pytest.raises(FormatError, match=r"decmem.bin \| dimensions \[4, 4\]"):
        nmt_from_bins(files | {"decmem": wrong})
    two_layers = pack_bin([np.zeros(10, np.float32)], [0, 2, UNITS])
    with pytest.raises(FormatError, match="2 layers"):
        nmt_from_bins(files | {"decrnn": two_layers})
    with pytest.raises(FormatError, match="missing"):
        read_bins(tmp_path)


def test_graphs_match_tensorflow_and_numpy(model, bins):
    net = read_bins(bins)
    encoder, decoder = run(onnx_encoder(net, opset=18)), run(onnx_decoder(net, opset=18, eos=EOS))
    rng = np.random.default_rng(0)
    sources = [rng.integers(3, SRC, size=n).astype(np.int32) for n in (3, 5, 5, 7)]
    report = framework_parity(
        lambda s, t: teacher_forced_logprobs(model, s, t, sos=SOS),
        encoder,
        decoder,
        sources,
        sos=SOS,
        eos=EOS,
    )
    assert report["max_abs_diff"] < 1e-5 and report["greedy_identical"] and report["steps"] > 8
    source = np.stack(sources[1:3])
    expected = encoder({"source": source})
    got = encode_numpy(net, source)
    assert list(expected) == list(ENCODER_OUTPUTS)
    for key in ENCODER_OUTPUTS:
        np.testing.assert_allclose(got[key], expected[key], atol=1e-5)
    half = encode_numpy(net, source, dtype="float16")
    assert 0 < np.abs(half["memory"] - expected["memory"]).max() < 0.05
    feeds = {
        "token": np.array([SOS, 4, 5, 6], np.int32),
        "h": np.repeat(expected["h"], 2, 0),
        "c": np.repeat(expected["c"], 2, 0),
        "attention": rng.normal(size=(4, UNITS)).astype(np.float32),
        "keys": np.repeat(expected["keys"], 2, 0),
        "memory": np.repeat(expected["memory"], 2, 0),
        "scores": np.array([[0, -1.5], [-0.5, -2]], np.float32),
        "finished": np.array([[0, 1], [0, 0]], np.float32),
    }
    graph, numpy_out = decoder(feeds), decode_numpy(net, feeds, eos=EOS)
    assert list(graph) == list(DECODER_OUTPUTS)
    for key in ("h_out", "c_out", "attention_out", "logprobs", "beam_scores"):
        np.testing.assert_allclose(numpy_out[key], graph[key], atol=1e-5)
    assert np.array_equal(numpy_out["beam_index"], graph["beam_index"])
    # the finished hypothesis (sentence 0, beam 1) continues with </s> only, at no cost
    assert -1.5 in graph["beam_scores"][0] and TGT + EOS in graph["beam_index"][0]


def test_restored_checkpoint_is_the_model(model, checkpoint):
    back = restore(checkpoint, source_vocab=SRC, target_vocab=TGT, units=UNITS, forget_bias=1.0)
    for name, variable in model.variables.items():
        assert np.array_equal(back[name].numpy(), variable.numpy())


def test_description_from_checkpoint_refuses_wrong_shapes(checkpoint):
    tensors = read_checkpoint(checkpoint)
    tensors["decoder/attention/attention_layer/kernel"] = np.zeros((3, 3), np.float32)
    with pytest.raises(FormatError, match="attention_layer"):
        nmt_from_checkpoint(tensors, forget_bias=1.0)
    with pytest.raises(FormatError, match="no variable"):
        nmt_from_checkpoint({}, forget_bias=1.0)


def test_beam_search_over_the_engine_graphs_runs_every_option(bins):
    net = read_bins(bins)
    encoder, decoder = run(onnx_encoder(net, opset=18)), run(onnx_decoder(net, opset=18, eos=EOS))
    sources = [
        np.array([3, 4, 5], np.int32),
        np.array([6, 7], np.int32),
        np.array([3, 3, 3], np.int32),
    ]
    for beam in (1, 3):
        found, timing = translate(
            encoder,
            decoder,
            sources,
            options=BeamOptions(beam=beam, max_output_length=4),
            sos=SOS,
            eos=EOS,
        )
        assert len(found) == 3 and all(len(t) <= 4 for t in found) and timing["decoder_calls"] >= 1
    found, _ = translate(
        encoder, decoder, sources, options=BeamOptions(max_samples=1, batch=1), sos=SOS, eos=EOS
    )
    assert len(found) == 1


TRAIN = """
import hashlib, sys
import numpy as np
import tensorflow as tf
from workflow.models.nmt import train_nmt
rng = np.random.default_rng(0)
src = [rng.integers(3, 11, size=int(n)).astype(np.int32) for n in rng.integers(1, 6, size=64)]
tgt = [s[::-1] % 9 for s in src]
model = train_nmt(src, tgt, source_vocab=11, target_vocab=9, sos=1, eos=2, units=8,
    forget_bias=1.0, epochs=2, batch_size=16, learning_rate=0.01, seed=5, threads=2)
digest = hashlib.sha256(b"".join(v.numpy().tobytes() for v in model.variables.values()))
print(digest.hexdigest())
"""


@pytest.mark.slow
@pytest.mark.extended
def test_training_is_repeatable():
    """Seeded, deterministic ops: two runs (separate processes) give the same weights."""
    runs = [
        subprocess.run(
            [sys.executable, "-c", TRAIN], cwd=ROOT, capture_output=True, text=True, check=True
        )
        for _ in range(2)
    ]
    digests = [r.stdout.strip().splitlines()[-1] for r in runs]
    assert digests[0] == digests[1] and len(digests[0]) == 64
