"""The translator's parallel text (sampleNMT): sentence pairs, tokenized, with a vocabulary per
language, in the layout of the TensorFlow NMT tutorial the seed trained with
(``train.<src>``/``train.<tgt>``, ``test.<src>``/``test.<tgt>``: one sentence per line, tokens
separated by single spaces; ``vocab.<lang>``: one token per line, ``<unk>``, ``<s>``, ``</s>``
first).

Sources (config ``data.translation.source``):

* ``numbers`` (no network): cardinal numbers written out in French and in English by
  num2words (its per-language rules are the "grammar"; the pairs are what a person writes).
  French -> English has what makes translation hard in a small space: words that reorder and
  merge (``quatre-vingt-dix-sept`` -> ``ninety-seven``, ``soixante et onze`` ->
  ``seventy-one``), words with no counterpart (``and``, the comma after thousands) and
  agreement (``quatre-vingts`` / ``quatre-vingt-un``). Numbers are drawn seeded, the number of
  digits uniform, so small and large numbers are equally common; test numbers never occur in
  training.
* ``wmt16``: the seed's newstest2015 German-English test set and BPE vocabulary (checksummed
  download, md5 sums from the seed's guide); the training pairs come from your files
  (``data.translation.wmt16.train``), as the seed's came from the NMT tutorial's script.

Tokens: words, and ``-`` and ``,`` as tokens of their own (:func:`tokenize`);
:func:`detokenize` undoes it exactly for the generated pairs, and joins BPE pieces (``@@ ``).
"""

import re
from pathlib import Path

import numpy as np

from workflow.errors import DataError
from workflow.io import write_atomically

#: Special tokens, first in every vocabulary (TensorFlow NMT's order): unknown, start, end.
UNK, SOS, EOS = "<unk>", "<s>", "</s>"
SPECIALS = (UNK, SOS, EOS)
#: The seed's WMT16 files: name -> md5 (Samples Support Guide 5.1, section 11.2).
WMT16_FILES = {
    "newstest2015.tok.bpe.32000.de": "3c0a6e29d67b081a961febc6e9f53e4c",
    "newstest2015.tok.bpe.32000.en": "875215f2951b21a5140e4f3734b47d6c",
    "vocab.bpe.32000.de": "c1d0ca6d4994c75574f28df7c9e8253f",
    "vocab.bpe.32000.en": "c1d0ca6d4994c75574f28df7c9e8253f",
}
_TOKEN = re.compile(r"[^\s,-]+|[,-]")


def tokenize(sentence: str) -> list[str]:
    """Words, hyphens and commas of ``sentence`` as tokens."""
    return _TOKEN.findall(sentence)


def detokenize(tokens: list[str]) -> str:
    """The sentence of ``tokens``: hyphens joined to both neighbours, commas to the word before,
    BPE pieces (``@@``) to the next one."""
    text = " ".join(tokens).replace("@@ ", "")
    return re.sub(r" ?- ?", "-", text).replace(" ,", ",")


def draw_numbers(
    count: int, *, max_digits: int, seed: int, exclude: set[int] = frozenset()
) -> list[int]:
    """``count`` distinct numbers, the number of digits (1 .. ``max_digits``) uniform, none in
    ``exclude``.

    Raises:
        DataError: fewer such numbers exist than asked for.
    """
    available = 10**max_digits - len(exclude)
    if count > available:
        raise DataError("data.translation", f"{count} numbers asked for, {available} exist")
    rng = np.random.default_rng(seed)
    chosen: dict[int, None] = {}
    while len(chosen) < count:
        digits = int(rng.integers(1, max_digits + 1))
        low = 0 if digits == 1 else 10 ** (digits - 1)
        number = int(rng.integers(low, 10**digits))
        if number not in exclude:
            chosen[number] = None
    return list(chosen)


def number_pairs(numbers: list[int], *, source: str, target: str) -> list[tuple[str, str]]:
    """Each number written out in the ``source`` and ``target`` languages (num2words)."""
    from num2words import num2words

    try:
        return [(num2words(n, lang=source), num2words(n, lang=target)) for n in numbers]
    except NotImplementedError as err:
        raise DataError("data.translation", f"num2words has no language {err}") from err


def write_pairs(
    folder: str | Path, split: str, pairs: list[tuple[str, str]], *, source: str, target: str
) -> None:
    """``<split>.<source>`` and ``<split>.<target>``: one tokenized sentence per line."""
    folder = Path(folder)
    for index, lang in enumerate((source, target)):
        lines = "".join(" ".join(tokenize(pair[index])) + "\n" for pair in pairs)
        write_atomically(folder / f"{split}.{lang}", lines.encode())


