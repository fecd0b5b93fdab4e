"""Method (c): analysis by synthesis through the differentiable physics renderer.

The test-time refinement (a) of :mod:`radarface.refine` fits images through the learned
renderer, whose errors (and, on captures, its domain gap) it inherits. Here the same objective

    objective = image_loss(render(p), images) + prior_weight · mean(p²)

is descended through :class:`radarface.radar.differentiable.PhysicsRenderer` instead: ``p`` is the
normalised parameter vector (shape, expression, pose; layout and scaling of
:class:`radarface.dataset.normalise.TargetNormaliser`, pose in its standard deviations), the prior
the same N(0, 1) on every fitted coefficient as (a)'s default, and the defaults of the weight
(1e-3) and of Adam's learning rate (0.1) follow (a)'s (``tta_prior_weight``; the cpu profile's
``tta_lr``); measurements behind it: ``docs/tuning.md``, "Method (c)".

Rendering parameters a capture does not state are the renderer's ``render_params`` (default the
config's, i.e. the evaluation values: 20 dB dynamic range, diffuse share 0.1, 200 mm aperture).
Two can be fitted per image instead: the diffuse share (``fit_material``, through the expected
power of its speckle, which no single draw of another renderer matches) and the image's level
against the target's (``fit_level``: an image normalised to its brightest speckle lies below the
expected power normalised to its peak).
No labels are used; ``callback`` (e.g. the vertex distance to a known truth) only records.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from radarface.dataset.normalise import TargetNormaliser
from radarface.geometry import apply_pose, apply_pose_torch, pose_limits
from radarface.losses import image_loss
from radarface.radar.config import RadarConfig
from radarface.radar.differentiable import PhysicsRenderer

#: ``depth_pixels`` of :func:`image_objective` and ``keep`` of :func:`fit_physics`.
DEPTH_PIXELS: tuple[str, ...] = ("all", "target")
KEEP: tuple[str, ...] = ("last", "best")

#: Diffuse shares tried at the start, before a fitted share is descended from the best of them.
MATERIAL_GRID: tuple[float, ...] = (0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9)
#: Image levels (dB) tried at the start, with every share tried, before a fitted level is descended.
LEVEL_GRID_DB: tuple[float, ...] = (-9.0, -6.0, -3.0, 0.0, 3.0)
#: A fitted level is optimised in units of this many dB, so that Adam's steps (about ``lr`` each)
#: move it by a fraction of a dB, as they move the normalised parameters by a fraction of a std.
LEVEL_UNIT_DB: float = 10.0

#: ``callback(params) -> float``, params a dict of ``shape`` (Ks,), ``expression`` (Ke,), ``pose`` (6,) numpy
Callback = Callable[[dict[str, np.ndarray]], float]


@dataclass
class PhysicsFitResult:
    """Fitted parameters (dict of ``shape`` (Ks,), ``expression`` (Ke,), ``pose`` (6,) rad/mm), their
    normalised ``vector`` (D,), the per-step ``trace`` (``step``, ``image_loss``, ``prior``,
    ``objective``, with a callback ``callback``, with a fitted material ``material``, with a fitted level
    ``level_db``), the wall-clock ``seconds``, the fitted diffuse share ``material`` and image level
    ``level_db`` (None when they were fixed)."""

    params: dict[str, np.ndarray]
    vector: np.ndarray
    trace: dict[str, list[float]] = field(default_factory=dict)
    seconds: float = 0.0
    material: float | None = None  # the fitted diffuse share, when it was fitted
    level_db: float | None = None  # the fitted image level, when it was fitted


def parameter_normaliser(model) -> TargetNormaliser:
    """Normaliser of (shape, expression, pose) vectors for ``model`` with the library's pose limits."""
    return TargetNormaliser(model.n_shape, model.n_expression, pose_limits(), (), {}, include_render=False)


def posed_vertices(model, normaliser: TargetNormaliser, vector: torch.Tensor) -> torch.Tensor:
    """Posed face vertices (N, 3) mm of a normalised vector (D,); differentiable."""
    p = normaliser.denormalise(vector)
    v = model.vertices_torch(p["shape"][None], p["expression"][None])
    return apply_pose_torch(v, p["pose"][None])[0]


def start_renderer(model, init: dict[str, Any], config: RadarConfig, **options: Any) -> PhysicsRenderer:
    """A :class:`PhysicsRenderer` sampled and planned on the face of ``init`` (dict of shape,
    expression, pose); ``options`` go to the renderer (``render_params``, ``margin_mm``, ``dtype``, ...)."""
    v = apply_pose(model.vertices(init["shape"], init["expression"]), init["pose"])
    return PhysicsRenderer(v, model.triangles, config, **options)


