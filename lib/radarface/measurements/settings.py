"""How a surrogate measurement file is made: :class:`SurrogateSettings`, built from a profile by its ``from_profile``.

The fields are explained in :mod:`radarface.measurements.surrogate` (the domain gap to the
training data); :mod:`~radarface.measurements.physics` and :mod:`~radarface.measurements.surrogate`
both read them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

#: Labels of the fixed expressions (``neutral`` = all zeros).
EXPRESSION_LABELS: tuple[str, ...] = ("neutral", "expr_a", "expr_b", "expr_c", "expr_d")
#: Profile keys that set :class:`SurrogateSettings` fields (profile key -> field).
_PROFILE_KEYS = {"surrogate_seed": "seed", "surrogate_poses": "poses", "surrogate_antenna_stride": "antenna_stride",
                 "surrogate_n_freq": "n_freq", "surrogate_blanket": "blanket"}


@dataclass(frozen=True)
class SurrogateSettings:
    """How a surrogate file is made (:mod:`~radarface.measurements.surrogate` explains each field); units
    in the names, angles in degrees."""

    seed: int = 7
    subjects: int = 4
    expressions: tuple[str, ...] = EXPRESSION_LABELS
    poses: int = 2
    pose_scale: float = 0.8
    antenna_stride: int = 2
    n_freq: int | None = None  # None: the training's; 32 steps already see 465 mm without range aliasing
    point_snr_db: float = 52.0
    material: float = 0.7
    roughness_mm: float = 2.0
    jitter_mm: float = 0.2
    phase_std_deg: float = 10.0
    gain_std_db: float = 0.5
    blanket: bool = False
    blanket_gap_mm: float = 15.0
    blanket_reflectivity: float = 0.15
    blanket_loss_db: float = 2.0
    blanket_fold_mm: float = 3.0
    dynamic_range_db: float = 40.0  # kept in the file; the loader clips to the training's
    # 0: every capture of the plan; k: only k of them, spread evenly over it, each with the faces,
    # pose and draws it has in the whole set (a cheaper file for a method that uses k captures)
    captures: int = 0

    def __post_init__(self) -> None:
        labels = (self.expressions,) if isinstance(self.expressions, str) else tuple(self.expressions)
        object.__setattr__(self, "expressions", labels)
        unknown = [e for e in self.expressions if e not in EXPRESSION_LABELS]
        if unknown or not self.expressions or len(set(self.expressions)) != len(self.expressions):
            raise ValueError(f"expressions must be distinct labels from {EXPRESSION_LABELS}, got {self.expressions}")
        for name in ("subjects", "poses", "antenna_stride"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ValueError(f"SurrogateSettings.{name} must be an integer >= 1, got {value!r}")
        if not isinstance(self.captures, (int, np.integer)) or isinstance(self.captures, bool) or self.captures < 0:
            raise ValueError(f"SurrogateSettings.captures must be an integer >= 0 (0 = all), got {self.captures!r}")
        if self.n_freq is not None and (not isinstance(self.n_freq, (int, np.integer)) or self.n_freq < 2):
            raise ValueError(f"SurrogateSettings.n_freq must be None or an integer >= 2, got {self.n_freq!r}")
        if not 0.0 <= self.material <= 1.0:
            raise ValueError(f"SurrogateSettings.material must be in [0, 1], got {self.material}")
        for name in ("roughness_mm", "dynamic_range_db", "blanket_gap_mm"):
            if not getattr(self, name) > 0:
                raise ValueError(f"SurrogateSettings.{name} must be > 0, got {getattr(self, name)}")
        for name in ("jitter_mm", "phase_std_deg", "gain_std_db", "blanket_reflectivity", "blanket_loss_db",
                     "blanket_fold_mm", "pose_scale"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"SurrogateSettings.{name} must be >= 0, got {getattr(self, name)}")

    @classmethod
    def from_profile(cls, cfg: dict[str, Any], **overrides: Any) -> SurrogateSettings:
        """Settings from a resolved profile's ``surrogate_*`` keys, then ``overrides`` (field names; an override
        of None keeps the profile's value)."""
        values = {field: cfg[key] for key, field in _PROFILE_KEYS.items() if key in cfg}
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ValueError(f"unknown surrogate setting(s) {unknown}; known: {sorted(known)}")
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dict of all fields."""
        out = dataclasses.asdict(self)
        out["expressions"] = list(self.expressions)
        return out
