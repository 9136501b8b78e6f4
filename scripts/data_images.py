"""Rule data_images: the image classifiers' data (generated, or your folder checked and copied,
its classes ImageNet's where asked) as classes.txt + train/<class>/ + test/<class>/."""

import logging

from workflow.data.download import check_md5
from workflow.data.objects import copy_folder, imagenet_wnids, write_generated
from workflow.logs import log_to, timed

log_to(snakemake.log[0])
log = logging.getLogger("data_images")
params = snakemake.params
if params.source == "folder":
    classes = None
    if params.classes == "imagenet":
        check_md5(snakemake.input.index, params.index_md5[1], url=params.index_md5[0])
        classes = imagenet_wnids(snakemake.input.index)
    classes = copy_folder(snakemake.input.folder, snakemake.output.data, classes=classes)
    log.info("your folder | %d classes", len(classes))
else:
    generated = params.generated
    with timed(log, f"generated | {generated}"):
        write_generated(snakemake.output.data, **generated)
