"""Reading and writing measurement files: HDF5 to and from a flat mapping, :func:`read`, :func:`write`, :func:`write_raw`.

A file is handled as a flat mapping ``{"/group/dataset": array, "/group@attribute": value}``
(:func:`read_flat`, :func:`write_flat`), checked against the layout of
:mod:`~radarface.measurements.schema` (:mod:`~radarface.measurements.checks`) on the way in and on the way out. Writes are atomic: a
temporary file, ``complete`` set last, a rename; a crash leaves no file that looks complete.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from radarface.measurements import raw
from radarface.measurements.captures import Captures, MeasurementFormatError
from radarface.measurements.checks import validate
from radarface.measurements.schema import FORMAT_NAME, FORMAT_VERSIONS
from radarface.radar.config import RadarConfig


class _MissingFile(MeasurementFormatError, FileNotFoundError):
    """A missing file: a MeasurementFormatError that ``except FileNotFoundError`` also catches."""


# ----------------------------------------------------------------------------- reading
def _decode(value: Any) -> Any:
    """An HDF5 attribute as a Python value (bytes to str, JSON objects and lists decoded)."""
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return value
    if isinstance(value, np.generic):
        return value.item()
    return value


def _read_flat(h5: h5py.File) -> dict[str, Any]:
    """Every dataset and attribute of an open file as ``{"/path": array, "/path@attr": value}``."""
    flat: dict[str, Any] = {f"/@{k}": _decode(v) for k, v in h5.attrs.items()}

    def visit(name: str, obj: Any) -> None:
        path = "/" + name
        for key, value in obj.attrs.items():
            flat[f"{path}@{key}"] = _decode(value)
        if isinstance(obj, h5py.Dataset):
            flat[path] = obj.asstr()[()] if h5py.check_string_dtype(obj.dtype) else obj[()]

    h5.visititems(visit)
    return flat


def read_flat(path: str | Path) -> dict[str, Any]:
    """Every dataset and attribute of the HDF5 file ``path`` as a flat mapping (see :func:`~radarface.measurements.checks.validate`).

    Raises :class:`MeasurementFormatError` for a missing, non-HDF5 or unreadable file.
    """
    path = Path(path)
    if not path.exists():
        raise _MissingFile(f"measurement file {path} does not exist", None)
    if path.is_dir():
        raise MeasurementFormatError(f"{path} is a folder, expected an HDF5 measurement file")
    if not h5py.is_hdf5(path):
        raise MeasurementFormatError(f"{path} is not an HDF5 file (empty, truncated or another format)")
    try:
        with h5py.File(path, "r") as h5:
            return _read_flat(h5)
    except OSError as err:
        raise MeasurementFormatError(f"{path} cannot be read as HDF5 (truncated or corrupt?): {err}") from None


def read(path: str | Path, *, config: Any = None, **raw_options: Any) -> Captures:
    """The captures of a measurement file as stored (its own grid and dynamic range), validated.

    A raw file (``/raw/signal``) is back-projected onto the internal grid of ``config`` (a
    :class:`~radarface.radar.RadarConfig`; None = library defaults) first; ``raw_options`` go to
    :func:`radarface.measurements.raw.reconstruct_volume` (``progress``, ``nthreads``, ...).
    Raises :class:`MeasurementFormatError` naming the file and the offending HDF5 path.
    """
    source = str(path)
    flat = read_flat(path)
    if not raw.is_raw(flat):
        return validate(flat, source)
    config = RadarConfig() if config is None else config
    captures = raw.raw_from_flat(flat, source)
    out = validate(raw.volume_flat(flat, captures, config, source, **raw_options), source)
    out.radar.update(captures.radar_entries())
    return out


# ----------------------------------------------------------------------------- writing
def to_flat(captures: Captures) -> dict[str, Any]:
    """The flat ``{"/path": array, "/path@attr": value}`` mapping :func:`write` stores."""
    flat: dict[str, Any] = {"/@format": FORMAT_NAME, "/@format_version": FORMAT_VERSIONS[-1],
                            "/@simulated": bool(captures.simulated), "/@complete": True}
    flat.update({f"/@{k}": v for k, v in captures.attrs.items() if v is not None})
    for key, value in captures.radar.items():
        flat[f"/radar/{key}" if isinstance(value, np.ndarray) else f"/radar@{key}"] = value
    flat.update({"/grid/x_mm": np.asarray(captures.x_mm, dtype=np.float64),
                 "/grid/y_mm": np.asarray(captures.y_mm, dtype=np.float64),
                 "/grid@range_window_mm": np.asarray(captures.range_window_mm, dtype=np.float64),
                 "/grid@dynamic_range_db": float(captures.dynamic_range_db),
                 "/captures/amplitude": np.asarray(captures.amplitude, dtype=np.float32),
                 "/captures/depth": np.asarray(captures.depth, dtype=np.float32),
                 "/captures/subject": np.asarray(captures.subject, dtype=object),
                 "/captures/expression": np.asarray(captures.expression, dtype=object)})
    optional = {"/captures/pose": captures.pose, "/ground_truth/vertices": captures.ground_truth_vertices,
                "/ground_truth/triangles": captures.ground_truth_triangles}
    optional.update({f"/ground_truth/{k}": v for k, v in (captures.ground_truth_params or {}).items()})
    flat.update({k: np.asarray(v) for k, v in optional.items() if v is not None})
    if any(v is not None for v in optional.values()) or captures.ground_truth_params:
        flat["/ground_truth@array_z_mm"] = float(captures.array_z_mm)  # the frame of poses and meshes
    return flat


def _encode_attr(value: Any) -> Any:
    """An HDF5-storable attribute: dicts and lists of non-numbers as JSON text."""
    if isinstance(value, dict) or (isinstance(value, (list, tuple)) and
                                   not all(isinstance(v, (int, float)) for v in value)):
        return json.dumps(value, sort_keys=True)
    return value


def write_flat(path: str | Path, flat: dict[str, Any]) -> Path:
    """Write a flat mapping to ``path`` atomically: temporary file, ``complete`` set last, rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    try:
        with h5py.File(tmp, "w") as h5:
            for key, value in flat.items():
                where, _, attr = key.partition("@")
                if attr:
                    if where != "/":
                        h5.require_group(where)
                    h5[where].attrs[attr] = _encode_attr(value)
                    continue
                value = np.asarray(value)
                if value.dtype.kind in "OUS":
                    h5.create_dataset(where, data=value.astype(object), dtype=h5py.string_dtype())
                elif value.ndim >= 3:  # images and meshes: one chunk per capture, compressed
                    h5.create_dataset(where, data=value, chunks=(1, *value.shape[1:]), compression="gzip",
                                      compression_opts=4, shuffle=True)
                else:
                    h5.create_dataset(where, data=value)
            h5.attrs["complete"] = False
            h5.flush()
            h5.attrs["complete"] = True
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write(path: str | Path, captures: Captures) -> Path:
    """Validate ``captures`` and write them to the HDF5 file ``path`` (atomically); returns the path."""
    flat = to_flat(captures)
    validate(flat, f"captures for {path}")
    return write_flat(path, flat)


