"""Your own model's data (config ``byo.<name>.data``): labelled images from IDX files or from an
image folder, preprocessed as the model takes them; or, for any model, calibration and
evaluation feeds without labels.

Sources:

* ``idx``: ``train_images``, ``train_labels``, ``test_images``, ``test_labels`` (IDX files, as
  MNIST's; greyscale (N, H, W) or colour (N, H, W, 3) uint8 images, uint8 labels);
* ``folder``: ``train/`` and ``test/``, each with one sub-folder per class
  (``<folder>/<split>/<class_name>/*.ppm|pgm|png|jpg``); labels are the class names' sorted
  order, the same in both splits;
* ``calibration`` and ``evaluation`` (no labels, no task metric): each a folder of ``.npz``
  files, one file one feed (arrays by input name, checked against the graph's inputs: names,
  dtypes, ranks and fixed sizes), or a folder of images (in any sub-folders, sorted by path) for
  a model of one image input.

Batches (:func:`cut_batches`): every row is kept; the last batch is smaller, or, for a graph of
static batch, padded to it with copies of its last row (how many rows are real is returned).

Preprocessing (``preprocess``): resize to the model's input (bilinear), channel order (RGB or
BGR), then ``(pixel * scale - mean) / std`` per channel, laid out NCHW or NHWC.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from workflow.errors import DataError, PipelineError
from workflow.formats.idx import read_idx

IMAGE_SUFFIXES = (".ppm", ".pgm", ".pnm", ".png", ".jpg", ".jpeg", ".bmp")
#: What ``.npz`` feeds are checked against: an input's name, numpy dtype name and shape (sizes,
#: and names or ``?`` for dynamic dimensions), as ``workflow.models.byo.graph_inputs`` gives.
Spec = dict[str, Any]


@dataclass(frozen=True)
class Labelled:
    """One split: uint8 images (N, H, W, C), or a list of (H, W, C) of several sizes from a
    folder, and labels (N,)."""

    images: np.ndarray | list[np.ndarray]
    labels: np.ndarray


def _channels_last(images: np.ndarray) -> np.ndarray:
    """A stack (N, H, W) as (N, H, W, 1); (N, H, W, C) as it is."""
    return images[..., None] if images.ndim == 3 else images


def _with_channels(image: np.ndarray) -> np.ndarray:
    """One image (H, W) as (H, W, 1); (H, W, C) as it is."""
    return image[..., None] if image.ndim == 2 else image


def _read_idx_split(images_path: str, labels_path: str) -> Labelled:
    images = read_idx(images_path)
    labels = read_idx(labels_path).astype(np.int64)
    if images.ndim not in (3, 4) or images.dtype != np.uint8:
        raise DataError(
            images_path, f"{images.dtype} {images.shape}, expected uint8 (N, H, W[, C])"
        )
    if labels.ndim != 1 or len(labels) != len(images):
        raise DataError(labels_path, f"{labels.shape} labels for {len(images)} images")
    return Labelled(_channels_last(images), labels)


def read_image_file(path: Path) -> np.ndarray:
    """One image file as uint8 (H, W, C): RGB, or one channel for greyscale (L, I;16).

    Raises:
        DataError: not an image.
    """
    from PIL import Image

    try:
        with Image.open(path) as opened:
            image = np.asarray(opened.convert("RGB" if opened.mode not in ("L", "I;16") else "L"))
    except OSError as err:
        raise DataError(path, f"not an image ({err})") from err
    return _with_channels(image)


def folder_split_files(folder: Path, classes: list[str]) -> tuple[list[Path], np.ndarray]:
    """The image files of ``folder/<class>/`` for each of ``classes``, class by class in sorted
    file order, and their labels (index in ``classes``), without decoding them.

    Raises:
        DataError: no images.
    """
    paths, labels = [], []
    for label, name in enumerate(classes):
        files = sorted(p for p in (folder / name).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        paths += files
        labels += [label] * len(files)
    if not paths:
        raise DataError(folder, "no images", f"put them in class folders: {folder}/<class>/*.ppm")
    return paths, np.array(labels, np.int64)


def read_folder_split(folder: Path, classes: list[str]) -> Labelled:
    """The images of ``folder/<class>/`` for each of ``classes`` (label = index in it), every
    image in its own size.

    Raises:
        DataError: no images, an unreadable image, images of different channel counts.
    """
    paths, labels = folder_split_files(folder, classes)
    images, shape = [], None
    for path in paths:
        image = read_image_file(path)
        if shape is not None and image.shape[2] != shape[2]:
            raise DataError(path, f"{image.shape[2]} channels, the first image has {shape[2]}")
        shape = shape or image.shape
        images.append(image)
    return Labelled(images, labels)


def read_labelled(data: dict[str, Any]) -> tuple[Labelled, Labelled, list[str]]:
    """The training (calibration) and test splits of a ``byo.<name>.data`` entry, and the class
    names (``class_0`` ... for IDX labels).

    Raises:
        DataError: a missing file or folder, no images, unreadable images, classes that differ
            between the splits.
        PipelineError: an entry that names neither source.
    """
    if "folder" in data:
        root = Path(data["folder"])
        splits = {}
        names = {}
        for split in ("train", "test"):
            folder = root / split
            if not folder.is_dir():
                raise DataError(folder, "missing", f"{root} needs train/ and test/ class folders")
            names[split] = sorted(p.name for p in folder.iterdir() if p.is_dir())
        if names["train"] != names["test"]:
            raise DataError(
                root, f"train classes {names['train']} differ from test {names['test']}"
            )
        for split in ("train", "test"):
            splits[split] = read_folder_split(root / split, names["train"])
        return splits["train"], splits["test"], names["train"]
    keys = ("train_images", "train_labels", "test_images", "test_labels")
    if all(key in data for key in keys):
        for key in keys:
            if not Path(data[key]).is_file():
                raise DataError(data[key], "missing", f"byo data.{key} names an IDX file")
        train = _read_idx_split(data["train_images"], data["train_labels"])
        test = _read_idx_split(data["test_images"], data["test_labels"])
        count = int(max(train.labels.max(), test.labels.max())) + 1
        return train, test, [f"class_{k}" for k in range(count)]
    raise PipelineError(
        "byo data", "names neither a folder nor the four IDX files", f"give folder, or {keys}"
    )


def preprocess(
    split: Labelled,
    *,
    size: tuple[int, int],
    channels: int,
    layout: str,
    scale: float,
    mean: list[float],
    std: list[float],
    order: str,
) -> np.ndarray:
    """A split's images as the model takes them: float32 (N, C, H, W) or (N, H, W, C).

    Raises:
        DataError: images whose channel count the model cannot take (1 vs 3, no conversion
            asked for).
    """
    from PIL import Image

    h, w = size
    out = np.empty((len(split.images), h, w, channels), np.float32)
    for index, image in enumerate(split.images):
        image = np.asarray(image, np.uint8)
        if image.shape[2] != channels:
            if image.shape[2] == 1 and channels == 3:
                image = np.repeat(image, 3, axis=2)
            elif image.shape[2] == 3 and channels == 1:
                image = np.asarray(Image.fromarray(image).convert("L"))[..., None]
            else:
                raise DataError(
                    f"image {index}", f"{image.shape[2]} channels, the model takes {channels}"
                )
        if image.shape[:2] != (h, w):
            mode = Image.fromarray(image[..., 0] if channels == 1 else image)
            image = _with_channels(np.asarray(mode.resize((w, h), Image.Resampling.BILINEAR)))
        out[index] = image
    if channels == 3 and order == "BGR":
        out = out[..., ::-1]
    mean_a = np.broadcast_to(np.asarray(mean, np.float32), (channels,))
    std_a = np.broadcast_to(np.asarray(std, np.float32), (channels,))
    out = (out * np.float32(scale) - mean_a) / std_a
    if layout == "NCHW":
        out = out.transpose(0, 3, 1, 2)
    return np.ascontiguousarray(out, np.float32)


def is_npz_folder(folder: str | Path) -> bool:
    """Whether ``folder`` holds ``.npz`` feed files (else images)."""
    return any(Path(folder).glob("*.npz"))


def image_folder_files(folder: str | Path) -> list[Path]:
    """The image files anywhere under ``folder``, sorted by path.

    Raises:
        DataError: a missing folder, or one without images.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(folder, "no such folder", "fix byo data.calibration or data.evaluation")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataError(
            folder,
            "neither .npz feed files nor images",
            "put one .npz per feed (arrays by input name) or images in it",
        )
    return files


