"""Rule score_draw: the first test scenes with their detections drawn (PNG and PPM)."""

from pathlib import Path

from workflow.detect.draw import draw_detection_set, png_bytes
from workflow.formats.pnm import pnm_bytes
from workflow.io import write_atomically, write_json_atomically
from workflow.logs import log_to

log_to(snakemake.log[0])
out = Path(snakemake.output.drawn)
listing = {"threshold": snakemake.params.threshold}
for name, drawn, boxes in draw_detection_set(
    snakemake.input.detections,
    snakemake.input.test,
    snakemake.input.classes,
    images=snakemake.params.images,
    threshold=snakemake.params.threshold,
):
    write_atomically(out / f"{name}.png", png_bytes(drawn))
    write_atomically(out / f"{name}.ppm", pnm_bytes(drawn))
    listing[name] = boxes
write_json_atomically(out / "drawn.json", listing)
