"""Morphable face models (DESIGN §4): one class, three sources, one file format.

- :class:`MorphableModel`: mean (N, 3) mm, shape and expression bases scaled to N(0, 1)
  coefficients, triangles, face-region mask, landmarks; ``vertices``, ``vertices_torch``,
  ``save_h5`` (BFM 2019 layout), ``content_hash``, ``summary``.
- :func:`load_model`: ``"builtin"`` (no files), ``"ict"`` (ICT-FaceKit folder), a BFM 2019
  HDF5 path, or ``"auto"`` (BFM if present, else ICT, else builtin).

Modules: ``model`` (the class and its plausibility checks), ``builtin``, ``ict``, ``bfm``
(reader), ``statismo`` (writer of the same layout), ``pca``, ``stats`` (components
available, mode sizes, extents).
"""

from __future__ import annotations

import operator
import os
from pathlib import Path

from .bfm import find_bfm_file, read_bfm, write_bfm
from .builtin import builtin_model
from .ict import default_ict_dir, find_ict_folder, load_ict
from .model import MorphableModel
from .pca import pca_basis
from .stats import available_components, extent_statistics, mode_rms_mm

__all__ = ["MorphableModel", "load_model", "builtin_model", "load_ict", "read_bfm",
           "write_bfm", "find_bfm_file", "default_ict_dir", "pca_basis", "available_components",
           "extent_statistics", "mode_rms_mm"]

SOURCES = ('"builtin"', '"ict"', '"auto"', "a BFM 2019 .h5 file path", "an ICT-FaceKit folder path",
           '"ict:<folder>"', '"bfm:<file>"')


def _count(value, what: str) -> int:
    try:
        if isinstance(value, bool):
            raise TypeError
        count = operator.index(value)
    except TypeError:
        raise ValueError(f"{what} must be an integer >= 0, got {value!r}") from None
    if count < 0:
        raise ValueError(f"{what} must be an integer >= 0, got {count}")
    return count


def _auto(n_shape: int, n_expression: int) -> MorphableModel:
    bfm = find_bfm_file()
    if bfm is not None:
        print(f"load_model('auto'): BFM 2019 file {bfm} (found via $RADARFACE_BFM or data_dir())")
        return read_bfm(bfm, n_shape, n_expression)
    try:
        folder = find_ict_folder()
    except FileNotFoundError:
        print("load_model('auto'): builtin model (no BFM 2019 file in data_dir() or "
              f"$RADARFACE_BFM, no ICT-FaceKit folder at {default_ict_dir()})")
        return builtin_model(n_shape, n_expression)
    print(f"load_model('auto'): ICT-FaceKit from {folder} (no BFM 2019 file in data_dir() "
          "or $RADARFACE_BFM)")
    return load_ict(folder, n_shape, n_expression)


def load_model(source: str | Path = "builtin", n_shape: int = 10, n_expression: int = 7) -> MorphableModel:
    """The face model named by ``source`` with ``n_shape`` identity and ``n_expression`` expression modes.

    ``source``: ``"builtin"``; ``"ict"`` (folder from ``$RADARFACE_ICT_DIR`` or
    ``<repo>/../shared/ict-facekit``); a path to an ICT-FaceKit folder (containing
    ``FaceXModel/`` or being it); a path to a BFM 2019 HDF5 file; ``"auto"`` (a
    ``model2019*.h5`` in ``data_dir()`` or ``$RADARFACE_BFM``, else ICT, else builtin; prints
    its choice); or a model's own ``source`` string (``"ict:<folder>"``, ``"bfm:<file>"``).

    >>> m = load_model("builtin")
    >>> m.n_vertices, m.n_shape, m.n_expression
    (4735, 10, 7)
    >>> m.vertices().shape, m.vertices(shape=[[0.0] * 10] * 3).shape
    ((4735, 3), (3, 4735, 3))
    >>> load_model("builtin", n_shape=99)
    Traceback (most recent call last):
    ...
    ValueError: the builtin model has 30 identity modes, 99 requested
    """
    n_shape = _count(n_shape, "n_shape")
    n_expression = _count(n_expression, "n_expression")
    if isinstance(source, str):
        if source == "builtin":
            return builtin_model(n_shape, n_expression)
        if source == "ict":
            return load_ict(None, n_shape, n_expression)
        if source == "auto":
            return _auto(n_shape, n_expression)
        if source.startswith("ict:"):
            return load_ict(source[4:], n_shape, n_expression)
        if source.startswith("bfm:"):
            return read_bfm(source[4:], n_shape, n_expression)
    if not isinstance(source, (str, os.PathLike)):
        raise ValueError(f"source must be a string or path, got {type(source).__name__}; "
                         f"valid sources: {', '.join(SOURCES)}")
    path = Path(source).expanduser()
    if path.is_dir():
        return load_ict(path, n_shape, n_expression)
    if path.is_file() or path.suffix.lower() in (".h5", ".hdf5"):
        return read_bfm(path, n_shape, n_expression)  # a missing .h5 raises FileNotFoundError there
    if isinstance(source, os.PathLike) or os.sep in str(source):
        raise FileNotFoundError(f"face model source {str(source)!r} is neither a file nor a folder; "
                                f"valid sources: {', '.join(SOURCES)}")
    raise ValueError(f"unknown face model source {str(source)!r}; valid sources: {', '.join(SOURCES)}")
