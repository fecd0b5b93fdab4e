"""Test-time analysis by synthesis (paper §1 point 5): refine parameters from images alone.

Given radar images and a frozen learned renderer, minimise over the parameters

    objective = image_loss(decoder(p), images) + prior_weight · mean(p_prior²)

(per image, averaged over the images): the image loss of :func:`radarface.models.decoder.image_loss`
and a Gaussian prior N(0, 1) on the normalised parameters that are being changed (or on
those of them named in ``prior``, e.g. shape and expression only), which keeps the search
near faces the face model finds likely when the image alone is ambiguous.
No labels are used. The paper's text allows two readings, both here:

- :func:`refine_parameters` (a): the parameter vector itself is optimised, starting from
  the encoder's prediction (one free vector per image).
- :func:`finetune_encoder` (b): the encoder's weights are fine-tuned on the unlabelled
  test images; the parameters are its outputs.

Both run a fixed number of Adam steps on the full objective (all images, in chunks with
accumulated gradients, so memory stays bounded and chunking does not change the result),
record per step the image loss, the prior and, given a ``tracer`` (e.g.
:func:`vertex_tracer`), the vertex distance, and return the vectors of the last step.
(b) can instead step on minibatches (``batch_size``): an encoder has many weights shared
by all images, and a step on a minibatch costs a fraction of a full one; the full objective is traced
once per pass over the images.
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
from radarface.runtime import deterministic
from radarface.models.decoder import image_loss

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
    from radarface.metrics import vertex_distance

    true = np.asarray(true_targets.detach().cpu() if isinstance(true_targets, torch.Tensor) else true_targets,
                      dtype=np.float64)
    true_params = denormalise(true)

    def tracer(vectors: np.ndarray) -> float:
        if vectors.shape != true.shape:
            raise ValueError(f"traced vectors {vectors.shape} do not match the true targets {true.shape}")
        return vertex_distance(face_model, true_params, denormalise(vectors))

    return tracer


@contextlib.contextmanager
def _frozen(*modules: nn.Module) -> Iterator[None]:
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


def _objective(vectors_of: Callable[[torch.Tensor], torch.Tensor], decoder: nn.Module, images: torch.Tensor,
               idx: torch.Tensor, prior_columns: torch.Tensor, loss_options: dict[str, Any],
               center: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-image image loss (b,), per-image prior (b,) about ``center`` (B, D; None: 0) and the vectors (b, D) of ``idx``."""
    v = vectors_of(idx)
    img = image_loss(decoder(v), images[idx], reduction="none", **loss_options)
    off = v if center is None else v - center[idx]
    return img, off[:, prior_columns].square().mean(1), v


