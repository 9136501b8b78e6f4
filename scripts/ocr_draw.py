"""Rule ocr_draw: the first test pages with their detected boxes and the text read in them."""

import json
from pathlib import Path

from workflow.data.ocr import png_bytes
from workflow.io import write_atomically
from workflow.logs import log_to
from workflow.score.ocr import draw_ocr_pages

log_to(snakemake.log[0])
found = json.loads(Path(snakemake.input.found).read_text(encoding="utf-8"))
for name, image in draw_ocr_pages(found, snakemake.input.test, pages=snakemake.params.pages):
    write_atomically(Path(snakemake.output.drawn) / f"{name}.png", png_bytes(image))
