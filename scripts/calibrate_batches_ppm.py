"""Rule calibrate_batches_ppm: training PPMs -> BatchStream files, values in [-1, 1]."""

from workflow.data.images import read_pnm_folder, to_nchw
from workflow.logs import log_to
from workflow.models.ssd import INPUT_OFFSET, INPUT_SCALE
from workflow.quant.batches import split_into_batches, write_batch_folder

log_to(snakemake.log[0])
params = snakemake.params
images = read_pnm_folder(snakemake.input.train)[0][: params.batch_size * params.batches]
files = split_into_batches(
    to_nchw(images, scale=INPUT_SCALE, offset=INPUT_OFFSET),
    None,
    batch_size=params.batch_size,
    batches=params.batches,
)
write_batch_folder(snakemake.output.batches, files)