def write_vocab(folder: str | Path, lang: str, sentences: list[list[str]]) -> list[str]:
    """``vocab.<lang>``: the special tokens, then every token of ``sentences`` sorted."""
    vocab = [*SPECIALS, *sorted({t for s in sentences for t in s} - set(SPECIALS))]
    write_atomically(Path(folder) / f"vocab.{lang}", "".join(t + "\n" for t in vocab).encode())
    return vocab


def read_lines(path: str | Path) -> list[list[str]]:
    """A tokenized file: one list of tokens per line.

    Raises:
        DataError: missing, not UTF-8, or empty.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(path, f"unreadable as UTF-8 text ({err})") from err
    lines = [line.split() for line in text.splitlines()]
    if not lines:
        raise DataError(path, "no sentences")
    return lines


def read_vocab(path: str | Path) -> list[str]:
    """A vocabulary file, checked to start with the special tokens and to hold no token twice.

    Raises:
        DataError: naming what is wrong.
    """
    vocab = [line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines()]
    vocab = [token for token in vocab if token]
    if tuple(vocab[:3]) != SPECIALS:
        raise DataError(path, f"starts with {vocab[:3]}", f"a vocabulary starts with {SPECIALS}")
    if len(set(vocab)) != len(vocab):
        raise DataError(path, "holds a token twice")
    return vocab


def encode(sentences: list[list[str]], vocab: list[str]) -> list[np.ndarray]:
    """Token ids of each sentence; unknown tokens become ``<unk>``."""
    index = {token: i for i, token in enumerate(vocab)}
    return [np.array([index.get(t, 0) for t in s], np.int32) for s in sentences]


def read_parallel(folder: str | Path, split: str, *, source: str, target: str) -> tuple:
    """``(source sentences, target sentences)`` of a split, checked to pair up.

    Raises:
        DataError: the files differ in line count.
    """
    folder = Path(folder)
    src = read_lines(folder / f"{split}.{source}")
    tgt = read_lines(folder / f"{split}.{target}")
    if len(src) != len(tgt):
        raise DataError(
            folder, f"{split}.{source} has {len(src)} lines, {split}.{target} {len(tgt)}"
        )
    return src, tgt


def write_translation_data(folder: str | Path, cfg: dict, files: dict[str, str]) -> dict[str, int]:
    """Write the pairs and vocabularies of config ``data.translation`` (``files``: the WMT16
    files by name and your training pairs ``train_de``/``train_en``, for source wmt16); return
    the sizes.

    Raises:
        DataError: unreadable files, or pairs that do not line up.
    """
    src, tgt = cfg["source_lang"], cfg["target_lang"]
    folder = Path(folder)
    if cfg["source"] == "numbers":
        train_numbers = draw_numbers(cfg["train"], max_digits=cfg["max_digits"], seed=cfg["seed"])
        test_numbers = draw_numbers(
            cfg["test"],
            max_digits=cfg["max_digits"],
            seed=cfg["seed"] + 1,
            exclude=set(train_numbers),
        )
        for split, numbers in (("train", train_numbers), ("test", test_numbers)):
            write_pairs(
                folder, split, number_pairs(numbers, source=src, target=tgt), source=src, target=tgt
            )
        for lang in (src, tgt):
            write_vocab(folder, lang, read_lines(folder / f"train.{lang}"))
    else:
        if (src, tgt) != ("de", "en"):
            raise DataError(
                "data.translation", f"{src} -> {tgt} with wmt16", "the seed's set is de -> en"
            )
        for lang in (src, tgt):
            for split, name in (
                ("train", files[f"train_{lang}"]),
                ("test", files[f"newstest2015.tok.bpe.32000.{lang}"]),
            ):
                lines = read_lines(name)
                write_atomically(
                    folder / f"{split}.{lang}", "".join(" ".join(t) + "\n" for t in lines).encode()
                )
            vocab = [
                t
                for t in Path(files[f"vocab.bpe.32000.{lang}"]).read_text("utf-8").split("\n")
                if t
            ]
            vocab = [*SPECIALS, *(t for t in vocab if t not in SPECIALS)]
            write_atomically(folder / f"vocab.{lang}", "".join(t + "\n" for t in vocab).encode())
    sizes = {}
    for split in ("train", "test"):
        pairs = read_parallel(folder, split, source=src, target=tgt)
        sizes[split] = len(pairs[0])
    for lang in (src, tgt):
        sizes[f"vocab_{lang}"] = len(read_vocab(folder / f"vocab.{lang}"))
    return sizes
