"""The report's menu is read by whole labels: a category named like the start of another is
not found inside it."""

import pytest

from tests.conftest import snakemake
from tests.report.rendered import menu_labels, rendered_dom

SNAKEFILE = """
rule all:
    input:
        "a.txt",
        "b.txt",


rule make:
    output:
        report("{name}.txt", category=lambda w: {"a": "mnist_tf", "b": "ssd"}[w.name]),
    shell:
        "echo {wildcards.name} > {output}"
"""


@pytest.mark.slow
def test_menu_labels_are_whole_category_names(tmp_path):
    (tmp_path / "Snakefile").write_text(SNAKEFILE)
    snakemake(tmp_path, "--cores", "1")
    snakemake(tmp_path, "--report", "report.html")
    dom = rendered_dom(tmp_path / "report.html", tmp_path / "profile")
    labels = menu_labels(dom)
    assert labels == ["Workflow", "Statistics", "About", "mnist_tf", "ssd"]
    assert "mnist" in dom and "mnist" not in labels  # the substring test this replaces
