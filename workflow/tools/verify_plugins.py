"""Build the plugin library and check it on this machine's GPU (the issue's GPU verification).

    trtsamples verify-plugins \\
        --tensorrt-include ../shared/third_party/tensorrt-11.1/include \\
        --build plugins/build --out plugin_check.json

Builds plugins/ with CMake, checks the exported symbols, runs the creators' serialization round
trip and the CUDA kernels (FC: cuBLAS GEMM + bias, FP32 and FP16; clip: bounds, NaN, FP16)
against numpy, then the same kernels in Triton; writes the report as JSON and prints
it. Exit status 0 when every check passed, 1 when one failed, 2 when it cannot run here (what
is missing is said)."""

import argparse
import json
import sys

from workflow.errors import PipelineError
from workflow.plugins.build import build_library, exported_symbols
from workflow.plugins.check import EXPORTED, check_library, check_triton

#: Largest errors accepted: FP32 GEMM over 500 products, FP16 outputs (about 3 decimal digits).
BOUNDS = {"fp32": 1e-4, "fp16": 2e-2}


def passed(report: dict) -> bool:
    library, triton = report["library"], report["triton"]
    ok = not report["missing_symbols"] and library["fc_roundtrip"] == 0
    ok &= library["clip_roundtrip"] == 0 and library["bad_fields_refused"]
    for precision, bound in BOUNDS.items():
        for part in (library[f"fc_{precision}"], library[f"clip_{precision}"]):
            ok &= part["status"] == 0 and part["max_abs_error"] <= bound
        ok &= library[f"clip_{precision}"]["nan_kept"]
        ok &= triton[f"fc_{precision}"]["max_abs_error"] <= bound
        ok &= triton[f"clip_{precision}"]["max_abs_error"] <= bound
    return bool(ok)


def main(argv: list[str] | None = None, *, prog: str | None = None) -> int:
    """Run the tool on ``argv`` (default: the command line) under the name ``prog``
    (default: the program's file name); return its exit status."""
    parser = argparse.ArgumentParser(
        prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tensorrt-include", required=True, help="TensorRT's include/ folder")
    parser.add_argument("--build", default="plugins/build", help="CMake build folder")
    parser.add_argument("--architectures", default="", help="CMAKE_CUDA_ARCHITECTURES, e.g. 90")
    parser.add_argument("--out", help="write the report here (JSON)")
    args = parser.parse_args(argv)
    try:
        library, _ = build_library(
            args.build,
            tensorrt_include=args.tensorrt_include,
            architectures=args.architectures,
            jobs=8,
        )
    except PipelineError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    symbols = exported_symbols(library)
    report = {
        "library": check_library(library),
        "symbols": [s for s in symbols if s in EXPORTED],
        "missing_symbols": [s for s in EXPORTED if s not in symbols],
        "triton": check_triton(),
    }
    report["passed"] = passed(report)
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w") as handle:
            handle.write(text + "\n")
    return 0 if report["passed"] else 1
