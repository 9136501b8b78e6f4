"""Rule onnx_charrnn: the network description made from the dumpTFWts .wts2 (gates reordered
to ONNX's and TensorRT's i o f c), written as ONNX and checked against the Keras model: logits
on held-out windows, and 200-odd characters generated greedily from the seed string, the
same from both."""

import logging

import numpy as np

from workflow.data.text import decode, encode, read_split, windows
from workflow.errors import ToleranceError
from workflow.formats.wts import read_wts
from workflow.io import write_atomically, write_json_atomically
from workflow.logs import log_to
from workflow.models.charrnn_generate import keras_generate
from workflow.models.keras import import_tensorflow
from workflow.netdef.charrnn import GATES, KERAS_GATES, charrnn_from_blobs, onnx_from_charrnn
from workflow.ort.runner import OrtRunner
from workflow.score.text import generate

log_to(snakemake.log[0])
log = logging.getLogger("onnx_charrnn")
params = snakemake.params
net = charrnn_from_blobs(read_wts(snakemake.input.wts2), source=snakemake.input.wts2)
graph = onnx_from_charrnn(net, opset=params.opset)
runner = OrtRunner(graph)
runner.activate()


def step(tokens, h0, c0):
    return runner.infer({"tokens": tokens, "h0": h0, "c0": c0})


model = import_tensorflow().keras.models.load_model(snakemake.input.model)
test, vocab = read_split(snakemake.input.data, "test")
inputs, _ = windows(test, params.window)
inputs = inputs[: params.parity_windows]
zeros = np.zeros((net.layers, len(inputs), net.hidden), np.float32)
expected = np.asarray(model(inputs, training=False))
got = step(inputs, zeros, zeros)["logits"]
max_abs = float(np.abs(expected - got).max())
seed = encode(params.seed_text, vocab, where="score.charrnn.seed_text")
keras_text = keras_generate(model, seed, params.generate)
graph_text = generate(step, seed, params.generate, layers=net.layers, hidden=net.hidden)
runner.deactivate()
report = {
    "count": int(inputs.size),
    "max_abs_diff": max_abs,
    "mean_abs_diff": float(np.abs(expected - got).mean()),
    "tolerance": params.tolerance,
    "gate_order": {"keras": "".join(KERAS_GATES), "onnx_and_tensorrt": "".join(GATES)},
    "generation": {
        "seed": params.seed_text,
        "characters": int(params.generate),
        "keras": decode(keras_text, vocab),
        "graph": decode(graph_text, vocab),
        "identical": bool(np.array_equal(keras_text, graph_text)),
    },
}
log.info("parity | %s", report)
if max_abs > params.tolerance:
    raise ToleranceError(
        "onnx charrnn",
        f"the graph's logits differ from Keras' by up to {max_abs:.3g} over {inputs.size} "
        f"characters, tolerance {params.tolerance:.3g}",
        "inspect the gate conversion (workflow/netdef/charrnn.py)",
    )
if not report["generation"]["identical"]:
    raise ToleranceError(
        "onnx charrnn",
        f"greedy generation differs: Keras {report['generation']['keras']!r}, graph "
        f"{report['generation']['graph']!r}",
        "inspect the state hand-over between calls",
    )
write_json_atomically(snakemake.output.parity, report)
write_atomically(snakemake.output.onnx, graph)
