"""Time ``snakemake -n`` on an up-to-date tree (the cost of asking "is anything stale?"),
side by side with the same question asked of a two-rule toy workflow (``benchmarks/toy.smk``):
what this workflow adds to Snakemake's own start-up.

Run from the repository root after a full ``snakemake --cores 2``:

    .venv/bin/python benchmarks/dry_run.py [--repeat 5] [snakemake args...]

The two are run in turn (project, toy, project, toy, ...); prints each wall time, the medians and
the median of the pairwise ratios, and fails if either tree was not up to date.
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TOY = Path(__file__).with_name("toy.smk")


def _timed(command: list[str], cwd: str | None = None) -> float:
    start = time.perf_counter()
    out = subprocess.run(command, capture_output=True, text=True, check=True, cwd=cwd)
    seconds = time.perf_counter() - start
    if "Nothing to be done" not in out.stdout + out.stderr:
        raise SystemExit(f"not up to date: {' '.join(command)} (run it without -n first)")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=5)
    args, extra = parser.parse_known_args()
    snakemake = str(Path(sys.executable).with_name("snakemake"))
    with tempfile.TemporaryDirectory() as toy_dir:
        toy = [snakemake, "-s", str(TOY), "-d", toy_dir]
        subprocess.run([*toy, "--cores", "1"], capture_output=True, check=True)
        project, yardstick = [], []
        for _ in range(args.repeat):
            project.append(_timed([snakemake, "-n", *extra]))
            yardstick.append(_timed([*toy, "-n"]))
    ratios = [a / b for a, b in zip(project, yardstick, strict=True)]
    print(
        "project",
        " ".join(f"{t:.2f}" for t in project),
        f"median {statistics.median(project):.2f} s",
    )
    print(
        "toy    ",
        " ".join(f"{t:.2f}" for t in yardstick),
        f"median {statistics.median(yardstick):.2f} s",
    )
    print(f"ratio median {statistics.median(ratios):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
