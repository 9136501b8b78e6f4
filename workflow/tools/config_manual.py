"""Write the configuration manual, config/README.md, from config/config.schema.yaml: every key
with its type, default and description.

    trtsamples config-manual           # (re)write config/README.md
    trtsamples config-manual --check   # exit 1 if config/README.md is stale

Exit status 0; 1 with --check when the manual differs from the schema's.
"""

import argparse
import sys
from pathlib import Path

from workflow.io import write_atomically
from workflow.report.config_manual import manual_from_file

ROOT = Path(__file__).resolve().parents[2]


def main(argv: list[str] | None = None, *, prog: str | None = None) -> int:
    """Run the tool on ``argv`` (default: the command line) under the name ``prog``
    (default: the program's file name); return its exit status."""
    parser = argparse.ArgumentParser(
        prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--schema", default=str(ROOT / "config" / "config.schema.yaml"))
    parser.add_argument("--output", default=str(ROOT / "config" / "README.md"))
    parser.add_argument("--check", action="store_true", help="only check that it is current")
    args = parser.parse_args(argv)
    text = manual_from_file(args.schema)
    if args.check:
        current = Path(args.output).read_text() if Path(args.output).is_file() else ""
        if current != text:
            print(f"{args.output} | stale | run trtsamples config-manual", file=sys.stderr)
            return 1
        return 0
    write_atomically(args.output, text.encode())
    print(f"wrote {args.output}")
    return 0
