"""The measurement file layout (HDF5, version 1) as one table: every dataset and attribute, its type, shape, unit and accepted values.

:data:`FIELDS` lists every dataset and attribute the format knows: its HDF5 path (``/group/dataset``
or ``/group@attribute``), type, shape, unit, the values it accepts, what it means and what to do
when it is refused. Named dimensions are shared between fields (:data:`DIMENSIONS`: ``N`` captures,
``H`` × ``W`` pixels, ...), so one capture count or grid size holds for the whole file. The checks
that apply the table are in :mod:`~radarface.measurements.checks`.

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

from radarface.measurements.volume import VOLUME_DYNAMIC_RANGE_DB

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


def markdown_table() -> str:
    """:data:`FIELDS` as a Markdown table (path, type and shape, accepted values, layouts that require it, meaning).

    ``data/README.md`` holds this table between its ``schema:measurements`` markers (a test compares them).
    """
    rows = ["| path | type, shape | accepted | required in | meaning |", "|---|---|---|---|---|"]
    for spec in FIELDS:
        shape = "(" + ", ".join(str(d) for d in spec.shape) + ("," if len(spec.shape) == 1 else "") + ")"
        required = ", ".join(sorted(spec.required)) or "–"
        rows.append(f"| `{spec.path}` | {spec.dtype}{' ' + shape if spec.shape else ''} | {spec.accepted()} | "
                    f"{required} | {spec.meaning} |")
    return "\n".join(rows)
