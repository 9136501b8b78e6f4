"""The interface every detector network implements (what scoring, calibration, the rules' plan
and the detect tool ask of a detector, so that none of them branches on the network's name),
and the training loop every detector trainer runs (:func:`train_detector`).

A detector is made from its *spec*, the dict the workflow passes as a rule param (built by
``workflow.plan.Plan.detector``): ``network`` (the registry's network) and what the detector
reads besides its graph, e.g. a YOLOv3's darknet ``cfg`` or Faster R-CNN's geometry (config
``train.frcnn``). :func:`workflow.models.detectors.detector_from` picks the implementation;
each one sits beside its model code (``workflow.models.ssd``, ``yolo``, ``frcnn``).

Scoring takes the graph's outputs to corner boxes relative to the image, (N, P, 4) in
[0, 1], and per-class scores (N, P, C + 1) whose column 0 is the background; NMS, mAP and
drawing are shared.

The loop lives here rather than beside the classifiers' (``workflow.models.train``) so that
an edit to one trainer reruns only its own chains (rule fingerprints follow imports).
"""

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, TypedDict, TypeVar, Unpack

import numpy as np

from workflow.backend.base import BaseRunner
from workflow.errors import PipelineError
from workflow.formats.voc import Annotation
from workflow.logs import timed

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

#: A graph's outputs -> (boxes, scores) as scoring takes them (see the module docstring).
Decode = Callable[[dict[str, np.ndarray]], tuple[np.ndarray, np.ndarray]]
#: The model a trainer's build returns.
Model = TypeVar("Model", bound="torch.nn.Module")
#: A detector's loss of one batch: (scene indices (B,) into its training set, whether this
#: epoch's scenes are mirrored left to right) -> the scalar loss.
BatchLoss = Callable[["torch.Tensor", bool], "torch.Tensor"]


class LoopSettings(TypedDict):
    """The settings of :func:`train_detector` that a trainer's config section holds and the
    trainer passes on as they are (``**loop``)."""

    seed: int
    epochs: int
    batch_size: int
    learning_rate: float
    weight_decay: float
    threads: int


class Detector(ABC):
    """One detector network: its input preparation, the decoding of its graph's outputs, how
    its graphs run together and how its later graphs are calibrated.

    Class attributes describe what the workflow hands it (read by the plan before any
    detector is made); a subclass sets ``network`` and whichever of the others apply.

    Args:
        spec: the detector's spec (see the module docstring).
    """

    #: The registry's ``network`` value of the rows this class serves.
    network: ClassVar[str]
    #: The graphs of a detector split at a host step, in running order (the registry row's
    #: ``parts``, e.g. ``("rpn", "head")``); empty for one graph.
    parts: ClassVar[tuple[str, ...]] = ()
    #: The section of config ``train`` whose ``config_keys`` go into the spec (settings the
    #: graphs and the host steps share, e.g. ``frcnn``); ``None`` when it reads none.
    config_section: ClassVar[str | None] = None
    config_keys: ClassVar[tuple[str, ...]] = ()
    #: The spec keys that :meth:`network_input` reads (the calibration images' params, so
    #: that nothing else of the spec remakes them).
    input_keys: ClassVar[tuple[str, ...]] = ()
    #: Built from a darknet ``.cfg``: the spec's ``cfg`` (a rule input; weights trained
    #: elsewhere also bring ``names``, the classes they detect).
    darknet_cfg: ClassVar[bool] = False
    #: (height, width) of the images the network takes as they are; ``None``: any size (its
    #: input preparation resizes them).
    image_size: ClassVar[tuple[int, int] | None] = None

    def __init__(self, spec: Mapping[str, Any]) -> None:
        self.spec = dict(spec)

    @property
    def names(self) -> str | None:
        """The class-names file of weights trained elsewhere (they detect their own classes,
        in that order), or ``None`` for weights trained on the detection set."""
        return self.spec.get("names")

    @abstractmethod
    def network_input(self, images: np.ndarray) -> np.ndarray:
        """uint8 RGB images (N, H, W, 3) as the (first) graph takes them, float32 (N, 3, h, w)."""

    def decode(self, image_size: tuple[int, int]) -> Decode | None:
        """How the graph's outputs of images of ``image_size`` (height, width) become boxes
        and scores (see the module docstring); ``None`` (the default): the graph ends with
        them, as ``boxes`` and ``scores``, or with NMS's ``detections``."""
        return None

    def join(self, runners: list[BaseRunner]) -> BaseRunner:
        """One runner of the detector from inactive runners of its graphs, one per part in
        :attr:`parts` order (the default: the one graph's runner)."""
        if len(runners) != 1:
            raise PipelineError(
                f"detector {self.network}",
                f"has one graph, given {len(runners)} runners",
                "give the runner of its graph alone",
            )
        return runners[0]

    def part_feeds(
        self, part: str, images: np.ndarray, earlier: BaseRunner, *, batch_size: int
    ) -> list[dict[str, np.ndarray]]:
        """Calibration feeds of a later graph ``part``, one per batch of uint8 scenes
        ``images``: what the graph before it (``earlier``, an inactive runner) and the host
        step between them give for the scenes. The first graph is calibrated on
        :meth:`network_input` alone.

        Raises:
            PipelineError: the detector has no such part.
        """
        raise PipelineError(
            f"detector {self.network}",
            f"has no graph {part!r} after its first (parts: {list(self.parts) or 'one graph'})",
        )

    def train(
        self,
        images: np.ndarray,
        annotations: list[list[Annotation]],
        classes: tuple[str, ...],
        **loop: Unpack[LoopSettings],
    ) -> "torch.nn.Module":
        """Train the network on uint8 scenes (N, H, W, 3) and their objects (seeded,
        deterministic; ``loop`` is config ``train.detector``, for rule train_detector).

        Raises:
            PipelineError: the detector is trained by a rule of its own.
        """
        raise PipelineError(
            f"detector {self.network}",
            "has no training for rule train_detector",
            "give it a train method, or train it by its own rule",
        )

    def export(
        self,
        weights: str,
        classes: int,
        images: np.ndarray,
        *,
        opset: int,
        batch_size: int,
        tolerance: float,
    ) -> tuple[bytes, dict[str, Any]]:
        """The ONNX graph of trained weights (a state dict file) for ``classes`` object
        classes, checked against the framework on uint8 scenes ``images`` (rule
        onnx_export_detector).

        Returns:
            The graph and the parity report of each output.

        Raises:
            PipelineError: the detector is exported by a rule of its own.
        """
        raise PipelineError(
            f"detector {self.network}",
            "has no export for rule onnx_export_detector",
            "give it an export method, or export it by its own rule",
        )


