"""Rule calibrate_batches: training images -> BatchStream files batch0, batch1, ..."""

from workflow.data.mnist import read_split, to_input
from workflow.logs import log_to
from workflow.quant.batches import split_into_batches, write_batch_folder

log_to(snakemake.log[0])
images, labels = read_split(snakemake.input.images, snakemake.input.labels)
files = split_into_batches(
    to_input(images),
    labels,
    batch_size=snakemake.params.batch_size,
    batches=snakemake.params.batches,
)
write_batch_folder(snakemake.output.batches, files)
