"""Method (c) over many images: physics analysis by synthesis from a network's estimates.

:func:`fit_images` runs :func:`radarface.physics_fit.fit_physics` once per image (amplitude and
depth), each from its own starting estimate (the encoder's or the autoencoder's) and with its
own fitting renderer planned on that start; the images are fitted side by side in
``settings.workers`` processes of one thread each (one fit does not keep two threads busy).
On the synthetic test split the rendering parameters the images were made with are known and
passed; a capture states none, so its fit uses the radar's evaluation values
(``render_params=None``; see :mod:`radarface.physics_fit`), but it states its radar (band,
frequency steps, the antennas used), which the fitting renderer then renders with.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import numpy as np
import torch

from radarface import metrics, progress
from radarface.experiments import evaluation as ev
from radarface.experiments import real_data
from radarface.experiments.fitting import TrainedNetworks
from radarface.experiments.settings import PhysicsSettings, RefinementSettings
from radarface.facemodel import MorphableModel
from radarface.measurements.captures import Captures
from radarface.physics_fit import PhysicsFitResult, fit_physics, parameter_normaliser, posed_vertices, start_renderer
from radarface.radar.differentiable import PhysicsRenderer
from radarface.radar.config import RadarConfig
from radarface.runtime import process_map, resolve_workers, torch_threads

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
                       fit_material=settings.material == "fit", fit_level=settings.level == "fit",
                       depth_scale_mm=settings.depth_scale_mm)


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


def _fit_item(settings: PhysicsSettings, face: MorphableModel, config: RadarConfig,
              item: tuple[torch.Tensor, dict[str, np.ndarray], dict[str, Any] | None]) -> PhysicsFitResult:
    """:func:`fit_one` on one (image (2, H, W), start, rendering parameters): a task for a worker process."""
    image, start, render_params = item
    return fit_one(settings, face, image, start, config, render_params=render_params)


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
    items = [(images[i], {k: np.asarray(starts[k][i], dtype=np.float64) for k in FITTED},
              None if render_params is None else render_params[i]) for i in range(n)]
    task = partial(_fit_item, settings, face, config)
    fits = []
    workers = min(resolve_workers(settings.workers), max(n, 1))
    with torch_threads(settings.threads), progress.bar(total=n, desc=desc, unit="image", disable=not show) as bar:
        for fit in (process_map(task, items, workers) if workers > 1 else map(task, items)):
            fits.append(fit)
            bar.update(1)
    params = {k: np.stack([f.params[k] for f in fits]) if fits else np.zeros((0,)) for k in FITTED}
    return PhysicsFits(params, np.array([f.seconds for f in fits]), [f.trace for f in fits])


#: The row name of method (c) beside the network methods of :mod:`radarface.experiments.evaluation`.
METHOD_C: str = "encoder + physics fit (c)"


def method_rows(face: MorphableModel, captures: Captures, params: dict[str, dict[str, np.ndarray]]
                ) -> dict[str, dict[str, float]]:
    """Per method (and the mean face, with ground truth): mean vertex distance ``vertex_mm`` (face region,
    model frame; NaN without ground truth), and of the predicted shapes the ``identification_rate``,
    its ``chance_rate`` and the mean cosine similarity ``within`` and ``between`` subjects."""
    has_truth = captures.ground_truth_params is not None
    distances = real_data.capture_vertex_distances(face, captures, params) if has_truth else {}
    rows = {}
    for name in (["mean face"] if has_truth else []) + list(params):
        row = {"vertex_mm": float(distances[name].mean()) if has_truth else float("nan")}
        if name in params:
            r = real_data.identity_analysis(params[name]["shape"], captures.subject)
            row.update({k: float(r[k]) for k in ("identification_rate", "chance_rate", "within", "between")})
        rows[name] = row
    return rows


def compare_on_captures(settings: PhysicsSettings, refinement: RefinementSettings, face: MorphableModel,
                        captures: Captures, nets: TrainedNetworks, config: RadarConfig, *, show: bool = True
                        ) -> tuple[dict[str, dict[str, float]], PhysicsFits]:
    """Every network method (encoder, autoencoder, (a), (b), blended; both channels) and (c) from the encoder's
    estimate on ``captures``: :func:`method_rows`, and (c)'s fits. (c) renders with the radar the captures
    state (:meth:`~radarface.measurements.Captures.system_config` of the training ``config``)."""
    pred = real_data.predict_captures(refinement, "both", captures, nets)
    start = {k: np.asarray(pred.params[ev.ENCODER][k]) for k in FITTED}
    fits = fit_images(settings, face, captures.encoder_input("both"), start, captures.system_config(config), show=show)
    return method_rows(face, captures, {**pred.params, METHOD_C: fits.params}), fits


def fitting_render_params(names: tuple[str, ...], rows: np.ndarray) -> list[dict[str, float]]:
    """Per test image, the rendering parameters (rows (N, R) in the units of ``names``) that (c)'s renderer
    takes: all but the receiver noise ``snr_db``, since the fit renders none."""
    return [{k: float(v) for k, v in zip(names, row) if k != "snr_db"} for row in rows]


def compare_on_test_split(settings: PhysicsSettings, refinement: RefinementSettings, face: MorphableModel,
                          nets: TrainedNetworks, config: RadarConfig, n: int, *, show: bool = True
                          ) -> tuple[dict[str, float], PhysicsFits]:
    """Mean vertex distance (mm, face region, model frame) of every network method and of (c) from the encoder's
    estimate on the first ``n`` images of the synthetic test split (both channels; (c) with each image's
    rendering parameters, except a fitted material), and (c)'s fits."""
    test = nets.data["test"]
    if not 1 <= n <= len(test):
        raise ValueError(f"n must be in [1, {len(test)}] (test images), got {n}")
    images, targets = (t[:n] for t in test.tensors())
    n_encoded = nets.autoencoder.n_encoded or nets.autoencoder.n_params
    preds, _, _ = ev.predict_methods(refinement, "both", nets, images, targets[:, n_encoded:])
    truth = test.denormalise(targets.double().numpy())
    start = test.denormalise(preds[ev.ENCODER])
    fits = fit_images(settings, face, images, {k: start[k] for k in FITTED}, config,
                      render_params=fitting_render_params(test.normaliser.render_names, truth["render"]), show=show)
    params = {name: test.denormalise(vectors) for name, vectors in preds.items()} | {METHOD_C: fits.params}
    return ({name: float(metrics.vertex_errors(face, truth, p)[:, face.face_mask].mean()) for name, p in params.items()},
            fits)


