"""Test-time analysis by synthesis (paper §1 point 5): refine parameters from images alone.

Given radar images and a frozen learned renderer, minimise over the parameters

    objective = image_loss(decoder(p), images) + prior_weight · mean(p_prior²)

(per image, averaged over the images): the image loss of :func:`radarface.losses.image_loss`
and a Gaussian prior N(0, 1) on the normalised parameters that are being changed (or on
those of them named in ``prior``, e.g. shape and expression only), which keeps the search
near faces the face model finds likely when the image alone is ambiguous.
No labels are used. The paper's text allows two readings, both here:

- :func:`refine_parameters` (a): the parameter vector itself is optimised, starting from
  the encoder's prediction (one free vector per image).
- :func:`finetune_encoder` (b): the encoder's weights are fine-tuned on the unlabelled
  test images; the parameters are its outputs.

Both run a fixed number of Adam steps on the full objective (:func:`objective`: all
images, in chunks with accumulated gradients, so memory stays bounded and chunking does not
change the result), record per step the image loss, the prior and, given a ``tracer``
(e.g. :func:`vertex_tracer`), the vertex distance, and return the vectors of the last step.
(b) can instead step on minibatches (``batch_size``): an encoder has many weights shared
by all images, and a step on a minibatch costs a fraction of a full one; the full
objective is traced once per pass over the images.
Networks run in eval mode: batch-norm statistics are the trained ones, there is no
dropout, and each image's result does not depend on the others'. Deterministic: fixed
thread count and deterministic algorithms during the call, nothing random drawn.

This is a separate loop from :func:`radarface.train.fit` on purpose: it trains no model on
a training set (no epochs, batches, validation or checkpoints), it descends one objective
on the test images, and (a) has no module to train.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from radarface import progress as progress_bars
from radarface.losses import image_loss
from radarface.metrics import vertex_distance
from radarface.runtime import deterministic

#: ``tracer(vectors (B, D) numpy) -> float``, called once per step (e.g. vertex distance in mm)
Tracer = Callable[[np.ndarray], float]
#: learning-rate schedules of the test-time Adam steps
LR_SCHEDULES: tuple[str, ...] = ("constant", "cosine")
#: where the Gaussian prior of (a) is centred: the mean face, or the starting estimate
PRIOR_CENTERS: tuple[str, ...] = ("zero", "start")


@dataclass
class RefineResult:
    """Refined normalised vectors (B, D) and the per-step trace.

    ``trace`` keys: ``step`` (0 = before any update, ``steps`` = after the last),
    ``image_loss``, ``prior`` (mean of the squared free parameters), ``objective`` and,
    with a tracer, ``vertex_mm``.
    """

    params: torch.Tensor
    trace: dict[str, list[float]] = field(default_factory=dict)
    seconds: float = 0.0


def vertex_tracer(face_model, true_targets: np.ndarray | torch.Tensor,
                  denormalise: Callable[[np.ndarray], dict[str, np.ndarray]]) -> Tracer:
    """A tracer giving :func:`radarface.metrics.vertex_distance` (mm, model frame) of vectors against ``true_targets``.

    ``true_targets`` (B, D) and the traced vectors are normalised targets of the same
    layout; ``denormalise`` maps them to parameter dicts (``RadarFaceDataset.denormalise``).
    """
    true = np.asarray(true_targets.detach().cpu() if isinstance(true_targets, torch.Tensor) else true_targets,
                      dtype=np.float64)
    true_params = denormalise(true)

    def tracer(vectors: np.ndarray) -> float:
        if vectors.shape != true.shape:
            raise ValueError(f"traced vectors {vectors.shape} do not match the true targets {true.shape}")
        return vertex_distance(face_model, true_params, denormalise(vectors))

    return tracer


@contextlib.contextmanager
def frozen(*modules: nn.Module) -> Iterator[None]:
    """Eval mode and no weight gradients for ``modules`` during the block (restored afterwards)."""
    states = [(m, m.training, [p.requires_grad for p in m.parameters()]) for m in modules]
    for m in modules:
        m.eval()
        m.requires_grad_(False)
    try:
        yield
    finally:
        for m, training, grads in states:
            m.train(training)
            for p, g in zip(m.parameters(), grads):
                p.requires_grad_(g)


def _check(images: torch.Tensor, steps: int, lr: float, prior_weight: float, chunk: int,
           lr_schedule: str = "constant") -> None:
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        raise ValueError(f"images must be a tensor (B, C, H, W), got {getattr(images, 'shape', type(images))}")
    if not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps must be an integer >= 0, got {steps!r}")
    if not lr > 0 or not prior_weight >= 0 or not chunk >= 1:
        raise ValueError(f"need lr > 0, prior_weight >= 0 and chunk >= 1, got {lr}, {prior_weight}, {chunk}")
    if lr_schedule not in LR_SCHEDULES:
        raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, got {lr_schedule!r}")


@dataclass(frozen=True)
class ImageObjective:
    """What is minimised: per image, ``image_loss(renderer(v), image) + prior_weight · mean((v − center)²)``.

    ``prior_columns`` (D,) bool: the columns of ``v`` in the prior; ``center`` (B, D) or None
    (zero). ``loss_options``: :func:`~radarface.losses.image_loss` keywords.
    """

    renderer: nn.Module
    images: torch.Tensor
    prior_columns: torch.Tensor
    prior_weight: float
    loss_options: dict[str, Any]
    center: torch.Tensor | None = None

    def terms(self, vectors: torch.Tensor, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Image loss (b,) and prior (b,) of ``vectors`` (b, D), the vectors of images ``idx``."""
        img = image_loss(self.renderer(vectors), self.images[idx], reduction="none", **self.loss_options)
        off = vectors if self.center is None else vectors - self.center[idx]
        return img, off[:, self.prior_columns].square().mean(1)


