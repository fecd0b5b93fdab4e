"""Raw SFCW captures as a MIMO imager records them: one complex sample per transmitter, receiver and frequency.

Layout (group ``/raw`` of a measurement file; types, shapes and accepted values are rows of
:data:`radarface.measurements.schema.FIELDS`, data/README.md explains them):

- ``/raw/signal`` (N, Nt, Nr, Nf) complex: capture × transmitter × receiver × frequency;
- ``/raw/tx_positions_mm`` (Nt, 3), ``/raw/rx_positions_mm`` (Nr, 3): antennas in the radar frame
  (origin at the array centre, array plane z = 0, the face towards −z);
- ``/raw/frequencies_hz`` (Nf,): uniformly stepped, ascending;
- optional ``/raw/empty_room`` (Nt, Nr, Nf) complex: the same set-up without a person, subtracted
  from every capture (removes static clutter and antenna cross-talk);
- optional ``/raw/radar_to_model`` (4, 4): rigid transform from the radar frame to the model frame
  of poses and ground truth; its rotation turns the antenna positions into the model's axes, its
  translation must be ``(0, 0, array_z_mm)`` (the format's ``array_z_mm`` convention).

Loading reconstructs each capture with the exact back-projection of
:func:`radarface.radar.reference.backproject` on a :class:`~radarface.radar.ImageGrid` (the training
grid by default) with the antennas placed at the training array's plane, then forms images by the
same path as a stored volume (``/captures/volume``). The sign convention of the samples is the
renderer's: ``s(t, r, f) = Σ_p a_p exp(−j 2π f (|t − p| + |p − r|) / c)``.
:func:`radarface.measurements.files.write_raw` writes the layout.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from radarface.measurements.checks import Checked, check, check_ground_truth, fail, uniform_axis
from radarface.measurements.schema import RAW, field_spec
from radarface.progress import bar
from radarface.radar.array import check_positions
from radarface.radar.config import RadarConfig, array_extent_mm
from radarface.radar.image import ImageGrid
from radarface.radar.reference import backproject
from radarface.runtime import torch_threads

#: Relative tolerance on the uniformity of the frequency steps.
_STEP_RTOL = 1e-4


@dataclass(eq=False)
class RawCaptures:
    """Raw channel data of N captures (radar frame, model axes).

    ``signal`` (N, Nt, Nr, Nf) complex64; ``tx_mm`` (Nt, 3), ``rx_mm`` (Nr, 3) antenna positions in
    mm relative to the array centre (array plane z = 0); ``frequencies_hz`` (Nf,) uniform, ascending;
    ``empty_room`` (Nt, Nr, Nf) complex64 or None; ``array_z_mm``: z of the array plane in the model
    frame of poses and ground truth, if the file gives a transform; ``range_mm``: the nominal
    array-to-face distance the file states (``/radar@range_mm``).
    """

    signal: np.ndarray
    tx_mm: np.ndarray
    rx_mm: np.ndarray
    frequencies_hz: np.ndarray
    empty_room: np.ndarray | None = None
    array_z_mm: float | None = None
    range_mm: float | None = None

    def __len__(self) -> int:
        return len(self.signal)

    @property
    def aperture_mm(self) -> float:
        """Lateral extent of the array in mm (mean of the x and y spans of all antennas)."""
        return array_extent_mm(self.tx_mm, self.rx_mm)

    def clutter_free(self, index: int) -> np.ndarray:
        """Signal (Nt, Nr, Nf) complex64 of capture ``index`` minus the empty room (if given)."""
        signal = self.signal[index]
        return signal if self.empty_room is None else signal - self.empty_room

    def radar_entries(self) -> dict[str, Any]:
        """Entries of ``Captures.radar`` describing the raw set-up (radar frame positions, band)."""
        return {"layout": "raw", "tx_positions_radar_mm": self.tx_mm.copy(), "rx_positions_radar_mm": self.rx_mm.copy(),
                "frequencies_hz": self.frequencies_hz.copy(), "empty_room_subtracted": self.empty_room is not None}


def is_raw(flat: dict[str, Any]) -> bool:
    """True when a flat file mapping holds the raw layout (``/raw/signal``)."""
    return "/raw/signal" in flat


def _rotation(checked: Checked, source: str) -> tuple[np.ndarray, float | None]:
    """(rotation (3, 3), array_z_mm or None) of ``/raw/radar_to_model``, checked; identity if absent."""
    name = "/raw/radar_to_model"
    matrix = checked.get(name)
    if matrix is None:
        return np.eye(3), None
    rot, shift = matrix[:3, :3].astype(np.float64), matrix[:3, 3].astype(np.float64)
    if not (np.allclose(rot @ rot.T, np.eye(3), atol=1e-6) and np.isclose(np.linalg.det(rot), 1.0, atol=1e-6)
            and np.allclose(matrix[3], [0, 0, 0, 1])):
        raise fail(source, name, f"expected a rigid transform (orthonormal rotation, det +1, last row 0 0 0 1), "
                                 f"got {np.round(matrix, 4).tolist()}")
    if np.any(np.abs(shift[:2]) > 1e-3):
        raise fail(source, name, f"the translation must be (0, 0, array_z_mm): the array centre on the model's "
                                 f"z axis; got ({shift[0]:g}, {shift[1]:g}, {shift[2]:g}) mm")
    frame = field_spec("/ground_truth@array_z_mm")  # the translation is that attribute: the same bounds
    if not frame.low <= shift[2] <= frame.high:
        raise fail(source, name, f"its z translation (array_z_mm) is {shift[2]:g} mm, accepted {frame.accepted()} "
                                 f"({frame.meaning}); store the transform in mm")
    given = checked.get("/ground_truth@array_z_mm")
    if given is not None and abs(given - shift[2]) > 1e-3:
        raise fail(source, name, f"its z translation {shift[2]:g} mm contradicts /ground_truth@array_z_mm = "
                                 f"{given:g} mm")
    return rot, float(shift[2])


def _refuse_silent_captures(signal: np.ndarray, empty_room: np.ndarray | None, source: str) -> None:
    """Refuse a capture (N, Nt, Nr, Nf) whose samples are all zero once the empty room is subtracted:
    it would back-project to an empty image (one capture at a time, so memory stays one capture)."""
    for i, capture in enumerate(signal):
        if not np.any(capture if empty_room is None else capture - empty_room):
            after = " after subtracting /raw/empty_room (they are equal)" if empty_room is not None else ""
            raise fail(source, "/raw/signal", f"capture {i} of {len(signal)} is all zeros{after}; accepted: "
                                              "a capture with signal; drop empty captures, or store what the "
                                              "imager recorded")


def raw_from_flat(flat: dict[str, Any], source: str) -> RawCaptures:
    """The raw layout of a flat file mapping, validated: every field of the schema table (types,
    shapes, finiteness, ranges; labels and ground truth included), uniform frequency steps, a
    rigid radar-to-model transform and a frame for poses and ground truth."""
    checked = check(flat, source)
    if checked.layout != RAW:
        raise fail(source, "/raw/signal", "missing: not raw channel data; read the file with "
                                          "radarface.measurements.read or load")
    freqs = checked["/raw/frequencies_hz"].astype(np.float64)
    uniform_axis(freqs, "/raw/frequencies_hz", source, ascending=True, unit="Hz", rtol=_STEP_RTOL, atol=0.0)
    rot, array_z = _rotation(checked, source)
    check_ground_truth(checked, source, array_z_known=array_z is not None or "/ground_truth@array_z_mm" in checked)
    empty = checked.get("/raw/empty_room")
    _refuse_silent_captures(checked["/raw/signal"], empty, source)
    return RawCaptures(signal=checked["/raw/signal"].astype(np.complex64),
                       tx_mm=checked["/raw/tx_positions_mm"].astype(np.float64) @ rot.T,
                       rx_mm=checked["/raw/rx_positions_mm"].astype(np.float64) @ rot.T, frequencies_hz=freqs,
                       empty_room=None if empty is None else empty.astype(np.complex64), array_z_mm=array_z,
                       range_mm=checked["/radar@range_mm"])


def band_config(raw: RawCaptures, config: RadarConfig) -> RadarConfig:
    """``config`` with the raw capture's band (its first and last frequency and count)."""
    f = raw.frequencies_hz
    return config.replace(f_start_hz=float(f[0]), f_stop_hz=float(f[-1]), n_freq=len(f))


