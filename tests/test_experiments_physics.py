"""Method (c) over many images (radarface.experiments.physics)."""

import dataclasses

import numpy as np
import pytest
import torch

from radarface import metrics
from radarface.experiments import physics
from radarface.experiments.physics import fit_images, fit_one, fitting_config
from radarface.experiments.settings import PhysicsSettings
from radarface.facemodel import load_model
from radarface.physics_fit import LEVEL_GRID_DB, MATERIAL_GRID, parameter_normaliser, posed_vertices, start_renderer
from radarface.radar import RadarConfig

#: 32 × 32 pixels of 8 mm, 16 frequencies: a few tenths of a second per step.
SMALL = RadarConfig(image_size=32, pixel_mm=8.0, n_freq=16, max_internal_pitch_mm=4.0, surface_spacing_mm=2.0)
SETTINGS = PhysicsSettings(steps=2, spacing_mm=3.0, test_images=2)


@pytest.fixture(scope="module")
def model():
    return load_model("builtin", 4, 3)


def _faces(model, n):
    rng = np.random.default_rng(3)
    truths = [{"shape": rng.standard_normal(4), "expression": 0.5 * rng.standard_normal(3), "pose": np.zeros(6)}
              for _ in range(n)]
    mean = {"shape": np.zeros(4), "expression": np.zeros(3), "pose": np.zeros(6)}
    renderer = start_renderer(model, mean, fitting_config(SETTINGS, SMALL))
    norm = parameter_normaliser(model)
    with torch.no_grad():
        images = torch.stack([renderer(posed_vertices(model, norm, torch.tensor(norm.normalise(t), dtype=torch.float32)))
                              for t in truths])
    starts = {k: np.stack([mean[k]] * n) for k in mean}
    return truths, images, starts


def test_fit_images_fits_each_image_from_its_own_start_as_fit_one_does(model):
    truths, images, starts = _faces(model, 2)
    starts["shape"] = np.stack([t["shape"] for t in truths]) + 0.4  # near each truth, not at it
    settings = PhysicsSettings(steps=4, lr=0.05, spacing_mm=3.0)
    fits = fit_images(settings, model, images, starts, SMALL, show=False)
    assert fits.params["shape"].shape == (2, 4) and fits.params["pose"].shape == (2, 6)
    assert len(fits.seconds) == 2 and len(fits.traces) == 2 and (fits.seconds > 0).all()
    for i in range(2):
        assert min(fits.traces[i]["objective"]) < fits.traces[i]["objective"][0]
    one = fit_one(settings, model, images[1], {k: starts[k][1] for k in starts}, SMALL)
    np.testing.assert_allclose(one.vector, parameter_normaliser(model).normalise(
        {k: fits.params[k][1] for k in fits.params}), atol=1e-4)  # float32 sums: thread count differs


def test_fit_images_side_by_side_in_two_processes_gives_the_fits_of_one_process(model):
    truths, images, starts = _faces(model, 3)
    starts["shape"] = np.stack([t["shape"] for t in truths]) + 0.4
    here = fit_images(dataclasses.replace(SETTINGS, workers=1), model, images, starts, SMALL, show=False)
    apart = fit_images(dataclasses.replace(SETTINGS, workers=2), model, images, starts, SMALL, show=False)
    for k in here.params:  # one thread in every fit, so the same sums in the same order
        np.testing.assert_array_equal(apart.params[k], here.params[k])
    assert [t["objective"] for t in apart.traces] == [t["objective"] for t in here.traces]


def test_physics_settings_take_the_profile_workers_and_refuse_a_negative_count():
    from radarface import profiles
    assert PhysicsSettings.from_profile(profiles.resolve("smoke", workers=2)).workers == 2
    with pytest.raises(ValueError, match="workers"):
        PhysicsSettings(workers=-1)


def test_fit_images_names_what_is_wrong_with_its_input(model):
    _, images, starts = _faces(model, 1)
    with pytest.raises(ValueError, match=r"images must be \(N, 2, H, W\).*got \(1, 1, 32, 32\)"):
        fit_images(SETTINGS, model, images[:, :1], starts, SMALL, show=False)
    with pytest.raises(ValueError, match=r"missing or wrong length: \['pose'\]"):
        fit_images(SETTINGS, model, images, {"shape": starts["shape"], "expression": starts["expression"]}, SMALL)
    with pytest.raises(ValueError, match="one dict per image"):
        fit_images(SETTINGS, model, images, starts, SMALL, render_params=[{}, {}], show=False)


def test_physics_settings_refuse_bad_values():
    with pytest.raises(ValueError, match="physics_depth_pixels must be one of"):
        PhysicsSettings(depth_pixels="some")
    with pytest.raises(ValueError, match=r"physics_material must be None, 'fit' or in \[0, 1\], got 1.5"):
        PhysicsSettings(material=1.5)
    with pytest.raises(ValueError, match="physics_material = 'fit' needs physics_speckle = 'expected'"):
        PhysicsSettings(material="fit")
    with pytest.raises(ValueError, match="physics_lr must be > 0"):
        PhysicsSettings(lr=0.0)
    with pytest.raises(ValueError, match="physics_speckle must be one of"):
        PhysicsSettings(speckle="mean")


def test_the_speckle_setting_reaches_the_fitting_renderer(model, monkeypatch):
    seen = []
    original = physics.start_renderer

    def spy(*args, **kwargs):
        renderer = original(*args, **kwargs)
        seen.append(renderer.speckle)
        return renderer

    monkeypatch.setattr(physics, "start_renderer", spy)
    settings = PhysicsSettings(steps=0, spacing_mm=3.0, speckle="expected")
    _, images, starts = _faces(model, 1)
    fit_images(settings, model, images, starts, SMALL, show=False)
    assert seen == ["expected"]



