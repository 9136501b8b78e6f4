"""The torch serving backend from 1, 2 and 4 processes, with and without CUDA MPS, on a GPU.

Needs no earlier run: it generates the default MovieLens-like interactions (2,000 users, 1,000
movies), trains NeuMF on them briefly on the CPU (``--epochs``, default 2), then serves one
seeded query stream through ``workflow.score.serve.serving_report`` (what the rule
``serve_recommender`` calls) with backend ``torch`` in each precision and MPS setting. Writes one
JSON report per setup and ``summary.json`` (queries/s, latency p50/p99 per process count,
whether every run's answers equal the first run's and the other MPS setting's) to ``--out``;
prints a table. A setup that fails (no GPU, no MPS) is recorded with its error.

    PYTHONPATH=. python benchmarks/serve_mps.py --out /tmp/serve_mps
"""

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from workflow.data.movielens import generate, leave_one_out
from workflow.errors import PipelineError
from workflow.score.serve import serving_report

NETWORK = {"factors": 8, "layers": [64, 32, 16, 8]}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "serve_mps")))
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--queries", type=int, default=10000)
    parser.add_argument("--precisions", nargs="+", default=["fp32", "fp16"])
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    import torch

    from workflow.models.checkpoint import state_dict_bytes
    from workflow.models.ncf import train_ncf

    pairs = generate(
        users=2000, movies=1000, factors=8, interactions=(20, 80), popularity=1.0, seed=0
    )
    data = leave_one_out(*pairs, num_movies=1000, negatives=99, seed=0)
    start = time.perf_counter()
    model = train_ncf(
        data,
        **NETWORK,
        negatives=4,
        seed=0,
        epochs=args.epochs,
        batch_size=256,
        learning_rate=0.001,
        threads=4,
    )
    trained_s = time.perf_counter() - start
    weights = Path(tempfile.mkdtemp()) / "weights.pt"
    weights.write_bytes(state_dict_bytes(model))
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else None
    summary = {"gpu": gpu, "torch": torch.__version__, "training_s": trained_s, "setups": []}
    answers = {}
    for precision in args.precisions:
        for mps in (False, True):
            label = f"torch_{precision}{'_mps' if mps else ''}"
            try:
                report, first = serving_report(
                    "torch",
                    {"weights": str(weights)},
                    data,
                    processes=args.processes,
                    queries=args.queries,
                    seed=0,
                    k=10,
                    threads=1,
                    model=NETWORK,
                    precision=precision,
                    mps=mps,
                )
            except PipelineError as err:
                summary["setups"].append({"setup": label, "error": str(err)})
                print(f"{label}: {err}")
                continue
            answers[precision, mps] = first
            (args.out / f"{label}.json").write_text(json.dumps(report, indent=2, sort_keys=True))
            row = {
                "setup": label,
                "device": report["device"],
                "mps": report["mps"],
                "mps_servers": report.get("mps_servers"),
                "hr": report["served"]["hr"],
                "runs": [
                    {
                        "processes": run["processes"],
                        "queries_per_s": run["queries_per_s"],
                        "p50_ms": run["latency_ms"]["p50"],
                        "p99_ms": run["latency_ms"]["p99"],
                        "answers_equal_first_run": run["answers_equal_first_run"],
                    }
                    for run in report["runs"]
                ],
            }
            if mps and (precision, False) in answers:
                row["answers_equal_without_mps"] = bool(
                    np.array_equal(first, answers[precision, False])
                )
            summary["setups"].append(row)
            for run in row["runs"]:
                print(
                    f"{label:<16} {run['processes']:>2} processes {run['queries_per_s']:>8.0f} q/s"
                    f"  p50 {run['p50_ms']:.3f} ms  p99 {run['p99_ms']:.3f} ms"
                    f"  same answers {run['answers_equal_first_run']}"
                )
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True))


if __name__ == "__main__":  # workers are spawned and import this module
    main()