def _descend(variables: Sequence[torch.Tensor], vectors_of: Callable[[torch.Tensor], torch.Tensor],
             decoder: nn.Module, images: torch.Tensor, prior_columns: torch.Tensor, *, steps: int, lr: float,
             prior_weight: float, loss_options: dict[str, Any], tracer: Tracer | None, chunk: int,
             batch_size: int | None = None, seed: int = 0, lr_schedule: str = "constant",
             center: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, list[float]]]:
    """Adam on ``variables`` for ``steps`` steps; (last vectors (B, D), trace).

    ``lr_schedule``: ``"constant"``, or ``"cosine"`` (from ``lr`` down to 0 over the
    steps, so the last steps settle instead of jittering around the minimum).

    Full batch (``batch_size`` None): every step descends the objective over all images
    and the same pass is traced. Minibatches: each step descends ``batch_size`` images
    (a seeded reshuffle per pass over the images); the full objective is traced after
    every pass and after the last step.
    """
    optimizer = torch.optim.Adam(variables, lr=lr)
    schedule = (torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(steps, 1))
                if lr_schedule == "cosine" else None)
    n = len(images)
    full_batch = batch_size is None or batch_size >= n
    per_pass = 1 if full_batch else -(-n // batch_size)
    order = torch.Generator().manual_seed(int(seed))
    batches: list[torch.Tensor] = []
    trace: dict[str, list[float]] = {"step": [], "image_loss": [], "prior": [], "objective": []}
    vectors = torch.empty(0)
    status = progress_bars.status_bar(steps, "test-time steps", unit="step")
    for step in range(steps + 1):
        status.update(min(step, 1))
        last = step == steps
        if full_batch or last or step % per_pass == 0:
            optimizer.zero_grad(set_to_none=True)
            totals, parts = np.zeros(2), []
            with torch.set_grad_enabled(full_batch and not last):
                for idx in torch.split(torch.arange(n), chunk):
                    img, prior, v = _objective(vectors_of, decoder, images, idx, prior_columns, loss_options, center)
                    if full_batch and not last:
                        ((img + prior_weight * prior).sum() / n).backward()
                    totals += [float(img.detach().sum()), float(prior.detach().sum())]
                    parts.append(v.detach())
            vectors = torch.cat(parts)
            img_mean, prior_mean = totals / n
            if not np.isfinite(img_mean + prior_mean):
                raise FloatingPointError(f"objective is not finite at step {step}; lower the learning rate (now {lr:g})")
            for key, value in (("step", step), ("image_loss", img_mean), ("prior", prior_mean),
                               ("objective", img_mean + prior_weight * prior_mean)):
                trace[key].append(float(value))
            if tracer is not None:
                trace.setdefault("vertex_mm", []).append(float(tracer(vectors.double().numpy())))
        if last:
            break
        if not full_batch:
            if not batches:
                batches = list(torch.split(torch.randperm(n, generator=order), batch_size))
            optimizer.zero_grad(set_to_none=True)
            img, prior, _ = _objective(vectors_of, decoder, images, batches.pop(0), prior_columns, loss_options,
                                 center)
            (img + prior_weight * prior).mean().backward()
        optimizer.step()
        if schedule is not None:
            schedule.step()
    status.close()
    return vectors, trace


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
                      lr: float = 0.01, prior_weight: float = 1e-3, free: Sequence[bool] | slice | None = None,
                      prior: Sequence[bool] | slice | None = None, prior_center: str = "zero",
                      lr_schedule: str = "constant", depth_channels: Sequence[int] = (),
                      background_weight: float = 1.0, depth_weight: float = 1.0, tracer: Tracer | None = None,
                      chunk: int = 64, seed: int = 0, threads: int | None = None) -> RefineResult:
    """(a) Optimise the normalised parameter vectors (B, D) of ``images`` (B, C, H, W) through the frozen ``decoder``.

    Args:
        decoder: vectors (B, D) -> images (B, C, H, W) in [0, 1] (weights left unchanged).
        init_params: start (B, D), e.g. the encoder's prediction with the rendering parameters.
        steps, lr: Adam steps on the objective and their learning rate (normalised units).
        prior_weight: weight of the mean squared free parameter (a N(0, 1) prior).
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
    init = torch.as_tensor(init_params, dtype=images.dtype).detach()
    if init.ndim != 2 or len(init) != len(images):
        raise ValueError(f"init_params must be (B, D) with B = {len(images)} images, got {tuple(init.shape)}")
    columns = _columns(free, init.shape[1])
    in_prior = _prior_columns(prior, columns)
    if prior_center not in PRIOR_CENTERS:
        raise ValueError(f"prior_center must be one of {PRIOR_CENTERS}, got {prior_center!r}")
    start = time.perf_counter()
    with deterministic(threads, seed), _frozen(decoder):
        delta = torch.zeros(len(init), int(columns.sum()), dtype=init.dtype, requires_grad=True)

        def vectors_of(idx: torch.Tensor) -> torch.Tensor:
            v = init[idx].clone()
            v[:, columns] = v[:, columns] + delta[idx]
            return v

        vectors, trace = _descend([delta], vectors_of, decoder, images, in_prior, steps=steps, lr=lr,
                                  prior_weight=prior_weight, tracer=tracer, chunk=chunk, lr_schedule=lr_schedule,
                                  center=init if prior_center == "start" else None,
                                  loss_options={"depth_channels": depth_channels,
                                                "background_weight": background_weight,
                                                "depth_weight": depth_weight})
    return RefineResult(vectors, trace, time.perf_counter() - start)


def finetune_encoder(encoder: nn.Module, decoder: nn.Module, images: torch.Tensor, *, steps: int,
                     lr: float = 1e-4, prior_weight: float = 1e-3, given: torch.Tensor | None = None,
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
    start = time.perf_counter()
    with deterministic(threads, seed), _frozen(decoder):
        encoder.eval()
        weights = [p for p in encoder.parameters() if p.requires_grad]
        if not weights:
            raise ValueError("the encoder has no trainable weights (requires_grad is off everywhere)")
        with torch.no_grad():
            n_out = encoder(images[:1]).shape[1]
        columns = torch.zeros(n_out + (0 if given is None else given.shape[1]), dtype=torch.bool)
        columns[:n_out] = True
        if prior is not None:
            columns = _prior_columns(prior, columns)

        def vectors_of(idx: torch.Tensor) -> torch.Tensor:
            out = encoder(images[idx])
            return out if given is None else torch.cat([out, given[idx].to(out.dtype)], 1)

        vectors, trace = _descend(weights, vectors_of, decoder, images, columns, steps=steps, lr=lr,
                                  prior_weight=prior_weight, tracer=tracer, chunk=chunk,
                                  loss_options={"depth_channels": depth_channels,
                                                "background_weight": background_weight,
                                                "depth_weight": depth_weight},
                                  batch_size=batch_size, seed=seed, lr_schedule=lr_schedule)
    return RefineResult(vectors, trace, time.perf_counter() - start)


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


# ------------------------------------------------------------ command line
def _setup(args) -> tuple[dict[str, Any], Any, nn.Module, Any]:
    """The command's profile (with ``--set`` overrides), face model, learned renderer and its checkpoint."""
    from radarface import facemodel, profiles
    from radarface.models.decoder import decoder_data, fit_decoder
    from radarface.run import parse_settings

    cfg = profiles.resolve(args.profile, **parse_settings(args.set))
    face = facemodel.load_model(cfg["model"], cfg["n_shape"], cfg["n_expression"])
    decoder, fit = fit_decoder(cfg, decoder_data(cfg, "both"))
    return cfg, face, decoder, fit.checkpoint


