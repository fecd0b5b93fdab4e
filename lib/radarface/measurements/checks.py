"""Checks of a measurement file against the table of :mod:`~radarface.measurements.schema`, and :func:`validate`.

:func:`check_fields` checks every field of a flat file mapping (``{"/group/dataset" or
"/group@attribute": value}``) with one generic routine: presence, type, shape (binding the named
dimensions on first sight, so counts and grid sizes agree across fields), finiteness, range and
choices. :func:`check` adds the few rules that tie fields together (band order, uniform axes,
depth window, ground truth, empty captures); :func:`validate` builds
:class:`~radarface.measurements.captures.Captures`. Every refusal is a
:class:`~radarface.measurements.captures.MeasurementFormatError` that names the file, the HDF5
path, the value, what is accepted and what to do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from radarface.measurements.captures import Captures, MeasurementFormatError
from radarface.measurements.schema import (ALL, DIMENSIONS, DTYPES, FIELDS, GRIDDED, IMAGES, PARAM_NAMES, RADAR_ARRAYS,
                                           RADAR_ATTRS, RAW, VOLUME, Field)
from radarface.measurements.volume import VOLUME_DYNAMIC_RANGE_DB, images_from_volume


def fail(source: str, path: str, message: str) -> MeasurementFormatError:
    """The error for field ``path`` of ``source`` (a file name or a description)."""
    return MeasurementFormatError(f"{source}: {path}: {message}", path)


def _refuse(spec: Field, source: str, message: str) -> MeasurementFormatError:
    """The error for a value of ``spec``, with what the field means and what to do."""
    about = f" ({spec.meaning})" if spec.meaning else ""
    return fail(source, spec.path, f"{message}{about}; {spec.todo or 'see data/README.md'}")


@dataclass
class Checked:
    """A file's checked fields: ``values`` by HDF5 path (scalars as Python numbers, datasets as arrays),
    ``dims`` the sizes of the named dimensions and ``origin`` the path that fixed each."""

    layout: str
    values: dict[str, Any]
    dims: dict[str, int]
    origin: dict[str, str]

    def get(self, path: str, default: Any = None) -> Any:
        """The checked value of ``path``, or ``default`` if the file does not have it."""
        return self.values.get(path, default)

    def __contains__(self, path: str) -> bool:
        return path in self.values

    def __getitem__(self, path: str) -> Any:
        return self.values[path]


# ----------------------------------------------------------------------------- one field
def _scalar(spec: Field, value: Any, source: str) -> Any:
    """A scalar attribute as a Python bool, int, float, str or dict of the field's type."""
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.reshape(()).item()  # MATLAB and others store scalars as 1 x 1 arrays
    if isinstance(value, np.generic):
        value = value.item()
    words = DTYPES[spec.dtype][1]
    got = f"the string {value!r}" if isinstance(value, str) else f"{value!r} ({type(value).__name__})"
    if spec.dtype == "bool":
        if isinstance(value, bool) or (isinstance(value, int) and value in (0, 1)):
            return bool(value)  # 0/1 integers: tools without an HDF5 boolean type
    elif spec.dtype == "int":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)  # 64.0 from writers that store every number as a double
    elif spec.dtype == "float":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise _refuse(spec, source, f"expected a finite number, got {value}")
            return float(value)
    elif spec.dtype == "str" and isinstance(value, str):
        return value
    elif spec.dtype == "json" and isinstance(value, dict):
        return value
    raise _refuse(spec, source, f"expected {words}, got {got}")


def _array(spec: Field, value: Any, source: str) -> np.ndarray:
    """A dataset (or array attribute) of the field's type, finite where numeric."""
    array = np.asarray(value)
    if array.dtype.kind not in DTYPES[spec.dtype][0]:
        raise _refuse(spec, source, f"expected {DTYPES[spec.dtype][1]}, got dtype {array.dtype}")
    if array.dtype.kind in "fc":
        bad = ~np.isfinite(array)
        if bad.any():
            raise _refuse(spec, source, f"{int(bad.sum())} of {array.size} values are NaN or infinite "
                                        f"(first at index {tuple(int(i) for i in np.argwhere(bad)[0])})")
    return array


