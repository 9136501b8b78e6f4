"""Options shared by the command-line tools in ``scripts/cli/``: defined once, used by all."""

import argparse

from workflow.backend.base import BaseRunner
from workflow.score.runtimes import make_runner


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--onnx`` / ``--engine`` (one required) and ``--tensorrt-module``."""
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--onnx", help="run this ONNX graph with ONNX Runtime (CPU)")
    group.add_argument(
        "--engine",
        help="run this TensorRT plan (needs a GPU; its .plan.json must sit beside it)",
    )
    parser.add_argument(
        "--tensorrt-module",
        default="auto",
        choices=["auto", "tensorrt", "tensorrt_rtx"],
        help="TensorRT module for --engine (default: auto)",
    )


def runner_from_args(args: argparse.Namespace) -> BaseRunner:
    """The runner the model options select (inactive)."""
    if args.onnx:
        return make_runner("ort", {"onnx": args.onnx})
    files = {"plan": args.engine, "meta": f"{args.engine}.json"}
    return make_runner("trt", files, module=args.tensorrt_module)
