"""Rule train_detector: a detector of registry rows with train: detector (its Detector's train,
the shared detector loop) trained on the detection set's training split (seeded), saved as a
state dict."""

from workflow.data.detection import read_classes, read_split
from workflow.io import write_atomically
from workflow.logs import log_to
from workflow.models.checkpoint import state_dict_bytes
from workflow.models.detectors import detector_from

log_to(snakemake.log[0])
classes = read_classes(snakemake.input.classes)
data = read_split(snakemake.input.train, classes=classes)
detector = detector_from(snakemake.params.detector)
model = detector.train(data.images, data.annotations, classes, **snakemake.params.train)
write_atomically(snakemake.output.weights, state_dict_bytes(model))
