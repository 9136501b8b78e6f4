"""Rule calibrate_batches_ppm: training PPMs -> BatchStream files, values in [-1, 1]."""

from pathlib import Path

from workflow.data.images import read_pnm_folder, to_nchw
from workflow.io import write_atomically
from workflow.logs import log_to
from workflow.models.ssd import INPUT_OFFSET, INPUT_SCALE
from workflow.quant.batches import split_into_batches

log_to(snakemake.log[0])
params = snakemake.params
images = read_pnm_folder(snakemake.input.train)[0][: params.batch_size * params.batches]
files = split_into_batches(
    to_nchw(images, scale=INPUT_SCALE, offset=INPUT_OFFSET),
    None,
    batch_size=params.batch_size,
    batches=params.batches,
)
for index, data in enumerate(files):
    write_atomically(Path(snakemake.output.batches) / f"batch{index}", data)