def _tune(args) -> int:
    from radarface.models.autoencoder import best_refinement, tune_refinement

    cfg, face, decoder, checkpoint = _setup(args)
    lrs = [float(x) for x in args.lrs.split(",")]
    traces = tune_refinement(cfg, args.inputs, decoder, face, decoder_checkpoint=checkpoint, lrs=lrs,
                             steps=args.steps, method=args.method, n_images=args.images)
    marks = sorted({0, args.steps // 4, args.steps // 2, 3 * args.steps // 4, args.steps})
    print(f"test-time ({args.method}), {args.inputs}, first {args.images} validation images: vertex distance (mm) "
          f"at steps {marks} (or the last traced step before), and the best step")
    for lr, trace in traces.items():
        steps = np.asarray(trace["step"])
        at = [int(np.flatnonzero(steps <= m)[-1]) for m in marks]  # minibatch runs trace once per pass
        i = int(np.argmin(trace["vertex_mm"]))
        print(f"lr {lr:g}: " + " ".join(f"{trace['vertex_mm'][j]:.3f}" for j in at)
              + f" | best {trace['vertex_mm'][i]:.3f} at step {int(trace['step'][i])}")
    lr, step, mm = best_refinement(traces)
    print(f"best: lr {lr:g}, {step} steps, {mm:.3f} mm (from {traces[lr]['vertex_mm'][0]:.3f} mm at step 0)")
    return 0


def _blend(args) -> int:
    from radarface.models.autoencoder import tune_blend

    cfg, face, decoder, checkpoint = _setup(args)
    weights = [float(x) for x in args.weights.split(",")]
    curve = tune_blend(cfg, args.inputs, decoder, face, decoder_checkpoint=checkpoint, weights=weights,
                       n_images=args.images)
    print(f"(a) blended with its start, {args.inputs}, first {args.images} validation images: vertex distance (mm)")
    for w, mm in curve.items():
        print(f"weight {w:g}: {mm:.3f}")
    best = min(curve, key=curve.get)
    print(f"best: weight {best:g}, {curve[best]:.3f} mm")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m radarface.refine tune|blend``: choose test-time settings on validation images; exit code."""
    import argparse
    import sys

    from radarface import profiles

    parser = argparse.ArgumentParser(prog="python -m radarface.refine", description=main.__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    tune = sub.add_parser("tune", help="vertex distance per step for several learning rates, on validation images")
    tune.add_argument("--profile", default="cpu", choices=profiles.names())
    tune.add_argument("--inputs", default="both", choices=("amplitude", "depth", "both"))
    tune.add_argument("--method", default="a", choices=("a", "b"), help="(a) parameters, (b) encoder weights")
    tune.add_argument("--lrs", default="0.01,0.03,0.1", help="comma-separated learning rates")
    tune.add_argument("--steps", type=int, default=200)
    tune.add_argument("--images", type=int, default=200, help="the first N validation images")
    tune.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="override a profile setting")
    tune.set_defaults(run=_tune)
    mix = sub.add_parser("blend", help="vertex distance of (a) blended with its start, per weight, on validation images")
    mix.add_argument("--profile", default="cpu", choices=profiles.names())
    mix.add_argument("--inputs", default="both", choices=("amplitude", "depth", "both"))
    mix.add_argument("--weights", default="0,0.5,0.6,0.7,0.8,0.9,1", help="comma-separated weights of (a), in [0, 1]")
    mix.add_argument("--images", type=int, default=200, help="the first N validation images")
    mix.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="override a profile setting")
    mix.set_defaults(run=_blend)
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (ValueError, FileNotFoundError) as err:
        print(f"python -m radarface.refine {args.command}: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
