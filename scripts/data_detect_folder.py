"""Rule data_detect_folder: your own detection set (data.detect.folder), checked whole and
copied into results/data/folder/."""

import logging

from workflow.data.detection import copy_detection_set
from workflow.logs import log_to

log_to(snakemake.log[0])
counts = copy_detection_set(
    snakemake.input.folder,
    snakemake.output.train,
    snakemake.output.test,
    snakemake.output.classes,
)
logging.getLogger("data_detect_folder").info("images: %s", counts)
