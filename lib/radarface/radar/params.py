"""Rendering parameters (DESIGN §5.6): randomised per sample, stored as a vector, predictable.

=================  ===========  =============================================================
name               range        meaning
=================  ===========  =============================================================
dynamic_range_db   [15, 30]     amplitude clipping below the peak (20 dB at evaluation)
material           [0, 0.5]     diffuse (rough, random-phase) share of the surface return
aperture_mm        [150, 250]   side D of the aperture (lateral resolution ∝ 1/D); × D0/200 mm
                                for a config of nominal aperture D0 (e.g. 106-176 mm for a QAR50)
snr_db             [30, 50]     image peak-to-noise power ratio per voxel
=================  ===========  =============================================================

The SNR range starts at 30 dB because a per-voxel SNR of 20 dB would, after the maximum over
depth, put noise within ~10 dB of the peak and drown any dynamic range of 15-30 dB. In a
vector, a noise-free ``snr_db`` (None or inf) is stored as the range's top (50 dB): noise at
that level stays below every dynamic range of the table.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from radarface.radar import checks
from radarface.radar.config import RadarConfig

#: Order of the rendering parameters in vectors (dataset column ``render``).
RENDER_PARAM_NAMES: tuple[str, ...] = ("dynamic_range_db", "material", "aperture_mm", "snr_db")

_RANGES: dict[str, tuple[float, float]] = {
    "dynamic_range_db": (15.0, 30.0),
    "material": (0.0, 0.5),
    "aperture_mm": (150.0, 250.0),
    "snr_db": (30.0, 50.0),
}


#: Largest dynamic range (dB) an image may keep: beyond it float32 rounding, not the scene, sets the floor.
MAX_DYNAMIC_RANGE_DB: float = 120.0

#: Nominal aperture (mm) that the aperture range of :data:`_RANGES` is stated for.
_RANGE_APERTURE_MM: float = 200.0


def render_param_ranges(config: RadarConfig | None = None) -> dict[str, tuple[float, float]]:
    """Sampling range (lo, hi) of each rendering parameter, in :data:`RENDER_PARAM_NAMES` order;
    the aperture range scales with ``config.aperture_mm`` / 200 mm (unchanged for None or 200 mm).

    >>> render_param_ranges(RadarConfig(aperture_mm=100.0))["aperture_mm"]
    (75.0, 125.0)
    """
    out = {name: _RANGES[name] for name in RENDER_PARAM_NAMES}
    if config is not None and config.aperture_mm != _RANGE_APERTURE_MM:
        scale = config.aperture_mm / _RANGE_APERTURE_MM
        out["aperture_mm"] = tuple(v * scale for v in _RANGES["aperture_mm"])
    return out


def sample_render_params(rng: np.random.Generator, config: RadarConfig | None = None) -> dict[str, float]:
    """Rendering parameters drawn uniformly from :func:`render_param_ranges` (of ``config``) with ``rng``."""
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    return {name: float(rng.uniform(lo, hi)) for name, (lo, hi) in render_param_ranges(config).items()}


def default_render_params(config: RadarConfig | None = None) -> dict[str, Any]:
    """Evaluation defaults: the config's values (dynamic range 20 dB at the default config)."""
    config = config or RadarConfig()
    return {"dynamic_range_db": float(config.dynamic_range_db), "material": float(config.material),
            "aperture_mm": float(config.aperture_mm), "snr_db": config.snr_db}


def check_render_params(params: dict[str, Any], config: RadarConfig | None = None) -> dict[str, Any]:
    """Complete ``params`` with the config's defaults and check names and values."""
    unknown = sorted(set(params) - set(RENDER_PARAM_NAMES))
    if unknown:
        raise ValueError(f"unknown rendering parameter(s) {unknown}; known: {list(RENDER_PARAM_NAMES)}")
    out = default_render_params(config)
    out.update({k: (None if v is None else checks.number(k, v)) for k, v in params.items()})
    if out["dynamic_range_db"] is None or not 0 < out["dynamic_range_db"] <= MAX_DYNAMIC_RANGE_DB:
        raise ValueError(f"dynamic_range_db must be in (0, {MAX_DYNAMIC_RANGE_DB:g}] dB, got "
                         f"{out['dynamic_range_db']}")
    if out["material"] is None or not 0.0 <= out["material"] <= 1.0:
        raise ValueError(f"material (diffuse share) must be in [0, 1], got {out['material']}")
    if out["aperture_mm"] is None or not out["aperture_mm"] > 0:
        raise ValueError(f"aperture_mm must be > 0, got {out['aperture_mm']}")
    checks.plausible("aperture_mm", out["aperture_mm"])
    snr = out["snr_db"]
    if snr is not None and (math.isnan(snr) or snr == -math.inf):
        raise ValueError(f"snr_db must be a number of dB, inf or None (noise-free), got {snr}")
    if snr is not None and math.isinf(snr):
        out["snr_db"] = None
    return out


def render_params_to_vector(params: dict[str, Any]) -> np.ndarray:
    """Vector (len(RENDER_PARAM_NAMES),) float64; a noise-free ``snr_db`` becomes the range's top.

    >>> v = render_params_to_vector({"dynamic_range_db": 20, "material": 0.1, "aperture_mm": 200,
    ...                              "snr_db": None})
    >>> v.tolist()
    [20.0, 0.1, 200.0, 50.0]
    """
    missing = [n for n in RENDER_PARAM_NAMES if n not in params]
    if missing:
        raise ValueError(f"rendering parameters lack {missing}; got {sorted(params)}")
    values = []
    for name in RENDER_PARAM_NAMES:
        value = params[name]
        if name == "snr_db" and (value is None or math.isinf(value)):
            value = _RANGES["snr_db"][1]
        values.append(float(value))
    return np.asarray(values, dtype=np.float64)


def render_params_from_vector(vector: np.ndarray) -> dict[str, float]:
    """Dict of rendering parameters from a vector in :data:`RENDER_PARAM_NAMES` order."""
    vector = np.asarray(vector, dtype=np.float64)
    if vector.shape != (len(RENDER_PARAM_NAMES),):
        raise ValueError(f"expected a vector of {len(RENDER_PARAM_NAMES)} rendering parameters "
                         f"{RENDER_PARAM_NAMES}, got shape {vector.shape}")
    return {name: float(v) for name, v in zip(RENDER_PARAM_NAMES, vector)}


#: Alias with the other reading order of the name.
vector_to_render_params = render_params_from_vector