def objective(goal: ImageObjective, vectors_of: Callable[[torch.Tensor], torch.Tensor], *, chunk: int = 64,
              backward: bool = False) -> tuple[float, float, torch.Tensor]:
    """Mean image loss and mean prior over all images, and their vectors (B, D), computed ``chunk`` images at a time.

    ``vectors_of(idx)``: the vectors (b, D) of images ``idx``. With ``backward``, the
    gradient of the mean objective (image loss + prior_weight · prior) accumulates in
    whatever ``vectors_of`` depends on, chunk by chunk, so memory stays bounded.
    """
    n = len(goal.images)
    totals, parts = np.zeros(2), []
    with torch.set_grad_enabled(backward):
        for idx in torch.split(torch.arange(n), chunk):
            v = vectors_of(idx)
            img, prior = goal.terms(v, idx)
            if backward:
                ((img + goal.prior_weight * prior).sum() / n).backward()
            totals += [float(img.detach().sum()), float(prior.detach().sum())]
            parts.append(v.detach())
    img_mean, prior_mean = totals / n
    return float(img_mean), float(prior_mean), torch.cat(parts)


class _Trace:
    """Per-step record of the objective's terms (and the tracer's value); refuses a non-finite objective."""

    def __init__(self, prior_weight: float, lr: float, tracer: Tracer | None):
        self.prior_weight, self.lr, self.tracer = prior_weight, lr, tracer
        self.values: dict[str, list[float]] = {"step": [], "image_loss": [], "prior": [], "objective": []}

    def record(self, step: int, img: float, prior: float, vectors: torch.Tensor) -> None:
        if not np.isfinite(img + prior):
            raise FloatingPointError(f"objective is not finite at step {step}; lower the learning rate (now "
                                     f"{self.lr:g})")
        for key, value in (("step", step), ("image_loss", img), ("prior", prior),
                           ("objective", img + self.prior_weight * prior)):
            self.values[key].append(float(value))
        if self.tracer is not None:
            self.values.setdefault("vertex_mm", []).append(float(self.tracer(vectors.double().numpy())))


def _status(steps: int) -> Any:
    """A progress bar of the steps for the runner's console only (:func:`radarface.progress.status_bar`)."""
    return progress_bars.status_bar(steps, "test-time steps", unit="step")


def _scheduler(optimizer: torch.optim.Optimizer, lr_schedule: str, steps: int):
    """Cosine annealing to 0 over ``steps`` for ``"cosine"``; None (constant) otherwise."""
    if lr_schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(steps, 1))
    return None


def _columns(mask: Sequence[bool] | torch.Tensor | slice | None, d: int, name: str = "free") -> torch.Tensor:
    """Boolean column mask (D,) from a mask, a slice or None (all)."""
    if mask is None:
        return torch.ones(d, dtype=torch.bool)
    if isinstance(mask, slice):
        out = torch.zeros(d, dtype=torch.bool)
        out[mask] = True
        return out
    out = torch.as_tensor(mask, dtype=torch.bool)
    if out.shape != (d,):
        raise ValueError(f"{name} must be a boolean mask of the {d} columns or a slice, got shape {tuple(out.shape)}")
    return out


