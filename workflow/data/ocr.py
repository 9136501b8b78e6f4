"""The OCR sample's data and models: PaddleOCR's PP-OCRv4 text detector and recogniser as
shipped in the ``rapidocr-onnxruntime`` wheel, and a seeded set of rendered text.

The set has two kinds of examples, both drawn with Pillow in the DejaVu fonts that matplotlib
ships: *lines* (one short line of text cropped with a margin, for the recogniser: the string
is known) and *pages* (several lines placed on a page, for the detector: each line's ink box
is known). Its characters are Latin letters, digits and punctuation, all in the recogniser's
dictionary (DejaVu draws no Chinese). The same seed gives the same bytes.

On disk a split is a folder: ``lines/NNNNNN.png`` with ``lines.json`` (``[{"file", "text"}]``)
and ``pages/NNNNNN.png`` with ``pages.json`` (``[{"file", "lines": [{"box", "text"}]}]``, boxes
``[x0, y0, x1, y1]`` in pixels, max exclusive).
"""

import hashlib
import io
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from workflow.errors import DataError
from workflow.formats.onnx_file import prepare_model
from workflow.io import sha256_file, write_atomically, write_json_atomically

log = logging.getLogger(__name__)

#: The wheel that ships the pretrained models, and the folder inside its package.
OCR_PACKAGE = "rapidocr_onnxruntime"
OCR_WHEEL = "rapidocr-onnxruntime==1.4.4"
#: The models by part: file name in the package's ``models/`` folder and its sha256 (those of
#: rapidocr-onnxruntime 1.4.4).
OCR_MODELS = {
    "det": (
        "ch_PP-OCRv4_det_infer.onnx",
        "d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9",
    ),
    "rec": (
        "ch_PP-OCRv4_rec_infer.onnx",
        "48fc40f24f6d2a207a2b1091d3437eb3cc3eb6b676dc3ef9c37384005483683b",
    ),
}
#: The metadata key of the recogniser's ONNX file that holds its character dictionary, one
#: character a line (class k of the output is line k; class 0 is CTC's blank, the last the
#: space).
DICTIONARY_KEY = "character"

#: The recogniser's input height (PP-OCRv4's SVTR-LCNet reads lines 48 pixels high).
REC_HEIGHT = 48
#: The graphs' input dimensions by part: a name (the engine profile gives it a range) or a
#: fixed size.
INPUT_DIMS = {
    "det": ("pages", 3, "height", "width"),
    "rec": ("lines", 3, REC_HEIGHT, "width"),
}


#: Fonts of matplotlib's data folder (``fonts/ttf``) the text is drawn in.
FONTS = (
    "DejaVuSans.ttf",
    "DejaVuSans-Bold.ttf",
    "DejaVuSerif.ttf",
    "DejaVuSansMono.ttf",
)
#: Words the lines are made of (with numbers and a few punctuated forms mixed in).
WORDS = tuple(
    """
    time year people way day man thing woman life child world school state family student
    group country problem hand part place case week company system program question work
    government number night point home water room mother area money story fact month lot
    right study book eye job word business issue side kind head house service friend father
    power hour game line end member law car city community name president team minute idea
    kid body information back parent face others level office door health person art war
    history party result change morning reason research girl guy moment air teacher force
    education foot boy age policy music market sense nation plan college interest death
    experience effect use class control care field development role effort rate heart drug
    show leader light voice wife police mind price report decision son view relationship town
    road arm difference value building action model season society tax director position
    player record paper space ground form event official matter center couple site project
    activity star table need court oil situation cost industry figure street image phone data
    picture practice piece land product doctor wall patient worker news test movie north love
    """.split()
)
#: Punctuation that may follow a word or stand between numbers.
PUNCTUATION = ".,:;!?-/()%#&+="
#: Characters the generated text may use (all in the recogniser's dictionary).
CHARSET = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 " + PUNCTUATION)

#: Seeds of the splits: the test split and the calibration split never share an example.
SPLIT_OFFSETS = {"test": 0, "calib": 500_000}
#: Seeds of different dataset seeds are this far apart.
SEED_STRIDE = 1_000_000


