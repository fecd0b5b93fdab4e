"""Radar renderers: configuration, physics against theory, fast vs exact, determinism, errors."""

import json

import numpy as np
import pytest

from radarface.geometry import pose_from_degrees
from radarface.radar import (RENDER_PARAM_NAMES, ImageGrid, RadarConfig, antenna_positions, render,
                             render_param_ranges, render_params_from_vector, render_params_to_vector, render_points,
                             render_reference, sample_render_params, select_antennas, virtual_elements)
from radarface.radar.analysis import (compare_images, plate_mesh, plate_peaks_db, psf_cuts, sphere_mesh,
                                      theory_resolution)
from radarface.radar.array import edge_sizes
from radarface.radar.reference import synthesize_signal
from radarface.radar.scatter import point_scene, surface_scene

SMALL = RadarConfig(image_size=32, pixel_mm=8.0, n_freq=32)


@pytest.fixture(scope="module")
def face():
    """Neutral builtin face: (vertices (N, 3) mm, triangles (M, 3))."""
    from radarface.facemodel import load_model

    model = load_model("builtin")
    return model.vertices(np.zeros(model.n_shape), np.zeros(model.n_expression)), model.triangles


# ----------------------------------------------------------------------------- configuration
@pytest.mark.parametrize("changes, message", [
    ({"f_stop_hz": 70e9}, "positive bandwidth"),
    ({"n_freq": 1}, "n_freq"),
    ({"n_tx": 0}, "n_tx"),
    ({"n_rx": 0}, "empty antenna array"),
    ({"aperture_mm": -1.0}, "aperture_mm"),
    ({"range_mm": 0.0}, "range_mm"),
    ({"pixel_mm": 0.0}, "pixel_mm"),
    ({"depth_window_mm": (50.0, 40.0)}, "depth_window_mm"),
    ({"depth_window_mm": (0.0, 600.0)}, "array plane"),
    ({"material": 1.5}, "material"),
    ({"dynamic_range_db": 0.0}, "dynamic_range_db"),
])
def test_config_rejects_inconsistent_values(changes, message):
    with pytest.raises(ValueError, match=message):
        RadarConfig(**changes)


def test_config_round_trips_through_json_and_profiles():
    cfg = RadarConfig(snr_db=35.0)
    again = RadarConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg and hash(again) == hash(cfg)
    smoke = RadarConfig.from_profile({"image_size": 32, "n_freq": 32})
    assert (smoke.image_size, smoke.pixel_mm, smoke.n_freq, smoke.field_of_view_mm) == (32, 8.0, 32, 256.0)
    assert RadarConfig.from_profile({"image_size": 64, "n_freq": 64}) == RadarConfig()
    with pytest.raises(ValueError, match="unknown RadarConfig field"):
        cfg.replace(apperture_mm=3)
    with pytest.raises(ValueError, match="image_size"):
        RadarConfig.from_profile({"n_freq": 8})


def test_theory_gives_the_designs_resolution():
    th = theory_resolution(RadarConfig())
    assert th["lateral"] == pytest.approx(3.89, abs=0.01)
    assert th["range_3db"] == pytest.approx(13.3, abs=0.1)


def test_array_has_94_by_94_elements_whose_virtual_aperture_fills_the_square():
    cfg = RadarConfig()
    tx, rx = antenna_positions(cfg)
    assert tx.shape == rx.shape == (94, 3)
    assert np.allclose(np.abs(tx[:, 0]), 100.0) and np.allclose(np.abs(rx[:, 1]), 100.0)
    assert np.allclose(tx[:, 2], cfg.array_z_mm)
    v = virtual_elements(tx, rx)
    assert v.shape == (94 * 94, 3)
    assert v[:, 0].min() == pytest.approx(-100 + 100 / 94, abs=1e-9) and v[:, :2].max() < 100
    # Uniform fill: each quadrant holds a quarter of the virtual elements.
    quadrant = (v[:, 0] > 0) & (v[:, 1] > 0)
    assert quadrant.sum() == 94 * 94 // 4
    half = select_antennas(tx, stride=2, edges=edge_sizes(94))
    assert len(half) == 48 and np.allclose(half[:24, 1], -half[24:, 1][::-1])
    with pytest.raises(ValueError, match="out of range"):
        select_antennas(tx, index=np.array([0, 94]))


