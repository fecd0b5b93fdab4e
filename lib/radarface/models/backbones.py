"""Image-to-vector backbones for 1- or 2-channel radar images of 32–128 px.

Three families, each a function ``(in_channels, n_out, image_size) -> nn.Module`` mapping
(B, C, H, W) to (B, n_out):

- :func:`resnet` — torchvision's ResNet-50 (``depth=50``, the paper's) or ResNet-18
  (``depth=18``, optionally narrowed with ``width``), without pretrained weights.
- :func:`alexnet` — torchvision's AlexNet (the paper's pose network) or a narrow copy.
- :func:`plain_cnn` — a plain stack of convolution blocks (one or two convolutions each) with a flattened
  or average-pooled linear head
  (profile ``cpu``, one network for all targets).
- :func:`tiny_cnn` — three strided convolutions, for the smoke profile and tests.

Adapting ImageNet networks to radar images (C = 1 or 2, 32–64 px). Their stems were made
for 224 px: ResNet reduces by 4 before its first stage (7×7 stride-2 convolution plus a
max pool) and by 32 in all, AlexNet by 4 in its 11×11 first convolution and by 32 in all,
which leaves a 1×1 map or less of a 32–64 px image. :func:`stem_stride` picks the stem's
reduction so the last feature map is about 4×4 (ResNet) or 3×3 (AlexNet) whatever the
size: 1 for ≤ 45 px, 2 up to 90 px, else the original 4. Concretely:

- ResNet, stride 1: 3×3 stride-1 first convolution, no max pool (as for CIFAR);
  stride 2: the 7×7 stride-2 convolution, no max pool; stride 4: unchanged.
- AlexNet, stride 1 or 2: a 5×5 first convolution with that stride, the three 3×3
  stride-2 max pools kept; the adaptive average pool gives 3×3 (not 6×6, which would only
  repeat a 3×3 map) and the classifier's first layer takes 256·3·3 inputs. Stride 4:
  the original 11×11 stride-4 convolution and 6×6 pool.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torchvision.models import AlexNet, resnet50
from torchvision.models.resnet import BasicBlock, conv1x1

MIN_IMAGE_SIZE: int = 16


def stem_stride(image_size: int) -> int:
    """Reduction (1, 2 or 4) of a backbone's stem for square images of ``image_size`` px.

    >>> [stem_stride(s) for s in (32, 48, 64, 128, 224)]
    [1, 2, 2, 4, 4]
    """
    if not isinstance(image_size, int) or image_size < MIN_IMAGE_SIZE:
        raise ValueError(f"image_size must be an integer >= {MIN_IMAGE_SIZE} px, got {image_size!r}")
    return int(min(4, 2 ** max(0, round(math.log2(image_size / 32)))))


def _check_channels(in_channels: int) -> None:
    if not isinstance(in_channels, int) or in_channels < 1:
        raise ValueError(f"in_channels must be a positive integer, got {in_channels!r}")


def _resnet_stem(in_channels: int, width: int, stride: int) -> tuple[nn.Module, nn.Module]:
    """First convolution and max pool of a ResNet for ``stride`` (see the module docstring)."""
    if stride == 1:
        return nn.Conv2d(in_channels, width, 3, stride=1, padding=1, bias=False), nn.Identity()
    conv = nn.Conv2d(in_channels, width, 7, stride=2, padding=3, bias=False)
    pool = nn.Identity() if stride == 2 else nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
    return conv, pool


class NarrowResNet(nn.Module):
    """ResNet of torchvision ``BasicBlock`` s with stage widths ``width·(1, 2, 4, 8)`` (18 layers for (2, 2, 2, 2)).

    torchvision's ``ResNet`` fixes the widths of basic-block networks at 64–512; this is
    the same network with a width parameter (``width=64`` has torchvision's layout).
    """

    def __init__(self, in_channels: int, n_out: int, *, width: int = 32, layers: tuple[int, ...] = (2, 2, 2, 2),
                 stride: int = 1):
        super().__init__()
        self.conv1, self.maxpool = _resnet_stem(in_channels, width, stride)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        stages, inplanes = [], width
        for i, blocks in enumerate(layers):
            planes = width * 2 ** i
            first_stride = 1 if i == 0 else 2
            downsample = None
            if first_stride != 1 or inplanes != planes:
                downsample = nn.Sequential(conv1x1(inplanes, planes, first_stride), nn.BatchNorm2d(planes))
            stage = [BasicBlock(inplanes, planes, first_stride, downsample)]
            stage += [BasicBlock(planes, planes) for _ in range(blocks - 1)]
            stages.append(nn.Sequential(*stage))
            inplanes = planes
        self.layers = nn.Sequential(*stages)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(inplanes, n_out)
        for m in self.modules():  # torchvision's initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.fc(torch.flatten(self.avgpool(self.layers(x)), 1))


def resnet(in_channels: int, n_out: int, image_size: int, *, depth: int = 50, width: int = 64,
           stride: int | None = None) -> nn.Module:
    """ResNet (``depth`` 18 or 50) from (B, in_channels, H, W) to (B, n_out), stem adapted to ``image_size``.

    ``depth=50`` is torchvision's ``resnet50(weights=None)`` (``width`` must be 64);
    ``depth=18`` with ``width=64`` has torchvision's ResNet-18 layout, smaller widths
    narrow every stage. ``stride`` overrides the stem's reduction (1, 2 or 4; default
    :func:`stem_stride`), trading resolution for speed.
    """
    _check_channels(in_channels)
    stride = stem_stride(image_size) if stride is None else stride
    if stride not in (1, 2, 4):
        raise ValueError(f"stride must be 1, 2 or 4, got {stride!r}")
    if depth == 18:
        return NarrowResNet(in_channels, n_out, width=width, stride=stride)
    if depth != 50:
        raise ValueError(f"depth must be 18 or 50, got {depth!r}")
    if width != 64:
        raise ValueError(f"ResNet-50 is built at torchvision's width 64, got width={width}")
    net = resnet50(weights=None, num_classes=n_out)
    net.conv1, net.maxpool = _resnet_stem(in_channels, 64, stride)
    nn.init.kaiming_normal_(net.conv1.weight, mode="fan_out", nonlinearity="relu")
    return net


def alexnet(in_channels: int, n_out: int, image_size: int, *, width: float = 1.0, dropout: float = 0.5) -> nn.Module:
    """AlexNet from (B, in_channels, H, W) to (B, n_out), first convolution and pooling adapted to ``image_size``.

    ``width=1`` is torchvision's ``alexnet(weights=None)`` (convolutions 64–384 wide,
    classifier 4096 wide); ``width < 1`` scales every layer's width by that factor.
    """
    _check_channels(in_channels)
    if not 0 < width <= 1:
        raise ValueError(f"width must be in (0, 1], got {width!r}")
    stride = stem_stride(image_size)
    net = AlexNet(num_classes=n_out, dropout=dropout)
    if width != 1.0 or stride != 4:
        conv_widths = [max(8, round(c * width)) for c in (64, 192, 384, 256, 256)]
        hidden = max(16, round(4096 * width))
        layers: list[nn.Module] = []
        cin = in_channels
        for i, cout in enumerate(conv_widths):
            if i == 0:
                conv = (nn.Conv2d(cin, cout, 11, stride=4, padding=2) if stride == 4
                        else nn.Conv2d(cin, cout, 5, stride=stride, padding=2))
            else:
                conv = nn.Conv2d(cin, cout, 5 if i == 1 else 3, padding=2 if i == 1 else 1)
            layers += [conv, nn.ReLU(inplace=True)]
            if i in (0, 1, 4):
                layers.append(nn.MaxPool2d(kernel_size=3, stride=2))
            cin = cout
        pooled = 6 if stride == 4 else 3
        net.features = nn.Sequential(*layers)
        net.avgpool = nn.AdaptiveAvgPool2d(pooled)
        net.classifier = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(cin * pooled * pooled, hidden), nn.ReLU(inplace=True),
            nn.Dropout(dropout), nn.Linear(hidden, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, n_out))
    elif in_channels != 3:
        net.features[0] = nn.Conv2d(in_channels, 64, 11, stride=4, padding=2)
    return net


class PlainCNN(nn.Module):
    """Blocks of ``convs`` × (3×3 convolution, batch norm, ReLU) and a 2×2 max pool (widths w, 2w, 4w, ...),
    then one linear layer on the *flattened* last map. Two convolutions per block (as in VGG) see
    5 × 5 pixels of a block's input before it is halved, and have a nonlinearity between them.

    Flattening keeps where on the face a feature was seen; a global average pool (as in
    ResNet's head, ``pool="average"``) keeps only whether it was seen, and leaves the
    network to encode position in its channels.
    """

    def __init__(self, in_channels: int, n_out: int, image_size: int, *, width: int = 32, blocks: int = 4,
                 pool: str = "flatten", convs: int = 1):
        super().__init__()
        _check_channels(in_channels)
        if pool not in ("flatten", "average"):
            raise ValueError(f"pool must be 'flatten' or 'average', got {pool!r}")
        if not isinstance(convs, int) or convs < 1:
            raise ValueError(f"convs (convolutions per block) must be an integer >= 1, got {convs!r}")
        side = image_size // 2**blocks
        if side < 1:
            raise ValueError(f"{blocks} blocks halve a {image_size} px image to nothing; use fewer blocks")
        layers: list[nn.Module] = []
        cin = in_channels
        for i in range(blocks):
            cout = width * 2**i
            for _ in range(convs):
                layers += [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
                cin = cout
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.pool = nn.Flatten() if pool == "flatten" else nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(cin * (side * side if pool == "flatten" else 1), n_out)
        # A one-channel input is channels-last and contiguous at once, and a convolution then keeps
        # the contiguous layout unless its weights are channels-last: without this, the amplitude
        # encoder ran the whole network in the slower layout (1.46x the step time, docs/tuning.md).
        self.to(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # channels-last convolutions run about 1.7 times as fast on CPU (docs/tuning.md)
        return self.fc(self.pool(self.features(x.contiguous(memory_format=torch.channels_last))))


def plain_cnn(in_channels: int, n_out: int, image_size: int, *, width: int = 32, blocks: int = 4,
              pool: str = "flatten", convs: int = 1) -> nn.Module:
    """:class:`PlainCNN` from (B, in_channels, H, W) to (B, n_out)."""
    stem_stride(image_size)
    return PlainCNN(in_channels, n_out, image_size, width=width, blocks=blocks, pool=pool, convs=convs)


class TinyCNN(nn.Module):
    """Three strided 3×3 convolutions (widths w, 2w, 4w) with batch norm, global average pool, linear."""

    def __init__(self, in_channels: int, n_out: int, *, width: int = 8):
        super().__init__()
        _check_channels(in_channels)
        layers: list[nn.Module] = []
        cin = in_channels
        for cout in (width, 2 * width, 4 * width):
            layers += [nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(cout),
                       nn.ReLU(inplace=True)]
            cin = cout
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x).mean(dim=(2, 3)))


def tiny_cnn(in_channels: int, n_out: int, image_size: int, *, width: int = 8) -> nn.Module:
    """:class:`TinyCNN` from (B, in_channels, H, W) to (B, n_out); ``image_size`` only checked."""
    stem_stride(image_size)
    return TinyCNN(in_channels, n_out, width=width)
