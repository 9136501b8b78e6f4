"""OCR scoring: DB text boxes, CTC decoding, edit distance, box matching, the models' inputs,
and the real PP-OCRv4 graphs in FP32 on rendered text."""

import numpy as np
import pytest

from workflow.data import ocr as data
from workflow.detect.textdet import axis_aligned, text_boxes
from workflow.errors import PipelineError
from workflow.score import ocr

DET = {
    "limit_side": 960,
    "mean": [0.485, 0.456, 0.406],
    "std": [0.229, 0.224, 0.225],
    "threshold": 0.3,
    "box_threshold": 0.6,
    "unclip_ratio": 1.5,
    "max_candidates": 1000,
}
REC = {"width": 320, "max_width": 1280, "batch_size": 8}


def _grown_reference(x0, y0, x1, y1, ratio):
    """The kernel [x0, x1) x [y0, y1) offset as DB describes (distance A * r / L, round
    joins), then its minimum rotated rectangle: computed with shapely, on the rectangle
    through the border pixels' centres (the region's contour)."""
    from shapely.geometry import box

    kernel = box(x0, y0, x1 - 1, y1 - 1)
    grown = kernel.buffer(kernel.area * ratio / kernel.length, join_style="round")
    return np.asarray(grown.minimum_rotated_rectangle.bounds)


def test_db_boxes_of_known_rectangles():
    prob = np.zeros((120, 200), np.float32)
    prob[20:32, 30:110] = 0.9  # a text kernel
    prob[60:80, 120:150] = 0.8  # another
    prob[95:110, 20:60] = 0.45  # above the threshold, below the box threshold
    prob[5:7, 180:182] = 0.9  # too small
    corners, scores = text_boxes(
        prob, threshold=0.3, box_threshold=0.6, unclip_ratio=1.5, max_candidates=100
    )
    assert corners.shape == (2, 4, 2)
    np.testing.assert_allclose(scores, [0.9, 0.8], atol=1e-6)
    expected = [_grown_reference(30, 20, 110, 32, 1.5), _grown_reference(120, 60, 150, 80, 1.5)]
    np.testing.assert_allclose(axis_aligned(corners), np.round(expected), atol=1.0)
    # corners clockwise from the top-left one
    assert corners[0, 0, 0] < corners[0, 1, 0] and corners[0, 1, 1] < corners[0, 2, 1]


def test_db_boxes_scale_to_the_image_and_clip():
    prob = np.zeros((64, 64), np.float32)
    prob[2:10, 0:40] = 0.95
    corners, _ = text_boxes(
        prob,
        threshold=0.3,
        box_threshold=0.5,
        unclip_ratio=1.5,
        max_candidates=10,
        scale=(2.0, 0.5),
        image_size=(128, 32),
    )
    reference = _grown_reference(0, 2, 40, 10, 1.5) * [2.0, 0.5, 2.0, 0.5]
    reference = np.clip(np.round(reference), 0, [128, 32, 128, 32])
    np.testing.assert_allclose(axis_aligned(corners)[0], reference, atol=1.0)
    assert axis_aligned(corners)[0, 0] == 0  # clipped at the left edge


def test_ctc_greedy_on_a_hand_made_sequence():
    classes = ["", "a", "b", " "]
    steps = [3, 1, 1, 0, 1, 2, 2, 0, 3, 2, 0, 3]  # " aa_abb_ b_ "
    probs = np.full((1, len(steps), 4), 0.05, np.float32)
    probs[0, np.arange(len(steps)), steps] = 0.85
    probs[0, 2, 1] = 0.65  # a repeat's own score counts once, as the step kept is the first
    ((text, confidence),) = ocr.ctc_greedy(probs, classes)
    assert text == "aab b"  # repeats merged, blanks dropped, end spaces trimmed
    assert confidence == pytest.approx(0.85)
    empty = np.zeros((1, 4, 4), np.float32)
    empty[0, :, 0] = 1.0
    assert ocr.ctc_greedy(empty, classes) == [("", 0.0)]
    with pytest.raises(PipelineError, match=r"expected \(N, T, 4\)"):
        ocr.ctc_greedy(np.zeros((1, 4, 5), np.float32), classes)


@pytest.mark.parametrize(
    ("a", "b", "distance"),
    [
        ("kitten", "sitting", 3),
        ("flaw", "lawn", 2),
        ("intention", "execution", 5),
        ("", "abc", 3),
        ("abc", "", 3),
        ("saturday", "sunday", 3),
        ("same", "same", 0),
    ],
)
def test_levenshtein_on_known_pairs(a, b, distance):
    assert ocr.levenshtein(a, b) == distance == ocr.levenshtein(b, a)


def test_character_error_rate_sums_over_lines():
    assert ocr.character_error_rate(["kitten", "abc"], ["sitting", "abc"]) == pytest.approx(3 / 9)
    assert ocr.character_error_rate([], []) == 0.0


def test_match_boxes_one_to_one_at_the_iou_threshold():
    truth = np.array([[0, 0, 10, 10], [20, 0, 30, 10]], np.float64)
    predicted = np.array(
        [
            [0, 0, 10, 12],  # IoU 100/120 with the first
            [1, 0, 10, 10],  # IoU 0.9 with the first: it wins it
            [20, 0, 30, 20.5],  # IoU 100/205 < 0.5 with the second
        ]
    )
    assert ocr.match_boxes(predicted, truth, iou_threshold=0.5) == [(1, 0)]
    assert ocr.match_boxes(predicted, truth, iou_threshold=0.48) == [(1, 0), (2, 1)]
    assert ocr.match_boxes(predicted[:0], truth, iou_threshold=0.5) == []


