"""PyTorch weights files: saved byte-identically whatever their name, loaded for inference."""

import io
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def state_dict_bytes(model: "torch.nn.Module") -> bytes:
    """Serialise a model's state dict with ``torch.save``, independent of the output file name.

    ``torch.save`` to a path names the archive's inner folder after the file; saving to memory
    keeps the bytes identical whatever the destination is called.
    """
    import torch

    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.getvalue()


def load_state_dict(model: "torch.nn.Module", path: str) -> "torch.nn.Module":
    """Load weights saved by :func:`state_dict_bytes` into ``model``; return it in eval mode."""
    import torch

    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.eval()
