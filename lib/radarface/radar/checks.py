"""Checks of what enters the renderers: plausible units and ranges, with messages naming the argument.

The renderers are physics and run for any geometry, so these checks refuse only what cannot
be meant: numbers in the wrong unit (a band in GHz, vertices in metres, angles in degrees
where radians are expected), absurd sizes and wrong types. Each message names the argument,
the value and the accepted range.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

#: Accepted (low, high) of the RadarConfig's physical quantities: wide, but wrong units fall outside.
PLAUSIBLE: dict[str, tuple[float, float]] = {
    "f_start_hz": (1e9, 1e12),  # 1 GHz-1 THz: a band typed in GHz (72) or MHz (72000) is refused
    "f_stop_hz": (1e9, 1e12),
    "aperture_mm": (10.0, 10_000.0),  # a few wavelengths to 10 m; an aperture in metres (0.2) is refused
    "range_mm": (50.0, 100_000.0),
}

#: Smallest lateral extent (mm) of a mesh to render: a face in metres measures 0.2.
MIN_MESH_SIZE_MM: float = 1.0


def number(name: str, value: object) -> float:
    """``value`` as a float if it is a real number (not a bool or a string); ValueError naming ``name`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number, got {value!r} ({type(value).__name__})")
    return float(value)


def integer(name: str, value: object, low: int) -> int:
    """``value`` as an int if it is an integer >= ``low``; ValueError naming ``name`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def within(name: str, value: object, low: float, high: float, unit: str, hint: str = "") -> float:
    """``value`` as a float if it is a finite number in [low, high]; ValueError naming ``name`` otherwise."""
    x = number(name, value)
    if not (math.isfinite(x) and low <= x <= high):
        raise ValueError(f"{name} = {x:g} {unit} is outside the accepted range [{low:g}, {high:g}] {unit}{hint}")
    return x


def plausible(key: str, value: object, prefix: str = "") -> float:
    """A quantity ``key`` of :data:`PLAUSIBLE`, checked; the message names ``prefix + key`` and the unit expected."""
    low, high = PLAUSIBLE[key]
    unit = "Hz" if key.endswith("_hz") else "mm"
    hint = " (frequencies are in Hz: 72e9 for 72 GHz)" if unit == "Hz" else " (lengths are in mm)"
    return within(prefix + key, value, low, high, unit, hint)


def check_pose_angles(pose: np.ndarray | None) -> None:
    """Refuse a pose (6,) whose angles are not within a turn (|angle| <= 2π rad): degrees, or garbage."""
    if pose is None:
        return
    angles = np.asarray(pose, dtype=np.float64).reshape(-1)[:3]
    for name, angle in zip(("yaw", "pitch", "roll"), angles):
        if math.isfinite(angle) and abs(angle) > 2 * math.pi:
            raise ValueError(f"pose {name} = {angle:g} rad is outside the accepted range [-2π, 2π] = "
                             f"[{-2 * math.pi:.4g}, {2 * math.pi:.4g}] rad: angles are in radians "
                             f"(radarface.geometry.pose_from_degrees converts degrees)")


def check_mesh_size(vertices: np.ndarray) -> None:
    """Refuse vertices (N, 3) whose lateral extent is below :data:`MIN_MESH_SIZE_MM` (a mesh in metres)."""
    v = np.asarray(vertices, dtype=np.float64)
    if v.ndim != 2 or v.shape[1] != 3 or not len(v) or not np.all(np.isfinite(v)):
        return  # shape and finiteness are refused with their own messages
    size = float(np.ptp(v[:, :2], axis=0).max())
    if size < MIN_MESH_SIZE_MM:
        raise ValueError(f"vertices span {size:.3g} mm across; the accepted size is at least {MIN_MESH_SIZE_MM:g} mm "
                         f"(vertices are in mm: a face is about 150 mm across; in metres? multiply by 1000)")
