"""The workflow passes Snakemake's linter, snakefmt and ruff; downloads stay out of git."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, copy_workflow, snakemake

BIN = Path(sys.executable).parent


@pytest.mark.slow
def test_snakemake_lint_is_clean(tmp_path):
    out = snakemake(copy_workflow(tmp_path / "lint"), "--lint")
    assert "Congratulations, your workflow is in a good condition!" in out.stdout + out.stderr


@pytest.mark.slow
def test_snakefmt_and_ruff_are_clean():
    files = ["Snakefile", *map(str, sorted((ROOT / "rules").glob("*.smk")))]
    for command in ([str(BIN / "snakefmt"), "--check", *files], [str(BIN / "ruff"), "check", "."]):
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr


def test_download_folders_are_ignored_by_git():
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    schema = yaml.safe_load((ROOT / "config" / "config.schema.yaml").read_text())["properties"]
    data = schema["data"]["properties"]
    folders = [
        data["mnist"]["properties"]["download"]["properties"]["dir"]["default"],
        data["detect"]["properties"]["voc2007"]["properties"]["dir"]["default"],
    ]
    assert all(folder.startswith("resources/") for folder in folders)
    for folder in folders:
        probe = f"{folder}/archive.tar"
        result = subprocess.run(["git", "check-ignore", "-q", probe], cwd=ROOT)
        assert result.returncode == 0, f"{probe} is not ignored by .gitignore"
    kept = subprocess.run(["git", "check-ignore", "-q", "resources/README.md"], cwd=ROOT)
    assert kept.returncode == 1  # the README is tracked
