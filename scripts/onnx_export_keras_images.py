"""Rule onnx_export_keras_images: the Keras image classifier -> ONNX with tf2onnx (NCHW input),
checked against TensorFlow, and against the PyTorch graph of the same weights (the frameworks
agree: the largest output difference over the test images, bounded by
onnx.frameworks_tolerance)."""

from workflow.data.objects import read_image_split, to_network_input
from workflow.io import write_atomically, write_json_atomically
from workflow.logs import log_to
from workflow.models.export import parity_report
from workflow.models.keras import import_tensorflow, keras_parity, onnx_from_keras
from workflow.models.lenet import INPUT_NAME, OUTPUT_NAME
from workflow.score.classify import predict
from workflow.score.runtimes import make_runner

log_to(snakemake.log[0])
params = snakemake.params
model = import_tensorflow().keras.models.load_model(snakemake.input.model)
names = {"input_name": INPUT_NAME, "output_name": OUTPUT_NAME}
graph = onnx_from_keras(model, opset=params.opset, **names)
inputs = to_network_input(
    read_image_split(snakemake.input.data, "test")[0], params.preprocess, params.input_size
)
batch = {"batch_size": params.batch_size}
parity = keras_parity(model, graph, inputs, tolerance=params.tolerance, **batch, **names)
with make_runner("ort", {"onnx": snakemake.input.torch_graph}) as runner:
    torch_outputs = predict(runner, inputs, output_name=OUTPUT_NAME, **batch)
parity["frameworks"] = parity_report(
    torch_outputs,
    graph,
    inputs,
    tolerance=params.frameworks_tolerance,
    framework=f"the PyTorch graph {snakemake.input.torch_graph}",
    **batch,
    **names,
) | {"against": snakemake.input.torch_graph}
write_json_atomically(snakemake.output.parity, parity)
write_atomically(snakemake.output.onnx, graph)
