"""Rule calibrate_batches_ppm: training PPMs -> BatchStream files, preprocessed as the detector's
(first) graph takes them (the SSD: values in [-1, 1]; YOLOv3: letterboxed, values in [0, 1])."""

from workflow.data.images import read_pnm_folder
from workflow.logs import log_to
from workflow.models.detectors import detector_from
from workflow.quant.batches import split_into_batches, write_batch_folder

log_to(snakemake.log[0])
params = snakemake.params
images = read_pnm_folder(snakemake.input.train)[0][: params.batch_size * params.batches]
files = split_into_batches(
    detector_from(params.detector).network_input(images),
    None,
    batch_size=params.batch_size,
    batches=params.batches,
)
write_batch_folder(snakemake.output.batches, files)
