"""The measurement file layout (HDF5, version 1) as one table of fields, and the checks made on every file.

:data:`FIELDS` lists every dataset and attribute the format knows: its HDF5 path (``/group/dataset``
or ``/group@attribute``), type, shape, unit, the values it accepts, what it means and what to do
when it is refused. Named dimensions are shared between fields (:data:`DIMENSIONS`: ``N`` captures,
``H`` × ``W`` pixels, ...), so one capture count or grid size holds for the whole file.
:func:`check_fields` checks a file against the table with one generic routine; :func:`check` adds
the few rules that tie fields together (band order, uniform axes, depth window, ground truth,
empty captures); :func:`validate` builds :class:`~radarface.measurements.captures.Captures`.

A file has one of three layouts: ``images`` (``/captures/amplitude`` and ``/captures/depth``),
``volume`` (``/captures/volume``; images are formed on reading, :mod:`~radarface.measurements.volume`)
or ``raw`` (``/raw/signal``, channel data, :mod:`~radarface.measurements.raw`). Each field belongs to
some layouts (elsewhere it is ignored) and is required by some.

The ranges are plausibility bounds, wider than any radar the networks were trained for: a value
outside one is a unit mistake (metres for mm, GHz for Hz), a missing-value marker or a corrupt file.
Whether a plausible radar fits the trained networks is :mod:`~radarface.measurements.loader`'s question.

Frames: the *model frame* of a file is the face model's (x left-right, y up, z out of the face)
with the array plane at ``z = array_z_mm``; a depth ``d`` in [0, 1] is the distance
``far − d·(far − near)`` from the array plane, i.e. ``z = array_z_mm − far + d·(far − near)``.

>>> [f.path for f in FIELDS if f.path.startswith("/grid@")]
['/grid@range_window_mm', '/grid@dynamic_range_db']
>>> field_spec("/grid@dynamic_range_db").accepted()
'[1, 200] dB'
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from radarface.measurements.captures import Captures, MeasurementFormatError
from radarface.measurements.volume import VOLUME_DYNAMIC_RANGE_DB, images_from_volume

#: Value of the root attribute ``format``.
FORMAT_NAME: str = "radarface-measurements"
#: Versions of the layout this library reads; it writes the last.
FORMAT_VERSIONS: tuple[int, ...] = (1,)

IMAGES, VOLUME, RAW = "images", "volume", "raw"
ALL: frozenset[str] = frozenset({IMAGES, VOLUME, RAW})
GRIDDED: frozenset[str] = frozenset({IMAGES, VOLUME})
NONE: frozenset[str] = frozenset()
_RAW, _IMAGES, _VOLUME = frozenset({RAW}), frozenset({IMAGES}), frozenset({VOLUME})

#: Type names of the table: the numpy kinds each accepts and how a message names it.
DTYPES: dict[str, tuple[str, str]] = {
    "float": ("fiu", "real numbers"),
    "number": ("fiuc", "real or complex numbers"),
    "complex": ("c", "complex samples (complex64 or complex128)"),
    "int": ("iu", "an integer"),
    "bool": ("b", "a boolean (True or False)"),
    "str": ("OUS", "strings (str)"),
    "json": ("", "a JSON object"),
}

#: Named dimensions: (smallest size accepted, what they count).
DIMENSIONS: dict[str, tuple[int, str]] = {
    "N": (1, "captures"), "H": (2, "image rows"), "W": (2, "image columns"), "Nz": (2, "range samples"),
    "Nt": (1, "transmitters"), "Nr": (1, "receivers"), "Nf": (2, "frequencies"), "Kt": (1, "transmitters"),
    "Kr": (1, "receivers"), "V": (3, "mesh vertices"), "M": (1, "triangles"), "Ks": (1, "shape coefficients"),
    "Ke": (1, "expression coefficients"),
}

_TURN = 2.0 * math.pi
#: Pose bounds per column (yaw, pitch, roll rad; tx, ty, tz mm): angles within a turn, 10 m of translation.
_POSE_LOW = (-_TURN,) * 3 + (-1e4,) * 3
_POSE_HIGH = (_TURN,) * 3 + (1e4,) * 3


@dataclass(frozen=True)
class Field:
    """One dataset or attribute of the layout: where it lives, what it holds, which values are accepted.

    ``shape``: () for a scalar attribute, else sizes (int) or dimension names of :data:`DIMENSIONS`;
    ``low``/``high``: inclusive bounds in ``unit`` (a tuple bounds each column of the last axis),
    widened by ``slack`` (float16 round-off); ``choices``: the only values accepted; ``required``:
    layouts that need the field; ``layouts``: layouts it belongs to; ``todo``: what to do when refused.
    """

    path: str
    dtype: str
    shape: tuple[int | str, ...] = ()
    unit: str = ""
    low: float | tuple[float, ...] | None = None
    high: float | tuple[float, ...] | None = None
    required: frozenset[str] = NONE
    layouts: frozenset[str] = ALL
    choices: tuple[Any, ...] = ()
    meaning: str = ""
    todo: str = ""
    slack: float = 0.0

    @property
    def kind(self) -> str:
        """``"attribute"`` or ``"dataset"``."""
        return "attribute" if "@" in self.path else "dataset"

    def accepted(self) -> str:
        """The accepted values as text, e.g. ``'[1, 200] dB'``."""
        if self.choices:
            return " or ".join(repr(c) for c in self.choices)
        if self.low is None and self.high is None:
            return DTYPES[self.dtype][1]

        def show(bound: float | tuple[float, ...] | None, default: str) -> str:
            if bound is None:
                return default
            if isinstance(bound, tuple):
                return "(" + ", ".join(f"{b:g}" for b in bound) + ")"
            return f"{bound:g}"

        return f"[{show(self.low, '-inf')}, {show(self.high, 'inf')}]{' ' + self.unit if self.unit else ''}"


_HZ = "store Hz (77 GHz = 7.7e10), not GHz"
_MM = "store millimetres, not metres"
_LABELS = "store one label per capture (h5py: np.array(labels, dtype=object))"
_GT = "store ground truth in the model frame in mm and coefficients in standard deviations, or leave it out"

#: The layout, one row per dataset or attribute (data/README.md explains it in prose).
FIELDS: tuple[Field, ...] = (
    # ----------------------------------------------------------------- root
    Field("/@format", "str", required=ALL, choices=(FORMAT_NAME,),
          meaning="the layout's name; without it this is not a radarface measurement file",
          todo="write measurement files with radarface.measurements.write or write_raw (layout: data/README.md)"),
    Field("/@format_version", "int", required=ALL, choices=FORMAT_VERSIONS,
          meaning="the layout version; this library reads the versions accepted",
          todo="update radarface, or convert the file to the layout in data/README.md"),
    Field("/@complete", "bool", required=ALL, meaning="set True last by the writer; False or absent: unfinished",
          todo="write the file again; radarface.measurements.write sets it last, as a boolean"),
    Field("/@simulated", "bool", meaning="True for surrogate files",
          todo="store a boolean (h5py: h5.attrs['simulated'] = True), not a string"),
    Field("/@simulation", "json", meaning="how the data were simulated (required if simulated)",
          todo="store a JSON object (noise, material, calibration errors, ...)"),
    # ----------------------------------------------------------------- radar (stated; a raw file implies most)
    Field("/radar@f_start_hz", "float", (), "Hz", 1e9, 1e12, GRIDDED,
          meaning="first frequency of the sweep (72 GHz for the paper's radar)", todo=_HZ),
    Field("/radar@f_stop_hz", "float", (), "Hz", 1e9, 1e12, GRIDDED,
          meaning="last frequency of the sweep (82 GHz for the paper's radar)", todo=_HZ),
    Field("/radar@n_freq", "int", (), "", 2, 1_000_000, GRIDDED, meaning="frequency steps (64-128 typical)",
          todo="store the number of frequency steps as an integer"),
    Field("/radar@aperture_mm", "float", (), "mm", 10.0, 5000.0, GRIDDED,
          meaning="side D of the aperture (200 mm by default, 150-250 mm in training)", todo=_MM),
    Field("/radar@range_mm", "float", (), "mm", 50.0, 10_000.0, ALL,
          meaning="nominal distance R from the array to the face (400 mm by default)", todo=_MM),
    Field("/radar@n_tx", "int", (), "", 1, 100_000, GRIDDED, meaning="transmitters of the full array (94)",
          todo="store the count as an integer"),
    Field("/radar@n_rx", "int", (), "", 1, 100_000, GRIDDED, meaning="receivers of the full array (94)",
          todo="store the count as an integer"),
    Field("/radar/tx_positions_mm", "float", ("Kt", 3), "mm", -1e4, 1e4,
          meaning="nominal positions of the transmitters used", todo=_MM),
    Field("/radar/rx_positions_mm", "float", ("Kr", 3), "mm", -1e4, 1e4,
          meaning="nominal positions of the receivers used", todo=_MM),
    Field("/radar/tx_index", "int", ("Kt",), "", 0, None, meaning="their indices in the full array",
          todo="store 0-based integer indices, one per row of /radar/tx_positions_mm"),
    Field("/radar/rx_index", "int", ("Kr",), "", 0, None, meaning="their indices in the full array",
          todo="store 0-based integer indices, one per row of /radar/rx_positions_mm"),
    # ----------------------------------------------------------------- raw channel data
    Field("/raw/tx_positions_mm", "float", ("Nt", 3), "mm", -1e4, 1e4, _RAW, _RAW,
          meaning="transmitters in the radar frame (origin at the array centre, array plane z = 0)", todo=_MM),
    Field("/raw/rx_positions_mm", "float", ("Nr", 3), "mm", -1e4, 1e4, _RAW, _RAW,
          meaning="receivers in the radar frame", todo=_MM),
    Field("/raw/frequencies_hz", "float", ("Nf",), "Hz", 1e9, 1e12, _RAW, _RAW,
          meaning="stepped frequencies, ascending, uniform", todo=_HZ),
    Field("/raw/signal", "complex", ("N", "Nt", "Nr", "Nf"), "", None, None, _RAW, _RAW,
          meaning="one sample per capture, transmitter, receiver and frequency",
          todo="store the complex samples as the imager records them (N, Nt, Nr, Nf)"),
    Field("/raw/empty_room", "complex", ("Nt", "Nr", "Nf"), "", None, None, NONE, _RAW,
          meaning="the same set-up without a person, subtracted from every capture",
          todo="store one empty-room measurement (Nt, Nr, Nf), or leave it out"),
    Field("/raw/radar_to_model", "float", (4, 4), "mm", None, None, NONE, _RAW,
          meaning="rigid transform from the radar frame to the model frame, translation (0, 0, array_z_mm)",
          todo="store a 4 x 4 rigid transform, or leave it out"),
    # ----------------------------------------------------------------- grid
    Field("/grid/x_mm", "float", ("W",), "mm", -5000.0, 5000.0, GRIDDED, GRIDDED,
          meaning="pixel centres across, ascending, uniform; 0 = array boresight", todo=_MM),
    Field("/grid/y_mm", "float", ("H",), "mm", -5000.0, 5000.0, GRIDDED, GRIDDED,
          meaning="pixel centres up, descending (row 0 = top), uniform", todo=_MM),
    Field("/grid/range_axis_mm", "float", ("Nz",), "mm", 0.0, 20_000.0, _VOLUME, _VOLUME,
          meaning="distances of the volume's depth samples from the array plane, ascending, uniform", todo=_MM),
    Field("/grid@range_window_mm", "float", (2,), "mm", 0.0, 20_000.0, _IMAGES, _IMAGES,
          meaning="(near, far) distances from the array plane that depth 1 and 0 stand for", todo=_MM),
    Field("/grid@dynamic_range_db", "float", (), "dB", 1.0, 200.0, _IMAGES, GRIDDED,
          meaning="dB below each capture's peak that amplitude 0 stands for (training 15-30, evaluation 20; "
                  f"a volume without it: {VOLUME_DYNAMIC_RANGE_DB:g})",
          todo="store the dynamic range in dB the images were clipped to"),
    # ----------------------------------------------------------------- captures
    Field("/captures/amplitude", "float", ("N", "H", "W"), "", 0.0, 1.0, _IMAGES, _IMAGES, slack=1e-3,
          meaning="(clip(dB re each capture's peak, -DR, 0) + DR) / DR",
          todo="store one image per capture on the grid, in [0, 1] as the radar pipeline forms it (not in dB); "
               "or store a complex volume (/captures/volume) or raw channel data (/raw/signal) instead"),
    Field("/captures/depth", "float", ("N", "H", "W"), "", 0.0, 1.0, _IMAGES, _IMAGES, slack=1e-3,
          meaning="(far - distance) / (far - near), 0 where the amplitude is 0",
          todo="store one depth image per capture on the grid, scaled to [0, 1] over /grid@range_window_mm "
               "(not in mm)"),
    Field("/captures/volume", "number", ("N", "H", "W", "Nz"), "", None, None, _VOLUME, _VOLUME,
          meaning="complex image I(y, x, distance) on /grid/y_mm, /grid/x_mm, /grid/range_axis_mm",
          todo="store the complex volume (N, H, W, Nz)"),
    Field("/captures/subject", "str", ("N",), required=ALL, meaning="who each capture shows", todo=_LABELS),
    Field("/captures/expression", "str", ("N",), required=ALL, meaning="the expression of each capture",
          todo=_LABELS),
    Field("/captures/pose", "float", ("N", 6), "rad, mm", _POSE_LOW, _POSE_HIGH,
          meaning="(yaw, pitch, roll) rad within a turn, (tx, ty, tz) mm, if known", todo=_GT),
    # ----------------------------------------------------------------- ground truth
    Field("/ground_truth/vertices", "float", ("N", "V", 3), "mm", -1e4, 1e4,
          meaning="posed face mesh (e.g. a scan registered to the model)", todo=_GT),
    Field("/ground_truth/triangles", "int", ("M", 3), "", 0, None, meaning="its triangles, 0-based", todo=_GT),
    Field("/ground_truth/shape", "float", ("N", "Ks"), "std", -20.0, 20.0,
          meaning="shape coefficients in standard deviations (N(0, 1) in training)", todo=_GT),
    Field("/ground_truth/expression", "float", ("N", "Ke"), "std", -20.0, 20.0,
          meaning="expression coefficients in standard deviations", todo=_GT),
    Field("/ground_truth/pose", "float", ("N", 6), "rad, mm", _POSE_LOW, _POSE_HIGH,
          meaning="as /captures/pose", todo=_GT),
    Field("/ground_truth@array_z_mm", "float", (), "mm", -5000.0, 5000.0,
          meaning="z of the array plane in the model frame of poses and meshes (490 by default: face centre "
                  "90 + range 400)", todo="store the z of the array plane in mm"),
)
_BY_PATH: dict[str, Field] = {f.path: f for f in FIELDS}
#: Radar attributes every image or volume file states (``/radar@name``).
RADAR_ATTRS: tuple[str, ...] = tuple(f.path.split("@")[1] for f in FIELDS if f.path.startswith("/radar@"))
#: Optional antenna datasets under ``/radar``.
RADAR_ARRAYS: tuple[str, ...] = tuple(f.path.split("/")[2] for f in FIELDS if f.path.startswith("/radar/"))
#: Ground-truth face parameters (all three or none).
PARAM_NAMES: tuple[str, ...] = ("shape", "expression", "pose")


def field_spec(path: str) -> Field:
    """The row of :data:`FIELDS` for ``path``."""
    return _BY_PATH[path]


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
    expected, bound = [], []
    for dim, size in zip(spec.shape, array.shape):
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
        fixed = checked.dims.get(dim, dim) if isinstance(dim, str) else dim
        if isinstance(fixed, int) and size != fixed:
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
    if spec.shape or (spec.kind == "dataset"):
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


def markdown_table() -> str:
    """:data:`FIELDS` as a Markdown table (path, type and shape, accepted values, meaning) for documents."""
    rows = ["| path | type, shape | accepted | meaning |", "|---|---|---|---|"]
    for spec in FIELDS:
        shape = "(" + ", ".join(str(d) for d in spec.shape) + ("," if len(spec.shape) == 1 else "") + ")"
        rows.append(f"| `{spec.path}` | {spec.dtype}{' ' + shape if spec.shape else ''} | {spec.accepted()} | "
                    f"{spec.meaning} |")
    return "\n".join(rows)
