"""Rule train_ncf: the training interactions -> NeuMF weights (PyTorch state dict)."""

from workflow.data.movielens import read_interactions
from workflow.io import write_atomically
from workflow.logs import log_to
from workflow.models.checkpoint import state_dict_bytes
from workflow.models.ncf import train_ncf

log_to(snakemake.log[0])
params = snakemake.params
model = train_ncf(
    read_interactions(snakemake.input.data),
    factors=params.factors,
    layers=list(params.layers),
    negatives=params.negatives,
    seed=params.seed,
    epochs=params.epochs,
    batch_size=params.batch_size,
    learning_rate=params.learning_rate,
    threads=params.threads,
)
write_atomically(snakemake.output.weights, state_dict_bytes(model))
