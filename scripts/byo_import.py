"""Rule byo_import: your model checked and normalised (workflow/models/byo.py), its calibration
batches and evaluation batches as feed files, and the evaluation labels (none without a task)."""

import io

import numpy as np

from workflow.io import write_atomically, write_json_atomically
from workflow.logs import log_to
from workflow.models.byo import import_own
from workflow.quant.batches import write_feed_folder

log_to(snakemake.log[0])
graph, report, data = import_own(
    snakemake.input.model, snakemake.params.settings, opset=snakemake.params.opset
)
buffer = io.BytesIO()
np.savez(buffer, labels=data["labels"], classes=np.array(data["classes"], dtype=str))
write_atomically(snakemake.output.test, buffer.getvalue())
write_feed_folder(snakemake.output.batches, data["calibration"])
write_feed_folder(snakemake.output.evaluation, data["evaluation"])
write_json_atomically(snakemake.output.report, report)
write_atomically(snakemake.output.onnx, graph)
