"""Scoring detectors: detections over a test set, VOC mAP, and the cross-check with pycocotools.

Any :class:`~workflow.models.detector.Detector` (the SSD, YOLOv3 from a darknet cfg, Faster
R-CNN's two graphs, ...; made from its spec by ``workflow.models.detectors.detector_from``)
supplies the preprocessing, the decoding of its graph's outputs and the runner of its graphs;
NMS, mAP and drawing are shared.
"""

import contextlib
import io
from typing import Any

import numpy as np

from workflow.backend.base import BaseRunner
from workflow.data.detection import read_classes, read_split
from workflow.detect.evaluate import (
    Detection,
    GroundTruth,
    ground_truths,
    mean_average_precision,
)
from workflow.detect.postprocess import (
    BOXES,
    DETECTIONS,
    SCORES,
    NmsParams,
    host_nms,
    seed_output,
)
from workflow.errors import PipelineError
from workflow.models.detector import Decode, Detector
from workflow.score.runtimes import make_runner, part_files


def detector_runner(
    runtime: str,
    files: dict[str, str],
    detector: Detector,
    *,
    module: str = "auto",
    threads: int = 1,
) -> BaseRunner:
    """An inactive runner of a detector (``workflow.score.runtimes.make_runner``'s files); a
    detector split into parts has the files of each part keyed ``<part>_<file>`` (``rpn_onnx``,
    ``head_plan``, ...), and its runners are joined into one (:meth:`Detector.join`)."""
    if not detector.parts:
        return make_runner(runtime, files, module=module, threads=threads)
    runners = [
        make_runner(
            runtime,
            part_files(files, part),
            module=module,
            threads=threads,
        )
        for part in detector.parts
    ]
    return detector.join(runners)


def part_feeds(
    detector: Detector,
    part: str,
    earlier_onnx: str,
    images: np.ndarray,
    *,
    batch_size: int,
    threads: int = 1,
) -> list[dict[str, np.ndarray]]:
    """Calibration feeds of a later graph ``part`` of a split detector (Faster R-CNN's head:
    ``features`` and ``rois``), one per batch of uint8 scenes ``images``: what the graph
    before it (``earlier_onnx``, run by ONNX Runtime) and the host step give for them."""
    earlier = make_runner("ort", {"onnx": earlier_onnx}, threads=threads)
    return detector.part_feeds(part, images, earlier, batch_size=batch_size)


