"""Run every built engine and the ONNX graph it came from on the same inputs (GPU hosts).

Like ``polygraphy run --trt --onnxrt``: for each ``*.plan.json`` in the engines folder, seeded
random inputs go through TensorRT and ONNX Runtime, and the max and mean absolute difference of
every output is reported. Needs a CUDA GPU and TensorRT; elsewhere it says so and exits 2.

    python scripts/cli/verify_engines.py [--engines engines/] [--atol A] [--rtol R]

Tolerances follow each engine's precision (FP32 1e-4 abs / 1e-3 rel, FP16 1e-2 / 1e-2, INT8:
class scores by top-1 agreement of at least 99%, other outputs 5e-2 / 5e-2) unless given.

Exit status 0 when every engine matches, 1 when one differs, 2 when one cannot be run.
"""

import argparse
import json
import sys
from pathlib import Path

from workflow.errors import PipelineError
from workflow.score.verify import verify_engine
from workflow.trt.runner import TrtRunner


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
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
    reports, status = {}, 0
    for meta in metas:
        try:
            report = verify_engine(
                meta,
                candidate=lambda plan, m: TrtRunner(plan, m, module=args.tensorrt_module),
                batch=args.batch,
                seed=args.seed,
                atol=args.atol,
                rtol=args.rtol,
            )
        except PipelineError as err:
            print(f"{meta.name}: cannot run | {err}", file=sys.stderr)
            status = 2
            continue
        reports[meta.name] = report.to_dict()
        for item in report.outputs:
            verdict = "ok" if item.passed else "DIFFERS"
            diff = f"max {item.max_abs:.3g} mean {item.mean_abs:.3g}"
            if item.top1_agreement is not None:
                diff += f" top-1 agreement {item.top1_agreement:.4f}"
            print(f"{meta.name} {item.name}: {diff} {verdict}")
        status = max(status, 0 if report.passed else 1)
    if args.json:
        args.json.write_text(json.dumps(reports, indent=2, sort_keys=True) + "\n")
    return status


if __name__ == "__main__":
    sys.exit(main())
