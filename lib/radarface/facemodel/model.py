"""The linear morphable face model shared by every source (builtin, ICT-FaceKit, BFM 2019).

Convention (DESIGN §3, §4): vertices in mm in the model frame (x across the face towards
the subject's left, y up, z out of the face, nose tip at the largest z, origin near the
head centre). A face is

    vertices = mean + shape_basis · α + expression_basis · γ,   α, γ ~ N(0, I),

the bases already scaled by their standard deviations, so coefficients are in standard
deviations. ``mean`` is the complete mean face; ``expression_mean`` records the part of it
that comes from the expression model (the BFM file keeps the two means apart).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .pca import pca_basis
from .statismo import write_bfm

#: Resolution (mm) at which :meth:`MorphableModel.content_hash` compares vertex positions and bases:
#: ten orders of magnitude above the differences between machines, far below any change of shape.
HASH_QUANTUM_MM: float = 1e-4

__all__ = ["MorphableModel", "check_coefficients", "check_plausible", "pca_basis", "FACE_SIZE_MM"]


@dataclass(eq=False, repr=False)
class MorphableModel:
    """A linear face model: mean (N, 3) mm plus shape and expression bases scaled to N(0, 1).

    Attributes:
        name: short label (``"builtin"``, ``"ict-facekit"``, the HDF5 file stem, ...).
        source: where it came from (``"builtin"``, ``"ict:/path"``, ``"bfm:/path"``).
        mean: (N, 3) float64, mm; the face for all-zero coefficients.
        shape_basis: (N, 3, Ks) float64, mm per standard deviation.
        expression_basis: (N, 3, Ke) float64, mm per standard deviation.
        triangles: (M, 3) int64 vertex indices, counter-clockwise seen from outside.
        face_mask: (N,) bool, the face region used for metrics (no outer rim).
        landmarks: name -> vertex index, or None where the source has none.
        expression_mean: (N, 3) float64, the part of ``mean`` due to expressions (zeros
            when the expression model is centred on the neutral face).

    Arrays are validated (errors start with ``source``, so they name the file), converted
    to the dtypes above and made read-only; a model that would make useless data (a dead
    mode, a mean face not in millimetres) is refused (:func:`check_plausible`).
    """

    name: str
    source: str
    mean: np.ndarray
    shape_basis: np.ndarray
    expression_basis: np.ndarray
    triangles: np.ndarray
    face_mask: np.ndarray
    landmarks: dict[str, int] | None = None
    expression_mean: np.ndarray | None = None
    _torch_cache: dict = field(default_factory=dict, init=False, repr=False)
    _hash: str | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        try:
            self._validate()
        except ValueError as err:
            raise ValueError(f"face model {self.source}: {err}") from None
        check_plausible(self)

    def _validate(self) -> None:
        self.mean = _frozen(np.asarray(self.mean, dtype=np.float64))
        if self.mean.ndim != 2 or self.mean.shape[1] != 3:
            raise ValueError(f"mean must have shape (N, 3), got {self.mean.shape}")
        n = self.mean.shape[0]
        for attr in ("shape_basis", "expression_basis"):
            basis = np.ascontiguousarray(getattr(self, attr), dtype=np.float64)
            if basis.ndim != 3 or basis.shape[:2] != (n, 3):
                raise ValueError(f"{attr} must have shape ({n}, 3, K), got {basis.shape}")
            if not np.all(np.isfinite(basis)):
                raise ValueError(f"{attr} contains NaN or infinite values")
            setattr(self, attr, _frozen(basis))
        if not np.all(np.isfinite(self.mean)):
            raise ValueError("mean contains NaN or infinite values")
        if self.expression_mean is None:
            self.expression_mean = np.zeros((n, 3))
        self.expression_mean = _frozen(np.asarray(self.expression_mean, dtype=np.float64))
        if self.expression_mean.shape != (n, 3):
            raise ValueError(f"expression_mean must have shape ({n}, 3), got {self.expression_mean.shape}")
        tri = np.asarray(self.triangles)
        if tri.ndim != 2 or tri.shape[1] != 3 or not np.issubdtype(tri.dtype, np.integer):
            raise ValueError(f"triangles must be integer indices of shape (M, 3), got {tri.shape} {tri.dtype}")
        if tri.size and (tri.min() < 0 or tri.max() >= n):
            raise ValueError(f"triangle indices must lie in [0, {n}), got [{tri.min()}, {tri.max()}]")
        self.triangles = _frozen(tri.astype(np.int64))
        mask = np.asarray(self.face_mask)
        if mask.shape != (n,):
            raise ValueError(f"face_mask must have shape ({n},), got {mask.shape}")
        self.face_mask = _frozen(mask.astype(bool))
        if self.landmarks is not None:
            landmarks = {str(k): int(v) for k, v in self.landmarks.items()}
            bad = {k: v for k, v in landmarks.items() if not 0 <= v < n}
            if bad:
                raise ValueError(f"landmark indices must lie in [0, {n}), got {bad}")
            self.landmarks = landmarks

    # ------------------------------------------------------------------ sizes
    @property
    def n_vertices(self) -> int:
        """Number of vertices N."""
        return self.mean.shape[0]

    @property
    def n_shape(self) -> int:
        """Number of shape (identity) coefficients Ks."""
        return self.shape_basis.shape[2]

    @property
    def n_expression(self) -> int:
        """Number of expression coefficients Ke."""
        return self.expression_basis.shape[2]

    # ---------------------------------------------------------------- numpy
    def vertices(self, shape: np.ndarray | None = None,
                 expression: np.ndarray | None = None) -> np.ndarray:
        """Face vertices in mm: (N, 3) for coefficient vectors (Ks,), (Ke,); (B, N, 3) for (B, K).

        ``None`` means all zeros. A vector combined with a batch is used for every row.
        Coefficients are in standard deviations.

        >>> from radarface.facemodel import load_model
        >>> m = load_model("builtin", n_shape=2, n_expression=1)
        >>> m.vertices([1.0, 0.0], [0.5]).shape, m.vertices(np.zeros((4, 2))).shape[0]
        ((4735, 3), 4)
        """
        s = check_coefficients(shape, self.n_shape, "shape")
        e = check_coefficients(expression, self.n_expression, "expression")
        batch = _batch_size(s, e)
        n = self.n_vertices
        flat = self.mean.reshape(1, 3 * n)
        if s is not None and self.n_shape:
            flat = flat + np.atleast_2d(s) @ self.shape_basis.reshape(3 * n, -1).T
        if e is not None and self.n_expression:
            flat = flat + np.atleast_2d(e) @ self.expression_basis.reshape(3 * n, -1).T
        if batch is None:
            return flat.reshape(n, 3).copy()
        return np.broadcast_to(flat, (batch, 3 * n)).reshape(batch, n, 3).copy()

    # ---------------------------------------------------------------- torch
    def vertices_torch(self, shape: torch.Tensor | None = None,
                       expression: torch.Tensor | None = None) -> torch.Tensor:
        """Differentiable face vertices in mm: (B, N, 3) for (B, Ks), (B, Ke); (N, 3) for vectors.

        dtype and device follow the coefficients (float32 on the CPU when both are None);
        the bases are converted once per dtype/device and cached.
        """
        ref = shape if isinstance(shape, torch.Tensor) else expression
        dtype = ref.dtype if isinstance(ref, torch.Tensor) and ref.is_floating_point() else torch.float32
        device = ref.device if isinstance(ref, torch.Tensor) else torch.device("cpu")
        s = _check_coefficients_torch(shape, self.n_shape, "shape", dtype, device)
        e = _check_coefficients_torch(expression, self.n_expression, "expression", dtype, device)
        sizes = {int(t.shape[0]) for t in (s, e) if t is not None and t.ndim == 2}
        if len(sizes) > 1:
            raise ValueError(f"shape and expression batch sizes differ: {sorted(sizes)}")
        mean, b_shape, b_expr = self._torch_bases(dtype, device)
        n = self.n_vertices
        flat = mean.reshape(1, 3 * n)
        if s is not None and self.n_shape:
            flat = flat + torch.atleast_2d(s) @ b_shape
        if e is not None and self.n_expression:
            flat = flat + torch.atleast_2d(e) @ b_expr
        if not sizes:
            return flat.reshape(n, 3)
        return flat.expand(sizes.pop(), 3 * n).reshape(-1, n, 3)

    def _torch_bases(self, dtype: torch.dtype, device: torch.device):
        key = (dtype, str(device))
        if key not in self._torch_cache:
            n = self.n_vertices
            as_t = lambda a: torch.tensor(np.ascontiguousarray(a), dtype=dtype, device=device)  # noqa: E731
            self._torch_cache[key] = (
                as_t(self.mean.reshape(3 * n)),
                as_t(self.shape_basis.reshape(3 * n, -1).T),  # (Ks, 3N)
                as_t(self.expression_basis.reshape(3 * n, -1).T),
            )
        return self._torch_cache[key]

    def __getstate__(self) -> dict:
        # DataLoader workers pickle the model; cached device tensors need not travel.
        state = self.__dict__.copy()
        state["_torch_cache"] = {}
        return state

    # ------------------------------------------------------------ identity
    def content_hash(self) -> str:
        """sha256 hex digest of the model's arrays (mean, bases, triangles, mask, landmarks).

        Float arrays (mm) are hashed rounded to :data:`HASH_QUANTUM_MM`. Models computed from
        files (ICT's principal directions) differ by about 1e-14 mm between BLAS builds and
        thread counts; rounded to float32, one of a few hundred thousand values still lands on
        the other side of a rounding step often enough to change the hash (1 vs 2 threads did).
        """
        if self._hash is None:
            h = hashlib.sha256()
            for arr in (self.mean, self.expression_mean, self.shape_basis, self.expression_basis):
                h.update(repr(arr.shape).encode())
                h.update(np.rint(np.asarray(arr, dtype=np.float64) / HASH_QUANTUM_MM).astype("<i8").tobytes())
            h.update(np.ascontiguousarray(self.triangles, dtype="<i8").tobytes())
            h.update(np.packbits(self.face_mask).tobytes())
            h.update(json.dumps(self.landmarks, sort_keys=True).encode())
            self._hash = h.hexdigest()
        return self._hash

    def summary(self) -> str:
        """One line: name, source, vertex and mode counts, extents of the mean face in mm."""
        ext = self.mean.max(axis=0) - self.mean.min(axis=0)
        return (f"{self.name} ({self.source}): {self.n_vertices} vertices, "
                f"{len(self.triangles)} triangles, {self.n_shape} shape + "
                f"{self.n_expression} expression modes, mean face "
                f"{ext[0]:.0f} x {ext[1]:.0f} x {ext[2]:.0f} mm (x, y, z)")

    def __repr__(self) -> str:
        return f"MorphableModel<{self.summary()}>"

    # ------------------------------------------------------------------ io
    def save_h5(self, path: str | Path) -> Path:
        """Write the model in the BFM 2019 (statismo 0.9) HDF5 layout; returns the path.

        Bases are stored as orthonormal columns and variances. The builtin and ICT bases
        are orthogonal already, so a reload gives identical vertices for identical
        coefficients (to float32 precision). A basis with non-orthogonal columns is
        re-decomposed by SVD first: the distribution of faces (mean and covariance) is
        kept, but coefficient k then means a different direction than before.
        """
        return write_bfm(self, path)


# ------------------------------------------------------------------ checks
#: Plausible size (mm) of a face model's mean mesh along its largest axis: a face with some head around it.
FACE_SIZE_MM: tuple[float, float] = (80.0, 600.0)


def check_size_mm(vertices: np.ndarray, source: str) -> None:
    """Refuse a mean mesh (N, 3) whose size is not that of a head in millimetres (e.g. a model stored in metres)."""
    size = float(np.ptp(vertices, axis=0).max()) if len(vertices) else 0.0
    low, high = FACE_SIZE_MM
    if not low <= size <= high:
        hint = " It looks like metres: scale it by 1000." if 0.08 <= size <= 0.6 else ""
        raise ValueError(f"face model {source}: the mean face is {size:.4g} units across; a face model must be in "
                         f"millimetres ({low:g}–{high:g} mm across).{hint}")


def check_dead_modes(basis: np.ndarray, what: str, source: str) -> None:
    """Refuse a basis (N, 3, K) with an all-zero column: a mode of zero (or negative, clipped) variance."""
    norms = np.sqrt((basis ** 2).sum(axis=(0, 1)))
    dead = np.flatnonzero(~(norms > 0))
    if dead.size:
        k = int(dead[0])
        raise ValueError(f"face model {source}: {what} mode {k} is zero everywhere (variance 0 or negative); "
                         f"the source has only {k} independent {what} modes, so ask for at most {k}")


def check_plausible(model: MorphableModel) -> None:
    """Refuse a model that would make useless data: a dead shape or expression mode, or a mean face not in mm."""
    check_dead_modes(model.shape_basis, "shape", model.source)
    check_dead_modes(model.expression_basis, "expression", model.source)
    check_size_mm(model.mean, model.source)


# ------------------------------------------------------------------ helpers
def _frozen(arr: np.ndarray) -> np.ndarray:
    arr = np.array(arr, copy=True, order="C")
    arr.setflags(write=False)
    return arr


def check_coefficients(values, k: int, what: str) -> np.ndarray | None:
    """``values`` as float64 coefficients (k,) or (B, k) in standard deviations, or None; a clear error otherwise."""
    if values is None:
        return None
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim not in (1, 2):
        raise ValueError(f"{what} must be a vector ({k},) or a batch (B, {k}), got shape {arr.shape}")
    if arr.shape[-1] != k:
        raise ValueError(f"{what} must have {k} coefficients, got {arr.shape[-1]}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{what} coefficients contain NaN or infinite values")
    return arr


def _batch_size(*arrays: np.ndarray | None) -> int | None:
    sizes = {a.shape[0] for a in arrays if a is not None and a.ndim == 2}
    if len(sizes) > 1:
        raise ValueError(f"shape and expression batch sizes differ: {sorted(sizes)}")
    return sizes.pop() if sizes else None


def _check_coefficients_torch(values, k: int, what: str, dtype: torch.dtype,
                              device: torch.device) -> torch.Tensor | None:
    if values is None:
        return None
    t = torch.as_tensor(values, dtype=dtype, device=device)
    if t.ndim not in (1, 2):
        raise ValueError(f"{what} must be a vector ({k},) or a batch (B, {k}), got shape {tuple(t.shape)}")
    if t.shape[-1] != k:
        raise ValueError(f"{what} must have {k} coefficients, got {t.shape[-1]}")
    # A finiteness check inside autograd would force a device sync every step: skip it there.
    if not t.requires_grad and not bool(torch.isfinite(t).all()):
        raise ValueError(f"{what} coefficients contain NaN or infinite values")
    return t
