"""Result figures: predicted vs true coefficients, cosine-similarity maps, reconstructions, metric bars."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes

from radarface.metrics import vertex_errors
from radarface.plots.face import plot_face


def plot_pred_vs_true(true: np.ndarray, pred: np.ndarray, names: Sequence[str], *, axes: np.ndarray | None = None,
                      ncols: int = 6, limit: float = 3.5) -> np.ndarray:
    """One scatter per column of ``true``/``pred`` (B, K) (normalised units), with the identity line and R²."""
    true, pred = np.asarray(true, dtype=float), np.asarray(pred, dtype=float)
    if true.shape != pred.shape or true.ndim != 2 or true.shape[1] != len(names):
        raise ValueError(f"true and pred must both be (B, {len(names)}) for {len(names)} names, "
                         f"got {true.shape} and {pred.shape}")
    k = true.shape[1]
    if axes is None:
        nrows = int(np.ceil(k / ncols))
        _, axes = plt.subplots(nrows, ncols, figsize=(1.9 * ncols, 1.9 * nrows), squeeze=False,
                               constrained_layout=True)
    flat = np.ravel(axes)
    for i, ax in enumerate(flat):
        if i >= k:
            ax.set_axis_off()
            continue
        ax.plot([-limit, limit], [-limit, limit], color="0.6", lw=0.8)
        ax.scatter(true[:, i], pred[:, i], s=4 if len(true) > 200 else 12, alpha=0.5, lw=0)
        resid = ((pred[:, i] - true[:, i]) ** 2).sum()
        spread = ((true[:, i] - true[:, i].mean()) ** 2).sum()
        r2 = 1 - resid / spread if spread > 0 else np.nan
        ax.set_title(f"{names[i]}  R²={r2:.2f}", fontsize=8)
        ax.set_xlim(-limit, limit)
        ax.set_ylim(-limit, limit)
        ax.tick_params(labelsize=6)
        ax.set_aspect("equal")
    flat[0].set_xlabel("true", fontsize=7)
    flat[0].set_ylabel("predicted", fontsize=7)
    return axes


def plot_cosine_matrix(matrix: np.ndarray, *, ax: Axes | None = None, title: str | None = None) -> Axes:
    """Heat map of a cosine-similarity matrix (rows: predicted faces, columns: true faces), colours on [−1, 1]."""
    m = np.asarray(matrix, dtype=float)
    if m.ndim != 2:
        raise ValueError(f"matrix must be 2-D, got shape {m.shape}")
    ax = ax or plt.gca()
    image = ax.imshow(m, cmap="RdBu_r", vmin=-1, vmax=1)
    ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xlabel("true (sample)")
    ax.set_ylabel("predicted (sample)")
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def plot_reconstructions(model, true_params: dict[str, Any], pred_params: dict[str, Any],
                         indices: Sequence[int], *, axes: np.ndarray | None = None,
                         vmax: float | None = None) -> np.ndarray:
    """Rows of (true face, predicted face, per-vertex error in mm on the true face), model frame, one row per index."""
    indices = list(indices)
    pick = lambda p: {k: np.atleast_2d(np.asarray(p[k]))[indices] for k in ("shape", "expression")}  # noqa: E731
    t, p = pick(true_params), pick(pred_params)
    errors = vertex_errors(model, t, p)
    errors[:, ~model.face_mask] = np.nan  # colour only the region the metric covers
    vmax = vmax or float(np.nanmax(errors)) or 1.0
    if axes is None:
        _, axes = plt.subplots(len(indices), 3, figsize=(8.4, 2.8 * len(indices)), squeeze=False)
    vt, vp = model.vertices(t["shape"], t["expression"]), model.vertices(p["shape"], p["expression"])
    for row, i in enumerate(indices):
        plot_face(vt[row], model.triangles, ax=axes[row, 0], title=f"sample {i}: true")
        plot_face(vp[row], model.triangles, ax=axes[row, 1], title="predicted")
        plot_face(vt[row], model.triangles, values=errors[row], ax=axes[row, 2], cmap="viridis", vmin=0, vmax=vmax,
                  title=f"error, mean {np.nanmean(errors[row]):.2f} mm")
        for ax in axes[row]:
            ax.set_axis_off()
    return axes


def plot_metric_bars(rows: dict[str, dict[str, float]], metric: str = "vertex_mm", *, ax: Axes | None = None,
                     label: str | None = None) -> Axes:
    """Bar per results row (name -> row of :func:`radarface.metrics.evaluate`) for one ``metric``."""
    missing = [name for name, row in rows.items() if metric not in row]
    if missing:
        raise ValueError(f"rows {missing} lack {metric!r}")
    ax = ax or plt.gca()
    names = list(rows)
    values = [rows[n][metric] for n in names]
    bars = ax.bar(names, values, color=["0.7" if n in ("mean face", "random") else "C0" for n in names])
    ax.bar_label(bars, fmt="%.2f", fontsize=8)
    ax.set_ylabel(label or metric)
    ax.tick_params(axis="x", labelrotation=20, labelsize=8)
    return ax


def plot_visibility(ratios: np.ndarray, names: Sequence[str], channels: Sequence[str], *,
                    ax: Axes | None = None) -> Axes:
    """Grouped bars of :func:`radarface.experiments.renderers.parameter_visibility` (P, C) per parameter and channel, log scale."""
    ratios = np.asarray(ratios, dtype=float)
    if ratios.shape != (len(names), len(channels)):
        raise ValueError(f"ratios must be ({len(names)}, {len(channels)}) for the names and channels given, "
                         f"got {ratios.shape}")
    ax = ax or plt.subplots(figsize=(max(6.0, 0.45 * len(names)), 3.2), constrained_layout=True)[1]
    width = 0.8 / len(channels)
    x = np.arange(len(names))
    for c, channel in enumerate(channels):
        ax.bar(x + (c - (len(channels) - 1) / 2) * width, ratios[:, c], width, label=channel)
    ax.axhline(1.0, color="0.4", lw=0.8, ls="--")
    ax.set_yscale("log")
    ax.set_xticks(x, names, rotation=90)
    ax.set_ylabel("image change per std / nuisance spread")
    ax.legend(frameon=False)
    return ax
