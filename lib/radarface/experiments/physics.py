"""Method (c) over many images: physics analysis by synthesis from a network's estimates.

:func:`fit_images` runs :func:`radarface.physics_fit.fit_physics` once per image (amplitude and
depth), each from its own starting estimate (the encoder's or the autoencoder's) and with its
own fitting renderer planned on that start. On the synthetic test split the rendering
parameters the images were made with are known and passed; a capture states none, so its fit
uses the radar's evaluation values (``render_params=None``; see :mod:`radarface.physics_fit`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from radarface import metrics, progress
from radarface.experiments.settings import PhysicsSettings
from radarface.facemodel import MorphableModel
from radarface.physics_fit import PhysicsFitResult, fit_physics, parameter_normaliser, posed_vertices, start_renderer
from radarface.radar.differentiable import PhysicsRenderer
from radarface.radar.config import RadarConfig
from radarface.runtime import torch_threads

#: The parameter groups method (c) fits.
FITTED: tuple[str, ...] = ("shape", "expression", "pose")


@dataclass
class PhysicsFits:
    """Per image: fitted ``params`` (dict of (N, K) arrays), wall ``seconds`` (N,) and each fit's ``traces``."""

    params: dict[str, np.ndarray]
    seconds: np.ndarray
    traces: list[dict[str, list[float]]]


def fitting_config(settings: PhysicsSettings, config: RadarConfig) -> RadarConfig:
    """The radar ``config`` with the fitting renderer's scatterer lattice (``settings.spacing_mm``)."""
    return replace(config, surface_spacing_mm=settings.spacing_mm)


def fitting_renderer(settings: PhysicsSettings, face: MorphableModel, start: dict[str, np.ndarray],
                     config: RadarConfig, *, render_params: dict[str, Any] | None = None) -> PhysicsRenderer:
    """The renderer method (c) fits through, sampled and planned on ``start`` (dict of shape, expression, pose)."""
    params = dict(render_params or {})
    if settings.material not in (None, "fit"):
        params["material"] = settings.material
    return start_renderer(face, start, fitting_config(settings, config), render_params=params or None,
                          speckle=settings.speckle)


def fit_one(settings: PhysicsSettings, face: MorphableModel, images: torch.Tensor, start: dict[str, np.ndarray],
            config: RadarConfig, *, render_params: dict[str, Any] | None = None, callback=None,
            renderer: PhysicsRenderer | None = None) -> PhysicsFitResult:
    """Method (c) on one image pair (2, H, W) from ``start`` (dict of shape, expression, pose);
    ``renderer`` default :func:`fitting_renderer`."""
    if renderer is None:
        renderer = fitting_renderer(settings, face, start, config, render_params=render_params)
    return fit_physics(face, images.float(), start, fitting_config(settings, config), steps=settings.steps,
                       lr=settings.lr, prior_weight=settings.prior_weight, depth_weight=settings.depth_weight,
                       depth_pixels=settings.depth_pixels, keep=settings.keep, renderer=renderer, callback=callback,
                       fit_material=settings.material == "fit")


@dataclass
class FitPath:
    """One image fitted step by step: the ``result``, the ``params`` (dict of shape, expression, pose) of
    every step (step 0 = the start), their vertex ``distances`` (mm, face region, model frame) to a
    known truth (NaN without one), the ``renderer`` it fitted through and the ``face`` model."""

    result: PhysicsFitResult
    params: list[dict[str, np.ndarray]]
    distances: np.ndarray
    renderer: PhysicsRenderer
    face: MorphableModel

    def images(self, steps: list[int]) -> np.ndarray:
        """The fitting renderer's images (len(steps), 2, H, W) of the parameters at ``steps``."""
        norm = parameter_normaliser(self.face)
        dtype = self.renderer.plan.voxel_points.dtype
        with torch.no_grad():
            return np.stack([self.renderer(posed_vertices(self.face, norm, torch.tensor(
                norm.normalise(self.params[s]), dtype=dtype))).numpy() for s in steps])


def fit_path(settings: PhysicsSettings, face: MorphableModel, images: torch.Tensor, start: dict[str, np.ndarray],
             config: RadarConfig, *, truth: dict[str, np.ndarray] | None = None,
             render_params: dict[str, Any] | None = None) -> FitPath:
    """Method (c) on one image pair (2, H, W), keeping the parameters of every step (and their distance to ``truth``)."""
    params: list[dict[str, np.ndarray]] = []

    def record(p: dict[str, np.ndarray]) -> float:
        params.append({k: np.array(p[k], dtype=np.float64) for k in FITTED})
        if truth is None:
            return float("nan")
        one = lambda d: {k: np.asarray(d[k], dtype=np.float64)[None] for k in FITTED}  # noqa: E731
        return float(metrics.vertex_errors(face, one(truth), one(p))[0, face.face_mask].mean())

    renderer = fitting_renderer(settings, face, start, config, render_params=render_params)
    result = fit_one(settings, face, images, start, config, callback=record, renderer=renderer)
    return FitPath(result, params, np.asarray(result.trace["callback"]), renderer, face)


def fit_images(settings: PhysicsSettings, face: MorphableModel, images: torch.Tensor,
               starts: dict[str, np.ndarray], config: RadarConfig, *,
               render_params: list[dict[str, Any]] | None = None, desc: str = "method (c)",
               show: bool = True) -> PhysicsFits:
    """Method (c) on every image (N, 2, H, W) (amplitude, depth) from ``starts`` (dict of (N, K) arrays
    of shape, expression, pose); ``render_params``: per image, or None for the radar's values."""
    n = len(images)
    if images.ndim != 4 or images.shape[1] != 2:
        raise ValueError(f"images must be (N, 2, H, W) (amplitude, depth), got {tuple(images.shape)}; "
                         "method (c) fits both channels")
    missing = [k for k in FITTED if k not in starts or len(starts[k]) != n]
    if missing:
        raise ValueError(f"starts needs {list(FITTED)} with one row per image ({n}); missing or wrong length: {missing}")
    if render_params is not None and len(render_params) != n:
        raise ValueError(f"render_params must have one dict per image ({n}), got {len(render_params)}")
    fits = []
    with torch_threads(settings.threads), progress.bar(total=n, desc=desc, unit="image", disable=not show) as bar:
        for i in range(n):
            start = {k: np.asarray(starts[k][i], dtype=np.float64) for k in FITTED}
            fits.append(fit_one(settings, face, images[i], start, config,
                                render_params=None if render_params is None else render_params[i]))
            bar.update(1)
    params = {k: np.stack([f.params[k] for f in fits]) if fits else np.zeros((0,)) for k in FITTED}
    return PhysicsFits(params, np.array([f.seconds for f in fits]), [f.trace for f in fits])