def _shape(spec: Field, array: np.ndarray, source: str, checked: Checked) -> None:
    """Check ``array``'s shape against the field's, binding its named dimensions on first sight."""
    names = "(" + ", ".join(str(d) for d in spec.shape) + ")"
    if array.ndim != len(spec.shape):
        raise _refuse(spec, source, f"expected {len(spec.shape)} dimensions {names}, got shape {array.shape}")
    expected, bound = [], []  # the shape in numbers where known, for the message
    for dim in spec.shape:
        if isinstance(dim, int):
            expected.append(str(dim))
        elif dim in checked.dims:
            expected.append(str(checked.dims[dim]))
            bound.append(f"{dim} from {checked.origin[dim]}")
        else:
            expected.append(f"{dim} >= {DIMENSIONS[dim][0]}")
    for dim, size in zip(spec.shape, array.shape):
        if dim == "N" and "N" in checked.dims and size != checked.dims["N"]:
            raise fail(source, spec.path, f"has {size} captures, but {checked.origin['N']} has "
                                          f"{checked.dims['N']} (inconsistent capture counts); store one row "
                                          "per capture in every per-capture field")
        fixed = checked.dims.get(dim) if isinstance(dim, str) else dim  # None: not bound yet
        if fixed is not None and size != fixed:
            where = f" ({', '.join(bound)})" if bound else ""
            raise _refuse(spec, source, f"expected shape {names} = ({', '.join(expected)}){where}, "
                                        f"got {array.shape}")
    for dim, size in zip(spec.shape, array.shape):
        if isinstance(dim, str) and dim not in checked.dims:
            least, counts = DIMENSIONS[dim]
            if size < least:
                raise fail(source, spec.path, f"holds {size} {counts} (shape {array.shape}, {dim} = {size}); "
                                              f"a measurement file needs {dim} >= {least}: write the file with "
                                              f"its {counts}, or remove it")
            checked.dims[dim], checked.origin[dim] = size, spec.path


def _bounds(spec: Field, value: Any, source: str) -> None:
    """Refuse values outside ``[low, high]`` (widened by ``slack``)."""
    if spec.low is None and spec.high is None:
        return
    array = np.asarray(value, dtype=np.float64)
    if array.size == 0:
        return
    low = -np.inf if spec.low is None else np.asarray(spec.low, dtype=np.float64)
    high = np.inf if spec.high is None else np.asarray(spec.high, dtype=np.float64)
    outside = (array < low - spec.slack) | (array > high + spec.slack)
    if not outside.any():
        return
    if array.ndim == 0:
        raise _refuse(spec, source, f"got {float(array):g}{' ' + spec.unit if spec.unit else ''}, "
                                    f"accepted {spec.accepted()}")
    first = tuple(int(i) for i in np.argwhere(outside)[0])
    raise _refuse(spec, source, f"values must lie in {spec.accepted()}, got [{array.min():.4g}, {array.max():.4g}]: "
                                f"{int(outside.sum())} of {array.size} outside, first {array[first]:.4g} at "
                                f"index {first}")


def check_field(spec: Field, value: Any, source: str, checked: Checked) -> Any:
    """``value`` of field ``spec`` checked for type, shape, finiteness, range and choices (generic)."""
    if spec.shape:  # datasets and array attributes
        value = _array(spec, value, source)
        _shape(spec, value, source, checked)
    else:
        value = _scalar(spec, value, source)
    if spec.choices and value not in spec.choices:
        raise _refuse(spec, source, f"got {value!r}, expected {spec.accepted()}")
    _bounds(spec, value, source)
    return value


def layout_of(flat: dict[str, Any]) -> str:
    """The layout of a flat file mapping: ``raw``, ``images`` or ``volume`` (see module docstring)."""
    if "/raw/signal" in flat:
        return RAW
    if "/captures/volume" in flat and "/captures/amplitude" not in flat:
        return VOLUME
    return IMAGES


def check_fields(flat: dict[str, Any], source: str, layout: str | None = None) -> Checked:
    """Every field of :data:`FIELDS` that belongs to the file's layout, checked in table order."""
    layout = layout or layout_of(flat)
    checked = Checked(layout, {}, {}, {})
    for spec in FIELDS:
        if layout not in spec.layouts:
            continue
        if flat.get(spec.path) is None:
            if layout in spec.required:
                where = "every file" if spec.required == ALL else f"a file of {layout}"
                raise _refuse(spec, source, f"missing {spec.kind}, required in {where}")
            continue
        checked.values[spec.path] = check_field(spec, flat[spec.path], source, checked)
    return checked


# ----------------------------------------------------------------------------- rules across fields
def uniform_axis(axis: np.ndarray, path: str, source: str, *, ascending: bool, unit: str = "mm",
                 rtol: float = 1e-3, atol: float = 1e-6) -> None:
    """Refuse an axis shorter than 2, not strictly monotonic in the stated sense, or not uniform."""
    steps = np.diff(axis) * (1 if ascending else -1)
    order = "ascending" if ascending else "descending"
    if len(axis) < 2 or not np.all(steps > 0):
        raise fail(source, path, f"must hold at least 2 strictly {order} values in {unit}, got "
                                 f"{np.round(axis[:4], 3).tolist()}...; store the axis {order}")
    if not np.allclose(steps, steps[0], rtol=rtol, atol=atol):
        raise fail(source, path, f"must be uniformly spaced, got steps from {steps.min():g} to {steps.max():g} "
                                 f"{unit}; resample the data onto a uniform axis")


def _check_header(checked: Checked, source: str) -> None:
    """The writer finished, a simulated file says how, a stated band runs upwards."""
    if not checked["/@complete"]:
        raise fail(source, "/@complete", "is False: the file is incomplete (its writer did not finish); "
                                         "write it again")
    if checked.get("/@simulated", False) and not isinstance(checked.get("/@simulation"), dict):
        raise fail(source, "/@simulation", "a simulated file must say how it was simulated "
                                           "(JSON object: noise, material, calibration errors, ...)")
    f0, f1 = checked.get("/radar@f_start_hz"), checked.get("/radar@f_stop_hz")
    if f0 is not None and f1 is not None and f1 <= f0:
        raise fail(source, "/radar@f_stop_hz", f"must exceed f_start_hz, got f_start_hz={f0:g}, f_stop_hz={f1:g} "
                                               "(Hz); store the band's first and last frequency")


def check_ground_truth(checked: Checked, source: str, *, array_z_known: bool) -> None:
    """Triangles index the vertices; parameters come as all three or none; poses and ground truth
    have a frame (``array_z_known``: ``/ground_truth@array_z_mm`` or a raw transform gives it)."""
    triangles, vertices = checked.get("/ground_truth/triangles"), checked.get("/ground_truth/vertices")
    if triangles is not None:
        if vertices is None:
            raise fail(source, "/ground_truth/vertices", "missing, but /ground_truth/triangles is given; store "
                                                         "the mesh's vertices too, or leave out the triangles")
        if triangles.size and triangles.max() >= vertices.shape[1]:
            raise fail(source, "/ground_truth/triangles", f"expected (M, 3) indices into {vertices.shape[1]} "
                                                          f"vertices, got range [{triangles.min()}, {triangles.max()}]; "
                                                          "store 0-based indices")
    given = [name for name in PARAM_NAMES if f"/ground_truth/{name}" in checked]
    missing = [name for name in PARAM_NAMES if name not in given]
    if given and missing:
        raise fail(source, f"/ground_truth/{missing[0]}", f"missing: ground-truth parameters need all of "
                                                          f"{list(PARAM_NAMES)}, got {given}")
    framed = vertices is not None or given or "/captures/pose" in checked
    if framed and not array_z_known:
        raise fail(source, "/ground_truth@array_z_mm", "missing: poses and ground truth need the z of the array "
                                                       "plane in their model frame (mm); store it")


def _check_images(checked: Checked, source: str) -> None:
    """Window order, and no capture without a lit pixel (each capture's peak pixel is 1 by construction)."""
    near, far = (float(v) for v in checked["/grid@range_window_mm"])
    if not 0 < near < far:
        raise fail(source, "/grid@range_window_mm", f"expected (near, far) distances from the array plane with "
                                                    f"0 < near < far (mm), got {[near, far]}; store them in that order")
    amplitude = checked["/captures/amplitude"]
    dark = np.flatnonzero(amplitude.reshape(len(amplitude), -1).max(axis=1) <= 0)
    if len(dark):
        i = int(dark[0])
        raise fail(source, "/captures/amplitude", f"capture {i} (subject {checked['/captures/subject'][i]!r}, "
                   f"expression {checked['/captures/expression'][i]!r}) is all zeros, {len(dark)} of "
                   f"{len(amplitude)} captures are; accepted: a peak above 0 in every capture (amplitude is dB "
                   "below each capture's own peak, so its peak pixel is 1); drop empty captures, or store the "
                   "images as the radar pipeline forms them")


