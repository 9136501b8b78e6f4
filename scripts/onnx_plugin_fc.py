"""Rule onnx_plugin_fc: the trained LeNet graph with its last fully connected layer (ip2) as an
FCPlugin node carrying the weights, checked against the plain graph on the test images (ONNX
Runtime runs the plugin node through its CPU reference)."""

from pathlib import Path

from workflow.data.mnist import read_split, to_input
from workflow.io import write_atomically, write_json_atomically
from workflow.logs import log_to
from workflow.models.export import parity_report
from workflow.models.lenet import INPUT_NAME, OUTPUT_NAME
from workflow.ort.loader import session_from_onnx
from workflow.plugins.graphs import with_fc_plugin

log_to(snakemake.log[0])
params = snakemake.params
plain = Path(snakemake.input.plain).read_bytes()
graph, replaced = with_fc_plugin(plain)
inputs = to_input(read_split(snakemake.input.images, snakemake.input.labels)[0])
session = session_from_onnx(plain)
expected = session.run(None, {INPUT_NAME: inputs})[0]
parity = parity_report(
    expected,
    graph,
    inputs,
    input_name=INPUT_NAME,
    output_name=OUTPUT_NAME,
    batch_size=params.batch_size,
    tolerance=params.tolerance,
    framework=f"the plain graph ({replaced} as Gemm)",
)
write_json_atomically(snakemake.output.parity, parity | {"replaced": replaced})
write_atomically(snakemake.output.onnx, graph)
