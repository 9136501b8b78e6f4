"""Scoring detectors: detections over a test set, VOC mAP, and the cross-check with pycocotools.

Three networks: the SSD (its graph ends with ``boxes`` and ``scores``, or with NMS's
``detections``), YOLOv3 from a darknet cfg (its graph ends with one raw output per head,
decoded here by ``workflow.detect.yolo``) and Faster R-CNN (two graphs with the proposal step
between them, run as one :class:`FrcnnRunner`; see ``workflow.detect.frcnn``). A *detector* is a
dict naming the network (``ssd``, ``yolov3`` or ``faster_rcnn``) and, for YOLOv3, its ``cfg``
(and, for weights trained elsewhere, the ``names`` file of the classes they detect),
for Faster R-CNN its geometry (config ``train.frcnn``'s ``input_size``, ``pixel_mean``,
``anchor_sizes``, ``anchor_ratios``, ``proposals``): it picks the preprocessing (the SSD's
scaling to [-1, 1]; YOLO's letterbox and [0, 1]; Faster R-CNN's resize, BGR and pixel mean) and
the decoding; NMS, mAP and drawing are shared.
"""

import contextlib
import io
from collections.abc import Callable
from typing import Any

import numpy as np

from workflow.backend.base import BaseRunner
from workflow.data.detection import read_classes, read_split
from workflow.data.images import to_nchw
from workflow.detect import frcnn
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
from workflow.detect.yolo import boxes_to_image, decode_heads
from workflow.errors import PipelineError
from workflow.formats.darknet import read_cfg
from workflow.models.ssd import INPUT_OFFSET, INPUT_SCALE
from workflow.models.yolo import head_anchors, network_input
from workflow.score.runtimes import make_runner, part_files

NETWORKS = ("ssd", "yolov3", "faster_rcnn")
#: The SSD's detector (the default of every function that takes one).
SSD = {"network": "ssd"}
Decode = Callable[[dict[str, np.ndarray]], tuple[np.ndarray, np.ndarray]]


def detector_input(images: np.ndarray, detector: dict[str, Any]) -> np.ndarray:
    """uint8 images (N, H, W, 3) as the detector's network takes them (N, 3, h, w) float32."""
    if detector["network"] == "ssd":
        return to_nchw(images, scale=INPUT_SCALE, offset=INPUT_OFFSET)
    if detector["network"] == "yolov3":
        return network_input(images, read_cfg(detector["cfg"]))
    if detector["network"] == "faster_rcnn":
        return frcnn.network_input(images, detector["input_size"], detector["pixel_mean"])
    raise PipelineError(f"detector {detector['network']!r}", f"choose among {NETWORKS}")


