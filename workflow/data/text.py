"""The character model's text (sampleCharRNN): a corpus, its vocabulary and its splits.

Sources (config ``data.text.source``):

* ``embedded`` (no network): the help texts that ship with CPython, ``pydoc_data.topics``
  (79 topics of the language reference, about 465,000 characters in Python 3.11), joined in
  topic-name order. Typographic quotes, dashes and ellipses become their ASCII forms and any
  other non-ASCII character ``?``, so the vocabulary is printable ASCII and the newline.
* ``file``: your own UTF-8 text file, read as it is.

The last ``test_fraction`` of the characters is the held-out split. The vocabulary is the
sorted set of the corpus' characters; a character's id is its index.
"""

import json
from pathlib import Path

import numpy as np

from workflow.errors import DataError
from workflow.io import write_atomically

#: ASCII forms of the non-ASCII characters of the embedded corpus.
ASCII_FORMS = {"“": '"', "”": '"', "‘": "'", "’": "'", "—": "--", "–": "-", "…": "..."}


def embedded_text() -> str:
    """CPython's pydoc topics as ASCII text."""
    from pydoc_data.topics import topics

    text = "\n\n".join(topics[name].strip("\n") for name in sorted(topics)) + "\n"
    for char, form in ASCII_FORMS.items():
        text = text.replace(char, form)
    return text.encode("ascii", "replace").decode("ascii")


def write_corpus(folder: str | Path, text: str, *, test_fraction: float) -> dict[str, int]:
    """``train.txt``, ``test.txt`` and ``vocab.json`` of ``text`` into ``folder``; return the
    sizes.

    Raises:
        DataError: a text too short to split, or a split without characters.
    """
    if len(text) < 1000:
        raise DataError("data.text", f"{len(text)} characters; at least 1000 are needed")
    cut = len(text) - int(round(len(text) * test_fraction))
    if not 0 < cut < len(text):
        raise DataError("data.text.test_fraction", f"{test_fraction} leaves an empty split")
    vocab = sorted(set(text))
    folder = Path(folder)
    write_atomically(folder / "train.txt", text[:cut].encode())
    write_atomically(folder / "test.txt", text[cut:].encode())
    write_atomically(folder / "vocab.json", json.dumps(vocab, indent=0).encode())
    return {"train": cut, "test": len(text) - cut, "vocab": len(vocab)}


def read_vocab(folder: str | Path) -> list[str]:
    """The vocabulary written by :func:`write_corpus`."""
    path = Path(folder) / "vocab.json"
    try:
        vocab = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise DataError(path, f"not a vocabulary ({err})") from err
    if not isinstance(vocab, list) or len(set(vocab)) != len(vocab):
        raise DataError(path, "needs a list of distinct characters")
    return vocab


def encode(text: str, vocab: list[str], *, where: str = "text") -> np.ndarray:
    """Character ids (int32) of ``text``.

    Raises:
        DataError: a character outside the vocabulary (naming it).
    """
    index = {char: k for k, char in enumerate(vocab)}
    unknown = sorted(set(text) - set(index))
    if unknown:
        raise DataError(where, f"characters outside the vocabulary: {unknown[:10]}")
    return np.fromiter((index[char] for char in text), np.int32, len(text))


def decode(ids: np.ndarray, vocab: list[str]) -> str:
    """The text of character ids."""
    return "".join(vocab[int(k)] for k in np.asarray(ids).reshape(-1))


def read_split(folder: str | Path, split: str) -> tuple[np.ndarray, list[str]]:
    """The ids of ``train`` or ``test`` text and the vocabulary."""
    vocab = read_vocab(folder)
    path = Path(folder) / f"{split}.txt"
    return encode(path.read_text(), vocab, where=str(path)), vocab


def windows(ids: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Non-overlapping windows of ``length`` inputs and their next characters:
    (count, length) inputs and targets, the targets the inputs shifted by one."""
    count = (len(ids) - 1) // length
    if count < 1:
        raise DataError("text", f"{len(ids)} characters, a window needs {length + 1}")
    usable = ids[: count * length + 1]
    return (
        usable[:-1].reshape(count, length).astype(np.int32),
        usable[1:].reshape(count, length).astype(np.int32),
    )
