"""Rule score_detect: run a detector over the test scenes; detections (seed form) and mAP@IoU."""

from workflow.data.download import check_files
from workflow.detect.postprocess import NmsParams
from workflow.io import write_atomically, write_json_atomically
from workflow.logs import log_to
from workflow.models.detectors import detector_from
from workflow.repro import settings
from workflow.score.detect import detector_runner, score_detection_set

log_to(snakemake.log[0])
params = snakemake.params
detector = detector_from(params.detector)
official = {role: params.official[role] for role in ("cfg", "names") if role in params.official}
check_files(dict(snakemake.input), official)  # the official files, placed by hand or fetched
found, report = score_detection_set(
    detector_runner(
        params.runtime,
        dict(snakemake.input),
        detector,
        module=params.module,
        threads=params.threads,
    ),
    snakemake.input.test,
    snakemake.input.classes,
    place=params.place,
    params=NmsParams(**params.nms),
    batch_size=params.batch_size,
    iou_threshold=params.iou_threshold,
    detector=detector,
)
write_atomically(snakemake.output.detections, found)
reproducibility = settings(threads=params.threads)
write_json_atomically(
    snakemake.output.score,
    report | {"runtime": params.runtime, "reproducibility": reproducibility},
)
