"""Rule train_ssd: train the SSD on the detection set's training split (seeded)."""

from workflow.data.detection import read_classes, read_split
from workflow.io import write_atomically
from workflow.logs import log_to
from workflow.models.checkpoint import state_dict_bytes
from workflow.models.ssd import train_ssd

log_to(snakemake.log[0])
classes = read_classes(snakemake.input.classes)
data = read_split(snakemake.input.train, classes=classes)
model = train_ssd(data.images, data.annotations, classes, **snakemake.params.train)
write_atomically(snakemake.output.weights, state_dict_bytes(model))
