"""The translator's sentence pairs: number phrases in two languages, tokens, vocabularies, the
seed's WMT16 files (checksums) and your own pairs."""

import pytest

from workflow.data.translation import (
    SPECIALS,
    WMT16_FILES,
    detokenize,
    draw_numbers,
    number_pairs,
    read_parallel,
    read_vocab,
    tokenize,
    write_translation_data,
)
from workflow.errors import DataError

NUMBERS = {
    "source": "numbers",
    "source_lang": "fr",
    "target_lang": "en",
    "train": 200,
    "test": 30,
    "max_digits": 4,
    "seed": 0,
}


def test_phrases_are_real_french_and_english():
    pairs = dict(
        zip([97, 71, 2024], number_pairs([97, 71, 2024], source="fr", target="en"), strict=True)
    )
    assert pairs[97] == ("quatre-vingt-dix-sept", "ninety-seven")
    assert pairs[71] == ("soixante et onze", "seventy-one")
    assert pairs[2024] == ("deux mille vingt-quatre", "two thousand and twenty-four")


@pytest.mark.parametrize(
    "sentence",
    ["quatre-vingt-dix-sept", "one thousand, nine hundred and ninety-nine", "soixante et onze"],
)
def test_tokens_round_trip(sentence):
    assert detokenize(tokenize(sentence)) == sentence
    assert "-" not in [t for t in tokenize(sentence) if t != "-" and "-" in t]


def test_bpe_pieces_join():
    assert detokenize(["Die", "Kon@@", "ferenz", "endet", "."]) == "Die Konferenz endet ."


def test_numbers_are_distinct_seeded_and_spread_over_lengths():
    first = draw_numbers(500, max_digits=5, seed=3)
    assert first == draw_numbers(500, max_digits=5, seed=3) and len(set(first)) == 500
    digits = {len(str(n)) for n in first}
    assert digits == {1, 2, 3, 4, 5}
    test = draw_numbers(50, max_digits=5, seed=4, exclude=set(first))
    assert not set(test) & set(first)
    with pytest.raises(DataError, match="exist"):
        draw_numbers(11, max_digits=1, seed=0)


def test_generated_data_folder(tmp_path):
    sizes = write_translation_data(tmp_path, NUMBERS, {})
    assert sizes == {
        "train": 200,
        "test": 30,
        "vocab_fr": sizes["vocab_fr"],
        "vocab_en": sizes["vocab_en"],
    }
    vocab = read_vocab(tmp_path / "vocab.en")
    assert tuple(vocab[:3]) == SPECIALS and "thousand" in vocab and "," in vocab
    src, tgt = read_parallel(tmp_path, "test", source="fr", target="en")
    assert len(src) == len(tgt) == 30
    again = tmp_path / "again"
    write_translation_data(again, NUMBERS, {})
    assert (again / "train.fr").read_bytes() == (tmp_path / "train.fr").read_bytes()


def test_unknown_language_and_bad_files_are_refused(tmp_path):
    with pytest.raises(DataError, match="no language"):
        number_pairs([1], source="xx", target="en")
    (tmp_path / "vocab.en").write_text("a\nb\n")
    with pytest.raises(DataError, match="starts with"):
        read_vocab(tmp_path / "vocab.en")
    (tmp_path / "test.fr").write_text("un\ndeux\n")
    (tmp_path / "test.en").write_text("one\n")
    with pytest.raises(DataError, match="2 lines"):
        read_parallel(tmp_path, "test", source="fr", target="en")


def test_wmt16_files_carry_the_seed_md5s():
    assert WMT16_FILES["newstest2015.tok.bpe.32000.de"] == "3c0a6e29d67b081a961febc6e9f53e4c"
    assert WMT16_FILES["vocab.bpe.32000.de"] == WMT16_FILES["vocab.bpe.32000.en"]


def test_wmt16_layout_from_files(tmp_path):
    """Files placed as the seed's (here small stand-ins: the real ones need a download): the
    test set and vocabulary become the data folder, your training pairs its train split."""
    files = {}
    for lang, line in (("de", "Die Kon@@ ferenz ."), ("en", "The con@@ ference .")):
        for name, text in (
            (f"newstest2015.tok.bpe.32000.{lang}", line + "\n"),
            (f"vocab.bpe.32000.{lang}", "<unk>\n<s>\n</s>\nDie\nThe\n."),
            (f"train.{lang}", line + "\n" + line + "\n"),
        ):
            (tmp_path / name).write_text(text)
            files[name] = str(tmp_path / name)
        files[f"train_{lang}"] = files.pop(f"train.{lang}")
    cfg = NUMBERS | {"source": "wmt16", "source_lang": "de", "target_lang": "en"}
    sizes = write_translation_data(tmp_path / "out", cfg, files)
    assert sizes["train"] == 2 and sizes["test"] == 1 and sizes["vocab_de"] == 6
    with pytest.raises(DataError, match="de -> en"):
        write_translation_data(tmp_path / "x", cfg | {"source_lang": "fr"}, files)
