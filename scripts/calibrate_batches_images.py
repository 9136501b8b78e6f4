"""Rule calibrate_batches_images: the image classes' training images, preprocessed as the
networks take them -> BatchStream files batch0, batch1, ..."""

from workflow.data.objects import interleaved, read_image_split, to_network_input
from workflow.logs import log_to
from workflow.quant.batches import split_into_batches, write_batch_folder

log_to(snakemake.log[0])
params = snakemake.params
train, _ = read_image_split(snakemake.input.data, "train")
order = interleaved(train.labels)  # every batch holds every class
files = split_into_batches(
    to_network_input(train, params.preprocess, params.input_size)[order],
    train.labels[order],
    batch_size=params.batch_size,
    batches=params.batches,
)
write_batch_folder(snakemake.output.batches, files)
