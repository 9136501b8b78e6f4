"""Rule weights_nmt (chpt_to_bin): the translator's checkpoint -> the seed's seven binary weight
files, read back strictly before they are kept."""

import logging
from pathlib import Path

from workflow.logs import log_to
from workflow.models.nmt_bin import chpt_to_bin

log_to(snakemake.log[0])
sizes = chpt_to_bin(
    snakemake.input.index.removesuffix(".index"),
    Path(snakemake.output.bins[0]).parent,
    forget_bias=snakemake.params.forget_bias,
)
logging.getLogger("weights_nmt").info("files (bytes): %s", sizes)
