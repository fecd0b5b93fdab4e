"""Measurement files: format round trip, validation errors naming the field, radar compatibility,
resampling onto the training grid, surrogate measurements (determinism, reuse, atomic writes)."""

import dataclasses
from dataclasses import replace

import h5py
import numpy as np
import pytest
import torch

from radarface import profiles, radar
from radarface import measurements as meas
from radarface.dataset import DatasetSettings
from radarface.measurements import Captures, MeasurementFormatError
from radarface.measurements import surrogate as sur
from radarface.radar import ImageGrid, RadarConfig

# A tiny training set-up: 16 x 16 pixels of 16 mm (the 256 mm field of view), coarse internal grid
# and surface quadrature, so that an exact render takes a fraction of a second.
CFG = profiles.resolve("smoke", image_size=16)
TRAIN = RadarConfig.from_profile(CFG)
RENDER = RadarConfig.from_profile(CFG, max_internal_pitch_mm=4.0, voxel_depth_mm=6.0, surface_spacing_mm=2.5)
DATA = DatasetSettings.from_profile(CFG)
MODEL = DATA.face_model()
FAST = {"subjects": 2, "expressions": ("neutral", "expr_a"), "poses": 1, "antenna_stride": 8}


def fast(**settings) -> meas.SurrogateSettings:
    """The profile's surrogate settings made small (4 captures), then ``settings``."""
    return meas.SurrogateSettings.from_profile(CFG, **{**FAST, **settings})


def make(path, config=RENDER, overwrite=False, **settings):
    """A small surrogate file at ``path`` (4 captures unless told otherwise)."""
    return meas.make_surrogate(path, fast(**settings), config, MODEL, overwrite=overwrite, progress=False, workers=1)


@pytest.fixture(scope="module")
def surrogate(tmp_path_factory):
    return make(tmp_path_factory.mktemp("surrogate") / "surrogate.h5")


def synthetic(n=3, config=TRAIN, *, centre_mm=(10.0, -20.0), z_mm=120.0, dr=20.0, window=None) -> Captures:
    """Captures of a Gaussian blob (peak at ``centre_mm``, surface at model-frame ``z_mm``) on the
    training grid of ``config``, with labels and ground truth; no rendering."""
    x, y = ImageGrid.from_config(config).output_axes()
    near, far = window or meas.training_range_window(config)
    r2 = (x[None, :] - centre_mm[0]) ** 2 + (y[:, None] - centre_mm[1]) ** 2
    db = np.maximum(-r2 / (2 * 30.0**2) * 10.0, -dr - 5)  # -10 dB at 30 mm from the centre
    amplitude = np.clip((db + dr) / dr, 0, 1)
    distance = config.array_z_mm - z_mm - 0.05 * r2 / 30.0  # surface curving away from the array
    depth = np.where(amplitude > 0, (far - distance) / (far - near), 0.0)
    rng = np.random.default_rng(0)
    return Captures(
        amplitude=np.repeat(amplitude[None], n, 0).astype(np.float32),
        depth=np.repeat(depth[None], n, 0).astype(np.float32),
        subject=np.array([f"P{i}" for i in range(n)]), expression=np.array(["neutral"] * n), x_mm=x, y_mm=y,
        range_window_mm=(near, far), dynamic_range_db=dr,
        radar={"f_start_hz": 72e9, "f_stop_hz": 82e9, "n_freq": 64, "aperture_mm": 200.0, "range_mm": 400.0,
               "n_tx": 94, "n_rx": 94},
        array_z_mm=config.array_z_mm, pose=np.zeros((n, 6)),
        ground_truth_vertices=rng.normal(0, 50, (n, 5, 3)).astype(np.float32),
        ground_truth_triangles=np.array([[0, 1, 2], [2, 3, 4]]),
        ground_truth_params={"shape": rng.normal(size=(n, 10)), "expression": rng.normal(size=(n, 7)),
                             "pose": np.zeros((n, 6))})


# ----------------------------------------------------------------------------- surrogate round trip
def test_surrogate_round_trip_gives_encoder_ready_captures(surrogate):
    loaded = meas.load(surrogate, TRAIN)
    assert len(loaded) == 4 and loaded.image_shape == (16, 16)
    assert loaded.simulated and loaded.dynamic_range_db == TRAIN.dynamic_range_db
    assert loaded.subject.tolist() == ["S01", "S01", "S02", "S02"]
    assert loaded.expression.tolist() == ["neutral", "expr_a"] * 2
    for image in (loaded.amplitude, loaded.depth):
        assert image.dtype == np.float32 and image.min() >= 0 and image.max() <= 1
    assert np.allclose(loaded.amplitude.max(axis=(1, 2)), 1.0)  # each capture normalised to its peak
    assert np.all(loaded.depth[loaded.amplitude == 0] == 0)  # background depth as in training
    assert 0.05 < (loaded.amplitude > 0).mean() < 0.9
    x, y = ImageGrid.from_config(TRAIN).output_axes()
    assert np.allclose(loaded.x_mm, x) and np.allclose(loaded.y_mm, y)
    # ground truth: posed vertices in mm in the training frame, and the parameters
    model_vertices = loaded.ground_truth_vertices
    assert model_vertices.shape[0] == 4 and model_vertices.shape[2] == 3
    assert loaded.ground_truth_params["shape"].shape == (4, 10)
    assert loaded.ground_truth_params["expression"].shape == (4, 7)
    assert np.array_equal(loaded.ground_truth_params["expression"][0], np.zeros(7))
    assert loaded.ground_truth_triangles.max() < model_vertices.shape[1]
    assert np.all(np.array(loaded.attrs["simulation"]["image_snr_db"]) > 20.0)
    simulation = loaded.attrs["simulation"]
    for key in ("point_snr_db", "material", "roughness_mm", "jitter_mm", "phase_std_deg", "blanket", "image_snr_db"):
        assert key in simulation
    assert simulation["material"] > 0.5  # outside the training range [0, 0.5]
    assert len(loaded.radar["tx_positions_mm"]) == len(loaded.radar["tx_index"]) < 94