def reconstruct_volume(raw: RawCaptures, config: RadarConfig, grid: ImageGrid | None = None, *,
                       index: list[int] | None = None, chunk_voxels: int = 8192, nthreads: int | None = 1,
                       progress: bool = True) -> np.ndarray:
    """Complex volumes (n, Ny, Nx, Nz) complex64 of captures ``index`` (default all) on ``grid``
    (default the config's image grid), by exact back-projection of the clutter-free signals with
    the antennas at the config's array plane (``array_z_mm``); memory bounded by ``chunk_voxels``."""
    grid = ImageGrid.from_config(config) if grid is None else grid
    band = band_config(raw, config)
    lift = np.array([0.0, 0.0, config.array_z_mm])
    tx = check_positions(raw.tx_mm + lift, "/raw/tx_positions_mm (at the training array plane)", config)
    rx = check_positions(raw.rx_mm + lift, "/raw/rx_positions_mm (at the training array plane)", config)
    voxels = grid.voxels()
    index = list(range(len(raw))) if index is None else list(index)
    starts = range(0, len(voxels), chunk_voxels)
    out = np.zeros((len(index), len(voxels)), dtype=np.complex64)
    with torch_threads(nthreads), bar(total=len(index) * len(starts), desc="back-projection", unit="chunk",
                                      disable=not progress) as progress_bar:
        for row, i in enumerate(index):
            signal = np.ascontiguousarray(raw.clutter_free(i).transpose(2, 0, 1))  # (Nf, Nt, Nr)
            for start in starts:
                part = voxels[start:start + chunk_voxels]
                out[row, start:start + len(part)] = backproject(signal, band, tx, rx, part, chunk_voxels=chunk_voxels)
                progress_bar.update(1)
    return out.reshape((len(index),) + grid.shape)


