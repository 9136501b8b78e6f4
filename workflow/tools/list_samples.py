"""List the samples of the registry (config/samples.yaml): how each engine is made, its
precisions, the seed samples it covers and the files ``snakemake`` builds for it.

    trtsamples samples                 # every sample, one block each
    trtsamples samples ssd --targets   # one sample with its targets
    trtsamples samples --seed sampleINT8

Exit status 0, or 2 when a named sample or seed sample is not in the registry.
"""

import argparse
import sys

from workflow.errors import PipelineError
from workflow.samples import REGISTRY, load_registry


def main(argv: list[str] | None = None, *, prog: str | None = None) -> int:
    """Run the tool on ``argv`` (default: the command line) under the name ``prog``
    (default: the program's file name); return its exit status."""
    parser = argparse.ArgumentParser(
        prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("samples", nargs="*", help="only these samples (default: all)")
    parser.add_argument("--seed", help="only the samples covering this seed sample")
    parser.add_argument("--targets", action="store_true", help="also list each one's targets")
    parser.add_argument("--registry", default=str(REGISTRY), help="the registry file")
    args = parser.parse_args(argv)
    try:
        registry = load_registry(args.registry)
        registry.check_chosen(args.samples, key="sample")
    except PipelineError as err:
        print(err, file=sys.stderr)
        return 2
    names = args.samples or list(registry.samples)
    if args.seed:
        names = [n for n in names if args.seed in registry.samples[n]["seed_samples"]]
        if not names:
            print(f"{args.seed} | no sample covers it", file=sys.stderr)
            return 2
    for name in names:
        row = registry.samples[name]
        print(f"{name}: {row['caption']}")
        print(
            f"  task {row['task']}, data {row['data']}, train {row['train']}, "
            f"builder {row['builder']}, precisions {' '.join(row['precisions'])}"
        )
        print(f"  seed samples: {', '.join(row['seed_samples'])}")
        if "needs" in row:
            print(f"  needs: {row['needs']}")
        if args.targets:
            for target in registry.targets(name, row["precisions"]):
                print(f"  snakemake {target}")
    return 0
