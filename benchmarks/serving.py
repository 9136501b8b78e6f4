"""Serving throughput of the recommender from 1..N processes: ONNX Runtime on the CPU and, where
CUDA is available, the PyTorch model on the GPU with and without MPS.

Needs the default run's recommender (`snakemake results/onnx/movielens/model.onnx`); on a GPU
host without a package registry, copy `results/data/movielens-generated`,
`results/train/movielens` and `results/onnx/movielens` there. Prints one line per backend and
worker count; every run's answers are checked against the first run's of its backend.

    .venv/bin/python benchmarks/serving.py [--processes 1 2 4 8] [--queries 20000] [--out DIR]
"""

import argparse
import json
from pathlib import Path

from workflow.data.movielens import read_interactions
from workflow.score.serve import serving_report


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--results", type=Path, default=Path("results"))
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--queries", type=int, default=20000)
    parser.add_argument("--out", type=Path, help="folder for the JSON reports")
    args = parser.parse_args()
    data = read_interactions(args.results / "data/movielens-generated")
    model = {"users": data.num_users, "movies": data.num_movies, "factors": 8}
    model["layers"] = [64, 32, 16, 8]
    setups = [("ort", {"onnx": str(args.results / "onnx/movielens/model.onnx")}, False)]
    try:
        import torch

        if torch.cuda.is_available():
            weights = {"weights": str(args.results / "train/movielens/weights.pt")}
            setups += [("torch", weights, False), ("torch", weights, True)]
            print(f"GPU: {torch.cuda.get_device_name()}")
    except ImportError:
        pass
    for backend, files, mps in setups:
        report, _ = serving_report(
            backend,
            files,
            data,
            processes=args.processes,
            queries=args.queries,
            seed=0,
            k=10,
            threads=1,
            model=model,
            mps=mps,
        )
        label = f"{backend}{' + MPS' if mps else ''}"
        for run in report["runs"]:
            lat = run["latency_ms"]
            print(
                f"{label:<12} {run['processes']:>3} processes {run['queries_per_s']:>9.0f} q/s"
                f"  p50 {lat['p50']:.3f} ms  p99 {lat['p99']:.3f} ms"
                f"  same answers {run['answers_equal_first_run']}"
            )
        if args.out:
            args.out.mkdir(parents=True, exist_ok=True)
            name = f"{backend}{'_mps' if mps else ''}.json"
            (args.out / name).write_text(json.dumps(report, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
