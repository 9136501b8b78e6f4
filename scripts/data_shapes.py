"""Rule data_shapes: the generated detection scenes (PPM + VOC XML), train and test splits."""

import logging

from workflow.data.detection import write_classes
from workflow.data.shapes import CLASSES, shape_seeds, write_shapes
from workflow.logs import log_to, timed

log_to(snakemake.log[0])
log = logging.getLogger("data_shapes")
params = snakemake.params.shapes
for split in ("train", "test"):
    seeds = shape_seeds(params["seed"], split, params[split])
    with timed(log, f"{split} | {len(seeds)} scenes"):
        objects = write_shapes(
            snakemake.output[split],
            seeds,
            max_objects=params["max_objects"],
            min_size=params["min_size"],
            max_size=params["max_size"],
        )
    log.info("%s | %d scenes, %d objects", split, len(seeds), objects)
write_classes(snakemake.output.classes, CLASSES)
