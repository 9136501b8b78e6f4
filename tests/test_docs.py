"""The documentation: README.md as the index, docs/ built by MkDocs with every warning an error,
every page in the navigation and every relative link pointing to a file that exists."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

DOCS = ROOT / "docs"
MKDOCS = Path(sys.executable).parent / "mkdocs"
#: Markdown link or image targets: [text](target) and [text](target "title").
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
#: Code spans and fenced or indented code, whose brackets are not links.
CODE = re.compile(r"```.*?```|`[^`\n]*`", re.S)


def nav_pages(nav: list) -> list[str]:
    """Every page file named in MkDocs' nav, sections flattened."""
    pages = []
    for entry in nav:
        values = entry.values() if isinstance(entry, dict) else [entry]
        for value in values:
            pages += nav_pages(value) if isinstance(value, list) else [value]
    return pages


def relative_links(markdown: Path) -> list[str]:
    """The link targets of a Markdown file that point into the repository (no scheme, not an
    anchor of the page itself), outside code spans and indented code blocks."""
    text = CODE.sub("", markdown.read_text(encoding="utf-8"))
    text = "\n".join(line for line in text.splitlines() if not line.startswith("    "))
    targets = [match.group(1) for match in LINK.finditer(text)]
    return [t for t in targets if not re.match(r"^[a-z][a-z0-9+.-]*:", t) and not t.startswith("#")]


def test_every_docs_page_is_in_the_nav_and_every_nav_entry_exists():
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    assert config["strict"] is True and config["docs_dir"] == "docs"
    listed = nav_pages(config["nav"])
    assert len(listed) == len(set(listed)), "a page is listed twice in mkdocs.yml's nav"
    pages = sorted(str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md"))
    assert sorted(listed) == pages, (
        f"docs pages not in mkdocs.yml's nav: {sorted(set(pages) - set(listed))}; "
        f"nav entries without a page: {sorted(set(listed) - set(pages))}"
    )


@pytest.mark.parametrize(
    "markdown",
    [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_every_relative_link_points_to_an_existing_file(markdown):
    missing = []
    for target in relative_links(markdown):
        path = target.split("#", 1)[0]
        if path and not (markdown.parent / path).exists():
            missing.append(target)
    assert not missing, f"{markdown.relative_to(ROOT)} links to missing files: {missing}"


def test_the_link_reader_finds_links_and_skips_code(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        '[a](a.md) and ![b](img/b.png "B") and [c](https://example.org) [d](#here)\n'
        "`[e](e.md)` in code\n\n    [f](f.md) indented code\n\n```\n[g](g.md)\n```\n"
        "[h](../h.md#part)\n",
        encoding="utf-8",
    )
    assert relative_links(page) == ["a.md", "img/b.png", "../h.md#part"]


@pytest.mark.slow
def test_the_docs_build_strictly(tmp_path):
    if not MKDOCS.exists() and shutil.which("mkdocs") is None:
        pytest.skip("mkdocs is not installed (the test extra: pip install -e '.[test]')")
    command = str(MKDOCS) if MKDOCS.exists() else "mkdocs"
    result = subprocess.run(
        [command, "build", "--strict", "--quiet", "-d", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "site" / "index.html").exists()
