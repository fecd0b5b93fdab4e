"""Differentiable fast renderer: agreement with the numpy renderer, gradients, smooth images."""

import numpy as np
import pytest
import torch

from radarface.facemodel import load_model
from radarface.geometry import apply_pose, pose_from_degrees
from radarface.radar import ImageGrid, RadarConfig, render
from radarface.radar.analysis import plate_mesh
from radarface.radar.differentiable import (EULER_GAMMA, PhysicsRenderer, expected_parts, expected_power,
                                            incoherent_volume, mean_db, plan_render,
                                            psf_power_spectrum, radar_images, render_volume, sample_mesh,
                                            scatterers, scene_volume)
from radarface.radar.image import form_image

#: 32 × 32 pixels of 8 mm (the 256 mm field of view), 4 mm internal pitch, 16 frequencies.
SMALL = RadarConfig(image_size=32, pixel_mm=8.0, n_freq=16, max_internal_pitch_mm=4.0, material=0.0)


@pytest.fixture(scope="module")
def posed_face():
    model = load_model("builtin", 4, 3)
    v = model.vertices(np.array([1.0, -0.5, 0.0, 0.5]), np.array([0.5, 0.0, -1.0]))
    return apply_pose(v, pose_from_degrees(yaw=3, pitch=-5, tx=4, ty=-6, tz=10)), model.triangles


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_volume_and_images_agree_with_the_numpy_fast_renderer(posed_face, dtype):
    v, t = posed_face
    ref = render(v, t, SMALL, return_volume=True)
    renderer = PhysicsRenderer(v, t, SMALL, margin_mm=0.0, dtype=dtype)
    volume = renderer.volume(torch.as_tensor(v, dtype=dtype), phase=True).numpy()
    assert np.linalg.norm(volume - ref.volume) <= 2e-3 * np.linalg.norm(ref.volume)  # complex, same phase
    hard = radar_images(torch.as_tensor(volume), ref.grid, dynamic_range_db=20.0, softness_db=0.0,
                        temperature_db=0.0).numpy()
    np.testing.assert_allclose(hard[0], form_image(volume, ref.grid, ref.render_params).amplitude, atol=1e-5)
    assert np.corrcoef(hard[0].ravel(), ref.amplitude.ravel())[0, 1] >= 0.999
    smooth = renderer(torch.as_tensor(v, dtype=dtype)).numpy()
    assert np.corrcoef(smooth[0].ravel(), ref.amplitude.ravel())[0, 1] >= 0.99
    fg = ref.amplitude > 0.2
    depth_mm = np.abs(smooth[1] - ref.depth)[fg] * 240.0  # depth window 240 mm
    assert np.median(depth_mm) < 1.5  # the softmax depth against the parabola-refined peak


def _plate_problem():
    v, t = plate_mesh(size_mm=12.0, spacing_mm=6.0)  # 9 vertices, 8 triangles
    cfg = RadarConfig(n_freq=8, n_tx=6, n_rx=6, surface_spacing_mm=9.0, edge_taper_mm=0.0, material=0.3,
                      nufft_eps=1e-12)
    grid = ImageGrid(x_mm=np.array([-3.0, 3.0]), y_mm=np.array([3.0, -3.0]), z_mm=np.array([88.0, 92.0]))
    samples = sample_mesh(v, t, cfg, generator=torch.Generator().manual_seed(1), jitter=True)
    plan = plan_render(v, cfg, grid=grid, margin_mm=8.0, dtype=torch.float64, eps=1e-12)
    return v, torch.as_tensor(t), samples, plan


def test_gradcheck_of_the_volume_with_respect_to_vertex_positions():
    v, t, samples, plan = _plate_problem()
    assert len(samples) == 8 and plan.roi_shape == (2, 2, 2)  # one scatterer per triangle, 8 voxels
    vertices = torch.tensor(v, dtype=torch.float64, requires_grad=True)
    assert float(render_volume(vertices.detach(), t, samples, plan).abs().min()) > 0  # every voxel sees the plate
    assert torch.autograd.gradcheck(lambda x: render_volume(x, t, samples, plan, phase=True), (vertices,),
                                    eps=1e-5, atol=1e-6, rtol=1e-4)


