"""The pipeline's command-line tools behind one command, ``trtsamples <command> [options]``
(``[project.scripts]`` in pyproject.toml; ``scripts/cli/<module>.py`` runs the same ``main``).

Each tool is a module of this package with ``main(argv, *, prog) -> int`` (its exit status)
and its docstring as ``--help``. This module imports none of them: ``trtsamples --help`` lists
the commands from :data:`COMMANDS` alone, and a command loads only its own tool.
"""

import argparse
import importlib
import sys
from typing import NamedTuple

PROG = "trtsamples"


class Command(NamedTuple):
    """One subcommand: the tool's module in this package and its line in ``--help``."""

    module: str
    summary: str


#: Subcommand -> tool, in the order ``trtsamples --help`` lists them.
COMMANDS: dict[str, Command] = {
    "samples": Command("list_samples", "list the registry's samples, seed samples and targets"),
    "summary": Command("summary", "print a run's results summary (results/summary.json)"),
    "detect": Command("detect_objects", "detect objects in PPM images: SSD, YOLOv3, Faster R-CNN"),
    "translate": Command("translate", "translate a test split with the NMT model (sample_nmt)"),
    "infer-digit": Command("infer_digit", "classify one 28x28 PGM digit (sampleMNIST)"),
    "prepare-batches": Command("prepare_batches", "write calibration batch files (BatchStream)"),
    "dump-tf-wts": Command("dump_tf_wts", "export TensorFlow weights as .wts/.wts2 (dumpTFWts)"),
    "chpt-to-bin": Command("chpt_to_bin", "NMT checkpoint -> sampleNMT's .bin weight files"),
    "verify-engines": Command("verify_engines", "run every engine against its ONNX graph"),
    "verify-plugins": Command("verify_plugins", "build the plugin library and check it on a GPU"),
    "serve": Command("serve_recommender", "serve the recommender from many processes (MPS)"),
    "config-manual": Command("config_manual", "(re)write the config manual, or --check it"),
}


def _parser() -> argparse.ArgumentParser:
    width = max(map(len, COMMANDS)) + 2
    listing = "\n".join(f"  {name:<{width}}{cmd.summary}" for name, cmd in COMMANDS.items())
    parser = argparse.ArgumentParser(
        prog=PROG,
        usage=f"{PROG} [-h] <command> [options]",
        description="The TensorRT samples pipeline's command-line tools.",
        epilog=f"commands:\n{listing}\n\n`{PROG} <command> --help` shows a command's options.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command", choices=COMMANDS, metavar="<command>", help="a command, below")
    parser.add_argument("args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``trtsamples``: dispatch to a command's tool, or print the command index.

    Args:
        argv: the arguments after the program name (default: the command line's).

    Returns:
        The tool's exit status; ``--help`` and a missing or unknown command exit through
        argparse (0 and 2).
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] not in COMMANDS:
        parser = _parser()
        if not argv:
            parser.error(f"no command given | `{PROG} --help` lists them")
        args = parser.parse_args(argv)
        argv = [args.command, *args.args]
    name, rest = argv[0], argv[1:]
    tool = importlib.import_module(f"{__name__}.{COMMANDS[name].module}")
    return tool.main(rest, prog=f"{PROG} {name}")
