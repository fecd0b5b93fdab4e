"""Bring captures onto the training grid and conventions, after checking the radars are compatible.

What the encoder was trained on is fixed by a :class:`~radarface.radar.RadarConfig`: image size
and pixel pitch, depth window (model-frame z, array at ``array_z_mm``), dynamic range
(``dynamic_range_db``, 20 dB at evaluation), band and, through the rendering-parameter ranges,
the lateral resolution λc·R/(2D) for apertures of 150-250 mm. :func:`conform` refuses captures
whose band, range, resolution, dynamic range, field of view or depths do not fit (naming the file
field and both values), then:

1. depth: file distances from the array plane become training model-frame z (physical distance
   kept, so a face 20 mm farther than the training range reads as tz = −20 mm);
2. grid: each training pixel takes the brightest of s × s bilinear samples (linear magnitude) of
   the file image over its footprint, s = ceil(training pitch / file pitch), and the depth there
   (interpolated over foreground neighbours only) - the training images' block maximum;
3. amplitude: dB below the (resampled) peak, clipped to the training dynamic range; depth masked
   where the amplitude is 0 and scaled over the training depth window.

Identical grids and conventions pass through unchanged (same bytes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from radarface.measurements import raw
from radarface.measurements.captures import Captures, MeasurementFormatError
from radarface.measurements.files import read_flat
from radarface.measurements.checks import validate
from radarface.radar.array import antenna_positions
from radarface.radar.config import C_MM_PER_S, RadarConfig, array_extent_mm
from radarface.radar.image import ImageGrid
from radarface.radar.params import render_param_ranges


@dataclass(frozen=True)
class Tolerances:
    """How far a measurement may differ from the training radar before :func:`conform` refuses it.

    ``band_overlap``: shared band / the wider of the two bands (1 = same band); ``range_mm``:
    nominal range difference (the training poses translate ±50 mm); ``resolution``: relative
    margin around the training's lateral-resolution range; ``depth_mm``: how far foreground
    depths may lie outside the training depth window (one range resolution), for at most
    ``depth_outside_fraction`` of the foreground pixels; ``fov_coverage``: share of the training
    field of view the file's grid must cover; ``position_mm``: how far a raw capture's antenna,
    with the array scaled to the training aperture, may lie from the nearest antenna of the
    training array (a subset of the training array passes).
    """

    band_overlap: float = 0.8
    range_mm: float = 50.0
    resolution: float = 0.15
    depth_mm: float = 15.0
    depth_outside_fraction: float = 0.05
    fov_coverage: float = 0.5
    position_mm: float = 1.0


def training_config(config: Any = None) -> RadarConfig:
    """The training :class:`RadarConfig` from None (library defaults: 64 × 64 at 4 mm, 72-82 GHz,
    20 dB), a RadarConfig, a ``RadarConfig.to_dict()`` dict, or anything with a ``config`` dict
    attribute (e.g. :class:`radarface.dataset.RadarFaceDataset`). A profile's: ``RadarConfig.from_profile``."""
    if config is None:
        return RadarConfig()
    if isinstance(config, RadarConfig):
        return config
    if isinstance(config, dict):
        if "profile" in config:
            raise ValueError("config is a profile; pass RadarConfig.from_profile(profile) (or its dataset's config)")
        return RadarConfig.from_dict(config)
    if isinstance(getattr(config, "config", None), dict):
        return RadarConfig.from_dict(config.config)
    raise ValueError(f"config must be None, a RadarConfig, a RadarConfig.to_dict() dict, or a dataset with a "
                     f".config dict; got {type(config).__name__}")


def training_range_window(config: RadarConfig) -> tuple[float, float]:
    """(near, far) distances in mm from the array plane of the config's depth window."""
    lo, hi = config.depth_window_mm
    return config.array_z_mm - hi, config.array_z_mm - lo


def lateral_resolution_mm(f_start_hz: float, f_stop_hz: float, range_mm: float, aperture_mm: float) -> float:
    """λc·R/(2D) in mm."""
    return C_MM_PER_S / (0.5 * (f_start_hz + f_stop_hz)) * range_mm / (2.0 * aperture_mm)


