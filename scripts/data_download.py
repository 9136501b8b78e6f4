"""Rules data_download_mnist, data_download_voc2007 and data_download_darknet: one file, checked
against its md5."""

from workflow.data.download import fetch
from workflow.io import write_atomically
from workflow.logs import log_to

log_to(snakemake.log[0])
write_atomically(
    snakemake.output.raw,
    fetch(
        snakemake.params.url,
        snakemake.output.raw,
        md5=snakemake.params.md5,
        timeout_s=snakemake.params.timeout_s,
    ),
)
