"""Detect objects in 300x300 PPM images with the SSD, the seed's sampleSSD / uff_ssd output.

Prints every detection above the visualisation threshold, e.g.

    python scripts/cli/detect_objects.py --onnx results/onnx/ssd/model.onnx \\
        --classes results/data/shapes/classes.txt --out drawn/ results/data/shapes/test/*.ppm

and, with --out, writes each image with its boxes drawn as <name>.ppm and <name>.png. The
preprocessing is the pipeline's (values scaled to [-1, 1]); --nms graph is for graphs exported
with nms.place: graph. Exit status 0 on success, 2 on bad input.
"""

import argparse
import sys
from pathlib import Path

import numpy as np

from workflow.cli import add_model_options, runner_from_args
from workflow.data.detection import read_classes
from workflow.data.images import to_nchw
from workflow.detect.draw import draw_detections, png_bytes
from workflow.detect.postprocess import NMS_PLACES, NmsParams
from workflow.errors import PipelineError
from workflow.formats.pnm import pnm_bytes, read_pnm
from workflow.io import write_atomically
from workflow.models.ssd import INPUT_OFFSET, INPUT_SCALE, INPUT_SIZE
from workflow.score.detect import detect


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_model_options(parser)
    parser.add_argument("ppm", nargs="+", help="binary PPM (P6) images of 300x300 pixels")
    parser.add_argument("--classes", required=True, help="the dataset's classes.txt")
    parser.add_argument("--nms", choices=NMS_PLACES, default="host", help="default: host")
    parser.add_argument("--confidence", type=float, default=0.01, help="default: 0.01")
    parser.add_argument("--iou", type=float, default=0.45, help="default: 0.45")
    parser.add_argument("--top-k", type=int, default=100, help="per class (default: 100)")
    parser.add_argument("--keep-top-k", type=int, default=100, help="per image (default: 100)")
    parser.add_argument("--visualize", type=float, default=0.5, help="default: 0.5")
    parser.add_argument("--out", help="folder for the drawn images (.ppm and .png)")
    args = parser.parse_args(argv)
    try:
        classes = read_classes(args.classes)
        images = []
        for path in args.ppm:
            image = read_pnm(path)
            if image.shape != (INPUT_SIZE, INPUT_SIZE, 3):
                raise PipelineError(path, f"image is {image.shape}, expected a 300x300 PPM")
            images.append(image)
        params = NmsParams(args.confidence, args.iou, args.top_k, args.keep_top_k)
        with runner_from_args(args) as runner:
            found, counts = detect(
                runner,
                to_nchw(np.stack(images), scale=INPUT_SCALE, offset=INPUT_OFFSET),
                batch_size=1,
                place=args.nms,
                params=params,
            )
    except PipelineError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for index, (path, image) in enumerate(zip(args.ppm, images, strict=True)):
        rows = found[index, : counts[index]]
        drawn, boxes = draw_detections(image, rows, classes=classes, threshold=args.visualize)
        print(f"{path}: {len(boxes)} detections at confidence >= {args.visualize}")
        for box in boxes:
            print(f"  {box['class']} {100 * box['confidence']:.2f}% at {box['box']}")
        if args.out:
            stem = Path(args.out) / Path(path).stem
            write_atomically(stem.with_suffix(".ppm"), pnm_bytes(drawn))
            write_atomically(stem.with_suffix(".png"), png_bytes(drawn))
    return 0


if __name__ == "__main__":
    sys.exit(main())
