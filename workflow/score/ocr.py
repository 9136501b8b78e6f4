"""Scoring PP-OCRv4 text detection and recognition, whichever runtime runs the two graphs.

Pre- and post-processing follow the conventions PaddleOCR documents for its PP-OCRv4 models:

- Detector (DB): the image in OpenCV's BGR order, ``(pixel / 255 - mean) / std`` with ImageNet's
  mean and std, its longest side limited to ``limit_side`` and both sides rounded to multiples
  of 32; its output a text probability map turned into boxes by
  :func:`workflow.detect.textdet.text_boxes`.
- Recogniser (SVTR-LCNet, CTC): a text line resized to height 48 keeping its aspect (at most the
  input width; the rest padded with 0), ``(pixel / 255 - 0.5) / 0.5``, BGR; its output per time
  step a distribution over blank (class 0), the dictionary and the space, read greedily
  (:func:`ctc_greedy`).

Scores: detection precision and recall at IoU 0.5 against the rendered lines' ink boxes,
recognition character error rate (Levenshtein distance over reference length, both summed over
the lines) and the share of lines read exactly.
"""

import json
import logging
import math
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from workflow.backend.base import BaseRunner
from workflow.data.ocr import REC_HEIGHT, character_dictionary, read_lines, read_pages
from workflow.detect.boxes import iou
from workflow.detect.textdet import axis_aligned, order_corners, text_boxes
from workflow.errors import PipelineError
from workflow.score.runtimes import make_runner, part_files

log = logging.getLogger(__name__)

#: Multiple the detector's input sides are rounded to (its stride).
DET_STRIDE = 32