def test_surrogate_depth_matches_its_ground_truth_mesh(tmp_path):
    # stride 4: every 4th antenna keeps grating lobes out of the face (stride 8 smears the nose's
    # depth over the image); one capture, frontal
    loaded = meas.load(make(tmp_path / "s.h5", subjects=1, expressions="neutral", antenna_stride=4), TRAIN)
    x, y = np.meshgrid(loaded.x_mm, loaded.y_mm)
    vertices, depth = loaded.ground_truth_vertices[0], loaded.depth_mm()[0]
    errors = []
    for row, col in zip(*np.nonzero(loaded.amplitude[0] > 0.6)):
        inside = (np.abs(vertices[:, 0] - x[row, col]) < 8) & (np.abs(vertices[:, 1] - y[row, col]) < 8)
        if inside.any():
            errors.append(depth[row, col] - vertices[inside, 2].max())
    # the bright pixels sit on the mesh's front surface (mm): no offset between the frames
    assert len(errors) >= 10 and abs(np.median(errors)) < 4.0


def test_encoder_input_matches_the_training_dataset_channel_order(surrogate):
    loaded = meas.load(surrogate, TRAIN)
    both = loaded.encoder_input("both")
    assert both.shape == (4, 2, 16, 16) and both.dtype == torch.float32
    assert torch.equal(both[:, 0], torch.from_numpy(loaded.amplitude))
    assert torch.equal(both[:, 1], torch.from_numpy(loaded.depth))
    assert loaded.encoder_input("depth").shape == (4, 1, 16, 16)
    assert torch.equal(loaded.encoder_input("amplitude")[:, 0], both[:, 0])
    with pytest.raises(ValueError, match="inputs must be one of"):
        loaded.encoder_input("phase")


def test_surrogate_identities_are_stored_fixed_and_not_dataset_samples(surrogate):
    from radarface.dataset import sample_parameters
    from radarface.facemodel import load_model

    loaded = meas.read(surrogate)
    shapes = meas.identities(CFG["surrogate_seed"], 2, 10)
    assert np.array_equal(loaded.ground_truth_params["shape"][::2], shapes)
    model = load_model("builtin")
    for seed in (CFG["seed"], CFG["surrogate_seed"]):  # same seed number, still other streams
        for i in range(50):
            drawn = sample_parameters(seed, i, model)["shape"]
            assert np.abs(shapes - drawn).max() > 0.1


def test_expression_vectors_are_fixed_distinct_and_labelled():
    vectors = meas.expression_vectors(7)
    assert list(vectors) == list(meas.EXPRESSION_LABELS)
    assert np.array_equal(vectors["neutral"], np.zeros(7))
    others = np.stack([vectors[k] for k in meas.EXPRESSION_LABELS[1:]])
    gram = others @ others.T
    assert np.allclose(gram, np.diag(np.diag(gram)), atol=1.0)  # nearly orthogonal (clipping aside)
    assert np.all(np.linalg.norm(others, axis=1) > 1.5)
    assert all(np.array_equal(vectors[k], meas.expression_vectors(7)[k]) for k in vectors)


def test_surrogate_is_deterministic_in_its_seed(tmp_path, surrogate):
    first = meas.read(surrogate).select(slice(0, 2))  # subject S01: the same capture streams
    again = meas.read(make(tmp_path / "again.h5", subjects=1))
    for name in ("amplitude", "depth", "ground_truth_vertices", "pose"):
        assert np.array_equal(getattr(first, name), getattr(again, name)), name
    other = meas.read(make(tmp_path / "other.h5", seed=8, subjects=1, expressions="neutral"))
    assert not np.array_equal(first.ground_truth_params["shape"][0], other.ground_truth_params["shape"][0])
    assert not np.array_equal(first.amplitude[0], other.amplitude[0])


