"""Radar plots: the MIMO array, point-spread functions, amplitude/depth images, volume slices,
renderer comparisons. Each takes ``ax=None`` (or ``axes``) and returns what it drew on."""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes

from radarface.radar import RadarConfig, RadarImage, antenna_positions, virtual_elements
from radarface.radar.analysis import PSFCuts


def _axes(axes: Sequence[Axes] | np.ndarray | None, n: int, width: float = 3.2, height: float = 3.0) -> np.ndarray:
    """``axes`` as a flat array, or a new row of ``n``."""
    if axes is None:
        _, axes = plt.subplots(1, n, figsize=(width * n, height), squeeze=False, layout="constrained")
    return np.ravel(axes)


def plot_array(config: RadarConfig, ax: Axes | None = None, *, aperture_mm: float | None = None,
               virtual: bool = True) -> Axes:
    """Transmitters, receivers and (if ``virtual``) the virtual elements (t + r)/2, in mm."""
    ax = ax or plt.gca()
    tx, rx = antenna_positions(config, aperture_mm)
    if virtual:
        v = virtual_elements(tx, rx)
        ax.scatter(v[:, 0], v[:, 1], s=0.3, c="0.6", label=f"virtual ({len(v)})", rasterized=True)
    ax.scatter(tx[:, 0], tx[:, 1], s=9, marker="^", c="tab:red", label=f"transmit ({len(tx)})")
    ax.scatter(rx[:, 0], rx[:, 1], s=9, marker="v", c="tab:blue", label=f"receive ({len(rx)})")
    ax.set_aspect("equal")
    ax.set_xlabel("x (mm)")
    ax.set_ylabel("y (mm)")
    ax.legend(loc="upper right", fontsize=7, markerscale=1.5)
    ax.set_title(f"MIMO array, D = {aperture_mm or config.aperture_mm:g} mm", fontsize=9)
    return ax


def plot_psf(cuts: PSFCuts, theory: dict[str, float], axes: Sequence[Axes] | None = None, *,
             label: str = "", style: str = "-") -> np.ndarray:
    """Lateral (x) and range cuts of a point-spread function in dB, with the theoretical −3 dB widths."""
    axes = _axes(axes, 2, 3.6)
    for ax, offset, cut, width, name in ((axes[0], cuts.lateral_mm, cuts.x_cut, theory["lateral"], "lateral x"),
                                         (axes[1], cuts.range_mm, cuts.z_cut, theory["range_3db"], "range z")):
        ax.plot(offset, 20 * np.log10(np.maximum(cut, 1e-6)), style, lw=1.2, label=label)
        ax.axhline(-3, color="0.5", lw=0.6, ls=":")
        for sign in (-0.5, 0.5):
            ax.axvline(sign * width, color="0.3", lw=0.8, ls="--")
        ax.set_ylim(-40, 2)
        ax.set_xlabel(f"{name} offset (mm)")
        ax.set_ylabel("|I| (dB)")
        ax.set_title(f"{name}: theory width {width:.1f} mm (dashed)", fontsize=9)
        if label:
            ax.legend(fontsize=7)
    return axes


def _extent(image: RadarImage) -> list[float]:
    """imshow extent in mm of an image (row 0 at the top, largest y)."""
    dx = abs(image.x_mm[1] - image.x_mm[0]) if len(image.x_mm) > 1 else 1.0
    dy = abs(image.y_mm[1] - image.y_mm[0]) if len(image.y_mm) > 1 else 1.0
    return [image.x_mm[0] - dx / 2, image.x_mm[-1] + dx / 2, image.y_mm[-1] - dy / 2, image.y_mm[0] + dy / 2]


def plot_image(image: RadarImage, kind: str = "amplitude", ax: Axes | None = None, *, title: str | None = None,
               colorbar: bool = True) -> Axes:
    """One image in mm coordinates: ``"amplitude"`` in dB or ``"depth"`` as z in mm (background blank)."""
    if kind not in ("amplitude", "depth"):
        raise ValueError(f"kind must be 'amplitude' or 'depth', got {kind!r}")
    ax = ax or plt.gca()
    if kind == "amplitude":
        data, cmap, unit = image.amplitude_db(), "gray", "dB"
        vmin, vmax = -image.dynamic_range_db, 0.0
    else:
        data, cmap, unit = image.depth_mm(), "viridis", "z (mm)"
        vmin, vmax = None, None
    shown = ax.imshow(data, cmap=cmap, vmin=vmin, vmax=vmax, extent=_extent(image), interpolation="nearest")
    if colorbar:
        ax.figure.colorbar(shown, ax=ax, fraction=0.046, pad=0.04, label=unit)
    ax.set_xlabel("x (mm)")
    ax.set_ylabel("y (mm)")
    ax.set_title(title or kind, fontsize=9)
    return ax


def plot_images(image: RadarImage, axes: Sequence[Axes] | None = None, *, title: str = "") -> np.ndarray:
    """Amplitude and depth images side by side."""
    axes = _axes(axes, 2, 3.8)
    plot_image(image, "amplitude", axes[0], title=f"{title} amplitude".strip())
    plot_image(image, "depth", axes[1], title=f"{title} depth".strip())
    return axes


