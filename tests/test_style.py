"""The workflow passes Snakemake's linter, snakefmt and ruff."""

import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT, copy_workflow, snakemake

BIN = Path(sys.executable).parent


def test_snakemake_lint_is_clean(tmp_path):
    out = snakemake(copy_workflow(tmp_path / "lint"), "--lint")
    assert "Congratulations, your workflow is in a good condition!" in out.stdout + out.stderr


def test_snakefmt_and_ruff_are_clean():
    files = ["Snakefile", *map(str, sorted((ROOT / "rules").glob("*.smk")))]
    for command in ([str(BIN / "snakefmt"), "--check", *files], [str(BIN / "ruff"), "check", "."]):
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr
