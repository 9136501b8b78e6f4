"""MTCNN's three face detection networks (P-Net, R-Net, O-Net) in PyTorch, with their
pretrained weights.

The architecture is that of Zhang et al., *Joint Face Detection and Alignment using Multi-task
Cascaded Convolutional Networks* (2016), with the layer names of facenet-pytorch's state dicts,
so that those load strictly:

- P-Net (fully convolutional, any height and width from 12): conv 3->10 3x3, PReLU, max-pool
  2x2 stride 2 (ceil), conv 10->16 3x3, PReLU, conv 16->32 3x3, PReLU; heads conv 32->2 1x1 +
  softmax over channels (face probability) and conv 32->4 1x1 (box regression). A 12x12 input
  gives one 1x1 cell.
- R-Net (24x24): conv 3->28 3x3, PReLU, max-pool 3x3 s2 (ceil), conv 28->48 3x3, PReLU, max-pool
  3x3 s2 (ceil), conv 48->64 2x2, PReLU, dense 576->128, PReLU; heads dense 128->2 + softmax and
  dense 128->4.
- O-Net (48x48): conv 3->32 3x3, PReLU, max-pool 3x3 s2 (ceil), conv 32->64 3x3, PReLU,
  max-pool 3x3 s2 (ceil), conv 64->64 3x3, PReLU, max-pool 2x2 s2 (ceil), conv 64->128 2x2,
  PReLU, dense 1152->256, PReLU; heads dense 256->2 + softmax, 256->4 and 256->10 (five
  landmarks, x then y).

R-Net and O-Net flatten their last feature map in (N, W, H, C) order (the weights were converted
from a column-major framework): the dense layer's weights only fit that order.

Inputs are RGB, NCHW, float32 ``(pixel - 127.5) / 128``. The outputs are named
``probability`` (softmax over face / no face; channel 1 is the face), ``box`` and, for O-Net,
``landmarks``, in that order.

The weights come from the ``facenet-pytorch`` 2.6.0 wheel, which is only downloaded (it pins an
old torch: never installed): :func:`fetch_wheel` runs :data:`FETCH_COMMAND`, checks
:data:`WHEEL_SHA256`, and :func:`state_dicts_from_wheel` reads the three ``.pt`` files out of it
with ``torch.load(weights_only=True)``.
"""

import hashlib
import io
import logging
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from workflow.errors import DataError
from workflow.logs import timed
from workflow.models.export import onnx_from_torch

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

#: The wheel that ships the pretrained state dicts, its file name and sha256 (PyPI's
#: facenet_pytorch-2.6.0-py3-none-any.whl).
WHEEL = "facenet-pytorch==2.6.0"
WHEEL_FILE = "facenet_pytorch-2.6.0-py3-none-any.whl"
WHEEL_SHA256 = "ecb82b27beb226d106f2219efe8f829b01b87a8595badd01545679bdb9f19cca"
#: The command that downloads the wheel (without its dependencies) into a folder appended to it.
FETCH_COMMAND = (sys.executable, "-m", "pip", "download", "--no-deps", WHEEL, "-d")
#: The networks: their state dict's path inside the wheel and its sha256.
STATE_DICTS = {
    "pnet": (
        "facenet_pytorch/data/pnet.pt",
        "a2a71925e0b9996a42f63e47efc1ca19043e69558b5c523b978d611dfae49c8f",
    ),
    "rnet": (
        "facenet_pytorch/data/rnet.pt",
        "bbb937de72efc9ef83b186c49f5f558467a1d7e3453a8ece0d71a886633f6a86",
    ),
    "onet": (
        "facenet_pytorch/data/onet.pt",
        "165bfbe42940416ccfb977545cf0e976d5bf321f67083ae2aaaa5c764280118d",
    ),
}
NETWORKS = tuple(STATE_DICTS)
INPUT_NAME = "image"
#: Output names per network, in the order ``forward`` returns them.
OUTPUTS = {
    "pnet": ("probability", "box"),
    "rnet": ("probability", "box"),
    "onet": ("probability", "box", "landmarks"),
}
#: Fixed input side per network; None: P-Net takes any height and width of at least 12.
INPUT_SIDE = {"pnet": None, "rnet": 24, "onet": 48}
#: P-Net's smallest input side (one output cell).
PNET_MIN_SIDE = 12
#: Names of P-Net's dynamic height and width in the exported graph.
PNET_DIMS = ("height", "width")