def refine_parameters(decoder: nn.Module, images: torch.Tensor, init_params: torch.Tensor, *, steps: int,
                      lr: float = 0.01, prior_weight: float = 0.0, free: Sequence[bool] | slice | None = None,
                      prior: Sequence[bool] | slice | None = None, prior_center: str = "zero",
                      lr_schedule: str = "constant", depth_channels: Sequence[int] = (),
                      background_weight: float = 1.0, depth_weight: float = 1.0, tracer: Tracer | None = None,
                      chunk: int = 64, seed: int = 0, threads: int | None = None) -> RefineResult:
    """(a) Optimise the normalised parameter vectors (B, D) of ``images`` (B, C, H, W) through the frozen ``decoder``.

    Args:
        decoder: vectors (B, D) -> images (B, C, H, W) in [0, 1] (weights left unchanged).
        init_params: start (B, D), e.g. the encoder's prediction with the rendering parameters.
        steps, lr: Adam steps on the objective and their learning rate (normalised units).
        prior_weight: weight of the mean squared free parameter (a N(0, 1) prior; 0: the
            image loss alone, as the paper).
        free: columns to optimise (boolean mask (D,) or slice; default all); the others
            keep their initial values and are not in the prior.
        prior: the free columns in the prior (mask (D,) or slice; default all free ones),
            e.g. shape and expression only, leaving the pose to the image.
        prior_center: ``"zero"`` (N(0, 1): the mean face) or ``"start"`` (centred on
            ``init_params``: stay near the encoder's estimate unless the image says otherwise).
        lr_schedule: ``"constant"`` or ``"cosine"`` (``lr`` down to 0 over the steps).
        depth_channels, background_weight, depth_weight: options of :func:`image_loss`.
        tracer: called with the vectors (B, D) at every step (e.g. :func:`vertex_tracer`).
        chunk: images per forward pass (memory only; the result is the same).
        seed, threads: torch's global seed and thread count during the call.
    """
    _check(images, steps, lr, prior_weight, chunk, lr_schedule)
    start = torch.as_tensor(init_params, dtype=images.dtype).detach()
    if start.ndim != 2 or len(start) != len(images):
        raise ValueError(f"init_params must be (B, D) with B = {len(images)} images, got {tuple(start.shape)}")
    if prior_center not in PRIOR_CENTERS:
        raise ValueError(f"prior_center must be one of {PRIOR_CENTERS}, got {prior_center!r}")
    free = _columns(free, start.shape[1])
    goal = ImageObjective(decoder, images, _prior_columns(prior, free), prior_weight,
                          {"depth_channels": depth_channels, "background_weight": background_weight,
                           "depth_weight": depth_weight}, start if prior_center == "start" else None)
    delta = torch.zeros(len(start), int(free.sum()), dtype=start.dtype, requires_grad=True)

    def vectors_of(idx: torch.Tensor) -> torch.Tensor:  # the start, its free columns moved by delta
        v = start[idx].clone()
        v[:, free] = v[:, free] + delta[idx]
        return v

    trace, began = _Trace(prior_weight, lr, tracer), time.perf_counter()
    with deterministic(threads, seed), frozen(decoder), _status(steps) as status:
        optimizer = torch.optim.Adam([delta], lr=lr)
        schedule = _scheduler(optimizer, lr_schedule, steps)
        for step in range(steps + 1):  # step 0 records the start; the last records the result
            optimizer.zero_grad(set_to_none=True)
            img, prior_mean, vectors = objective(goal, vectors_of, chunk=chunk, backward=step < steps)
            trace.record(step, img, prior_mean, vectors)
            if step < steps:
                optimizer.step()
                if schedule is not None:
                    schedule.step()
                status.update(1)
    return RefineResult(vectors, trace.values, time.perf_counter() - began)