def _distance_mm(model, truth, pred):
    one = lambda d: {k: np.asarray(d[k], dtype=np.float64)[None] for k in ("shape", "expression", "pose")}  # noqa: E731
    return float(metrics.vertex_errors(model, one(truth), one(pred))[0, model.face_mask].mean())


def test_fit_path_keeps_every_step_and_its_distance_to_the_truth(model):
    truths, images, starts = _faces(model, 1)
    settings = PhysicsSettings(steps=3, lr=0.05, spacing_mm=3.0, keep="last")
    start = {k: v[0] for k, v in starts.items()}
    path = physics.fit_path(settings, model, images[0], start, SMALL, truth=truths[0])
    assert len(path.params) == 4 and len(path.distances) == 4
    np.testing.assert_allclose(path.params[0]["shape"], start["shape"])
    np.testing.assert_allclose(path.params[-1]["shape"], path.result.params["shape"], atol=1e-6)
    assert path.distances[0] == pytest.approx(_distance_mm(model, truths[0], start), rel=1e-6)
    assert path.distances[-1] == pytest.approx(_distance_mm(model, truths[0], path.params[-1]), rel=1e-6)
    shown = path.images([0, 3])
    assert shown.shape == (2, 2) + tuple(images.shape[-2:]) and np.isfinite(shown).all()
    assert not np.allclose(shown[0], shown[1])


@pytest.mark.parametrize("share", [0.05, 0.3, 0.9])
def test_a_fitted_material_starts_at_the_grid_share_that_explains_the_images_and_is_returned(model, share):
    truths, _, starts = _faces(model, 1)
    settings = PhysicsSettings(steps=2, lr=0.3, spacing_mm=3.0, speckle="expected", material="fit", keep="last")
    start = {k: v[0] for k, v in starts.items()}
    renderer = physics.fitting_renderer(dataclasses.replace(settings, material=share), model, start, SMALL)
    norm = parameter_normaliser(model)
    with torch.no_grad():  # images of the truth at this diffuse share, mean power, seen from the start's plan
        image = renderer(posed_vertices(model, norm, torch.tensor(norm.normalise(truths[0]), dtype=torch.float32)))
    fit = fit_one(settings, model, image, start, SMALL)
    first = fit.trace["material"][0]
    assert first in [pytest.approx(s) for s in MATERIAL_GRID] and fit.material == pytest.approx(fit.trace["material"][-1])
    # the start face is not the truth, so the best grid share is the nearest one or a neighbour
    nearest = int(np.argmin(np.abs(np.array(MATERIAL_GRID) - share)))
    assert abs(MATERIAL_GRID.index(min(MATERIAL_GRID, key=lambda s: abs(s - first))) - nearest) <= 1, (share, first)


def test_a_fitted_level_starts_at_the_grid_level_of_darkened_images_and_is_returned(model):
    truths, _, starts = _faces(model, 1)
    settings = PhysicsSettings(steps=2, lr=0.05, spacing_mm=3.0, level="fit", keep="last")
    start = {k: v[0] for k, v in starts.items()}
    renderer = physics.fitting_renderer(settings, model, start, SMALL)
    norm = parameter_normaliser(model)
    with torch.no_grad():  # the truth's images 6 dB darker, as a speckled image normalised to its own peak is
        db = renderer.db_volume(posed_vertices(model, norm, torch.tensor(norm.normalise(truths[0]), dtype=torch.float32)))
        image = renderer.images(db, level_db=-6.0)
    at_truth = fit_one(settings, model, image, truths[0], SMALL, renderer=renderer)
    assert at_truth.trace["level_db"][0] == pytest.approx(-6.0)
    fit = fit_one(settings, model, image, start, SMALL)  # from the mean face a lower level may explain it best
    assert fit.trace["level_db"][0] in [pytest.approx(x) for x in LEVEL_GRID_DB] and fit.material is None
    assert fit.level_db == pytest.approx(fit.trace["level_db"][-1]) != fit.trace["level_db"][0]
    plain = fit_one(dataclasses.replace(settings, level=None), model, image, start, SMALL)
    assert plain.level_db is None and "level_db" not in plain.trace
    assert -6.0 in LEVEL_GRID_DB and 0.0 in LEVEL_GRID_DB
    with pytest.raises(ValueError, match=r"physics_level must be None \(0 dB\) or 'fit', got 'yes'"):
        PhysicsSettings(level="yes")


def test_format_rows_shows_every_method_and_a_dash_for_what_is_not_defined():
    rows = {"mean face": {"vertex_mm": 7.5},
            "encoder": {"vertex_mm": 5.84, "identification_rate": 0.95, "chance_rate": 0.23, "within": 0.71,
                        "between": float("nan")}}
    lines = physics.format_rows(rows).splitlines()
    assert len(lines) == 3 and lines[0].split()[:3] == ["method", "vertex", "mm"]
    assert lines[1].split() == ["mean", "face", "7.50", "–", "–", "–"]
    assert lines[2].split() == ["encoder", "5.84", "0.95", "(0.23)", "+0.71", "–"]



def test_fitting_render_params_keep_every_rendering_parameter_but_the_receiver_noise():
    names = ("dynamic_range_db", "material", "aperture_mm", "snr_db")
    rows = np.array([[18.0, 0.05, 200.0, 40.0], [27.0, 0.6, 210.0, 30.0]], dtype=np.float32)
    params = physics.fitting_render_params(names, rows)
    assert params == [{"dynamic_range_db": 18.0, "material": pytest.approx(0.05), "aperture_mm": 200.0},
                      {"dynamic_range_db": 27.0, "material": pytest.approx(0.6), "aperture_mm": 210.0}]
    assert all(type(v) is float for p in params for v in p.values())
