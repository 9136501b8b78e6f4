"""Classify one 28x28 PGM digit, the seed's sampleMNIST / sampleOnnxMNIST hello world.

Prints the digit as ASCII art, the probability of each class and the prediction, e.g.

    trtsamples infer-digit --onnx results/onnx/mnist/model.onnx \\
        results/data/mnist/pgm/3.pgm

The true digit defaults to the file name's stem when it is a single digit (``3.pgm``).
Exit status 0 when the prediction matches, 1 when it does not, 2 on bad input.
"""

import argparse
import sys
from pathlib import Path

from workflow.cli import add_model_options, runner_from_args
from workflow.data.mnist import SIDE, to_input
from workflow.errors import PipelineError
from workflow.formats.pnm import read_pnm
from workflow.models.lenet import OUTPUT_NAME
from workflow.score.classify import hello_report, predict


def main(argv: list[str] | None = None, *, prog: str | None = None) -> int:
    """Run the tool on ``argv`` (default: the command line) under the name ``prog``
    (default: the program's file name); return its exit status."""
    parser = argparse.ArgumentParser(
        prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_model_options(parser)
    parser.add_argument("pgm", help="a binary PGM (P5) image of 28x28 pixels")
    parser.add_argument("--label", type=int, help="the true digit (default: from the file name)")
    args = parser.parse_args(argv)
    stem = Path(args.pgm).stem
    label = args.label if args.label is not None else int(stem) if stem in "0123456789" else -1
    try:
        image = read_pnm(args.pgm)
        if image.shape != (SIDE, SIDE):
            raise PipelineError(args.pgm, f"image is {image.shape}, expected a 28x28 PGM")
        with runner_from_args(args) as runner:
            probs = predict(runner, to_input(image[None]), batch_size=1, output_name=OUTPUT_NAME)
    except PipelineError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(hello_report(image, probs[0], source=args.pgm, label=label), end="")
    return 0 if int(probs[0].argmax()) == label else 1