def model_file(part: str) -> Path:
    """The path of a PP-OCRv4 model inside the installed ``rapidocr-onnxruntime`` package,
    its sha256 checked.

    Args:
        part: ``det`` (the DB text detector) or ``rec`` (the SVTR-LCNet CTC recogniser).

    Raises:
        DataError: unknown part, the package is not installed, the file is missing or its
            checksum differs (another version of the wheel).
    """
    if part not in OCR_MODELS:
        raise DataError(f"OCR model {part!r}", "unknown part", f"choose among {list(OCR_MODELS)}")
    import importlib.resources
    import importlib.util

    name, checksum = OCR_MODELS[part]
    if importlib.util.find_spec(OCR_PACKAGE) is None:
        raise DataError(
            f"OCR model {name}",
            f"the package {OCR_PACKAGE} that ships it is not installed",
            f"pip install {OCR_WHEEL} (a dependency in pyproject.toml and environment.yml)",
        )
    path = Path(str(importlib.resources.files(OCR_PACKAGE) / "models" / name))
    if not path.is_file():
        raise DataError(
            path, "missing from the installed package", f"reinstall it: pip install {OCR_WHEEL}"
        )
    found = sha256_file(path)
    if found != checksum:
        raise DataError(
            path,
            f"sha256 {found}, expected {checksum} (the file of {OCR_WHEEL})",
            f"install that version: pip install {OCR_WHEEL}",
        )
    return path


def ocr_graph(part: str, *, opset: int) -> tuple[bytes, dict[str, Any]]:
    """A PP-OCRv4 graph as the pipeline's FP32 graph: the shipped file (checked) through the
    shared graph preparation (its Constant weights folded into initializers, the opset raised
    to ``opset``), its input dimensions named (:data:`INPUT_DIMS`; the recogniser's height
    fixed at 48) so that engine profiles can give them ranges. The model's metadata (the
    recogniser's dictionary) is kept.

    Args:
        part: ``det`` or ``rec``.
        opset: the pipeline's opset (the shipped graphs are opset 12).

    Returns:
        The serialized graph and the preparation's report (with the file's ``source`` and
        ``sha256``).
    """
    import onnx

    path = model_file(part)
    model = onnx.load(str(path))
    (graph_input,) = model.graph.input
    for dim, name in zip(graph_input.type.tensor_type.shape.dim, INPUT_DIMS[part], strict=True):
        if isinstance(name, str):
            dim.dim_param = name
        else:
            dim.dim_value = name
    model, report = prepare_model(model, opset=opset, source=str(path))
    report |= {"source": path.name, "sha256": OCR_MODELS[part][1]}
    return model.SerializeToString(), report


def character_dictionary(model: bytes | str | Path) -> list[str]:
    """The recogniser's output classes: CTC's blank (``""``) at 0, then the dictionary stored
    in the ONNX file's metadata (key ``character``), then the space.

    Args:
        model: the recogniser's ONNX file (path) or its bytes.

    Raises:
        DataError: the file holds no dictionary under that key.
    """
    import onnx

    loaded = (
        onnx.load_from_string(model)
        if isinstance(model, bytes)
        else onnx.load(str(model), load_external_data=False)
    )
    for prop in loaded.metadata_props:
        if prop.key == DICTIONARY_KEY:
            return ["", *prop.value.splitlines(), " "]
    raise DataError(
        model if not isinstance(model, bytes) else "recogniser graph",
        f"no character dictionary in its metadata (key {DICTIONARY_KEY!r})",
        "use the PP-OCRv4 recogniser shipped by rapidocr-onnxruntime, or a graph that keeps "
        "its metadata_props",
    )


def font_files() -> list[Path]:
    """The DejaVu TTF files of matplotlib's data folder the text is drawn in.

    Raises:
        DataError: a font is missing.
    """
    import matplotlib

    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    paths = [folder / name for name in FONTS]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise DataError(
            missing[0], "font missing from matplotlib's data folder", "reinstall matplotlib"
        )
    return paths


def _rng(seed: int, split: str, kind: str, index: int) -> np.random.Generator:
    if split not in SPLIT_OFFSETS:
        raise DataError(f"OCR split {split!r}", "unknown", f"choose among {list(SPLIT_OFFSETS)}")
    key = f"{seed * SEED_STRIDE + SPLIT_OFFSETS[split] + index}:{kind}".encode()
    return np.random.default_rng(int.from_bytes(hashlib.sha256(key).digest()[:8], "little"))


