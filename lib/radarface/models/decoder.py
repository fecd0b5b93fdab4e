"""The learned renderer (paper §1 point 4): normalised parameters to radar images.

A fully connected layer maps the dataset's normalised target vector (shape, expression,
pose, rendering parameters; :attr:`radarface.dataset.RadarFaceDataset.slices` with
``include_render=True``) to a small feature map; residual stages mirroring the encoder's
backbone, run in reverse with ×2 bilinear upsampling between them, grow it to the image
size; a sigmoid keeps the output in [0, 1] like the dataset's images.

Backbones (``backbone``), as for the encoder:

- ``"resnet50"`` (profile ``paper``): torchvision ``Bottleneck`` blocks, stages 2048,
  1024, 512, 256 wide with 3, 6, 4, 3 blocks (ResNet-50's stages reversed).
- ``"resnet18"`` / ``"resnet18-narrow"`` (profile ``cpu``): ``BasicBlock`` s, two per
  stage, 512–64 or 128–16 wide.
- ``"tiny"`` (profile ``smoke``): three upsampling convolutions.

Sizes. The start map is ``image_size / (8·stem)`` px wide, where ``stem`` is the encoder
stem's reduction (:func:`radarface.models.backbones.stem_stride`: 1 up to 45 px, 2 up to
90 px, else 4), so a 32 or 64 px image starts from 4×4, as the encoder's last map. After
the three upsamplings, a mirrored stem upsamples by ``stem`` and two 3×3 convolutions
give the output channels. Sizes that are not a multiple of ``8·stem`` are resized
bilinearly at the end.

The image loss it is trained with is :func:`radarface.losses.image_loss`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck, conv1x1, conv3x3

from radarface.models.backbones import stem_stride

#: backbone -> (block kind, stage widths from the start map outwards, blocks per stage, stem width)
DECODER_BACKBONES: dict[str, tuple[str, tuple[int, ...], tuple[int, ...], int]] = {
    "resnet50": ("bottleneck", (2048, 1024, 512, 256), (3, 6, 4, 3), 64),
    "resnet18": ("basic", (512, 256, 128, 64), (2, 2, 2, 2), 64),
    "resnet18-narrow": ("basic", (128, 64, 32, 16), (2, 2, 2, 2), 16),
    "tiny": ("plain", (32, 16, 8), (1, 1, 1), 8),
}
#: Memory layout of the decoder's feature maps: channels-last convolutions run faster on CPU
#: (``benchmarks/test_time.py`` measures it against ``torch.contiguous_format``).
MEMORY_FORMAT: torch.memory_format = torch.channels_last
#: Output channels per input type, amplitude first (the dataset's order).
CHANNELS: dict[str, tuple[str, ...]] = {"amplitude": ("amplitude",), "depth": ("depth",),
                                        "both": ("amplitude", "depth")}


def depth_channels(inputs: str) -> tuple[int, ...]:
    """Indices of the depth channels in images of ``inputs`` ("amplitude", "depth", "both").

    >>> depth_channels("both"), depth_channels("amplitude")
    ((1,), ())
    """
    if inputs not in CHANNELS:
        raise ValueError(f"inputs must be one of {sorted(CHANNELS)}, got {inputs!r}")
    return tuple(i for i, name in enumerate(CHANNELS[inputs]) if name == "depth")


# --------------------------------------------------------------- the network
def _block(kind: str, inplanes: int, width: int) -> nn.Module:
    """One residual block from ``inplanes`` to ``width`` channels at the same size (projection if they differ)."""
    if kind == "plain":
        return nn.Sequential(conv3x3(inplanes, width), nn.BatchNorm2d(width), nn.ReLU(inplace=True))
    shortcut = None if inplanes == width else nn.Sequential(conv1x1(inplanes, width), nn.BatchNorm2d(width))
    if kind == "bottleneck":
        block = Bottleneck(inplanes, width // Bottleneck.expansion, downsample=shortcut)
        nn.init.zeros_(block.bn3.weight)  # each block starts as the identity: deep stacks train stably
    else:
        block = BasicBlock(inplanes, width, downsample=shortcut)
        nn.init.zeros_(block.bn2.weight)
    return block


def _upsample(factor: int) -> nn.Module:
    # bilinear + convolution rather than transposed convolutions: no checkerboard patterns
    return nn.Upsample(scale_factor=factor, mode="bilinear", align_corners=False) if factor > 1 else nn.Identity()


class LearnedRenderer(nn.Module):
    """Normalised parameter vectors (B, n_params) -> images (B, out_channels, H, W) in [0, 1].

    Args:
        n_params: length D of the input vector (the dataset's targets with the rendering
            parameters: Ks + Ke + 6 + 4).
        out_channels: 1 (amplitude or depth) or 2 (amplitude, depth).
        image_size: H = W in px (≥ 16).
        backbone: a key of :data:`DECODER_BACKBONES` (see the module docstring).

    >>> dec = LearnedRenderer(27, 2, 32, backbone="tiny")
    >>> dec(torch.zeros(3, 27)).shape
    torch.Size([3, 2, 32, 32])
    """

    def __init__(self, n_params: int, out_channels: int, image_size: int, backbone: str = "resnet50"):
        super().__init__()
        if backbone not in DECODER_BACKBONES:
            raise ValueError(f"backbone must be one of {sorted(DECODER_BACKBONES)}, got {backbone!r}")
        if not isinstance(n_params, int) or n_params < 1:
            raise ValueError(f"n_params must be a positive integer, got {n_params!r}")
        if out_channels not in (1, 2):
            raise ValueError(f"out_channels must be 1 (amplitude or depth) or 2 (both), got {out_channels!r}")
        kind, widths, blocks, stem_width = DECODER_BACKBONES[backbone]
        stem = stem_stride(image_size)  # also checks the size
        stem = 1 if kind == "plain" else stem
        ups = len(widths) - 1 if kind != "plain" else len(widths)
        self.start_size = max(1, round(image_size / (stem * 2 ** ups)))
        self.n_params, self.out_channels, self.image_size, self.backbone = n_params, out_channels, image_size, backbone
        self.fc = nn.Linear(n_params, widths[0] * self.start_size ** 2)
        self.fc_norm = nn.BatchNorm2d(widths[0])
        stages: list[nn.Module] = []
        inplanes = widths[0]
        for i, (width, count) in enumerate(zip(widths, blocks)):
            layers = [_upsample(2 if (i > 0 or kind == "plain") else 1)]
            layers += [_block(kind, inplanes if j == 0 else width, width) for j in range(count)]
            stages.append(nn.Sequential(*layers))
            inplanes = width
        self.stages = nn.Sequential(*stages)
        head: list[nn.Module] = [_upsample(stem)]
        if kind != "plain":  # the stem mirrored: back to the stem's width, then to the images
            head += [conv3x3(inplanes, stem_width), nn.BatchNorm2d(stem_width), nn.ReLU(inplace=True)]
            inplanes = stem_width
        head.append(nn.Conv2d(inplanes, out_channels, 3, padding=1))
        self.head = nn.Sequential(*head)
        for m in self.modules():  # torchvision's initialisation
            if isinstance(m, nn.Conv2d) and m is not self.head[-1]:
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, params: torch.Tensor) -> torch.Tensor:
        """Images (B, C, H, W) in [0, 1] from normalised parameter vectors (B, n_params)."""
        if params.ndim != 2 or params.shape[1] != self.n_params:
            raise ValueError(f"params must be (B, {self.n_params}), got {tuple(params.shape)}")
        x = self.fc(params).view(len(params), -1, self.start_size, self.start_size)
        x = x.contiguous(memory_format=MEMORY_FORMAT)
        x = self.head(self.stages(F.relu(self.fc_norm(x))))
        if x.shape[-1] != self.image_size:
            x = F.interpolate(x, size=(self.image_size, self.image_size), mode="bilinear", align_corners=False)
        return torch.sigmoid(x).contiguous()  # callers may .view() the images

    def extra_repr(self) -> str:
        return (f"n_params={self.n_params}, out_channels={self.out_channels}, image_size={self.image_size}, "
                f"backbone={self.backbone!r}, start={self.start_size}x{self.start_size}")