def normalize(pixels: np.ndarray) -> np.ndarray:
    """RGB pixels in [0, 255] (N, 3, H, W) -> MTCNN's input ``(pixels - 127.5) / 128``."""
    return ((np.asarray(pixels, np.float32) - 127.5) * 0.0078125).astype(np.float32)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _checked_wheel(path: Path) -> Path:
    found = _sha256(path.read_bytes())
    if found != WHEEL_SHA256:
        raise DataError(
            path,
            f"sha256 {found} is not that of {WHEEL} ({WHEEL_SHA256}): another or a damaged file",
            f"delete it and fetch it again ({' '.join(FETCH_COMMAND[2:])} <folder>), or place "
            f"PyPI's {WHEEL_FILE} there by hand",
        )
    return path


def fetch_wheel(folder: str | Path, *, timeout_s: float = 300.0) -> Path:
    """The facenet-pytorch wheel in ``folder``, downloaded there first when absent.

    Args:
        folder: where the wheel lies or is downloaded to (created if needed).
        timeout_s: the longest the download may take, in seconds.

    Returns:
        The wheel's path, its sha256 checked.

    Raises:
        DataError: the download failed (no network, no such version) or the file's sha256
            differs from :data:`WHEEL_SHA256`.
    """
    folder = Path(folder)
    path = folder / WHEEL_FILE
    if path.is_file():
        return _checked_wheel(path)
    folder.mkdir(parents=True, exist_ok=True)
    command = [*FETCH_COMMAND, str(folder)]
    by_hand = f"place PyPI's {WHEEL_FILE} (sha256 {WHEEL_SHA256}) in {folder} by hand"
    with timed(log, f"{path} | {' '.join(command[2:])}"):
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=timeout_s, check=False
            )
        except subprocess.TimeoutExpired as err:
            raise DataError(
                path, f"download of {WHEEL} took longer than {timeout_s:.0f} s", by_hand
            ) from err
    if done.returncode != 0 or not path.is_file():
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise DataError(
            path,
            f"download of {WHEEL} failed (exit {done.returncode}): {' / '.join(tail)}",
            f"check the network and the package index, or {by_hand}",
        )
    return _checked_wheel(path)


def state_dicts_from_wheel(wheel: str | Path) -> dict[str, dict[str, "torch.Tensor"]]:
    """The pretrained state dicts of P-Net, R-Net and O-Net, read out of the wheel.

    Each ``.pt`` file's sha256 is checked, then loaded with ``torch.load(weights_only=True)``
    (tensors only, no code from the file runs).

    Raises:
        DataError: the wheel is no zip file, lacks a state dict, or one's sha256 differs.
    """
    import torch

    wheel = Path(wheel)
    try:
        archive = zipfile.ZipFile(wheel)
    except zipfile.BadZipFile as err:
        raise DataError(wheel, "not a zip file", f"delete it and fetch {WHEEL} again") from err
    result = {}
    with archive:
        for name, (member, checksum) in STATE_DICTS.items():
            try:
                data = archive.read(member)
            except KeyError as err:
                raise DataError(
                    wheel, f"has no {member}", f"use PyPI's {WHEEL_FILE} (sha256 {WHEEL_SHA256})"
                ) from err
            if _sha256(data) != checksum:
                raise DataError(
                    f"{wheel}:{member}",
                    f"sha256 {_sha256(data)} differs from {checksum}",
                    f"use PyPI's {WHEEL_FILE} (sha256 {WHEEL_SHA256})",
                )
            result[name] = torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
    return result


