"""The OCR sample's rendered text and its pretrained models (shipped in rapidocr-onnxruntime)."""

import json

import numpy as np
import pytest

from workflow.data import ocr
from workflow.errors import DataError

SMALL = ocr.OcrSetup(
    lines=6,
    pages=2,
    seed=3,
    page_size=(320, 256),
    max_lines=5,
    max_chars=16,
    line_font=(20, 36),
    page_font=(16, 28),
)


def _tree(folder):
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def test_split_is_deterministic_and_seeded(tmp_path):
    ocr.write_ocr_split(tmp_path / "a", SMALL, "test")
    ocr.write_ocr_split(tmp_path / "b", SMALL, "test")
    ocr.write_ocr_split(tmp_path / "c", SMALL, "calib")
    a, b, c = (_tree(tmp_path / name) for name in "abc")
    assert a == b
    assert sorted(a) == sorted(c) and a["lines.json"] != c["lines.json"]
    assert len([name for name in a if name.startswith("lines/")]) == 6
    assert len([name for name in a if name.startswith("pages/")]) == 2


def test_lines_use_the_charset_and_their_length_limit(tmp_path):
    counts = ocr.write_ocr_split(tmp_path, SMALL, "test")
    lines = ocr.read_lines(tmp_path)
    assert counts["lines"] == len(lines) == 6
    for image, text in lines:
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
        assert 0 < len(text) <= SMALL.max_chars and set(text) <= ocr.CHARSET
        assert text == text.strip() and "  " not in text


def test_page_ink_lies_inside_the_recorded_boxes(tmp_path):
    ocr.write_ocr_split(tmp_path, SMALL, "test")
    for image, lines in ocr.read_pages(tmp_path):
        assert image.shape == (256, 320, 3) and lines
        paper = image[0, 0]
        inside = np.zeros(image.shape[:2], bool)
        for line in lines:
            x0, y0, x1, y1 = line["box"]
            assert 0 <= x0 < x1 <= 320 and 0 <= y0 < y1 <= 256
            inside[y0:y1, x0:x1] = True
            # each box holds ink on its first and last row and column (a tight box)
            ink = np.any(image[y0:y1, x0:x1] != paper, axis=2)
            assert ink[0].any() and ink[-1].any() and ink[:, 0].any() and ink[:, -1].any()
        assert not np.any(np.any(image != paper, axis=2) & ~inside)
        boxes = [line["box"] for line in lines]
        for top, below in zip(boxes, boxes[1:], strict=False):
            assert top[3] <= below[1]  # stacked, never overlapping


def test_charset_is_in_the_recognisers_dictionary():
    import onnx

    path = ocr.model_file("rec")
    classes = ocr.character_dictionary(path)
    model = onnx.load(str(path))
    # the graph's output holds one score per class: blank + dictionary + space
    assert model.graph.output[0].type.tensor_type.shape.dim[2].dim_value == len(classes) == 6625
    assert classes[0] == "" and classes[-1] == " "
    assert ocr.CHARSET <= set(classes)


def test_model_files_are_found_and_checked(monkeypatch):
    for part in ocr.OCR_MODELS:
        path = ocr.model_file(part)
        assert path.name == ocr.OCR_MODELS[part][0] and path.stat().st_size > 1_000_000
    monkeypatch.setitem(ocr.OCR_MODELS, "det", (ocr.OCR_MODELS["det"][0], "0" * 64))
    with pytest.raises(DataError, match=r"ch_PP-OCRv4_det_infer.onnx \| sha256 .* pip install"):
        ocr.model_file("det")
    with pytest.raises(DataError, match="unknown part"):
        ocr.model_file("cls")


def test_missing_package_is_named_with_the_fix(monkeypatch):
    monkeypatch.setattr(ocr, "OCR_PACKAGE", "no_such_ocr_package")
    with pytest.raises(
        DataError, match=r"not installed \| pip install rapidocr-onnxruntime==1.4.4"
    ):
        ocr.model_file("rec")


def test_dictionary_missing_from_metadata_is_refused():
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    data = helper.make_model(graph).SerializeToString()
    with pytest.raises(DataError, match="no character dictionary"):
        ocr.character_dictionary(data)
    model = onnx.load_from_string(data)
    onnx.helper.set_model_props(model, {"character": "a\nb"})
    assert ocr.character_dictionary(model.SerializeToString()) == ["", "a", "b", " "]


def test_missing_index_names_the_rebuild(tmp_path):
    with pytest.raises(DataError, match="lines.json \\| missing"):
        ocr.read_lines(tmp_path)
    ocr.write_ocr_split(tmp_path, SMALL, "test")
    (tmp_path / "pages" / "000001.png").unlink()
    with pytest.raises(DataError, match="000001.png \\| listed in the index but missing"):
        ocr.read_pages(tmp_path)
    assert json.loads((tmp_path / "pages.json").read_text())[1]["file"] == "000001.png"


def test_prepared_graphs_compute_what_the_shipped_files_compute():
    import onnx
    import onnxruntime as ort

    rng = np.random.default_rng(0)
    feeds = {
        "det": rng.normal(size=(1, 3, 64, 96)).astype(np.float32),
        "rec": rng.normal(size=(2, 3, 48, 320)).astype(np.float32),
    }
    for part, feed in feeds.items():
        graph, report = ocr.ocr_graph(part, opset=18)
        model = onnx.load_from_string(graph)
        assert report["opset"] == {"found": 12, "used": 18} and report["constants_folded"] > 300
        assert not [n for n in model.graph.node if n.op_type == "Constant"]
        dims = model.graph.input[0].type.tensor_type.shape.dim
        assert [d.dim_param or d.dim_value for d in dims] == list(ocr.INPUT_DIMS[part])
        shipped = ort.InferenceSession(
            str(ocr.model_file(part)), providers=["CPUExecutionProvider"]
        )
        ours = ort.InferenceSession(graph, providers=["CPUExecutionProvider"])
        np.testing.assert_allclose(
            ours.run(None, {"x": feed})[0], shipped.run(None, {"x": feed})[0], atol=1e-5
        )
    assert ocr.character_dictionary(graph) == ocr.character_dictionary(ocr.model_file("rec"))
