"""Rule ocr_calibrate_batches: feed files (batch0.npz, ...) of a PP-OCRv4 graph from the
calibration split, preprocessed as the graph takes them."""

from workflow.logs import log_to
from workflow.quant.batches import write_feed_folder
from workflow.score.ocr import ocr_calibration_feeds

log_to(snakemake.log[0])
params = snakemake.params
feeds = ocr_calibration_feeds(params.part, snakemake.input.calib, det=params.det, rec=params.rec)
write_feed_folder(snakemake.output.batches, feeds)