def test_gradcheck_of_the_smooth_images_with_respect_to_the_volume():
    grid = ImageGrid(x_mm=np.arange(4.0), y_mm=np.arange(4.0)[::-1].copy(), z_mm=np.arange(3.0), block=2)
    g = torch.Generator().manual_seed(0)
    volume = torch.randn(4, 4, 3, dtype=torch.complex128, generator=g).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x: radar_images(x, grid, dynamic_range_db=6.0, softness_db=1.0,
                                                           temperature_db=2.0), (volume,), eps=1e-6, atol=1e-6)


def test_smooth_images_tend_to_the_hard_ones():
    grid = ImageGrid(x_mm=np.arange(4.0), y_mm=np.arange(4.0)[::-1].copy(), z_mm=np.arange(5.0) * 3, block=2)
    volume = torch.randn(4, 4, 5, dtype=torch.complex128, generator=torch.Generator().manual_seed(2))
    hard = radar_images(volume, grid, dynamic_range_db=10.0, softness_db=0.0, temperature_db=0.0)
    sharp = radar_images(volume, grid, dynamic_range_db=10.0, softness_db=1e-3, temperature_db=1e-3)
    torch.testing.assert_close(sharp, hard, atol=1e-3, rtol=0)
    soft = radar_images(volume, grid, dynamic_range_db=10.0, softness_db=3.0, temperature_db=3.0)
    assert not torch.allclose(soft, hard, atol=1e-2)


def test_jittered_samples_stay_in_their_sub_triangles_and_keep_the_area():
    v, t = plate_mesh(size_mm=10.0, spacing_mm=5.0)
    cfg = RadarConfig(surface_spacing_mm=1.0, edge_taper_mm=0.0)
    lattice = sample_mesh(v, t, cfg)
    jitter = sample_mesh(v, t, cfg, generator=torch.Generator().manual_seed(0), jitter=True)
    again = sample_mesh(v, t, cfg, generator=torch.Generator().manual_seed(0), jitter=True)
    np.testing.assert_array_equal(jitter.barycentric, again.barycentric)
    assert np.all(jitter.barycentric >= 0) and np.allclose(jitter.barycentric.sum(1), 1.0)
    assert np.abs(jitter.barycentric - lattice.barycentric).max() < 1.0 / 5  # within one of the 5 × 5 cells
    np.testing.assert_allclose(np.bincount(jitter.triangle, jitter.area_share), 1.0)
    pos, _, amp = scatterers(torch.as_tensor(v), torch.as_tensor(t), jitter, material=0.0, roughness_mm=1.0)
    assert abs(float(amp.real.sum()) - 100.0) < 1e-9  # a 10 × 10 mm plate
    assert float(pos[:, 0].abs().max()) <= 5.0


def test_bad_inputs_name_what_they_got(posed_face):
    v, t = posed_face
    renderer = PhysicsRenderer(v, t, SMALL, dtype=torch.float32)
    with pytest.raises(ValueError, match=r"vertices must be \(N, 3\).*got shape \(1, 4735, 3\)"):
        renderer(torch.as_tensor(v, dtype=torch.float32)[None])
    with pytest.raises(ValueError, match="vertices are torch.float64 but the plan is torch.float32"):
        renderer(torch.as_tensor(v))
    with pytest.raises(ValueError, match="does not match the grid"):
        radar_images(torch.zeros(2, 2, 2, dtype=torch.complex64), renderer.plan.grid, dynamic_range_db=20.0)
    with pytest.raises(ValueError, match=r"positions must be \(P, 3\)"):
        plan_render(np.zeros((0, 3)), SMALL)


def test_a_point_reflector_peaks_at_its_true_position():
    cfg = RadarConfig(image_size=16, pixel_mm=4.0, n_freq=16)
    point = np.array([[4.0, -8.0, 95.0]])
    plan = plan_render(point, cfg, dtype=torch.float64)
    volume = scene_volume(torch.as_tensor(point), None, torch.ones(1, dtype=torch.complex128), plan).abs()
    iy, ix, iz = np.unravel_index(int(volume.argmax()), volume.shape)
    y, x, z = plan.grid.voxel_axes(plan.roi)
    assert abs(x[ix] - 4.0) <= 1.0 and abs(y[iy] + 8.0) <= 1.0 and abs(z[iz] - 95.0) <= 1.5


