"""The supervised encoder (paper §1 point 3): radar image(s) to normalised face parameters.

Three networks side by side, as in the paper: one for the shape coefficients, one for the
expression coefficients (outputs ``3·tanh``, so within ±3 standard deviations) and one
for the pose (and the rendering parameters when they are predicted too, unbounded). The
output is the dataset's normalised target vector, same column layout
(:attr:`radarface.dataset.RadarFaceDataset.slices`): shape, expression, pose[, render].

Backbones (``backbone``):

- ``"resnet50"`` (profile ``paper``): two torchvision ResNet-50 and a torchvision AlexNet,
  no pretrained weights, stems adapted to the image size (:mod:`.backbones`).
- ``"resnet18"``: the same with ResNet-18 and AlexNet at full width.
- ``"resnet18-narrow"`` (profile ``cpu``): ResNet-18 at a quarter width (stages 16–128
  wide) and an AlexNet at a quarter width without dropout: about a minute per epoch of
  8,000 images of 2 × 64 × 64 px on 2 CPU cores (half width took about 2.5 times as long).
- ``"tiny"`` (profile ``smoke``): three small CNNs.
- ``"plain"`` (beyond the paper): ONE plain CNN (:func:`.backbones.plain_cnn`) with one
  linear head for all targets, unbounded; ``"plain-average"`` the same with a global
  average pool instead of the flattened map; ``"vgg-average"`` (profile ``cpu``) that with two
  convolutions per block (as in VGG; about three times the cost); ``"vgg-average-w24"`` that 24
  rather than 32 channels wide (1.5 times faster); ``"tiny-shared"`` one tiny CNN.

``center_depth`` (beyond the paper): the shape and expression networks see the depth
channel with the face's mean depth removed and the relief scaled to about unit size
(:func:`centred_depth`), so a face's distance (±50 mm of pose, a fifth of the depth
window) does not sit on top of the millimetres that shape and expression change; the pose
network sees the raw images (a shared network sees both).

``precision`` (beyond the paper): ``"bfloat16"`` runs the networks under torch's automatic
mixed precision (weights and the optimiser stay float32; convolutions, pooling and the head
compute in bfloat16, the output is float32). On CPUs with bfloat16 matrix units (Intel AMX,
AVX-512 BF16) a training step of the ``cpu`` profile's network takes about 40 % of the
float32 step; elsewhere it runs, slower (:func:`bfloat16_native`).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch
from torch import nn

from radarface.models import backbones

#: ``Encoder(precision=...)`` values: full float32, or bfloat16 mixed precision (module docstring).
PRECISIONS: tuple[str, ...] = ("float32", "bfloat16")

#: Output bound of the shape and expression heads, in standard deviations.
COEFFICIENT_BOUND: float = 3.0

#: backbone name -> (factory for the shape and expression networks, factory for the pose network);
#: each factory is ``(in_channels, n_out, image_size) -> nn.Module``.
BACKBONES: dict[str, tuple[Callable[..., nn.Module], Callable[..., nn.Module]]] = {
    "resnet50": (partial(backbones.resnet, depth=50), partial(backbones.alexnet, width=1.0, dropout=0.5)),
    "resnet18": (partial(backbones.resnet, depth=18, width=64), partial(backbones.alexnet, width=1.0, dropout=0.5)),
    "resnet18-narrow": (partial(backbones.resnet, depth=18, width=16),
                        partial(backbones.alexnet, width=0.25, dropout=0.0)),
    "tiny": (partial(backbones.tiny_cnn, width=8), partial(backbones.tiny_cnn, width=8)),
}
#: backbone name -> factory of ONE network predicting every target (beyond the paper: one trunk,
#: one linear head, outputs unbounded); ``(in_channels, n_out, image_size) -> nn.Module``.
SHARED_BACKBONES: dict[str, Callable[..., nn.Module]] = {
    "plain": partial(backbones.plain_cnn, width=32, blocks=4),
    "plain-average": partial(backbones.plain_cnn, width=32, blocks=4, pool="average"),
    "vgg-average": partial(backbones.plain_cnn, width=32, blocks=4, pool="average", convs=2),
    "vgg-average-w24": partial(backbones.plain_cnn, width=24, blocks=4, pool="average", convs=2),
    "tiny-shared": partial(backbones.tiny_cnn, width=8),
}


class Encoder(nn.Module):
    """Radar images (B, C, H, W) in [0, 1] -> normalised targets (B, Ks + Ke + n_pose + n_render).

    Args:
        in_channels: 1 (amplitude or depth) or 2 (both, amplitude first).
        image_size: H = W in px; adapts the backbones' stems (see :mod:`.backbones`).
        n_shape, n_expression: coefficient counts Ks, Ke (outputs ``3·tanh``).
        n_pose: pose outputs (6: yaw, pitch, roll, tx, ty, tz, normalised).
        n_render: rendering-parameter outputs (0 = not predicted).
        backbone: a key of :data:`BACKBONES`.
        center_depth: index of the depth channel to centre for the shape and expression
            networks (:func:`centred_depth`), or None.
        precision: one of :data:`PRECISIONS` (module docstring).

    >>> enc = Encoder(2, 32, 10, 7, backbone="tiny")
    >>> enc(torch.zeros(3, 2, 32, 32)).shape
    torch.Size([3, 23])
    """

    def __init__(self, in_channels: int, image_size: int, n_shape: int, n_expression: int, n_pose: int = 6,
                 n_render: int = 0, backbone: str = "resnet50", center_depth: int | None = None,
                 precision: str = "float32"):
        super().__init__()
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        self.precision = precision
        if center_depth is not None and not (isinstance(center_depth, int) and 0 <= center_depth < in_channels):
            raise ValueError(f"center_depth must be a channel index in [0, {in_channels}) or None, got {center_depth!r}")
        self.center_depth = center_depth
        if backbone not in BACKBONES and backbone not in SHARED_BACKBONES:
            raise ValueError(f"backbone must be one of {sorted(BACKBONES) + sorted(SHARED_BACKBONES)}, got {backbone!r}")
        for name, value in (("n_shape", n_shape), ("n_expression", n_expression), ("n_pose", n_pose),
                            ("n_render", n_render)):
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
        if n_shape + n_expression + n_pose + n_render == 0:
            raise ValueError("the encoder needs at least one output; all counts are 0")
        self.in_channels, self.image_size, self.backbone = in_channels, image_size, backbone
        self.sizes = {"shape": n_shape, "expression": n_expression, "pose": n_pose, "render": n_render}
        if backbone in SHARED_BACKBONES:
            # one network; with centring it sees the raw channels and the centred depth beside them
            extra = 0 if center_depth is None else 1
            self.heads = nn.ModuleDict({"all": SHARED_BACKBONES[backbone](in_channels + extra, self.n_outputs,
                                                                          image_size)})
            return
        coefficient_net, pose_net = BACKBONES[backbone]
        heads = {"shape": coefficient_net, "expression": coefficient_net, "pose": pose_net}
        counts = {"shape": n_shape, "expression": n_expression, "pose": n_pose + n_render}
        self.heads = nn.ModuleDict({name: heads[name](in_channels, counts[name], image_size)
                                    for name in heads if counts[name] > 0})

    @property
    def slices(self) -> dict[str, slice]:
        """Columns of each group (shape, expression, pose[, render]) in the output."""
        out, start = {}, 0
        for name, size in self.sizes.items():
            if size or name != "render":
                out[name] = slice(start, start + size)
                start += size
        return out

    @property
    def n_outputs(self) -> int:
        """Length D of the output vector."""
        return sum(self.sizes.values())

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Normalised targets (B, D) float32 from images (B, C, H, W)."""
        if images.ndim != 4 or images.shape[1] != self.in_channels:
            raise ValueError(f"images must be (B, {self.in_channels}, H, W), got {tuple(images.shape)}")
        if self.precision == "float32":
            return self._targets(images)
        with torch.autocast(images.device.type, dtype=torch.bfloat16):
            return self._targets(images).float()

    def _targets(self, images: torch.Tensor) -> torch.Tensor:
        """:meth:`forward` in the current autocast state."""
        if "all" in self.heads:
            if self.center_depth is not None:
                images = torch.cat([images, centred_depth(images, self.center_depth)[:, self.center_depth:
                                                                                     self.center_depth + 1]], dim=1)
            return self.heads["all"](images)
        parts = []
        face_images = images if self.center_depth is None else centred_depth(images, self.center_depth)
        for name in ("shape", "expression"):
            if name in self.heads:
                parts.append(COEFFICIENT_BOUND * torch.tanh(self.heads[name](face_images)))
        if "pose" in self.heads:
            parts.append(self.heads["pose"](images))
        return torch.cat(parts, dim=1)

    def extra_repr(self) -> str:
        return (f"in_channels={self.in_channels}, image_size={self.image_size}, backbone={self.backbone!r}, "
                f"sizes={self.sizes}, center_depth={self.center_depth}, precision={self.precision!r}")


