"""Amplitude and depth images from a stored complex volume, formed as the renderers form them (DESIGN §5.5)."""

from __future__ import annotations

import numpy as np

from radarface.radar.image import peak_depth

#: Dynamic range (dB) kept when images are formed from a stored volume without ``/grid@dynamic_range_db``.
VOLUME_DYNAMIC_RANGE_DB: float = 60.0


def images_from_volume(volume: np.ndarray, range_axis_mm: np.ndarray, dynamic_range_db: float
                       ) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Amplitude and depth (N, H, W) float32 in [0, 1] from ``volume`` (N, H, W, Nz) on the ascending
    distances ``range_axis_mm`` (Nz,) from the array plane: peak over range (parabola-refined), dB below
    each capture's peak clipped at ``-dynamic_range_db``, depth 1 at the nearest and 0 at the farthest
    distance; also the indices of captures that are all zeros (their images stay 0).

    >>> volume = np.zeros((1, 1, 2, 3), complex); volume[0, 0, 0, 1] = 1.0; volume[0, 0, 1, 2] = 0.1
    >>> amplitude, depth, empty = images_from_volume(volume, np.array([300.0, 400.0, 500.0]), 40.0)
    >>> amplitude.round(2).tolist(), depth.round(2).tolist(), empty
    ([[[1.0, 0.5]]], [[[0.5, 0.0]]], [])
    """
    near, far = float(range_axis_mm[0]), float(range_axis_mm[-1])
    amplitude = np.zeros(volume.shape[:3], dtype=np.float32)
    depth = np.zeros_like(amplitude)
    empty = []
    for i, vol in enumerate(volume):
        peak, r = peak_depth(np.abs(vol), range_axis_mm)
        top = float(peak.max())
        if not top > 0:
            empty.append(i)
            continue
        with np.errstate(divide="ignore"):
            db = 20.0 * np.log10(peak / top)
        amplitude[i] = (np.clip(db, -dynamic_range_db, 0.0) + dynamic_range_db) / dynamic_range_db
        depth[i] = np.where(amplitude[i] > 0, np.clip((far - r) / (far - near), 0.0, 1.0), 0.0)
    return amplitude, depth, empty
