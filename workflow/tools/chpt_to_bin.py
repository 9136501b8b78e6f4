"""chpt_to_bin: the translator's TensorFlow checkpoint -> sampleNMT's seven binary weight files
(encembed, decembed, encrnn, decrnn, decproj, decmem, decatt .bin: raw float32 values, then
the metadata, its count and the footer ``trtsamplenmt``), read back strictly before they are
kept. ``--check DIR`` only reads a folder of such files and prints what they hold.

    trtsamples chpt-to-bin --ckpt results/train/nmt/translate.ckpt --out_dir weights
    trtsamples chpt-to-bin --check results/weights/nmt

Exit status 2 on bad input, with the reason.
"""

import argparse
import sys

from workflow.errors import PipelineError
from workflow.models.nmt_bin import chpt_to_bin, read_bins


def main(argv: list[str] | None = None, *, prog: str | None = None) -> int:
    """Run the tool on ``argv`` (default: the command line) under the name ``prog``
    (default: the program's file name); return its exit status."""
    parser = argparse.ArgumentParser(
        prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--ckpt", help="the checkpoint prefix (translate.ckpt)")
    source.add_argument("--check", metavar="DIR", help="read a folder of .bin files strictly")
    parser.add_argument("--out_dir", help="where the .bin files go (with --ckpt)")
    parser.add_argument("--forget_bias", type=float, default=1.0, help="default: 1.0")
    args = parser.parse_args(argv)
    if args.ckpt and not args.out_dir:
        parser.error("--out_dir is required with --ckpt")
    try:
        if args.ckpt:
            for name, size in chpt_to_bin(
                args.ckpt, args.out_dir, forget_bias=args.forget_bias
            ).items():
                print(f"{args.out_dir}/{name}.bin {size} bytes")
            net = read_bins(args.out_dir)
        else:
            net = read_bins(args.check)
    except (PipelineError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(
        f"units {net.units}, source vocabulary {net.source_embedding.shape[0]}, "
        f"target vocabulary {net.target_vocab}"
    )
    return 0
