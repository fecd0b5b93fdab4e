"""Image-space randomisation of radar images: training-time effects a measurement has and the renderer lacks.

The synthetic images are clean where a measured one is not: the renderer leaves noise only
near the face, while a real array adds a noise floor, clutter and sidelobes over the whole
image; calibration errors and unknown materials perturb the face's own pixels. Training an
encoder on images randomised this way is one remedy for the domain gap that notebook 07
measures.

Images follow the renderer's convention (DESIGN §5.5): ``(N, C, H, W)`` in [0, 1], channels
named ``amplitude`` (dB above the dynamic-range floor, as a fraction of it) and/or
``depth`` (position in the depth window; 0 = background).

>>> import torch
>>> images = torch.zeros(4, 2, 8, 8); images[:, :, 2:6, 2:6] = 0.8
>>> out = Augment(p=1.0).apply(images, ("amplitude", "depth"), torch.Generator().manual_seed(0))
>>> out.shape, bool(((out >= 0) & (out <= 1)).all())
(torch.Size([4, 2, 8, 8]), True)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
from torch import nn

CHANNEL_NAMES = ("amplitude", "depth")


@dataclass(frozen=True)
class Augment:
    """Per-image randomisation; all levels in the images' [0, 1] units.

    Attributes:
        p: probability that an image is randomised at all.
        clutter_max: an image's share of background pixels turned into clutter is drawn
            from U(0, clutter_max).
        clutter_level: clutter amplitude ~ U(0, clutter_level) above the floor; its depth is
            uniform over the window.
        amplitude_std: Gaussian jitter of the face's amplitude pixels (material, roughness).
        depth_std: Gaussian jitter of the face's depth pixels (calibration phase errors;
            0.01 of the default 240 mm window is 2.4 mm).
    """

    p: float = 0.5
    clutter_max: float = 0.3
    clutter_level: float = 0.5
    amplitude_std: float = 0.05
    depth_std: float = 0.01

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 1.0:
                raise ValueError(f"Augment.{f.name} must be a number in [0, 1], got {value!r}")

    @classmethod
    def from_config(cls, settings: dict[str, Any] | None) -> Augment:
        """An :class:`Augment` from a profile's ``gap_augment`` dict (unknown keys are an error)."""
        settings = dict(settings or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(settings) - known)
        if unknown:
            raise ValueError(f"unknown augmentation setting(s) {unknown}; known: {sorted(known)}")
        return cls(**settings)

    def as_dict(self) -> dict[str, float]:
        """The settings as a plain dict (for checkpoint names and results files)."""
        return {k: float(v) for k, v in asdict(self).items()}

    def apply(self, images: torch.Tensor, channels: Sequence[str], generator: torch.Generator | None = None
              ) -> torch.Tensor:
        """A randomised copy of ``images`` (N, C, H, W) in [0, 1] whose channels are named ``channels``."""
        _check(images, channels)
        n, _, h, w = images.shape
        out = images.clone()
        draw = lambda *shape: torch.rand(*shape, generator=generator, dtype=images.dtype)  # noqa: E731
        chosen = (draw(n) < self.p).view(n, 1, 1)
        background = _background(images)
        share = draw(n).view(n, 1, 1) * self.clutter_max
        clutter = chosen & background & (draw(n, h, w) < share)
        face = chosen & ~background
        noise = torch.randn(n, h, w, generator=generator, dtype=images.dtype)
        for c, name in enumerate(channels):
            x = out[:, c]
            if name == "amplitude":
                x = torch.where(clutter, draw(n, h, w) * self.clutter_level, x)
                x = torch.where(face, x + self.amplitude_std * noise, x)
            else:
                x = torch.where(clutter, draw(n, h, w), x)
                x = torch.where(face, x + self.depth_std * noise, x)
            out[:, c] = x.clamp(0.0, 1.0)
        return out


def _check(images: torch.Tensor, channels: Sequence[str]) -> None:
    """Raise a clear error for images that are not (N, C, H, W) in [0, 1] with C named channels."""
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        raise ValueError(f"images must be a tensor (N, C, H, W), got {getattr(images, 'shape', type(images))}")
    if len(channels) != images.shape[1] or any(c not in CHANNEL_NAMES for c in channels):
        raise ValueError(f"channels {tuple(channels)} must name each of the {images.shape[1]} image channels "
                         f"with one of {CHANNEL_NAMES}")
    if not torch.isfinite(images).all() or images.min() < 0 or images.max() > 1:
        raise ValueError("images must be finite and in [0, 1] (the renderer's convention); "
                         "normalise measured images with radarface.measurements.load first")


def _background(images: torch.Tensor) -> torch.Tensor:
    """(N, H, W) True where no channel shows the face (amplitude at the floor, depth 0)."""
    return (images <= 0).all(dim=1)


def augmented_loss(loss_fn: Callable[[nn.Module, tuple[torch.Tensor, ...]], Any], augment: Augment,
                   channels: Sequence[str]) -> Callable[[nn.Module, tuple[torch.Tensor, ...]], Any]:
    """``loss_fn`` with the batch's images (element 0) randomised while the model trains, unchanged in eval mode.

    The draws come from torch's global generator, which :func:`radarface.train.fit` seeds per
    epoch, so an augmented run is as reproducible and resumable as a plain one.
    """
    channels = tuple(channels)

    def wrapped(model: nn.Module, batch: tuple[torch.Tensor, ...]):
        if model.training:
            batch = (augment.apply(batch[0], channels), *batch[1:])
        return loss_fn(model, batch)

    return wrapped
