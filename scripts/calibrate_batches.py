"""Rule calibrate_batches: training images -> BatchStream files batch0, batch1, ..."""

from pathlib import Path

from workflow.data.mnist import read_split, to_input
from workflow.io import write_atomically
from workflow.logs import log_to
from workflow.quant.batches import split_into_batches

log_to(snakemake.log[0])
images, labels = read_split(snakemake.input.images, snakemake.input.labels)
files = split_into_batches(
    to_input(images),
    labels,
    batch_size=snakemake.params.batch_size,
    batches=snakemake.params.batches,
)
for index, data in enumerate(files):
    write_atomically(Path(snakemake.output.batches) / f"batch{index}", data)
