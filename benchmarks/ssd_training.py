"""SSD on the generated shape scenes: training time and mAP@0.5 for a training-set size and an
epoch count (how the defaults data.detect.shapes.train = 2000 and train.ssd.epochs = 8 were chosen).

    .venv/bin/python benchmarks/ssd_training.py [--train 2000] [--test 300] [--epochs 8]

Uses the pipeline's own code (scene generator, training, export, host NMS, mAP) in memory, so
it needs no Snakemake run. Measured here (2 cores, other work running): 2,000 scenes, 8 epochs
of 27-30 s (286 s), mAP@0.5 0.962 on 300 test scenes; 1,000 scenes and 12 epochs gave 0.95.
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from workflow.data.detection import DetectionSet
from workflow.data.images import to_nchw
from workflow.data.shapes import CLASSES, scene, shape_seeds
from workflow.detect.evaluate import ground_truths
from workflow.detect.postprocess import NmsParams
from workflow.io import write_atomically
from workflow.models.checkpoint import state_dict_bytes
from workflow.models.ssd import INPUT_OFFSET, INPUT_SCALE, export_ssd, train_ssd
from workflow.ort.runner import OrtRunner
from workflow.score.detect import detect, detection_list, map_report


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--train", type=int, default=2000)
    parser.add_argument("--test", type=int, default=300)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    shape = {"max_objects": 4, "min_size": 30, "max_size": 150}
    train = [scene(s, **shape) for s in shape_seeds(0, "train", args.train)]
    test = [scene(s, **shape) for s in shape_seeds(0, "test", args.test)]
    start = time.perf_counter()
    model = train_ssd(
        np.stack([image for image, _ in train]),
        [objects for _, objects in train],
        CLASSES,
        seed=0,
        epochs=args.epochs,
        batch_size=16,
        learning_rate=3e-3,
        weight_decay=1e-4,
        negatives_per_positive=3,
        match_iou=0.5,
        threads=args.threads,
    )
    trained = time.perf_counter() - start
    test_set = DetectionSet(np.stack([i for i, _ in test]), [objects for _, objects in test], [])
    inputs = to_nchw(test_set.images, scale=INPUT_SCALE, offset=INPUT_OFFSET)
    with tempfile.TemporaryDirectory() as folder:
        weights = Path(folder) / "weights.pt"
        write_atomically(weights, state_dict_bytes(model))
        graph, _ = export_ssd(
            str(weights), len(CLASSES), inputs[:8], opset=18, batch_size=8, tolerance=1e-4
        )
        onnx = Path(folder) / "model.onnx"
        onnx.write_bytes(graph)
        with OrtRunner(str(onnx), threads=args.threads) as runner:
            found, counts = detect(
                runner, inputs, batch_size=16, place="host", params=NmsParams(0.01, 0.45, 100, 100)
            )
    truths = ground_truths(test_set, CLASSES)
    report = map_report(
        detection_list(found, counts),
        truths,
        classes=CLASSES,
        images=args.test,
        iou_threshold=0.5,
        max_detections=100,
    )
    print(
        f"{args.train} scenes x {args.epochs} epochs: training {trained:.0f} s, "
        f"mAP@0.5 {report['map']:.4f} (pycocotools {report['library']['map']:.4f})"
    )


if __name__ == "__main__":
    main()
