"""Rule byo_import: your model checked and normalised (workflow/models/byo.py), its test split
preprocessed for scoring and its training images as calibration feed files."""

import io

import numpy as np

from workflow.data.byo import preprocess, read_labelled
from workflow.io import write_atomically, write_json_atomically
from workflow.logs import log_to
from workflow.models.byo import load_checked, normalise
from workflow.quant.batches import write_feed_folder

log_to(snakemake.log[0])
settings = snakemake.params.settings
train, test, classes = read_labelled(settings["data"])
model, report = load_checked(
    snakemake.input.model,
    input_name=settings["input"],
    layout=settings["layout"],
    opset=snakemake.params.opset,
)
name, size, channels = report["input"], tuple(report["size"]), report["channels"]


def prepared(split):
    return preprocess(
        split, size=size, channels=channels, layout=report["layout"], **settings["preprocess"]
    )


test_inputs = prepared(test)
graph, report = normalise(model, report, classes=len(classes), sample=test_inputs)
count = min(settings["calibration_images"], len(train.labels))
calibration = prepared(type(train)(train.images[:count], train.labels[:count]))
size_per_feed = snakemake.params.batch_size
if report["batch"].startswith("static"):
    size_per_feed = int(report["input_shape"][0])
feeds = [
    {name: calibration[start : start + size_per_feed]}
    for start in range(0, len(calibration) - size_per_feed + 1, size_per_feed)
]
buffer = io.BytesIO()
np.savez(buffer, inputs=test_inputs, labels=test.labels, classes=np.array(classes))
write_atomically(snakemake.output.test, buffer.getvalue())
write_feed_folder(snakemake.output.batches, feeds)
write_json_atomically(snakemake.output.report, report | {"classes_named": classes})
write_atomically(snakemake.output.onnx, graph)