# ----------------------------------------------------------------------------- physics
@pytest.mark.parametrize("method", ["fast", "reference"])
def test_point_spread_function_widths_match_theory(method):
    cfg = RadarConfig()
    widths = psf_cuts(cfg, method=method).widths()
    th = theory_resolution(cfg)
    for key in ("lateral_x", "lateral_y"):
        assert widths[key] == pytest.approx(th["lateral"], rel=0.25)
        assert widths[key] == pytest.approx(th["lateral_3db"], rel=0.05)
    assert widths["range"] == pytest.approx(th["range_3db"], rel=0.25)


@pytest.mark.parametrize("method", ["fast", "reference"])
def test_point_reflector_peaks_at_its_true_position(method):
    # On an internal pixel's column (2 mm pitch, odd mm): off-axis, the elongated point-spread
    # function is tilted towards the array centre, so a column 1 mm away peaks ~1.4 mm off in z.
    position = np.array([37.0, -51.0, 121.0])
    cuts = psf_cuts(SMALL, method=method, position=position, half_width_mm=(8.0, 20.0), step_mm=(0.1, 0.1))
    offsets = cuts.peak_offsets()
    assert abs(offsets["x"]) <= 0.1 and abs(offsets["y"]) <= 0.1 and abs(offsets["z"]) <= 0.2
    image = render_points(position[None], None, SMALL, method=method, stride=2 if method == "reference" else 1)
    row, col = np.unravel_index(np.argmax(image.amplitude), image.amplitude.shape)
    assert abs(image.x_mm[col] - position[0]) <= SMALL.pixel_mm / 2
    assert abs(image.y_mm[row] - position[1]) <= SMALL.pixel_mm / 2
    assert image.depth_mm()[row, col] == pytest.approx(position[2], abs=0.5)


def test_image_orientation_row_zero_is_top_and_nearer_is_deeper_value():
    points = np.array([[-60.0, 60.0, 80.0], [60.0, -60.0, 120.0]])
    image = render_points(points, None, SMALL)
    top_left = image.amplitude[:16, :16].max()
    bottom_right = image.amplitude[16:, 16:].max()
    assert top_left > 0.9 and bottom_right > 0.9
    assert image.amplitude[:16, 16:].max() < 0.5
    assert image.depth[16:, 16:].max() > image.depth[:16, :16].max()


def test_tilted_plate_returns_at_least_15_db_less_than_facing_plate():
    db = plate_peaks_db(SMALL, [30.0])
    assert db[0] <= -15.0
    assert plate_peaks_db(SMALL, [30.0], method="reference", nthreads=1)[0] <= -15.0


def test_sphere_glints_at_its_nearest_point():
    verts, tris = sphere_mesh(30.0, center=[10.0, 0.0, 60.0])
    image = render(verts, tris, SMALL, render_params={"material": 0.0})
    row, col = np.unravel_index(np.argmax(image.amplitude), image.amplitude.shape)
    # The specular point seen from the array centre, 10 mm off axis: nearly the pole.
    assert image.depth_mm()[row, col] == pytest.approx(90.0, abs=1.5)
    assert abs(image.x_mm[col] - 10.0) <= SMALL.pixel_mm


def test_fast_renderer_agrees_with_exact_reference_on_a_face(face):
    # 16 steps: 225 mm unambiguous range, ample for a face; 4 mm internal pitch for speed.
    cfg = SMALL.replace(n_freq=16, max_internal_pitch_mm=4.0)
    fast = render(*face, cfg)
    exact = render_reference(*face, cfg, stride=2, nthreads=1)  # stride 2: grating lobes fall outside the face
    agreement = compare_images(fast, exact)
    assert agreement["correlation"] >= 0.85
    assert agreement["median_depth_diff_mm"] <= 3.0
    assert agreement["n_pixels"] > 50


def test_fast_and_exact_volumes_agree_in_scale_and_phase():
    grid = ImageGrid(np.arange(-6, 6.1, 1.0), np.array([0.0]), 90 + np.arange(-9, 9.1, 1.5))
    a = render_points([[0.3, 0.0, 90.4]], None, SMALL, grid=grid).volume.ravel()
    b = render_points([[0.3, 0.0, 90.4]], None, SMALL, grid=grid, method="reference").volume.ravel()
    assert np.abs(a - b).max() <= 0.02 * np.abs(b).max()


def test_reference_nufft_synthesis_matches_gemm():
    cfg = RadarConfig(n_tx=6, n_rx=6, n_freq=8, nufft_eps=1e-5)
    scene = point_scene(np.random.default_rng(0).uniform(-20, 20, (50, 3)) + [0, 0, 90])
    from radarface.radar.pipeline import antennas

    tx, rx = antennas(cfg)
    a = synthesize_signal(scene, cfg, tx, rx)
    b = synthesize_signal(scene, cfg, tx, rx, synthesis="nufft")
    assert np.abs(a - b).max() <= 1e-4 * np.abs(a).max()


def test_explicit_and_assumed_antenna_positions():
    cfg = RadarConfig(image_size=16, pixel_mm=8.0, n_freq=8, n_tx=24, n_rx=24)
    tx, rx = antenna_positions(cfg)
    point = [[0.0, 0.0, 90.0]]
    same = render_points(point, None, cfg, method="reference", tx_positions=tx, rx_positions=rx)
    default = render_points(point, None, cfg, method="reference")
    assert np.array_equal(same.volume, default.volume)
    verts, tris = plate_mesh(30.0)
    wrong = tx + np.random.default_rng(0).normal(0, 1.0, tx.shape) * [0, 0, 1]
    good = render_reference(verts, tris, cfg)
    bad = render_reference(verts, tris, cfg, assumed_tx_positions=wrong)
    assert bad.peak < 0.9 * good.peak  # ~λ/4 of position error defocuses the image
    with pytest.raises(ValueError, match="selected antennas"):
        render_reference(verts, tris, cfg, assumed_tx_positions=wrong[:5])


# ----------------------------------------------------------------------------- material, noise, params
def test_diffuse_material_brightens_a_tilted_plate():
    verts, tris = plate_mesh(60.0, tilt_deg=35.0)
    cfg = SMALL.replace(edge_taper_mm=0.0)
    smooth = render(verts, tris, cfg, render_params={"material": 0.0})
    rough = render(verts, tris, cfg, render_params={"material": 0.5})
    assert rough.peak > 2.0 * smooth.peak


def test_noise_level_follows_snr():
    grid = ImageGrid.from_config(SMALL)
    image = render_points([[0.0, 0.0, 90.0]], None, SMALL, render_params={"snr_db": 30.0}, roi=False,
                          rng=np.random.default_rng(3), grid=grid)
    mag = np.abs(image.volume)
    far = mag[:, :40, :]  # far from the point: noise only
    measured = 20 * np.log10(mag.max() / np.sqrt(np.mean(far**2)))
    assert measured == pytest.approx(30.0, abs=1.5)


def test_render_params_sampling_and_vector_round_trip():
    rng = np.random.default_rng(0)
    ranges = render_param_ranges()
    assert tuple(ranges) == RENDER_PARAM_NAMES
    assert ranges["dynamic_range_db"] == (15.0, 30.0)
    draws = [sample_render_params(rng) for _ in range(200)]
    for name, (lo, hi) in ranges.items():
        values = np.array([d[name] for d in draws])
        assert values.min() >= lo and values.max() <= hi and values.std() > 0
    vec = render_params_to_vector(draws[0])
    assert vec.shape == (len(RENDER_PARAM_NAMES),)
    assert render_params_from_vector(vec) == draws[0]
    assert render_params_to_vector({**draws[0], "snr_db": None})[-1] == ranges["snr_db"][1]
    with pytest.raises(ValueError, match="rendering parameters"):
        render_params_from_vector(np.zeros(3))


def test_rendering_parameters_are_used_and_recorded(face):
    params = {"dynamic_range_db": 25.0, "material": 0.2, "aperture_mm": 160.0, "snr_db": 45.0}
    image = render(*face, SMALL, render_params=params)
    assert image.render_params == params
    assert image.amplitude_db().min() == pytest.approx(-25.0)
    drawn = render(*face, SMALL, render_params="random", rng=np.random.default_rng(5))
    assert drawn.render_params == sample_render_params(np.random.default_rng(5))
    with pytest.raises(ValueError, match="unknown rendering parameter"):
        render(*face, SMALL, render_params={"gain": 1.0})


def test_images_are_in_unit_range_with_background_zero(face):
    image = render(*face, SMALL, pose=pose_from_degrees(yaw=4, pitch=-8, roll=5, tx=30, ty=-20, tz=40))
    for img in (image.amplitude, image.depth):
        assert img.dtype == np.float32 and img.shape == (32, 32)
        assert img.min() >= 0.0 and img.max() <= 1.0
    assert image.amplitude.max() == 1.0
    assert np.all(image.depth[image.amplitude == 0] == 0)
    assert np.all(image.depth[image.amplitude > 0] > 0)


# ----------------------------------------------------------------------------- determinism, errors
def test_same_seed_gives_identical_images(face):
    params = {"material": 0.3, "snr_db": 35.0}
    a = render(*face, SMALL, render_params=params, rng=np.random.default_rng(7))
    b = render(*face, SMALL, render_params=params, rng=np.random.default_rng(7))
    c = render(*face, SMALL, render_params=params, rng=np.random.default_rng(8))
    assert np.array_equal(a.amplitude, b.amplitude) and np.array_equal(a.depth, b.depth)
    assert not np.array_equal(a.amplitude, c.amplitude)
    assert np.array_equal(render(*face, SMALL).amplitude, render(*face, SMALL).amplitude)


def test_surface_sampling_is_dense_and_area_preserving():
    verts, tris = plate_mesh(40.0)
    scene = surface_scene(verts, tris, SMALL.replace(edge_taper_mm=0.0, material=0.0))
    assert np.abs(scene.amplitudes).sum() == pytest.approx(1600.0, rel=1e-6)
    assert len(scene) >= 1600 / SMALL.surface_spacing_mm**2


@pytest.mark.parametrize("mutate, message", [
    (lambda v, t: (np.where(np.arange(len(v))[:, None] == 3, np.nan, v), t), "NaN"),
    (lambda v, t: (v[:0], t[:0]), "empty mesh"),
    (lambda v, t: (v, np.concatenate([t, [[0, 1, len(v)]]])), "out of range"),
    (lambda v, t: (v[:, :2], t), r"shape \(N, 3\)"),
    (lambda v, t: (v, t.astype(float)), "integer"),
])
def test_bad_meshes_raise_clear_errors(face, mutate, message):
    verts, tris = mutate(*face)
    with pytest.raises(ValueError, match=message):
        render(verts, tris, SMALL)


def test_face_outside_the_field_of_view_is_an_error(face):
    with pytest.raises(ValueError, match="outside the field of view"):
        render(*face, SMALL, pose=pose_from_degrees(tx=400.0))
    with pytest.raises(ValueError, match="outside the field of view"):
        render_reference(*face, SMALL, pose=pose_from_degrees(yaw=180.0), stride=8)


