"""Figures of the real-data notebook: per-capture errors, shape similarity by subject, domain-gap histograms, meshes."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes

from radarface.plots.face import plot_face


def plot_capture_errors(distances: dict[str, np.ndarray], *, ax: Axes | None = None) -> Axes:
    """Per-capture vertex distance (mm) of each method as dots, its mean as a bar."""
    ax = ax or plt.subplots(figsize=(7, 3))[1]
    rng = np.random.default_rng(0)  # horizontal jitter only
    for i, (name, values) in enumerate(distances.items()):
        values = np.asarray(values, dtype=float)
        ax.bar(i, values.mean(), color="0.85", edgecolor="0.4")
        ax.plot(i + rng.uniform(-0.25, 0.25, len(values)), values, ".", color="C0", ms=4)
    ax.set_xticks(range(len(distances)), [n.replace(" + ", "\n+ ") for n in distances], fontsize=7)
    ax.set_ylabel("vertex distance (mm)")
    return ax


def plot_subject_similarity(matrix: np.ndarray, subjects: Sequence[str], *, ax: Axes | None = None,
                            title: str = "predicted shape: cosine similarity") -> Axes:
    """Cosine-similarity matrix of captures ordered by subject, with subject blocks outlined."""
    subjects = np.asarray(subjects)
    order = np.argsort(subjects, kind="stable")
    ax = ax or plt.subplots(figsize=(4.2, 3.6))[1]
    image = ax.imshow(np.asarray(matrix)[np.ix_(order, order)], cmap="RdBu_r", vmin=-1, vmax=1)
    ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    names, starts = np.unique(subjects[order], return_index=True)
    for start, name in zip(starts, names):
        size = int((subjects == name).sum())
        ax.add_patch(plt.Rectangle((start - 0.5, start - 0.5), size, size, fill=False, lw=1.2, ec="k"))
    ax.set_xticks(starts + (np.diff(np.r_[starts, len(order)]) - 1) / 2, names, fontsize=7)
    ax.set_yticks(starts + (np.diff(np.r_[starts, len(order)]) - 1) / 2, names, fontsize=7)
    ax.set_title(title, fontsize=10)
    return ax


def plot_expression_codes(expressions: np.ndarray, subjects: Sequence[str], labels: Sequence[str], *,
                          ax: Axes | None = None) -> Axes:
    """Predicted expression coefficients (std units), one row per capture, grouped by subject then label."""
    order = np.lexsort((np.asarray(labels), np.asarray(subjects)))
    ax = ax or plt.subplots(figsize=(4.5, 0.16 * len(order) + 1))[1]
    image = ax.imshow(np.asarray(expressions)[order], cmap="RdBu_r", vmin=-3, vmax=3, aspect="auto")
    ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="std")
    ax.set_yticks(range(len(order)), [f"{subjects[i]} · {labels[i]}" for i in order], fontsize=6)
    ax.set_xlabel("expression coefficient")
    return ax


def plot_gap_histograms(synthetic: np.ndarray, measured: np.ndarray, names: Sequence[str], *,
                        axes: Sequence[Axes] | None = None) -> np.ndarray:
    """Histograms of the lit (non-zero) pixel values per channel, synthetic vs measured images (N, C, H, W)."""
    if axes is None:
        axes = plt.subplots(1, len(names), figsize=(3.4 * len(names), 2.6), squeeze=False)[1][0]
    bins = np.linspace(0, 1, 41)
    for c, (ax, name) in enumerate(zip(axes, names)):
        for images, label in ((synthetic, "synthetic (test split)"), (measured, "measured")):
            x = np.asarray(images)[:, c]
            ax.hist(x[x > 0], bins=bins, density=True, histtype="step", lw=1.5, label=label)
        ax.set_title(f"{name}: lit pixels", fontsize=10)
        ax.set_xlabel("value")
    axes[0].legend(fontsize=7)
    return np.asarray(axes)


def plot_meshes(columns: dict[str, Sequence[np.ndarray]], triangles: np.ndarray, *, titles: Sequence[str] = (),
                view: str = "front") -> np.ndarray:
    """Grid of faces: one row per capture, one column per named list of vertex arrays (V, 3) mm; axes (rows, cols)."""
    names = list(columns)
    lengths = {name: len(columns[name]) for name in names}
    if not names or len(set(lengths.values())) != 1 or 0 in lengths.values():
        raise ValueError(f"columns must hold the same number (>= 1) of vertex arrays, got {lengths}")
    n = lengths[names[0]]
    fig, axes = plt.subplots(n, len(names), figsize=(2.0 * len(names), 2.2 * n), squeeze=False, layout="constrained")
    for row in range(n):
        for col, name in enumerate(names):
            label = name if row == 0 else None
            plot_face(columns[name][row], triangles, view=view, ax=axes[row, col], title=label)
            axes[row, col].set(xticks=[], yticks=[], xlabel="", ylabel="")
        if row < len(titles):
            axes[row, 0].set_ylabel(titles[row], fontsize=8)
    return axes
