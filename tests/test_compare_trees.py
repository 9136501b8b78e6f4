"""benchmarks/compare_trees.py: two built trees compared file by file, run as its command line
on trees written here."""

import json
import subprocess
import sys

from tests.conftest import ROOT

SCRIPT = ROOT / "benchmarks" / "compare_trees.py"


def _tree(root, files):
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def _compare(before, after, *args):
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(before), str(after), *args],
        capture_output=True,
        text=True,
        check=False,
    )


def test_only_what_differs_outside_the_allowed_globs_and_keys_fails(tmp_path):
    summary = {"mnist": {"top1": 98.61, "build_s": 0.5, "runs": [{"seconds": 1.0}]}}
    before = _tree(
        tmp_path / "before",
        {
            "results/a.txt": "same",
            "results/summary.json": json.dumps(summary),
            "engines/m.plan": "plan one",
            "logs/x.log": "not an output",
        },
    )
    summary["mnist"]["build_s"], summary["mnist"]["runs"][0]["seconds"] = 0.7, 2.0
    after = _tree(
        tmp_path / "after",
        {
            "results/a.txt": "same",
            "results/summary.json": json.dumps(summary),
            "engines/m.plan": "plan two",
            "logs/x.log": "other log",
        },
    )
    allowed = ["--may-differ", "engines/*.plan", "--ignore-keys", "build_s", "seconds"]
    kept = _compare(before, after, *allowed)
    assert kept.returncode == 0, kept.stdout
    assert kept.stdout.splitlines()[0] == (
        "1 identical files, 1 differ only in --ignore-keys, 1 allowed to differ, 0 differ"
    )
    strict = _compare(before, after)
    assert strict.returncode == 1
    assert "DIFFERS: engines/m.plan" in strict.stdout
    assert "DIFFERS: results/summary.json" in strict.stdout

    summary["mnist"]["top1"] = 98.60  # a metric, not a wall time
    (after / "results/summary.json").write_text(json.dumps(summary))
    (after / "results/extra.txt").write_text("new")
    moved = _compare(before, after, *allowed)
    assert moved.returncode == 1
    assert "DIFFERS: results/summary.json" in moved.stdout
    assert "DIFFERS: results/extra.txt (only after)" in moved.stdout