def test_bad_arguments_raise_clear_errors(face):
    with pytest.raises(ValueError, match="RadarConfig"):
        render(*face, {"image_size": 32})
    with pytest.raises(ValueError, match="Generator"):
        render(*face, SMALL, rng=3)
    with pytest.raises(ValueError, match="'random'"):
        render(*face, SMALL, render_params="sample")
    with pytest.raises(ValueError, match="stride"):
        render_reference(*face, SMALL, stride=0)


# ----------------------------------------------------------------------------- widget
def test_widget_update_renders_and_validates(face):
    from radarface.facemodel import load_model
    from radarface.widgets.radar import render_panel

    panel = render_panel(load_model("builtin"), SMALL)
    image = panel.update(yaw=3.0, tz=20.0, expression_0=1.5, dynamic_range_db=25.0, material=0.2, noise=False)
    assert image.amplitude.shape == (32, 32)
    assert image.render_params["dynamic_range_db"] == 25.0 and image.render_params["snr_db"] is None
    with pytest.raises(ValueError, match="unknown control"):
        panel.update(colour=1)


# ----------------------------------------------------------------------------- array geometry as data
QAR = RadarConfig.preset("qar50", image_size=16, pixel_mm=8.0, n_freq=16)


def test_default_config_dict_is_unchanged_and_explicit_arrays_round_trip():
    assert not {"tx_positions_mm", "rx_positions_mm"} & set(RadarConfig().to_dict())
    assert RadarConfig.preset("square") == RadarConfig()
    again = RadarConfig.from_dict(json.loads(json.dumps(QAR.to_dict())))
    assert again == QAR and hash(again) == hash(QAR)
    assert np.asarray(again.tx_positions_mm).shape == (94, 3)


def test_qar50_preset_is_two_columns_of_transmitters_and_two_rows_of_receivers():
    tx, rx = antenna_positions(QAR)
    assert np.allclose(np.abs(tx[:, 0]), 70.5) and np.allclose(np.abs(rx[:, 1]), 70.5)
    assert np.allclose(np.diff(tx[:47, 1]), 3.0) and np.allclose(tx[:, 2], QAR.array_z_mm)
    assert QAR.aperture_mm == 141.0 and QAR.positions_extent_mm == 141.0
    # a rendering aperture scales the explicit array laterally
    tx_wide, _ = antenna_positions(QAR, 282.0)
    assert np.allclose(tx_wide[:, :2], 2 * tx[:, :2]) and np.allclose(tx_wide[:, 2], tx[:, 2])
    assert render_param_ranges(QAR)["aperture_mm"] == pytest.approx((105.75, 176.25))
    assert render_param_ranges(RadarConfig()) == render_param_ranges()


