"""Rule train_yolo: the darknet cfg's network trained in PyTorch on the detection set's
training split (seeded), saved as darknet .weights."""

from workflow.data.detection import read_classes, read_split
from workflow.formats.darknet import read_cfg, weights_bytes
from workflow.io import write_atomically
from workflow.logs import log_to
from workflow.models.darknet import darknet_weights
from workflow.models.yolo import train_yolo

log_to(snakemake.log[0])
classes = read_classes(snakemake.input.classes)
data = read_split(snakemake.input.train, classes=classes)
network = read_cfg(snakemake.input.cfg)
model = train_yolo(data.images, data.annotations, classes, network, **snakemake.params.train)
seen = len(data.images) * snakemake.params.train["epochs"]
write_atomically(
    snakemake.output.weights, weights_bytes(darknet_weights(model, network, seen=seen), network)
)
