"""Dataset figures: a grid of samples (amplitude, depth, face) and parameter histograms."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes

from radarface.geometry import apply_pose
from radarface.plots.face import plot_face

_POSE_LABELS = ("yaw (°)", "pitch (°)", "roll (°)", "tx (mm)", "ty (mm)", "tz (mm)")


def plot_sample_grid(amplitude: np.ndarray, depth: np.ndarray, vertices: np.ndarray | None = None,
                     triangles: np.ndarray | None = None, poses: np.ndarray | None = None, *,
                     titles: list[str] | None = None, fov_mm: float | None = None,
                     axes: np.ndarray | None = None) -> np.ndarray:
    """Columns of samples; rows: amplitude (B, H, W), depth (B, H, W) in [0, 1], and, if given,
    the face (vertices (B, N, 3) mm, posed by ``poses`` (B, 6)) seen from the array.

    ``fov_mm``: the images' lateral field of view; the faces are then drawn on the same
    boresight-centred square, so their translation lines up with the images.
    """
    amplitude, depth = np.asarray(amplitude, dtype=np.float32), np.asarray(depth, dtype=np.float32)
    if amplitude.ndim != 3 or amplitude.shape != depth.shape:
        raise ValueError(f"amplitude and depth must both be (B, H, W), got {amplitude.shape} and {depth.shape}")
    n, rows = len(amplitude), 2 + (vertices is not None)
    if axes is None:
        _, axes = plt.subplots(rows, n, figsize=(1.8 * n, 1.9 * rows), squeeze=False, layout="constrained")
    for i in range(n):
        axes[0, i].imshow(amplitude[i], cmap="magma", vmin=0, vmax=1)
        axes[1, i].imshow(depth[i], cmap="viridis", vmin=0, vmax=1)
        if titles:
            axes[0, i].set_title(titles[i], fontsize=8)
        if vertices is not None:
            verts = apply_pose(vertices[i], None if poses is None else poses[i])
            plot_face(verts, triangles, ax=axes[2, i])
            if fov_mm:
                axes[2, i].set_xlim(-fov_mm / 2, fov_mm / 2)
                axes[2, i].set_ylim(-fov_mm / 2, fov_mm / 2)
        for ax in axes[:, i]:
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_xlabel("")
            ax.set_ylabel("")
    for ax, label in zip(axes[:, 0], ("amplitude", "depth", "face (posed)")):
        ax.set_ylabel(label, fontsize=9)
    return axes


def _hist(ax: Axes, values: np.ndarray, title: str, pdf_x: np.ndarray, pdf_y: np.ndarray, label: str) -> None:
    ax.hist(values, bins=min(40, max(8, int(math.sqrt(values.size)))), density=True, color="C0", alpha=0.6)
    ax.plot(pdf_x, pdf_y, color="C3", lw=1.5, label=label)
    ax.set_title(title, fontsize=9)
    ax.set_yticks([])


def plot_parameter_histograms(params: dict[str, np.ndarray], pose_limits: np.ndarray,
                              render_ranges: dict[str, tuple[float, float]], *,
                              axes: np.ndarray | None = None) -> np.ndarray:
    """Histograms of a dataset's parameters over the densities they were sampled from.

    ``params``: ``shape`` (N, Ks) and ``expression`` (N, Ke) (all coefficients pooled, against
    N(0, 1)), ``pose`` (N, 6) rad/mm (angles shown in degrees, against the uniform ranges
    ``±pose_limits``), ``render`` (N, R) against ``render_ranges`` (name -> (lo, hi), in column order).
    """
    names = list(render_ranges)
    panels = 2 + 6 + len(names)
    if axes is None:
        ncols = 4
        _, axes = plt.subplots(math.ceil(panels / ncols), ncols, figsize=(11, 2.4 * math.ceil(panels / ncols)),
                               squeeze=False, layout="constrained")
    flat = np.ravel(axes)
    x = np.linspace(-4, 4, 200)
    normal = np.exp(-x ** 2 / 2) / math.sqrt(2 * math.pi)
    for ax, group in zip(flat[:2], ("shape", "expression")):
        values = np.asarray(params[group]).ravel()
        _hist(ax, values, f"{group} (all {np.asarray(params[group]).shape[1]} coeff.)", x, normal, "N(0, 1)")
    pose = np.asarray(params["pose"], dtype=np.float64).copy()
    limits = np.asarray(pose_limits, dtype=np.float64).copy()
    pose[:, :3], limits[:3] = np.rad2deg(pose[:, :3]), np.rad2deg(limits[:3])
    for k, ax in enumerate(flat[2:8]):
        lo, hi = -limits[k], limits[k]
        _hist(ax, pose[:, k], _POSE_LABELS[k], np.array([lo, lo, hi, hi]),
              np.array([0, 1, 1, 0]) / (hi - lo), "uniform")
    for k, (ax, name) in enumerate(zip(flat[8:], names)):
        lo, hi = render_ranges[name]
        _hist(ax, np.asarray(params["render"])[:, k], name, np.array([lo, lo, hi, hi]),
              np.array([0, 1, 1, 0]) / max(hi - lo, 1e-12), "uniform")
    flat[0].legend(fontsize=7, loc="upper right")
    flat[2].legend(fontsize=7, loc="lower center")
    for ax in flat[panels:]:
        ax.set_axis_off()
    return axes
