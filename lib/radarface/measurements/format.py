"""The measurement file format (HDF5, version 1): :class:`Captures` in memory, :func:`read`, :func:`write`.

Layout (``path@name`` is the attribute ``name`` of the group or dataset ``path``; data/README.md
has the full table):

- ``/@format = "radarface-measurements"``, ``/@format_version = 1``, ``/@simulated`` (bool),
  ``/@complete`` (bool, set last), ``/@simulation`` (JSON, simulated files), other attributes free.
- ``/radar@f_start_hz, f_stop_hz, n_freq, aperture_mm, range_mm, n_tx, n_rx``; optional datasets
  ``/radar/tx_positions_mm`` (Nt, 3), ``rx_positions_mm`` (Nr, 3), ``tx_index``, ``rx_index``.
- ``/grid/x_mm`` (W,) ascending, ``/grid/y_mm`` (H,) descending: pixel centres relative to the
  array centre; ``/grid@range_window_mm`` (near, far): distances from the array plane that depth
  1 and 0 stand for; ``/grid@dynamic_range_db``; ``/grid/range_axis_mm`` (Nz,) for volumes.
- ``/captures/amplitude``, ``/captures/depth`` (N, H, W) in [0, 1], or ``/captures/volume``
  (N, H, W, Nz) complex; ``/captures/subject``, ``/captures/expression`` (N,) strings;
  optional ``/captures/pose`` (N, 6).
- or raw channel data: ``/raw/signal`` (N, Nt, Nr, Nf) complex, antenna positions, frequencies,
  optional empty room and radar-to-model transform (:mod:`~radarface.measurements.raw`), which
  :func:`read` back-projects onto a config's grid before the checks below.
- optional ``/ground_truth``: ``vertices`` (N, V, 3) mm, ``triangles`` (M, 3), ``shape`` (N, Ks),
  ``expression`` (N, Ke), ``pose`` (N, 6); ``@array_z_mm`` fixes their model frame.

Frames: the *model frame* of a file is the face model's (x left-right, y up, z out of the face)
with the array plane at ``z = array_z_mm``; a depth ``d`` in [0, 1] is the distance
``far − d·(far − near)`` from the array plane, i.e. ``z = array_z_mm − far + d·(far − near)``.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import h5py
import numpy as np

#: Value of the root attribute ``format``.
FORMAT_NAME: str = "radarface-measurements"
#: Versions of the layout this module reads; it writes the last.
FORMAT_VERSIONS: tuple[int, ...] = (1,)
#: Radar attributes every file has (``/radar@name``).
RADAR_ATTRS: tuple[str, ...] = ("f_start_hz", "f_stop_hz", "n_freq", "aperture_mm", "range_mm", "n_tx", "n_rx")
#: Optional antenna datasets under ``/radar``.
RADAR_ARRAYS: tuple[str, ...] = ("tx_positions_mm", "rx_positions_mm", "tx_index", "rx_index")
#: Ground-truth face parameters (all three or none).
PARAM_NAMES: tuple[str, ...] = ("shape", "expression", "pose")
#: Dynamic range (dB) kept when images are formed from a stored volume without ``/grid@dynamic_range_db``.
VOLUME_DYNAMIC_RANGE_DB: float = 60.0
#: Slack for values meant to lie in [0, 1] (float16 round-off of writers).
_UNIT_SLACK = 1e-3


class MeasurementFormatError(ValueError):
    """A measurement file (or in-memory :class:`Captures`) breaks the format or does not fit the
    training radar; ``field`` is the offending HDF5 path (``/group/dataset`` or ``/group@attribute``)."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


class _MissingFile(MeasurementFormatError, FileNotFoundError):
    """A missing file: a MeasurementFormatError that ``except FileNotFoundError`` also catches."""


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
    ``radar``: the measuring system (:data:`RADAR_ATTRS`, optional antenna arrays, free extras).
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

    def encoder_input(self, inputs: str = "both"):
        """Encoder input (N, C, H, W) float32 torch tensor: ``"amplitude"``, ``"depth"`` (C = 1) or
        ``"both"`` (C = 2, amplitude first, as :class:`radarface.dataset.RadarFaceDataset`)."""
        import torch

        from radarface.dataset.torch_dataset import INPUTS

        if inputs not in INPUTS:
            raise ValueError(f"inputs must be one of {sorted(INPUTS)}, got {inputs!r}")
        stack = np.stack([getattr(self, name) for name in INPUTS[inputs]], axis=1)
        return torch.from_numpy(np.ascontiguousarray(stack, dtype=np.float32))

    def depth_mm(self) -> np.ndarray:
        """Depth (N, H, W) as model-frame z in mm (frame of ``array_z_mm``); NaN on the background."""
        near, far = self.range_window_mm
        z = self.array_z_mm - far + self.depth.astype(np.float64) * (far - near)
        return np.where(self.amplitude > 0, z, np.nan)

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


