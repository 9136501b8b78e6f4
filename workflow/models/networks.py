"""PyTorch networks by name, so that one training rule serves every sample."""

from typing import TYPE_CHECKING

from workflow.errors import PipelineError
from workflow.models.lenet import lenet

if TYPE_CHECKING:
    import torch


def mlp(sizes: list[int]) -> "torch.nn.Module":
    """Flatten, then dense + ReLU repeated, logits out (sampleMLP's network).

    Args:
        sizes: widths from the input features to the classes, e.g. [784, 256, 256, 10]. Layers
            are named ``fc1``, ``fc2``, ... as the network-API description expects.
    """
    from torch import nn

    class MLP(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            for index in range(len(sizes) - 1):
                setattr(self, f"fc{index + 1}", nn.Linear(sizes[index], sizes[index + 1]))
            self.depth = len(sizes) - 1

        def forward(self, x):  # noqa: ANN001, ANN202 - torch types are loaded lazily
            x = x.flatten(1)
            for index in range(1, self.depth + 1):
                x = getattr(self, f"fc{index}")(x)
                if index < self.depth:
                    x = nn.functional.relu(x)
            return x

    return MLP()


def build_network(name: str, *, mlp_sizes: list[int]) -> "torch.nn.Module":
    """A fresh network: ``lenet`` (also for ``lenet_fcplugin``, LeNet whose fc2 the network-API
    build makes a plugin layer) or ``mlp`` (with ``mlp_sizes``).

    Raises:
        PipelineError: unknown name.
    """

    if name in ("lenet", "lenet_fcplugin"):
        return lenet()
    if name == "mlp":
        return mlp(mlp_sizes)
    raise PipelineError(f"network {name!r}", "unknown", "use lenet or mlp")