def volume_flat(flat: dict[str, Any], raw: RawCaptures, config: RadarConfig, source: str,
                **options: Any) -> dict[str, Any]:
    """``flat`` with the raw captures replaced by their volumes on the config's internal grid
    (``/captures/volume``, ``/grid/*``) and the radar attributes the raw data imply (checked
    against any the file states); ``options`` go to :func:`reconstruct_volume`."""
    derived = {"f_start_hz": float(raw.frequencies_hz[0]), "f_stop_hz": float(raw.frequencies_hz[-1]),
               "n_freq": len(raw.frequencies_hz), "n_tx": len(raw.tx_mm), "n_rx": len(raw.rx_mm),
               "aperture_mm": raw.aperture_mm}
    out = {k: v for k, v in flat.items() if not k.startswith(("/raw/", "/grid"))}
    for key, value in derived.items():
        stated = flat.get(f"/radar@{key}")
        if stated is not None and not np.isclose(float(stated), value, rtol=1e-3):
            raise fail(source, f"/radar@{key}", f"states {stated!r}, but the raw data imply {value:g}; "
                                                "correct the attribute or leave it out")
        out[f"/radar@{key}"] = value
    if raw.array_z_mm is not None:
        out["/ground_truth@array_z_mm"] = raw.array_z_mm
    grid = ImageGrid.from_config(config)
    volume = reconstruct_volume(raw, config, grid, **options)
    out["/captures/volume"] = volume[..., ::-1]  # range axis ascending = model-frame z descending
    out["/grid/x_mm"], out["/grid/y_mm"] = grid.x_mm.copy(), grid.y_mm.copy()
    out["/grid/range_axis_mm"] = config.array_z_mm - grid.z_mm[::-1]
    return out