def _token(rng: np.random.Generator) -> str:
    kind = rng.random()
    if kind < 0.15:
        return str(int(rng.integers(0, 100_000)))
    if kind < 0.22:
        a, b = (int(v) for v in rng.integers(1, 100, size=2))
        return f"{a}{PUNCTUATION[int(rng.integers(0, len(PUNCTUATION)))]}{b}"
    word = WORDS[int(rng.integers(0, len(WORDS)))]
    style = rng.random()
    if style < 0.2:
        word = word.capitalize()
    elif style < 0.27:
        word = word.upper()
    if rng.random() < 0.15:
        word += ".,:;!?"[int(rng.integers(0, 6))]
    return word


def random_text(rng: np.random.Generator, *, max_chars: int, max_words: int) -> str:
    """A line of 1..``max_words`` tokens (words, numbers, punctuated forms), at most
    ``max_chars`` characters (at least one token)."""
    words = [_token(rng)[:max_chars]]
    for _ in range(int(rng.integers(1, max_words + 1)) - 1):
        token = _token(rng)
        if len(" ".join([*words, token])) > max_chars:
            break
        words.append(token)
    return " ".join(words)


def _colours(rng: np.random.Generator) -> tuple[tuple[int, ...], tuple[int, ...]]:
    paper = tuple(int(v) for v in rng.integers(200, 256, size=3))
    ink = tuple(int(v) for v in rng.integers(0, 90, size=3))
    return paper, ink


def _font(rng: np.random.Generator, fonts: list[Path], low: int, high: int):
    from PIL import ImageFont

    path = fonts[int(rng.integers(0, len(fonts)))]
    return ImageFont.truetype(str(path), int(rng.integers(low, high + 1)))


def render_line(
    rng: np.random.Generator, fonts: list[Path], *, max_chars: int, font_size: tuple[int, int]
) -> tuple[np.ndarray, str]:
    """One text line cropped with a margin: (uint8 (H, W, 3) RGB image, its text)."""
    from PIL import Image, ImageDraw

    text = random_text(rng, max_chars=max_chars, max_words=3)
    font = _font(rng, fonts, *font_size)
    paper, ink = _colours(rng)
    x0, y0, x1, y1 = font.getbbox(text)
    margin = [int(v) for v in rng.integers(3, 9, size=4)]  # left, top, right, bottom
    size = (x1 - x0 + margin[0] + margin[2], y1 - y0 + margin[1] + margin[3])
    canvas = Image.new("RGB", size, paper)
    ImageDraw.Draw(canvas).text((margin[0] - x0, margin[1] - y0), text, font=font, fill=ink)
    return np.asarray(canvas), text


