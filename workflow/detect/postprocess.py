"""SSD post-processing: per-class non-maximum suppression, on the host or inside the ONNX graph,
and the seed's output form.

The network's graph ends with ``boxes`` (N, P, 4), corner boxes relative to the image, and
``scores`` (N, P, C + 1), softmax probabilities with class 0 the background. NMS then runs either

* on the host (:func:`host_nms`, numpy), right after the engine, or
* in the graph (:func:`add_graph_nms`): an ONNX ``NonMaxSuppression`` and the gathers that turn
  its indices into detections, so the graph's output is ``detections`` (K, 7).

Both follow ONNX ``NonMaxSuppression`` exactly, so they select the same boxes in the same order:
per image and class, boxes whose score is above ``confidence`` are taken best score first (a tie
keeps the lower prior index first); a box is suppressed when its IoU with a kept box is above
``iou``; at most ``top_k`` boxes are kept per class. The K detections are rows
(image id, label, confidence, xmin, ymin, xmax, ymax), ordered by image, label, then score.

:func:`seed_output` then makes the seed's NMS-plugin output: ``detections`` (N, keep_top_k, 7),
each image's best ``keep_top_k`` over all classes by decreasing confidence (zero rows after
them) and ``keep_count`` (N,).
"""

from dataclasses import dataclass

import numpy as np

from workflow.detect.boxes import nms
from workflow.errors import PipelineError

BOXES = "boxes"
SCORES = "scores"
DETECTIONS = "detections"
NMS_PLACES = ("host", "graph")


@dataclass(frozen=True)
class NmsParams:
    """Thresholds of the SSD's non-maximum suppression.

    Attributes:
        confidence: boxes with a class score at or below this are dropped.
        iou: a box whose IoU with a kept box of its class is above this is suppressed.
        top_k: most boxes kept per image and class.
        keep_top_k: most detections kept per image over all classes.
    """

    confidence: float
    iou: float
    top_k: int
    keep_top_k: int

    def __post_init__(self) -> None:
        if not 0 <= self.confidence < 1 or not 0 < self.iou <= 1:
            raise PipelineError(
                "nms",
                f"confidence {self.confidence} and iou {self.iou}",
                "need 0 <= confidence < 1 and 0 < iou <= 1",
            )
        if self.top_k < 1 or self.keep_top_k < 1:
            raise PipelineError("nms", "top_k and keep_top_k must be at least 1")


def host_nms(boxes: np.ndarray, scores: np.ndarray, params: NmsParams) -> np.ndarray:
    """NMS of a batch on the host; the same detections as :func:`add_graph_nms`'s graph.

    Args:
        boxes: (N, P, 4) corner boxes.
        scores: (N, P, C + 1) class probabilities, class 0 the background.
        params: thresholds.

    Returns:
        float32 (K, 7) detections, ordered by image, label, then decreasing confidence.
    """
    if boxes.ndim != 3 or scores.ndim != 3 or boxes.shape[:2] != scores.shape[:2]:
        raise PipelineError(
            "host_nms",
            f"boxes {boxes.shape} and scores {scores.shape} do not pair",
            "expected (N, P, 4) and (N, P, C + 1)",
        )
    rows = []
    for image in range(boxes.shape[0]):
        for label in range(1, scores.shape[2]):
            class_scores = scores[image, :, label]
            candidates = np.flatnonzero(class_scores > params.confidence)
            if not len(candidates):
                continue
            kept = nms(
                boxes[image, candidates],
                class_scores[candidates],
                iou_threshold=params.iou,
                top_k=0,
            )
            chosen = candidates[kept[: params.top_k]]
            block = np.empty((len(chosen), 7), np.float32)
            block[:, 0] = image
            block[:, 1] = label
            block[:, 2] = class_scores[chosen]
            block[:, 3:] = boxes[image, chosen]
            rows.append(block)
    return np.concatenate(rows) if rows else np.zeros((0, 7), np.float32)


