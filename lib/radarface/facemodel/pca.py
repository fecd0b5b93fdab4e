"""Principal directions of a set of modes, as the face models store them (bases scaled by standard deviations)."""

from __future__ import annotations

import numpy as np


def pca_basis(deltas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Principal directions of ``deltas`` (3N, K): returns basis (N, 3, K) scaled by std, variances (K,) mm².

    ``deltas`` holds one mode per column with coefficients ~ N(0, 1), so the covariance is
    ``deltas @ deltas.T``; the result spans the same subspace with the same covariance,
    with orthogonal columns sorted by decreasing variance. Signs are fixed (each direction
    has a positive dot product with a fixed pseudo-random vector; a largest-entry rule
    would tie on mirror-symmetric faces) so the result does not depend on the LAPACK build.
    Computed from the small K × K Gram matrix: the basis is ``deltas @ V`` exactly, and
    this is 10-50x faster than a thin SVD of the tall matrix on a busy 2-core machine.
    """
    deltas = np.asarray(deltas, dtype=np.float64)
    k = deltas.shape[1]
    if k == 0:
        return np.zeros((deltas.shape[0] // 3, 3, 0)), np.zeros(0)
    variance, v = np.linalg.eigh(deltas.T @ deltas)
    variance, v = np.clip(variance[::-1], 0.0, None), v[:, ::-1]
    basis = deltas @ v
    probe = np.random.default_rng(0).standard_normal(deltas.shape[0])
    basis *= np.where(probe @ basis < 0, -1.0, 1.0)
    return basis.reshape(-1, 3, k), variance


def orthonormal_columns(basis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Orthonormal directions (3N, K) and variances (K,) mm² with U·diag(var)·Uᵀ = B·Bᵀ for B (N, 3, K).

    Columns already orthogonal are kept in place (coefficient k keeps its meaning);
    otherwise the subspace is re-decomposed by SVD (same covariance, new directions).
    """
    flat = basis.reshape(basis.shape[0] * 3, basis.shape[2])
    norms = np.linalg.norm(flat, axis=0)
    if flat.shape[1] == 0:
        return flat.copy(), norms**2
    unit = flat / np.where(norms > 0, norms, 1.0)
    if np.all(norms > 0) and np.abs(unit.T @ unit - np.eye(flat.shape[1])).max() < 1e-8:
        return unit, norms**2
    scaled, variance = pca_basis(flat)
    return scaled.reshape(flat.shape) / np.sqrt(np.where(variance > 0, variance, 1.0)), variance
