"""Rule ocr_score: the OCR sample's detector and recogniser on the test split: detection
recall and precision, character error rate, exact lines; what was found on each page."""

from workflow.io import write_json_atomically
from workflow.logs import log_to
from workflow.repro import settings
from workflow.score.ocr import score_ocr_set

log_to(snakemake.log[0])
params = snakemake.params
report, found = score_ocr_set(
    params.runtime,
    dict(snakemake.input),
    snakemake.input.dictionary,
    snakemake.input.test,
    det=params.det,
    rec=params.rec,
    iou_threshold=params.iou_threshold,
    module=params.module,
    threads=params.threads,
)
write_json_atomically(snakemake.output.found, found)
write_json_atomically(
    snakemake.output.score, report | {"reproducibility": settings(threads=params.threads)}
)
