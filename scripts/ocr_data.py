"""Rule ocr_data: the OCR sample's rendered text, a test and a calibration split (lines with
known strings, pages with lines at known boxes)."""

import logging

from workflow.data.ocr import OcrSetup, write_ocr_split
from workflow.logs import log_to, timed

log_to(snakemake.log[0])
log = logging.getLogger("ocr_data")
for split in ("test", "calib"):
    with timed(log, f"ocr {split} split"):
        counts = write_ocr_split(
            snakemake.output[split], OcrSetup.from_params(snakemake.params.data, split), split
        )
    log.info("ocr %s split | %s", split, counts)