def read_image_folder(folder: str | Path) -> Labelled:
    """Every image under ``folder`` (:func:`image_folder_files`), unlabelled (labels -1).

    Raises:
        DataError: no images, an unreadable image.
    """
    images = [read_image_file(path) for path in image_folder_files(folder)]
    return Labelled(images, np.full(len(images), -1, np.int64))


def _describe(value: np.ndarray) -> str:
    return f"{value.dtype.name} {list(value.shape)}"


def check_feed(
    feed: dict[str, np.ndarray], inputs: list[Spec], source: str | Path, *, batched: list[str]
) -> None:
    """Check one feed against the graph's inputs: the same names, each array of the input's
    dtype and rank with its fixed sizes (the first axis of a batched input may hold any
    number of rows), and one row count over the batched inputs.

    Raises:
        DataError: naming the file, the input and the fix.
    """
    names = [spec["name"] for spec in inputs]
    for spec in inputs:
        if spec["name"] not in feed:
            raise DataError(
                source,
                f"no array for input {spec['name']!r} ({spec['dtype']} {spec['shape']}); "
                f"it holds {sorted(feed)}",
                f"save every input by name: np.savez(file, {', '.join(f'{n}=...' for n in names)})",
            )
    for name in feed:
        if name not in names:
            raise DataError(
                source,
                f"array {name!r} is no input of the graph; its inputs are {names}",
                "save the graph's inputs only, each under its input name",
            )
    for spec in inputs:
        value, dims = feed[spec["name"]], spec["shape"]
        where = f"input {spec['name']!r} is {_describe(value)}, the graph takes"
        if value.dtype.name != spec["dtype"]:
            raise DataError(
                source,
                f"{where} {spec['dtype']} {dims}",
                f"save it as {spec['dtype']} (array.astype(np.{spec['dtype']}))",
            )
        if value.ndim != len(dims):
            raise DataError(
                source, f"{where} rank {len(dims)} {dims}", f"save it with {len(dims)} axes"
            )
        for axis, (size, want) in enumerate(zip(value.shape, dims, strict=True)):
            if axis == 0 and spec["name"] in batched:
                continue
            if isinstance(want, int) and size != want:
                raise DataError(
                    source,
                    f"{where} {dims}: axis {axis} is {size}, not {want}",
                    f"save it with {want} along axis {axis}",
                )
    rows = {name: len(feed[name]) for name in batched}
    if len(set(rows.values())) > 1 or 0 in rows.values():
        raise DataError(
            source,
            f"batched inputs hold different (or no) rows {rows}",
            "give every batched input the same number of rows (at least one)",
        )