def mtcnn_net(name: str, state_dict: dict[str, "torch.Tensor"] | None = None) -> "torch.nn.Module":
    """One of MTCNN's networks in eval mode, with ``state_dict`` loaded strictly.

    Args:
        name: ``pnet``, ``rnet`` or ``onet``.
        state_dict: its weights (:func:`state_dicts_from_wheel`); None keeps torch's random
            initialisation.

    Raises:
        DataError: unknown name.
        RuntimeError: the state dict's keys or shapes do not fit (torch's strict load).
    """
    import torch
    from torch import nn

    def convs(*specs: tuple[int, int, int]) -> None:
        for index, (cin, cout, kernel) in enumerate(specs, start=1):
            setattr(net, f"conv{index}", nn.Conv2d(cin, cout, kernel_size=kernel))
            setattr(net, f"prelu{index}", nn.PReLU(cout))

    def flat(x: torch.Tensor) -> torch.Tensor:
        return x.permute(0, 3, 2, 1).flatten(1)  # (N, W, H, C) order, as the weights expect

    class PNet(nn.Module):
        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            x = nn.functional.max_pool2d(self.prelu1(self.conv1(x)), 2, 2, ceil_mode=True)
            x = self.prelu3(self.conv3(self.prelu2(self.conv2(x))))
            return torch.softmax(self.conv4_1(x), dim=1), self.conv4_2(x)

    class RNet(nn.Module):
        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            x = nn.functional.max_pool2d(self.prelu1(self.conv1(x)), 3, 2, ceil_mode=True)
            x = nn.functional.max_pool2d(self.prelu2(self.conv2(x)), 3, 2, ceil_mode=True)
            x = self.prelu4(self.dense4(flat(self.prelu3(self.conv3(x)))))
            return torch.softmax(self.dense5_1(x), dim=1), self.dense5_2(x)

    class ONet(nn.Module):
        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            x = nn.functional.max_pool2d(self.prelu1(self.conv1(x)), 3, 2, ceil_mode=True)
            x = nn.functional.max_pool2d(self.prelu2(self.conv2(x)), 3, 2, ceil_mode=True)
            x = nn.functional.max_pool2d(self.prelu3(self.conv3(x)), 2, 2, ceil_mode=True)
            x = self.prelu5(self.dense5(flat(self.prelu4(self.conv4(x)))))
            return torch.softmax(self.dense6_1(x), dim=1), self.dense6_2(x), self.dense6_3(x)

    if name == "pnet":
        net = PNet()
        convs((3, 10, 3), (10, 16, 3), (16, 32, 3))
        net.conv4_1, net.conv4_2 = nn.Conv2d(32, 2, 1), nn.Conv2d(32, 4, 1)
    elif name == "rnet":
        net = RNet()
        convs((3, 28, 3), (28, 48, 3), (48, 64, 2))
        net.dense4, net.prelu4 = nn.Linear(576, 128), nn.PReLU(128)
        net.dense5_1, net.dense5_2 = nn.Linear(128, 2), nn.Linear(128, 4)
    elif name == "onet":
        net = ONet()
        convs((3, 32, 3), (32, 64, 3), (64, 64, 3), (64, 128, 2))
        net.dense5, net.prelu5 = nn.Linear(1152, 256), nn.PReLU(256)
        net.dense6_1, net.dense6_2 = nn.Linear(256, 2), nn.Linear(256, 4)
        net.dense6_3 = nn.Linear(256, 10)
    else:
        raise DataError(f"MTCNN network {name!r}", "unknown", f"choose among {list(NETWORKS)}")
    if state_dict is not None:
        net.load_state_dict(state_dict, strict=True)
    return net.eval()


def sample_input(name: str, *, batch: int = 2, side: int = 24) -> np.ndarray:
    """A zero input batch of the network's shape (P-Net: ``side`` x ``side``)."""
    size = INPUT_SIDE[name] or side
    return np.zeros((batch, 3, size, size), np.float32)


def onnx_from_mtcnn(net: "torch.nn.Module", name: str, *, opset: int, max_side: int) -> bytes:
    """Export one network to ONNX: a dynamic batch; for P-Net also a dynamic height and width
    (named :data:`PNET_DIMS`, from 12 to ``max_side``).

    Args:
        net: the network (:func:`mtcnn_net`).
        name: ``pnet``, ``rnet`` or ``onet``.
        opset: ONNX opset version.
        max_side: P-Net's largest height and width.
    """
    dims = None
    if INPUT_SIDE[name] is None:
        dims = {
            axis: (dim, PNET_MIN_SIDE, max_side)
            for axis, dim in zip((2, 3), PNET_DIMS, strict=True)
        }
    return onnx_from_torch(
        net,
        sample_input(name, side=max(2 * PNET_MIN_SIDE, min(max_side, 48))),
        input_name=INPUT_NAME,
        output_name=OUTPUTS[name],
        opset=opset,
        dims=dims,
    )


