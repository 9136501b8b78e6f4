"""Rule onnx_export_images: an image classifier's trained weights -> ONNX (dynamo exporter,
dynamic batch, softmax output), checked against PyTorch on the test images."""

from workflow.data.objects import read_image_split, to_network_input
from workflow.io import write_atomically, write_json_atomically
from workflow.logs import log_to
from workflow.models.checkpoint import load_state_dict
from workflow.models.export import onnx_from_torch, onnx_parity
from workflow.models.imagenet import build_image_network, check_imagenet_classes
from workflow.models.lenet import INPUT_NAME, OUTPUT_NAME, with_softmax

log_to(snakemake.log[0])
params = snakemake.params
test, classes = read_image_split(snakemake.input.data, "test")
if params.imagenet:
    check_imagenet_classes(params.network, len(classes))
network = build_image_network(
    params.network, len(classes), base_width=params.base_width, imagenet=params.imagenet
)
model = with_softmax(load_state_dict(network, snakemake.input.weights))
inputs = to_network_input(test, params.preprocess, params.input_size)
names = {"input_name": INPUT_NAME, "output_name": OUTPUT_NAME}
graph = onnx_from_torch(model, inputs, opset=params.opset, **names)
parity = onnx_parity(
    model, graph, inputs, batch_size=params.batch_size, tolerance=params.tolerance, **names
)
write_json_atomically(snakemake.output.parity, parity)
write_atomically(snakemake.output.onnx, graph)
