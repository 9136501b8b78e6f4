"""Rule score_draw: the first test scenes with their detections drawn (PNG and PPM)."""

from pathlib import Path

import numpy as np

from workflow.detect.dataset import read_classes
from workflow.detect.draw import draw_detections, png_bytes
from workflow.formats.pnm import pnm_bytes, read_pnm
from workflow.io import write_atomically, write_json_atomically
from workflow.logs import log_to

log_to(snakemake.log[0])
classes = read_classes(snakemake.input.classes)
found = np.load(snakemake.input.detections)
out = Path(snakemake.output.drawn)
listing = {}
for index, name in enumerate(found["names"][: snakemake.params.images]):
    image = read_pnm(Path(snakemake.input.test) / f"{name}.ppm")
    rows = found["detections"][index, : found["keep_count"][index]]
    drawn, boxes = draw_detections(
        image, rows, classes=classes, threshold=snakemake.params.threshold
    )
    write_atomically(out / f"{name}.png", png_bytes(drawn))
    write_atomically(out / f"{name}.ppm", pnm_bytes(drawn))
    listing[str(name)] = boxes
write_json_atomically(out / "drawn.json", {"threshold": snakemake.params.threshold} | listing)