# ----------------------------------------------------------------------------- compatibility
def _refuse(source: str, field: str, message: str) -> MeasurementFormatError:
    return MeasurementFormatError(f"{source}: {field}: incompatible with the training radar: {message}", field)


def check_radar(captures: Captures, config: RadarConfig, tolerances: Tolerances, source: str) -> None:
    """Refuse a band, range, lateral resolution, array geometry or dynamic range the training data do not cover."""
    check_radar_attrs(captures.radar, config, tolerances, source)
    if captures.dynamic_range_db < config.dynamic_range_db - 1e-6:
        raise _refuse(source, "/grid@dynamic_range_db", f"images keep {captures.dynamic_range_db:g} dB, the "
                      f"training images {config.dynamic_range_db:g} dB: the missing range cannot be restored "
                      "(store a wider dynamic range, or the complex volume)")


def check_radar_attrs(radar: dict[str, Any], config: RadarConfig, tolerances: Tolerances, source: str) -> None:
    """Refuse a band, range, lateral resolution or (raw captures) array geometry of a ``radar`` dict
    (``Captures.radar``) that the training data do not cover."""
    f0, f1 = radar["f_start_hz"], radar["f_stop_hz"]
    overlap = max(0.0, min(f1, config.f_stop_hz) - max(f0, config.f_start_hz))
    share = overlap / max(f1 - f0, config.bandwidth_hz)
    if share < tolerances.band_overlap:
        raise _refuse(source, "/radar@f_start_hz", f"band f_start_hz..f_stop_hz = {f0 / 1e9:g}-{f1 / 1e9:g} GHz "
                      f"shares {share:.0%} with the training band {config.f_start_hz / 1e9:g}-"
                      f"{config.f_stop_hz / 1e9:g} GHz (need >= {tolerances.band_overlap:.0%} of the wider band)")
    if abs(radar["range_mm"] - config.range_mm) > tolerances.range_mm:
        raise _refuse(source, "/radar@range_mm", f"range_mm = {radar['range_mm']:g} mm, training "
                      f"{config.range_mm:g} mm (tolerance ±{tolerances.range_mm:g} mm)")
    res = lateral_resolution_mm(f0, f1, radar["range_mm"], radar["aperture_mm"])
    lo_ap, hi_ap = render_param_ranges(config)["aperture_mm"]
    band = (config.f_start_hz, config.f_stop_hz, config.range_mm)
    lo = lateral_resolution_mm(*band, hi_ap) * (1 - tolerances.resolution)
    hi = lateral_resolution_mm(*band, lo_ap) * (1 + tolerances.resolution)
    if not lo <= res <= hi:
        raise _refuse(source, "/radar@aperture_mm", f"aperture_mm = {radar['aperture_mm']:g} mm at range "
                      f"{radar['range_mm']:g} mm gives a lateral resolution of {res:.2f} mm; the training data "
                      f"(apertures {lo_ap:g}-{hi_ap:g} mm at {config.range_mm:g} mm) span {lo:.2f}-{hi:.2f} mm "
                      f"with the ±{tolerances.resolution:.0%} tolerance")
    if "tx_positions_radar_mm" in radar:
        check_geometry(radar["tx_positions_radar_mm"], radar["rx_positions_radar_mm"], config, tolerances, source)