def test_rec_input_keeps_the_aspect_and_pads_with_zero():
    white = np.full((24, 60, 3), 255, np.uint8)
    wide = np.zeros((10, 200, 3), np.uint8)
    batch = ocr.rec_input([white], height=48, width=320)
    assert batch.shape == (1, 3, 48, 320)
    np.testing.assert_array_equal(batch[0, :, :, :120], 1.0)  # (255 / 255 - 0.5) / 0.5
    np.testing.assert_array_equal(batch[0, :, :, 120:], 0.0)
    batch = ocr.rec_input([white, wide], height=48, width=320, max_width=1280)
    assert batch.shape == (2, 3, 48, 960)  # as wide as the widest line at height 48
    np.testing.assert_array_equal(batch[1], -1.0)
    assert ocr.rec_input([wide], height=48, width=320, max_width=640).shape[3] == 640


def test_det_input_is_bgr_normalised_and_rounded_to_32():
    image = np.zeros((100, 150, 3), np.uint8)
    image[..., 0], image[..., 1], image[..., 2] = 255, 128, 0  # R, G, B
    tensor, scale = ocr.det_input(image, limit_side=960, mean=DET["mean"], std=DET["std"])
    assert tensor.shape == (1, 3, 96, 160) and tensor.dtype == np.float32
    expected = [(0 - 0.485) / 0.229, (128 / 255 - 0.456) / 0.224, (1 - 0.406) / 0.225]
    np.testing.assert_allclose(tensor[0, :, 50, 80], expected, rtol=1e-5)
    assert scale == pytest.approx((150 / 160, 100 / 96))
    tensor, _ = ocr.det_input(
        np.zeros((600, 2000, 3), np.uint8), limit_side=960, mean=DET["mean"], std=DET["std"]
    )
    assert tensor.shape == (1, 3, 288, 960)


def test_crop_box_warps_a_quadrilateral_upright():
    image = np.zeros((50, 80, 3), np.uint8)
    image[10:20, 5:45] = 200
    crop = ocr.crop_box(image, np.float32([[45, 10], [5, 20], [5, 10], [45, 20]]))
    assert crop.shape == (10, 40, 3) and crop.min() == 200


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ocr")
    setup = data.OcrSetup(
        lines=10,
        pages=2,
        seed=0,
        page_size=(640, 480),
        max_lines=8,
        max_chars=16,
        line_font=(20, 36),
        page_font=(16, 32),
    )
    data.write_ocr_split(folder, setup, "test")
    return data.read_lines(folder), data.read_pages(folder)


@pytest.mark.slow
def test_real_pp_ocrv4_reads_rendered_text_in_fp32(rendered):
    from workflow.ort.runner import OrtRunner

    lines, pages = rendered
    classes = data.character_dictionary(data.model_file("rec"))
    with (
        OrtRunner(data.model_file("det"), threads=2) as det,
        OrtRunner(data.model_file("rec"), threads=2) as rec,
    ):
        report, found = ocr.score_ocr(
            det, rec, classes, lines, pages, det=DET, rec=REC, iou_threshold=0.5
        )
    # measured on these 10 lines and 2 pages (14 page lines): every line exact, every page
    # line found, no false box
    assert report["exact"] >= 0.8 and report["cer"] <= 0.05
    assert report["recall"] >= 0.9 and report["precision"] >= 0.9
    assert 0.0 <= report["end_to_end_cer"] <= 0.2
    assert len(found) == 2 and len(found[0]["boxes"]) == len(found[0]["texts"])
    drawn = ocr.draw_page(pages[0][0], found[0], pages[0][1])
    assert drawn.shape == pages[0][0].shape and np.any(drawn != pages[0][0])


def _scores(paths: list[list[int]], classes: int = 5) -> np.ndarray:
    """(N, T, C) one-hot scores whose per-step argmax is ``paths``."""
    out = np.zeros((len(paths), len(paths[0]), classes), np.float32)
    for n, path in enumerate(paths):
        out[n, np.arange(len(path)), path] = 1.0
    return out


def test_reading_agreement_counts_characters_and_lines_against_the_reference_reading():
    classes = ["", "a", "b", "c", "d"]  # class 0 is the blank
    # the reference reads "ab" and "cab"; the candidate "ab" (other steps) and "cb"
    reference = _scores([[1, 1, 0, 2, 0], [3, 0, 1, 2, 2]])
    candidate = _scores([[0, 1, 2, 2, 0], [3, 3, 0, 2, 0]])
    assert [t for t, _ in ocr.ctc_greedy(reference, classes)] == ["ab", "cab"]
    assert [t for t, _ in ocr.ctc_greedy(candidate, classes)] == ["ab", "cb"]
    found = ocr.reading_agreement(
        {"x": np.zeros(2)}, {"fp32": {"y": reference}, "int8": {"y": candidate}}
    )
    assert found == {"chars_as_reference": pytest.approx(1 - 1 / 5), "lines_as_reference": 0.5}
    same = ocr.reading_agreement({}, {"fp32": {"y": reference}, "int8": {"y": reference}})
    assert same == {"chars_as_reference": 1.0, "lines_as_reference": 1.0}
