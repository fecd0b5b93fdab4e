"""The radar system and imaging grid in one frozen, JSON-serialisable :class:`RadarConfig`.

Geometry (DESIGN §5.1), in the face model's frame (mm; x left-right, y up, z out of the face):

- The array lies in the plane ``z = face_center_z_mm + range_mm`` (default 90 + 400 = 490 mm),
  centred on the boresight ``x = y = 0`` and looking along −z at the face. Transmitters sit on
  its left and right edges (``x = ∓aperture_mm / 2``), receivers on its bottom and top edges
  (``y = ∓aperture_mm / 2``), so the virtual elements ``(t + r) / 2`` fill the square.
- The image grid is centred on the boresight: ``image_size × image_size`` pixels of
  ``pixel_mm`` (64 × 4 mm = 256 mm field of view). Row 0 is the top (largest y), column 0 the
  smallest x, i.e. the face as seen from the array. Internally the lateral grid is refined to a
  pitch of at most ``max_internal_pitch_mm`` (the point-spread function is ~3.5 mm wide) and
  reduced to the output pixels afterwards.
- An explicit array (``tx_positions_mm``/``rx_positions_mm``, e.g. :meth:`RadarConfig.preset`)
  replaces the square: positions (K, 3) in the *radar frame*, the model frame shifted so the
  array centre is the origin (same axes; the array plane is z = 0, the face at z ≈ −range_mm).
  ``aperture_mm`` is then the antennas' lateral extent (mean of the x and y spans).
- Depth voxels span ``depth_window_mm`` in model-frame z (near end = largest z = closest to
  the array) at ``voxel_depth_mm``; the window covers the face's depth ± the ±50 mm pose
  translation.

Stepped-frequency CW: ``n_freq`` frequencies uniformly from ``f_start_hz`` to ``f_stop_hz``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from radarface.radar import checks
from radarface.radar.presets import array_preset

#: Speed of light in mm/s (frequencies are in Hz, lengths in mm).
C_MM_PER_S: float = 299_792_458_000.0

#: Lateral field of view in mm that :meth:`RadarConfig.from_profile` keeps for every image size.
FIELD_OF_VIEW_MM: float = 256.0


@dataclass(frozen=True)
class RadarConfig:
    """Radar system, scene geometry, image grid and scattering model (units in the names).

    ``face_center_z_mm`` is the nominal face surface in the model frame (the builtin face spans
    z ≈ 43–132 mm, mean 94). ``material`` is the diffuse (rough, random-phase) share of the
    surface return in [0, 1] (0 = perfectly smooth skin, specular only); ``snr_db`` is the
    image peak-to-noise power ratio per voxel (None = noise-free); these two and
    ``dynamic_range_db`` and ``aperture_mm`` are the evaluation defaults of the rendering
    parameters. Scattering model: ``surface_spacing_mm`` (quadrature), ``roughness_mm``
    (correlation length of the diffuse part), ``shadow_pixel_mm``/``shadow_tolerance_mm``
    (z-buffer), ``edge_taper_mm`` (fade before a mesh boundary), ``spreading_loss``
    (1/(d_t·d_r) amplitude). Numerics: ``roi_margin_mm`` (voxels evaluated around the scene),
    ``nufft_eps``, ``depth_search`` (how the fast renderer finds each column's maximum when no
    volume is returned: ``"coarse"``, every third depth voxel and then around the candidates, or
    ``"full"``, the whole box; :mod:`radarface.radar.fast`). ``seed`` seeds the renderer when no
    ``rng`` is given. ``tx_positions_mm`` and ``rx_positions_mm`` (both or neither; n_tx and n_rx
    rows of (x, y, z) mm, radar frame) give an explicit array instead of the default square
    (module docstring).

    >>> cfg = RadarConfig()
    >>> round(cfg.lateral_resolution_mm, 2), round(cfg.range_resolution_mm, 1)
    (3.89, 15.0)
    >>> RadarConfig.from_dict(cfg.to_dict()) == cfg
    True
    """

    f_start_hz: float = 72e9
    f_stop_hz: float = 82e9
    n_freq: int = 64
    n_tx: int = 94
    n_rx: int = 94
    aperture_mm: float = 200.0
    range_mm: float = 400.0
    face_center_z_mm: float = 90.0
    image_size: int = 64
    pixel_mm: float = 4.0
    max_internal_pitch_mm: float = 2.0
    depth_window_mm: tuple[float, float] = (-40.0, 200.0)
    voxel_depth_mm: float = 3.0
    dynamic_range_db: float = 20.0
    material: float = 0.1
    snr_db: float | None = None
    # scattering model (DESIGN §5.2)
    surface_spacing_mm: float = 1.0
    roughness_mm: float = 1.0
    shadow_pixel_mm: float = 1.0
    shadow_tolerance_mm: float = 2.0
    edge_taper_mm: float = 10.0
    spreading_loss: bool = True
    # numerics
    roi_margin_mm: float = 16.0
    nufft_eps: float = 1e-3
    depth_search: str = "coarse"
    seed: int = 0
    # explicit array geometry (radar frame, mm); None = the square of aperture_mm
    tx_positions_mm: tuple[tuple[float, float, float], ...] | None = None
    rx_positions_mm: tuple[tuple[float, float, float], ...] | None = None

    def __post_init__(self) -> None:
        # JSON round trips give lists; keep the dataclass hashable.
        window = self.depth_window_mm
        if isinstance(window, (str, bytes)) or not hasattr(window, "__len__") or len(window) != 2:
            raise ValueError(f"RadarConfig.depth_window_mm must be two numbers (low z, high z) in mm, got {window!r}")
        object.__setattr__(self, "depth_window_mm",
                           tuple(checks.number("RadarConfig.depth_window_mm", v) for v in window))
        for name in ("tx_positions_mm", "rx_positions_mm"):
            value = getattr(self, name)
            if value is not None:
                rows = np.asarray(value, dtype=np.float64)
                if rows.ndim != 2 or rows.shape[1:] != (3,):
                    raise ValueError(f"RadarConfig.{name} must be (K, 3) positions in mm, got shape {rows.shape}")
                object.__setattr__(self, name, tuple(tuple(float(c) for c in row) for row in rows))
        self.validate()

    # ------------------------------------------------------------------ checks
    def validate(self) -> None:
        """Raise ValueError naming the first inconsistent field and what to do about it."""
        def positive(name: str) -> None:
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"RadarConfig.{name} must be a positive number, got {value!r}")

        for name in ("f_start_hz", "f_stop_hz", "aperture_mm", "range_mm", "pixel_mm",
                     "max_internal_pitch_mm", "voxel_depth_mm", "dynamic_range_db", "surface_spacing_mm",
                     "roughness_mm", "shadow_pixel_mm", "nufft_eps"):
            positive(name)
        if self.f_stop_hz <= self.f_start_hz:
            raise ValueError(f"RadarConfig needs f_stop_hz > f_start_hz (a positive bandwidth), got "
                             f"f_start_hz={self.f_start_hz:g}, f_stop_hz={self.f_stop_hz:g}")
        for name in checks.PLAUSIBLE:
            checks.plausible(name, getattr(self, name), "RadarConfig.")
        for name in ("material", "shadow_tolerance_mm", "edge_taper_mm", "roi_margin_mm"):
            checks.number(f"RadarConfig.{name}", getattr(self, name))
        if self.snr_db is not None:
            checks.number("RadarConfig.snr_db", self.snr_db)
        checks.integer("RadarConfig.seed", self.seed, 0)
        if not isinstance(self.spreading_loss, (bool, np.bool_)):
            raise ValueError(f"RadarConfig.spreading_loss must be True or False, got {self.spreading_loss!r}")
        for name, low in (("n_freq", 2), ("n_tx", 1), ("n_rx", 1), ("image_size", 1)):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
                raise ValueError(f"RadarConfig.{name} must be an integer >= {low}, got {value!r} "
                                 f"(an empty antenna array or frequency list cannot image anything)")
        lo, hi = self.depth_window_mm
        if not (math.isfinite(lo) and math.isfinite(hi) and hi - lo >= 2 * self.voxel_depth_mm):
            raise ValueError(f"RadarConfig.depth_window_mm must be (near-side low z, high z) with at least "
                             f"two voxels of {self.voxel_depth_mm} mm, got {self.depth_window_mm}")
        if hi >= self.array_z_mm:
            raise ValueError(f"depth window ends at z={hi} mm, at or beyond the array plane z="
                             f"{self.array_z_mm} mm; increase range_mm or lower depth_window_mm")
        if not 0.0 <= self.material <= 1.0:
            raise ValueError(f"RadarConfig.material (diffuse share) must be in [0, 1], got {self.material}")
        if self.snr_db is not None and not math.isfinite(self.snr_db) and self.snr_db != math.inf:
            raise ValueError(f"RadarConfig.snr_db must be a number of dB or None, got {self.snr_db}")
        for name in ("shadow_tolerance_mm", "edge_taper_mm", "roi_margin_mm"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"RadarConfig.{name} must be >= 0, got {getattr(self, name)}")
        if self.nufft_eps >= 0.1:
            raise ValueError(f"RadarConfig.nufft_eps must be < 0.1 (e.g. 1e-4), got {self.nufft_eps}")
        if self.depth_search not in ("coarse", "full"):
            raise ValueError(f"RadarConfig.depth_search must be 'coarse' or 'full', got {self.depth_search!r}")
        self._validate_positions()

    def _validate_positions(self) -> None:
        """Check an explicit array: both kinds given, counts n_tx/n_rx, finite, extent = aperture_mm."""
        given = [self.tx_positions_mm is not None, self.rx_positions_mm is not None]
        if not any(given):
            return
        if not all(given):
            missing = "rx_positions_mm" if given[0] else "tx_positions_mm"
            raise ValueError(f"RadarConfig.{missing} is missing: an explicit array needs both transmitter and "
                             f"receiver positions")
        for name, count in (("tx_positions_mm", self.n_tx), ("rx_positions_mm", self.n_rx)):
            rows = np.asarray(getattr(self, name))
            if len(rows) != count:
                kind = name[:2]
                raise ValueError(f"RadarConfig.{name} holds {len(rows)} positions, expected n_{kind} = {count}")
            if not np.all(np.isfinite(rows)):
                raise ValueError(f"RadarConfig.{name} contains NaN or infinite coordinates")
            if np.any(rows[:, 2] + self.array_z_mm <= self.depth_window_mm[1]):
                raise ValueError(f"RadarConfig.{name}: antennas must lie above the depth window, got radar-frame "
                                 f"z down to {rows[:, 2].min():g} mm with the window ending "
                                 f"{self.array_z_mm - self.depth_window_mm[1]:g} mm below the array plane")
        extent = self.positions_extent_mm
        if abs(extent - self.aperture_mm) > 0.01 * self.aperture_mm:
            raise ValueError(f"RadarConfig.aperture_mm = {self.aperture_mm:g} mm does not match the explicit "
                             f"array's extent {extent:.2f} mm (mean of its x and y spans); set "
                             f"aperture_mm={extent:.6g}")

    # ------------------------------------------------------------- derived
    @property
    def frequencies_hz(self) -> np.ndarray:
        """Stepped frequencies (n_freq,) in Hz."""
        return np.linspace(self.f_start_hz, self.f_stop_hz, self.n_freq)

    @property
    def center_frequency_hz(self) -> float:
        """Centre frequency in Hz."""
        return 0.5 * (self.f_start_hz + self.f_stop_hz)

    @property
    def bandwidth_hz(self) -> float:
        """Swept bandwidth B in Hz."""
        return self.f_stop_hz - self.f_start_hz

    @property
    def wavelength_mm(self) -> float:
        """Centre wavelength λc in mm."""
        return C_MM_PER_S / self.center_frequency_hz

    @property
    def array_z_mm(self) -> float:
        """z of the array plane in the model frame (mm)."""
        return self.face_center_z_mm + self.range_mm

    @property
    def has_explicit_array(self) -> bool:
        """True when ``tx_positions_mm``/``rx_positions_mm`` replace the default square."""
        return self.tx_positions_mm is not None

    @property
    def positions_extent_mm(self) -> float:
        """Lateral extent in mm of the explicit array (mean of the x and y spans of all antennas)."""
        if not self.has_explicit_array:
            return float(self.aperture_mm)
        return array_extent_mm(np.asarray(self.tx_positions_mm), np.asarray(self.rx_positions_mm))

    @property
    def field_of_view_mm(self) -> float:
        """Lateral side of the image in mm."""
        return self.image_size * self.pixel_mm

    @property
    def lateral_resolution_mm(self) -> float:
        """Theory: λc·R / (2D) in mm (the −3 dB width of a uniform aperture is 0.886 × this)."""
        return self.wavelength_mm * self.range_mm / (2.0 * self.aperture_mm)

    @property
    def range_resolution_mm(self) -> float:
        """Theory: c / (2B) in mm (the −3 dB width of the range sinc is 0.886 × this)."""
        return C_MM_PER_S / (2.0 * self.bandwidth_hz)

    # --------------------------------------------------------- conversions
    def replace(self, **changes: Any) -> RadarConfig:
        """A copy with ``changes`` applied (validated)."""
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise ValueError(f"unknown RadarConfig field(s) {unknown}; known: "
                             f"{[f.name for f in dataclasses.fields(self)]}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dict of all fields (``snr_db`` None stays None); antenna positions as
        lists of [x, y, z] mm, left out for the default square, and ``depth_search`` left out at its
        default (so the default dict, and the hashes of datasets made with it, are unchanged)."""
        out = dataclasses.asdict(self)
        out["depth_window_mm"] = list(self.depth_window_mm)
        if out["snr_db"] is not None and math.isinf(out["snr_db"]):
            out["snr_db"] = None
        if out["depth_search"] == "coarse":
            del out["depth_search"]
        for name in ("tx_positions_mm", "rx_positions_mm"):
            if out[name] is None:
                del out[name]
            else:
                out[name] = [list(row) for row in out[name]]
        return out

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> RadarConfig:
        """Config with the named array (:func:`radarface.radar.presets.array_preset`: ``"square"``,
        ``"qar50"``) and its aperture, plus ``overrides`` of other fields.

        >>> cfg = RadarConfig.preset("qar50", n_freq=16)
        >>> cfg.n_tx, cfg.aperture_mm, round(cfg.lateral_resolution_mm, 2)
        (94, 141.0, 5.52)
        >>> RadarConfig.from_dict(cfg.to_dict()) == cfg
        True
        """
        tx, rx = array_preset(name)
        if tx is None:
            return cls(**overrides)
        base = {"tx_positions_mm": tx, "rx_positions_mm": rx, "n_tx": len(tx), "n_rx": len(rx),
                "aperture_mm": array_extent_mm(tx, rx)}
        base.update(overrides)
        return cls(**base)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RadarConfig:
        """Config from :meth:`to_dict` output; unknown keys are an error."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown RadarConfig field(s) {unknown}; known: {sorted(known)}")
        return cls(**data)

    @classmethod
    def from_profile(cls, cfg: dict[str, Any], **overrides: Any) -> RadarConfig:
        """Config for a resolved profile (``radarface.profiles.resolve``): its ``image_size`` and
        ``n_freq``, with the 256 mm field of view kept (``pixel_mm = 256 / image_size``)."""
        for key in ("image_size", "n_freq"):
            if key not in cfg:
                raise ValueError(f"profile settings lack {key!r}; pass radarface.profiles.resolve(...)")
        size = int(cfg["image_size"])
        if size < 1:
            raise ValueError(f"profile image_size must be >= 1, got {size}")
        base = {"image_size": size, "n_freq": int(cfg["n_freq"]), "pixel_mm": FIELD_OF_VIEW_MM / size}
        base.update(overrides)
        return cls(**base)


def array_extent_mm(tx: np.ndarray, rx: np.ndarray) -> float:
    """Lateral extent in mm of antennas tx (Nt, 3), rx (Nr, 3): mean of the x and y spans of all.

    >>> array_extent_mm(np.array([[-70.5, 0, 0], [70.5, 0, 0]]), np.array([[0, -70.5, 0], [0, 70.5, 0]]))
    141.0
    """
    both = np.concatenate([np.asarray(tx, dtype=np.float64), np.asarray(rx, dtype=np.float64)])
    spans = both[:, :2].max(axis=0) - both[:, :2].min(axis=0)
    return float(spans.mean())
