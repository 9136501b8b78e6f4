"""Run every built engine and the ONNX graph it computes on the same inputs.

Like ``polygraphy run --trt --onnxrt``: for each ``*.plan.json`` in the engines folder, seeded
random inputs (integer inputs drawn over the table they index) go through TensorRT and ONNX
Runtime, and the max and mean absolute difference of every output is reported; an output
naming a TopK's winners is compared by the reference's values of what it picks.

    trtsamples verify-engines [--engines engines/] [--atol A] [--rtol R]

Tolerances follow each engine's precision (FP32 1e-4 abs / 1e-3 rel, FP16 1e-2 / 1e-2, INT8:
class scores by top-1 agreement of at least 99%, other outputs 5e-2 / 5e-2) unless given.

An engine this machine cannot run (no CUDA GPU, no TensorRT, another TensorRT or GPU than it
was built for) is reported as "not run: <reason>" after its metadata, plan, source graph and
reference run have been checked. Exit status 0 when every engine matches or could not be run
here, 1 when one differs, 2 when an engine, its metadata or its source is broken or stale.
"""

import argparse
import json
import sys
from pathlib import Path

from workflow.score.verify import EXIT_STATUS, verify_engines
from workflow.trt.runner import TrtRunner


def main(argv: list[str] | None = None, *, prog: str | None = None) -> int:
    """Run the tool on ``argv`` (default: the command line) under the name ``prog``
    (default: the program's file name); return its exit status."""
    parser = argparse.ArgumentParser(
        prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--engines", type=Path, default=Path("engines"))
    parser.add_argument("--batch", type=int, help="batch size (default: the profile optimum)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--atol", type=float, help="absolute tolerance for every engine")
    parser.add_argument("--rtol", type=float, help="relative tolerance for every engine")
    parser.add_argument("--tensorrt-module", default="auto")
    parser.add_argument("--json", type=Path, help="also write the reports to this file")
    args = parser.parse_args(argv)
    metas = sorted(args.engines.glob("*.plan.json"))
    if not metas:
        print(f"error: no *.plan.json in {args.engines}", file=sys.stderr)
        return 2
    checks = verify_engines(
        metas,
        candidate=lambda plan, meta: TrtRunner(plan, meta, module=args.tensorrt_module),
        batch=args.batch,
        seed=args.seed,
        atol=args.atol,
        rtol=args.rtol,
    )
    for check in checks:
        if check.report is None:
            stream = sys.stderr if check.status == "broken" else sys.stdout
            print(f"{check.name}: {check.status}: {check.reason}", file=stream)
            continue
        for item in check.report.outputs:
            verdict = "ok" if item.passed else "DIFFERS"
            diff = f"max {item.max_abs:.3g} mean {item.mean_abs:.3g}"
            if item.top1_agreement is not None:
                diff += f" top-1 agreement {item.top1_agreement:.4f}"
            print(f"{check.name} {item.name}: {diff} {verdict}")
    if args.json:
        reports = {check.name: check.to_dict() for check in checks}
        args.json.write_text(json.dumps(reports, indent=2, sort_keys=True) + "\n")
    return max(EXIT_STATUS[check.status] for check in checks)
