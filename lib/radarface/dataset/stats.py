"""Summaries of a dataset: parameter statistics against their sampling distributions.

How visible each parameter is in each image channel: :func:`radarface.experiments.renderers.parameter_visibility`.
"""

from __future__ import annotations

import math

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
