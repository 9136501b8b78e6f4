"""ResNet-50 and GoogLeNet in torchvision's layout (introductory_parser_samples, sampleGoogleNet).

The modules, their order and their parameter names are torchvision's (``torchvision.models.
resnet50`` and ``googlenet``), so torchvision's published ImageNet weights load into them
strictly and the project's ``.wts`` files carry the same names. The one addition is
``base_width``: the stem's channel count, 64 in torchvision; every layer's width scales with
it (16 makes a network with the same depth, blocks and strides and 1/16 of the multiply-adds,
which trains in minutes on two CPU cores). ImageNet weights need 64.
"""

from typing import TYPE_CHECKING

from workflow.errors import FormatError, PipelineError

if TYPE_CHECKING:
    import torch

#: torchvision's stem width; ImageNet weights exist for this width only.
IMAGENET_WIDTH = 64
#: torchvision's published ImageNet weights (IMAGENET1K_V1) by network: file name -> (url,
#: checksum); the name carries the first hex digits of the file's sha256, as torch.hub checks.
TORCHVISION_WEIGHTS = {
    "resnet50": (
        "resnet50-0676ba61.pth",
        "https://download.pytorch.org/models/resnet50-0676ba61.pth",
        "sha256:0676ba61",
    ),
    "googlenet": (
        "googlenet-1378be20.pth",
        "https://download.pytorch.org/models/googlenet-1378be20.pth",
        "sha256:1378be20",
    ),
}
#: Classes of the ImageNet weights.
IMAGENET_CLASSES = 1000
#: Bottleneck blocks per stage of ResNet-50.
RESNET50_BLOCKS = (3, 4, 6, 3)
#: GoogLeNet's inception blocks: name -> (ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj)
#: at torchvision's width (the 5x5 branch is a 3x3 convolution in torchvision, kept).
INCEPTION = {
    "inception3a": (64, 96, 128, 16, 32, 32),
    "inception3b": (128, 128, 192, 32, 96, 64),
    "inception4a": (192, 96, 208, 16, 48, 64),
    "inception4b": (160, 112, 224, 24, 64, 64),
    "inception4c": (128, 128, 256, 24, 64, 64),
    "inception4d": (112, 144, 288, 32, 64, 64),
    "inception4e": (256, 160, 320, 32, 128, 128),
    "inception5a": (256, 160, 320, 32, 128, 128),
    "inception5b": (384, 192, 384, 48, 128, 128),
}
#: The auxiliary heads' weight for the training loss (GoogLeNet's paper and torchvision).
AUX_WEIGHT = 0.3


def _scaled(channels: int, base_width: int) -> int:
    """A torchvision channel count at ``base_width``."""
    if base_width < 4 or base_width % 4:
        raise PipelineError(
            f"base_width {base_width}", "not a multiple of 4 of at least 4", "use 16 or 64"
        )
    return channels * base_width // IMAGENET_WIDTH


