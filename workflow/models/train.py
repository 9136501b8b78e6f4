"""Seeded, deterministic training of image classifiers in PyTorch.

Two trainings with the same data and arguments give bit-identical weights: the seed fixes the
initialisation and the shuffling, deterministic algorithms are enforced and the thread count is
an argument (float reductions depend on how work is split between threads).
"""

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from workflow.errors import PipelineError
from workflow.logs import timed

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)


def train_classifier(
    build: Callable[[], "torch.nn.Module"],
    images: np.ndarray,
    labels: np.ndarray,
    *,
    seed: int,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    momentum: float,
    weight_decay: float,
    threads: int,
    aux_weight: float = 0.0,
    flip: bool = False,
) -> "torch.nn.Module":
    """Train a classifier with SGD and cross-entropy on logits (and, for a model that returns
    ``(logits, *auxiliary_logits)`` in training, ``aux_weight`` times each head's loss).

    Args:
        build: returns a new model; called after seeding, so its initial weights follow ``seed``.
        images: float32 network inputs (N, C, H, W).
        labels: class indices (N,).
        seed: seeds the initial weights and the order of the mini-batches.
        epochs: passes over the training set.
        batch_size: images per SGD step.
        learning_rate: SGD step size; decays by cosine to zero over the run.
        momentum: SGD momentum.
        weight_decay: L2 penalty.
        threads: torch intra-op threads.
        aux_weight: weight of the auxiliary heads' losses.
        flip: mirror a random half of each batch left to right (images whose classes do not
            change in a mirror), drawn from the seeded generator.

    Returns:
        The trained model, in eval mode.

    Raises:
        PipelineError: the loss became NaN or infinite (learning rate too high).
    """
    import torch

    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(seed)
    model = build()
    x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))
    y = torch.from_numpy(np.asarray(labels, dtype=np.int64))
    optimizer = torch.optim.SGD(
        model.parameters(), lr=learning_rate, momentum=momentum, weight_decay=weight_decay
    )
    steps_per_epoch = (len(x) + batch_size - 1) // batch_size
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs * steps_per_epoch)
    order_rng = torch.Generator().manual_seed(seed)
    loss_fn = torch.nn.CrossEntropyLoss()
    model.train()
    with timed(log, f"train | {len(x)} images, {epochs} epochs, batch {batch_size}"):
        for epoch in range(epochs):
            order = torch.randperm(len(x), generator=order_rng)
            total, correct = 0.0, 0
            for start in range(0, len(x), batch_size):
                idx = order[start : start + batch_size]
                batch = x[idx]
                if flip:
                    mirrored = torch.rand(len(idx), generator=order_rng) < 0.5
                    batch = torch.where(mirrored[:, None, None, None], batch.flip(3), batch)
                logits = model(batch)
                if isinstance(logits, tuple):  # auxiliary heads (GoogLeNet) join the loss
                    logits, *aux = logits
                    loss = loss_fn(logits, y[idx])
                    loss = loss + aux_weight * sum(loss_fn(head, y[idx]) for head in aux)
                else:
                    loss = loss_fn(logits, y[idx])
                if not torch.isfinite(loss):
                    raise PipelineError(
                        f"train epoch {epoch + 1}",
                        f"loss is {loss.item()}",
                        "lower train.learning_rate",
                    )
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                schedule.step()
                total += loss.item() * len(idx)
                correct += int((logits.argmax(1) == y[idx]).sum())
            log.info(
                "train | epoch %d/%d loss %.4f train accuracy %.4f",
                epoch + 1,
                epochs,
                total / len(x),
                correct / len(x),
            )
    return model.eval()