class EncoderEnsemble(nn.Module):
    """Several encoders of one output layout (trained from different seeds): images -> their mean prediction (B, D).

    Averaging encoders whose errors are partly independent lowers the error of the mean
    below each member's (the bounded shape and expression outputs stay within ±3).

    >>> ens = EncoderEnsemble([Encoder(1, 32, 10, 7, backbone="tiny") for _ in range(2)])
    >>> ens(torch.zeros(3, 1, 32, 32)).shape, ens.n_outputs
    (torch.Size([3, 23]), 23)
    """

    def __init__(self, members: list[Encoder]):
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one encoder")
        layouts = {(m.in_channels, m.n_outputs) for m in members}
        if len(layouts) != 1:
            raise ValueError(f"ensemble members must share input channels and outputs, got {sorted(layouts)}")
        self.members = nn.ModuleList(members)

    @property
    def in_channels(self) -> int:
        """Image channels C the members read."""
        return self.members[0].in_channels

    @property
    def slices(self) -> dict[str, slice]:
        """Columns of each group in the output (the members')."""
        return self.members[0].slices

    @property
    def n_outputs(self) -> int:
        """Length D of the output vector."""
        return self.members[0].n_outputs

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """The members' mean normalised targets (B, D) from images (B, C, H, W)."""
        return torch.stack([member(images) for member in self.members]).mean(dim=0)