def test_surrogate_is_reused_refused_or_overwritten(tmp_path, monkeypatch):
    path = make(tmp_path / "s.h5", subjects=1, expressions="neutral")
    stamp = path.stat().st_mtime_ns

    def no_render(*args, **kwargs):
        raise AssertionError("a complete file with the same settings must be reused")

    monkeypatch.setattr(sur, "render_capture", no_render)
    assert make(path, subjects=1, expressions="neutral") == path and path.stat().st_mtime_ns == stamp
    with pytest.raises(ValueError, match="material=0.7, now 0.8"):
        make(path, subjects=1, expressions="neutral", material=0.8)
    monkeypatch.undo()
    make(path, subjects=1, expressions="neutral", material=0.8, overwrite=True)
    assert meas.read(path).attrs["simulation"]["material"] == 0.8


def test_a_crash_leaves_no_file_that_looks_complete(tmp_path, monkeypatch):
    calls = []
    original = sur.render_capture

    def crash_on_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(sur, "render_capture", crash_on_second)
    with pytest.raises(KeyboardInterrupt):
        make(tmp_path / "crash.h5")
    assert list(tmp_path.iterdir()) == []


def test_blanket_calibration_and_noise_change_the_images(tmp_path):
    clean = dict(point_snr_db=200.0, jitter_mm=0.0, phase_std_deg=0.0, gain_std_db=0.0, subjects=1,
                 expressions="neutral")
    base = meas.read(make(tmp_path / "clean.h5", **clean)).amplitude[0]
    for name, change in (("blanket", {"blanket": True}), ("jitter", {"jitter_mm": 0.3, "phase_std_deg": 20.0}),
                         ("noise", {"point_snr_db": 25.0})):
        other = meas.read(make(tmp_path / f"{name}.h5", **{**clean, **change}))
        assert np.abs(other.amplitude[0] - base).mean() > 0.01, name
        assert np.corrcoef(other.amplitude[0].ravel(), base.ravel())[0, 1] > 0.3, name
        if name == "noise":
            assert other.attrs["simulation"]["image_snr_db"][0] < 25.0


def test_ensure_surrogate_writes_under_radarface_data_and_reuses(tmp_path, monkeypatch):
    from radarface import progress

    monkeypatch.setenv("RADARFACE_DATA", str(tmp_path))
    monkeypatch.setenv(progress.STAGES_ENV, str(tmp_path / "stages.jsonl"))
    settings = meas.SurrogateSettings.from_profile(CFG, subjects=1, expressions="neutral", antenna_stride=16)
    path = meas.ensure_surrogate(settings, replace(DATA, workers=1), progress=False)
    assert path.parent == tmp_path and path.name.startswith("surrogate_smoke_")
    assert "profile smoke" in meas.read(path).attrs["description"]
    seconds = meas.read(path).attrs["render_timing"]["wall_seconds"]
    assert progress.read_stages(tmp_path / "stages.jsonl") == {path.name: {"made": True, "seconds": round(seconds, 1)}}
    assert meas.ensure_surrogate(settings, DATA, progress=False) == path  # reused: workers do not name it
    assert progress.read_stages(tmp_path / "stages.jsonl")[path.name] == {"made": True, "seconds": round(seconds, 1)}
    (tmp_path / "stages.jsonl").unlink()
    meas.ensure_surrogate(settings, DATA, progress=False)
    assert progress.read_stages(tmp_path / "stages.jsonl") == {path.name: {"made": False, "seconds": round(seconds, 1)}}
    assert meas.default_surrogate_path(settings, DATA) == path
    assert meas.default_surrogate_path(replace(settings, blanket=True), DATA) != path
    assert meas.default_surrogate_path(settings, replace(DATA, n_samples=DATA.n_samples + 1)) == path


def test_profiles_set_the_surrogate_sizes():
    smoke, cpu, paper = (profiles.resolve(p) for p in ("smoke", "cpu", "paper"))
    assert smoke["surrogate_poses"] == 1 and cpu["surrogate_poses"] == 2
    assert smoke["surrogate_antenna_stride"] > cpu["surrogate_antenna_stride"] >= paper["surrogate_antenna_stride"] == 1
    assert meas.SurrogateSettings.from_profile(smoke).antenna_stride == smoke["surrogate_antenna_stride"]
    with pytest.raises(ValueError, match="unknown surrogate setting"):
        meas.SurrogateSettings.from_profile(smoke, colour="red")


# ----------------------------------------------------------------------------- resampling
def test_same_grid_passes_through_unchanged(tmp_path):
    captures = synthetic()
    path = meas.write(tmp_path / "m.h5", captures)
    loaded = meas.load(path, TRAIN)
    assert np.array_equal(loaded.amplitude, captures.amplitude) and np.array_equal(loaded.depth, captures.depth)


