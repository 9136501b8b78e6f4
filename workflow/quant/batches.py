"""Calibration batch files in the seed's BatchStream format.

Each file holds one batch: four little-endian int32 ``N C H W``, then ``N*C*H*W`` float32 values
(C order), then optionally ``N`` float32 labels. A folder holds ``batch0``, ``batch1``, ... with
no gaps. The reader checks every file against its own header and against the others (same
dimensions, exact size, labels in all files or in none) before any data is used.
"""

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


def check_batch_folder(folder: str | Path) -> list[BatchInfo]:
    """Check a folder of batch files; return them in order ``batch0``, ``batch1``, ...

    Raises:
        FormatError: no batch files, a gap in the numbering, a file that disagrees with its
            header, or files that disagree with each other (dimensions, labels).
    """
    folder = Path(folder)
    numbered = {}
    for path in folder.iterdir() if folder.is_dir() else []:
        match = NAME.fullmatch(path.name)
        if match:
            numbered[int(match.group(1))] = path
    if not numbered:
        raise FormatError(folder, "no batch files (batch0, batch1, ...)")
    missing = sorted(set(range(max(numbered) + 1)) - set(numbered))
    if missing:
        raise FormatError(folder, f"batch{missing[0]} is missing but batch{max(numbered)} exists")
    infos = [inspect_batch(numbered[i]) for i in range(len(numbered))]
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
