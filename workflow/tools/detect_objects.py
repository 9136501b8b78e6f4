"""Detect objects in PPM images with the SSD, YOLOv3 or Faster R-CNN (the seed's sampleSSD /
uff_ssd, yolov3_onnx and sampleFasterRCNN output).

Prints every detection above the visualisation threshold, e.g.

    trtsamples detect --onnx results/onnx/ssd/model.onnx \\
        --classes results/data/shapes/classes.txt --out drawn/ results/data/shapes/test/*.ppm
    trtsamples detect --detector yolov3 --cfg yolov3.cfg \\
        --onnx results/onnx/yolov3_coco/model.onnx --classes coco.names photo.ppm
    trtsamples detect --detector faster_rcnn \\
        --onnx results/onnx/faster_rcnn_rpn/model.onnx \\
        --head-onnx results/onnx/faster_rcnn_head/model.onnx \\
        --classes results/data/shapes/classes.txt scene.ppm

and, with --out, writes each image with its boxes drawn as <name>.ppm and <name>.png. The
preprocessing is the pipeline's: the SSD takes 300x300 images scaled to [-1, 1]; YOLOv3
letterboxes any image to its cfg's input, values in [0, 1]; Faster R-CNN resizes any image to
its input, BGR minus the pixel mean (settings train.frcnn of the workflow config: the defaults,
or those of --config-file). --nms graph is for SSD graphs exported with nms.place: graph.
Exit status 0 on success, 2 on bad input.
"""

import argparse
import sys
from pathlib import Path

import yaml

from workflow.backend.base import BaseRunner
from workflow.cli import add_model_options, runner_from_args
from workflow.data.detection import read_classes
from workflow.detect.draw import draw_detections, png_bytes
from workflow.detect.postprocess import NMS_PLACES, NmsParams
from workflow.errors import PipelineError
from workflow.formats.pnm import pnm_bytes, read_pnm
from workflow.io import write_atomically
from workflow.models.detector import Detector
from workflow.models.detectors import DETECTORS, detector_class, detector_from
from workflow.samples import config_default
from workflow.score.detect import detect, detector_runner


def detector_of(args: argparse.Namespace) -> Detector:
    """The detector the options describe: a darknet cfg (--cfg) where it is built from one,
    its config section (the workflow config's defaults, or --config-file's) where it reads
    one."""
    cls = detector_class(args.detector)
    spec: dict = {"network": args.detector}
    if cls.darknet_cfg:
        if not args.cfg:
            raise PipelineError(
                f"--detector {args.detector}", "needs --cfg, the network's darknet .cfg"
            )
        spec["cfg"] = args.cfg
    if cls.config_section:
        settings = config_default("train", cls.config_section)
        if args.config_file:
            chosen = yaml.safe_load(Path(args.config_file).read_text()) or {}
            settings |= chosen.get("train", {}).get(cls.config_section, {})
        spec |= settings
    return detector_from(spec)


def runner_of(args: argparse.Namespace, detector: Detector) -> BaseRunner:
    """The runner of the options' graph or engine; for a detector of two graphs (Faster
    R-CNN), of both parts (--onnx and --head-onnx, or --engine and --head-engine)."""
    if not detector.parts:
        return runner_from_args(args)
    first, second = detector.parts
    if args.onnx and args.head_onnx:
        files = {f"{first}_onnx": args.onnx, f"{second}_onnx": args.head_onnx}
        return detector_runner("ort", files, detector)
    if args.engine and args.head_engine:
        files = {
            f"{first}_plan": args.engine,
            f"{first}_meta": f"{args.engine}.json",
            f"{second}_plan": args.head_engine,
            f"{second}_meta": f"{args.head_engine}.json",
        }
        return detector_runner("trt", files, detector, module=args.tensorrt_module)
    raise PipelineError(
        f"--detector {args.detector}",
        f"needs the {first} and the {second}, both ONNX or both engines",
        "give --onnx with --head-onnx, or --engine with --head-engine",
    )


def main(argv: list[str] | None = None, *, prog: str | None = None) -> int:
    """Run the tool on ``argv`` (default: the command line) under the name ``prog``
    (default: the program's file name); return its exit status."""
    parser = argparse.ArgumentParser(
        prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_model_options(parser)
    parser.add_argument("ppm", nargs="+", help="binary PPM (P6) images")
    parser.add_argument("--classes", required=True, help="class names, one per line")
    parser.add_argument("--detector", choices=list(DETECTORS), default="ssd", help="default: ssd")
    parser.add_argument("--cfg", help="YOLOv3: the darknet .cfg of the graph or engine")
    head = parser.add_mutually_exclusive_group()
    head.add_argument("--head-onnx", help="Faster R-CNN: the head graph (--onnx: the rpn's)")
    head.add_argument("--head-engine", help="Faster R-CNN: the head plan (--engine: the rpn's)")
    parser.add_argument("--config-file", help="Faster R-CNN: a workflow config (train.frcnn)")
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
        detector = detector_of(args)
        images = [read_pnm(path) for path in args.ppm]
        for path, image in zip(args.ppm, images, strict=True):
            if image.ndim != 3:
                raise PipelineError(path, f"image is {image.shape}, expected an RGB PPM (P6)")
            size = detector.image_size
            if size and image.shape[:2] != size:
                raise PipelineError(
                    path, f"image is {image.shape}, expected a {size[1]}x{size[0]} PPM"
                )
        params = NmsParams(args.confidence, args.iou, args.top_k, args.keep_top_k)
        runner = runner_of(args, detector)
        results = []
        with runner:
            for image in images:
                results.append(
                    detect(
                        runner,
                        detector.network_input(image[None]),
                        batch_size=1,
                        place=args.nms,
                        params=params,
                        decode=detector.decode(image.shape[:2]),
                    )
                )
    except PipelineError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for path, image, (found, counts) in zip(args.ppm, images, results, strict=True):
        rows = found[0, : counts[0]]
        drawn, boxes = draw_detections(image, rows, classes=classes, threshold=args.visualize)
        print(f"{path}: {len(boxes)} detections at confidence >= {args.visualize}")
        for box in boxes:
            print(f"  {box['class']} {100 * box['confidence']:.2f}% at {box['box']}")
        if args.out:
            stem = Path(args.out) / Path(path).stem
            write_atomically(stem.with_suffix(".ppm"), pnm_bytes(drawn))
            write_atomically(stem.with_suffix(".png"), png_bytes(drawn))
    return 0