def detector_decode(detector: dict[str, Any], image_size: tuple[int, int]) -> Decode | None:
    """How the graph's outputs become corner boxes relative to the image and per-class scores
    with a column 0 for the background (``None``: the SSD's own ``boxes`` and ``scores``)."""
    if detector["network"] == "ssd":
        return None
    if detector["network"] == "faster_rcnn":
        info = frcnn.image_info(image_size, tuple(detector["input_size"]))

        def unscale(result: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
            return frcnn.boxes_to_image(result[BOXES], info, image_size), result[SCORES]

        return unscale
    network = read_cfg(detector["cfg"])
    anchors = head_anchors(network)
    input_size = network.input_shape[1:]

    def decode(result: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        heads = [result[f"yolo{k}"] for k in range(len(anchors))]
        boxes, scores = decode_heads(heads, anchors, input_size=input_size)
        return boxes_to_image(boxes, image_size, input_size), scores

    return decode


class FrcnnRunner(BaseRunner):
    """A Faster R-CNN's two runners and the proposal step between them, as one runner: the
    rpn graph's input in; ``boxes`` (N, R, 4) in input pixels, ``scores`` (N, R, C + 1) (the
    padding ROIs' class scores 0), and the ``rois`` (N, R, 4) and their ``counts`` (N,) out.

    Args:
        rpn: an inactive runner of the rpn graph or engine.
        head: an inactive runner of the head graph or engine.
        geometry: what the graphs were exported with.
    """

    def __init__(self, rpn: BaseRunner, head: BaseRunner, geometry: frcnn.FrcnnGeometry) -> None:
        super().__init__(f"frcnn({rpn.name} -> {head.name})")
        self.rpn, self.head, self.geometry = rpn, head, geometry

    def _activate(self) -> None:
        self.rpn.activate()
        try:
            self.head.activate()
        except BaseException:
            self.rpn.deactivate()
            raise

    def _deactivate(self) -> None:
        try:
            self.head.deactivate()
        finally:
            self.rpn.deactivate()

    def _input_metadata(self) -> list:
        return list(self.rpn.input_metadata().values())

    def _infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        first = self.rpn.infer(feed)
        rois, counts = frcnn.select_proposals(
            first[frcnn.PROPOSALS].astype(np.float32),
            first[frcnn.OBJECTNESS].astype(np.float32),
            self.geometry,
        )
        specs = self.head.input_metadata()
        second = self.head.infer(
            {
                frcnn.FEATURES: first[frcnn.FEATURES].astype(specs[frcnn.FEATURES].dtype),
                frcnn.ROIS: rois.astype(specs[frcnn.ROIS].dtype),
            }
        )
        scores = frcnn.mask_padding(second[SCORES].astype(np.float32), counts)
        return {
            BOXES: second[BOXES].astype(np.float32),
            SCORES: scores,
            frcnn.ROIS: rois,
            "counts": counts,
        }


def detector_runner(
    runtime: str,
    files: dict[str, str],
    detector: dict[str, Any],
    *,
    module: str = "auto",
    threads: int = 1,
) -> BaseRunner:
    """An inactive runner of a detector (``workflow.score.runtimes.make_runner``'s files); a
    Faster R-CNN's files are those of each part, keyed ``<part>_<file>`` (``rpn_onnx``,
    ``head_plan``, ...), and make a :class:`FrcnnRunner`."""
    if detector["network"] != "faster_rcnn":
        return make_runner(runtime, files, module=module, threads=threads)
    runners = [
        make_runner(
            runtime,
            part_files(files, part),
            module=module,
            threads=threads,
        )
        for part in frcnn.PARTS
    ]
    return FrcnnRunner(*runners, frcnn.FrcnnGeometry.from_config(detector))


def head_feeds(
    rpn_onnx: str,
    images: np.ndarray,
    detector: dict[str, Any],
    *,
    batch_size: int,
    threads: int = 1,
) -> list[dict[str, np.ndarray]]:
    """Feeds of a Faster R-CNN head graph (``features`` and ``rois``), one per batch of uint8
    scenes ``images``: what the rpn graph (ONNX Runtime) and the proposal step give for them."""
    geometry = frcnn.FrcnnGeometry.from_config(detector)
    inputs = detector_input(images, detector)
    feeds = []
    with make_runner("ort", {"onnx": rpn_onnx}, threads=threads) as rpn:
        for start in range(0, len(inputs), batch_size):
            first = rpn.infer({frcnn.IMAGE: inputs[start : start + batch_size]})
            rois, _ = frcnn.select_proposals(
                first[frcnn.PROPOSALS], first[frcnn.OBJECTNESS], geometry
            )
            feeds.append({frcnn.FEATURES: first[frcnn.FEATURES], frcnn.ROIS: rois})
    return feeds


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
    detector: dict[str, Any] = SSD,
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
        detector: the network (see the module docstring).

    Returns:
        The seed-form detections as ``.npz`` bytes (``detections`` (N, keep_top_k, 7),
        ``keep_count`` (N,), ``names`` (N,) file stems) and the :func:`map_report`.
    """
    classes = read_classes(classes_path)
    if "names" in detector:  # weights trained elsewhere detect their own classes
        detected = read_classes(detector["names"])
        if detected != classes:
            raise PipelineError(
                classes_path,
                f"lists {len(classes)} classes ({', '.join(classes[:3])}, ...); the detector "
                f"detects the {len(detected)} of {detector['names']} ({', '.join(detected[:3])}"
                ", ...)",
                "score it on a detection set annotated with the detector's class names, in "
                "their order (data.detect.source: folder, its classes.txt the names file)",
            )
    data = read_split(test_folder, classes=classes)
    with runner:
        detections, counts = detect(
            runner,
            detector_input(data.images, detector),
            batch_size=batch_size,
            place=place,
            params=params,
            decode=detector_decode(detector, data.images.shape[1:3]),
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