# ----------------------------------------------------------------------------- checks
def _fail(source: str, field: str, message: str) -> MeasurementFormatError:
    return MeasurementFormatError(f"{source}: {field}: {message}", field)


def _array(flat: dict[str, Any], name: str, source: str, *, ndim: int, kind: str = "float",
           required: bool = True) -> np.ndarray | None:
    """Entry ``name`` of ``flat`` as an array of ``ndim`` dimensions and ``kind``, finite; None if absent."""
    if name not in flat or flat[name] is None:
        if required:
            raise _fail(source, name, "missing (required by the measurement format)")
        return None
    value = np.asarray(flat[name])
    if value.ndim != ndim:
        raise _fail(source, name, f"expected {ndim} dimensions, got shape {value.shape}")
    kinds = {"float": "fiu", "complex": "fiuc", "int": "iu", "str": "OUS"}
    if value.dtype.kind not in kinds[kind]:
        raise _fail(source, name, f"expected {kind} values, got dtype {value.dtype}")
    if kind in ("float", "complex"):
        bad = ~np.isfinite(value)
        if bad.any():
            raise _fail(source, name, f"{int(bad.sum())} of {value.size} values are NaN or infinite "
                                      f"(first at index {tuple(int(i) for i in np.argwhere(bad)[0])})")
    return value


def _number(flat: dict[str, Any], name: str, source: str, *, positive: bool = True,
            required: bool = True) -> float | None:
    """Scalar attribute ``name`` as a finite float (positive unless told otherwise)."""
    if name not in flat or flat[name] is None:
        if required:
            raise _fail(source, name, "missing attribute (required by the measurement format)")
        return None
    try:
        value = float(np.asarray(flat[name]).item())
    except (TypeError, ValueError):
        raise _fail(source, name, f"expected a number, got {flat[name]!r}") from None
    if not math.isfinite(value) or (positive and value <= 0):
        raise _fail(source, name, f"expected a finite {'positive ' if positive else ''}number, got {value}")
    return value


def _uniform_axis(axis: np.ndarray, name: str, source: str, *, ascending: bool) -> None:
    """Refuse an axis that is shorter than 2, not strictly monotonic in the stated sense, or not uniform."""
    steps = np.diff(axis) * (1 if ascending else -1)
    if len(axis) < 2 or not np.all(steps > 0):
        raise _fail(source, name, f"must hold at least 2 strictly {'ascending' if ascending else 'descending'} "
                                  f"values in mm, got {np.round(axis[:4], 3).tolist()}...")
    if not np.allclose(steps, steps[0], rtol=1e-3, atol=1e-6):
        raise _fail(source, name, f"must be uniformly spaced, got steps from {steps.min():g} to {steps.max():g} mm")


def _rows(value: np.ndarray, n: int, name: str, source: str, reference: str) -> None:
    if len(value) != n:
        raise _fail(source, name, f"has {len(value)} captures, but {reference} has {n} (inconsistent capture counts)")


def _unit_interval(value: np.ndarray, name: str, source: str) -> None:
    lo, hi = float(value.min()), float(value.max())
    if lo < -_UNIT_SLACK or hi > 1 + _UNIT_SLACK:
        raise _fail(source, name, f"values must lie in [0, 1], got [{lo:.4g}, {hi:.4g}] "
                                  "(store images as formed by the radar pipeline, not in dB or mm)")


