"""Rule data_translation: the translator's sentence pairs (generated number phrases, or the seed's
WMT16 test set with your training pairs), tokenized, with a vocabulary per language."""

import logging

from workflow.data.download import check_files
from workflow.data.translation import WMT16_FILES, write_translation_data
from workflow.logs import log_to

log_to(snakemake.log[0])
cfg = snakemake.params.translation
files = dict(snakemake.input)
if cfg["source"] == "wmt16":  # the seed's files, downloaded or placed by hand
    check_files(files, {name: ("", md5) for name, md5 in WMT16_FILES.items()})
sizes = write_translation_data(snakemake.output.data, cfg, files)
logging.getLogger("data_translation").info("%s | %s", cfg["source"], sizes)
