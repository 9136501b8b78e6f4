"""Calibration batch files in the seed's BatchStream format, and feed files for graphs of
several inputs.

Each BatchStream file holds one batch: four little-endian int32 ``N C H W``, then ``N*C*H*W``
float32 values (C order), then optionally ``N`` float32 labels. A folder holds ``batch0``,
``batch1``, ... with no gaps. The reader checks every file against its own header and against
the others (same dimensions, exact size, labels in all files or in none) before any data is used.

A graph with several inputs (the recommender: user ids and movie ids) is calibrated from feed
files instead: ``batch0.npz``, ``batch1.npz``, ... each holding one array per graph input, by
input name, the same names, dtypes and trailing dimensions in every file.
"""

import io
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from workflow.errors import FormatError
from workflow.io import write_atomically

HEADER = struct.Struct("<4i")
NAME = re.compile(r"batch(0|[1-9][0-9]*)")
FEED_NAME = re.compile(r"batch(0|[1-9][0-9]*)\.npz")


def batch_bytes(images: np.ndarray, labels: np.ndarray | None = None) -> bytes:
    """Encode one batch.

    Args:
        images: (N, C, H, W) values, stored as float32.
        labels: optional (N,) labels, stored as float32.

    Raises:
        FormatError: wrong rank, an empty batch, or a label count that is not N.
    """
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[0] < 1:
        raise FormatError("batch_bytes", f"images have shape {images.shape}, expected (N, C, H, W)")
    data = HEADER.pack(*images.shape) + np.ascontiguousarray(images, dtype="<f4").tobytes()
    if labels is not None:
        labels = np.asarray(labels)
        if labels.shape != (images.shape[0],):
            raise FormatError("batch_bytes", f"{labels.shape} labels for {images.shape[0]} images")
        data += np.ascontiguousarray(labels, dtype="<f4").tobytes()
    return data


@dataclass(frozen=True)
class BatchInfo:
    """What a batch file's header and size say."""

    path: Path
    dims: tuple[int, int, int, int]
    has_labels: bool


def inspect_batch(path: str | Path) -> BatchInfo:
    """Read a batch file's header and check the file size against it.

    Raises:
        FormatError: missing or short header, non-positive dimensions, or a size that matches
            neither "data" nor "data + labels"; the message gives both expected sizes.
    """
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as handle:
        head = handle.read(HEADER.size)
    if len(head) < HEADER.size:
        raise FormatError(path, f"{size} bytes, shorter than the 16-byte N C H W header")
    dims = HEADER.unpack(head)
    if min(dims) < 1:
        raise FormatError(path, f"header N C H W = {dims} has a dimension below 1")
    count = dims[0] * dims[1] * dims[2] * dims[3]
    bare = HEADER.size + 4 * count
    labelled = bare + 4 * dims[0]
    if size not in (bare, labelled):
        raise FormatError(
            path,
            f"{size} bytes, header {dims} needs {bare} (no labels) or {labelled} (with labels)",
            "the file is truncated or its header is wrong; write the batches again",
        )
    return BatchInfo(path, dims, size == labelled)


