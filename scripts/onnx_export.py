"""Rule onnx_export: trained weights -> ONNX (dynamic batch), checked against PyTorch."""

from workflow.data.mnist import read_split, to_input
from workflow.io import write_atomically, write_json_atomically
from workflow.logs import log_to
from workflow.models.checkpoint import load_state_dict
from workflow.models.export import onnx_from_torch, onnx_parity
from workflow.models.lenet import INPUT_NAME, OUTPUT_NAME, lenet, with_softmax

log_to(snakemake.log[0])
model = with_softmax(load_state_dict(lenet(), snakemake.input.weights))
inputs = to_input(read_split(snakemake.input.images, snakemake.input.labels)[0])
names = {"input_name": INPUT_NAME, "output_name": OUTPUT_NAME}
graph = onnx_from_torch(model, inputs, opset=snakemake.params.opset, **names)
parity = onnx_parity(
    model,
    graph,
    inputs,
    batch_size=snakemake.params.batch_size,
    tolerance=snakemake.params.tolerance,
    **names,
)
write_json_atomically(snakemake.output.parity, parity)
write_atomically(snakemake.output.onnx, graph)