def bfloat16_native() -> bool:
    """Whether this CPU computes bfloat16 matrix products in hardware (AMX or AVX-512 BF16)."""
    try:  # torch answers through a private oneDNN query; a torch without it is taken as a "no"
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


#: Factor on the centred depth (:func:`centred_depth`): a face's relief, about 0.11 of the depth
#: window (standard deviation over its pixels in the cpu dataset), becomes about 0.9.
DEPTH_RELIEF_SCALE: float = 8.0


def centred_depth(images: torch.Tensor, channel: int, scale: float = DEPTH_RELIEF_SCALE) -> torch.Tensor:
    """``images`` (B, C, H, W) with depth channel ``channel`` replaced by each face's depth minus its mean, × ``scale``.

    Background pixels (depth 0) stay 0, so the face's mean sits at the background's level and
    the relief, not the mask's edge, is what the channel shows.

    >>> images = torch.zeros(1, 1, 2, 2); images[0, 0, 0] = torch.tensor([0.5, 0.75])
    >>> centred_depth(images, 0, scale=4.0)[0, 0].tolist()
    [[-0.5, 0.5], [0.0, 0.0]]
    """
    depth = images[:, channel]
    face = depth > 0
    mean = (depth * face).sum(dim=(1, 2)) / face.sum(dim=(1, 2)).clamp(min=1)
    centred = torch.where(face, (depth - mean[:, None, None]) * scale, torch.zeros_like(depth))
    return torch.cat([images[:, :channel], centred[:, None], images[:, channel + 1:]], dim=1)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
