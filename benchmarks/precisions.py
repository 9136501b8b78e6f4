"""The opt-in precisions (FP8, INT4 weight-only) measured on a built tree: the table of
docs/reduced-precision.md ("FP8 and INT4 weight-only graphs").

Reads a copy of the workflow in which the default run and the opt-in targets were built
(``snakemake --cores 2 --config 'precisions=[fp32,fp16,int8,fp8,int4w]'``, plus the ocr
sample's FP32 and FP8 targets), collects per registry row that lists fp8 or int4w its task
metric in FP32, FP16 and that precision, the drops, the plan sizes and the layers in the
precision (workflow.report.opt_in), writes benchmarks/results/precisions.json and regenerates
the table. No engine is executed: the metrics come from ONNX Runtime on the graphs the
engines are built from (the character model: numpy runs of its network description).

    .venv/bin/python benchmarks/precisions.py --tree /tmp/defrun-d
    .venv/bin/python benchmarks/precisions.py --docs-only   # the table from the committed JSON
"""

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from workflow.report.opt_in import collect, render_table, replace_between  # noqa: E402
from workflow.samples import load_registry  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "precisions.json"
DOC = ROOT / "docs" / "reduced-precision.md"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tree", type=Path, help="the built copy of the workflow")
    parser.add_argument("--docs-only", action="store_true", help="only regenerate the table")
    args = parser.parse_args()
    if not args.docs_only:
        if args.tree is None:
            parser.error("--tree is needed unless --docs-only")
        measured = collect(args.tree, load_registry(args.tree / "config" / "samples.yaml"))
        OUT.parent.mkdir(parents=True, exist_ok=True)
        OUT.write_text(json.dumps(measured, indent=1, sort_keys=True) + "\n")
    measured = json.loads(OUT.read_text())
    DOC.write_text(replace_between(DOC.read_text(), render_table(measured)))
    print(render_table(measured))


if __name__ == "__main__":
    main()