@pytest.mark.parametrize("changes, message", [
    ({"rx_positions_mm": None}, "rx_positions_mm is missing"),
    ({"n_tx": 90}, "holds 94 positions, expected n_tx = 90"),
    ({"aperture_mm": 200.0}, "aperture_mm=141"),
    ({"tx_positions_mm": [[0.0, 0.0]] * 94}, "(K, 3)"),
])
def test_explicit_arrays_are_checked(changes, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        QAR.replace(**changes)


def test_same_sampling_stream_for_the_default_array_scaled_for_qar50():
    a = sample_render_params(np.random.default_rng(3))
    b = sample_render_params(np.random.default_rng(3), RadarConfig())
    c = sample_render_params(np.random.default_rng(3), QAR)
    assert a == b and c["aperture_mm"] == pytest.approx(a["aperture_mm"] * 141.0 / 200.0)


def test_both_renderers_image_a_point_with_the_qar50_array(face):
    for method in ("fast", "reference"):
        cuts = psf_cuts(QAR, method=method, nthreads=1)
        widths = cuts.widths()
        theory = theory_resolution(QAR)["lateral_3db"]
        assert widths["lateral_x"] == pytest.approx(theory, rel=0.1), (method, widths)
        assert max(abs(v) for v in cuts.peak_offsets().values()) <= 0.2
    image = render(*face, QAR, nthreads=1)
    assert image.amplitude.shape == (16, 16) and image.amplitude.max() == 1.0


def test_psf_widths_by_range_follow_theory_for_both_arrays():
    from radarface.radar.analysis import psf_widths_by_range, widths_table

    rows = {name: psf_widths_by_range(cfg, (300.0, 400.0, 500.0), nthreads=1)
            for name, cfg in (("square", SMALL.replace(n_freq=16)), ("qar50", QAR))}
    for name, table in rows.items():
        assert [row["range_mm"] for row in table] == [300.0, 400.0, 500.0]
        assert all(abs(row["ratio"] - 1) < 0.1 for row in table), (name, table)
        assert all(a["lateral_x_mm"] < b["lateral_x_mm"] for a, b in zip(table, table[1:]))
    assert rows["qar50"][1]["theory_mm"] == pytest.approx(4.89, abs=0.01)
    text = widths_table(rows)
    assert text.count("\n") == 7 and "| qar50 | 500 |" in text


def _checks(tolerances, *, lateral=3.59, correlation=0.995):
    from radarface.radar.analysis import renderer_checks

    widths = {m: {"lateral_x": lateral, "lateral_y": lateral, "range": 13.2} for m in ("fast", "reference")}
    return renderer_checks(widths, {"lateral_3db": 3.45, "range_3db": 13.3}, {"fast": 15.7, "reference": 16.2},
                           {"correlation": correlation, "median_depth_diff_mm": 0.44}, tolerances)


def test_renderer_checks_pass_on_the_measured_full_system_and_fail_on_a_factor_error():
    from radarface.radar.analysis import FULL_TOLERANCES, REDUCED_TOLERANCES

    assert all(c.passed for c in _checks(FULL_TOLERANCES))
    wrong = _checks(FULL_TOLERANCES, lateral=2 * 3.59)  # a missing factor 2 in λR/(2D)
    assert [c.passed for c in wrong] == [False, True, True, True, True]
    assert not _checks(FULL_TOLERANCES, correlation=0.95)[3].passed
    assert _checks(REDUCED_TOLERANCES, correlation=0.95)[3].passed  # the reduced reference is held to less


def test_renderer_checks_name_what_is_missing():
    from radarface.radar.analysis import FULL_TOLERANCES, renderer_checks

    with pytest.raises(ValueError, match=r"widths must hold 'fast' and 'reference', got \['fast'\]"):
        renderer_checks({"fast": {}}, {}, {"fast": 1.0, "reference": 1.0}, {}, FULL_TOLERANCES)


def test_checks_table_has_one_row_per_check_and_marks_failures():
    from radarface.radar.analysis import FULL_TOLERANCES, checks_table

    text = checks_table(_checks(FULL_TOLERANCES, correlation=0.95))
    lines = text.splitlines()
    assert len(lines) == 2 + 5 and lines[0].startswith("| check | needed |")
    assert lines[5] == "| face: amplitude correlation, fast vs exact | ≥ 0.99 | 0.950 | – | NO |"


# ----------------------------------------------------------------------------- argument ranges and types
@pytest.mark.parametrize("changes, message", [
    ({"f_start_hz": 72.0, "f_stop_hz": 82.0}, r"RadarConfig.f_start_hz = 72 Hz is outside the accepted range "
                                              r"\[1e\+09, 1e\+12\] Hz \(frequencies are in Hz: 72e9 for 72 GHz\)"),
    ({"aperture_mm": 0.2}, r"RadarConfig.aperture_mm = 0.2 mm is outside the accepted range \[10, 10000\] mm"),
    ({"aperture_mm": 1e9}, r"RadarConfig.aperture_mm = 1e\+09 mm is outside"),
    ({"range_mm": 1e9}, r"RadarConfig.range_mm = 1e\+09 mm is outside"),
    ({"image_size": 0}, r"RadarConfig.image_size must be an integer >= 1, got 0"),
    ({"image_size": 7.5}, r"RadarConfig.image_size must be an integer >= 1, got 7.5"),
    ({"n_freq": 1}, r"RadarConfig.n_freq must be an integer >= 2, got 1"),
    ({"material": "0.1"}, r"RadarConfig.material must be a number, got '0.1' \(str\)"),
    ({"seed": -1}, r"RadarConfig.seed must be an integer >= 0, got -1"),
    ({"depth_window_mm": ("a", 1.0)}, r"RadarConfig.depth_window_mm must be a number, got 'a'"),
    ({"depth_window_mm": 5.0}, r"RadarConfig.depth_window_mm must be two numbers"),
    ({"spreading_loss": "yes"}, r"RadarConfig.spreading_loss must be True or False, got 'yes'"),
])
def test_config_refuses_values_out_of_range_or_of_the_wrong_type(changes, message):
    with pytest.raises(ValueError, match=message):
        RadarConfig(**changes)


@pytest.mark.parametrize("call, message", [
    (lambda v, t: render(v, t, SMALL, pose=[1e20, 0, 0, 0, 0, 0]),
     r"pose yaw = 1e\+20 rad is outside the accepted range \[-2π, 2π\].*pose_from_degrees"),
    (lambda v, t: render(v, t, SMALL, pose=[0, 0, 90.0, 0, 0, 0]), r"pose roll = 90 rad is outside"),
    (lambda v, t: render(v / 1000, t, SMALL), r"vertices span 0.203 mm across.*in metres\? multiply by 1000"),
    (lambda v, t: render(v, t, SMALL, render_params={"aperture_mm": 1e9}),
     r"aperture_mm = 1e\+09 mm is outside the accepted range \[10, 10000\] mm"),
    (lambda v, t: render(v, t, SMALL, render_params={"dynamic_range_db": 1e6}),
     r"dynamic_range_db must be in \(0, 120\]"),
    (lambda v, t: render(v, t, SMALL, render_params={"material": "rough"}), r"material must be a number, got 'rough'"),
    (lambda v, t: render(v, t, SMALL, nthreads=0), r"nthreads must be an integer >= 1, got 0"),
    (lambda v, t: render(v, t, SMALL, grid=(32, 32)), r"grid must be a radarface.radar.ImageGrid or None, got tuple"),
    (lambda v, t: render_reference(v, t, SMALL, stride=8, chunk_voxels=0), r"chunk_voxels must be an integer >= 1"),
    (lambda v, t: render_reference(v, t, SMALL, stride=8, nthreads=1.5), r"nthreads must be an integer >= 1, got 1.5"),
])
def test_render_refuses_arguments_out_of_range_naming_them(face, call, message):
    with pytest.raises(ValueError, match=message):
        call(*face)


def test_degenerate_triangles_and_a_lone_triangle_get_their_own_message(face):
    verts, tris = face
    half = np.where(np.arange(len(tris))[:, None] % 2 == 0, tris[:, [0, 0, 1]], tris)
    with pytest.raises(ValueError, match=r"4601 of 9202 triangles are degenerate .* triangle 0 = \[0, 0, 1\]"):
        render(verts, half, SMALL)
    with pytest.raises(ValueError, match=r"\(1 triangle\(s\)\) lies within RadarConfig.edge_taper_mm = 10 mm"):
        render(verts, tris[2000:2001], SMALL)
    lone = render(verts, tris[2000:2001], RadarConfig(image_size=32, pixel_mm=8.0, n_freq=32, edge_taper_mm=0.0))
    assert lone.amplitude.max() == 1.0  # a lone triangle facing the array is seen once the taper is off
