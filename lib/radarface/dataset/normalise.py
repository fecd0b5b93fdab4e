"""Network targets: face, pose and rendering parameters scaled to zero mean and unit variance.

Shape and expression coefficients are N(0, 1) already and stay as they are. Pose angles
and translations are uniform on ``[-limit, limit]`` and are divided by their standard
deviation ``limit / sqrt(3)``; each rendering parameter, uniform on ``[lo, hi]``, becomes
``(value - (lo + hi) / 2) / ((hi - lo) / sqrt(12))``. The limits and ranges are those the
dataset was sampled with (stored in its file), not the library's current defaults.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

POSE_NAMES: tuple[str, ...] = ("yaw", "pitch", "roll", "tx", "ty", "tz")


@dataclass(frozen=True)
class TargetNormaliser:
    """Maps parameter dicts to target vectors (D,) and back.

    Target layout: ``shape`` (Ks), ``expression`` (Ke), ``pose`` (6), then ``render`` (R)
    if ``include_render``; :attr:`slices` gives each group's columns.

    >>> norm = TargetNormaliser(2, 1, np.array([0.1, 0.2, 0.2, 50, 50, 50]),
    ...                         ("dynamic_range_db",), {"dynamic_range_db": (15.0, 30.0)})
    >>> v = norm.normalise({"shape": [1, -1], "expression": [0.5], "pose": [0, 0, 0, 0, 0, 50],
    ...                     "render": [30.0]})
    >>> [round(float(x), 3) for x in v]
    [1.0, -1.0, 0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 1.732, 1.732]
    >>> norm.denormalise(v)["render"].round(3).tolist()
    [30.0]
    """

    n_shape: int
    n_expression: int
    pose_limits: np.ndarray
    render_names: tuple[str, ...]
    render_ranges: dict[str, tuple[float, float]]  # in column order (reordered to render_names)
    include_render: bool = True
    _offset: np.ndarray = field(init=False, repr=False)
    _scale: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        limits = np.asarray(self.pose_limits, dtype=np.float64)
        if limits.shape != (6,) or not np.all(limits > 0):
            raise ValueError(f"pose_limits must be 6 positive half-widths, got {self.pose_limits}")
        missing = [name for name in self.render_names if name not in self.render_ranges]
        if missing:
            raise ValueError(f"render_ranges lacks {missing} (has {sorted(self.render_ranges)})")
        object.__setattr__(self, "pose_limits", limits)
        # column order, whatever order the ranges came in (JSON attributes sort their keys)
        object.__setattr__(self, "render_names", tuple(self.render_names))
        object.__setattr__(self, "render_ranges",
                           {name: tuple(map(float, self.render_ranges[name])) for name in self.render_names})
        offset = [np.zeros(self.n_shape + self.n_expression + 6)]
        scale = [np.ones(self.n_shape + self.n_expression), limits / math.sqrt(3.0)]
        if self.include_render:
            lo, hi = (np.array([self.render_ranges[n][i] for n in self.render_names], dtype=np.float64)
                      for i in (0, 1))
            offset.append((lo + hi) / 2)
            width = (hi - lo) / math.sqrt(12.0)
            scale.append(np.where(width > 0, width, 1.0))  # a fixed parameter just gets centred
        object.__setattr__(self, "_offset", np.concatenate(offset))
        object.__setattr__(self, "_scale", np.concatenate(scale))

    @property
    def groups(self) -> tuple[str, ...]:
        """The parameter groups in target order."""
        return ("shape", "expression", "pose", "render") if self.include_render else ("shape", "expression", "pose")

    @property
    def slices(self) -> dict[str, slice]:
        """Columns of each group in the target vector."""
        sizes = {"shape": self.n_shape, "expression": self.n_expression, "pose": 6,
                 "render": len(self.render_names)}
        out, start = {}, 0
        for group in self.groups:
            out[group] = slice(start, start + sizes[group])
            start += sizes[group]
        return out

    @property
    def dim(self) -> int:
        """Length D of the target vector."""
        return len(self._offset)

    @property
    def names(self) -> list[str]:
        """One name per target column (``shape_0``, ..., ``yaw``, ..., render parameter names)."""
        names = [f"shape_{i}" for i in range(self.n_shape)] + [f"expression_{i}" for i in range(self.n_expression)]
        names += list(POSE_NAMES)
        return names + list(self.render_names) if self.include_render else names

    def normalise(self, params: dict[str, Any]) -> np.ndarray:
        """Target (D,) or (B, D) float32 from a dict of ``shape``, ``expression``, ``pose`` (rad, mm), ``render``."""
        parts = []
        for group, cols in self.slices.items():
            if group not in params:
                raise ValueError(f"params lacks {group!r} (has {sorted(params)})")
            value = np.asarray(params[group], dtype=np.float64)
            if value.shape[-1:] != (cols.stop - cols.start,):
                raise ValueError(f"{group} must have {cols.stop - cols.start} values, got shape {value.shape}")
            parts.append(value)
        stacked = np.concatenate(parts, axis=-1)
        return ((stacked - self._offset) / self._scale).astype(np.float32)

    def denormalise(self, target: np.ndarray | torch.Tensor) -> dict[str, Any]:
        """Parameters from target(s) (D,) or (B, D): dict group -> array, float64 for numpy input.

        Torch input stays torch (same dtype and device, differentiable).
        """
        if target.shape[-1] != self.dim:
            raise ValueError(f"target must have {self.dim} columns ({self.groups}), got shape {tuple(target.shape)}")
        if isinstance(target, torch.Tensor):
            offset = torch.as_tensor(self._offset, dtype=target.dtype, device=target.device)
            scale = torch.as_tensor(self._scale, dtype=target.dtype, device=target.device)
            values = target * scale + offset
        else:
            values = np.asarray(target, dtype=np.float64) * self._scale + self._offset
        return {group: values[..., cols] for group, cols in self.slices.items()}
