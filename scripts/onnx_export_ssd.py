"""Rule onnx_export_ssd: SSD weights -> ONNX with box decoding (and NMS when nms.place is
graph), checked against PyTorch on test scenes."""

from workflow.data.detection import read_classes, read_split
from workflow.data.images import to_nchw
from workflow.detect.postprocess import NmsParams, add_graph_nms
from workflow.io import write_atomically, write_json_atomically
from workflow.logs import log_to
from workflow.models.ssd import INPUT_OFFSET, INPUT_SCALE, export_ssd

log_to(snakemake.log[0])
params = snakemake.params
classes = read_classes(snakemake.input.classes)
images = read_split(snakemake.input.test, classes=classes).images[: params.parity_images]
graph, parity = export_ssd(
    snakemake.input.weights,
    len(classes),
    to_nchw(images, scale=INPUT_SCALE, offset=INPUT_OFFSET),
    opset=params.opset,
    batch_size=params.batch_size,
    tolerance=params.tolerance,
)
if params.nms:  # NMS inside the graph
    graph = add_graph_nms(graph, NmsParams(**params.nms))
write_json_atomically(snakemake.output.parity, parity | {"graph_nms": bool(params.nms)})
write_atomically(snakemake.output.onnx, graph)
