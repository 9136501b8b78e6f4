"""Time ``snakemake -n`` on an up-to-date tree (the cost of asking "is anything stale?"),
side by side with the same question asked of a two-rule toy workflow (``benchmarks/toy.smk``):
what this workflow adds to Snakemake's own start-up.

Run from the repository root after a full ``snakemake --cores 2``:

    .venv/bin/python benchmarks/dry_run.py [--repeat 5] [snakemake args...]

The two are run in turn (project, toy, project, toy, ...) after one unmeasured run of each;
prints each run's wall and CPU seconds (user + system), their medians and the medians of the
pairwise ratios, and fails if either tree was not up to date. On a shared machine the CPU
ratio is the steadier figure: waiting for a core counts in the wall time, not in the CPU time.
Both run with Python's bytecode cache on, as in a plain shell (``PYTHONDONTWRITEBYTECODE`` is
dropped from their environment): otherwise this project's modules would be compiled again on
every start while Snakemake's come compiled from its install.

Recorded on the tiny config's built tree (``--configfile tests/configs/tiny.yaml``), 2 shared
cores, median of 9 pairs: project 2.74 CPU s, toy 2.29 CPU s, ratio 1.17 (wall ratio 1.17).
On the default config's built tree (198 jobs, an Intel Xeon's 2 cores, ``--repeat 7``):
project 1.45 CPU s, toy 1.22 CPU s, ratio 1.17 (wall 1.35 s and 1.12 s, ratio 1.18).
"""

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TOY = Path(__file__).with_name("toy.smk")


#: The environment of both commands: a plain shell's, with Python's bytecode cache on.
ENV = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}


def _timed(command: list[str], cwd: str | None = None) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system, the process and its children) of one run."""
    before, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    out = subprocess.run(command, capture_output=True, text=True, check=True, cwd=cwd, env=ENV)
    seconds, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_CHILDREN)
    if "Nothing to be done" not in out.stdout + out.stderr:
        raise SystemExit(f"not up to date: {' '.join(command)} (run it without -n first)")
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return seconds, cpu


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=5)
    args, extra = parser.parse_known_args()
    snakemake = str(Path(sys.executable).with_name("snakemake"))
    with tempfile.TemporaryDirectory() as toy_dir:
        toy = [snakemake, "-s", str(TOY), "-d", toy_dir]
        subprocess.run([*toy, "--cores", "1"], capture_output=True, check=True, env=ENV)
        _timed([snakemake, "-n", *extra]), _timed([*toy, "-n"])  # unmeasured: caches warm
        project, yardstick = [], []
        for _ in range(args.repeat):
            project.append(_timed([snakemake, "-n", *extra]))
            yardstick.append(_timed([*toy, "-n"]))
    for index, figure in enumerate(("wall", "cpu")):
        ours = [run[index] for run in project]
        theirs = [run[index] for run in yardstick]
        ratios = [a / b for a, b in zip(ours, theirs, strict=True)]
        print(
            f"{figure:4} project {' '.join(f'{t:.2f}' for t in ours)}"
            f" median {statistics.median(ours):.2f} s"
        )
        print(
            f"{figure:4} toy     {' '.join(f'{t:.2f}' for t in theirs)}"
            f" median {statistics.median(theirs):.2f} s"
        )
        print(f"{figure:4} ratio median {statistics.median(ratios):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
