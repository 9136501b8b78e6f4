"""Rule score_detect: run the SSD over the test scenes; detections (seed form) and mAP@IoU."""

import io

import numpy as np

from workflow.data.images import to_nchw
from workflow.detect.dataset import ground_truths, read_classes, read_split
from workflow.detect.postprocess import NmsParams
from workflow.io import write_atomically, write_json_atomically
from workflow.logs import log_to
from workflow.models.ssd import INPUT_OFFSET, INPUT_SCALE
from workflow.score.detect import detect, detection_list, map_report
from workflow.score.runtimes import make_runner

log_to(snakemake.log[0])
params = snakemake.params
classes = read_classes(snakemake.input.classes)
data = read_split(snakemake.input.test, classes=classes)
nms = NmsParams(**params.nms)
runner = make_runner(
    params.runtime, dict(snakemake.input), module=params.module, threads=params.threads
)
with runner:
    detections, counts = detect(
        runner,
        to_nchw(data.images, scale=INPUT_SCALE, offset=INPUT_OFFSET),
        batch_size=params.batch_size,
        place=params.place,
        params=nms,
    )
report = map_report(
    detection_list(detections, counts),
    ground_truths(data, classes),
    classes=classes,
    images=len(data.images),
    iou_threshold=params.iou_threshold,
    max_detections=nms.keep_top_k,
)
buffer = io.BytesIO()
np.savez(buffer, detections=detections, keep_count=counts, names=np.array(data.names))
write_atomically(snakemake.output.detections, buffer.getvalue())
report |= {"runner": runner.name, "runtime": params.runtime, "nms": params.place}
write_json_atomically(snakemake.output.score, report)
