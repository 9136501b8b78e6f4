"""Serve the MovieLens recommender from several processes at once (sampleMovieLensMPS).

One seeded stream of queries (a user and its 100 candidate movies, drawn from the test split)
answered with each worker count in turn; prints throughput and latency per count and checks
that every count gives the single-process answers, e.g.

    trtsamples serve --data results/data/movielens-generated \\
        --onnx results/onnx/movielens/model.onnx --processes 1 2 4

On a GPU host: --backend trt with --plan (the engine, TopK inside), or --backend torch with
--weights (the PyTorch model on CUDA, where no TensorRT runs; --precision fp16 casts it).
--mps auto (the default) runs GPU workers under CUDA's Multi-Process Service where the host
has it, --mps on insists, --mps off never (a control daemon with private pipe and log folders,
always stopped afterwards; the GPU's compute mode is left as it is): the rule's serve.mps.
--out writes the report as JSON.
Exit status 0 on success, 2 on bad input or a failed run.
"""

import argparse
import json
import sys

from workflow.data.movielens import read_interactions
from workflow.errors import PipelineError
from workflow.score.serve import BACKENDS, serving_report

#: --mps values -> serve.mps values.
MPS = {"auto": "auto", "on": True, "off": False}


def main(argv: list[str] | None = None, *, prog: str | None = None) -> int:
    """Run the tool on ``argv`` (default: the command line) under the name ``prog``
    (default: the program's file name); return its exit status."""
    parser = argparse.ArgumentParser(
        prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", required=True, help="the interactions folder")
    parser.add_argument("--backend", choices=BACKENDS, default="ort", help="default: ort")
    parser.add_argument("--onnx", help="the FP32 graph (backend ort)")
    parser.add_argument("--plan", help="the engine; its .plan.json beside it (backend trt)")
    parser.add_argument("--weights", help="the PyTorch weights (backend torch)")
    parser.add_argument("--factors", type=int, default=8, help="GMF width (torch; default: 8)")
    parser.add_argument(
        "--layers", type=int, nargs="+", default=[64, 32, 16, 8], help="MLP widths (torch)"
    )
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--queries", type=int, default=20000, help="default: 20000")
    parser.add_argument("--seed", type=int, default=0, help="default: 0")
    parser.add_argument("--k", type=int, default=10, help="movies per answer (default: 10)")
    parser.add_argument("--threads", type=int, default=1, help="per worker (default: 1)")
    parser.add_argument(
        "--precision",
        choices=["fp32", "fp16", "int8"],
        default="fp32",
        help="the model's precision, for the report; torch casts its weights to it (fp32, "
        "fp16; default: fp32)",
    )
    parser.add_argument(
        "--mps",
        choices=sorted(MPS),
        nargs="?",
        const="on",
        default="auto",
        help="CUDA MPS for the workers (--mps alone: on; default: auto)",
    )
    parser.add_argument("--out", help="write the report here as JSON")
    args = parser.parse_args(argv)
    files = {
        "ort": {"onnx": args.onnx},
        "trt": {"plan": args.plan, "meta": f"{args.plan}.json"},
        "torch": {"weights": args.weights},
    }[args.backend]
    if None in files.values():
        parser.error(f"backend {args.backend} needs --{next(iter(files))}")
    try:
        data = read_interactions(args.data)
        model = {"factors": args.factors, "layers": args.layers}
        report, _ = serving_report(
            args.backend,
            files,
            data,
            processes=args.processes,
            queries=args.queries,
            seed=args.seed,
            k=args.k,
            threads=args.threads,
            model=model,
            precision=args.precision,
            mps=MPS[args.mps],
        )
    except PipelineError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for run in report["runs"]:
        lat = run["latency_ms"]
        print(
            f"{run['processes']} processes: {run['queries_per_s']:.0f} queries/s, latency p50 "
            f"{lat['p50']:.3f} ms, p99 {lat['p99']:.3f} ms, same answers: "
            f"{run['answers_equal_first_run']}"
        )
    print(f"HR@{args.k} of the answers: {report['served']['hr']:.4f}")
    if args.out:
        with open(args.out, "w", encoding="utf-8") as out:
            json.dump(report, out, indent=2, sort_keys=True)
    return 0
