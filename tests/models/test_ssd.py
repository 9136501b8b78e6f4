import numpy as np

from workflow.detect.match import match_priors
from workflow.detect.priors import SEED_CONFIG, grid_anchors, layer_boxes
from workflow.detect.shapes import CLASSES, scene
from workflow.models.ssd import multibox_loss, ssd_net

BOXES = [len(layer_boxes(SEED_CONFIG, k)) for k in range(6)]


def test_outputs_follow_the_priors():
    import torch

    torch.manual_seed(0)
    loc, conf = ssd_net(len(CLASSES), BOXES)(torch.zeros(2, 3, 300, 300))
    assert loc.shape == (2, 1917, 4) and conf.shape == (2, 1917, len(CLASSES) + 1)


def test_loss_falls_when_fitting_two_scenes():
    import torch

    torch.manual_seed(0)
    priors = grid_anchors()
    images, locs, labels = [], [], []
    for seed in range(2):
        image, objects = scene(seed, max_objects=3, min_size=40, max_size=120)
        images.append(image.transpose(2, 0, 1) / 127.5 - 1)
        boxes = np.array([[v / 300 for v in o.box] for o in objects], np.float32)
        classes = np.array([CLASSES.index(o.name) + 1 for o in objects])
        target, label = match_priors(
            boxes, classes, priors, variances=SEED_CONFIG.variances, iou_threshold=0.5
        )
        locs.append(target)
        labels.append(label)
    x = torch.from_numpy(np.stack(images).astype(np.float32))
    target_loc, target_labels = torch.from_numpy(np.stack(locs)), torch.from_numpy(np.stack(labels))
    model = ssd_net(len(CLASSES), BOXES)
    optimizer = torch.optim.Adam(model.parameters(), 1e-3)
    losses = []
    for _ in range(15):
        loc, conf = model(x)
        loss = multibox_loss(loc, conf, target_loc, target_labels, negatives_per_positive=3)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert np.isfinite(losses).all() and losses[-1] < 0.5 * losses[0]
