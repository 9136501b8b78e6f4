"""Checked downloads: nothing is fetched silently, and a failure says where to put the file."""

import hashlib
import logging
import urllib.error
import urllib.request
from pathlib import Path

from workflow.errors import DataError

log = logging.getLogger(__name__)


def md5_hex(data: bytes) -> str:
    """Return the hex md5 of ``data``."""
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def digest(data: bytes, expected: str) -> str:
    """The checksum of ``data`` in the form of ``expected``: an md5 hex digest, or
    ``sha256:<prefix>`` (torchvision's weight files carry the first hex digits of their sha256
    in their names, and torch.hub checks those) cut to the prefix's length."""
    if expected.startswith("sha256:"):
        return "sha256:" + hashlib.sha256(data).hexdigest()[: len(expected) - len("sha256:")]
    return md5_hex(data)


def _kind(expected: str) -> str:
    return "checksum" if expected.startswith("sha256:") else "md5"


def check_md5(path: str | Path, md5: str, *, url: str | None = None) -> bytes:
    """Read ``path`` and check its checksum (:func:`digest`); return its bytes.

    Args:
        path: the file.
        md5: expected md5 hex digest, or ``sha256:<prefix>``.
        url: where the file officially comes from, named in the error.

    Raises:
        DataError: the file is missing or its checksum differs.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "missing", _by_hand(path, md5, url))
    data = path.read_bytes()
    found = digest(data, md5)
    if found != md5:
        raise DataError(path, f"{_kind(md5)} {found}, expected {md5}", _by_hand(path, md5, url))
    return data


def _by_hand(path: Path, md5: str, url: str | None) -> str:
    source = f" from {url}" if url else ""
    return f"download it by hand{source} and place it at {path} ({_kind(md5)} {md5})"


def fetch(url: str, dest: str | Path, *, md5: str, timeout_s: float) -> bytes:
    """Download ``url`` and check its checksum (:func:`digest`); return the bytes (the caller
    writes them).

    Args:
        url: source address.
        dest: where the file will be stored, named in errors.
        md5: expected md5 hex digest, or ``sha256:<prefix>``.
        timeout_s: network timeout in seconds.

    Raises:
        DataError: no network, an HTTP error, or a checksum mismatch; the message says where to
            place the file by hand.
    """
    dest = Path(dest)
    if not url:
        raise DataError(dest, "no download address is known", _by_hand(dest, md5, None))
    log.info("%s | downloading %s", dest, url)
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            data = response.read()
    except (urllib.error.URLError, OSError, ValueError) as err:
        raise DataError(
            dest, f"download of {url} failed ({err})", _by_hand(dest, md5, url)
        ) from err
    found = digest(data, md5)
    if found != md5:
        raise DataError(
            dest,
            f"downloaded {url} has {_kind(md5)} {found}, expected {md5}",
            _by_hand(dest, md5, url),
        )
    log.info("%s | %d bytes, %s ok", dest, len(data), _kind(md5))
    return data


def check_files(files: dict[str, str], expected: dict[str, tuple[str, str]]) -> None:
    """Check each file whose role ``expected`` names against its (url, md5): files placed by
    hand are checked as downloads are.

    Raises:
        DataError: a file is missing or its checksum differs (where to get it is said).
    """
    for role, (url, md5) in expected.items():
        check_md5(files[role], md5, url=url)
