"""Rule onnx_export_detector: trained weights of a detector of registry rows with
train: detector -> its ONNX graph (its Detector's export), checked against PyTorch on test
scenes."""

from workflow.data.detection import read_classes, read_split
from workflow.io import write_atomically, write_json_atomically
from workflow.logs import log_to
from workflow.models.detectors import detector_from

log_to(snakemake.log[0])
params = snakemake.params
classes = read_classes(snakemake.input.classes)
images = read_split(snakemake.input.test, classes=classes).images[: params.parity_images]
graph, parity = detector_from(params.detector).export(
    snakemake.input.weights,
    len(classes),
    images,
    opset=params.opset,
    batch_size=params.batch_size,
    tolerance=params.tolerance,
)
write_json_atomically(snakemake.output.parity, parity)
write_atomically(snakemake.output.onnx, graph)
