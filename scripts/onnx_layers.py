"""Rule onnx_layers: .wts -> the layer description as ONNX, checked against the trained model."""

from workflow.data.mnist import read_split, to_input
from workflow.formats.wts import read_wts
from workflow.io import write_atomically, write_json_atomically
from workflow.logs import log_to
from workflow.models.checkpoint import load_state_dict
from workflow.models.export import onnx_parity
from workflow.models.lenet import with_softmax
from workflow.models.networks import build_network
from workflow.netdef.layers import describe_layers, layers_for, onnx_from_layers

log_to(snakemake.log[0])
sizes = list(snakemake.params.mlp_sizes)
layers = layers_for(snakemake.params.network, read_wts(snakemake.input.wts), mlp_sizes=sizes)
graph = onnx_from_layers(layers, opset=snakemake.params.opset)
trained = load_state_dict(
    build_network(snakemake.params.network, mlp_sizes=sizes), snakemake.input.weights
)
parity = onnx_parity(
    with_softmax(trained),
    graph,
    to_input(read_split(snakemake.input.images, snakemake.input.labels)[0]),
    input_name=layers[0].name,
    output_name=layers[-1].name,
    batch_size=snakemake.params.batch_size,
    tolerance=snakemake.params.tolerance,
)
write_json_atomically(snakemake.output.parity, parity)
write_json_atomically(snakemake.output.network, describe_layers(layers))
write_atomically(snakemake.output.onnx, graph)
