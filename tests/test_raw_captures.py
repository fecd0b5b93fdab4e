"""Raw SFCW captures: the documented layout, reconstruction of point reflectors and faces on the
training grid, empty-room subtraction, validation errors and refusals naming the field."""

import h5py
import numpy as np
import pytest

from radarface import measurements as meas
from radarface.measurements import MeasurementFormatError
from radarface.measurements.files import read_flat
from radarface.measurements.raw import raw_from_flat, reconstruct_volume
from radarface.radar import C_MM_PER_S, ImageGrid, RadarConfig, antennas, qar50_positions
from radarface.radar.analysis import SINC_3DB, minus3db_width
from radarface.radar.params import check_render_params
from radarface.radar.reference import synthesize_signal
from radarface.radar.scatter import surface_scene

# A small QAR50-type training set-up: 16 x 16 pixels of 8 mm, a 4 mm internal pitch, 6 mm voxels.
QAR = RadarConfig.preset("qar50", image_size=16, pixel_mm=8.0, max_internal_pitch_mm=4.0, voxel_depth_mm=6.0,
                         n_freq=16)
FREQS = np.linspace(72e9, 82e9, 16)


def strided(positions: np.ndarray, stride: int) -> np.ndarray:
    """Every ``stride``-th antenna of each of the two edges (47 elements each)."""
    return np.concatenate([positions[:47][stride // 2::stride], positions[47:][stride // 2::stride]])


def point_signal(tx: np.ndarray, rx: np.ndarray, freqs: np.ndarray, points: np.ndarray,
                 amplitudes: np.ndarray) -> np.ndarray:
    """s(t, r, f) = Σ_p a_p exp(−j 2π f (|t − p| + |p − r|) / c): (Nt, Nr, Nf) complex128, straight
    from the two-way path length (not through the library's renderer)."""
    out = np.zeros((len(tx), len(rx), len(freqs)), dtype=np.complex128)
    for p, a in zip(points, amplitudes):
        path = np.linalg.norm(tx - p, axis=1)[:, None] + np.linalg.norm(rx - p, axis=1)[None, :]
        out += a * np.exp(-2j * np.pi * freqs[None, None, :] * path[..., None] / C_MM_PER_S)
    return out


def write_layout(path, signal, tx, rx, freqs, *, empty_room=None, range_mm=400.0, transform=None, attrs=None,
                 **extra):
    """A raw file written with h5py alone, following data/README.md (the documented layout); ``attrs``
    maps ``/group@name`` to attribute values set last."""
    n = len(signal)
    with h5py.File(path, "w") as h5:
        h5.attrs.update({"format": "radarface-measurements", "format_version": 1, "complete": True})
        h5.create_group("radar").attrs["range_mm"] = range_mm
        h5["raw/signal"] = signal
        h5["raw/tx_positions_mm"] = tx
        h5["raw/rx_positions_mm"] = rx
        h5["raw/frequencies_hz"] = freqs
        if empty_room is not None:
            h5["raw/empty_room"] = empty_room
        if transform is not None:
            h5["raw/radar_to_model"] = transform
        strings = h5py.string_dtype()  # explicit: h5py cannot infer it from an empty object array
        h5.create_dataset("captures/subject", data=np.array([f"S{i}" for i in range(n)], dtype=object), dtype=strings)
        h5.create_dataset("captures/expression", data=np.array(["neutral"] * n, dtype=object), dtype=strings)
        for key, value in extra.items():
            h5[key] = value
        for key, value in (attrs or {}).items():
            where, _, name = key.partition("@")
            h5.require_group(where).attrs[name] = value
    return path


def translation(z_mm: float) -> np.ndarray:
    out = np.eye(4)
    out[2, 3] = z_mm
    return out


# ----------------------------------------------------------------------------- point reflectors
POINTS = np.array([[0.0, 0.0, -400.0], [23.3, -11.7, -380.0], [-31.4, 17.9, -425.0]])  # radar frame, mm
AMPLITUDES = np.array([1.0, 0.8 * np.exp(0.7j), 0.6 * np.exp(-2.1j)])


@pytest.fixture(scope="module")
def points_file(tmp_path_factory):
    tx, rx = (strided(p, 4) for p in qar50_positions())
    signal = point_signal(tx, rx, FREQS, POINTS, AMPLITUDES)[None].astype(np.complex64)
    return write_layout(tmp_path_factory.mktemp("raw") / "points.h5", signal, tx, rx, FREQS,
                        transform=translation(QAR.array_z_mm))


def test_point_reflectors_are_reconstructed_where_they_are(points_file):
    captures = meas.load(points_file, QAR, progress=False)
    assert captures.amplitude.shape == (1, 16, 16) and captures.radar["layout"] == "raw"
    own = meas.read(points_file, config=QAR, progress=False)  # the internal grid, no compatibility checks
    assert own.amplitude.shape == (1, 32, 32) and own.pixel_mm == 4.0
    raw = raw_from_flat(read_flat(points_file), str(points_file))
    fine = np.arange(-2.0, 2.0 + 1e-9, 0.25)
    for point in POINTS:
        model = point + [0.0, 0.0, QAR.array_z_mm]
        grid = ImageGrid(model[0] + fine, model[1] - fine, model[2] + np.arange(-3.0, 3.0 + 1e-9, 0.25))
        volume = np.abs(reconstruct_volume(raw, QAR, grid, progress=False)[0])
        iy, ix, iz = np.unravel_index(np.argmax(volume), volume.shape)
        found = np.array([grid.x_mm[ix], grid.y_mm[iy], grid.z_mm[iz]])
        assert np.linalg.norm(found - model) <= 0.5, (point, found - model)
        # the loaded images: the point's pixel is bright and its depth is the point's z
        row = int(np.argmin(np.abs(captures.y_mm - model[1])))
        col = int(np.argmin(np.abs(captures.x_mm - model[0])))
        assert captures.amplitude[0, row, col] > 0.5
        assert abs(captures.depth_mm()[0, row, col] - model[2]) < 1.5


def test_qar50_point_spread_width_matches_theory(tmp_path):
    tx, rx = qar50_positions()  # all 94 x 94 channels: the width needs the filled aperture
    freqs = np.linspace(72e9, 82e9, 8)
    signal = point_signal(tx, rx, freqs, np.array([[0.0, 0.0, -400.0]]), np.array([1.0]))[None]
    path = write_layout(tmp_path / "psf.h5", signal.astype(np.complex64), tx, rx, freqs)
    raw = raw_from_flat(read_flat(path), str(path))
    cut = np.arange(-6.0, 6.0 + 1e-9, 0.1)
    z = np.array([QAR.array_z_mm - 400.0])
    theory = SINC_3DB * C_MM_PER_S / 77e9 * 400.0 / (2.0 * 141.0)
    assert theory == pytest.approx(4.9, abs=0.05)
    for grid in (ImageGrid(cut, np.array([0.0]), z), ImageGrid(np.array([0.0]), -cut, z)):
        magnitude = np.abs(reconstruct_volume(raw, QAR, grid, progress=False)).ravel()
        width = minus3db_width(cut, magnitude)
        assert width == pytest.approx(theory, rel=0.10), (width, theory)


# ----------------------------------------------------------------------------- faces
def test_raw_signals_of_a_face_give_the_reference_images(tmp_path):
    from radarface.facemodel import load_model
    from radarface.radar import render_reference

    model = load_model("builtin")
    # roi_margin_mm: the reference evaluates the whole grid, as the back-projection of a raw file does
    config = RadarConfig(image_size=16, pixel_mm=8.0, max_internal_pitch_mm=4.0, voxel_depth_mm=6.0, n_freq=16,
                         surface_spacing_mm=2.5, roi_margin_mm=300.0)
    vertices = model.vertices(np.zeros(model.n_shape), np.zeros(model.n_expression))
    reference = render_reference(vertices, model.triangles, config, stride=4, nthreads=1)
    # the same scene and antennas as render_reference, the signals stored raw (radar frame)
    rng = np.random.default_rng(config.seed)
    params = check_render_params({}, config)
    scene = surface_scene(vertices, model.triangles, config, material=params["material"], rng=rng)
    tx, rx = antennas(config, stride=4)
    signal = synthesize_signal(scene, config, tx, rx).transpose(1, 2, 0)[None]
    lift = np.array([0.0, 0.0, config.array_z_mm])
    path = meas.write_raw(tmp_path / "face.h5", signal.astype(np.complex64), tx - lift, rx - lift,
                          config.frequencies_hz, subject=["builtin"], expression=["neutral"], range_mm=400.0)
    captures = meas.load(path, config, progress=False)
    np.testing.assert_allclose(captures.amplitude[0], reference.amplitude, atol=2e-3)
    both = (captures.amplitude[0] > 0) & reference.foreground
    assert both.sum() > 0.9 * reference.foreground.sum()
    np.testing.assert_allclose(captures.depth_mm()[0][both], reference.depth_mm()[both], atol=0.05)


def test_empty_room_subtraction_removes_static_clutter(tmp_path):
    tx, rx = (strided(p, 4) for p in qar50_positions())
    target, clutter = np.array([[0.0, 0.0, -400.0]]), np.array([[44.0, 28.0, -360.0]])
    empty = point_signal(tx, rx, FREQS, clutter, np.array([3.0]))
    capture = empty + point_signal(tx, rx, FREQS, target, np.array([1.0]))
    signal = capture[None].astype(np.complex64)
    with_empty = write_layout(tmp_path / "subtracted.h5", signal, tx, rx, FREQS, empty_room=empty.astype(np.complex64))
    without = write_layout(tmp_path / "cluttered.h5", signal, tx, rx, FREQS)
    clean, cluttered = (meas.load(p, QAR, progress=False) for p in (with_empty, without))
    col = int(np.argmin(np.abs(clean.x_mm - 44.0)))
    row = int(np.argmin(np.abs(clean.y_mm - 28.0)))
    assert cluttered.amplitude[0, row, col] == 1.0  # the clutter is the brightest return
    assert clean.amplitude[0, row, col] == 0.0  # gone below the dynamic range
    assert clean.amplitude[0, 7:9, 7:9].max() == 1.0  # the target (on the axis, between four pixels) remains
    assert clean.radar["empty_room_subtracted"] and not cluttered.radar["empty_room_subtracted"]


# ----------------------------------------------------------------------------- errors
def _good():
    tx, rx = (strided(p, 8) for p in qar50_positions())
    freqs = np.linspace(72e9, 82e9, 4)
    signal = point_signal(tx, rx, freqs, POINTS[:1], AMPLITUDES[:1])[None].astype(np.complex64)
    return {"signal": signal, "tx": tx, "rx": rx, "freqs": freqs}


BAD = {
    "signal shape": (lambda g: g.update(signal=g["signal"][..., :3]), "/raw/signal", "(N >= 1, 12, 12, 4)"),
    "signal dtype": (lambda g: g.update(signal=g["signal"].real.copy()), "/raw/signal", "complex"),
    "signal non-finite": (lambda g: g["signal"].__setitem__((0, 1, 2, 3), np.nan), "/raw/signal", "NaN"),
    "positions count": (lambda g: g.update(tx=g["tx"][:-1]), "/raw/signal", "got (1, 12, 12, 4)"),
    "positions shape": (lambda g: g.update(rx=g["rx"][:, :2]), "/raw/rx_positions_mm",
                        "(Nr, 3) = (Nr >= 1, 3), got (12, 2)"),
    "frequencies not uniform": (lambda g: g.update(freqs=np.array([72e9, 73e9, 75e9, 76e9])), "/raw/frequencies_hz",
                                "uniform"),
    "empty room shape": (lambda g: g.update(empty_room=g["signal"][0, :, :, :2]), "/raw/empty_room", "(12, 12, 4)"),
    "transform moved sideways": (lambda g: g.update(transform=np.array([[1, 0, 0, 5.0], [0, 1, 0, 0], [0, 0, 1, 490],
                                                                        [0, 0, 0, 1]])), "/raw/radar_to_model",
                                 "translation"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_raw_files_raise_an_error_naming_the_field(tmp_path, case):
    good = _good()
    change, field, text = BAD[case]
    change(good)
    path = write_layout(tmp_path / "bad.h5", good["signal"], good["tx"], good["rx"], good["freqs"],
                        empty_room=good.get("empty_room"), transform=good.get("transform"))
    with pytest.raises(MeasurementFormatError) as err:
        meas.load(path, QAR, progress=False)
    assert err.value.field == field and text in str(err.value), str(err.value)


# the attribute checks of image files apply to raw files too, before any back-projection
REFUSED = {
    "zero captures": (lambda g: g.update(signal=g["signal"][:0]), "/raw/signal",
                      ["holds 0 captures (shape (0, 12, 12, 4), N = 0)", "needs N >= 1"]),
    "complete as a string": (lambda g: g.update(attrs={"/@complete": "False"}), "/@complete",
                             ["got the string 'False'", "write the file again"]),
    "half a frequency step": (lambda g: g.update(attrs={"/radar@n_freq": 0.5}), "/radar@n_freq",
                              ["expected an integer, got 0.5 (float)"]),
    "array 1e9 mm away": (lambda g: g.update(attrs={"/ground_truth@array_z_mm": 1e9}), "/ground_truth@array_z_mm",
                          ["got 1e+09 mm, accepted [-5000, 5000] mm"]),
    "transform 1e9 mm away": (lambda g: g.update(transform=translation(1e9)), "/raw/radar_to_model",
                              ["z translation (array_z_mm) is 1e+09 mm, accepted [-5000, 5000] mm"]),
    "range in metres": (lambda g: g.update(range_mm=0.4), "/radar@range_mm",
                        ["got 0.4 mm, accepted [50, 10000] mm", "store millimetres"]),
    "frequencies in GHz": (lambda g: g.update(freqs=g["freqs"] / 1e9), "/raw/frequencies_hz",
                           ["values must lie in [1e+09, 1e+12] Hz, got [72, 82]", "store Hz"]),
    "all-zero signal": (lambda g: g.update(signal=np.zeros_like(g["signal"])), "/raw/signal",
                        ["capture 0 of 1 is all zeros", "drop empty captures"]),
    "signal equal to the empty room": (lambda g: g.update(empty_room=g["signal"][0]), "/raw/signal",
                                       ["all zeros after subtracting /raw/empty_room"]),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_implausible_raw_files_are_refused_before_back_projection(tmp_path, monkeypatch, case):
    from radarface.measurements import raw

    def no_back_projection(*args, **kwargs):
        raise AssertionError("refused files must not be back-projected")

    monkeypatch.setattr(raw, "reconstruct_volume", no_back_projection)
    good = _good()
    change, field, words = REFUSED[case]
    change(good)
    path = write_layout(tmp_path / "bad.h5", good["signal"], good["tx"], good["rx"], good["freqs"],
                        empty_room=good.get("empty_room"), transform=good.get("transform"),
                        range_mm=good.get("range_mm", 400.0), attrs=good.get("attrs"))
    for reader in (lambda p: meas.load(p, QAR, progress=False), lambda p: meas.read(p, config=QAR, progress=False)):
        with pytest.raises(MeasurementFormatError) as err:
            reader(path)
        message = str(err.value)
        assert err.value.field == field and message.startswith(f"{path}: {field}: "), message
        for word in words:
            assert word in message, (word, message)


INCOMPATIBLE = {
    "band outside training": ({"freqs": np.linspace(90e9, 100e9, 4)}, {}, "/radar@f_start_hz", "90-100 GHz"),
    "range": ({}, {"range_mm": 300.0}, "/radar@range_mm", "300"),
    "swapped array": ({"swap": True}, {}, "/raw/tx_positions_mm", "nearest training transmitter"),
}


@pytest.mark.parametrize("case", sorted(INCOMPATIBLE))
def test_raw_captures_of_another_radar_are_refused(tmp_path, case):
    good = _good()
    change, options, field, text = INCOMPATIBLE[case]
    good.update(change)
    tx, rx = (good["rx"], good["tx"]) if good.get("swap") else (good["tx"], good["rx"])
    path = write_layout(tmp_path / "other.h5", good["signal"], tx, rx, good["freqs"], **options)
    with pytest.raises(MeasurementFormatError) as err:
        meas.load(path, QAR, progress=False)
    assert err.value.field == field and text in str(err.value) and "training" in str(err.value), str(err.value)


def test_a_square_trained_network_refuses_another_layout_but_takes_its_own(tmp_path):
    square = RadarConfig(image_size=16, pixel_mm=8.0, max_internal_pitch_mm=4.0, voxel_depth_mm=6.0, n_freq=16)
    tx, rx = (strided(p, 8) for p in qar50_positions())
    rotated = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])  # turn the array by 90°
    signal = point_signal(tx @ rotated.T, rx @ rotated.T, FREQS, POINTS[:1], AMPLITUDES[:1])[None]
    path = write_layout(tmp_path / "turned.h5", signal.astype(np.complex64), tx @ rotated.T, rx @ rotated.T, FREQS)
    with pytest.raises(MeasurementFormatError, match="nearest training transmitter"):
        meas.load(path, square, progress=False)
    # the radar_to_model rotation turns the same antennas back into the model's axes
    transform = np.eye(4)
    transform[:3, :3], transform[2, 3] = rotated.T, square.array_z_mm
    path = write_layout(tmp_path / "turned_back.h5", signal.astype(np.complex64), tx @ rotated.T, rx @ rotated.T,
                        FREQS, transform=transform)
    assert meas.load(path, QAR, progress=False).amplitude.max() == 1.0


def test_write_raw_refuses_labels_of_another_length(tmp_path):
    good = _good()
    with pytest.raises(MeasurementFormatError, match="/captures/subject"):
        meas.write_raw(tmp_path / "x.h5", good["signal"], good["tx"], good["rx"], good["freqs"],
                       subject=["a", "b"], expression=["n"], range_mm=400.0)
    assert not (tmp_path / "x.h5").exists()
