"""Where INT8 leaves FP32, for every INT8 sample of a built tree: the table of
docs/reduced-precision.md ("Where a reduced precision leaves FP32").

Reads a copy of the workflow in which the default run and, for every INT8 graph of the default
config's samples, its divergence and sensitivity reports were built:

    snakemake --cores 2 $(for g in mnist mnist_tf resnet50 ssd yolov3 faster_rcnn_rpn \\
        faster_rcnn_head movielens ocr_det ocr_rec; do
        echo results/precision/$g/int8.{divergence,sensitivity}.json; done)

collects per graph its output SNR and cosine against FP32, the first tensor below the
threshold, the most sensitive quantized node, the report jobs' wall times and the sample's
metric in FP32 and INT8 (workflow.report.precision_reports), writes
benchmarks/results/precision_reports.json, prints the graphs flagged for a mixed INT8/FP32
graph (a drop over 0.5 points or an output cosine under 0.99) and regenerates the table. No
engine is executed: both reports run ONNX Runtime on the graphs the engines are built from.

    .venv/bin/python benchmarks/precision_reports.py --tree /tmp/defrun-a1
    .venv/bin/python benchmarks/precision_reports.py --tree /tmp/ocrtree --samples ocr
    .venv/bin/python benchmarks/precision_reports.py --docs-only  # from the JSON

With --samples, only those samples' rows are read from the tree (one that built just their
reports) and replace theirs in the committed JSON; the other rows stay.
"""

import argparse
import json
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from workflow.report.precision_reports import (  # noqa: E402
    collect,
    int8_graphs,
    merge,
    render_table,
    replace_between,
)
from workflow.samples import load_registry  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "precision_reports.json"
DOC = ROOT / "docs" / "reduced-precision.md"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tree", type=Path, help="the built copy of the workflow")
    parser.add_argument("--docs-only", action="store_true", help="only regenerate the table")
    parser.add_argument(
        "--samples", nargs="+", help="read only these samples from the tree; keep the other rows"
    )
    args = parser.parse_args()
    if not args.docs_only:
        if args.tree is None:
            parser.error("--tree is needed unless --docs-only")
        config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text(encoding="utf-8"))
        registry = load_registry(args.tree / "config" / "samples.yaml")
        if args.samples:
            unknown = sorted(set(args.samples) - set(config["samples"]))
            if unknown:
                parser.error(f"not samples of the default config: {unknown}")
            measured = merge(
                json.loads(OUT.read_text(encoding="utf-8")),
                collect(args.tree, registry, args.samples),
                int8_graphs(registry, config["samples"]),
            )
        else:
            measured = collect(args.tree, registry, config["samples"])
        OUT.parent.mkdir(parents=True, exist_ok=True)
        OUT.write_text(json.dumps(measured, indent=2) + "\n", encoding="utf-8")
        for entry in measured["flagged"]:
            print(f"flagged: {entry['sample']} ({entry['graph']}): {', '.join(entry['why'])}")
    measured = json.loads(OUT.read_text(encoding="utf-8"))
    DOC.write_text(replace_between(DOC.read_text(encoding="utf-8"), render_table(measured)))
    print(render_table(measured), end="")


if __name__ == "__main__":
    main()