def det_input(
    image: np.ndarray, *, limit_side: int, mean: list[float], std: list[float]
) -> tuple[np.ndarray, tuple[float, float]]:
    """One RGB image as the detector's input.

    Args:
        image: uint8 (H, W, 3) RGB.
        limit_side: the longest side is scaled down to at most this many pixels.
        mean: per channel mean of ``pixel / 255``, in the model's (BGR) channel order.
        std: per channel standard deviation, same order.

    Returns:
        float32 (1, 3, H', W') with H', W' multiples of 32, and the (x, y) factors from the
        input's pixels back to the image's.
    """
    import cv2

    height, width = image.shape[:2]
    ratio = min(1.0, limit_side / max(height, width))
    new_h = max(DET_STRIDE, int(round(height * ratio / DET_STRIDE)) * DET_STRIDE)
    new_w = max(DET_STRIDE, int(round(width * ratio / DET_STRIDE)) * DET_STRIDE)
    bgr = np.ascontiguousarray(image[:, :, ::-1])
    if (new_h, new_w) != (height, width):
        bgr = cv2.resize(bgr, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    scaled = (bgr.astype(np.float32) / 255.0 - np.float32(mean)) / np.float32(std)
    return scaled.transpose(2, 0, 1)[None].astype(np.float32), (width / new_w, height / new_h)


def rec_input(
    images: list[np.ndarray], *, height: int, width: int, max_width: int | None = None
) -> np.ndarray:
    """Text line images as the recogniser's input batch.

    Args:
        images: uint8 (h, w, 3) RGB line images.
        height: the input height (48 for PP-OCRv4).
        width: the least input width (320 for PP-OCRv4). As PaddleOCR batches lines, the
            batch is as wide as its widest line at ``height`` (at least ``width``); each line
            is resized to ``height`` keeping its aspect and padded on the right with 0
            (mid-grey after scaling).
        max_width: the widest batch; a line wider than that at ``height`` is squeezed to it.
            Defaults to ``width`` (every batch ``width`` wide).

    Returns:
        float32 (N, 3, height, W), BGR, values ``(pixel / 255 - 0.5) / 0.5``.
    """
    import cv2

    max_width = width if max_width is None else max_width
    natural = [math.ceil(height * im.shape[1] / max(im.shape[0], 1)) for im in images]
    batch_width = int(min(max_width, max([width, *natural])))
    batch = np.zeros((len(images), 3, height, batch_width), np.float32)
    for index, (image, wide) in enumerate(zip(images, natural, strict=True)):
        new_w = int(min(batch_width, max(1, wide)))
        bgr = cv2.resize(
            np.ascontiguousarray(image[:, :, ::-1]), (new_w, height), interpolation=cv2.INTER_LINEAR
        )
        batch[index, :, :, :new_w] = ((bgr.astype(np.float32) / 255.0 - 0.5) / 0.5).transpose(
            2, 0, 1
        )
    return batch


def ctc_greedy(probs: np.ndarray, classes: list[str]) -> list[tuple[str, float]]:
    """Greedy CTC decoding (Graves et al., 2006): per time step the likeliest class; repeats
    merged, then blanks (class 0) removed; spaces read at the ends (the margin and the padding
    of a line) are dropped.

    Args:
        probs: float (N, T, C) per time step scores of the ``C`` classes.
        classes: the class strings (``classes[0]`` is the blank).

    Returns:
        Per line its text and confidence (mean score of the kept steps; 0 for empty text).

    Raises:
        PipelineError: the output's class count differs from the dictionary's.
    """
    probs = np.asarray(probs, np.float32)
    if probs.ndim != 3 or probs.shape[2] != len(classes):
        raise PipelineError(
            "recogniser output",
            f"shape {probs.shape}, expected (N, T, {len(classes)}) for its dictionary",
            "use the dictionary stored in the same recogniser's metadata",
        )
    best = probs.argmax(axis=2)
    score = probs.max(axis=2)
    decoded = []
    for steps, scores in zip(best, score, strict=True):
        keep = np.ones(len(steps), bool)
        keep[1:] = steps[1:] != steps[:-1]
        keep &= steps != 0
        text = "".join(classes[k] for k in steps[keep]).strip(" ")
        decoded.append((text, float(scores[keep].mean()) if keep.any() else 0.0))
    return decoded


def levenshtein(a: str, b: str) -> int:
    """Edit distance between two strings: the fewest insertions, deletions and substitutions
    that turn ``a`` into ``b`` (Wagner-Fischer dynamic programming, one row kept)."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i]
        for j, char_b in enumerate(b, 1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b))
            )
        previous = current
    return previous[-1]


def character_error_rate(references: list[str], hypotheses: list[str]) -> float:
    """Summed edit distance over summed reference length (0 for no reference characters)."""
    total = sum(len(r) for r in references)
    errors = sum(levenshtein(r, h) for r, h in zip(references, hypotheses, strict=True))
    return errors / total if total else 0.0


def _ctc_labels(probs: np.ndarray) -> list[str]:
    """Greedy CTC decoding of (N, T, C) scores as class indices (one character per class):
    the likeliest class per step, repeats merged, blanks (class 0) removed."""
    best = np.asarray(probs).argmax(axis=2)
    labels = []
    for steps in best:
        keep = np.ones(len(steps), bool)
        keep[1:] = steps[1:] != steps[:-1]
        keep &= steps != 0
        labels.append("".join(map(chr, steps[keep].tolist())))
    return labels


def reading_agreement(
    inputs: dict[str, np.ndarray], outputs: dict[str, dict[str, np.ndarray]]
) -> dict[str, float]:
    """An agreement metric (``workflow.score.agreement.load_metric``'s contract) of a recogniser:
    how the candidate graph reads a batch of lines against what the reference graph reads,
    with no labels (calibration lines have none): ``chars_as_reference`` (1 - the edit distance
    of the greedy CTC readings over the reference reading's length, as a character accuracy)
    and ``lines_as_reference`` (the share of lines read exactly as the reference reads them).
    Against itself both are 1; ``mixed.max_drop`` 0.005 on ``chars_as_reference`` asks the
    mixed graph for a character accuracy within 0.5 points of FP32's on its lines.

    Args:
        inputs: the batch's feed (unused: the readings need no labels).
        outputs: by precision (the reference first), the graph's outputs; the first output
            holds the (N, T, C) per-step class scores.
    """
    reference, candidate = (_ctc_labels(next(iter(o.values()))) for o in outputs.values())
    total = sum(len(r) for r in reference)
    errors = sum(levenshtein(r, c) for r, c in zip(reference, candidate, strict=True))
    same = sum(r == c for r, c in zip(reference, candidate, strict=True))
    return {
        "chars_as_reference": 1.0 - errors / total if total else float(errors == 0),
        "lines_as_reference": same / len(reference) if reference else 1.0,
    }


def match_boxes(
    predicted: np.ndarray, truth: np.ndarray, *, iou_threshold: float
) -> list[tuple[int, int]]:
    """One-to-one matches (predicted index, true index) of boxes ``[x0, y0, x1, y1]`` whose IoU
    reaches ``iou_threshold``, highest IoU first (greedy)."""
    if not len(predicted) or not len(truth):
        return []
    overlaps = iou(np.asarray(predicted, np.float64), np.asarray(truth, np.float64))
    pairs = sorted(
        ((overlaps[i, j], i, j) for i, j in np.argwhere(overlaps >= iou_threshold)),
        key=lambda t: (-t[0], t[1], t[2]),
    )
    used_p, used_t, matches = set(), set(), []
    for _, i, j in pairs:
        if i not in used_p and j not in used_t:
            used_p.add(i)
            used_t.add(j)
            matches.append((int(i), int(j)))
    return sorted(matches)


def crop_box(image: np.ndarray, corners: np.ndarray) -> np.ndarray:
    """The text inside a detected quadrilateral, warped upright to its own width and height
    (a line taller than wide is turned a quarter, as PaddleOCR reads vertical crops)."""
    import cv2

    corners = order_corners(corners)
    sides = np.linalg.norm(corners - np.roll(corners, -1, axis=0), axis=1)  # top, right, ...
    width = max(1, int(round(max(sides[0], sides[2]))))
    height = max(1, int(round(max(sides[1], sides[3]))))
    target = np.float32([[0, 0], [width, 0], [width, height], [0, height]])
    warp = cv2.getPerspectiveTransform(corners.astype(np.float32), target)
    crop = cv2.warpPerspective(
        np.ascontiguousarray(image),
        warp,
        (width, height),
        flags=cv2.INTER_CUBIC,
        borderMode=cv2.BORDER_REPLICATE,
    )
    if height >= 1.5 * width:
        crop = np.rot90(crop)
    return np.ascontiguousarray(crop)


def _batches(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def recognise(
    runner: BaseRunner, images: list[np.ndarray], classes: list[str], *, rec: dict[str, Any]
) -> list[tuple[str, float]]:
    """Read text lines with an active recogniser runner, ``rec["batch_size"]`` at a time in
    order of their aspect (as PaddleOCR batches them, so that lines of a batch are alike in
    width); results in the order of ``images``."""
    name = next(iter(runner.input_metadata()))
    order = sorted(
        range(len(images)), key=lambda k: images[k].shape[1] / max(images[k].shape[0], 1)
    )
    found: dict[int, tuple[str, float]] = {}
    for chunk in _batches(order, rec["batch_size"]):
        feed = rec_input(
            [images[k] for k in chunk],
            height=REC_HEIGHT,
            width=rec["width"],
            max_width=rec["max_width"],
        )
        (probs,) = runner.infer({name: feed}).values()
        found.update(zip(chunk, ctc_greedy(probs, classes), strict=True))
    return [found[k] for k in range(len(images))]


def detect_text(
    runner: BaseRunner, image: np.ndarray, *, det: dict[str, Any]
) -> tuple[np.ndarray, np.ndarray]:
    """The text boxes (corners (N, 4, 2), scores (N,)) of one RGB image with an active detector
    runner."""
    tensor, scale = det_input(image, limit_side=det["limit_side"], mean=det["mean"], std=det["std"])
    name = next(iter(runner.input_metadata()))
    (prob,) = runner.infer({name: tensor}).values()
    return text_boxes(
        prob[0, 0],
        threshold=det["threshold"],
        box_threshold=det["box_threshold"],
        unclip_ratio=det["unclip_ratio"],
        max_candidates=det["max_candidates"],
        scale=scale,
        image_size=(image.shape[1], image.shape[0]),
    )


def score_ocr(
    det_runner: BaseRunner,
    rec_runner: BaseRunner,
    classes: list[str],
    lines: list[tuple[np.ndarray, str]],
    pages: list[tuple[np.ndarray, list[dict]]],
    *,
    det: dict[str, Any],
    rec: dict[str, Any],
    iou_threshold: float,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Score detection on ``pages`` and recognition on ``lines`` (and end to end: the detected
    boxes of the pages read and compared with the lines they match).

    Args:
        det_runner: an active runner of the detector graph.
        rec_runner: an active runner of the recogniser graph.
        classes: the recogniser's classes (:func:`workflow.data.ocr.character_dictionary`).
        lines: (RGB line image, text) examples.
        pages: (RGB page, ``[{"box", "text"}]``) examples.
        det: detector settings (``limit_side``, ``mean``, ``std``, ``threshold``,
            ``box_threshold``, ``unclip_ratio``, ``max_candidates``).
        rec: recogniser settings (``width``, ``max_width``, ``batch_size``; the height is 48).
        iou_threshold: least IoU of a detection and a true line's box to count as found.

    Returns:
        The report (``count`` lines, ``recall``, ``precision``, ``f1``, ``cer``,
        ``char_accuracy`` = 1 - CER, ``exact``; ``end_to_end_exact`` and ``end_to_end_cer``
        of the pages' lines read from the detected boxes, a line not found read as nothing;
        and the counts behind them) and, per page, what was found (``boxes`` corners,
        ``scores``, ``texts``).
    """
    read = recognise(rec_runner, [image for image, _ in lines], classes, rec=rec)
    references = [text for _, text in lines]
    hypotheses = [text for text, _ in read]
    exact = sum(r == h for r, h in zip(references, hypotheses, strict=True))
    found_pages = []
    true_lines = detected = matched = e2e_exact = 0
    page_truth: list[str] = []
    page_read: list[str] = []
    for image, truth in pages:
        corners, scores = detect_text(det_runner, image, det=det)
        crops = [crop_box(image, c) for c in corners]
        texts = [text for text, _ in recognise(rec_runner, crops, classes, rec=rec)]
        gt = np.asarray([line["box"] for line in truth], np.float64).reshape(-1, 4)
        pairs = match_boxes(axis_aligned(corners), gt, iou_threshold=iou_threshold)
        true_lines += len(truth)
        detected += len(corners)
        matched += len(pairs)
        e2e_exact += sum(texts[i] == truth[j]["text"] for i, j in pairs)
        read_of = {j: texts[i] for i, j in pairs}  # a line not found reads as nothing
        page_truth += [line["text"] for line in truth]
        page_read += [read_of.get(j, "") for j in range(len(truth))]
        found_pages.append({"boxes": corners.tolist(), "scores": scores.tolist(), "texts": texts})
    recall = matched / true_lines if true_lines else 0.0
    precision = matched / detected if detected else 0.0
    cer = character_error_rate(references, hypotheses)
    report = {
        "count": len(lines),
        "pages": len(pages),
        "page_lines": true_lines,
        "detected": detected,
        "matched": matched,
        "recall": recall,
        "precision": precision,
        "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
        "cer": cer,
        "char_accuracy": 1.0 - cer,
        "exact": exact / len(lines) if lines else 0.0,
        "exact_lines": exact,
        "end_to_end_exact": e2e_exact / true_lines if true_lines else 0.0,
        "end_to_end_cer": character_error_rate(page_truth, page_read),
        "iou_threshold": iou_threshold,
        "misread": [
            {"text": r, "read": h} for r, h in zip(references, hypotheses, strict=True) if r != h
        ][:50],
    }
    log.info(
        "ocr | recall %.4f precision %.4f over %d lines on %d pages; CER %.4f, exact %.4f over "
        "%d lines",
        recall,
        precision,
        true_lines,
        len(pages),
        cer,
        report["exact"],
        len(lines),
    )
    return report, found_pages


def draw_page(image: np.ndarray, found: dict[str, Any], truth: list[dict]) -> np.ndarray:
    """A page with its true boxes (thin grey), its detected boxes (green outlines) and the text
    read from each, as uint8 (H, W, 3)."""
    from PIL import Image, ImageDraw

    canvas = Image.fromarray(np.ascontiguousarray(image, np.uint8), "RGB")
    pen = ImageDraw.Draw(canvas)
    for line in truth:
        pen.rectangle(
            [line["box"][0], line["box"][1], line["box"][2] - 1, line["box"][3] - 1],
            outline=(150, 150, 150),
        )
    for corners, text in zip(found["boxes"], found["texts"], strict=True):
        points = [tuple(float(v) for v in p) for p in corners]
        pen.polygon(points, outline=(0, 170, 0), width=2)
        left, top = min(p[0] for p in points), max(p[1] for p in points)
        x0, y0, x1, y1 = pen.textbbox((0, 0), text)
        pen.rectangle((left, top + 1, left + x1 - x0 + 3, top + y1 - y0 + 3), fill=(0, 120, 255))
        pen.text((left + 2 - x0, top + 2 - y0), text, fill=(255, 255, 255))
    return np.asarray(canvas, np.uint8)


def det_feeds(
    pages: Iterable[np.ndarray], *, det: dict[str, Any], input_name: str, batches: int
) -> list[dict[str, np.ndarray]]:
    """Calibration feeds of the detector: one page per feed, ``batches`` pages (the pages must
    share their size, so that every feed has the same shape)."""
    feeds = []
    for image in list(pages)[:batches]:
        tensor, _ = det_input(image, limit_side=det["limit_side"], mean=det["mean"], std=det["std"])
        feeds.append({input_name: tensor})
    return feeds


def rec_feeds(
    images: list[np.ndarray],
    *,
    rec: dict[str, Any],
    input_name: str,
    batch_size: int,
    batches: int,
) -> list[dict[str, np.ndarray]]:
    """Calibration feeds of the recogniser: ``batches`` batches of ``batch_size`` lines."""
    chunks = list(_batches(images[: batch_size * batches], batch_size))
    return [
        {input_name: rec_input(chunk, height=REC_HEIGHT, width=rec["width"])}
        for chunk in chunks
        if len(chunk) == batch_size
    ]


def ocr_calibration_feeds(
    part: str,
    folder: str,
    *,
    det: dict[str, Any],
    rec: dict[str, Any],
    input_name: str = "x",
) -> list[dict[str, np.ndarray]]:
    """The calibration feeds of one PP-OCRv4 graph from the calibration split in ``folder``:
    its pages for the detector (one a feed), its lines for the recogniser (batches of
    ``rec["batch_size"]``, every batch ``rec["width"]`` wide so that the feeds agree).

    Raises:
        PipelineError: unknown part, or a split too small for one feed.
    """
    if part == "det":
        pages = [image for image, _ in read_pages(folder)]
        feeds = det_feeds(pages, det=det, input_name=input_name, batches=len(pages))
    elif part == "rec":
        lines = [image for image, _ in read_lines(folder)]
        size = rec["batch_size"]
        feeds = rec_feeds(
            lines, rec=rec, input_name=input_name, batch_size=size, batches=len(lines) // size
        )
    else:
        raise PipelineError(f"OCR graph part {part!r}", "unknown", "choose det or rec")
    if not feeds:
        raise PipelineError(
            folder,
            f"too few calibration examples for one feed of the {part} graph",
            "raise ocr.data.calib_pages (det) or ocr.data.calib_lines to at least "
            "ocr.rec.batch_size (rec)",
        )
    return feeds


def score_ocr_set(
    runtime: str,
    files: dict[str, str],
    dictionary_graph: str,
    folder: str,
    *,
    det: dict[str, Any],
    rec: dict[str, Any],
    iou_threshold: float,
    module: str = "auto",
    threads: int = 1,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Score the OCR sample's two graphs (or engines) on the test split in ``folder``.

    Args:
        runtime: ``ort`` or ``trt``.
        files: model files keyed ``det_<role>`` and ``rec_<role>`` (``onnx``, or ``plan`` and
            ``meta``).
        dictionary_graph: the FP32 recogniser graph whose metadata holds the dictionary.
        folder: the test split (``lines.json``, ``pages.json`` and their images).
        det: detector settings (see :func:`score_ocr`).
        rec: recogniser settings (see :func:`score_ocr`).
        iou_threshold: least IoU of a found line.
        module: the TensorRT module choice, for ``trt``.
        threads: ONNX Runtime threads.

    Returns:
        The report (:func:`score_ocr`, with ``runtime``) and what was found per page.
    """
    classes = character_dictionary(dictionary_graph)
    lines, pages = read_lines(folder), read_pages(folder)
    runners = [
        make_runner(runtime, part_files(files, part), module=module, threads=threads)
        for part in ("det", "rec")
    ]
    with runners[0] as det_runner, runners[1] as rec_runner:
        report, found = score_ocr(
            det_runner,
            rec_runner,
            classes,
            lines,
            pages,
            det=det,
            rec=rec,
            iou_threshold=iou_threshold,
        )
    return report | {"runtime": runtime}, found


def draw_ocr_pages(
    found: list[dict[str, Any]], folder: str, *, pages: int
) -> list[tuple[str, np.ndarray]]:
    """The first ``pages`` test pages drawn with what was found on them (:func:`draw_page`):
    (file stem, uint8 image)."""
    chosen = read_pages(folder)[:pages]
    names = [Path(entry["file"]).stem for entry in _page_index(folder)[: len(chosen)]]
    return [
        (name, draw_page(image, result, truth))
        for name, (image, truth), result in zip(names, chosen, found, strict=False)
    ]


def _page_index(folder: str) -> list[dict[str, Any]]:
    return json.loads((Path(folder) / "pages.json").read_text(encoding="utf-8"))
