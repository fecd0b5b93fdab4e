"""Extra encoder training samples rendered by the learned renderer (beyond the paper).

The physics renderer makes a dataset of 10,000 faces in about an hour on two cores; an
encoder trained on 8,000 of them fits the training faces far better than new ones
(notebook 04). The learned renderer (notebook 05) draws a face in milliseconds and, from
parameters alone, generalises to faces it never saw. So each training batch can carry
extra faces drawn fresh from the dataset's own sampling prior (:func:`prior_vectors`) and
rendered by the frozen decoder: the encoder never sees the same one twice.

The rendered images are smoother than the physics renderer's (no speckle, no noise), so
they are mixed into every batch beside the dataset's images, never used alone, and
validation stays on physics images only.

>>> v = prior_vectors(4, n_shape=2, n_expression=1, n_render=1, generator=torch.Generator().manual_seed(0))
>>> tuple(v.shape), bool((v[:, 3:].abs() <= 3 ** 0.5).all())
((4, 10), True)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

LossFn = Callable[[nn.Module, tuple[torch.Tensor, ...]], Any]


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
            channels (:class:`radarface.models.autoencoder.SelectChannels`); D, its
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

    def wrapped(model: nn.Module, batch: tuple[torch.Tensor, ...]):
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
