"""Rule onnx_export_tf: Keras model -> ONNX with tf2onnx, checked against TensorFlow (for a
plugin sample, its Clip nodes become clip plugin nodes first, run through their CPU
reference)."""

from workflow.data.mnist import read_split, to_input
from workflow.io import write_atomically, write_json_atomically
from workflow.logs import log_to
from workflow.models.keras import import_tensorflow, keras_parity, onnx_from_keras
from workflow.models.lenet import INPUT_NAME, OUTPUT_NAME
from workflow.plugins.graphs import with_clip_plugins

log_to(snakemake.log[0])
model = import_tensorflow().keras.models.load_model(snakemake.input.model)
names = {"input_name": INPUT_NAME, "output_name": OUTPUT_NAME}
graph = onnx_from_keras(model, opset=snakemake.params.opset, **names)
if snakemake.params.plugins:  # the ReLU6 as the clip plugin's node (uff_custom_plugin)
    graph, _ = with_clip_plugins(graph)
parity = keras_parity(
    model,
    graph,
    to_input(read_split(snakemake.input.images, snakemake.input.labels)[0]),
    batch_size=snakemake.params.batch_size,
    tolerance=snakemake.params.tolerance,
    **names,
)
write_json_atomically(snakemake.output.parity, parity)
write_atomically(snakemake.output.onnx, graph)
