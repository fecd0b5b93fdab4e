"""Voxel grid and image formation (DESIGN §5.5), shared by both renderers.

Convention: a volume is complex (Ny, Nx, Nz) on an :class:`ImageGrid`; row 0 is the top
(largest y), column 0 the smallest x, depth index 0 the smallest z (farthest from the array).
Images are (H, W) with H = Ny / block, W = Nx / block.

- ``amplitude``: max over z of |volume|, reduced to the output pixels by the maximum over each
  block, in dB relative to the image peak, clipped to [−DR, 0] and mapped to [0, 1]
  (1 = peak, 0 = at or below −DR).
- ``depth``: z at that maximum, refined to sub-voxel by a parabola through the peak voxel and
  its two depth neighbours, mapped linearly from the depth window [z_lo, z_hi] to [0, 1]
  (1 = nearest the array); 0 where the amplitude is at or below −DR (background).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from radarface.radar.config import RadarConfig


@dataclass(frozen=True, eq=False)
class ImageGrid:
    """Voxel centres in mm: ``x_mm`` (Nx,) ascending, ``y_mm`` (Ny,) descending (row 0 = top),
    ``z_mm`` (Nz,) ascending and uniform; ``block`` internal pixels per output pixel and axis."""

    x_mm: np.ndarray
    y_mm: np.ndarray
    z_mm: np.ndarray
    block: int = 1

    def __post_init__(self) -> None:
        for name in ("x_mm", "y_mm", "z_mm"):
            axis = np.asarray(getattr(self, name), dtype=np.float64).ravel()
            if axis.size == 0 or not np.all(np.isfinite(axis)):
                raise ValueError(f"ImageGrid.{name} must be a non-empty finite axis, got {axis!r}")
            object.__setattr__(self, name, axis)
        if len(self.z_mm) > 1:
            dz = np.diff(self.z_mm)
            if not (np.all(dz > 0) and np.allclose(dz, dz[0])):
                raise ValueError(f"ImageGrid.z_mm must be uniform and ascending, got steps {dz[:3]}...")
        if len(self.x_mm) % self.block or len(self.y_mm) % self.block:
            raise ValueError(f"grid of {len(self.y_mm)}×{len(self.x_mm)} is not divisible into "
                             f"blocks of {self.block}")

    @classmethod
    def from_config(cls, config: RadarConfig) -> ImageGrid:
        """Default grid: the image field of view at a lateral pitch ≤ ``max_internal_pitch_mm``
        and the depth window at ``voxel_depth_mm``."""
        block = max(1, int(np.ceil(config.pixel_mm / config.max_internal_pitch_mm - 1e-9)))
        n = config.image_size * block
        pitch = config.pixel_mm / block
        lateral = (np.arange(n) + 0.5) * pitch - 0.5 * config.field_of_view_mm
        lo, hi = config.depth_window_mm
        nz = int(round((hi - lo) / config.voxel_depth_mm)) + 1
        return cls(x_mm=lateral, y_mm=lateral[::-1].copy(), z_mm=np.linspace(lo, hi, nz), block=block)

    @property
    def shape(self) -> tuple[int, int, int]:
        """Volume shape (Ny, Nx, Nz)."""
        return len(self.y_mm), len(self.x_mm), len(self.z_mm)

    @property
    def image_shape(self) -> tuple[int, int]:
        """Output image shape (H, W)."""
        return len(self.y_mm) // self.block, len(self.x_mm) // self.block

    @property
    def depth_window_mm(self) -> tuple[float, float]:
        """(z_lo, z_hi) in mm that the depth image maps to [0, 1]."""
        return float(self.z_mm[0]), float(self.z_mm[-1])

    def output_axes(self) -> tuple[np.ndarray, np.ndarray]:
        """Centres (x (W,), y (H,)) of the output pixels in mm."""
        b = self.block
        return self.x_mm.reshape(-1, b).mean(axis=1), self.y_mm.reshape(-1, b).mean(axis=1)

    def roi(self, positions: np.ndarray | None, margin_mm: float | None) -> tuple[slice, slice, slice]:
        """Index slices (y, x, z) of the voxels within ``margin_mm`` of the bounding box of
        ``positions`` (P, 3); the whole grid if ``positions`` or ``margin_mm`` is None.

        Both renderers evaluate only this box: farther voxels hold sidelobes far below the peak
        of their own column, so images do not change, and time drops ~2-3× on a face.
        """
        if positions is None or margin_mm is None or len(positions) == 0:
            return slice(None), slice(None), slice(None)
        # Per coordinate: numpy reduces a (P, 3) array over its long axis ~20× slower.
        lo = np.array([positions[:, k].min() for k in range(3)]) - margin_mm
        hi = np.array([positions[:, k].max() for k in range(3)]) + margin_mm
        out = []
        for axis, k in ((self.y_mm, 1), (self.x_mm, 0), (self.z_mm, 2)):
            inside = np.flatnonzero((axis >= lo[k]) & (axis <= hi[k]))
            out.append(slice(int(inside.min()), int(inside.max()) + 1) if inside.size else slice(0, 0))
        return tuple(out)

    def voxel_axes(self, roi: tuple[slice, slice, slice] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Axes (y, x, z) in mm of the voxels within ``roi`` (a sub-box of the grid)."""
        roi = roi or (slice(None),) * 3
        return self.y_mm[roi[0]], self.x_mm[roi[1]], self.z_mm[roi[2]]

    def voxels(self, roi: tuple[slice, slice, slice] | None = None) -> np.ndarray:
        """Voxel centres (V, 3) in mm (x, y, z), in volume order (y, x, z) within ``roi``."""
        return box_points(self.voxel_axes(roi))