def check_geometry(tx_mm: np.ndarray, rx_mm: np.ndarray, config: RadarConfig, tolerances: Tolerances,
                   source: str) -> None:
    """Refuse antennas tx (Nt, 3), rx (Nr, 3) (radar frame, mm) unless, scaled laterally to the
    training aperture, each lies within ``position_mm`` of an antenna of the same kind of the
    training array (the aperture itself is judged by the resolution check)."""
    tx_mm, rx_mm = np.asarray(tx_mm, dtype=np.float64), np.asarray(rx_mm, dtype=np.float64)
    scale = np.array([1.0, 1.0, 0.0]) * config.aperture_mm / array_extent_mm(tx_mm, rx_mm)
    plane = np.array([0.0, 0.0, config.array_z_mm])
    for kind, given, train in (("tx", tx_mm, antenna_positions(config)[0]), ("rx", rx_mm, antenna_positions(config)[1])):
        scaled = given * scale
        gap = np.sqrt(((scaled[:, None, :2] - (train - plane)[None, :, :2]) ** 2).sum(-1)).min(axis=1)
        worst = int(np.argmax(gap))
        if gap[worst] > tolerances.position_mm:
            name = "transmitter" if kind == "tx" else "receiver"
            raise _refuse(source, f"/raw/{kind}_positions_mm", f"the array differs from the training array "
                          f"({'explicit' if config.has_explicit_array else 'square'}, {config.n_tx} Tx × "
                          f"{config.n_rx} Rx, aperture {config.aperture_mm:g} mm): scaled to that aperture, "
                          f"{name} {worst} at ({given[worst, 0]:.1f}, {given[worst, 1]:.1f}) mm lies "
                          f"{gap[worst]:.1f} mm from the nearest training {name} (tolerance "
                          f"{tolerances.position_mm:g} mm; {int((gap > tolerances.position_mm).sum())} of "
                          f"{len(gap)} {name}s off); train for this array (RadarConfig tx_positions_mm, "
                          f"rx_positions_mm or RadarConfig.preset)")


def _extent(axis: np.ndarray) -> tuple[float, float]:
    """(low, high) edge in mm of the pixels centred on ``axis``."""
    half = 0.5 * abs(axis[1] - axis[0])
    return float(min(axis[0], axis[-1]) - half), float(max(axis[0], axis[-1]) + half)


def check_field_of_view(captures: Captures, x_t: np.ndarray, y_t: np.ndarray, tolerances: Tolerances,
                        source: str) -> None:
    """Refuse a grid that covers less than ``fov_coverage`` of the training field of view."""
    share = 1.0
    for a, b in ((captures.x_mm, x_t), (captures.y_mm, y_t)):
        (a0, a1), (b0, b1) = _extent(a), _extent(b)
        share *= max(0.0, min(a1, b1) - max(a0, b0)) / (b1 - b0)
    if share < tolerances.fov_coverage:
        xf, yf = _extent(captures.x_mm), _extent(captures.y_mm)
        raise _refuse(source, "/grid/x_mm", f"the grid spans x {xf[0]:g}..{xf[1]:g}, y {yf[0]:g}..{yf[1]:g} mm and "
                      f"covers {share:.0%} of the training field of view {_extent(x_t)[0]:g}..{_extent(x_t)[1]:g} mm "
                      f"(need >= {tolerances.fov_coverage:.0%})")


def check_depths(z_mm: np.ndarray, config: RadarConfig, captures: Captures, tolerances: Tolerances,
                 source: str) -> None:
    """Refuse captures whose depths (model-frame z (N, H, W) mm, NaN background) leave the training
    depth window by more than ``depth_mm`` in more than ``depth_outside_fraction`` of the pixels
    that stay foreground at the training dynamic range (weaker returns are clipped away anyway)."""
    lo, hi = config.depth_window_mm
    kept = np.isfinite(z_mm) & (captures.amplitude > 1.0 - config.dynamic_range_db / captures.dynamic_range_db)
    outside = kept & ((z_mm < lo - tolerances.depth_mm) | (z_mm > hi + tolerances.depth_mm))
    share = outside.sum() / max(1, kept.sum())
    if share > tolerances.depth_outside_fraction:
        near, far = training_range_window(config)
        raise _refuse(source, "/grid@range_window_mm", f"{share:.1%} of the foreground pixels lie more than "
                      f"{tolerances.depth_mm:g} mm outside the training depth window (distances {near:g}-{far:g} mm "
                      f"from the array); the file's window is {captures.range_window_mm[0]:g}-"
                      f"{captures.range_window_mm[1]:g} mm")