def check(flat: dict[str, Any], source: str) -> Checked:
    """A flat file mapping ``{"/group/dataset" or "/group@attr": value}`` checked field by field
    (:func:`check_fields`) and by the rules across fields of its layout; raises
    :class:`MeasurementFormatError` naming ``source``, the HDF5 path, the value and what is accepted."""
    checked = check_fields(flat, source)
    _check_header(checked, source)
    if checked.layout in GRIDDED:
        uniform_axis(checked["/grid/x_mm"], "/grid/x_mm", source, ascending=True)
        uniform_axis(checked["/grid/y_mm"], "/grid/y_mm", source, ascending=False)
        check_ground_truth(checked, source, array_z_known="/ground_truth@array_z_mm" in checked)
    if checked.layout == IMAGES:
        _check_images(checked, source)
    if checked.layout == VOLUME:
        axis = checked["/grid/range_axis_mm"]
        uniform_axis(axis, "/grid/range_axis_mm", source, ascending=True)
        if axis[0] <= 0:
            raise fail(source, "/grid/range_axis_mm", f"distances from the array plane must be > 0, got "
                                                      f"{axis[0]:g} mm; store distances, not model-frame z")
    return checked


# ----------------------------------------------------------------------------- captures
def _images(checked: Checked, source: str) -> tuple[np.ndarray, np.ndarray, tuple[float, float], float]:
    """Amplitude, depth, range window (near, far) mm and dynamic range dB of an images or volume file."""
    if checked.layout == IMAGES:
        near, far = (float(v) for v in checked["/grid@range_window_mm"])
        return checked["/captures/amplitude"], checked["/captures/depth"], (near, far), \
            checked["/grid@dynamic_range_db"]
    axis = checked["/grid/range_axis_mm"]
    dr = checked.get("/grid@dynamic_range_db", VOLUME_DYNAMIC_RANGE_DB)
    amplitude, depth, empty = images_from_volume(checked["/captures/volume"], axis, dr)
    if empty:
        raise fail(source, "/captures/volume", f"capture {empty[0]} is all zeros ({len(empty)} of "
                                               f"{len(amplitude)} captures are); drop empty captures")
    return amplitude, depth, (float(axis[0]), float(axis[-1])), dr


def validate(flat: dict[str, Any], source: str) -> Captures:
    """Check a flat mapping of an images or volume file (:func:`check`) and build :class:`Captures`
    (images formed from ``/captures/volume`` if the file has no images)."""
    checked = check(flat, source)
    if checked.layout == RAW:
        raise fail(source, "/raw/signal", "raw channel data: read the file with radarface.measurements.read "
                                          "or load, which back-project it first")
    radar = {key: checked[f"/radar@{key}"] for key in RADAR_ATTRS}
    radar.update({key: checked[f"/radar/{key}"] for key in RADAR_ARRAYS if f"/radar/{key}" in checked})
    radar.update({k[len("/radar@"):]: v for k, v in flat.items()
                  if k.startswith("/radar@") and k[len("/radar@"):] not in radar})
    amplitude, depth, window, dr = _images(checked, source)
    params = None
    if "/ground_truth/shape" in checked:
        params = {name: checked[f"/ground_truth/{name}"].astype(np.float64) for name in PARAM_NAMES}
    vertices, triangles = checked.get("/ground_truth/vertices"), checked.get("/ground_truth/triangles")
    pose = checked.get("/captures/pose")
    array_z = checked.get("/ground_truth@array_z_mm")
    if array_z is None:
        array_z = checked["/radar@range_mm"] + 90.0  # no frame-dependent data: any frame will do
    attrs = {k[2:]: v for k, v in flat.items() if k.startswith("/@") and k[2:] not in
             ("format", "format_version", "complete", "simulated")}
    # the slack admits float16 round-off; the captures themselves keep to [0, 1]
    return Captures(amplitude=np.clip(amplitude, 0, 1).astype(np.float32),
                    depth=np.clip(depth, 0, 1).astype(np.float32),
                    subject=checked["/captures/subject"].astype(str),
                    expression=checked["/captures/expression"].astype(str),
                    x_mm=checked["/grid/x_mm"].astype(np.float64), y_mm=checked["/grid/y_mm"].astype(np.float64),
                    range_window_mm=window, dynamic_range_db=float(dr), radar=radar, array_z_mm=float(array_z),
                    pose=None if pose is None else pose.astype(np.float64),
                    ground_truth_vertices=None if vertices is None else vertices.astype(np.float32),
                    ground_truth_triangles=None if triangles is None else triangles.astype(np.int64),
                    ground_truth_params=params, simulated=bool(checked.get("/@simulated", False)), attrs=attrs)
