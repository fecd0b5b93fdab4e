"""Measured radar captures in memory: :class:`Captures` and the error every measurement check raises.

The file layout and its checks are in :mod:`~radarface.measurements.schema`; reading and writing
in :mod:`~radarface.measurements.files`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

from radarface.dataset.torch_dataset import INPUTS
from radarface.radar.config import RadarConfig


class MeasurementFormatError(ValueError):
    """A measurement file (or in-memory :class:`Captures`) breaks the format or does not fit the
    training radar; ``field`` is the offending HDF5 path (``/group/dataset`` or ``/group@attribute``)."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


def evenly_spaced(total: int, k: int) -> np.ndarray:
    """Indices of ``k`` items (all if ``k`` >= ``total``) spread evenly over ``total``, first and last included."""
    if total < 0 or k < 1:
        raise ValueError(f"need total >= 0 and k >= 1, got total={total}, k={k}")
    return np.linspace(0, total - 1, min(k, total)).astype(int)


@dataclass(eq=False)
class Captures:
    """N radar captures on one image grid, with labels and optional ground truth.

    Images (the training dataset's conventions, see :mod:`radarface.radar.image`):
        amplitude: (N, H, W) float32 in [0, 1]: dB below each capture's peak, clipped at
            ``-dynamic_range_db`` (0) and 0 dB (1).
        depth: (N, H, W) float32 in [0, 1]: 1 = near end of ``range_window_mm``, 0 = far end and
            background (where amplitude is 0).
    Grid: ``x_mm`` (W,) ascending, ``y_mm`` (H,) descending (row 0 = top): lateral pixel centres
        in mm from the array centre; ``range_window_mm`` (near, far) distances from the array
        plane in mm; ``dynamic_range_db``.
    Labels: ``subject``, ``expression`` (N,) str.
    Frame: ``array_z_mm`` is the z of the array plane in the model frame of ``pose``,
        ``ground_truth_vertices`` and ``ground_truth_params["pose"]``.
    Optional: ``pose`` (N, 6) (yaw, pitch, roll rad; tx, ty, tz mm); ``ground_truth_vertices``
        (N, V, 3) mm posed; ``ground_truth_triangles`` (M, 3); ``ground_truth_params`` with
        ``shape`` (N, Ks), ``expression`` (N, Ke) in standard deviations and ``pose`` (N, 6).
    ``radar``: the measuring system (``/radar`` attributes of :mod:`~radarface.measurements.schema`,
    optional antenna arrays, free extras).
    ``simulated``: True for surrogate files; ``attrs``: the file's other root attributes
    (``simulation`` settings, face-model identity, description, ...).
    """

    amplitude: np.ndarray
    depth: np.ndarray
    subject: np.ndarray
    expression: np.ndarray
    x_mm: np.ndarray
    y_mm: np.ndarray
    range_window_mm: tuple[float, float]
    dynamic_range_db: float
    radar: dict[str, Any]
    array_z_mm: float = 490.0  # RadarConfig(): face_center_z_mm 90 + range_mm 400
    pose: np.ndarray | None = None
    ground_truth_vertices: np.ndarray | None = None
    ground_truth_triangles: np.ndarray | None = None
    ground_truth_params: dict[str, np.ndarray] | None = None
    simulated: bool = False
    attrs: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.amplitude)

    @property
    def image_shape(self) -> tuple[int, int]:
        """(H, W) of the images."""
        return tuple(self.amplitude.shape[1:])

    @property
    def pixel_mm(self) -> float:
        """Lateral pixel pitch in mm (x; y has the same pitch on training grids)."""
        return float(abs(self.x_mm[1] - self.x_mm[0])) if len(self.x_mm) > 1 else math.nan

    def encoder_input(self, inputs: str = "both") -> torch.Tensor:
        """Encoder input (N, C, H, W) float32 torch tensor: ``"amplitude"``, ``"depth"`` (C = 1) or
        ``"both"`` (C = 2, amplitude first, as :class:`radarface.dataset.RadarFaceDataset`)."""
        if inputs not in INPUTS:
            raise ValueError(f"inputs must be one of {sorted(INPUTS)}, got {inputs!r}")
        stack = np.stack([getattr(self, name) for name in INPUTS[inputs]], axis=1)
        return torch.from_numpy(np.ascontiguousarray(stack, dtype=np.float32))

    def depth_mm(self) -> np.ndarray:
        """Depth (N, H, W) as model-frame z in mm (frame of ``array_z_mm``); NaN on the background."""
        near, far = self.range_window_mm
        z = self.array_z_mm - far + self.depth.astype(np.float64) * (far - near)
        return np.where(self.amplitude > 0, z, np.nan)

    def system_config(self, config: RadarConfig) -> RadarConfig:
        """``config`` with the measuring system that ``radar`` states: band, frequency steps, aperture and,
        when given, the antennas used (nominal positions in the array plane), as a physics renderer of these
        captures needs it; what the file does not state stays ``config``'s."""
        r = self.radar
        changes: dict[str, Any] = {k: float(r[k]) for k in ("f_start_hz", "f_stop_hz", "aperture_mm") if k in r}
        if "n_freq" in r:
            changes["n_freq"] = int(r["n_freq"])
        if "tx_positions_mm" in r and "rx_positions_mm" in r:
            tx, rx = (np.asarray(r[k], dtype=np.float64).reshape(-1, 3) for k in ("tx_positions_mm", "rx_positions_mm"))
            plane = np.concatenate([tx[:, 2], rx[:, 2]])
            # The model frame's array plane (as the surrogate files store them) or the radar frame's.
            lift = next((z for z in (self.array_z_mm, 0.0) if np.allclose(plane, z, atol=1.0)), None)
            if lift is None:
                raise MeasurementFormatError(
                    f"/radar/tx_positions_mm and rx_positions_mm must lie in the array plane, z = {self.array_z_mm:g} mm "
                    f"(model frame) or 0 (radar frame); got z from {plane.min():g} to {plane.max():g} mm",
                    "/radar/tx_positions_mm")
            shift = np.array([0.0, 0.0, lift])
            changes.update(tx_positions_mm=tuple(map(tuple, (tx - shift).tolist())),
                           rx_positions_mm=tuple(map(tuple, (rx - shift).tolist())), n_tx=len(tx), n_rx=len(rx))
        try:
            return replace(config, **changes)
        except ValueError as err:
            raise MeasurementFormatError(f"the radar these captures state does not make a valid radar config: {err}",
                                         "/radar") from None

    def require_model(self, model) -> None:
        """Raise :class:`MeasurementFormatError` unless the ground-truth parameters belong to ``model``
        (a :class:`~radarface.facemodel.MorphableModel`; compared by content hash)."""
        stored = self.attrs.get("model_hash")
        if self.ground_truth_params is None or stored is None:
            raise MeasurementFormatError("these captures have no ground-truth parameters with a /@model_hash",
                                         "/@model_hash")
        if stored != model.content_hash():
            raise MeasurementFormatError(f"the ground-truth parameters belong to face model "
                                         f"{self.attrs.get('model_name')!r} (hash {stored[:12]}), not to "
                                         f"{model.name!r} (hash {model.content_hash()[:12]})", "/@model_hash")

    def spread(self, k: int) -> Captures:
        """``k`` captures spread evenly over the set (:func:`evenly_spaced`), e.g. across subjects."""
        return self.select(evenly_spaced(len(self), k))

    def select(self, index: np.ndarray | slice | list[int]) -> Captures:
        """The captures picked by ``index`` (indices, mask or slice), grid and metadata shared."""
        pick = (lambda a: None if a is None else a[index])
        params = self.ground_truth_params
        params = None if params is None else {k: v[index] for k, v in params.items()}
        return replace(self, amplitude=self.amplitude[index], depth=self.depth[index], subject=self.subject[index],
                       expression=self.expression[index], pose=pick(self.pose),
                       ground_truth_vertices=pick(self.ground_truth_vertices), ground_truth_params=params)

    def __repr__(self) -> str:
        h, w = self.image_shape
        gt = [name for name, value in (("vertices", self.ground_truth_vertices),
                                       ("params", self.ground_truth_params)) if value is not None]
        return (f"Captures({len(self)} captures of {len(set(self.subject))} subjects, {h}x{w} at "
                f"{self.pixel_mm:g} mm, {self.dynamic_range_db:g} dB, simulated={self.simulated}, "
                f"ground truth: {', '.join(gt) or 'none'})")