def test_the_incoherent_volume_of_one_point_is_its_coherent_power():
    cfg = RadarConfig(image_size=16, pixel_mm=4.0, n_freq=16, nufft_eps=1e-9)
    point = torch.tensor([[4.0, -8.0, 95.0]], dtype=torch.float64)
    normal = torch.tensor([[0.0, 0.0, -1.0]], dtype=torch.float64)
    plan = plan_render(point.numpy(), cfg, dtype=torch.float64, margin_mm=8.0)
    coherent = scene_volume(point, normal, torch.full((1,), 3.0, dtype=torch.complex128), plan).abs() ** 2
    incoherent = incoherent_volume(point, normal, torch.full((1,), 9.0, dtype=torch.float64), plan,
                                   psf_power_spectrum(plan.mask, tol=0.0))
    torch.testing.assert_close(incoherent, coherent, rtol=0, atol=1e-6 * float(coherent.max()))


def test_expected_power_is_the_mean_power_over_diffuse_draws(posed_face):
    v, t = posed_face
    cfg = SMALL.replace(material=0.5, surface_spacing_mm=3.0)
    renderer = PhysicsRenderer(v, t, cfg, margin_mm=0.0, dtype=torch.float64, speckle="expected")
    vt = torch.as_tensor(v)
    expected = renderer.power(vt)
    draws = 48
    mean = sum(render_volume(vt, renderer.triangles, sample_mesh(v, t, cfg, generator=torch.Generator().manual_seed(s)),
                             renderer.plan).abs() ** 2 for s in range(draws)) / draws
    strong = expected > 0.01 * expected.max()
    assert abs(float(mean.sum() / expected.sum()) - 1.0) < 0.05
    assert np.corrcoef(mean[strong].numpy(), expected[strong].numpy())[0, 1] > 0.97
    # one draw is speckled: it agrees with the mean power far less well
    one = render_volume(vt, renderer.triangles, renderer.samples, renderer.plan).abs() ** 2
    assert np.corrcoef(one[strong].numpy(), expected[strong].numpy())[0, 1] < 0.9


def test_mean_db_is_the_mean_db_of_a_specular_power_plus_complex_gaussian_draws():
    rng = np.random.default_rng(0)
    n = rng.standard_normal((200_000, 2)) @ np.array([1.0, 1j]) / np.sqrt(2.0)  # CN(0, 1)
    ratios = np.array([0.0, 0.01, 0.3, 1.0, 3.0, 30.0])  # specular / diffuse power
    drawn = [np.mean(10.0 * np.log10(np.abs(np.sqrt(k) + n) ** 2)) for k in ratios]
    model = mean_db(torch.as_tensor(ratios), torch.ones(len(ratios), dtype=torch.float64)).numpy()
    np.testing.assert_allclose(model, drawn, atol=0.03)  # dB; the Monte Carlo's own error is ~0.01
    assert model[0] == pytest.approx(-10.0 * EULER_GAMMA / np.log(10.0), abs=1e-9)  # fully developed: -2.51 dB
    assert model[-1] == pytest.approx(10.0 * np.log10(30.0), abs=0.01)  # specular-dominated: the specular dB