def synthetic_images(count: int, *, height: int, width: int, seed: int) -> np.ndarray:
    """Generated RGB images (count, 3, H, W) in [0, 255], float32: smooth random backgrounds
    with skin-toned ellipses that have two dark eyes and a mouth (face-like blobs, not faces),
    the same bytes for the same seed."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    images = []
    for _ in range(count):
        coarse = rng.uniform(0, 255, (4, 5, 3)).astype(np.uint8)
        image = Image.fromarray(coarse).resize((width, height), Image.Resampling.BILINEAR)
        draw = ImageDraw.Draw(image)
        for _ in range(int(rng.integers(1, 4))):
            w = int(rng.integers(width // 6, width // 2 + 1))
            h = int(w * rng.uniform(1.1, 1.4))
            x0, y0 = (
                int(rng.integers(0, max(1, width - w))),
                int(rng.integers(0, max(1, height - h))),
            )
            skin = tuple(int(v) for v in rng.uniform([150, 100, 80], [240, 190, 160]))
            draw.ellipse([x0, y0, x0 + w, y0 + h], fill=skin)
            eye = max(1, w // 8)
            for ex in (x0 + w * 0.3, x0 + w * 0.7):
                ey = y0 + h * 0.4
                draw.ellipse([ex - eye, ey - eye / 2, ex + eye, ey + eye / 2], fill=(40, 30, 30))
            draw.line(
                [x0 + w * 0.35, y0 + h * 0.75, x0 + w * 0.65, y0 + h * 0.75],
                fill=(120, 40, 40),
                width=max(1, h // 16),
            )
        pixels = np.asarray(image, np.float32) + rng.normal(0, 4, (height, width, 3))
        images.append(np.clip(pixels, 0, 255).transpose(2, 0, 1))
    return np.stack(images).astype(np.float32)


def random_crops(images: np.ndarray, *, count: int, side: int, seed: int) -> np.ndarray:
    """``count`` square crops of random position and size, resized to ``side`` x ``side``
    (bilinear), from (N, 3, H, W) images in [0, 255]; float32 (count, 3, side, side)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    crops = []
    _, _, height, width = images.shape
    for _ in range(count):
        image = images[int(rng.integers(len(images)))]
        size = int(rng.integers(min(12, height, width), min(height, width) + 1))
        y, x = int(rng.integers(0, height - size + 1)), int(rng.integers(0, width - size + 1))
        patch = image[:, y : y + size, x : x + size].transpose(1, 2, 0).astype(np.uint8)
        resized = Image.fromarray(patch).resize((side, side), Image.Resampling.BILINEAR)
        crops.append(np.asarray(resized, np.float32).transpose(2, 0, 1))
    return np.stack(crops)


def mtcnn_feeds(
    name: str, shapes: list[tuple[int, int, int]], *, seed: int
) -> list[dict[str, np.ndarray]]:
    """Feeds of generated images for one network, one per ``(rows, height, width)``: P-Net
    whole images of that size, R-Net and O-Net random crops of 96x128 images resized to their
    input side (``height`` and ``width`` must be that side); normalised, by input name.

    Raises:
        DataError: unknown network, or a size R-Net or O-Net does not take.
    """
    if name not in INPUT_SIDE:
        raise DataError(f"MTCNN network {name!r}", "unknown", f"choose among {list(NETWORKS)}")
    side = INPUT_SIDE[name]
    feeds = []
    for k, (rows, height, width) in enumerate(shapes):
        if side is None:
            pixels = synthetic_images(rows, height=height, width=width, seed=seed + k)
        elif height == width == side:
            images = synthetic_images(8, height=96, width=128, seed=seed + k)
            pixels = random_crops(images, count=rows, side=side, seed=seed + k)
        else:
            raise DataError(
                f"{name} feed {k}", f"size {height}x{width}", f"{name} takes {side}x{side}"
            )
        feeds.append({INPUT_NAME: normalize(pixels)})
    return feeds
