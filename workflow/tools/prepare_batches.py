"""Write calibration batch files (the seed's batch preparation step, BatchStream format).

Each file batch0, batch1, ... holds four int32 N C H W, N*C*H*W float32 values and, when labels
are given, N float32 labels. Values are pixel * scale + offset (default: pixel / 255).

    trtsamples prepare-batches --idx-images t10k-images-idx3-ubyte.gz \\
        --idx-labels t10k-labels-idx1-ubyte.gz --batch-size 100 --batches 10 --out batches/
    trtsamples prepare-batches --pnm-dir images/ --scale 0.00784314 --offset -1 \\
        --batch-size 8 --batches 4 --out batches/

Exit status 2 on bad input, with the reason.
"""

import argparse
import sys

from workflow.data.images import read_pnm_folder, to_nchw
from workflow.errors import PipelineError
from workflow.formats.idx import read_idx
from workflow.quant.batches import split_into_batches, write_batch_folder


def main(argv: list[str] | None = None, *, prog: str | None = None) -> int:
    """Run the tool on ``argv`` (default: the command line) under the name ``prog``
    (default: the program's file name); return its exit status."""
    parser = argparse.ArgumentParser(
        prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--idx-images", help="IDX image file (N, H, W), raw or .gz")
    source.add_argument("--pnm-dir", help="folder of .pgm/.ppm images of one size")
    parser.add_argument("--idx-labels", help="IDX label file (N,) to store with the images")
    parser.add_argument("--batch-size", type=int, required=True, help="images per batch file")
    parser.add_argument("--batches", type=int, required=True, help="number of batch files")
    parser.add_argument("--scale", type=float, default=1 / 255, help="default: 1/255")
    parser.add_argument("--offset", type=float, default=0.0, help="default: 0")
    parser.add_argument("--out", required=True, help="output folder")
    args = parser.parse_args(argv)
    try:
        labels = read_idx(args.idx_labels, ndim=1) if args.idx_labels else None
        if args.idx_images:
            images = read_idx(args.idx_images, ndim=3)
        else:
            images = read_pnm_folder(args.pnm_dir)[0]
        if labels is not None and len(labels) != len(images):
            raise PipelineError(args.idx_labels, f"{len(labels)} labels for {len(images)} images")
        files = split_into_batches(
            to_nchw(images, scale=args.scale, offset=args.offset),
            labels,
            batch_size=args.batch_size,
            batches=args.batches,
        )
    except PipelineError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    write_batch_folder(args.out, files)
    print(f"{len(files)} batch files of {args.batch_size} images in {args.out}")
    return 0