def seed_output(
    detections: np.ndarray, *, batch: int, keep_top_k: int
) -> tuple[np.ndarray, np.ndarray]:
    """The seed's NMS output from (K, 7) detections of a batch of ``batch`` images.

    Returns:
        ``detections`` float32 (batch, keep_top_k, 7), each image's best detections by
        decreasing confidence (a tie keeps the earlier row), zero rows after them, and
        ``keep_count`` int32 (batch,).
    """
    out = np.zeros((batch, keep_top_k, 7), np.float32)
    counts = np.zeros(batch, np.int32)
    images = detections[:, 0].astype(np.int64)
    if len(images) and (images.min() < 0 or images.max() >= batch):
        raise PipelineError("seed_output", f"image ids outside 0..{batch - 1}")
    for image in range(batch):
        mine = detections[images == image]
        mine = mine[np.argsort(-mine[:, 2], kind="stable")[:keep_top_k]]
        out[image, : len(mine)] = mine
        counts[image] = len(mine)
    return out, counts


def add_graph_nms(model_bytes: bytes, params: NmsParams) -> bytes:
    """Append ONNX ``NonMaxSuppression`` to an SSD graph ending with ``boxes`` and ``scores``.

    The new graph's only output is ``detections`` (K, 7) float32, as :func:`host_nms` returns.
    ``keep_top_k`` is applied by :func:`seed_output` after the graph (it is a per-image top-k
    over a variable number of rows, which ONNX has no operator for).
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load_from_string(model_bytes)
    graph = model.graph
    names = [o.name for o in graph.output]
    if names != [BOXES, SCORES]:
        raise PipelineError("add_graph_nms", f"graph outputs {names}", f"need [{BOXES}, {SCORES}]")
    constants = {
        "nms_top_k": np.array([params.top_k], np.int64),
        "nms_iou": np.array([params.iou], np.float32),
        "nms_confidence": np.array([params.confidence], np.float32),
        "nms_first_class": np.array([1], np.int64),
        "nms_class_end": np.array([np.iinfo(np.int64).max], np.int64),
        "nms_class_axis": np.array([1], np.int64),
        "nms_image_box": np.array([0, 2], np.int64),
        "nms_image_column": np.array([0], np.int64),
        "nms_one": np.array(1, np.int64),
    }
    graph.initializer.extend(numpy_helper.from_array(v, k) for k, v in constants.items())
    node = helper.make_node
    graph.node.extend(
        [
            node("Transpose", [SCORES], ["nms_by_class"], perm=[0, 2, 1]),
            node(
                "Slice",
                ["nms_by_class", "nms_first_class", "nms_class_end", "nms_class_axis"],
                ["nms_class_scores"],
            ),
            node(
                "NonMaxSuppression",
                [BOXES, "nms_class_scores", "nms_top_k", "nms_iou", "nms_confidence"],
                ["nms_selected"],
            ),
            node("GatherND", ["nms_class_scores", "nms_selected"], ["nms_confidences"]),
            node("Unsqueeze", ["nms_confidences", "nms_class_axis"], ["nms_confidence_column"]),
            node("Gather", ["nms_selected", "nms_image_box"], ["nms_image_box_index"], axis=1),
            node("GatherND", [BOXES, "nms_image_box_index"], ["nms_boxes"]),
            node("Gather", ["nms_selected", "nms_image_column"], ["nms_image"], axis=1),
            node("Gather", ["nms_selected", "nms_first_class"], ["nms_class"], axis=1),
            node("Add", ["nms_class", "nms_one"], ["nms_label"]),
            node("Cast", ["nms_image"], ["nms_image_f"], to=TensorProto.FLOAT),
            node("Cast", ["nms_label"], ["nms_label_f"], to=TensorProto.FLOAT),
            node(
                "Concat",
                ["nms_image_f", "nms_label_f", "nms_confidence_column", "nms_boxes"],
                [DETECTIONS],
                axis=1,
            ),
        ]
    )
    del graph.output[:]
    graph.output.append(helper.make_tensor_value_info(DETECTIONS, TensorProto.FLOAT, ["K", 7]))
    onnx.checker.check_model(model, full_check=True)
    return model.SerializeToString()