def image_objective(renderer: PhysicsRenderer, model, normaliser: TargetNormaliser, vector: torch.Tensor,
                    target: torch.Tensor, *, depth_weight: float = 1.0, background_weight: float = 1.0,
                    depth_pixels: str = "all", material: torch.Tensor | None = None,
                    level_db: torch.Tensor | float = 0.0, depth_scale_mm: float | None = None
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """(image loss, prior mean(vector²)) of a normalised vector (D,) against target images (2, H, W).

    ``depth_pixels="all"``: the image loss of (a) (:func:`radarface.losses.image_loss`; depth 0 on
    the background of both images). ``"target"``: depth compared only on the target's foreground
    (depth > 0), against the rendered depth without its mask, so that a diffuse floor the renderer
    leaves below −DR (or one it adds) does not count as a depth error of the whole region.
    ``material``: a diffuse share being fitted (0-d tensor; the renderer's ``speckle`` not ``"draw"``);
    ``level_db``: the rendered image's level against the target's (:meth:`PhysicsRenderer.images`).
    ``depth_scale_mm``: depth errors count as squared below about this many mm and linearly above
    (:func:`radarface.losses.image_loss`'s ``depth_scale``); None: squared throughout."""
    db = renderer.db_volume(posed_vertices(model, normaliser, vector), material=material)
    return volume_loss(renderer, db, target, depth_weight=depth_weight, background_weight=background_weight,
                       depth_pixels=depth_pixels, level_db=level_db,
                       depth_scale_mm=depth_scale_mm), vector.square().mean()


def volume_loss(renderer: PhysicsRenderer, db: torch.Tensor, target: torch.Tensor, *, depth_weight: float = 1.0,
                background_weight: float = 1.0, depth_pixels: str = "all", level_db: torch.Tensor | float = 0.0,
                depth_scale_mm: float | None = None) -> torch.Tensor:
    """The image loss of :func:`image_objective` for a rendered :meth:`PhysicsRenderer.db_volume` ``db``."""
    target = target.to(renderer.plan.voxel_points.dtype)
    lo, hi = renderer.plan.grid.depth_window_mm
    scale = None if depth_scale_mm is None else depth_scale_mm / (hi - lo)
    if depth_pixels == "all":
        rendered = renderer.images(db, level_db=level_db)
        return image_loss(rendered[None], target[None], depth_channels=(1,),
                          background_weight=background_weight, depth_weight=depth_weight, depth_scale=scale)
    if depth_pixels == "target":  # the target's background pixels weigh 0 in the depth channel
        rendered = renderer.images(db, mask_depth=False, level_db=level_db)
        return image_loss(rendered[None], target[None], depth_channels=(1,), background_weight=0.0,
                          depth_weight=depth_weight, depth_scale=scale)
    raise ValueError(f"depth_pixels must be one of {list(DEPTH_PIXELS)}, got {depth_pixels!r}")


def _check(images: torch.Tensor, renderer: PhysicsRenderer, steps: int, lr: float, prior_weight: float,
           lr_schedule: str) -> None:
    h, w = renderer.plan.grid.image_shape
    if images.shape != (2, h, w):
        raise ValueError(f"images must be (2, H, W) = (2, {h}, {w}) (amplitude, depth), got {tuple(images.shape)}")
    if not isinstance(steps, int) or steps < 0 or not lr > 0 or not prior_weight >= 0:
        raise ValueError(f"need an integer steps >= 0, lr > 0 and prior_weight >= 0, got {steps!r}, {lr}, {prior_weight}")
    if lr_schedule not in ("constant", "cosine"):
        raise ValueError(f"lr_schedule must be 'constant' or 'cosine', got {lr_schedule!r}")


def _starting_point(renderer: PhysicsRenderer, model, normaliser: TargetNormaliser, vector: torch.Tensor,
                    images: torch.Tensor, *, shares: tuple[float | None, ...], levels: tuple[float, ...],
                    **objective: Any) -> tuple[float | None, float]:
    """The (diffuse share of ``shares``, level dB of ``levels``) whose image loss at ``vector`` is lowest
    (one render per share; the levels reuse it)."""
    vertices = posed_vertices(model, normaliser, vector)
    best = (np.inf, shares[0], levels[0])
    with torch.no_grad():
        for share in shares:
            db = renderer.db_volume(vertices, material=None if share is None else torch.tensor(share, dtype=vector.dtype))
            for level in levels:
                loss = float(volume_loss(renderer, db, images, level_db=level, **objective))
                best = min(best, (loss, share, level), key=lambda b: b[0])
    return best[1], best[2]


def fit_physics(model, images: torch.Tensor, init: dict[str, Any], config: RadarConfig, *, steps: int = 100,
                lr: float = 0.1, prior_weight: float = 1e-3, depth_weight: float = 1.0,
                background_weight: float = 1.0, depth_pixels: str = "all", lr_schedule: str = "constant",
                renderer: PhysicsRenderer | None = None, callback: Callback | None = None,
                keep: str = "last", fit_material: bool = False, fit_level: bool = False,
                depth_scale_mm: float | None = None) -> PhysicsFitResult:
    """Fit shape, expression and pose to radar ``images`` (2, H, W) (amplitude, depth in [0, 1]) by Adam
    from ``init`` (dict of ``shape``, ``expression``, ``pose`` in rad/mm, e.g. an encoder's estimate)
    through the physics renderer (default :func:`start_renderer` on ``init``; pass one to fix its
    sampling, plan and rendering parameters). ``depth_pixels``: see :func:`image_objective`.
    ``lr_schedule``: ``"constant"`` or ``"cosine"`` (``lr`` down to 0 over the steps).
    ``keep``: return the parameters of the ``"last"`` step or of the step with the lowest objective
    (``"best"``: no labels involved; guards against a step that overshoots). ``fit_material``: fit the
    diffuse share too (as the sigmoid of a logit, same optimiser; the renderer must render ``speckle``
    "expected" or "expected-db"), from the share of :data:`MATERIAL_GRID` with the lowest image loss at
    ``init``: from a fixed 0.5 the first steps moved the face to suit a wrong share (``docs/tuning.md``).
    ``fit_level``: fit the rendered image's level in dB too (:meth:`PhysicsRenderer.images`), from the
    best of :data:`LEVEL_GRID_DB` (with each share tried). ``depth_scale_mm``: see :func:`image_objective`.
    Returns them and the trace."""
    if keep not in KEEP:
        raise ValueError(f"keep must be 'last' or 'best', got {keep!r}")
    normaliser = parameter_normaliser(model)
    renderer = start_renderer(model, init, config, speckle="expected" if fit_material else "draw") \
        if renderer is None else renderer
    _check(images, renderer, steps, lr, prior_weight, lr_schedule)
    if fit_material and renderer.speckle == "draw":
        raise ValueError("fit_material needs a renderer with speckle='expected' or 'expected-db'; one fixed "
                         "speckle draw is not a smooth function of the diffuse share")
    start = time.perf_counter()
    dtype = renderer.plan.voxel_points.dtype
    vector = torch.tensor(normaliser.normalise(init), dtype=dtype, requires_grad=True)
    objective_options = {"depth_weight": depth_weight, "background_weight": background_weight,
                         "depth_pixels": depth_pixels, "depth_scale_mm": depth_scale_mm}
    share, level = 0.5, 0.0
    if fit_material or fit_level:
        share, level = _starting_point(renderer, model, normaliser, vector, images,
                                       shares=MATERIAL_GRID if fit_material else (None,),
                                       levels=LEVEL_GRID_DB if fit_level else (0.0,), **objective_options)
    logit = torch.tensor(float(np.log(share / (1.0 - share))) if fit_material else 0.0, dtype=dtype,
                         requires_grad=True)
    level_units = torch.tensor(level / LEVEL_UNIT_DB, dtype=dtype, requires_grad=True)
    fitted = [vector] + ([logit] if fit_material else []) + ([level_units] if fit_level else [])
    optimizer = torch.optim.Adam(fitted, lr=lr)
    cosine = lambda step: 0.5 * (1.0 + np.cos(np.pi * step / max(steps, 1)))  # noqa: E731
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, cosine if lr_schedule == "cosine" else lambda step: 1.0)
    trace: dict[str, list[float]] = {"step": [], "image_loss": [], "prior": [], "objective": []}
    for step in range(steps + 1):
        material = torch.sigmoid(logit) if fit_material else None
        level_db = LEVEL_UNIT_DB * level_units if fit_level else 0.0
        img, prior = image_objective(renderer, model, normaliser, vector, images, material=material,
                                     level_db=level_db, **objective_options)
        objective = img + prior_weight * prior
        for key, value in (("image_loss", img), ("prior", prior), ("objective", objective)):
            trace[key].append(float(value.detach()))
        trace["step"].append(step)
        if fit_material:
            trace.setdefault("material", []).append(float(material.detach()))
        if fit_level:
            trace.setdefault("level_db", []).append(float(level_db.detach()))
        if keep == "last" or trace["objective"][-1] <= min(trace["objective"]):
            kept = vector.detach().double().numpy().copy()
            kept_material = trace["material"][-1] if fit_material else None
            kept_level = trace["level_db"][-1] if fit_level else None
        if callback is not None:
            params = normaliser.denormalise(vector.detach().double().numpy())
            trace.setdefault("callback", []).append(float(callback(params)))
        if step == steps:
            break
        optimizer.zero_grad()
        objective.backward()
        optimizer.step()
        schedule.step()
    return PhysicsFitResult(normaliser.denormalise(kept), kept, trace, time.perf_counter() - start, kept_material,
                            kept_level)
