"""Image stacks: folders of PGM/PPM files, and conversion to network input (N, C, H, W)."""

from pathlib import Path

import numpy as np

from workflow.errors import DataError
from workflow.formats.pnm import read_pnm

PNM_SUFFIXES = (".pgm", ".ppm", ".pnm")


def read_pnm_folder(folder: str | Path) -> tuple[np.ndarray, list[Path]]:
    """Read every PGM/PPM file of a folder, in name order, into one uint8 stack.

    Returns:
        (N, H, W) for greyscale or (N, H, W, 3) for colour images, and the files read.

    Raises:
        DataError: no images, or images of different sizes or channel counts.
        FormatError: a malformed file.
    """
    folder = Path(folder)
    files = (
        sorted(p for p in folder.iterdir() if p.suffix.lower() in PNM_SUFFIXES)
        if folder.is_dir()
        else []
    )
    if not files:
        raise DataError(folder, "no .pgm/.ppm/.pnm images")
    images = [read_pnm(path) for path in files]
    for path, image in zip(files, images, strict=True):
        if image.shape != images[0].shape:
            raise DataError(
                path, f"shape {image.shape} differs from {files[0].name}'s {images[0].shape}"
            )
    return np.stack(images), files


def to_nchw(images: np.ndarray, *, scale: float, offset: float) -> np.ndarray:
    """uint8 (N, H, W) or (N, H, W, C) -> float32 (N, C, H, W) with value * scale + offset."""
    stack = images[:, None] if images.ndim == 3 else np.moveaxis(images, -1, 1)
    return (stack.astype(np.float32) * np.float32(scale) + np.float32(offset)).astype(np.float32)