def encoder_estimates(nets: TrainedNetworks, captures: Captures) -> dict[str, np.ndarray]:
    """The encoder's (both channels) shape, expression and pose (N, K) for ``captures``: method (c)'s start."""
    test = nets.data["test"]
    n_encoded = nets.autoencoder.n_encoded or nets.autoencoder.n_params
    images = captures.encoder_input("both")
    given = torch.zeros(len(images), test.normaliser.dim - n_encoded)  # rendering parameters: the training mean
    predicted = test.denormalise(ev.prediction(nets.encoder, images, given))
    return {k: np.asarray(predicted[k]) for k in FITTED}


def format_rows(rows: dict[str, dict[str, float]]) -> str:
    """:func:`method_rows` as a text table: vertex distance, identification (chance), within / between."""
    lines = [f"{'method':40s} {'vertex mm':>9s} {'identified':>10s} {'within':>7s} {'between':>7s}"]
    shown = lambda r, key, fmt: format(r[key], fmt) if np.isfinite(r.get(key, np.nan)) else "–"  # noqa: E731
    for name, r in rows.items():
        ident = f"{r['identification_rate']:.2f} ({r['chance_rate']:.2f})" if "identification_rate" in r else "–"
        within, between = shown(r, "within", "+.2f"), shown(r, "between", "+.2f")
        lines.append(f"{name:40s} {r['vertex_mm']:9.2f} {ident:>10s} {within:>7s} {between:>7s}")
    return "\n".join(lines)
