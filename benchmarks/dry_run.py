"""Time ``snakemake -n`` on an up-to-date tree (the cost of asking "is anything stale?").

Run from the repository root after a full ``snakemake --cores 2``:

    .venv/bin/python benchmarks/dry_run.py [--repeat 5] [snakemake args...]

Prints each wall time and the median, and fails if the tree was not up to date.
"""

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=5)
    args, extra = parser.parse_known_args()
    snakemake = str(Path(sys.executable).with_name("snakemake"))
    times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        out = subprocess.run([snakemake, "-n", *extra], capture_output=True, text=True, check=True)
        times.append(time.perf_counter() - start)
        if "Nothing to be done" not in out.stdout + out.stderr:
            print("the tree is not up to date: run snakemake first", file=sys.stderr)
            return 1
    print(" ".join(f"{t:.2f}" for t in times), f"median {statistics.median(times):.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