@pytest.mark.parametrize("size, pixel_mm", [(40, 6.0), (10, 24.0), (23, 9.5)])
def test_another_grid_is_resampled_and_the_face_stays_in_place(tmp_path, size, pixel_mm):
    other = TRAIN.replace(image_size=size, pixel_mm=pixel_mm)
    centre, z = (24.0, -40.0), 110.0
    path = meas.write(tmp_path / "m.h5", synthetic(config=other, centre_mm=centre, z_mm=z, dr=30.0,
                                                      window=(250.0, 600.0)))
    loaded = meas.load(path, TRAIN)
    assert loaded.image_shape == (16, 16) and loaded.dynamic_range_db == 20.0
    x, y = ImageGrid.from_config(TRAIN).output_axes()
    assert np.allclose(loaded.x_mm, x) and np.allclose(loaded.y_mm, y)
    reference = synthetic(config=TRAIN, centre_mm=centre, z_mm=z)
    row, col = np.unravel_index(np.argmax(loaded.amplitude[0]), (16, 16))
    assert abs(x[col] - centre[0]) <= 8 and abs(y[row] - centre[1]) <= 8  # the pixel holding the peak
    fg = (loaded.amplitude[0] > 0.3) & (reference.amplitude[0] > 0.3)
    assert fg.sum() >= 4
    # training conventions: dB below the peak over 20 dB, depth over the training window
    assert np.abs(loaded.amplitude[0][fg] - reference.amplitude[0][fg]).max() < 0.2
    assert np.abs(loaded.depth_mm()[0][fg] - reference.depth_mm()[0][fg]).max() < 3.0


def test_rendered_faces_land_in_the_same_place_on_another_grid(tmp_path, surrogate):
    # the same captures rendered on 36 pixels of 7 mm (252 mm, internal lattice 3.5 mm instead of
    # 4 mm), loaded onto the training grid, against the training-grid file clipped to 20 dB by hand
    fine = RENDER.replace(image_size=36, pixel_mm=7.0)
    resampled = meas.load(make(tmp_path / "fine.h5", config=fine), TRAIN)
    assert meas.read(tmp_path / "fine.h5").image_shape == (36, 36)
    raw = meas.read(surrogate)
    expected = np.clip((raw.amplitude - 1) * raw.dynamic_range_db / 20.0 + 1, 0, 1)
    x, y = np.meshgrid(raw.x_mm, raw.y_mm)
    for a, b in zip(expected, resampled.amplitude):
        wa, wb = a**4, b**4  # the bright face, not the speckled background
        centroid_a = np.array([(x * wa).sum(), (y * wa).sum()]) / wa.sum()
        centroid_b = np.array([(x * wb).sum(), (y * wb).sum()]) / wb.sum()
        assert np.abs(centroid_a - centroid_b).max() < 4.0  # a quarter pixel (half a pixel off gives 8)
        assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.95
    fg = (expected > 0.5) & (resampled.amplitude > 0.5)
    assert np.median(np.abs(raw.depth_mm()[fg] - resampled.depth_mm()[fg])) < 6.0


def test_volume_files_form_the_images_the_renderer_forms(tmp_path):
    from radarface.facemodel import load_model
    from radarface.measurements.files import to_flat, write_flat
    from radarface.radar import render

    config = TRAIN.replace(max_internal_pitch_mm=16.0, dynamic_range_db=30.0)  # one voxel column per pixel
    model = load_model("builtin")
    image = render(model.vertices(), model.triangles, config, return_volume=True)
    flat = to_flat(synthetic(1))
    for key in ("/captures/amplitude", "/captures/depth", "/grid@dynamic_range_db", "/grid@range_window_mm"):
        flat.pop(key)
    flat["/captures/volume"] = image.volume[None, :, :, ::-1]  # z ascending = distance descending
    flat["/grid/range_axis_mm"] = config.array_z_mm - image.z_mm[::-1]
    flat["/grid@dynamic_range_db"] = 30.0
    read_back = meas.read(write_flat(tmp_path / "v.h5", flat))
    assert np.allclose(read_back.amplitude[0], image.amplitude, atol=1e-5)
    assert np.allclose(read_back.depth[0], image.depth, atol=1e-5)
    assert np.allclose(read_back.depth_mm()[0], image.depth_mm() - config.array_z_mm + read_back.array_z_mm,
                       equal_nan=True)


# ----------------------------------------------------------------------------- bad input
@pytest.fixture
def good_file(tmp_path):
    return meas.write(tmp_path / "good.h5", synthetic())


def _edit(path, action):
    with h5py.File(path, "r+") as h5:
        action(h5)
    return path


def _replace(name, value):
    def action(h5):
        del h5[name]
        h5[name] = value
    return action


def _set_attr(where, name, value):
    def action(h5):
        h5[where].attrs[name] = value
    return action


def _del_attr(where, name):
    def action(h5):
        del h5[where].attrs[name]
    return action


def _poke(name, index, value):
    def action(h5):
        data = h5[name][()]
        data[index] = value
        h5[name][...] = data
    return action