def resnet50(classes: int, *, base_width: int = IMAGENET_WIDTH) -> "torch.nn.Module":
    """ResNet-50 (v1.5: the stride on the 3x3 convolution), logits out.

    Args:
        classes: outputs of the last fully connected layer (``fc``).
        base_width: stem channels (torchvision: 64).
    """
    from torch import nn

    def conv(cin: int, cout: int, kernel: int, stride: int = 1) -> nn.Conv2d:
        return nn.Conv2d(cin, cout, kernel, stride, padding=kernel // 2, bias=False)

    class Bottleneck(nn.Module):
        def __init__(self, cin: int, planes: int, stride: int) -> None:
            super().__init__()
            self.conv1, self.bn1 = conv(cin, planes, 1), nn.BatchNorm2d(planes)
            self.conv2, self.bn2 = conv(planes, planes, 3, stride), nn.BatchNorm2d(planes)
            self.conv3, self.bn3 = conv(planes, planes * 4, 1), nn.BatchNorm2d(planes * 4)
            self.relu = nn.ReLU(inplace=True)
            self.downsample = None
            if stride != 1 or cin != planes * 4:
                self.downsample = nn.Sequential(
                    conv(cin, planes * 4, 1, stride), nn.BatchNorm2d(planes * 4)
                )

        def forward(self, x):  # noqa: ANN001, ANN202 - torch types are loaded lazily
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.relu(self.bn2(self.conv2(out)))
            out = self.bn3(self.conv3(out))
            shortcut = x if self.downsample is None else self.downsample(x)
            return self.relu(out + shortcut)

    class ResNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            width = _scaled(64, base_width)
            self.conv1 = nn.Conv2d(3, width, 7, 2, padding=3, bias=False)
            self.bn1 = nn.BatchNorm2d(width)
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(3, 2, padding=1)
            cin = width
            for stage, blocks in enumerate(RESNET50_BLOCKS):
                planes = width * 2**stage
                layer = []
                for block in range(blocks):
                    stride = 2 if stage > 0 and block == 0 else 1
                    layer.append(Bottleneck(cin, planes, stride))
                    cin = planes * 4
                setattr(self, f"layer{stage + 1}", nn.Sequential(*layer))
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(cin, classes)
            for module in self.modules():
                if isinstance(module, nn.Conv2d):
                    nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            for module in self.modules():  # torchvision's zero_init_residual=True
                if isinstance(module, Bottleneck):
                    nn.init.zeros_(module.bn3.weight)

        def forward(self, x):  # noqa: ANN001, ANN202
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(self.avgpool(x).flatten(1))

    return ResNet()


def googlenet(
    classes: int, *, base_width: int = IMAGENET_WIDTH, transform_input: bool = False
) -> "torch.nn.Module":
    """GoogLeNet (Inception v1) with torchvision's batch-normalised convolutions and two
    auxiliary heads (``aux1`` after inception4a, ``aux2`` after inception4d).

    In training mode the forward pass returns ``(logits, aux2, aux1)``, as torchvision's; in
    eval mode the logits only, so an export drops the auxiliary heads.

    Args:
        classes: outputs of ``fc`` and of the auxiliary heads.
        base_width: stem channels (torchvision: 64).
        transform_input: torchvision's input transform for its ImageNet weights (they were
            trained on ``(x - 0.5) / 0.5``; this maps ImageNet-normalised input to that).
    """
    import torch
    from torch import nn

    def width(channels: int) -> int:
        return _scaled(channels, base_width)

    class BasicConv2d(nn.Module):
        def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, padding: int = 0):
            super().__init__()
            self.conv = nn.Conv2d(cin, cout, kernel, stride, padding, bias=False)
            self.bn = nn.BatchNorm2d(cout, eps=0.001)

        def forward(self, x):  # noqa: ANN001, ANN202
            return nn.functional.relu(self.bn(self.conv(x)), inplace=True)

    class Inception(nn.Module):
        def __init__(self, cin: int, spec: tuple[int, ...]) -> None:
            super().__init__()
            c1, c3r, c3, c5r, c5, pool = (width(c) for c in spec)
            self.branch1 = BasicConv2d(cin, c1, 1)
            self.branch2 = nn.Sequential(BasicConv2d(cin, c3r, 1), BasicConv2d(c3r, c3, 3, 1, 1))
            self.branch3 = nn.Sequential(BasicConv2d(cin, c5r, 1), BasicConv2d(c5r, c5, 3, 1, 1))
            self.branch4 = nn.Sequential(
                nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True), BasicConv2d(cin, pool, 1)
            )
            self.out_channels = c1 + c3 + c5 + pool

        def forward(self, x):  # noqa: ANN001, ANN202
            branches = (self.branch1, self.branch2, self.branch3, self.branch4)
            return torch.cat([branch(x) for branch in branches], 1)

    class InceptionAux(nn.Module):
        def __init__(self, cin: int) -> None:
            super().__init__()
            self.conv = BasicConv2d(cin, width(128), 1)
            self.fc1 = nn.Linear(width(128) * 16, width(1024))
            self.fc2 = nn.Linear(width(1024), classes)
            self.dropout = nn.Dropout(0.7)

        def forward(self, x):  # noqa: ANN001, ANN202
            x = self.conv(nn.functional.adaptive_avg_pool2d(x, (4, 4))).flatten(1)
            return self.fc2(self.dropout(nn.functional.relu(self.fc1(x), inplace=True)))

    class GoogLeNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transform_input = transform_input
            self.conv1 = BasicConv2d(3, width(64), 7, 2, 3)
            self.maxpool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
            self.conv2 = BasicConv2d(width(64), width(64), 1)
            self.conv3 = BasicConv2d(width(64), width(192), 3, 1, 1)
            self.maxpool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
            cin = width(192)
            for name, spec in INCEPTION.items():
                block = Inception(cin, spec)
                setattr(self, name, block)
                cin = block.out_channels
                if name == "inception3b":
                    self.maxpool3 = nn.MaxPool2d(3, 2, ceil_mode=True)
                if name == "inception4e":
                    self.maxpool4 = nn.MaxPool2d(2, 2, ceil_mode=True)
            self.aux1 = InceptionAux(self.inception4a.out_channels)
            self.aux2 = InceptionAux(self.inception4d.out_channels)
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.dropout = nn.Dropout(0.2)
            self.fc = nn.Linear(cin, classes)
            for module in self.modules():  # torchvision's initialisation
                if isinstance(module, nn.Conv2d | nn.Linear):
                    nn.init.trunc_normal_(module.weight, mean=0.0, std=0.01, a=-2, b=2)

        def _transform(self, x):  # noqa: ANN001, ANN202
            mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
            channels = [x[:, c : c + 1] * (std[c] / 0.5) + (mean[c] - 0.5) / 0.5 for c in range(3)]
            return torch.cat(channels, 1)

        def forward(self, x):  # noqa: ANN001, ANN202
            if self.transform_input:
                x = self._transform(x)
            x = self.maxpool1(self.conv1(x))
            x = self.maxpool2(self.conv3(self.conv2(x)))
            x = self.maxpool3(self.inception3b(self.inception3a(x)))
            x = self.inception4a(x)
            aux1 = self.aux1(x) if self.training else None
            x = self.inception4d(self.inception4c(self.inception4b(x)))
            aux2 = self.aux2(x) if self.training else None
            x = self.maxpool4(self.inception4e(x))
            x = self.inception5b(self.inception5a(x))
            logits = self.fc(self.dropout(self.avgpool(x).flatten(1)))
            return (logits, aux2, aux1) if self.training else logits

    return GoogLeNet()