def test_gradcheck_of_the_mean_db_at_small_and_large_ratios():
    specular = torch.tensor([0.0, 1e-9, 1e-5, 2e-4, 0.5, 2.0, 40.0], dtype=torch.float64, requires_grad=True)
    diffuse = torch.tensor([1.0, 1.0, 2.0, 1.0, 0.3, 1.5, 0.7], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(mean_db, (specular, diffuse), eps=1e-10, atol=1e-5, rtol=1e-4)


def test_expected_db_is_the_mean_db_over_diffuse_draws(posed_face):
    v, t = posed_face
    cfg = SMALL.replace(material=0.5, surface_spacing_mm=3.0)
    renderer = PhysicsRenderer(v, t, cfg, margin_mm=0.0, dtype=torch.float64, speckle="expected-db")
    vt = torch.as_tensor(v)
    specular, diffuse = expected_parts(vt, renderer.triangles, renderer.samples, renderer.plan, renderer.psf_power)
    draws = 48
    drawn = sum(10.0 * torch.log10(render_volume(vt, renderer.triangles,
                                                 sample_mesh(v, t, cfg, generator=torch.Generator().manual_seed(s)),
                                                 renderer.plan).abs() ** 2) for s in range(draws)) / draws
    strong = (specular + diffuse) > 0.01 * (specular + diffuse).max()
    of_mean = 10.0 * torch.log10(specular + diffuse)
    model = mean_db(specular, diffuse)
    # the dB of the mean power lies above the draws' mean dB; the model does not
    assert float((drawn - of_mean)[strong].mean()) < -1.0
    assert abs(float((drawn - model)[strong].mean())) < 0.3
    images = renderer(vt)
    assert images.shape == (2, *renderer.plan.grid.image_shape) and torch.isfinite(images).all()


def test_gradcheck_of_the_expected_power_with_respect_to_vertex_positions():
    v, t, samples, plan = _plate_problem()
    spectrum = psf_power_spectrum(plan.mask)
    vertices = torch.tensor(v, dtype=torch.float64, requires_grad=True)
    assert float(expected_power(vertices.detach(), t, samples, plan, spectrum).min()) > 0
    assert torch.autograd.gradcheck(lambda x: expected_power(x, t, samples, plan, spectrum), (vertices,),
                                    eps=1e-5, atol=1e-6, rtol=1e-4)


def test_an_unknown_speckle_mode_is_named(posed_face):
    v, t = posed_face
    with pytest.raises(ValueError, match=r"speckle must be one of \['draw', 'expected', 'expected-db'\], got 'mean'"):
        PhysicsRenderer(v, t, SMALL, speckle="mean")


def test_the_cropped_psf_power_spectrum_changes_the_images_by_little(posed_face):
    v, t = posed_face
    renderer = PhysicsRenderer(v, t, SMALL.replace(material=0.5), dtype=torch.float64, speckle="expected")
    full = psf_power_spectrum(renderer.plan.mask, tol=0.0)
    assert all(c < f for c, f in zip(renderer.psf_power.shape, full.shape))  # the default crop is smaller
    cropped = renderer(torch.as_tensor(v))
    renderer.psf_power = full
    np.testing.assert_allclose(cropped.numpy(), renderer(torch.as_tensor(v)).numpy(), atol=5e-3)


def test_a_fitted_material_needs_the_expected_power_and_has_a_gradient(posed_face):
    v, t = posed_face
    vt = torch.as_tensor(v)
    with pytest.raises(ValueError, match="fitted material needs speckle='expected'"):
        PhysicsRenderer(v, t, SMALL, dtype=torch.float64).power(vt, material=torch.tensor(0.5))
    renderer = PhysicsRenderer(v, t, SMALL, dtype=torch.float64, speckle="expected")
    m = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: renderer.power(vt, material=x).sum(), (m,), eps=1e-6, rtol=1e-4)
    fixed = PhysicsRenderer(v, t, SMALL, dtype=torch.float64, speckle="expected", render_params={"material": 0.3})
    torch.testing.assert_close(renderer.power(vt, material=m.detach()), fixed.power(vt))


def test_an_image_level_shifts_the_db_volume_before_the_clip_and_has_a_gradient(posed_face):
    v, t = posed_face
    vt = torch.as_tensor(v)
    renderer = PhysicsRenderer(v, t, SMALL, dtype=torch.float64, speckle="expected")
    db = renderer.db_volume(vt)
    assert float(db.max()) == pytest.approx(0.0, abs=1e-9) and renderer(vt).equal(renderer.images(db))
    dr = renderer.plan.render_params["dynamic_range_db"]
    lit, dark = renderer.images(db), renderer.images(db, level_db=-6.0)
    strong = lit[0] > 12.0 / dr  # above the soft clip at −DR even when darker: 6 dB lower, in units of the DR
    torch.testing.assert_close(lit[0][strong] - dark[0][strong], torch.full_like(lit[0][strong], 6.0 / dr),
                               atol=5e-4, rtol=0)  # softplus at 6 dB above the clip: 1 dB · e^−6 / DR
    assert int((dark[1] > 0.02).sum()) < int((lit[1] > 0.02).sum())  # fewer pixels above −DR carry a depth
    level = torch.tensor(-3.0, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: renderer.images(db.detach(), level_db=x).sum(), (level,), eps=1e-6,
                                    rtol=1e-4)
