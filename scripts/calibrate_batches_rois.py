"""Rule calibrate_batches_rois: feed files (batch0.npz, ...) of a Faster R-CNN head graph: the
features and proposals that the FP32 rpn graph and the host's proposal step give for the
training scenes that calibrate the rpn graph."""

from workflow.data.images import read_pnm_folder
from workflow.logs import log_to
from workflow.models.detectors import detector_from
from workflow.quant.batches import write_feed_folder
from workflow.score.detect import part_feeds

log_to(snakemake.log[0])
params = snakemake.params
images = read_pnm_folder(snakemake.input.train)[0][: params.batch_size * params.batches]
write_feed_folder(
    snakemake.output.batches,
    part_feeds(
        detector_from(params.detector),
        "head",
        snakemake.input.rpn,
        images,
        batch_size=params.batch_size,
        threads=snakemake.threads,
    ),
)
