"""Head pose: rotation about the model origin, then translation.

Convention (DESIGN §3): a pose is 6 numbers ``(yaw, pitch, roll, tx, ty, tz)``; angles
in radians (yaw about +y, pitch about +x, roll about +z, right-handed), translation in
mm. The rotation is ``R = R_y(yaw) @ R_x(pitch) @ R_z(roll)`` and a posed vertex is
``v' = R @ v + t``. User-facing parameters take degrees; convert with
:func:`pose_from_degrees`.
"""

from __future__ import annotations

import numpy as np
import torch

#: Sampling ranges of the paper (§1): yaw ±5°, pitch and roll ±10°, translation ±50 mm.
POSE_LIMITS_DEG_MM: tuple[float, ...] = (5.0, 10.0, 10.0, 50.0, 50.0, 50.0)


def pose_from_degrees(yaw: float = 0.0, pitch: float = 0.0, roll: float = 0.0,
                      tx: float = 0.0, ty: float = 0.0, tz: float = 0.0) -> np.ndarray:
    """Pose vector (6,) in (rad, rad, rad, mm, mm, mm) from angles in degrees and mm."""
    return np.array([np.deg2rad(yaw), np.deg2rad(pitch), np.deg2rad(roll), tx, ty, tz],
                    dtype=np.float64)


def pose_limits() -> np.ndarray:
    """Half-widths (6,) of the uniform pose distribution in (rad, rad, rad, mm, mm, mm)."""
    return pose_from_degrees(*POSE_LIMITS_DEG_MM)


def _check_pose(pose: np.ndarray) -> np.ndarray:
    pose = np.asarray(pose, dtype=np.float64)
    if pose.shape[-1:] != (6,):
        raise ValueError(f"pose must have 6 numbers (yaw, pitch, roll, tx, ty, tz), got shape {pose.shape}")
    if not np.all(np.isfinite(pose)):
        raise ValueError(f"pose contains NaN or infinite values: {pose}")
    return pose


def rotation_matrix(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Rotation (3, 3) ``R_y(yaw) @ R_x(pitch) @ R_z(roll)``; angles in radians."""
    cy, sy = np.cos(yaw), np.sin(yaw)
    cp, sp = np.cos(pitch), np.sin(pitch)
    cr, sr = np.cos(roll), np.sin(roll)
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    rz = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    return ry @ rx @ rz


def apply_pose(vertices: np.ndarray, pose: np.ndarray | None) -> np.ndarray:
    """Posed vertices (..., N, 3) in mm; ``pose`` (6,) as in the module docstring, or None.

    >>> v = np.array([[0.0, 0.0, 100.0]])
    >>> np.round(apply_pose(v, pose_from_degrees(yaw=90, tx=5)), 6).tolist()
    [[105.0, 0.0, 0.0]]
    """
    vertices = np.asarray(vertices, dtype=np.float64)
    if pose is None:
        return vertices
    pose = _check_pose(pose)
    if pose.ndim != 1:
        raise ValueError(f"apply_pose takes one pose (6,), got shape {pose.shape}")
    rot = rotation_matrix(*pose[:3])
    return vertices @ rot.T + pose[3:]


def rotation_matrix_torch(angles: torch.Tensor) -> torch.Tensor:
    """Differentiable rotations (B, 3, 3) from angles (B, 3) = (yaw, pitch, roll) in radians."""
    yaw, pitch, roll = angles.unbind(-1)
    one, zero = torch.ones_like(yaw), torch.zeros_like(yaw)
    cy, sy = torch.cos(yaw), torch.sin(yaw)
    cp, sp = torch.cos(pitch), torch.sin(pitch)
    cr, sr = torch.cos(roll), torch.sin(roll)
    ry = torch.stack([cy, zero, sy, zero, one, zero, -sy, zero, cy], -1).reshape(-1, 3, 3)
    rx = torch.stack([one, zero, zero, zero, cp, -sp, zero, sp, cp], -1).reshape(-1, 3, 3)
    rz = torch.stack([cr, -sr, zero, sr, cr, zero, zero, zero, one], -1).reshape(-1, 3, 3)
    return ry @ rx @ rz


def apply_pose_torch(vertices: torch.Tensor, pose: torch.Tensor) -> torch.Tensor:
    """Differentiable posed vertices (B, N, 3) in mm from vertices (B, N, 3) and poses (B, 6)."""
    rot = rotation_matrix_torch(pose[:, :3])
    return vertices @ rot.transpose(1, 2) + pose[:, None, 3:]
