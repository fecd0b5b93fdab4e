"""Figures of the learned renderer and the autoencoder (notebooks 05 and 06).

Images are (N, C, H, W) arrays in [0, 1] with channel names such as ``("amplitude",
"depth")``; every helper takes ``ax``/``axes=None`` and returns what it drew on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes


def _grid(axes: np.ndarray | None, rows: int, cols: int, size: float = 1.9) -> np.ndarray:
    if axes is None:
        _, axes = plt.subplots(rows, cols, figsize=(size * cols, size * rows), squeeze=False,
                               constrained_layout=True)
    axes = np.asarray(axes).reshape(rows, cols)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    return axes


def _check_images(what: str, images: np.ndarray, n_channels: int | None = None) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 4 or (n_channels is not None and images.shape[1] != n_channels):
        raise ValueError(f"{what} must be (N, {n_channels or 'C'}, H, W), got shape {images.shape}")
    return images


def plot_decoder_comparison(physics: np.ndarray, decoded: np.ndarray, channel_names: Sequence[str], *,
                            axes: np.ndarray | None = None) -> np.ndarray:
    """Rows = samples; per channel: physics renderer, learned renderer, signed error (decoder − physics)."""
    physics = _check_images("physics", physics, len(channel_names))
    decoded = _check_images("decoded", decoded, len(channel_names))
    if physics.shape != decoded.shape:
        raise ValueError(f"physics {physics.shape} and decoded {decoded.shape} differ in shape")
    n, c = physics.shape[:2]
    axes = _grid(axes, n, 3 * c)
    lim = max(float(np.abs(decoded - physics).max()), 1e-6)
    for i in range(n):
        for k, name in enumerate(channel_names):
            panels = ((physics[i, k], "gray", (0, 1), f"{name}: physics"),
                      (decoded[i, k], "gray", (0, 1), f"{name}: decoder"),
                      (decoded[i, k] - physics[i, k], "RdBu_r", (-lim, lim), f"{name}: error"))
            for j, (img, cmap, (lo, hi), title) in enumerate(panels):
                im = axes[i, 3 * k + j].imshow(img, cmap=cmap, vmin=lo, vmax=hi)
                if i == 0:
                    axes[i, 3 * k + j].set_title(title, fontsize=8)
    axes[0, 0].figure.colorbar(im, ax=axes[:, -1], shrink=0.6, label="decoder − physics")
    return axes


def plot_sensitivity_maps(decoder_maps: np.ndarray, physics_maps: np.ndarray, names: Sequence[str],
                          columns: Sequence[int], *, channel: int = 0, axes: np.ndarray | None = None) -> np.ndarray:
    """For each parameter in ``columns``: ∂image/∂parameter of the decoder (top) and the physics renderer (bottom).

    Maps (D, C, H, W) from :func:`radarface.experiments.renderers.sensitivity`; one colour
    scale per parameter (shared by both rows).
    """
    decoder_maps, physics_maps = np.asarray(decoder_maps), np.asarray(physics_maps)
    if decoder_maps.shape != physics_maps.shape or decoder_maps.ndim != 4:
        raise ValueError(f"maps must both be (D, C, H, W), got {decoder_maps.shape} and {physics_maps.shape}")
    axes = _grid(axes, 2, len(columns))
    for j, col in enumerate(columns):
        lim = max(float(np.abs(physics_maps[col, channel]).max()), float(np.abs(decoder_maps[col, channel]).max()),
                  1e-6)
        for i, maps in enumerate((decoder_maps, physics_maps)):
            axes[i, j].imshow(maps[col, channel], cmap="RdBu_r", vmin=-lim, vmax=lim)
        axes[0, j].set_title(names[col], fontsize=8)
    axes[0, 0].set_ylabel("decoder", fontsize=8)
    axes[1, 0].set_ylabel("physics", fontsize=8)
    return axes


def plot_sensitivity_bars(summary: dict[str, np.ndarray], names: Sequence[str], *, ax: Axes | None = None) -> Axes:
    """RMS of ∂image/∂parameter per parameter for both renderers, and their maps' correlation (annotated)."""
    for key in ("decoder_rms", "physics_rms", "correlation"):
        if key not in summary:
            raise ValueError(f"summary lacks {key!r} (has {sorted(summary)}); use sensitivity_summary")
    ax = ax or plt.gca()
    x = np.arange(len(names))
    ax.bar(x - 0.2, summary["physics_rms"], 0.4, label="physics renderer", color="0.55")
    ax.bar(x + 0.2, summary["decoder_rms"], 0.4, label="learned renderer", color="tab:blue")
    ax.set_xticks(x, names, rotation=90, fontsize=7)
    ax.set_ylabel("RMS of ∂image/∂parameter\n(per normalised unit)")
    ax.legend(fontsize=8)
    top = ax.get_ylim()[1]
    for i, r in enumerate(summary["correlation"]):
        if np.isfinite(r):
            ax.text(i, top * 0.98, f"{r:.1f}", ha="center", va="top", fontsize=6, rotation=90)
    ax.set_title("image sensitivity per parameter (numbers: correlation of the two maps)", fontsize=9)
    return ax


