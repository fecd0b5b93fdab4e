"""The losses of the paper's three networks, each a typed function of tensors (or a loss for :func:`radarface.train.fit`).

- :func:`image_loss` (:class:`ImageLoss`): the learned renderer's L2 image loss, with the
  depth background optionally down-weighted (below).
- :func:`parameter_error` / :func:`parameter_loss`: the encoder's L2 on the normalised
  parameters (std² units), optionally weighted by how far each face coefficient moves the face.
- :func:`decoder_loss`: the learned renderer's training loss, ``image_loss(decoder(p), x)``.
- :func:`autoencoder_loss`: the model-based autoencoder's ``L_img + λ·L_param``.
- :func:`rendered_loss` (beyond the paper): any of these with extra training samples drawn
  from the sampling prior (:func:`prior_vectors`) and rendered by the learned renderer.

Image loss. Squared error per pixel, averaged per image and channel with weights, then
over channels and images. Amplitude pixels weigh 1: the amplitude falls continuously to 0
at the dynamic-range floor, so its background is information (where the face is not) and
plain L2 is the paper's loss. Depth pixels are 0 wherever the amplitude is below the floor
and jump to 0.3–0.8 on the face: about two thirds of the pixels of a 32–64 px image are
background, and an unweighted L2 spends most of the decoder's capacity and of the
test-time gradient on the silhouette's edge rather than on the surface. Depth background
pixels (target = 0) can therefore weigh ``background_weight`` < 1 (the ``cpu`` profile's
``decoder_background_weight`` = 0.1: the background then holds ~15 % of the depth
channel's weight, so the silhouette still counts; docs/tuning.md); 1 is the paper's plain
L2. Normalising by the weights keeps the loss of a constant error equal to that error
squared whatever the mask.

Rendered samples. The physics renderer makes a dataset of 10,000 faces in about an hour
on two cores; the learned renderer draws a face in milliseconds and, from parameters
alone, generalises to faces it never saw. :func:`rendered_loss` appends to each training
batch faces drawn fresh from the dataset's own sampling prior and rendered by the frozen
decoder, so the encoder never sees the same one twice. They are smoother than the physics
renderer's images (no speckle, no noise), so they are mixed into every batch beside the
dataset's images, never used alone, and validation stays on physics images only.

>>> v = prior_vectors(4, n_shape=2, n_expression=1, n_render=1, generator=torch.Generator().manual_seed(0))
>>> tuple(v.shape), bool((v[:, 3:].abs() <= 3 ** 0.5).all())
((4, 10), True)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import nn

from radarface.models.autoencoder import Autoencoder
from radarface.models.decoder import CHANNELS, depth_channels

#: ``loss_fn(model, batch) -> (scalar loss, {name: float})``, as :func:`radarface.train.fit` calls it
LossFn = Callable[[nn.Module, tuple[torch.Tensor, ...]], tuple[torch.Tensor, dict[str, float]]]


def image_loss(pred: torch.Tensor, target: torch.Tensor, *, depth_channels: Sequence[int] = (),
               background_weight: float = 1.0, depth_weight: float = 1.0, reduction: str = "mean",
               depth_scale: float | None = None) -> torch.Tensor:
    """Weighted mean squared error of images (B, C, H, W) in [0, 1]; scalar, or (B,) for ``reduction="none"``.

    Each image and channel: ``Σ w·(pred − target)² / Σ w`` with ``w = 1``, except the
    background pixels (``target == 0``) of ``depth_channels``, which weigh
    ``background_weight`` (see the module docstring); then the mean over channels, the
    ``depth_channels`` weighing ``depth_weight`` against 1 for the others (and the mean
    over images for ``"mean"``). ``depth_scale`` (image units): the depth channels' squared error
    becomes the pseudo-Huber ``2δ²(√(1 + (e/δ)²) − 1)``, which is e² for errors well below δ and grows
    only linearly above it, so a few pixels whose depth jumped to another peak of a speckled column
    do not outweigh the rest; None: squared error.

    >>> two = torch.zeros(1, 2, 2, 2); two[:, 1] = 0.5  # error 0 in amplitude, 0.25 in depth
    >>> float(image_loss(torch.zeros_like(two), two, depth_channels=(1,), depth_weight=1 / 3))
    0.0625

    >>> t = torch.zeros(1, 1, 2, 2); t[..., 0, 0] = 0.5
    >>> float(image_loss(torch.zeros_like(t), t))
    0.0625
    >>> float(image_loss(torch.zeros_like(t), t, depth_channels=(0,), background_weight=0.0))
    0.25
    """
    if pred.shape != target.shape or pred.ndim != 4:
        raise ValueError(f"pred and target must both be (B, C, H, W), got {tuple(pred.shape)} and "
                         f"{tuple(target.shape)}")
    if not background_weight >= 0 or not depth_weight >= 0:
        raise ValueError(f"background_weight and depth_weight must be >= 0, got {background_weight}, {depth_weight}")
    if reduction not in ("mean", "none"):
        raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")
    bad = [c for c in depth_channels if not 0 <= c < pred.shape[1]]
    if bad:
        raise ValueError(f"depth_channels {list(depth_channels)} outside the {pred.shape[1]} channels")
    if depth_scale is not None and not depth_scale > 0:
        raise ValueError(f"depth_scale must be > 0 (image units) or None, got {depth_scale}")
    squared = (pred - target) ** 2
    is_depth = torch.zeros(pred.shape[1], dtype=torch.bool, device=pred.device)
    is_depth[list(depth_channels)] = True
    if depth_scale is not None and depth_channels:
        delta2 = depth_scale * depth_scale
        robust = 2.0 * delta2 * (torch.sqrt(1.0 + squared / delta2) - 1.0)
        squared = torch.where(is_depth[None, :, None, None], robust, squared)
    if depth_channels and background_weight != 1.0:
        background = (target <= 0) & is_depth[None, :, None, None]
        weight = torch.where(background, torch.as_tensor(background_weight, dtype=pred.dtype), 1.0)
        per_channel = (weight * squared).sum((2, 3)) / weight.sum((2, 3)).clamp_min(1e-12)
    else:
        per_channel = squared.mean((2, 3))
    if depth_weight != 1.0 and 0 < len(set(depth_channels)) < pred.shape[1]:  # depth-only images: no say
        weights = torch.ones(pred.shape[1], dtype=pred.dtype, device=pred.device)
        weights[list(depth_channels)] = depth_weight
        per_image = (per_channel * weights).sum(1) / weights.sum()
    else:
        per_image = per_channel.mean(1)
    return per_image.mean() if reduction == "mean" else per_image


class ImageLoss(nn.Module):
    """:func:`image_loss` as a module (options fixed at construction)."""

    def __init__(self, *, depth_channels: Sequence[int] = (), background_weight: float = 1.0):
        super().__init__()
        self.depth_channels, self.background_weight = tuple(depth_channels), float(background_weight)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return image_loss(pred, target, depth_channels=self.depth_channels,
                          background_weight=self.background_weight)


def parameter_loss(slices: dict[str, slice], metric: torch.Tensor | None = None) -> LossFn:
    """The encoder's loss for :func:`radarface.train.fit`: the paper's L2 on the normalised targets.

    ``slices`` (group -> columns) name the per-group squared errors logged beside the loss.
    ``metric`` (K, K), K = shape + expression columns: the face coefficients' error ``d``
    counts as ``dᵀ M d / mean(diag M)`` instead of ``|d|²``. With
    :func:`radarface.metrics.vertex_metric` that is the mean squared vertex distance over
    the face region (rescaled to std² units), so coefficients count by how far they move
    the face; None (the paper's) is the identity.
    """
    k = slices["shape"].stop - slices["shape"].start + slices["expression"].stop - slices["expression"].start
    if metric is not None and tuple(metric.shape) != (k, k):
        raise ValueError(f"metric must be ({k}, {k}) for {k} shape + expression columns, got {tuple(metric.shape)}")

    def loss_fn(model: nn.Module, batch: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, dict[str, float]]:
        images, targets = batch[0], batch[1]
        pred = model(images)
        if pred.shape != targets.shape:
            raise ValueError(f"encoder output {tuple(pred.shape)} does not match targets {tuple(targets.shape)}; "
                             "build the encoder with the dataset's group sizes (n_render, include_render)")
        squared = (pred - targets).detach() ** 2
        logs = {name: float(squared[:, cols].mean()) for name, cols in slices.items() if cols.stop > cols.start}
        return parameter_error(pred, targets, metric), logs

    return loss_fn


def parameter_error(pred: torch.Tensor, targets: torch.Tensor, metric: torch.Tensor | None = None) -> torch.Tensor:
    """Mean squared error (std²) of normalised parameter vectors (B, D); scalar.

    With ``metric`` (K, K) the error ``d`` of the first K columns (the face coefficients)
    counts as ``dᵀ M d / mean(diag M)`` (see :func:`parameter_loss`); None is the plain
    mean squared error.

    >>> float(parameter_error(torch.zeros(2, 3), torch.ones(2, 3)))
    1.0
    >>> metric = torch.diag(torch.tensor([3.0, 1.0]))  # the first coefficient moves the face 3 times as much
    >>> float(parameter_error(torch.zeros(1, 3), torch.tensor([[1.0, 0.0, 0.0]]), metric))
    0.5
    """
    diff = pred - targets
    if metric is None:
        return (diff**2).mean()
    metric = torch.as_tensor(metric, dtype=torch.float32)
    metric = metric / metric.diagonal().mean()
    k = len(metric)
    face = ((diff[:, :k] @ metric) * diff[:, :k]).sum(dim=1)
    return (face + (diff[:, k:] ** 2).sum(dim=1)).mean() / diff.shape[1]


def decoder_loss(inputs: str, *, background_weight: float = 1.0) -> LossFn:
    """Loss for :func:`radarface.train.fit` on batches (images, targets): :func:`image_loss` of ``model(targets)``.

    Logs the plain mean squared error of each channel (``amplitude``, ``depth``) beside it.
    """
    depth = depth_channels(inputs)  # also checks ``inputs``
    names = CHANNELS[inputs]

    def loss_fn(model: nn.Module, batch: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, dict[str, float]]:
        images, targets = batch[0], batch[1]
        pred = model(targets)
        if pred.shape != images.shape:
            raise ValueError(f"decoder output {tuple(pred.shape)} does not match images {tuple(images.shape)}")
        loss = image_loss(pred, images, depth_channels=depth, background_weight=background_weight)
        squared = ((pred - images) ** 2).detach()
        return loss, {name: float(squared[:, c].mean()) for c, name in enumerate(names)}

    return loss_fn


def autoencoder_loss(inputs: str, *, param_weight: float = 1.0, background_weight: float = 1.0,
                     metric: torch.Tensor | None = None) -> LossFn:
    """Loss for :func:`radarface.train.fit` on (images, targets (B, D)): image loss + ``param_weight`` · parameter loss.

    The parameter loss covers the encoder's E columns: their mean squared error, or with
    ``metric`` (K, K) the encoder's vertex-weighted error of the K face coefficients
    (:func:`parameter_error`). Columns E..D of the targets are
    passed to the decoder (``given``). Logs ``image``, ``param``.
    """
    depth = depth_channels(inputs)
    if not param_weight >= 0:
        raise ValueError(f"param_weight must be >= 0, got {param_weight}")

    def loss_fn(model: Autoencoder, batch: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, dict[str, float]]:
        images, targets = batch[0], batch[1]
        encoded = model.encoder(images)
        n = encoded.shape[1]
        recon = model.renderer(model.decoder_input(encoded, targets[:, n:] if n < targets.shape[1] else None))
        img = image_loss(recon, images, depth_channels=depth, background_weight=background_weight)
        param = parameter_error(encoded, targets[:, :n], metric)
        return img + param_weight * param, {"image": float(img.detach()), "param": float(param.detach())}

    return loss_fn


# -------------------------------------------------- samples drawn by the learned renderer
def prior_vectors(n: int, *, n_shape: int, n_expression: int, n_pose: int = 6, n_render: int = 0,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """``n`` normalised parameter vectors (n, D) as the dataset samples them (std units).

    Shape and expression coefficients ~ N(0, 1); pose and rendering parameters uniform
    within their limits, which :class:`radarface.dataset.normalise.TargetNormaliser` maps
    to U(−√3, √3) (unit variance). Same column layout as the dataset's targets.
    """
    if n < 0 or min(n_shape, n_expression, n_pose, n_render) < 0:
        raise ValueError(f"counts must be >= 0, got n={n}, n_shape={n_shape}, n_expression={n_expression}, "
                         f"n_pose={n_pose}, n_render={n_render}")
    face = torch.randn(n, n_shape + n_expression, generator=generator)
    uniform = (torch.rand(n, n_pose + n_render, generator=generator) * 2.0 - 1.0) * math.sqrt(3.0)
    return torch.cat([face, uniform], 1)


def rendered_loss(loss_fn: LossFn, renderer: nn.Module, share: float, *, n_shape: int, n_expression: int,
                  n_targets: int) -> LossFn:
    """``loss_fn`` with ``round(share · B)`` rendered samples appended to each training batch of B; unchanged in eval mode.

    Args:
        loss_fn: the encoder's loss, ``loss_fn(model, (images, targets))``.
        renderer: frozen decoder (B, D) -> images (B, C, H, W) in [0, 1] with the batch's
            channels (:class:`~radarface.models.autoencoder.SelectChannels`); D, its
            ``n_params``, counts shape, expression, pose and rendering parameters.
        share: extra rendered samples per dataset sample, > 0 (1 doubles each batch).
        n_shape, n_expression: the face coefficients' counts, for :func:`prior_vectors`.
        n_targets: the encoder's target columns (the first of the D).

    Draws come from torch's global generator, which :func:`radarface.train.fit` seeds per
    epoch, so a run stays reproducible and resumable.
    """
    if not share > 0:
        raise ValueError(f"share must be > 0 (extra rendered samples per dataset sample), got {share!r}")
    n_params = int(renderer.n_params)
    n_render = n_params - n_shape - n_expression - 6
    if n_render < 0 or not 0 < n_targets <= n_params:
        raise ValueError(f"the renderer takes {n_params} parameters, fewer than {n_shape} + {n_expression} + 6 "
                         f"or than the encoder's {n_targets} targets")
    renderer.requires_grad_(False)

    def wrapped(model: nn.Module, batch: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, dict[str, float]]:
        if not model.training:
            return loss_fn(model, batch)
        images, targets = batch[0], batch[1]
        if targets.shape[1] != n_targets:
            raise ValueError(f"batch targets have {targets.shape[1]} columns, the rendered ones {n_targets}")
        vectors = prior_vectors(max(1, round(share * len(images))), n_shape=n_shape, n_expression=n_expression,
                                n_render=n_render)
        renderer.eval()
        with torch.no_grad():
            drawn = renderer(vectors).clamp(0.0, 1.0).to(images.dtype)
        if drawn.shape[1:] != images.shape[1:]:
            raise ValueError(f"the renderer draws {tuple(drawn.shape[1:])} images, the batch holds "
                             f"{tuple(images.shape[1:])}; select the batch's channels (SelectChannels)")
        return loss_fn(model, (torch.cat([images, drawn]), torch.cat([targets, vectors[:, :n_targets].to(targets.dtype)]),
                               *batch[2:]))

    return wrapped
