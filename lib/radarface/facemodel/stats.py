"""Descriptive numbers of a face model: components available, mode sizes, face extents."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from .bfm import find_bfm_file
from .builtin import _full_builtin
from .ict import _expression_names, _identity_files, find_ict_folder
from .model import MorphableModel


def available_components(source: str | Path) -> tuple[int, int]:
    """How many (shape, expression) modes ``source`` offers (same sources as ``load_model``)."""
    text = str(source)
    if text == "builtin":
        _, shape_basis, expression_basis, *_ = _full_builtin()
        return shape_basis.shape[2], expression_basis.shape[2]
    if text == "auto":
        bfm = find_bfm_file()
        if bfm is not None:
            return available_components(bfm)
        try:
            find_ict_folder()
        except FileNotFoundError:
            return available_components("builtin")
        return available_components("ict")
    if text == "ict" or text.startswith("ict:") or Path(text).is_dir():
        folder = find_ict_folder(None if text == "ict" else text.removeprefix("ict:"))
        return len(_identity_files(folder)), len(_expression_names(folder)[0])
    path = Path(text.removeprefix("bfm:")).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"face model source {text!r} not found")
    with h5py.File(path, "r") as f:
        n_expr = f["/expression/model/pcaBasis"].shape[1] if "/expression/model/pcaBasis" in f else 0
        return f["/shape/model/pcaBasis"].shape[1], n_expr


def mode_rms_mm(basis: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """RMS vertex displacement (K,) in mm of each mode at +1σ; basis (N, 3, K), optional mask (N,)."""
    b = np.asarray(basis) if mask is None else np.asarray(basis)[np.asarray(mask, dtype=bool)]
    return np.sqrt((b ** 2).sum(axis=1).mean(axis=0))


def extent_statistics(model: MorphableModel, n: int, rng: np.random.Generator,
                      *, quantiles: tuple[float, float, float] = (0.05, 0.5, 0.95)) -> dict[str, tuple]:
    """Width (x), height (y) and depth (z) quantiles in mm of ``n`` random N(0, 1) faces."""
    verts = model.vertices(rng.standard_normal((n, model.n_shape)), rng.standard_normal((n, model.n_expression)))
    extents = verts.max(axis=1) - verts.min(axis=1)  # (n, 3)
    return {axis: tuple(float(q) for q in np.quantile(extents[:, i], quantiles))
            for i, axis in enumerate(("width x", "height y", "depth z"))}


def variance_share(basis: np.ndarray, n_modes: int) -> float:
    """Share in [0, 1] of the variance of ``basis`` (N, 3, K), mm per σ, that its first ``n_modes`` modes carry.

    The coefficients are N(0, 1), so mode k contributes the sum of its squared displacements.

    >>> basis = np.zeros((1, 3, 3)); basis[0, 0] = [2.0, 1.0, 1.0]
    >>> round(variance_share(basis, 1), 3)  # 4 of 4 + 1 + 1
    0.667
    """
    b = np.asarray(basis)
    if b.ndim != 3 or b.shape[1] != 3:
        raise ValueError(f"basis must have shape (N, 3, K), got {b.shape}")
    if not 0 <= n_modes <= b.shape[2]:
        raise ValueError(f"n_modes must lie in 0..{b.shape[2]} (the modes the basis holds), got {n_modes}")
    var = (b ** 2).sum(axis=(0, 1))
    return float(var[:n_modes].sum() / var.sum())
