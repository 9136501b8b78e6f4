"""Rule train_frcnn: the Faster R-CNN trained in PyTorch on the detection set's training split
(seeded), saved as a state dict."""

from workflow.data.detection import read_classes, read_split
from workflow.detect.frcnn import FrcnnGeometry
from workflow.io import write_atomically
from workflow.logs import log_to
from workflow.models.checkpoint import state_dict_bytes
from workflow.models.frcnn import train_frcnn

log_to(snakemake.log[0])
cfg = snakemake.params.train
classes = read_classes(snakemake.input.classes)
data = read_split(snakemake.input.train, classes=classes)
training = ("seed", "epochs", "batch_size", "learning_rate", "weight_decay", "threads")
model = train_frcnn(
    data.images,
    data.annotations,
    classes,
    FrcnnGeometry.from_config(cfg),
    **{key: cfg[key] for key in training},
)
write_atomically(snakemake.output.weights, state_dict_bytes(model))