def detect(
    runner: BaseRunner,
    inputs: np.ndarray,
    *,
    batch_size: int,
    place: str,
    params: NmsParams,
    decode: Decode | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Run an active detector runner over ``inputs`` (N, 3, H, W) and post-process its output.

    Args:
        place: ``host`` (the graph ends with boxes and scores, or with what ``decode`` turns
            into them; NMS here) or ``graph`` (the SSD graph ends with NMS's detections).
        decode: the outputs -> (boxes, scores) of a graph that does not end with them.

    Returns:
        The seed's output for the whole set: detections (N, keep_top_k, 7) with image ids
        counted over the set, and keep_count (N,).
    """
    (input_name,) = runner.input_metadata()
    if decode is not None and place != "host":
        raise PipelineError(f"nms.place={place!r}", "this detector runs NMS on the host only")
    wanted = [BOXES, SCORES] if place == "host" else [DETECTIONS]
    detections, counts = [], []
    for start in range(0, len(inputs), batch_size):
        batch = inputs[start : start + batch_size]
        result = runner.infer({input_name: batch})
        missing = [] if decode else [name for name in wanted if name not in result]
        if missing:
            raise PipelineError(
                runner.name,
                f"no output {missing[0]!r} (it has {sorted(result)}) for NMS on the {place}",
                "the graph and nms.place disagree; rebuild the graph",
            )
        if decode is not None:
            rows = host_nms(*decode(result), params)
        elif place == "host":
            rows = host_nms(result[BOXES], result[SCORES], params)
        else:
            rows = np.asarray(result[DETECTIONS], np.float32).reshape(-1, 7)
        out, count = seed_output(rows, batch=len(batch), keep_top_k=params.keep_top_k)
        for image in range(len(batch)):
            out[image, : count[image], 0] += start
        detections.append(out)
        counts.append(count)
    return np.concatenate(detections), np.concatenate(counts)


def detection_list(detections: np.ndarray, counts: np.ndarray) -> list[Detection]:
    """The kept rows of the seed's output as :class:`Detection` objects."""
    return [
        Detection(int(row[0]), int(row[1]), float(row[2]), tuple(float(v) for v in row[3:]))
        for image, count in enumerate(counts)
        for row in detections[image, :count]
    ]


def coco_map(
    detections: list[Detection],
    truths: list[GroundTruth],
    *,
    classes: list[int],
    images: int,
    iou_threshold: float,
    max_detections: int,
) -> float:
    """mAP at one IoU threshold computed by pycocotools' COCOeval (the cross-check).

    COCOeval interpolates precision at 101 recall points and matches each detection to the
    best-overlapping unmatched ground truth; difficult objects are passed as ``iscrowd`` (COCO's
    way to ignore an object). Classes without ground truth are left out, as in our mAP.
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    if not detections:  # COCO cannot load an empty result; every AP is 0
        return 0.0

    def xywh(box: tuple[float, ...]) -> list[float]:
        return [box[0], box[1], box[2] - box[0], box[3] - box[1]]

    ground = {
        "images": [{"id": i} for i in range(images)],
        "categories": [{"id": c} for c in classes],
        "annotations": [
            {
                "id": k + 1,
                "image_id": g.image,
                "category_id": g.label,
                "bbox": xywh(g.box),
                "area": xywh(g.box)[2] * xywh(g.box)[3],
                "iscrowd": int(g.difficult),
            }
            for k, g in enumerate(truths)
        ],
    }
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = ground
        coco.createIndex()
        found = coco.loadRes(
            [
                {"image_id": d.image, "category_id": d.label, "bbox": xywh(d.box), "score": d.score}
                for d in detections
            ]
        )
        evaluation = COCOeval(coco, found, "bbox")
        evaluation.params.iouThrs = np.array([iou_threshold])
        evaluation.params.maxDets = [1, 10, max_detections]
        evaluation.params.catIds = classes
        evaluation.evaluate()
        evaluation.accumulate()
    precision = evaluation.eval["precision"][0, :, :, 0, -1]  # recall x class, all areas
    present = {g.label for g in truths if not g.difficult}
    per_class = [float(precision[:, k].mean()) for k, c in enumerate(classes) if c in present]
    return float(np.mean(per_class)) if per_class else 0.0


def map_report(
    detections: list[Detection],
    truths: list[GroundTruth],
    *,
    classes: tuple[str, ...],
    images: int,
    iou_threshold: float,
    max_detections: int,
) -> dict[str, Any]:
    """VOC mAP (area, 11-point and COCO's 101-point interpolation), per-class AP by name, and
    pycocotools' mAP beside it: ``difference`` compares it with our headline (area) mAP,
    ``difference_101point`` with ours interpolated as COCO does, which isolates the matching."""
    from importlib.metadata import version

    labels = list(range(1, len(classes) + 1))
    area = mean_average_precision(detections, truths, classes=labels, iou_threshold=iou_threshold)
    eleven, coco_style = (
        mean_average_precision(
            detections, truths, classes=labels, iou_threshold=iou_threshold, method=method
        )["map"]
        for method in ("11point", "101point")
    )
    library = coco_map(
        detections,
        truths,
        classes=labels,
        images=images,
        iou_threshold=iou_threshold,
        max_detections=max_detections,
    )
    return {
        "map": area["map"],
        "map_11point": eleven,
        "map_101point": coco_style,
        "iou_threshold": iou_threshold,
        "per_class": {classes[int(k) - 1]: ap for k, ap in area["per_class"].items()},
        "count": images,
        "objects": sum(not g.difficult for g in truths),
        "detections": len(detections),
        "library": {
            "name": f"pycocotools {version('pycocotools')}",
            "map": library,
            "method": "COCOeval at one IoU threshold, 101-point interpolated precision",
            "difference": abs(library - area["map"]),
            "difference_101point": abs(library - coco_style),
        },
    }


def score_detection_set(
    runner: BaseRunner,
    test_folder: str,
    classes_path: str,
    *,
    place: str,
    params: NmsParams,
    batch_size: int,
    iou_threshold: float,
    detector: Detector,
) -> tuple[bytes, dict[str, Any]]:
    """Detect objects in every image of a test split and score them (the rule score_detect).

    Args:
        runner: an inactive runner of the detector's graph or engine.
        test_folder: the split's folder of PPM + XML files.
        classes_path: the dataset's ``classes.txt``.
        place: where NMS runs (``host`` or ``graph``), as the graph was exported.
        params: NMS thresholds.
        batch_size: images per inference call.
        iou_threshold: IoU at which a detection matches an object.
        detector: the detector the runner runs.

    Returns:
        The seed-form detections as ``.npz`` bytes (``detections`` (N, keep_top_k, 7),
        ``keep_count`` (N,), ``names`` (N,) file stems) and the :func:`map_report`.
    """
    classes = read_classes(classes_path)
    if detector.names:  # weights trained elsewhere detect their own classes
        detected = read_classes(detector.names)
        if detected != classes:
            raise PipelineError(
                classes_path,
                f"lists {len(classes)} classes ({', '.join(classes[:3])}, ...); the detector "
                f"detects the {len(detected)} of {detector.names} ({', '.join(detected[:3])}"
                ", ...)",
                "score it on a detection set annotated with the detector's class names, in "
                "their order (data.detect.source: folder, its classes.txt the names file)",
            )
    data = read_split(test_folder, classes=classes)
    with runner:
        detections, counts = detect(
            runner,
            detector.network_input(data.images),
            batch_size=batch_size,
            place=place,
            params=params,
            decode=detector.decode(data.images.shape[1:3]),
        )
    report = map_report(
        detection_list(detections, counts),
        ground_truths(data, classes),
        classes=classes,
        images=len(data.images),
        iou_threshold=iou_threshold,
        max_detections=params.keep_top_k,
    )
    buffer = io.BytesIO()
    np.savez(buffer, detections=detections, keep_count=counts, names=np.array(data.names))
    return buffer.getvalue(), report | {"runner": runner.name, "nms": place}
