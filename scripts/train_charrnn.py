"""Rule train_charrnn: train the Keras character model (seeded, deterministic ops) and save it."""

from workflow.data.text import read_split
from workflow.io import atomic_path
from workflow.logs import log_to
from workflow.models.charrnn import train_charrnn

log_to(snakemake.log[0])
ids, vocab = read_split(snakemake.input.data, "train")
model = train_charrnn(ids, len(vocab), **snakemake.params.train)
with atomic_path(snakemake.output.model) as tmp:
    model.save(tmp.with_suffix(".keras"))
    tmp.with_suffix(".keras").replace(tmp)