# ----------------------------------------------------------------------------- resampling
def _axis_weights(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Bilinear (i0, i1, w1, inside) along a uniform axis ``src`` at points ``dst`` (mm); points within
    half a pitch beyond the outer centres take the edge value, farther ones are outside."""
    u = (dst - src[0]) / (src[1] - src[0])  # fractional index (works for descending axes too)
    n = len(src)
    inside = (u >= -0.5) & (u <= n - 0.5)
    u = np.clip(u, 0.0, n - 1.0)
    i0 = np.clip(np.floor(u).astype(int), 0, n - 2)
    return i0, i0 + 1, u - i0, inside


def resample(magnitude: np.ndarray, z_mm: np.ndarray, x_src: np.ndarray, y_src: np.ndarray,
             x_dst: np.ndarray, y_dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Linear magnitude (N, H, W) and z (N, H, W) mm (NaN = background) from the grid (x_src, y_src)
    onto pixels centred at (x_dst, y_dst): block maximum of s × s bilinear samples per pixel."""
    pitch = abs(x_dst[1] - x_dst[0]) if len(x_dst) > 1 else abs(y_dst[1] - y_dst[0])
    src_pitch = min(abs(x_src[1] - x_src[0]), abs(y_src[1] - y_src[0]))
    s = max(1, math.ceil(pitch / src_pitch - 1e-6))
    offsets = ((np.arange(s) + 0.5) / s - 0.5) * pitch
    xs = (x_dst[:, None] + offsets[None, :]).ravel()
    ys = (y_dst[:, None] - offsets[None, :]).ravel()
    ix0, ix1, wx, in_x = _axis_weights(x_src, xs)
    iy0, iy1, wy, in_y = _axis_weights(y_src, ys)
    fg = np.isfinite(z_mm)
    z0 = np.where(fg, z_mm, 0.0)
    mag = np.zeros((len(magnitude), len(ys), len(xs)))
    zsum = np.zeros_like(mag)
    wsum = np.zeros_like(mag)
    for iy, wy_ in ((iy0, 1 - wy), (iy1, wy)):
        for ix, wx_ in ((ix0, 1 - wx), (ix1, wx)):
            w = wy_[:, None] * wx_[None, :]
            sel = (slice(None), iy[:, None], ix[None, :])
            mag += w * magnitude[sel]
            wf = w * fg[sel]
            zsum += wf * z0[sel]
            wsum += wf
    outside = ~(in_y[:, None] & in_x[None, :])
    mag[:, outside] = 0.0
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where((wsum > 0) & ~outside, zsum / wsum, np.nan)
    n, h, w = len(magnitude), len(y_dst), len(x_dst)
    blocks = mag.reshape(n, h, s, w, s).transpose(0, 1, 3, 2, 4).reshape(n, h, w, s * s)
    pick = np.argmax(blocks, axis=-1)[..., None]
    zb = z.reshape(n, h, s, w, s).transpose(0, 1, 3, 2, 4).reshape(n, h, w, s * s)
    return np.take_along_axis(blocks, pick, -1)[..., 0], np.take_along_axis(zb, pick, -1)[..., 0]


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and np.allclose(a, b, rtol=0, atol=1e-6)


# ----------------------------------------------------------------------------- public
def conform(captures: Captures, config: Any = None, *, tolerances: Tolerances | None = None,
            source: str = "captures") -> Captures:
    """``captures`` on the training grid of ``config`` (see :func:`training_config`) with its
    conventions (module docstring); :class:`MeasurementFormatError` if the radars are incompatible."""
    config = training_config(config)
    tolerances = tolerances or Tolerances()
    x_t, y_t = ImageGrid.from_config(config).output_axes()
    check_radar(captures, config, tolerances, source)
    check_field_of_view(captures, x_t, y_t, tolerances, source)
    moved = _move_frame(captures, config.array_z_mm)
    z_mm = moved.depth_mm()  # depths as training model-frame z
    check_depths(z_mm, config, captures, tolerances, source)
    window = training_range_window(config)
    if (_same(captures.x_mm, x_t) and _same(captures.y_mm, y_t) and _same(np.array(captures.range_window_mm),
                                                                        np.array(window))
            and captures.dynamic_range_db == config.dynamic_range_db):
        return moved  # already in the training conventions: the same bytes
    db = (captures.amplitude.astype(np.float64) - 1.0) * captures.dynamic_range_db
    magnitude = np.where(captures.amplitude > 0, 10.0 ** (db / 20.0), 0.0)  # at or below -DR: nothing
    magnitude, z_mm = resample(magnitude, z_mm, captures.x_mm, captures.y_mm, x_t, y_t)
    amplitude, depth = _format_images(magnitude, z_mm, config)
    origin = {"x_mm": [float(captures.x_mm[0]), float(captures.x_mm[-1]), len(captures.x_mm)],
              "y_mm": [float(captures.y_mm[0]), float(captures.y_mm[-1]), len(captures.y_mm)],
              "range_window_mm": list(captures.range_window_mm), "dynamic_range_db": captures.dynamic_range_db}
    return replace(moved, amplitude=amplitude, depth=depth, x_mm=x_t.copy(), y_mm=y_t.copy(), range_window_mm=window,
                   dynamic_range_db=float(config.dynamic_range_db), attrs={**moved.attrs, "conformed_from": origin})


def _move_frame(captures: Captures, array_z_mm: float) -> Captures:
    """Captures whose poses and ground truth are moved along z into the model frame with the array
    plane at ``array_z_mm`` (physical positions kept)."""
    shift = array_z_mm - captures.array_z_mm

    def moved(pose: np.ndarray | None) -> np.ndarray | None:
        if pose is None:
            return None
        pose = pose.copy()
        pose[:, 5] += shift
        return pose

    vertices = captures.ground_truth_vertices
    if vertices is not None:
        vertices = vertices.copy()
        vertices[..., 2] += np.float32(shift)
    params = captures.ground_truth_params
    if params is not None:
        params = dict(params, pose=moved(params["pose"]))
    return replace(captures, array_z_mm=float(array_z_mm), pose=moved(captures.pose), ground_truth_vertices=vertices,
                   ground_truth_params=params)


def _format_images(magnitude: np.ndarray, z_mm: np.ndarray, config: RadarConfig) -> tuple[np.ndarray, np.ndarray]:
    """Amplitude and depth (N, H, W) float32 in the training conventions from linear magnitude and z (mm)."""
    dr = float(config.dynamic_range_db)
    top = magnitude.reshape(len(magnitude), -1).max(axis=1)
    if np.any(top <= 0):
        raise MeasurementFormatError(f"capture {int(np.argmin(top))} has no signal inside the training field of view",
                                     "/captures/amplitude")
    with np.errstate(divide="ignore"):
        db = 20.0 * np.log10(magnitude / top[:, None, None])
    amplitude = (np.clip(db, -dr, 0.0) + dr) / dr
    lo, hi = config.depth_window_mm
    with np.errstate(invalid="ignore"):
        depth = np.where((amplitude > 0) & np.isfinite(z_mm), np.clip((z_mm - lo) / (hi - lo), 0.0, 1.0), 0.0)
    return amplitude.astype(np.float32), depth.astype(np.float32)


def load(path: str | Path, config: Any = None, *, tolerances: Tolerances | None = None,
         **raw_options: Any) -> Captures:
    """Captures of the measurement file ``path`` ready for the encoder trained with ``config``
    (:func:`training_config`: None, RadarConfig, config dict, ...): validated, checked for radar
    compatibility, resampled to the training grid and conventions.

    A raw file (``/raw/signal``, :mod:`~radarface.measurements.raw`) is checked first (band, range,
    resolution, array geometry), then back-projected onto the training grid after subtracting the
    empty room; ``raw_options`` go to :func:`~radarface.measurements.raw.reconstruct_volume`
    (``progress``, ``nthreads``, ``chunk_voxels``). Raises :class:`MeasurementFormatError` naming
    the file, the HDF5 field and the values.
    """
    source = str(path)
    config = training_config(config)
    tolerances = tolerances or Tolerances()
    flat = read_flat(path)
    if not raw.is_raw(flat):
        return conform(validate(flat, source), config, tolerances=tolerances, source=source)
    captures = raw.raw_from_flat(flat, source)
    entries = captures.radar_entries()
    check_radar_attrs({"f_start_hz": float(captures.frequencies_hz[0]), "f_stop_hz": float(captures.frequencies_hz[-1]),
                       "range_mm": captures.range_mm, "aperture_mm": captures.aperture_mm, **entries},
                      config, tolerances, source)
    out = validate(raw.volume_flat(flat, captures, config, source, **raw_options), source)
    out.radar.update(entries)
    return conform(out, config, tolerances=tolerances, source=source)