def plot_volume_slices(image: RadarImage, axes: Sequence[Axes] | None = None, *, floor_db: float = -30.0) -> np.ndarray:
    """|I| in dB through the volume's peak: an x–y slice, an x–z slice and a y–z slice."""
    if image.volume is None or image.grid is None:
        raise ValueError("the image has no volume; render with return_volume=True")
    axes = _axes(axes, 3, 3.4)
    mag = np.abs(image.volume)
    db = 20 * np.log10(np.maximum(mag / mag.max(), 10 ** (floor_db / 20)))
    iy, ix, iz = np.unravel_index(np.argmax(mag), mag.shape)
    g = image.grid
    x0, x1, y0, y1, z0, z1 = g.x_mm[0], g.x_mm[-1], g.y_mm[-1], g.y_mm[0], g.z_mm[0], g.z_mm[-1]
    panels = ((db[:, :, iz], [x0, x1, y0, y1], "x (mm)", "y (mm)", f"x–y at z = {g.z_mm[iz]:.0f} mm"),
              (db[iy, :, :].T[::-1], [x0, x1, z0, z1], "x (mm)", "z (mm)", f"x–z at y = {g.y_mm[iy]:.0f} mm"),
              (db[::-1, ix, :].T[::-1], [y0, y1, z0, z1], "y (mm)", "z (mm)", f"y–z at x = {g.x_mm[ix]:.0f} mm"))
    for ax, (data, extent, xl, yl, title) in zip(axes, panels):
        ax.imshow(data, cmap="magma", vmin=floor_db, vmax=0, extent=extent, aspect="auto", interpolation="nearest")
        ax.set_xlabel(xl)
        ax.set_ylabel(yl)
        ax.set_title(title, fontsize=9)
    return axes


def plot_comparison(fast: RadarImage, reference: RadarImage, axes: Sequence[Axes] | None = None,
                    *, labels: tuple[str, str] = ("fast", "exact reference")) -> np.ndarray:
    """Amplitudes of two renders, their difference (dB) and the depth difference (mm)."""
    axes = _axes(axes, 4, 3.6, 3.2)
    plot_image(fast, "amplitude", axes[0], title=labels[0], colorbar=False)
    plot_image(reference, "amplitude", axes[1], title=labels[1], colorbar=False)
    diff = fast.amplitude_db() - reference.amplitude_db()
    shown = axes[2].imshow(diff, cmap="RdBu_r", vmin=-10, vmax=10, extent=_extent(fast), interpolation="nearest")
    axes[2].figure.colorbar(shown, ax=axes[2], fraction=0.046, pad=0.04, label="dB")
    axes[2].set_title("amplitude difference", fontsize=9)
    ddepth = np.abs(fast.depth_mm() - reference.depth_mm())
    shown = axes[3].imshow(ddepth, cmap="viridis", vmin=0, vmax=5, extent=_extent(fast), interpolation="nearest")
    axes[3].figure.colorbar(shown, ax=axes[3], fraction=0.046, pad=0.04, label="mm")
    axes[3].set_title("|depth difference|", fontsize=9)
    return axes


def plot_image_row(images: dict[str, RadarImage], kind: str = "amplitude", axes: Sequence[Axes] | None = None
                   ) -> np.ndarray:
    """A row of images (titles = dict keys), e.g. one rendering parameter varied."""
    axes = _axes(axes, len(images), 2.6, 2.8)
    for ax, (name, image) in zip(axes, images.items()):
        plot_image(image, kind, ax, title=name, colorbar=False)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel("")
        ax.set_ylabel("")
    return axes


def plot_plate_tilt(tilts_deg: np.ndarray, peaks_db: dict[str, np.ndarray], ax: Axes | None = None,
                    *, threshold_db: float = -15.0) -> Axes:
    """Peak amplitude of a tilted plate relative to facing (dB), one line per renderer."""
    ax = ax or plt.gca()
    for name, values in peaks_db.items():
        ax.plot(tilts_deg[:len(values)], values, "o-", ms=4, label=name)
    ax.axhline(threshold_db, color="0.5", ls=":", lw=0.8, label=f"{threshold_db:g} dB")
    ax.set_xlabel("plate tilt (degrees)")
    ax.set_ylabel("peak relative to facing (dB)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return ax


def plot_widths_by_range(rows_by_array: dict[str, list[dict[str, float]]], ax: Axes | None = None) -> Axes:
    """Lateral −3 dB widths (markers) against range per named array, with theory 0.886·λc·R/(2D) (lines)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 3.2))
    for name, rows in rows_by_array.items():
        ranges = [row["range_mm"] for row in rows]
        line, = ax.plot(ranges, [row["theory_mm"] for row in rows], "--", lw=1.0, label=f"{name}: theory")
        ax.plot(ranges, [0.5 * (row["lateral_x_mm"] + row["lateral_y_mm"]) for row in rows], "o",
                color=line.get_color(), label=f"{name}: measured")
    ax.set_xlabel("range R (mm)")
    ax.set_ylabel("lateral −3 dB width (mm)")
    ax.legend(fontsize=7)
    return ax
