"""LeNet, the seed's MNIST network, in PyTorch.

conv 20 5x5 -> max-pool 2 -> conv 50 5x5 -> max-pool 2 -> fc 500 -> ReLU -> fc 10 -> softmax.
Input: float32 (N, 1, 28, 28) in [0, 1]. ``forward`` returns logits (what training needs);
:func:`with_softmax` wraps it for export so the ONNX output ``prob`` is a probability
distribution, as in the seed.
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

INPUT_NAME = "input"
OUTPUT_NAME = "prob"


def lenet() -> "torch.nn.Module":
    """Return a freshly initialised LeNet (weights from torch's current RNG state)."""
    import torch
    from torch import nn

    class LeNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(1, 20, kernel_size=5)
            self.conv2 = nn.Conv2d(20, 50, kernel_size=5)
            self.fc1 = nn.Linear(50 * 4 * 4, 500)
            self.fc2 = nn.Linear(500, 10)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = nn.functional.max_pool2d(self.conv1(x), 2)
            x = nn.functional.max_pool2d(self.conv2(x), 2)
            x = nn.functional.relu(self.fc1(torch.flatten(x, 1)))
            return self.fc2(x)

    return LeNet()


def with_softmax(model: "torch.nn.Module") -> "torch.nn.Module":
    """Wrap a logits model so that it outputs probabilities (softmax over the last axis)."""
    from torch import nn

    return nn.Sequential(model, nn.Softmax(dim=1)).eval()