def box_points(axes: tuple[np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
    """Points (V, 3) (x, y, z) in mm of the box with axes (y, x, z), in (y, x, z) order."""
    yy, xx, zz = np.meshgrid(*axes, indexing="ij")
    return np.stack([xx.ravel(), yy.ravel(), zz.ravel()], axis=1)


@dataclass(eq=False)
class RadarImage:
    """Amplitude and depth images (H, W) float32 in [0, 1] (see the module docstring), the grid's
    axes in mm, the rendering parameters used, the linear peak |I| and, optionally, the complex
    volume (Ny, Nx, Nz) on the internal grid (zero outside the evaluated region)."""

    amplitude: np.ndarray
    depth: np.ndarray
    render_params: dict[str, Any]
    x_mm: np.ndarray
    y_mm: np.ndarray
    z_mm: np.ndarray
    depth_window_mm: tuple[float, float]
    peak: float
    volume: np.ndarray | None = None
    grid: ImageGrid | None = field(default=None, repr=False)

    @property
    def dynamic_range_db(self) -> float:
        """Dynamic range (dB) of the amplitude scaling."""
        return float(self.render_params["dynamic_range_db"])

    @property
    def foreground(self) -> np.ndarray:
        """Mask (H, W) of pixels above −DR (amplitude > 0)."""
        return self.amplitude > 0

    def amplitude_db(self) -> np.ndarray:
        """Amplitude (H, W) in dB relative to the peak, in [−DR, 0]."""
        return (self.amplitude.astype(np.float64) - 1.0) * self.dynamic_range_db

    def depth_mm(self) -> np.ndarray:
        """Depth (H, W) as model-frame z in mm; NaN on the background."""
        return depth_to_mm(self.depth, self.depth_window_mm, self.foreground)


def depth_to_mm(depth: np.ndarray, depth_window_mm: tuple[float, float],
                foreground: np.ndarray | None = None) -> np.ndarray:
    """Model-frame z in mm from depth values in [0, 1] (1 = near end); NaN outside ``foreground``."""
    lo, hi = depth_window_mm
    z = lo + np.asarray(depth, dtype=np.float64) * (hi - lo)
    if foreground is not None:
        z = np.where(foreground, z, np.nan)
    return z


def peak_depth(magnitude: np.ndarray, z_mm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Maximum over the last axis of ``magnitude`` (..., Nz) and its z in mm, sub-voxel refined by a
    parabola through the peak and its neighbours (edges unrefined)."""
    idx = np.argmax(magnitude, axis=-1)
    peak = np.take_along_axis(magnitude, idx[..., None], axis=-1)[..., 0]
    z = z_mm[idx].astype(np.float64)
    if len(z_mm) >= 3:
        dz = z_mm[1] - z_mm[0]
        inner = (idx > 0) & (idx < len(z_mm) - 1)
        i = np.clip(idx, 1, len(z_mm) - 2)
        y0 = np.take_along_axis(magnitude, (i - 1)[..., None], axis=-1)[..., 0].astype(np.float64)
        y1 = np.take_along_axis(magnitude, i[..., None], axis=-1)[..., 0].astype(np.float64)
        y2 = np.take_along_axis(magnitude, (i + 1)[..., None], axis=-1)[..., 0].astype(np.float64)
        curvature = y0 - 2.0 * y1 + y2
        with np.errstate(divide="ignore", invalid="ignore"):
            shift = np.where(curvature < 0, 0.5 * (y0 - y2) / curvature, 0.0)
        z = z + np.where(inner, np.clip(shift, -0.5, 0.5) * dz, 0.0)
    return peak, z


def form_image(volume: np.ndarray, grid: ImageGrid, render_params: dict[str, Any], *,
               return_volume: bool = False) -> RadarImage:
    """Amplitude and depth images from a complex volume (Ny, Nx, Nz) on ``grid`` (module docstring)."""
    if volume.shape != grid.shape:
        raise ValueError(f"volume shape {volume.shape} does not match the grid {grid.shape}")
    peak, z = peak_depth(np.abs(volume), grid.z_mm)
    return image_from_peaks(peak, z, grid, render_params, volume=volume if return_volume else None)


def image_from_peaks(peak: np.ndarray, z: np.ndarray, grid: ImageGrid, render_params: dict[str, Any], *,
                     volume: np.ndarray | None = None) -> RadarImage:
    """Amplitude and depth images from each internal column's maximum |I| (Ny, Nx) and its z (Ny, Nx) mm
    (:func:`peak_depth` of the volume on ``grid``); ``volume`` is only attached."""
    dr = float(render_params["dynamic_range_db"])
    b = grid.block
    h, w = grid.image_shape
    # Block maximum: the output pixel keeps the brightest internal pixel and its depth.
    blocks = peak.reshape(h, b, w, b).transpose(0, 2, 1, 3).reshape(h, w, b * b)
    pick = np.argmax(blocks, axis=-1)[..., None]
    amp = np.take_along_axis(blocks, pick, axis=-1)[..., 0]
    zb = np.take_along_axis(z.reshape(h, b, w, b).transpose(0, 2, 1, 3).reshape(h, w, b * b), pick, axis=-1)[..., 0]
    top = float(amp.max())
    if not top > 0:
        raise ValueError("the scene returns no signal (all surface faces away from the array or is "
                         "shadowed); check the pose and the mesh orientation")
    with np.errstate(divide="ignore"):
        db = 20.0 * np.log10(amp / top)
    amplitude = (np.clip(db, -dr, 0.0) + dr) / dr
    lo, hi = grid.depth_window_mm
    depth = np.clip((zb - lo) / (hi - lo), 0.0, 1.0) if hi > lo else np.ones_like(zb)
    depth = np.where(amplitude > 0, depth, 0.0)
    x_out, y_out = grid.output_axes()
    return RadarImage(amplitude=amplitude.astype(np.float32), depth=depth.astype(np.float32),
                      render_params=dict(render_params), x_mm=x_out, y_mm=y_out, z_mm=grid.z_mm.copy(),
                      depth_window_mm=(lo, hi), peak=top, volume=volume, grid=grid)