def validate(flat: dict[str, Any], source: str) -> Captures:
    """Check a flat mapping ``{"/group/dataset" or "/group@attr": value}`` against the format and
    build :class:`Captures` (images formed from ``/captures/volume`` if no images are given)."""
    name = flat.get("/@format")
    if name is None:
        raise _fail(source, "/@format", f"missing attribute: not a radarface measurement file "
                                        f"(expected format = {FORMAT_NAME!r})")
    if str(name) != FORMAT_NAME:
        raise _fail(source, "/@format", f"expected {FORMAT_NAME!r}, got {name!r}")
    version = flat.get("/@format_version")
    if version is None:
        raise _fail(source, "/@format_version", "missing attribute")
    if not isinstance(version, (int, np.integer)) or int(version) not in FORMAT_VERSIONS:
        raise _fail(source, "/@format_version", f"unknown format version {version!r}; this library reads "
                                                f"{list(FORMAT_VERSIONS)} (update radarface or convert the file)")
    if not bool(flat.get("/@complete", False)):
        raise _fail(source, "/@complete", "the file is incomplete (its writer did not finish); write it again")
    radar = {key: _number(flat, f"/radar@{key}", source) for key in RADAR_ATTRS}
    if radar["f_stop_hz"] <= radar["f_start_hz"]:
        raise _fail(source, "/radar@f_stop_hz", f"must exceed f_start_hz, got f_start_hz={radar['f_start_hz']:g}, "
                                                f"f_stop_hz={radar['f_stop_hz']:g}")
    for key in ("n_freq", "n_tx", "n_rx"):
        radar[key] = int(radar[key])
    for key in RADAR_ARRAYS:
        value = _array(flat, f"/radar/{key}", source, ndim=2 if key.endswith("_mm") else 1,
                       kind="float" if key.endswith("_mm") else "int", required=False)
        if value is not None:
            if key.endswith("_mm") and value.shape[1] != 3:
                raise _fail(source, f"/radar/{key}", f"expected shape (K, 3) in mm, got {value.shape}")
            radar[key] = value
    radar.update({k[len("/radar@"):]: v for k, v in flat.items()
                  if k.startswith("/radar@") and k[len("/radar@"):] not in radar})

    x = _array(flat, "/grid/x_mm", source, ndim=1)
    y = _array(flat, "/grid/y_mm", source, ndim=1)
    _uniform_axis(x, "/grid/x_mm", source, ascending=True)
    _uniform_axis(y, "/grid/y_mm", source, ascending=False)
    amplitude = _array(flat, "/captures/amplitude", source, ndim=3, required=False)
    if amplitude is None:
        if "/captures/volume" not in flat:
            raise _fail(source, "/captures/amplitude", "missing: a file needs /captures/amplitude and "
                                                       "/captures/depth, or /captures/volume")
        amplitude, depth, window, dr = _images_from_volume(flat, x, y, source)
    else:
        depth = _array(flat, "/captures/depth", source, ndim=3)
        window = _window(flat, source)
        dr = _number(flat, "/grid@dynamic_range_db", source)
        for arr, label in ((amplitude, "/captures/amplitude"), (depth, "/captures/depth")):
            if arr.shape[1:] != (len(y), len(x)):
                raise _fail(source, label, f"images are {arr.shape[1:]}, the grid (len(/grid/y_mm), "
                                           f"len(/grid/x_mm)) is {(len(y), len(x))}")
            _unit_interval(arr, label, source)
        _rows(depth, len(amplitude), "/captures/depth", source, "/captures/amplitude")
    n = len(amplitude)
    if n == 0:
        raise _fail(source, "/captures/amplitude", "holds no captures")
    labels = {}
    for key in ("subject", "expression"):
        label = _array(flat, f"/captures/{key}", source, ndim=1, kind="str")
        _rows(label, n, f"/captures/{key}", source, "/captures/amplitude")
        labels[key] = label.astype(str)
    pose = _array(flat, "/captures/pose", source, ndim=2, required=False)
    if pose is not None:
        _pose_shape(pose, "/captures/pose", n, source)
    truth = _ground_truth(flat, n, source)
    attrs = {k[2:]: v for k, v in flat.items() if k.startswith("/@") and k[2:] not in
             ("format", "format_version", "complete", "simulated")}
    simulated = bool(flat.get("/@simulated", False))
    if simulated and not isinstance(attrs.get("simulation"), dict):
        raise _fail(source, "/@simulation", "a simulated file must say how it was simulated "
                                            "(JSON object: noise, material, calibration errors, ...)")
    # the slack above admits float16 round-off; the captures themselves keep to [0, 1]
    return Captures(amplitude=np.clip(amplitude, 0, 1).astype(np.float32),
                    depth=np.clip(depth, 0, 1).astype(np.float32), subject=labels["subject"],
                    expression=labels["expression"], x_mm=x.astype(np.float64), y_mm=y.astype(np.float64),
                    range_window_mm=window, dynamic_range_db=dr, radar=radar,
                    pose=None if pose is None else pose.astype(np.float64), simulated=simulated, attrs=attrs, **truth)


def _window(flat: dict[str, Any], source: str) -> tuple[float, float]:
    """``/grid@range_window_mm`` (near, far) distances from the array plane, checked."""
    window = _array(flat, "/grid@range_window_mm", source, ndim=1)
    if window.shape != (2,) or not 0 < window[0] < window[1]:
        raise _fail(source, "/grid@range_window_mm", f"expected (near, far) distances from the array plane "
                                                     f"with 0 < near < far (mm), got {window.tolist()}")
    return float(window[0]), float(window[1])


def _pose_shape(pose: np.ndarray, name: str, n: int, source: str) -> None:
    if pose.shape[1] != 6:
        raise _fail(source, name, f"expected shape (N, 6) (yaw, pitch, roll rad; tx, ty, tz mm), got {pose.shape}")
    _rows(pose, n, name, source, "/captures/amplitude")


