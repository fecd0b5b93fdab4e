"""Basel Face Model 2019 files (statismo/scalismo HDF5 layout): reader and writer.

Layout (DESIGN §4), for each of ``/shape`` and ``/expression``:
``model/mean`` (3N,) f32 xyz interleaved; ``model/pcaBasis`` (3N, K) f32 orthonormal
columns (format 0.9; format 0.8 stores U·sqrt(variance)); ``model/pcaVariance`` (K,)
f32 in mm²; ``model/noiseVariance`` (1,); ``representer/points`` (3, N) f32;
``representer/cells`` (3, M) int32. Also ``/version/{majorVersion,minorVersion}``,
``/metadata/landmarks/json``. A face is
``mean_shape + mean_expr + B_s·(sqrt(var_s)·α) + B_e·(sqrt(var_e)·γ)``; BFM files are in mm.

Files written by :func:`write_bfm` (in :mod:`.statismo`) add ``/radarface/face_mask`` (N,)
uint8, which the reader picks up (other files: every vertex is in the face region).
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import h5py
import numpy as np

from ..paths import data_dir
from .model import MorphableModel
from .statismo import write_bfm

__all__ = ["read_bfm", "write_bfm", "find_bfm_file"]


def _dataset(f: h5py.File, key: str, path: Path) -> h5py.Dataset:
    obj = f.get(key)
    if not isinstance(obj, h5py.Dataset):
        raise ValueError(f"{path}: missing dataset {key} (not a BFM 2019 / statismo model file?)")
    return obj


def _read_part(f: h5py.File, part: str, n: int, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Mean (N, 3) and the first ``n`` scaled basis columns (N, 3, n) of ``/shape`` or ``/expression``."""
    key = f"/{part}/model"
    mean = np.asarray(_dataset(f, f"{key}/mean", path)[()], dtype=np.float64).reshape(-1)
    basis_ds = _dataset(f, f"{key}/pcaBasis", path)
    variance = np.asarray(_dataset(f, f"{key}/pcaVariance", path)[()], dtype=np.float64).reshape(-1)
    if mean.size % 3:
        raise ValueError(f"{path}: {key}/mean has {mean.size} values, not a multiple of 3 (x, y, z)")
    if basis_ds.ndim != 2 or basis_ds.shape[0] != mean.size:
        raise ValueError(f"{path}: {key}/pcaBasis has shape {basis_ds.shape}, expected "
                         f"({mean.size}, K) to match {key}/mean")
    k = basis_ds.shape[1]
    if variance.size != k:
        raise ValueError(f"{path}: {key}/pcaVariance has {variance.size} values, "
                         f"{key}/pcaBasis has {k} columns")
    if n > k:
        raise ValueError(f"{path}: file has {k} {part} components, {n} requested")
    basis = np.asarray(basis_ds[:, :n], dtype=np.float64)
    for name, values in (("mean", mean), ("pcaBasis", basis), ("pcaVariance", variance[:n])):
        if not np.all(np.isfinite(values)):
            raise ValueError(f"{path}: {key}/{name} contains NaN or infinite values; the file is damaged")
    if n and not np.all(variance[:n] > 0):
        k_bad = int(np.flatnonzero(~(variance[:n] > 0))[0])
        raise ValueError(f"{path}: {key}/pcaVariance[{k_bad}] is {variance[k_bad]:g}; every variance of the "
                         f"{n} components used must be positive (mm²), or the mode is dead")
    # Format 0.8 stores U·sqrt(variance); unit columns give U for both 0.8 and 0.9.
    norms = np.linalg.norm(basis, axis=0)
    if n and not np.all(norms > 0):
        raise ValueError(f"{path}: {key}/pcaBasis column {int(np.flatnonzero(norms == 0)[0])} is all zeros; "
                         f"every basis column used must be a direction")
    basis = basis / np.where(norms > 0, norms, 1.0)
    scaled = basis * np.sqrt(np.clip(variance[:n], 0.0, None))
    return mean.reshape(-1, 3), scaled.reshape(mean.size // 3, 3, n)


def _read_landmarks(f: h5py.File, reference: np.ndarray, path: Path) -> dict[str, int] | None:
    ds = f.get("/metadata/landmarks/json")
    if not isinstance(ds, h5py.Dataset):
        return None
    raw = ds[()]
    raw = raw.reshape(-1)[0] if isinstance(raw, np.ndarray) else raw
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    try:
        data = json.loads(text)
        if isinstance(data, dict):
            return {str(k): int(v) for k, v in data.items()}
        out = {}
        for item in data:
            if "index" in item:
                out[str(item["id"])] = int(item["index"])
            else:
                d = np.sum((reference - np.asarray(item["coordinates"], dtype=float)) ** 2, axis=1)
                out[str(item["id"])] = int(np.argmin(d))
        return out or None
    except (ValueError, TypeError, KeyError) as err:
        warnings.warn(f"{path}: ignoring unreadable /metadata/landmarks/json ({err})", stacklevel=3)
        return None


def find_bfm_file() -> Path | None:
    """A BFM 2019 file: ``$RADARFACE_BFM`` if it exists, else ``data_dir()/model2019*.h5``, else None."""
    env = os.environ.get("RADARFACE_BFM")
    if env and Path(env).expanduser().is_file():
        return Path(env).expanduser()
    found = sorted(data_dir().glob("model2019*.h5"))
    return found[0] if found else None


def read_bfm(path: str | Path, n_shape: int = 10, n_expression: int = 7) -> MorphableModel:
    """A BFM 2019 / statismo HDF5 model in mm with the first ``n_shape`` and ``n_expression`` components."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"BFM model file not found: {path}")
    if not h5py.is_hdf5(path):
        raise ValueError(f"{path} is not an HDF5 file; expected a BFM 2019 model such as "
                         "model2019_face12.h5 (statismo layout)")
    with h5py.File(path, "r") as f:
        mean, shape_basis = _read_part(f, "shape", n_shape, path)
        n = len(mean)
        if "expression" in f:
            expression_mean, expression_basis = _read_part(f, "expression", n_expression, path)
            if len(expression_mean) != n:
                raise ValueError(f"{path}: /expression has {len(expression_mean)} vertices, "
                                 f"/shape has {n}")
        elif n_expression:
            raise ValueError(f"{path} has no /expression model, {n_expression} expression "
                             "components requested; pass n_expression=0")
        else:
            expression_mean, expression_basis = np.zeros((n, 3)), np.zeros((n, 3, 0))
        cells = np.asarray(_dataset(f, "/shape/representer/cells", path)[()])
        if cells.ndim != 2 or 3 not in cells.shape:
            raise ValueError(f"{path}: /shape/representer/cells has shape {cells.shape}, expected (3, M)")
        triangles = (cells.T if cells.shape[0] == 3 else cells).astype(np.int64)
        if triangles.size and (triangles.min() < 0 or triangles.max() >= n):
            raise ValueError(f"{path}: /shape/representer/cells refers to vertices "
                             f"[{triangles.min()}, {triangles.max()}], the model has {n}")
        points = f.get("/shape/representer/points")
        reference = mean
        if isinstance(points, h5py.Dataset) and points.shape == (3, n):
            reference = np.asarray(points[()], dtype=np.float64).T
        mask = np.ones(n, dtype=bool)
        if isinstance(f.get("/radarface/face_mask"), h5py.Dataset):
            mask = np.asarray(f["/radarface/face_mask"][()]).astype(bool).reshape(-1)
            if mask.shape != (n,):
                raise ValueError(f"{path}: /radarface/face_mask has {mask.size} values, the model has {n} vertices")
        landmarks = _read_landmarks(f, reference, path)
    return MorphableModel(
        name=path.stem, source=f"bfm:{path.resolve()}", mean=mean + expression_mean,
        shape_basis=shape_basis, expression_basis=expression_basis, triangles=triangles,
        face_mask=mask, landmarks=landmarks, expression_mean=expression_mean)