def read_batch(path: str | Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Read one batch file: float32 images (N, C, H, W) and float32 labels (N,) or ``None``."""
    info = inspect_batch(path)
    data = Path(path).read_bytes()
    n, c, h, w = info.dims
    images = np.frombuffer(data, dtype="<f4", count=n * c * h * w, offset=HEADER.size)
    labels = None
    if info.has_labels:
        labels = np.frombuffer(data, dtype="<f4", offset=HEADER.size + images.nbytes).astype(
            np.float32
        )
    return images.reshape(info.dims).astype(np.float32), labels


def _numbered(folder: Path, pattern: re.Pattern[str], what: str, suffix: str) -> list[Path]:
    """The files of ``folder`` named by ``pattern`` (``batch<k><suffix>``) in order of their
    number, without gaps."""
    numbered = {}
    for path in folder.iterdir() if folder.is_dir() else []:
        match = pattern.fullmatch(path.name)
        if match:
            numbered[int(match.group(1))] = path
    if not numbered:
        raise FormatError(folder, f"no {what}")
    missing = sorted(set(range(max(numbered) + 1)) - set(numbered))
    if missing:
        raise FormatError(
            folder,
            f"batch{missing[0]}{suffix} is missing but batch{max(numbered)}{suffix} exists",
        )
    return [numbered[i] for i in range(len(numbered))]


def check_batch_folder(folder: str | Path) -> list[BatchInfo]:
    """Check a folder of batch files; return them in order ``batch0``, ``batch1``, ...

    Raises:
        FormatError: no batch files, a gap in the numbering, a file that disagrees with its
            header, or files that disagree with each other (dimensions, labels).
    """
    folder = Path(folder)
    paths = _numbered(folder, NAME, "batch files (batch0, batch1, ...)", "")
    infos = [inspect_batch(path) for path in paths]
    first = infos[0]
    for info in infos[1:]:
        if info.dims != first.dims:
            raise FormatError(
                info.path, f"dimensions {info.dims} differ from {first.path.name}'s {first.dims}"
            )
        if info.has_labels != first.has_labels:
            with_labels = first.path.name if first.has_labels else info.path.name
            raise FormatError(info.path, f"labels in {with_labels} but not in every batch file")
    return infos


def iter_batches(folder: str | Path) -> Iterator[np.ndarray]:
    """Yield the images of each batch in order, one file in memory at a time (checked first)."""
    for info in check_batch_folder(folder):
        yield read_batch(info.path)[0]


def split_into_batches(
    images: np.ndarray, labels: np.ndarray | None, *, batch_size: int, batches: int
) -> list[bytes]:
    """Cut the first ``batch_size * batches`` images into batch files.

    Raises:
        FormatError: fewer images than asked for.
    """
    need = batch_size * batches
    if len(images) < need:
        raise FormatError(
            "calibration batches",
            f"{batches} batches of {batch_size} need {need} images, the dataset has {len(images)}",
            "lower calibration.images.<dataset>.batches or batch_size",
        )
    return [
        batch_bytes(
            images[i * batch_size : (i + 1) * batch_size],
            None if labels is None else labels[i * batch_size : (i + 1) * batch_size],
        )
        for i in range(batches)
    ]


def write_batch_folder(folder: str | Path, files: list[bytes]) -> None:
    """Write batch files (from :func:`split_into_batches`) as ``batch0``, ``batch1``, ... into
    ``folder``, each atomically."""
    for index, data in enumerate(files):
        write_atomically(Path(folder) / f"batch{index}", data)


def is_feed_folder(folder: str | Path) -> bool:
    """Whether ``folder`` holds feed files (``batch0.npz``) rather than BatchStream files."""
    return (Path(folder) / "batch0.npz").is_file()


def iter_folder(folder: str | Path) -> Iterator[np.ndarray | dict[str, np.ndarray]]:
    """The batches of a folder in order: feed dicts from feed files, else BatchStream arrays."""
    return iter_feeds(folder) if is_feed_folder(folder) else iter_batches(folder)


def write_feed_folder(folder: str | Path, feeds: list[dict[str, np.ndarray]]) -> None:
    """Write one feed file per batch (arrays by graph input name) as ``batch{k}.npz``.

    Raises:
        FormatError: no batches, or batches that disagree in names, dtypes or trailing shape.
    """
    if not feeds:
        raise FormatError(folder, "no calibration batches to write")
    for index, feed in enumerate(feeds):
        _check_feed(feed, feeds[0], f"batch {index}")
        buffer = io.BytesIO()
        np.savez(buffer, **feed)
        write_atomically(Path(folder) / f"batch{index}.npz", buffer.getvalue())


def _check_feed(feed: dict[str, np.ndarray], first: dict[str, np.ndarray], where: str) -> None:
    """The same input names, dtypes and ranks as the first feed (sizes beyond the batch may
    differ: dynamic dimensions), and one non-zero batch size over the arrays that have a first
    axis (a scalar input has none)."""
    layout = {k: (v.dtype.str, v.ndim) for k, v in feed.items()}
    expected = {k: (v.dtype.str, v.ndim) for k, v in first.items()}
    counts = {len(v) for v in feed.values() if v.ndim}
    if not feed or layout != expected or len(counts) > 1 or 0 in counts:
        raise FormatError(
            where,
            f"inputs (dtype, rank) {layout} (batch sizes {sorted(counts)}), expected "
            f"{expected} with one non-zero batch size",
        )


def iter_feeds(folder: str | Path) -> Iterator[dict[str, np.ndarray]]:
    """Yield each feed file's arrays by input name, in order (names and layouts checked).

    Raises:
        FormatError: no feed files, a gap, or a file that disagrees with the first.
    """
    paths = _numbered(Path(folder), FEED_NAME, "feed files (batch0.npz, batch1.npz, ...)", ".npz")
    first = None
    for path in paths:
        with np.load(path, allow_pickle=False) as arrays:
            feed = {name: arrays[name] for name in arrays.files}
        first = first or feed
        _check_feed(feed, first, str(path))
        yield feed
