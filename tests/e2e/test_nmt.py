"""The nmt sample's tiny chain in its own tree: number phrases (French, English) -> TensorFlow
training -> checkpoint -> chpt_to_bin's seven files -> encoder and decoder-step graphs checked
against TensorFlow -> FP32 and FP16 engines of each (the encoder's with its loop) -> beam
search, BLEU, translations and benchmark per precision; then the command-line tools on that
tree."""

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT, copy_workflow, snakemake
from tests.e2e.conftest import TINY
from workflow.data.translation import WMT16_FILES
from workflow.netdef.nmt import FILES
from workflow.samples import load_registry

pytestmark = pytest.mark.slow


def test_chain_from_number_phrases_to_engines_and_bleu(text_tree):
    tree = text_tree  # the text run: the translator's tiny chain among others
    registry = load_registry(tree / "config/samples.yaml")
    targets = registry.targets("nmt", ["fp32", "fp16", "int8"])
    assert "engines/nmt_decoder_fp16.plan" in targets and "engines/nmt_encoder_fp32.plan" in targets
    for target in targets:
        assert (tree / target).exists(), target
    data = tree / "results/data/translation-numbers"
    assert len((data / "train.fr").read_text().splitlines()) == 300
    assert (data / "vocab.en").read_text().splitlines()[:3] == ["<unk>", "<s>", "</s>"]
    for name in FILES:
        assert (tree / f"results/weights/nmt/{name}.bin").read_bytes().endswith(b"trtsamplenmt")
    parity = json.loads((tree / "results/onnx/nmt_decoder/model.parity.json").read_text())
    assert parity["greedy_identical"] and parity["max_abs_diff"] <= parity["tolerance"]
    assert parity["sentences"] == 8
    for precision in ("fp32", "fp16"):
        encoder = json.loads((tree / f"engines/nmt_encoder_{precision}.plan.json").read_text())
        assert encoder["build"]["profile"]["source"] == {
            "min": [1, 1],
            "opt": [8, 16],
            "max": [64, 24],
        }
        decoder = json.loads((tree / f"engines/nmt_decoder_{precision}.plan.json").read_text())
        assert decoder["build"]["profile"]["scores"]["max"] == [64, 5]
        assert decoder["build"]["profile"]["keys"]["max"] == [64 * 5, 24, 16]
        layers = json.loads((tree / f"engines/nmt_encoder_{precision}.layers.json").read_text())
        assert any(layer["type"] == "cjmp" for layer in layers["layers"])  # the LSTM's loop
        assert layers["loop_jumps"] > 0
        score = json.loads((tree / f"results/score/nmt/{precision}/bleu.json").read_text())
        assert score["count"] == 40 and score["beam"] == 5 and "greedy" in score
        assert 0 <= score["bleu"] <= 100 and score["signature"].startswith("nrefs:1")
        bench = json.loads((tree / f"results/score/nmt/{precision}/benchmark.json").read_text())
        assert bench["beam"]["decoder_calls"] > 0 and bench["greedy"]["beam"] == 1
        lines = (tree / f"results/score/nmt/{precision}/translations.txt").read_text().splitlines()
        assert len(lines) == 40 and all(line.count("\t") == 2 for line in lines)
    fp16 = json.loads((tree / "results/score/nmt/fp16/bleu.json").read_text())
    assert fp16["runner"].startswith("numpy float16")
    summary = json.loads((tree / "results/score/nmt/precisions.json").read_text())
    assert sorted(summary["precisions"]) == ["fp16", "fp32"]


def test_command_line_tools_on_the_tree(text_tree, tmp_path):
    tree = text_tree
    out = tmp_path / "bins"
    chpt = [sys.executable, str(ROOT / "scripts/cli/chpt_to_bin.py")]
    done = subprocess.run(
        [*chpt, "--ckpt", str(tree / "results/train/nmt/translate.ckpt"), "--out_dir", str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "units 16" in done.stdout
    for name in FILES:  # the rule's files and the tool's are the same bytes
        assert (out / f"{name}.bin").read_bytes() == (
            tree / f"results/weights/nmt/{name}.bin"
        ).read_bytes()
    (out / "decatt.bin").write_bytes((out / "decatt.bin").read_bytes()[:-5])
    bad = subprocess.run([*chpt, "--check", str(out)], capture_output=True, text=True)
    assert bad.returncode == 2 and "decatt.bin" in bad.stderr and "footer" in bad.stderr
    tool = [
        sys.executable,
        str(ROOT / "scripts/cli/translate.py"),
        "--data_dir",
        str(tree / "results/data/translation-numbers"),
        "--weights",
        str(tree / "results/weights/nmt"),
    ]
    bleu = subprocess.run(
        [*tool, "--onnx_dir", str(tree / "results/onnx"), "--max_inference_samples", "10"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert bleu.stdout.startswith("BLEU ") and "over 10 sentences" in bleu.stdout
    text = tmp_path / "out.txt"
    subprocess.run(
        [
            *tool,
            "--runtime",
            "numpy",
            "--fp16",
            "--data_writer",
            "text",
            "--output_file",
            str(text),
        ],
        check=True,
        capture_output=True,
    )
    assert len(text.read_text().splitlines()) == 40
    bench = subprocess.run(
        [*tool, "--runtime", "numpy", "--beam", "2", "--data_writer", "benchmark"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(bench.stdout)["beam"]["beam"] == 2
    missing = subprocess.run([*tool, "--runtime", "ort"], capture_output=True, text=True)
    assert missing.returncode == 2 and "--onnx_dir" in missing.stderr


def test_wmt16_files_placed_by_hand_are_checked(tmp_path):
    """source wmt16: the seed's files are checked against the guide's md5 sums, and without a
    download address the error says where to place them."""
    work = copy_workflow(tmp_path / "wmt16")
    train = tmp_path / "train"
    for lang in ("de", "en"):
        (tmp_path / f"train.{lang}").write_text("a b\n")
    wmt = {"source": "wmt16", "source_lang": "de", "wmt16": {"train": str(train)}}
    args = ["--configfile", TINY, "--config", "samples=[nmt]", f"data={{'translation': {wmt}}}"]
    missing = snakemake(work, "results/data/translation-wmt16", "--cores", "1", *args, check=False)
    said = missing.stdout + missing.stderr  # whichever download ran first
    assert missing.returncode != 0 and "no download address is known" in said
    assert "place it at resources/wmt16/" in said and "(md5 " in said
    (work / "resources/wmt16").mkdir(parents=True)
    for name in WMT16_FILES:
        (work / "resources/wmt16" / name).write_text("not the file\n")
    wrong = snakemake(work, "results/data/translation-wmt16", "--cores", "1", *args, check=False)
    assert (
        wrong.returncode != 0
        and "expected 3c0a6e29d67b081a961febc6e9f53e4c" in wrong.stdout + wrong.stderr
    )
