"""How a profile's synthetic dataset is made: :class:`DatasetSettings`, built from a profile by ``from_profile``.

The fields fix the file's content and its name (:func:`radarface.dataset.default_path`),
except ``workers``, which changes only how fast it is rendered.

>>> from radarface import profiles
>>> s = DatasetSettings.from_profile(profiles.resolve("smoke"))
>>> s.profile, s.n_samples, s.image_size, s.dtype, s.workers
('smoke', 48, 32, 'float32', 2)
>>> s.radar_config().pixel_mm
8.0
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from radarface.facemodel import MorphableModel, load_model
from radarface.radar.config import FIELD_OF_VIEW_MM, RadarConfig

#: Image dtypes a dataset file can hold.
DTYPES: tuple[str, ...] = ("float16", "float32")


def _check_count(name: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"DatasetSettings.{name} must be an integer >= {low}, got {value!r}")


@dataclass(frozen=True)
class DatasetSettings:
    """A profile's synthetic dataset: ``n_samples`` faces of face model ``model`` (a
    :func:`~radarface.facemodel.load_model` source with ``n_shape``, ``n_expression`` modes), imaged
    ``image_size`` pixels square over 256 mm with ``n_freq`` frequencies, drawn from ``seed``, images stored
    as ``dtype``; ``profile`` starts the file name; ``workers``: renderer processes (0 = all cores)."""

    profile: str = "custom"
    model: str = "builtin"
    n_shape: int = 10
    n_expression: int = 7
    image_size: int = 64
    n_freq: int = 64
    n_samples: int = 1000
    seed: int = 0
    dtype: str = "float16"
    workers: int = 0  # speed only: the file and its name do not depend on it

    def __post_init__(self) -> None:
        for name, low in (("n_shape", 1), ("n_expression", 1), ("image_size", 1), ("n_freq", 2), ("n_samples", 1),
                          ("seed", 0), ("workers", 0)):
            _check_count(name, getattr(self, name), low)
        if self.dtype not in DTYPES:
            raise ValueError(f"DatasetSettings.dtype must be one of {DTYPES}, got {self.dtype!r}")

    @classmethod
    def from_profile(cls, cfg: dict[str, Any]) -> DatasetSettings:
        """The dataset settings of a resolved profile (:func:`radarface.profiles.resolve`)."""
        return cls(profile=str(cfg["profile"]), model=str(cfg["model"]), n_shape=int(cfg["n_shape"]),
                   n_expression=int(cfg["n_expression"]), image_size=int(cfg["image_size"]),
                   n_freq=int(cfg["n_freq"]), n_samples=int(cfg["n_samples"]), seed=int(cfg["seed"]),
                   dtype=cfg["dataset_dtype"], workers=int(cfg["workers"]))

    def radar_config(self) -> RadarConfig:
        """The radar the faces are imaged with: ``image_size`` pixels over the 256 mm field of view, ``n_freq`` steps.

        The same config as :meth:`RadarConfig.from_profile` of the profile these settings came from.
        """
        return RadarConfig(image_size=self.image_size, n_freq=self.n_freq,
                           pixel_mm=FIELD_OF_VIEW_MM / self.image_size)

    def face_model(self) -> MorphableModel:
        """The face model the faces are drawn from (``model`` with ``n_shape``, ``n_expression`` modes)."""
        return load_model(self.model, self.n_shape, self.n_expression)
