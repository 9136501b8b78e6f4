"""Rule train_keras: train the Keras LeNet (or its ReLU6 variant; seeded, deterministic ops) and
save it."""

from workflow.data.mnist import read_split, to_input
from workflow.io import atomic_path
from workflow.logs import log_to
from workflow.models.keras import train_keras

log_to(snakemake.log[0])
images, labels = read_split(snakemake.input.images, snakemake.input.labels)
model = train_keras(
    to_input(images),
    labels,
    seed=snakemake.params.seed,
    epochs=snakemake.params.epochs,
    batch_size=snakemake.params.batch_size,
    learning_rate=snakemake.params.learning_rate,
    momentum=snakemake.params.momentum,
    threads=snakemake.params.threads,
    network=snakemake.params.network,
)
with atomic_path(snakemake.output.model) as tmp:
    model.save(tmp.with_suffix(".keras"))
    tmp.with_suffix(".keras").replace(tmp)