def train_detector(
    build: Callable[[], tuple[Model, BatchLoss]],
    scenes: int,
    *,
    name: str,
    hint: str | None = None,
    seed: int,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    weight_decay: float,
    threads: int,
    flip: bool = False,
) -> Model:
    """The training loop of a detector: AdamW with a one-cycle learning rate peaking at
    ``learning_rate``, the scenes in a seeded random order each epoch, timed epochs and their
    mean loss in the log.

    Args:
        build: returns the new model and its :data:`BatchLoss`; called after seeding, so the
            model's initial weights (and whatever else it draws from torch's generator)
            follow ``seed``. It prepares the trainer's data (targets, inputs) too.
        scenes: size of the training set (the batch loss's indices run over it).
        name: the trainer in log lines and errors (``ssd``: ``train ssd | epoch 1``).
        hint: the fix named when the loss is not finite. Defaults to lowering the learning
            rate of config ``train.<name>``.
        seed: seeds torch's generator (after ``threads`` threads and deterministic
            algorithms are set) and the scene order.
        epochs: passes over the scenes.
        batch_size: scenes per step.
        learning_rate: peak AdamW step size.
        weight_decay: AdamW weight decay.
        threads: torch intra-op threads.
        flip: mirror every other epoch's scenes (the second, fourth, ...): the batch loss is
            told so and mirrors its inputs and targets.

    Returns:
        The trained model, in eval mode.

    Raises:
        PipelineError: the loss became NaN or infinite.
    """
    import torch

    hint = hint or f"lower train.{name}.learning_rate"
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(seed)
    model, batch_loss = build()
    optimizer = torch.optim.AdamW(model.parameters(), learning_rate, weight_decay=weight_decay)
    steps_per_epoch = (scenes + batch_size - 1) // batch_size
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, learning_rate, total_steps=epochs * steps_per_epoch
    )
    order_rng = torch.Generator().manual_seed(seed)
    model.train()
    with timed(log, f"train {name} | {scenes} scenes, {epochs} epochs, batch {batch_size}"):
        for epoch in range(epochs):
            mirrored = flip and epoch % 2 == 1
            order = torch.randperm(scenes, generator=order_rng)
            total = 0.0
            with timed(log, f"train {name} | epoch {epoch + 1}"):
                for start in range(0, scenes, batch_size):
                    idx = order[start : start + batch_size]
                    loss = batch_loss(idx, mirrored)
                    if not torch.isfinite(loss):
                        raise PipelineError(
                            f"train {name} epoch {epoch + 1}", "the loss is not finite", hint
                        )
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
                    schedule.step()
                    total += loss.item() * len(idx)
            log.info("train %s | epoch %d: loss %.4f", name, epoch + 1, total / scenes)
    return model.eval()
