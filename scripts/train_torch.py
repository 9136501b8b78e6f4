"""Rule train_torch: train the sample's network in PyTorch (seeded, deterministic)."""

from workflow.data.mnist import read_split, to_input
from workflow.io import write_atomically
from workflow.logs import log_to
from workflow.models.checkpoint import state_dict_bytes
from workflow.models.networks import build_network
from workflow.models.train import train_classifier

log_to(snakemake.log[0])
images, labels = read_split(snakemake.input.images, snakemake.input.labels)
model = train_classifier(
    lambda: build_network(snakemake.params.network, mlp_sizes=list(snakemake.params.mlp_sizes)),
    to_input(images),
    labels,
    seed=snakemake.params.seed,
    epochs=snakemake.params.epochs,
    batch_size=snakemake.params.batch_size,
    learning_rate=snakemake.params.learning_rate,
    momentum=snakemake.params.momentum,
    weight_decay=snakemake.params.weight_decay,
    threads=snakemake.params.threads,
)
write_atomically(snakemake.output.weights, state_dict_bytes(model))
