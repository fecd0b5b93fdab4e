"""Summaries of a dataset: parameter statistics against their sampling distributions, and how
visible each parameter is in each image channel."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from radarface.dataset.normalise import POSE_NAMES


def parameter_summary(params: dict[str, np.ndarray], pose_limits: np.ndarray,
                      render_ranges: dict[str, tuple[float, float]]) -> list[tuple[str, float, float, float, float]]:
    """Rows ``(name, mean, std, expected mean, expected std)`` per parameter group or column.

    Shape and expression coefficients are pooled (expected N(0, 1)); pose columns (angles
    in degrees, translations in mm) and rendering parameters are uniform on their ranges
    (``render_ranges`` in column order, e.g. ``TargetNormaliser.render_ranges``).

    >>> rows = parameter_summary({"shape": np.zeros((2, 3)), "expression": np.ones((2, 1)),
    ...                           "pose": np.zeros((2, 6)), "render": np.full((2, 1), 20.0)},
    ...                          np.array([0.1, 0.2, 0.2, 50, 50, 50]), {"dynamic_range_db": (15, 30)})
    >>> rows[0], rows[-1][0], round(rows[-1][4], 2)
    (('shape', 0.0, 0.0, 0.0, 1.0), 'dynamic_range_db', 4.33)
    """
    rows = []
    for group in ("shape", "expression"):
        values = np.asarray(params[group], dtype=np.float64).ravel()
        rows.append((group, float(values.mean()), float(values.std()), 0.0, 1.0))
    pose = np.asarray(params["pose"], dtype=np.float64)
    for k, name in enumerate(POSE_NAMES):
        scale = math.degrees(1.0) if k < 3 else 1.0
        unit = " (deg)" if k < 3 else " (mm)"
        rows.append((name + unit, float(pose[:, k].mean() * scale), float(pose[:, k].std() * scale), 0.0,
                     float(pose_limits[k] * scale / math.sqrt(3.0))))
    render = np.asarray(params["render"], dtype=np.float64)
    for k, (name, (lo, hi)) in enumerate(render_ranges.items()):
        rows.append((name, float(render[:, k].mean()), float(render[:, k].std()), (lo + hi) / 2,
                     (hi - lo) / math.sqrt(12.0)))
    return rows


def format_summary(rows: list[tuple[str, float, float, float, float]], digits: int = 2) -> str:
    """A fixed-width text table of :func:`parameter_summary` rows."""
    lines = [f"{'parameter':<22}{'mean':>9}{'std':>9}{'expected':>10}{'exp. std':>10}"]
    for name, mean, std, exp_mean, exp_std in rows:
        # round first so that -0.00 and 0.00 print alike
        vals = [round(v, digits) + 0.0 for v in (mean, std, exp_mean, exp_std)]
        lines.append(f"{name:<22}{vals[0]:>9.{digits}f}{vals[1]:>9.{digits}f}{vals[2]:>10.{digits}f}"
                     f"{vals[3]:>10.{digits}f}")
    return "\n".join(lines)


def parameter_visibility(face: Any, config: Any, ds: Any, bases: np.ndarray, *, n_nuisance: int = 6,
                         seed: int = 0) -> np.ndarray:
    """Signal-to-nuisance ratio (P, C) of the P face and pose parameters in each image channel.

    For each base target vector (rows of ``bases``, normalised, with rendering columns; ``ds``
    a :class:`~radarface.dataset.RadarFaceDataset` opened with ``include_render=True``), the
    physics renderer gives the RMS image change per +1 std of the parameter (central
    difference, rendering parameters and speckle fixed), divided by the RMS per-pixel spread
    of the same face's images over ``n_nuisance`` redraws of the rendering parameters,
    speckle and noise; both over the pixels that show the face in every one of these
    images; averaged over the bases. Above 1: the parameter changes the image
    more than the nuisance does. Image units cancel, so channels compare directly.
    """
    from radarface.models.decoder import physics_render_fn

    if "render" not in ds.slices:
        raise ValueError("parameter_visibility needs the rendering columns: open the dataset with include_render=True")
    bases = np.atleast_2d(np.asarray(bases, dtype=np.float64))
    render_cols = ds.slices["render"]
    n_params = render_cols.start
    rng = np.random.default_rng(seed)

    def images(vectors: np.ndarray, index: int) -> np.ndarray:
        return physics_render_fn(face, config, ds, seed=seed, index=index)(vectors).astype(np.float64)

    ratios = []
    for base in bases:
        steps = np.eye(len(base))[:n_params]
        plus, minus = images(base + steps, 0), images(base - steps, 0)  # (P, C, H, W)
        redraws = np.repeat(base[None], n_nuisance, axis=0)
        # normalised uniform rendering parameters span ±sqrt(3)
        redraws[:, render_cols] = rng.uniform(-math.sqrt(3.0), math.sqrt(3.0),
                                              (n_nuisance, render_cols.stop - render_cols.start))
        nuisance = np.concatenate([images(redraws[j:j + 1], j + 1) for j in range(n_nuisance)])  # (J, C, H, W)
        # Pixels on the face in every image: where the face's outline moves, the images jump
        # between face and background, which says little about the surface.
        stack = np.concatenate([plus, minus, nuisance])
        inside = (stack > 0).all(axis=(0, 1))
        if not inside.any():
            raise ValueError("no pixel is on the face in every image; use smaller steps or bases nearer the centre")
        change = ((plus - minus) / 2.0)[..., inside]  # (P, C, pixels)
        spread = np.sqrt(nuisance[..., inside].var(axis=0).mean(axis=-1))  # (C,)
        ratios.append(np.sqrt((change ** 2).mean(axis=-1)) / np.maximum(spread, 1e-12))
    return np.mean(ratios, axis=0)