def read_npz_folder(folder: str | Path, inputs: list[Spec], *, batched: list[str]) -> list[dict]:
    """The ``.npz`` feeds of ``folder`` in sorted name order, each checked (:func:`check_feed`).

    Raises:
        DataError: no ``.npz`` files, an unreadable one, one that does not fit the graph.
    """
    folder = Path(folder)
    paths = sorted(folder.glob("*.npz"))
    if not paths:
        raise DataError(
            folder, "no .npz feed files", "put one .npz per feed (arrays by input name)"
        )
    feeds = []
    for path in paths:
        try:
            with np.load(path, allow_pickle=False) as arrays:
                feed = {name: arrays[name] for name in arrays.files}
        except (OSError, ValueError) as err:
            raise DataError(path, f"not a readable .npz ({err})", "save it with np.savez") from err
        check_feed(feed, inputs, path, batched=batched)
        feeds.append(feed)
    return feeds


def cut_batches(
    feeds: list[dict[str, np.ndarray]], *, batched: list[str], size: int, static: int = 0
) -> tuple[list[dict[str, np.ndarray]], list[int]]:
    """The feeds' rows in batches, none dropped: the batched inputs' rows of all feeds in
    order, cut into batches of ``size`` (the last one smaller); for a static batch
    (``static`` > 0), of ``static`` rows with the last batch padded with copies of its last
    row. Unbatched inputs (a scalar, say) are fed whole with every batch: feeds that differ in
    them, or in the shape of a row, are cut one by one.

    Args:
        feeds: feeds that fit the graph (:func:`check_feed`).
        batched: the inputs fed in batches.
        size: rows per batch for a dynamic batch; 0 keeps each feed as it is.
        static: the graph's static batch, or 0.

    Returns:
        The batches and, for each, how many of its rows are real.
    """
    step = static or size
    if not batched or not step:
        return list(feeds), [len(f[batched[0]]) if batched else 1 for f in feeds]
    groups: list[list[dict[str, np.ndarray]]] = []
    for feed in feeds:
        key = [(n, v.shape[1:], v.dtype) for n, v in feed.items() if n in batched]
        last = groups[-1][-1] if groups else None
        same = last is not None and key == [
            (n, v.shape[1:], v.dtype) for n, v in last.items() if n in batched
        ]
        fixed = {n: v for n, v in feed.items() if n not in batched}
        if same and all(np.array_equal(v, last[n]) for n, v in fixed.items()):
            groups[-1].append(feed)
        else:
            groups.append([feed])
    batches, real = [], []
    for group in groups:
        joined = {n: np.concatenate([f[n] for f in group]) for n in batched}
        count = len(joined[batched[0]])
        for start in range(0, count, step):
            batch = dict(group[0]) | {n: v[start : start + step] for n, v in joined.items()}
            rows = len(batch[batched[0]])
            if static and rows < static:
                for name in batched:
                    pad = np.repeat(batch[name][-1:], static - rows, axis=0)
                    batch[name] = np.concatenate([batch[name], pad])
            batches.append(batch)
            real.append(rows)
    return batches, real