def _ground_truth(flat: dict[str, Any], n: int, source: str) -> dict[str, Any]:
    """Ground-truth entries of :class:`Captures` (and ``array_z_mm``) from ``/ground_truth``."""
    out: dict[str, Any] = {"array_z_mm": _number(flat, "/ground_truth@array_z_mm", source, positive=False,
                                                 required=False)}
    vertices = _array(flat, "/ground_truth/vertices", source, ndim=3, required=False)
    if vertices is not None:
        if vertices.shape[2] != 3:
            raise _fail(source, "/ground_truth/vertices", f"expected shape (N, V, 3) in mm, got {vertices.shape}")
        _rows(vertices, n, "/ground_truth/vertices", source, "/captures/amplitude")
        out["ground_truth_vertices"] = vertices.astype(np.float32)
    triangles = _array(flat, "/ground_truth/triangles", source, ndim=2, kind="int", required=False)
    if triangles is not None:
        if vertices is None:
            raise _fail(source, "/ground_truth/vertices", "missing, but /ground_truth/triangles is given")
        if triangles.shape[1] != 3 or triangles.min() < 0 or triangles.max() >= vertices.shape[1]:
            raise _fail(source, "/ground_truth/triangles", f"expected (M, 3) indices into {vertices.shape[1]} "
                                                           f"vertices, got shape {triangles.shape}, "
                                                           f"range [{triangles.min()}, {triangles.max()}]")
        out["ground_truth_triangles"] = triangles.astype(np.int64)
    given = [name for name in PARAM_NAMES if f"/ground_truth/{name}" in flat]
    if given:
        missing = [name for name in PARAM_NAMES if name not in given]
        if missing:
            raise _fail(source, f"/ground_truth/{missing[0]}", f"missing: ground-truth parameters need all of "
                                                               f"{list(PARAM_NAMES)}, got {given}")
        params = {name: _array(flat, f"/ground_truth/{name}", source, ndim=2).astype(np.float64)
                  for name in PARAM_NAMES}
        for name, value in params.items():
            _rows(value, n, f"/ground_truth/{name}", source, "/captures/amplitude")
        _pose_shape(params["pose"], "/ground_truth/pose", n, source)
        out["ground_truth_params"] = params
    if (vertices is not None or given or "/captures/pose" in flat) and out["array_z_mm"] is None:
        raise _fail(source, "/ground_truth@array_z_mm", "missing: poses and ground truth need the z of the array "
                                                        "plane in their model frame (mm)")
    if out["array_z_mm"] is None:
        out["array_z_mm"] = float(flat["/radar@range_mm"]) + 90.0  # no frame-dependent data: any frame will do
    return out


def _images_from_volume(flat: dict[str, Any], x: np.ndarray, y: np.ndarray, source: str
                        ) -> tuple[np.ndarray, np.ndarray, tuple[float, float], float]:
    """Amplitude, depth, range window and dynamic range from ``/captures/volume`` (N, H, W, Nz) on
    ``/grid/range_axis_mm``: peak over range (parabola-refined), as the renderers do."""
    from radarface.radar.image import peak_depth

    volume = _array(flat, "/captures/volume", source, ndim=4, kind="complex")
    axis = _array(flat, "/grid/range_axis_mm", source, ndim=1)
    _uniform_axis(axis, "/grid/range_axis_mm", source, ascending=True)
    if axis[0] <= 0:
        raise _fail(source, "/grid/range_axis_mm", f"distances from the array plane must be > 0, got {axis[0]:g}")
    if volume.shape[1:] != (len(y), len(x), len(axis)):
        raise _fail(source, "/captures/volume", f"expected (N, len(y_mm), len(x_mm), len(range_axis_mm)) = "
                                                f"(N, {len(y)}, {len(x)}, {len(axis)}), got {volume.shape}")
    dr = _number(flat, "/grid@dynamic_range_db", source, required=False) or VOLUME_DYNAMIC_RANGE_DB
    near, far = float(axis[0]), float(axis[-1])
    amplitude = np.zeros(volume.shape[:3], dtype=np.float32)
    depth = np.zeros_like(amplitude)
    for i, vol in enumerate(volume):
        peak, r = peak_depth(np.abs(vol), axis)
        top = float(peak.max())
        if not top > 0:
            raise _fail(source, "/captures/volume", f"capture {i} is all zeros")
        with np.errstate(divide="ignore"):
            db = 20.0 * np.log10(peak / top)
        amplitude[i] = (np.clip(db, -dr, 0.0) + dr) / dr
        depth[i] = np.where(amplitude[i] > 0, np.clip((far - r) / (far - near), 0.0, 1.0), 0.0)
    return amplitude, depth, (near, far), dr


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
    """Every dataset and attribute of the HDF5 file ``path`` as a flat mapping (see :func:`validate`).

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
    if "/raw/signal" not in flat:
        return validate(flat, source)
    from radarface.measurements import raw
    from radarface.radar.config import RadarConfig

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
