"""SSD on the generated shape scenes: training time per epoch and mAP@0.5 (exploration for the
SSD sample; not yet a rule).

    .venv/bin/python benchmarks/ssd_training.py [--train 1000] [--test 100] [--epochs 12]

Measured here (one thread, other jobs running): 1,000 scenes, 12 epochs of ~27 s, mAP@0.5 0.95.
"""

import argparse
import time

import numpy as np

from workflow.detect.boxes import decode, nms
from workflow.detect.evaluate import Detection, GroundTruth, mean_average_precision
from workflow.detect.match import match_priors
from workflow.detect.priors import SEED_CONFIG, grid_anchors, layer_boxes
from workflow.detect.shapes import CLASSES, scene
from workflow.models.ssd import multibox_loss, ssd_net


def scenes(start: int, count: int):
    images, truths = [], []
    for index in range(count):
        image, objects = scene(start + index, max_objects=4, min_size=30, max_size=150)
        images.append(image.transpose(2, 0, 1).astype(np.float32) / 127.5 - 1)
        boxes = np.array([[v / 300 for v in o.box] for o in objects], np.float32)
        truths.append((boxes, np.array([CLASSES.index(o.name) + 1 for o in objects])))
    return np.stack(images), truths


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--train", type=int, default=1000)
    parser.add_argument("--test", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    priors = grid_anchors()
    variances = SEED_CONFIG.variances
    train_x, train_truths = scenes(0, args.train)
    test_x, test_truths = scenes(1_000_000, args.test)
    matched = [
        match_priors(boxes, labels, priors, variances=variances, iou_threshold=0.5)
        for boxes, labels in train_truths
    ]
    target_loc = torch.from_numpy(np.stack([m[0] for m in matched]))
    target_labels = torch.from_numpy(np.stack([m[1] for m in matched]))
    model = ssd_net(len(CLASSES), [len(layer_boxes(SEED_CONFIG, k)) for k in range(6)])
    optimizer = torch.optim.AdamW(model.parameters(), 2e-3, weight_decay=1e-4)
    batch = 16
    steps = args.epochs * ((args.train + batch - 1) // batch)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, 3e-3, total_steps=steps)
    x = torch.from_numpy(train_x)
    for epoch in range(args.epochs):
        start, total = time.perf_counter(), 0.0
        order = torch.randperm(args.train)
        model.train()
        for i in range(0, args.train, batch):
            idx = order[i : i + batch]
            loc, conf = model(x[idx])
            loss = multibox_loss(
                loc, conf, target_loc[idx], target_labels[idx], negatives_per_positive=3
            )
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item()
        print(
            f"epoch {epoch + 1}: loss {total / (args.train / batch):.3f}, "
            f"{time.perf_counter() - start:.1f} s",
            flush=True,
        )
    model.eval()
    with torch.no_grad():
        loc, conf = model(torch.from_numpy(test_x))
    probs = torch.softmax(conf, -1).numpy()
    boxes = decode(loc.numpy(), priors, variances)
    detections, truths = [], []
    for image in range(args.test):
        for box, label in zip(*test_truths[image], strict=True):
            truths.append(GroundTruth(image, int(label), tuple(box)))
        for label in range(1, len(CLASSES) + 1):
            scores = probs[image, :, label]
            keep = np.flatnonzero(scores > 0.01)
            for j in keep[nms(boxes[image, keep], scores[keep], iou_threshold=0.45, top_k=200)][
                :100
            ]:
                detections.append(Detection(image, label, float(scores[j]), tuple(boxes[image, j])))
    result = mean_average_precision(detections, truths, classes=list(range(1, len(CLASSES) + 1)))
    print(f"mAP@0.5 {result['map']:.4f} per class {result['per_class']}")


if __name__ == "__main__":
    main()