def write_raw(path: str | Path, signal: np.ndarray, tx_positions_mm: np.ndarray, rx_positions_mm: np.ndarray,
              frequencies_hz: np.ndarray, *, subject: Any, expression: Any, range_mm: float,
              empty_room: np.ndarray | None = None, radar_to_model: np.ndarray | None = None,
              array_z_mm: float | None = None, pose: np.ndarray | None = None,
              ground_truth: dict[str, np.ndarray] | None = None, attrs: dict[str, Any] | None = None,
              simulated: bool = False) -> Path:
    """Write raw captures in the documented layout (validated, atomically); returns the path.

    ``signal`` (N, Nt, Nr, Nf) complex; positions (radar frame, mm); ``frequencies_hz`` (Nf,);
    ``subject``, ``expression`` (N,) labels; ``range_mm`` the nominal distance; ``ground_truth``
    entries as in the format (``vertices``, ``triangles``, ``shape``, ``expression``, ``pose``),
    which, like ``pose``, need ``array_z_mm`` (or ``radar_to_model``).
    """
    flat: dict[str, Any] = {"/@format": FORMAT_NAME, "/@format_version": FORMAT_VERSIONS[-1],
                            "/@simulated": bool(simulated), "/@complete": True, "/radar@range_mm": float(range_mm),
                            "/raw/signal": np.asarray(signal), "/raw/tx_positions_mm": np.asarray(tx_positions_mm, float),
                            "/raw/rx_positions_mm": np.asarray(rx_positions_mm, float),
                            "/raw/frequencies_hz": np.asarray(frequencies_hz, float),
                            "/captures/subject": np.asarray(subject, dtype=object),
                            "/captures/expression": np.asarray(expression, dtype=object)}
    flat.update({f"/@{k}": v for k, v in (attrs or {}).items() if v is not None})
    optional = {"/raw/empty_room": empty_room, "/raw/radar_to_model": radar_to_model, "/captures/pose": pose}
    optional.update({f"/ground_truth/{k}": v for k, v in (ground_truth or {}).items()})
    flat.update({k: np.asarray(v) for k, v in optional.items() if v is not None})
    if array_z_mm is not None:
        flat["/ground_truth@array_z_mm"] = float(array_z_mm)
    raw.raw_from_flat(flat, f"raw captures for {path}")  # every field and rule, nothing reconstructed
    return write_flat(path, flat)