#: The image classifiers by registry network name.
IMAGE_NETWORKS = ("resnet50", "googlenet")


def build_image_network(
    name: str, classes: int, *, base_width: int, imagenet: bool = False
) -> "torch.nn.Module":
    """A fresh ``resnet50`` or ``googlenet`` (eval-mode output: logits); ``imagenet``: for
    torchvision's ImageNet weights (GoogLeNet's input transform on).

    Raises:
        PipelineError: unknown name.
    """
    if name == "resnet50":
        return resnet50(classes, base_width=base_width)
    if name == "googlenet":
        return googlenet(classes, base_width=base_width, transform_input=imagenet)
    raise PipelineError(f"network {name!r}", "unknown", f"use one of {IMAGE_NETWORKS}")


def check_imagenet_classes(name: str, classes: int) -> None:
    """Refuse to score ImageNet weights on data without ImageNet's classes.

    Raises:
        PipelineError: ``classes`` is not 1000 (scores would be meaningless).
    """
    if classes != IMAGENET_CLASSES:
        raise PipelineError(
            f"ImageNet weights of {name}",
            f"predict {IMAGENET_CLASSES} classes, the data has {classes}",
            "set data.images.classes: imagenet and score on ImageNet's class folders",
        )


def load_torchvision_weights(name: str, path: str) -> "torch.nn.Module":
    """``name`` with torchvision's ImageNet weights from ``path`` (its published ``.pth``).

    Every tensor of the file must fit the network; the network's auxiliary heads may be
    missing from it (they are not exported).

    Raises:
        FormatError: the file's tensors do not match the network (names or shapes).
    """
    import torch

    model = build_image_network(name, IMAGENET_CLASSES, base_width=IMAGENET_WIDTH, imagenet=True)
    state = torch.load(path, map_location="cpu", weights_only=True)
    expected = model.state_dict()
    wrong = [k for k, v in state.items() if k not in expected or expected[k].shape != v.shape]
    missing = [k for k in expected if k not in state and not k.startswith("aux")]
    if wrong or missing:
        raise FormatError(
            path,
            f"not torchvision's {name}: {len(wrong)} tensors that do not fit ({wrong[:3]}), "
            f"{len(missing)} missing ({missing[:3]})",
        )
    model.load_state_dict(state, strict=False)
    return model.eval()