def plot_refinement_traces(traces: dict[str, dict[str, list[float]]], key: str = "image_loss", *,
                           ax: Axes | None = None, reference: float | None = None,
                           reference_label: str = "encoder") -> Axes:
    """``key`` (``image_loss``, ``vertex_mm``, ...) against the step for each refinement trace."""
    ax = ax or plt.gca()
    for name, trace in traces.items():
        if key not in trace or "step" not in trace:
            raise ValueError(f"trace {name!r} lacks {key!r} or 'step' (has {sorted(trace)})")
        ax.plot(trace["step"], trace[key], label=name)
    if reference is not None:
        ax.axhline(reference, color="k", ls=":", lw=1, label=reference_label)
    ax.set_xlabel("test-time step")
    ax.set_ylabel({"image_loss": "image loss", "vertex_mm": "vertex distance (mm)"}.get(key, key))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return ax


def plot_loss_against_truth(losses: dict[str, np.ndarray], truth: str = "true parameters", *,
                            ax: Axes | None = None, bins: int = 40) -> Axes:
    """Histogram per method of its per-image image loss minus the true parameters' (``losses[truth]``):
    left of zero, the method's parameters render closer to the image than the truth does."""
    if truth not in losses:
        raise ValueError(f"losses has no {truth!r} entry to compare with (has {sorted(losses)})")
    ax = ax or plt.gca()
    differences = {name: np.asarray(v) - np.asarray(losses[truth]) for name, v in losses.items() if name != truth}
    if not differences:
        raise ValueError("losses holds only the truth: give at least one method to compare")
    edges = np.histogram_bin_edges(np.concatenate(list(differences.values())), bins=bins)
    for name, d in differences.items():
        ax.hist(d, bins=edges, histtype="step", label=f"{name}: {np.mean(d < 0):.0%} left of 0")
    ax.axvline(0.0, color="k", ls=":", lw=1)
    ax.set_xlabel(f"image loss − image loss of the {truth}")
    ax.set_ylabel("test images")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return ax


def plot_blend_curve(curve: dict[float, float], chosen: float | None = None, *, ax: Axes | None = None) -> Axes:
    """Vertex distance (mm) against the weight of the refined parameters in the blend (0: the start, 1: (a))."""
    if not curve:
        raise ValueError("curve is empty: give at least one weight -> vertex distance")
    ax = ax or plt.gca()
    weights = sorted(curve)
    ax.plot(weights, [curve[w] for w in weights], marker="o", ms=3)
    if chosen is not None:
        ax.axvline(chosen, color="k", ls=":", lw=1, label=f"profile's weight {chosen:g} (chosen on validation)")
        ax.legend(fontsize=7)
    ax.set_xlabel("weight of the refined parameters (a)")
    ax.set_ylabel("vertex distance (mm)")
    ax.grid(alpha=0.3)
    return ax


def plot_refinement_images(observed: np.ndarray, reconstructions: dict[str, np.ndarray], index: Sequence[int],
                           channel_names: Sequence[str], *, axes: np.ndarray | None = None) -> np.ndarray:
    """Rows = chosen images; columns: the observed image, then each reconstruction, per channel."""
    observed = _check_images("observed", observed, len(channel_names))
    labels = ["observed", *reconstructions]
    stacks = [observed] + [_check_images(k, v, len(channel_names)) for k, v in reconstructions.items()]
    axes = _grid(axes, len(index), len(labels) * len(channel_names))
    for r, i in enumerate(index):
        for k, name in enumerate(channel_names):
            for j, (label, stack) in enumerate(zip(labels, stacks)):
                ax = axes[r, k * len(labels) + j]
                ax.imshow(stack[i, k], cmap="gray", vmin=0, vmax=1)
                if r == 0:
                    ax.set_title(f"{name}\n{label}", fontsize=7)
        axes[r, 0].set_ylabel(f"test {i}", fontsize=8)
    return axes


def plot_timings(seconds: dict[str, float], *, ax: Axes | None = None) -> Axes:
    """Seconds per image of each renderer, log scale, with the value written on each bar."""
    if not seconds:
        raise ValueError("seconds is empty")
    ax = ax or plt.gca()
    names, values = list(seconds), [seconds[k] for k in seconds]
    ax.barh(names, values, color="tab:blue")
    ax.set_xscale("log")
    ax.set_xlabel("seconds per image (one core)")
    for y, v in enumerate(values):
        ax.text(v, y, f" {v * 1e3:.2g} ms" if v < 1 else f" {v:.3g} s", va="center", fontsize=8)
    ax.invert_yaxis()
    ax.grid(alpha=0.3, axis="x", which="both")
    return ax


def plot_comparison_ratios(table: Sequence[dict[str, Any]], *, ax: Axes | None = None) -> Axes:
    """Vertex distance ÷ mean-face baseline per (method, input): the paper's bars beside ours (rows of ``comparison_table``)."""
    if not table:
        raise ValueError("table is empty")
    ax = ax or plt.gca()
    labels = [f"{row['method']} ({row['input']})" for row in table]
    y = np.arange(len(table))
    for offset, source, color in ((-0.2, "paper", "0.55"), (0.2, "ours", "tab:blue")):
        values = [row[f"{source}_ratio"] if row[f"{source}_ratio"] is not None else np.nan for row in table]
        ax.barh(y + offset, values, 0.4, label=source, color=color)
    ax.axvline(1.0, color="k", lw=0.8, ls=":")
    ax.set_yticks(y, labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("vertex distance ÷ mean-face baseline (lower is better)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="x")
    return ax