def finetune_encoder(encoder: nn.Module, decoder: nn.Module, images: torch.Tensor, *, steps: int,
                     lr: float = 1e-4, prior_weight: float = 0.0, given: torch.Tensor | None = None,
                     prior: Sequence[bool] | slice | None = None, lr_schedule: str = "constant",
                     depth_channels: Sequence[int] = (), background_weight: float = 1.0,
                     depth_weight: float = 1.0, tracer: Tracer | None = None, chunk: int = 64, seed: int = 0,
                     threads: int | None = None, batch_size: int | None = None) -> RefineResult:
    """(b) Fine-tune ``encoder`` in place on unlabelled ``images`` through the frozen ``decoder``; its final outputs.

    The decoder's input is ``[encoder(images), given]``: ``given`` (B, R) holds columns the
    encoder does not predict (the rendering parameters, when they are treated as known),
    fixed and outside the prior. The encoder runs in eval mode (trained batch-norm
    statistics, no dropout) and is left in eval mode. ``batch_size``: images per step (None:
    all, each step on the full objective; else minibatches reshuffled by ``seed`` every pass,
    traced once per pass, far cheaper per step). ``prior``: a mask or slice of the encoder's
    output columns (default all). Other arguments as in :func:`refine_parameters`; ``lr``
    is for the encoder's weights.
    """
    _check(images, steps, lr, prior_weight, chunk, lr_schedule)
    if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
        raise ValueError(f"batch_size must be None (all images) or an integer >= 1, got {batch_size!r}")
    if given is not None and (given.ndim != 2 or len(given) != len(images)):
        raise ValueError(f"given must be (B, R) with B = {len(images)}, got {tuple(given.shape)}")
    n = len(images)
    full_batch = batch_size is None or batch_size >= n
    per_pass = 1 if full_batch else -(-n // batch_size)
    trace, began = _Trace(prior_weight, lr, tracer), time.perf_counter()
    with deterministic(threads, seed), frozen(decoder), _status(steps) as status:
        encoder.eval()
        weights = [p for p in encoder.parameters() if p.requires_grad]
        if not weights:
            raise ValueError("the encoder has no trainable weights (requires_grad is off everywhere)")
        with torch.no_grad():
            n_out = encoder(images[:1]).shape[1]
        columns = torch.zeros(n_out + (0 if given is None else given.shape[1]), dtype=torch.bool)
        columns[:n_out] = True
        goal = ImageObjective(decoder, images, columns if prior is None else _prior_columns(prior, columns),
                              prior_weight, {"depth_channels": depth_channels, "background_weight": background_weight,
                                             "depth_weight": depth_weight})

        def vectors_of(idx: torch.Tensor) -> torch.Tensor:
            out = encoder(images[idx])
            return out if given is None else torch.cat([out, given[idx].to(out.dtype)], 1)

        optimizer = torch.optim.Adam(weights, lr=lr)
        schedule = _scheduler(optimizer, lr_schedule, steps)
        order, batches = torch.Generator().manual_seed(int(seed)), []
        for step in range(steps + 1):
            last = step == steps
            if full_batch or last or step % per_pass == 0:  # the full objective, traced
                optimizer.zero_grad(set_to_none=True)
                img, prior_mean, vectors = objective(goal, vectors_of, chunk=chunk, backward=full_batch and not last)
                trace.record(step, img, prior_mean, vectors)
            if last:
                break
            if not full_batch:  # one step on the next minibatch of a seeded reshuffle
                batches = batches or list(torch.split(torch.randperm(n, generator=order), batch_size))
                idx = batches.pop(0)
                optimizer.zero_grad(set_to_none=True)
                img_b, prior_b = goal.terms(vectors_of(idx), idx)
                (img_b + prior_weight * prior_b).mean().backward()
            optimizer.step()
            if schedule is not None:
                schedule.step()
            status.update(1)
    return RefineResult(vectors, trace.values, time.perf_counter() - began)


def _prior_columns(prior: Sequence[bool] | torch.Tensor | slice | None, free: torch.Tensor) -> torch.Tensor:
    """Boolean mask (D,) of the columns in the prior: ``prior`` (default: all ``free``), which must all be free."""
    if prior is None:
        return free
    if not isinstance(prior, slice):
        mask = torch.as_tensor(prior, dtype=torch.bool)
        if mask.ndim == 1 and len(mask) < len(free):  # a mask of the encoder's outputs only
            prior = torch.cat([mask, torch.zeros(len(free) - len(mask), dtype=torch.bool)])
    out = _columns(prior, len(free), "prior")
    if bool((out & ~free).any()):
        raise ValueError(f"prior columns {torch.nonzero(out & ~free).flatten().tolist()} are not free; the prior "
                         "can only cover parameters that are optimised")
    return out


def blend(start: np.ndarray, refined: np.ndarray, weight: float) -> np.ndarray:
    """``weight`` × ``refined`` + (1 − ``weight``) × ``start``: normalised vectors (N, D), same layout.

    The refined parameters err where the learned renderer does, the start (the encoder's
    estimate) where the encoder does; the two errors are partly independent, so a weighted
    mean of the estimates can be closer to the truth than either.
    """
    start, refined = np.asarray(start, dtype=np.float64), np.asarray(refined, dtype=np.float64)
    if start.shape != refined.shape:
        raise ValueError(f"start {start.shape} and refined {refined.shape} must have the same shape")
    if not 0.0 <= float(weight) <= 1.0:
        raise ValueError(f"the blend weight must be in [0, 1] (1 = the refined parameters), got {weight!r}")
    return float(weight) * refined + (1.0 - float(weight)) * start
