"""Snakemake's HTML report as Chromium draws it: its DOM, and the labels of its menu."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--virtual-time-budget=15000",
]
#: A menu entry: a link holding an icon and its label (Snakemake 9's AbstractMenu.getMenuItem).
MENU_ITEM = re.compile(r'<li><a href="#"[^>]*>(?:(?!</a>).)*?<span>([^<]*)</span></a></li>', re.S)


def chromium() -> str:
    """Debian's chromium; skip without it (fail in CI, which installs it)."""
    path = shutil.which("chromium")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: .ci/run installs Debian's chromium package")
        pytest.skip("Debian's chromium is not installed here")
    return path


def rendered_dom(report: Path, profile: Path) -> str:
    """The report's DOM after its JavaScript ran, scripts removed."""
    dom = subprocess.run(
        [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", report.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    return re.sub(r"<script.*?</script>", "", dom, flags=re.S)


def menu_labels(dom: str) -> list[str]:
    """The labels of the report's menu entries, whole (Workflow, Statistics, About, then one
    per result category)."""
    return MENU_ITEM.findall(dom)
