"""Print the results summary of a run (results/summary.json, rule summary) as a table: every
sample in every precision it built, its task metric, the drop against FP32, the ONNX and plan
sizes, the engine build job's time and the share of compute layers in the intended precision;
then the seed samples covered and the samples not built, with the command that builds them.

    trtsamples summary             # everything, in run order
    trtsamples summary --task detect --sort value
    trtsamples summary ssd yolov3 --precision int8

Exit status 2 when the summary is missing or a filter matches nothing.
"""

import argparse
import json
import sys
from pathlib import Path

from workflow.report.summary import COLUMNS, format_table

SORTABLE = [key for key in COLUMNS if key not in ("metric",)]


def main(argv: list[str] | None = None, *, prog: str | None = None) -> int:
    """Run the tool on ``argv`` (default: the command line) under the name ``prog``
    (default: the program's file name); return its exit status."""
    parser = argparse.ArgumentParser(
        prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("samples", nargs="*", help="only these samples (default: all)")
    parser.add_argument("--task", help="only samples of this task (classify, detect, ...)")
    parser.add_argument("--precision", help="only this precision")
    parser.add_argument(
        "--sort", choices=SORTABLE, help="sort by this column (numbers: largest first)"
    )
    parser.add_argument("--summary", default="results/summary.json", help="default: %(default)s")
    args = parser.parse_args(argv)
    path = Path(args.summary)
    if not path.is_file():
        print(
            f"{path} | missing | run `snakemake --cores 2` (or `snakemake {path}`) first",
            file=sys.stderr,
        )
        return 2
    summary = json.loads(path.read_text())
    rows = [
        row
        for row in summary["rows"]
        if (not args.samples or row["sample"] in args.samples)
        and (not args.task or row["task"] == args.task)
        and (not args.precision or row["precision"] == args.precision)
    ]
    if not rows:
        print("no row matches the filters", file=sys.stderr)
        return 2
    if args.sort:
        numeric = args.sort not in ("sample", "task", "precision")
        rows.sort(
            key=lambda r: (r[args.sort] is None, -(r[args.sort] or 0) if numeric else r[args.sort])
        )
    print(format_table(rows), end="")
    seeds = summary["seed_samples"]
    print(
        f"\nseed samples covered: {len(seeds['covered'])} of {len(seeds['registered'])} registered"
    )
    for item in summary["not_built"]:
        needs = f" (needs {item['needs']})" if item["needs"] else ""
        print(f"not built: {item['sample']}{needs}: {item['command']}")
    return 0
