"""Figures of method (c), analysis by synthesis through the physics renderer: one fit step by step."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np

from radarface.plots.face import plot_face


def plot_fit_steps(target: np.ndarray, rendered: np.ndarray, faces: Sequence[np.ndarray], triangles: np.ndarray,
                   steps: Sequence[int], distances: np.ndarray, *, truth: np.ndarray | None = None) -> np.ndarray:
    """One fit step by step: columns the capture (2, H, W) and the renderer's images ``rendered``
    (S, 2, H, W) at ``steps``; rows amplitude, depth and the face (model frame, (V, 3) mm per step; the
    ground truth ``truth`` under the capture), and beside them the vertex distance (mm) per step."""
    rendered = np.asarray(rendered)
    if rendered.ndim != 4 or len(rendered) != len(steps) or len(faces) != len(steps):
        raise ValueError(f"need one rendered image pair (2, H, W) and one face per step ({len(steps)}), got "
                         f"{rendered.shape} and {len(faces)} faces")
    n = len(steps) + 1
    fig = plt.figure(figsize=(1.9 * n + 3.2, 5.6), layout="constrained")
    grid = fig.add_gridspec(3, n + 1, width_ratios=[1] * n + [1.7])
    for col in range(n):
        images = target if col == 0 else rendered[col - 1]
        title = "capture" if col == 0 else f"step {steps[col - 1]}"
        for row, (channel, cmap) in enumerate((("amplitude", "magma"), ("depth", "viridis"))):
            ax = fig.add_subplot(grid[row, col])
            ax.imshow(images[row], cmap=cmap, vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(title, fontsize=9)
            if col == 0:
                ax.set_ylabel(channel, fontsize=9)
        ax = fig.add_subplot(grid[2, col])
        if col == 0:
            if truth is not None:
                plot_face(truth, triangles, ax=ax, title="ground truth")
            else:
                ax.axis("off")
        else:
            plot_face(faces[col - 1], triangles, ax=ax, title=f"{distances[steps[col - 1]]:.2f} mm")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel("")
        ax.set_ylabel("")
    ax = fig.add_subplot(grid[:, n])
    ax.plot(np.arange(len(distances)), distances, color="C0")
    ax.plot(list(steps), np.asarray(distances)[list(steps)], "o", color="C3", ms=4)
    ax.set_xlabel("step")
    ax.set_ylabel("vertex distance to the truth (mm)")
    return np.array(fig.axes)