def render_page(
    rng: np.random.Generator,
    fonts: list[Path],
    *,
    size: tuple[int, int],
    max_lines: int,
    font_size: tuple[int, int],
) -> tuple[np.ndarray, list[dict]]:
    """A page of ``max_lines // 2``..``max_lines`` lines (fewer where the page is full),
    stacked top to bottom at random offsets.

    Returns:
        uint8 (H, W, 3) RGB image, and per line ``{"box": [x0, y0, x1, y1], "text"}``: the
        bounds of the pixels its text touches, max exclusive.
    """
    from PIL import Image, ImageDraw

    width, height = size
    paper, ink = _colours(rng)
    canvas = Image.new("RGB", (width, height), paper)
    pen = ImageDraw.Draw(canvas)
    lines: list[dict] = []
    y = int(rng.integers(8, 40))
    for _ in range(int(rng.integers(max(1, max_lines // 2), max_lines + 1))):
        font = _font(rng, fonts, *font_size)
        text = random_text(rng, max_chars=40, max_words=5)
        while True:  # drop words until the line fits the page
            x0, y0, x1, y1 = pen.textbbox((0, 0), text, font=font)
            if x1 - x0 <= width - 24 or " " not in text:
                break
            text = text.rsplit(" ", 1)[0]
        if y + (y1 - y0) > height - 8 or x1 - x0 > width - 24:
            break
        left = int(rng.integers(8, max(9, width - 16 - (x1 - x0))))
        mask = Image.new("L", (width, height), 0)
        ImageDraw.Draw(mask).text((left - x0, y - y0), text, font=font, fill=255)
        canvas.paste(Image.new("RGB", (width, height), ink), (0, 0), mask)
        lines.append({"box": list(mask.getbbox()), "text": text})
        y += (y1 - y0) + int(rng.integers(int(0.5 * (y1 - y0)) + 4, (y1 - y0) + 16))
    return np.asarray(canvas), lines


def png_bytes(image: np.ndarray) -> bytes:
    """A uint8 RGB image as PNG bytes (no timestamp inside: the same pixels, the same bytes)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image, np.uint8), "RGB").save(buffer, format="PNG")
    return buffer.getvalue()


@dataclass(frozen=True)
class OcrSetup:
    """How a split of the rendered set is made.

    Attributes:
        lines: text lines (recognition examples).
        pages: pages (detection examples).
        seed: the dataset seed.
        page_size: (width, height) of a page in pixels.
        max_lines: most lines on a page.
        max_chars: most characters in a recognition line.
        line_font: (smallest, largest) font size of a recognition line, in pixels.
        page_font: (smallest, largest) font size of a page's lines, in pixels.
    """

    lines: int
    pages: int
    seed: int
    page_size: tuple[int, int]
    max_lines: int
    max_chars: int
    line_font: tuple[int, int]
    page_font: tuple[int, int]

    @classmethod
    def from_params(cls, params: dict, split: str) -> "OcrSetup":
        """From the rule's ``data.ocr`` params: counts of ``split`` (``lines`` and ``pages``
        for the test split, ``calib_lines`` and ``calib_pages`` for the calibration split)."""
        prefix = "" if split == "test" else f"{split}_"
        return cls(
            lines=params[f"{prefix}lines"],
            pages=params[f"{prefix}pages"],
            seed=params["seed"],
            page_size=tuple(params["page_size"]),
            max_lines=params["max_lines"],
            max_chars=params["max_chars"],
            line_font=tuple(params["line_font"]),
            page_font=tuple(params["page_font"]),
        )


def write_ocr_split(folder: str | Path, setup: OcrSetup, split: str) -> dict[str, int]:
    """Render one split into ``folder`` (see the module docstring for the layout).

    Returns:
        ``{"lines", "pages", "page_lines", "characters"}`` counts.

    Raises:
        DataError: an unknown split, a font missing, or settings that make no text.
    """
    if setup.line_font[0] > setup.line_font[1] or setup.page_font[0] > setup.page_font[1]:
        raise DataError("data.ocr", "a font size range whose low end exceeds its high end")
    fonts = font_files()
    folder = Path(folder)
    lines, characters = [], 0
    for index in range(setup.lines):
        rng = _rng(setup.seed, split, "line", index)
        image, text = render_line(rng, fonts, max_chars=setup.max_chars, font_size=setup.line_font)
        name = f"{index:06d}.png"
        write_atomically(folder / "lines" / name, png_bytes(image))
        lines.append({"file": name, "text": text})
        characters += len(text)
    pages, page_lines = [], 0
    for index in range(setup.pages):
        rng = _rng(setup.seed, split, "page", index)
        image, placed = render_page(
            rng,
            fonts,
            size=setup.page_size,
            max_lines=setup.max_lines,
            font_size=setup.page_font,
        )
        name = f"{index:06d}.png"
        write_atomically(folder / "pages" / name, png_bytes(image))
        pages.append({"file": name, "lines": placed})
        page_lines += len(placed)
    write_json_atomically(folder / "lines.json", lines)
    write_json_atomically(folder / "pages.json", pages)
    return {
        "lines": len(lines),
        "pages": len(pages),
        "page_lines": page_lines,
        "characters": characters,
    }


def read_image(path: str | Path) -> np.ndarray:
    """A PNG (or any image Pillow reads) as uint8 (H, W, 3) RGB."""
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def read_lines(folder: str | Path) -> list[tuple[np.ndarray, str]]:
    """A split's recognition lines: (RGB image, text) in order.

    Raises:
        DataError: ``lines.json`` or a line image is missing.
    """
    folder = Path(folder)
    index = _read_index(folder / "lines.json")
    return [(read_image(_member(folder / "lines", e["file"])), e["text"]) for e in index]


def read_pages(folder: str | Path) -> list[tuple[np.ndarray, list[dict]]]:
    """A split's detection pages: (RGB image, its lines ``[{"box", "text"}]``) in order.

    Raises:
        DataError: ``pages.json`` or a page image is missing.
    """
    folder = Path(folder)
    index = _read_index(folder / "pages.json")
    return [(read_image(_member(folder / "pages", e["file"])), e["lines"]) for e in index]


def _read_index(path: Path) -> list[dict]:
    if not path.is_file():
        raise DataError(path, "missing", "rebuild the OCR set: snakemake results/data/ocr")
    return json.loads(path.read_text(encoding="utf-8"))


def _member(folder: Path, name: str) -> Path:
    path = folder / name
    if not path.is_file():
        raise DataError(path, "listed in the index but missing", "rebuild the OCR set")
    return path
