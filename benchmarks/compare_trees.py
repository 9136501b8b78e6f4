"""Compare the built artifacts of two trees byte for byte: the check that a change of the rules
or the library kept every output (benchmarks/dag_dump.py checks the planned jobs; this checks
what they wrote).

Both trees are built from the same config, e.g. a worktree of the commit before the change and
one of the change, each run with its own library first on the path:

    git worktree add /tmp/before <commit>; git worktree add /tmp/after HEAD
    (cd /tmp/before && PYTHONPATH=$PWD snakemake --configfile tests/configs/tiny.yaml --cores 2)
    (cd /tmp/after && PYTHONPATH=$PWD snakemake --configfile tests/configs/tiny.yaml --cores 2)
    .venv/bin/python benchmarks/compare_trees.py /tmp/before /tmp/after

Walks ``results/`` and ``engines/`` of both (logs, benchmark timings and Snakemake's own state
are not outputs), prints the number of identical files, then every file that differs, is only
in one tree, or matches a --may-differ glob (listed apart), and exits 1 when any file differs
or is missing outside those globs. A JSON file whose bytes differ is compared again without the
--ignore-keys (wall times, say): equal then, it is listed as differing in those keys only.

    .venv/bin/python benchmarks/compare_trees.py /tmp/before /tmp/after \
        --may-differ 'engines/*.plan' 'engines/*.plan.json' 'engines/ssd_*.layers.json' \
        'results/summary.csv' 'results/summary.html' 'results/train/mnist_tf/model.keras' \
        --ignore-keys build_s seconds queries_per_s mean p50 p90 p99
"""

import argparse
import fnmatch
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from workflow.io import sha256_file  # noqa: E402

OUTPUTS = ("results", "engines")


def files(tree: Path) -> dict[str, Path]:
    """Every file under the tree's output folders, by its path relative to the tree."""
    return {
        str(path.relative_to(tree)): path
        for folder in OUTPUTS
        if (tree / folder).is_dir()
        for path in sorted((tree / folder).rglob("*"))
        if path.is_file()
    }


def without(value, keys: set[str]):
    """A JSON value with every object key in ``keys`` left out, at any depth."""
    if isinstance(value, dict):
        return {k: without(v, keys) for k, v in value.items() if k not in keys}
    if isinstance(value, list):
        return [without(v, keys) for v in value]
    return value


def same_but(a: Path, b: Path, keys: set[str]) -> bool:
    """Whether two JSON files are equal once ``keys`` are left out (False for other files)."""
    if not keys or a.suffix != ".json":
        return False
    read = [without(json.loads(path.read_text(encoding="utf-8")), keys) for path in (a, b)]
    return read[0] == read[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument(
        "--may-differ",
        nargs="*",
        default=[],
        metavar="GLOB",
        help="paths known to differ from build to build (e.g. 'engines/ssd_*.plan')",
    )
    parser.add_argument(
        "--ignore-keys",
        nargs="*",
        default=[],
        metavar="KEY",
        help="JSON object keys whose values may differ (wall times, e.g. build_s)",
    )
    args = parser.parse_args()
    before, after = files(args.before), files(args.after)
    same, differ, known, timed = [], [], [], []
    for name in sorted(before.keys() | after.keys()):
        both = name in before and name in after
        if both and sha256_file(before[name]) == sha256_file(after[name]):
            same.append(name)
        elif both and same_but(before[name], after[name], set(args.ignore_keys)):
            timed.append(name)
        elif any(fnmatch.fnmatch(name, glob) for glob in args.may_differ):
            known.append(name)
        elif both:
            differ.append(name)
        else:
            differ.append(f"{name} (only {'before' if name in before else 'after'})")
    print(
        f"{len(same)} identical files, {len(timed)} differ only in --ignore-keys, "
        f"{len(known)} allowed to differ, {len(differ)} differ"
    )
    for name in timed:
        print(f"  ignored keys only: {name}")
    for name in known:
        print(f"  allowed: {name}")
    for name in differ:
        print(f"  DIFFERS: {name}")
    sys.exit(1 if differ else 0)


if __name__ == "__main__":
    main()