BAD = {
    "missing dataset": (lambda h5: h5.__delitem__("captures/depth"), "/captures/depth", "missing"),
    "missing attribute": (_del_attr("radar", "f_start_hz"), "/radar@f_start_hz", "missing"),
    "wrong image shape": (_replace("captures/depth", np.zeros((3, 16, 15), np.float32)), "/captures/depth",
                          "got (3, 16, 15)"),
    "not a number": (_poke("captures/amplitude", (1, 2, 3), np.nan), "/captures/amplitude", "NaN"),
    "infinite vertex": (_poke("ground_truth/vertices", (0, 1, 2), np.inf), "/ground_truth/vertices", "infinite"),
    "dB instead of [0, 1]": (_poke("captures/amplitude", (0, 0, 0), -20.0), "/captures/amplitude", "[0, 1]"),
    "depth in mm": (_poke("captures/depth", (0, 0, 0), 120.0), "/captures/depth", "[0, 1]"),
    "inconsistent counts": (_replace("captures/subject", np.array([b"P0", b"P1"])), "/captures/subject",
                            "inconsistent capture counts"),
    "short pose": (_replace("captures/pose", np.zeros((3, 5))), "/captures/pose", "(N, 6)"),
    "params count": (_replace("ground_truth/shape", np.zeros((2, 10))), "/ground_truth/shape", "2 captures"),
    "partial params": (lambda h5: h5.__delitem__("ground_truth/expression"), "/ground_truth/expression", "all of"),
    "unknown version": (_set_attr("/", "format_version", 2), "/@format_version", "got 2, expected 1"),
    "another format": (_del_attr("/", "format"), "/@format", "not a radarface measurement file"),
    "incomplete": (_set_attr("/", "complete", False), "/@complete", "incomplete"),
    "x axis reversed": (_replace("grid/x_mm", np.arange(16.0)[::-1]), "/grid/x_mm", "ascending"),
    "uneven y axis": (_replace("grid/y_mm", -np.arange(16.0) ** 1.5), "/grid/y_mm", "uniformly spaced"),
    "band backwards": (_set_attr("radar", "f_stop_hz", 70e9), "/radar@f_stop_hz", "exceed f_start_hz"),
    "negative range": (_set_attr("radar", "range_mm", -400.0), "/radar@range_mm", "got -400 mm, accepted [50, 10000] mm"),
    "window order": (_set_attr("grid", "range_window_mm", [530.0, 290.0]), "/grid@range_window_mm", "near < far"),
    "simulated, not said how": (_set_attr("/", "simulated", True), "/@simulation", "how it was simulated"),
    "labels as numbers": (_replace("captures/expression", np.arange(3)), "/captures/expression", "str"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_files_raise_an_error_naming_the_field(good_file, case):
    action, field, words = BAD[case]
    _edit(good_file, action)
    with pytest.raises(MeasurementFormatError) as info:
        meas.load(good_file, TRAIN)
    assert info.value.field == field
    assert field in str(info.value) and words in str(info.value) and str(good_file) in str(info.value)


def write_h5(path, *, n=2, **changes):
    """An images file of ``n`` captures written with h5py alone, following data/README.md; ``changes``
    map HDF5 paths (``/group/dataset`` or ``/group@attribute``) to the values to store instead."""
    x, y = ImageGrid.from_config(TRAIN).output_axes()
    amplitude = np.zeros((n, len(y), len(x)), np.float32)
    amplitude[:, 7:9, 7:9] = 1.0
    entries = {"/@format": "radarface-measurements", "/@format_version": 1, "/@complete": True,
               "/radar@f_start_hz": 72e9, "/radar@f_stop_hz": 82e9, "/radar@n_freq": 64, "/radar@aperture_mm": 200.0,
               "/radar@range_mm": 400.0, "/radar@n_tx": 94, "/radar@n_rx": 94, "/grid/x_mm": x, "/grid/y_mm": y,
               "/grid@range_window_mm": np.array(meas.training_range_window(TRAIN)), "/grid@dynamic_range_db": 20.0,
               "/captures/amplitude": amplitude, "/captures/depth": 0.5 * amplitude,
               "/captures/subject": np.array([f"P{i}" for i in range(n)], dtype=object),
               "/captures/expression": np.array(["neutral"] * n, dtype=object), "/captures/pose": np.zeros((n, 6)),
               "/ground_truth@array_z_mm": TRAIN.array_z_mm}
    entries.update(changes)
    with h5py.File(path, "w") as h5:
        for key, value in entries.items():
            where, _, attr = key.partition("@")
            if attr:
                h5.require_group(where).attrs[attr] = value
            elif np.asarray(value).dtype == object:
                h5.create_dataset(where, data=value, dtype=h5py.string_dtype())
            else:
                h5[where] = value
    return path


# files that once loaded (or failed with a traceback) and must be refused naming file, field, value,
# accepted range or type, and what to do
REFUSED = {
    "zero captures": ({"n": 0}, "/captures/amplitude",
                      ["holds 0 captures (shape (0, 16, 16), N = 0)", "needs N >= 1", "write the file with its captures"]),
    "dynamic range 1e6 dB": ({"/grid@dynamic_range_db": 1e6}, "/grid@dynamic_range_db",
                             ["got 1e+06 dB, accepted [1, 200] dB", "store the dynamic range in dB"]),
    "all-zero amplitude": ({"/captures/amplitude": np.zeros((2, 16, 16), np.float32),
                            "/captures/depth": np.zeros((2, 16, 16), np.float32)}, "/captures/amplitude",
                           ["capture 0 (subject 'P0', expression 'neutral') is all zeros, 2 of 2 captures are",
                            "accepted: a peak above 0 in every capture", "drop empty captures"]),
    "array 1e9 mm away": ({"/ground_truth@array_z_mm": 1e9}, "/ground_truth@array_z_mm",
                          ["got 1e+09 mm, accepted [-5000, 5000] mm", "store the z of the array plane in mm"]),
    "complete as a string": ({"/@complete": "False"}, "/@complete",
                             ["expected a boolean (True or False), got the string 'False'", "write the file again"]),
    "half a frequency step": ({"/radar@n_freq": 0.5}, "/radar@n_freq",
                              ["expected an integer, got 0.5 (float)", "store the number of frequency steps as an "
                                                                        "integer"]),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_implausible_files_are_refused_on_load_saying_what_to_do(tmp_path, case):
    changes, field, words = REFUSED[case]
    path = write_h5(tmp_path / "m.h5", **changes)
    for reader in (meas.read, lambda p: meas.load(p, TRAIN)):
        with pytest.raises(MeasurementFormatError) as info:
            reader(path)
        message = str(info.value)
        assert info.value.field == field and message.startswith(f"{path}: {field}: "), message
        for word in words:
            assert word in message, (word, message)


def test_the_h5py_written_file_loads_and_takes_integral_numbers_and_0_1_flags(tmp_path):
    assert len(meas.load(write_h5(tmp_path / "m.h5"), TRAIN)) == 2  # the cases above fail for their change alone
    # writers that store every number as a double, or flags as 0/1 (no HDF5 boolean type)
    loaded = meas.read(write_h5(tmp_path / "matlab.h5", **{"/radar@n_freq": 64.0, "/@complete": np.uint8(1)}))
    assert loaded.radar["n_freq"] == 64 and isinstance(loaded.radar["n_freq"], int)
    with pytest.raises(MeasurementFormatError, match="got 2"):
        meas.read(write_h5(tmp_path / "two.h5", **{"/@complete": 2}))


def test_pose_angles_beyond_a_turn_and_coefficients_in_mm_are_refused(tmp_path):
    pose = np.zeros((2, 6))
    pose[1, 0] = 1e20
    with pytest.raises(MeasurementFormatError, match=r"1 of 12 outside, first 1e\+20 at index \(1, 0\)"):
        meas.read(write_h5(tmp_path / "p.h5", **{"/captures/pose": pose}))


def test_the_schema_table_is_complete_and_renders():
    from radarface.measurements import schema

    table = schema.markdown_table()
    for spec in meas.FIELDS:
        assert f"`{spec.path}`" in table
        assert spec.dtype in schema.DTYPES and spec.meaning and spec.todo
        assert all(isinstance(d, int) or d in schema.DIMENSIONS for d in spec.shape)
    written = set(meas.files.to_flat(synthetic()))
    known = {spec.path for spec in meas.FIELDS}
    assert written - known <= {"/@description"} | {k for k in written if k.startswith("/radar@")}


def test_data_readme_holds_the_schema_table():
    from radarface.measurements import schema
    from radarface.paths import ROOT

    text = (ROOT / "data" / "README.md").read_text()
    begin, end = "<!-- schema:measurements:begin", "<!-- schema:measurements:end -->"
    block = text[text.index(begin):text.index(end)].split("\n", 1)[1].strip()
    assert block == schema.markdown_table(), (
        "data/README.md's measurement table differs from radarface.measurements.schema.FIELDS: "
        "replace the block between its schema:measurements markers with schema.markdown_table()")


def test_the_good_file_loads(good_file):
    assert len(meas.load(good_file, TRAIN)) == 3  # so the cases above fail for their edit alone


def test_missing_and_non_hdf5_files(tmp_path):
    with pytest.raises(MeasurementFormatError, match="does not exist") as info:
        meas.load(tmp_path / "nope.h5")
    assert isinstance(info.value, FileNotFoundError)
    text = tmp_path / "notes.h5"
    text.write_text("amplitude, depth\n")
    with pytest.raises(MeasurementFormatError, match="not an HDF5 file"):
        meas.load(text)
    with pytest.raises(MeasurementFormatError, match="is a folder"):
        meas.read(tmp_path)


def test_write_refuses_invalid_captures_and_leaves_no_file(tmp_path):
    bad = dataclasses.replace(synthetic(), amplitude=synthetic().amplitude * 40 - 20)  # dB, not [0, 1]
    with pytest.raises(MeasurementFormatError, match="/captures/amplitude"):
        meas.write(tmp_path / "bad.h5", bad)
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- compatibility
INCOMPATIBLE = {
    "band": ({"radar": {"f_start_hz": 60e9, "f_stop_hz": 64e9}}, "/radar@f_start_hz", ["60-64 GHz", "72-82 GHz"]),
    "half the band": ({"radar": {"f_start_hz": 77e9, "f_stop_hz": 87e9}}, "/radar@f_start_hz", ["50%"]),
    "range": ({"radar": {"range_mm": 600.0}}, "/radar@range_mm", ["600 mm", "400 mm"]),
    "aperture": ({"radar": {"aperture_mm": 80.0}}, "/radar@aperture_mm", ["80 mm", "9.73 mm"]),
    "dynamic range": ({"dr": 10.0}, "/grid@dynamic_range_db", ["10 dB", "20 dB"]),
    "depth window": ({"window": (500.0, 900.0), "z": -110.0}, "/grid@range_window_mm",
                     ["500-900 mm", "290-530 mm", "outside the training depth window"]),
}


@pytest.mark.parametrize("case", sorted(INCOMPATIBLE))
def test_incompatible_radars_are_refused_naming_field_and_values(tmp_path, case):
    change, field, words = INCOMPATIBLE[case]
    captures = synthetic(dr=change.get("dr", 20.0), window=change.get("window"), z_mm=change.get("z", 120.0))
    captures.radar.update(change.get("radar", {}))
    path = meas.write(tmp_path / "m.h5", captures)
    meas.read(path)  # a valid file ...
    with pytest.raises(MeasurementFormatError, match="incompatible") as info:
        meas.load(path, TRAIN)  # ... that the training radar cannot take
    assert info.value.field == field
    for word in words:
        assert word in str(info.value)


def test_a_small_field_of_view_is_refused(tmp_path):
    small = TRAIN.replace(image_size=8, pixel_mm=16.0)  # 128 mm: a quarter of the training field
    path = meas.write(tmp_path / "m.h5", synthetic(config=small, centre_mm=(0.0, 0.0)))
    with pytest.raises(MeasurementFormatError, match="covers 25% of the training field of view") as info:
        meas.load(path, TRAIN)
    assert info.value.field == "/grid/x_mm"


def test_small_differences_are_tolerated(tmp_path):
    captures = synthetic(dr=25.0)
    captures.radar.update(f_start_hz=73e9, f_stop_hz=83e9, range_mm=430.0, aperture_mm=180.0)
    loaded = meas.load(meas.write(tmp_path / "m.h5", captures), TRAIN)
    assert loaded.dynamic_range_db == 20.0 and loaded.amplitude.max() == 1.0
    # a farther face reads as a negative tz: ground truth moves into the training frame unchanged
    assert np.allclose(loaded.ground_truth_vertices, captures.ground_truth_vertices)
    strict = meas.Tolerances(band_overlap=0.95)
    with pytest.raises(MeasurementFormatError, match="90%"):
        meas.load(tmp_path / "m.h5", TRAIN, tolerances=strict)


def test_frames_move_with_the_array_plane(tmp_path):
    captures = synthetic()
    captures.array_z_mm = 0.0  # poses and meshes given with the array plane at z = 0
    captures.ground_truth_vertices[..., 2] -= TRAIN.array_z_mm
    captures.ground_truth_params["pose"][:, 5] = -TRAIN.array_z_mm
    loaded = meas.load(meas.write(tmp_path / "m.h5", captures), TRAIN)
    assert loaded.array_z_mm == TRAIN.array_z_mm
    assert np.allclose(loaded.ground_truth_vertices, synthetic().ground_truth_vertices, atol=1e-3)
    assert np.allclose(loaded.ground_truth_params["pose"], 0.0)


def test_training_config_accepts_the_usual_descriptions():
    assert meas.training_config(None) == RadarConfig()
    assert meas.training_config(TRAIN.to_dict()) == TRAIN
    with pytest.raises(ValueError, match="config is a profile; pass RadarConfig.from_profile"):
        meas.training_config(CFG)

    class DatasetLike:
        config = TRAIN.to_dict()

    assert meas.training_config(DatasetLike()) == TRAIN
    with pytest.raises(ValueError, match="config must be"):
        meas.training_config(42)


def test_worker_processes_give_the_same_file(tmp_path, surrogate):
    pooled = meas.read(meas.make_surrogate(tmp_path / "pool.h5", fast(subjects=1), RENDER, MODEL, progress=False,
                                           workers=2))
    first = meas.read(surrogate).select(slice(0, 2))
    assert np.array_equal(pooled.amplitude, first.amplitude) and np.array_equal(pooled.depth, first.depth)
    assert pooled.attrs["render_timing"]["workers"] == 2


def test_a_few_captures_of_the_plan_are_rendered_as_the_whole_set_renders_them(tmp_path, surrogate):
    part = meas.read(make(tmp_path / "part.h5", captures=3))
    whole = meas.read(surrogate).spread(3)  # captures 0, 1 and 3 of the 4
    assert len(part) == 3 and list(part.subject) == list(whole.subject)
    assert list(part.expression) == list(whole.expression)
    assert np.array_equal(part.amplitude, whole.amplitude) and np.array_equal(part.depth, whole.depth)
    assert "3 of them evenly spaced" in part.attrs["description"]
    with pytest.raises(ValueError, match="captures must be an integer >= 0"):
        fast(captures=-1)


def test_evenly_spaced_keeps_the_ends_and_takes_all_when_asked_for_more():
    assert list(meas.evenly_spaced(40, 10)) == [0, 4, 8, 13, 17, 21, 26, 30, 34, 39]
    assert list(meas.evenly_spaced(3, 10)) == [0, 1, 2]
    with pytest.raises(ValueError, match="k >= 1"):
        meas.evenly_spaced(3, 0)


def test_surrogate_settings_are_checked():
    with pytest.raises(ValueError, match="distinct labels"):
        meas.SurrogateSettings(expressions=("neutral", "smile"))
    with pytest.raises(ValueError, match="antenna_stride must be an integer >= 1"):
        meas.SurrogateSettings(antenna_stride=0)
    with pytest.raises(ValueError, match="material must be in"):
        meas.SurrogateSettings(material=1.5)


def test_select_keeps_labels_and_ground_truth_together(good_file):
    captures = meas.read(good_file)
    picked = captures.select(captures.subject == "P1")
    assert len(picked) == 1 and picked.subject.tolist() == ["P1"]
    assert np.array_equal(picked.ground_truth_params["shape"][0], captures.ground_truth_params["shape"][1])
    assert np.array_equal(picked.ground_truth_vertices[0], captures.ground_truth_vertices[1])


def test_weak_returns_outside_the_depth_window_are_clipped_not_refused(tmp_path):
    captures = synthetic(dr=40.0, window=(200.0, 900.0))
    clutter = captures.amplitude == 0
    captures.amplitude[clutter] = 0.3  # -28 dB: below the training's 20 dB
    captures.depth[clutter] = (900.0 - 850.0) / 700.0  # 850 mm away, far behind the training window
    loaded = meas.load(meas.write(tmp_path / "m.h5", captures), TRAIN)
    assert np.all(loaded.amplitude[clutter] == 0) and np.all(loaded.depth[clutter] == 0)
    captures.amplitude[clutter] = 0.8  # -8 dB: these would stay and cannot be placed
    with pytest.raises(MeasurementFormatError, match="outside the training depth window"):
        meas.load(meas.write(tmp_path / "m2.h5", captures), TRAIN)


def test_ground_truth_names_its_face_model(surrogate):
    from radarface.facemodel import load_model

    captures = meas.read(surrogate)
    captures.require_model(load_model("builtin"))
    with pytest.raises(MeasurementFormatError, match="belong to face model 'builtin'"):
        captures.require_model(load_model("builtin", n_shape=12))


def test_surrogate_written_as_raw_channel_data_loads_to_the_same_images(tmp_path):
    # the image file back-projects a region around the face, the raw loader the whole grid: with a
    # region that covers the grid both must give the same images
    wide = RENDER.replace(roi_margin_mm=300.0)
    raw_path = meas.make_surrogate_raw(tmp_path / "raw.h5", fast(), wide, MODEL, progress=False)
    with h5py.File(raw_path, "r") as h5:
        assert h5["raw/signal"].ndim == 4 and np.iscomplexobj(h5["raw/signal"])
    from_raw = meas.load(raw_path, wide, progress=False)
    from_images = meas.load(make(tmp_path / "images.h5", config=wide), wide)
    assert list(from_raw.subject) == list(from_images.subject)
    np.testing.assert_allclose(from_raw.ground_truth_vertices, from_images.ground_truth_vertices, atol=1e-3)
    np.testing.assert_allclose(from_raw.amplitude, from_images.amplitude, atol=1e-4)
    np.testing.assert_allclose(from_raw.depth, from_images.depth, atol=1e-4)


def test_system_config_is_the_radar_the_captures_state(surrogate):
    loaded = meas.load(surrogate, TRAIN)
    system = loaded.system_config(TRAIN)
    tx, rx = radar.antenna_positions(system)
    assert np.allclose(tx, loaded.radar["tx_positions_mm"]) and np.allclose(rx, loaded.radar["rx_positions_mm"])
    assert system.n_freq == loaded.radar["n_freq"] and system.n_tx == len(tx) < TRAIN.n_tx
    assert system.aperture_mm == TRAIN.aperture_mm and system.image_size == TRAIN.image_size
    radar_frame = replace(loaded, radar={**loaded.radar, "tx_positions_mm": tx - [0, 0, TRAIN.array_z_mm],
                                         "rx_positions_mm": rx - [0, 0, TRAIN.array_z_mm]})
    assert radar_frame.system_config(TRAIN) == system
    stated = synthetic()  # band, steps and aperture only: the config's own array stays
    assert stated.system_config(TRAIN) == replace(TRAIN, n_freq=64)
    tilted = replace(loaded, radar={**loaded.radar, "tx_positions_mm": tx + [0, 0, 50.0]})
    with pytest.raises(meas.MeasurementFormatError, match="array plane"):
        tilted.system_config(TRAIN)
