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
    ``nufft_eps``. ``seed`` seeds the renderer when no ``rng`` is given.

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
    seed: int = 0

    def __post_init__(self) -> None:
        # JSON round trips give lists; keep the dataclass hashable.
        object.__setattr__(self, "depth_window_mm", tuple(float(v) for v in self.depth_window_mm))
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
        """JSON-serialisable dict of all fields (``snr_db`` None stays None)."""
        out = dataclasses.asdict(self)
        out["depth_window_mm"] = list(self.depth_window_mm)
        if out["snr_db"] is not None and math.isinf(out["snr_db"]):
            out["snr_db"] = None
        return out

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
