"""Rule data_voc2007: the VOC 2007 archives -> 300x300 PPM + VOC XML (train, test)."""

from workflow.data.download import check_md5
from workflow.data.voc2007 import VOC2007_ARCHIVES, write_voc2007
from workflow.logs import log_to

log_to(snakemake.log[0])
for split, (name, md5) in VOC2007_ARCHIVES.items():
    check_md5(snakemake.input[split], md5, url=snakemake.params.base_url + name)
write_voc2007(
    {split: snakemake.input[split] for split in VOC2007_ARCHIVES},
    dict(snakemake.output),
    limits=snakemake.params.limits,
)
