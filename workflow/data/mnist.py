"""MNIST-style digits: 28x28 uint8 images with labels 0..9.

Three sources, chosen by the config key ``data.mnist.source``:

``digits`` (the embedded default, no network)
    scikit-learn's bundled handwritten digits: 1,797 real 8x8 images with 17 grey levels
    (0..16). Each is scaled to 0..255, upsampled to 20x20 by bilinear interpolation with
    pixel centres aligned (corner pixels map to corner pixels), rounded to uint8 and centred in a
    28x28 frame with a 4-pixel black border, the way MNIST centres its digits in a 20x20 box.
    A seeded permutation puts ``test_fraction`` of the images in the test split.
``mnist``
    The real MNIST (60,000 training and 10,000 test images) as the four standard IDX files,
    fetched from a configurable base URL and checked against their md5 sums.
``idx``
    Any pair of IDX image/label files (e.g. the MNIST test set alone); the last ``test_count``
    images form the test split, the others the training split.
"""

import numpy as np

from workflow.data.download import check_md5
from workflow.data.images import to_nchw
from workflow.errors import DataError
from workflow.formats.idx import read_idx

#: Standard MNIST file names and the md5 of each as distributed (gzip).
MNIST_FILES: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
SIDE = 28
BOX = 20
CLASSES = 10

Split = tuple[np.ndarray, np.ndarray]
"""Images (N, 28, 28) uint8 and labels (N,) uint8."""


def bilinear_resize(images: np.ndarray, size: int) -> np.ndarray:
    """Resize square images with bilinear interpolation, pixel centres aligned at the corners.

    Args:
        images: float array (N, S, S).
        size: output side length.

    Returns:
        float64 array (N, size, size).
    """
    side = images.shape[-1]
    coords = np.linspace(0.0, side - 1.0, size)
    low = np.floor(coords).astype(int)
    high = np.minimum(low + 1, side - 1)
    frac = coords - low
    rows = images[:, low, :] * (1 - frac)[None, :, None] + images[:, high, :] * frac[None, :, None]
    return rows[:, :, low] * (1 - frac)[None, None, :] + rows[:, :, high] * frac[None, None, :]


def embedded_digits() -> Split:
    """Return all 1,797 scikit-learn digits as 28x28 uint8 images (see the module docstring)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    small = bunch.images.astype(np.float64) * (255.0 / 16.0)
    box = np.clip(np.rint(bilinear_resize(small, BOX)), 0, 255).astype(np.uint8)
    images = np.zeros((len(box), SIDE, SIDE), dtype=np.uint8)
    border = (SIDE - BOX) // 2
    images[:, border : border + BOX, border : border + BOX] = box
    return images, bunch.target.astype(np.uint8)


def split_shuffled(
    images: np.ndarray, labels: np.ndarray, *, test_fraction: float, seed: int
) -> tuple[Split, Split]:
    """Split with a seeded permutation: ``test_fraction`` of the images go to the test split.

    Raises:
        DataError: the fraction leaves one of the splits empty.
    """
    count = len(images)
    n_test = int(round(count * test_fraction))
    if not 0 < n_test < count:
        raise DataError(
            "mnist.digits.test_fraction", f"{test_fraction} leaves an empty split of {count} images"
        )
    order = np.random.default_rng(seed).permutation(count)
    train, test = np.sort(order[n_test:]), np.sort(order[:n_test])
    return (images[train], labels[train]), (images[test], labels[test])


def split_tail(images: np.ndarray, labels: np.ndarray, *, test_count: int) -> tuple[Split, Split]:
    """Split off the last ``test_count`` images as the test split.

    Raises:
        DataError: ``test_count`` leaves one of the splits empty.
    """
    if not 0 < test_count < len(images):
        raise DataError(
            "data.mnist.idx.test_count",
            f"{test_count} leaves an empty split of {len(images)} images",
        )
    cut = len(images) - test_count
    return (images[:cut], labels[:cut]), (images[cut:], labels[cut:])


def check_digits(images: np.ndarray, labels: np.ndarray, *, name: str) -> Split:
    """Check that images and labels form an MNIST-style split.

    Args:
        images: expected uint8 (N, 28, 28).
        labels: expected uint8 (N,) with values 0..9.
        name: the source, named in errors.

    Raises:
        DataError: wrong dtype, shape, count or label value.
    """
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (SIDE, SIDE):
        raise DataError(
            name, f"images are {images.dtype} {images.shape}, expected uint8 (N, 28, 28)"
        )
    if labels.ndim != 1 or len(labels) != len(images):
        raise DataError(name, f"{len(labels)} labels for {len(images)} images")
    if labels.size and int(labels.max()) >= CLASSES:
        raise DataError(name, f"label {int(labels.max())} outside 0..9")
    return images, labels.astype(np.uint8)


def to_input(images: np.ndarray) -> np.ndarray:
    """Turn uint8 images (N, 28, 28) into the network input: float32 (N, 1, 28, 28) in [0, 1]."""

    return to_nchw(images, scale=1.0 / 255.0, offset=0.0)


def first_of_each_class(labels: np.ndarray) -> list[int]:
    """Index of the first image of each digit 0..9.

    Raises:
        DataError: a digit has no image in the split.
    """
    found = []
    for digit in range(CLASSES):
        hits = np.flatnonzero(labels == digit)
        if not hits.size:
            raise DataError("test split", f"no image of digit {digit}", "use a larger test split")
        found.append(int(hits[0]))
    return found


def read_split(images_path: str, labels_path: str) -> Split:
    """Read and check one split from IDX image and label files (gzip or raw)."""

    images = read_idx(images_path, ndim=3)
    labels = read_idx(labels_path, ndim=1)
    return check_digits(images, labels, name=f"{images_path} + {labels_path}")


def mnist_splits(
    *,
    source: str,
    files: dict[str, str],
    test_fraction: float,
    seed: int,
    test_count: int,
    base_url: str,
) -> tuple[Split, Split]:
    """Produce the train and test splits of the configured source (see the module docstring).

    Args:
        source: ``digits``, ``mnist`` or ``idx``.
        files: for ``mnist`` the four standard files by name; for ``idx`` the keys ``images``
            and ``labels``; nothing for ``digits``.
        test_fraction: share of the digits that go to the test split (``digits``).
        seed: seeds the digits split (``digits``).
        test_count: images at the end of the files that form the test split (``idx``).
        base_url: official source of the MNIST files, named when a checksum fails (``mnist``).

    Raises:
        DataError: unknown source, missing file, checksum mismatch or bad split sizes.
        FormatError: a malformed IDX file.
    """
    if source == "digits":
        images, labels = embedded_digits()
        return split_shuffled(images, labels, test_fraction=test_fraction, seed=seed)
    if source == "mnist":
        for name, md5 in MNIST_FILES.items():
            check_md5(files[name], md5, url=base_url + name)
        train, test = (
            read_split(
                files[f"{split}-images-idx3-ubyte.gz"], files[f"{split}-labels-idx1-ubyte.gz"]
            )
            for split in ("train", "t10k")
        )
        return train, test
    if source == "idx":
        images, labels = read_split(files["images"], files["labels"])
        return split_tail(images, labels, test_count=test_count)
    raise DataError(f"data.mnist.source={source!r}", "unknown source", "use digits, mnist or idx")
