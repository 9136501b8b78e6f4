"""The character model's text: the embedded corpus, its splits, encoding and windows."""

import json

import numpy as np
import pytest

from workflow.data.text import (
    decode,
    embedded_text,
    encode,
    read_split,
    read_vocab,
    windows,
    write_corpus,
)
from workflow.errors import DataError


def test_embedded_text_is_cpythons_help_in_ascii():
    text = embedded_text()
    assert len(text) > 400_000 and text.isascii()
    assert 'The "for" statement is used to iterate' in text  # a topic of the reference
    assert text == embedded_text()  # a pure function of the installed Python


def test_corpus_splits_at_the_end_and_round_trips(tmp_path):
    text = "abcdefghij" * 150
    sizes = write_corpus(tmp_path, text, test_fraction=0.1)
    assert sizes == {"train": 1350, "test": 150, "vocab": 10}
    train, vocab = read_split(tmp_path, "train")
    test, _ = read_split(tmp_path, "test")
    assert decode(np.concatenate([train, test]), vocab) == text
    assert read_vocab(tmp_path) == sorted(set(text))


def test_bad_text_is_refused(tmp_path):
    with pytest.raises(DataError, match="at least 1000"):
        write_corpus(tmp_path, "short", test_fraction=0.1)
    with pytest.raises(DataError, match=r"outside the vocabulary: \['z'\]"):
        encode("abz", ["a", "b"], where="seed")
    (tmp_path / "vocab.json").write_text(json.dumps(["a", "a"]))
    with pytest.raises(DataError, match="distinct"):
        read_vocab(tmp_path)


def test_windows_pair_each_character_with_the_next():
    ids = np.arange(11, dtype=np.int32)
    inputs, targets = windows(ids, 5)
    assert inputs.tolist() == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]
    assert targets.tolist() == [[1, 2, 3, 4, 5], [6, 7, 8, 9, 10]]
    with pytest.raises(DataError, match="a window needs 6"):
        windows(ids[:5], 5)
