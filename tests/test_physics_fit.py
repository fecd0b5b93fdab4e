"""Method (c): analysis by synthesis through the differentiable physics renderer."""

import numpy as np
import pytest
import torch

from radarface.facemodel import load_model
from radarface.metrics import vertex_distance
from radarface.physics_fit import (fit_physics, image_objective, parameter_normaliser, posed_vertices,
                                   start_renderer)
from radarface.radar import RadarConfig

#: 32 × 32 pixels of 8 mm, 4 mm internal pitch, 16 frequencies, 2 mm scatterer lattice: ~0.4 s per step.
SMALL = RadarConfig(image_size=32, pixel_mm=8.0, n_freq=16, max_internal_pitch_mm=4.0, surface_spacing_mm=2.0)


@pytest.fixture(scope="module")
def model():
    return load_model("builtin", 4, 3)


def _mean_face():
    return {"shape": np.zeros(4), "expression": np.zeros(3), "pose": np.zeros(6)}


def _target(model, renderer, truth):
    norm = parameter_normaliser(model)
    vector = torch.tensor(norm.normalise(truth), dtype=renderer.plan.voxel_points.dtype)
    with torch.no_grad():
        return renderer(posed_vertices(model, norm, vector))


def test_image_loss_gradient_matches_finite_differences_in_the_shape_coefficients(model):
    cfg = SMALL.replace(nufft_eps=1e-10, surface_spacing_mm=3.0)
    renderer = start_renderer(model, _mean_face(), cfg, dtype=torch.float64)
    truth = {"shape": np.array([0.8, -0.5, 0.3, 0.0]), "expression": np.array([0.4, 0.0, -0.6]),
             "pose": np.zeros(6)}
    target = _target(model, renderer, truth)
    norm = parameter_normaliser(model)
    vector = torch.zeros(norm.dim, dtype=torch.float64, requires_grad=True)
    loss, _ = image_objective(renderer, model, norm, vector, target)
    (grad,) = torch.autograd.grad(loss, vector)
    h = 1e-4
    for k in list(range(model.n_shape)) + [7, 12]:  # shape, yaw and tz
        step = torch.zeros(norm.dim, dtype=torch.float64)
        step[k] = h
        with torch.no_grad():
            plus = image_objective(renderer, model, norm, vector + step, target)[0]
            minus = image_objective(renderer, model, norm, vector - step, target)[0]
        numeric = float(plus - minus) / (2 * h)
        assert abs(numeric - float(grad[k])) <= 1e-3 * float(grad[:4].abs().max()), (k, numeric, float(grad[k]))
    assert float(grad[:4].abs().max()) > 0


def test_target_foreground_depth_loss_ignores_a_wider_foreground_and_is_differentiable(model):
    cfg = SMALL.replace(nufft_eps=1e-10, surface_spacing_mm=3.0)
    renderer = start_renderer(model, _mean_face(), cfg, dtype=torch.float64)
    truth = {"shape": np.array([0.8, -0.5, 0.3, 0.0]), "expression": np.array([0.4, 0.0, -0.6]), "pose": np.zeros(6)}
    norm = parameter_normaliser(model)
    vector = torch.tensor(norm.normalise(truth), dtype=torch.float64, requires_grad=True)
    with torch.no_grad():
        masked = renderer(posed_vertices(model, norm, vector))
        unmasked = renderer(posed_vertices(model, norm, vector), mask_depth=False)
    # a capture that sees the surface on every pixel (e.g. a diffuse floor above −DR) at the truth's depth
    wide = torch.stack([masked[0], unmasked[1]])
    assert bool((masked[1] < 0.5 * unmasked[1]).any())  # the renderer's mask hides some of it
    target_only = image_objective(renderer, model, norm, vector, wide, depth_pixels="target")[0]
    everywhere = image_objective(renderer, model, norm, vector, wide, depth_pixels="all")[0]
    assert float(target_only.detach()) < 1e-12 < 1e-4 < float(everywhere.detach())
    truth_images = torch.stack([masked[0], masked[1]])
    moved = vector.detach() + 0.3
    moved.requires_grad_(True)
    loss = image_objective(renderer, model, norm, moved, truth_images, depth_pixels="target")[0]
    (grad,) = torch.autograd.grad(loss, moved)
    assert torch.isfinite(grad).all() and float(grad[:4].abs().max()) > 0
    with pytest.raises(ValueError, match="depth_pixels"):
        image_objective(renderer, model, norm, vector, wide, depth_pixels="both")
    # a robust depth term: equal at the truth, smaller away from it, still differentiable
    robust = image_objective(renderer, model, norm, moved, truth_images, depth_pixels="target", depth_scale_mm=2.0)[0]
    assert 0 < float(robust.detach()) < float(loss.detach())
    (grad,) = torch.autograd.grad(robust, moved)
    assert torch.isfinite(grad).all() and float(grad[:4].abs().max()) > 0


@pytest.mark.slow
def test_self_recovery_from_the_mean_face_more_than_halves_the_vertex_distance(model):
    torch.set_num_threads(1)
    truth = {"shape": np.array([1.0, -1.0, 0.5, -0.5]), "expression": np.array([0.5, -0.5, 1.0]), "pose": np.zeros(6)}
    init = _mean_face()
    renderer = start_renderer(model, init, SMALL)  # the same renderer makes the target and fits it
    target = _target(model, renderer, truth)
    result = fit_physics(model, target, init, SMALL, steps=40, lr=0.05, renderer=renderer,
                         callback=lambda p: vertex_distance(model, truth, p))
    trace = result.trace
    assert trace["step"] == list(range(41)) and len(trace["callback"]) == 41
    assert trace["callback"][-1] < 0.5 * trace["callback"][0], trace["callback"]
    assert trace["image_loss"][-1] < 0.5 * trace["image_loss"][0]
    assert vertex_distance(model, truth, result.params) == pytest.approx(trace["callback"][-1])
    assert set(result.params) == {"shape", "expression", "pose"} and result.vector.shape == (13,)


def test_zero_steps_return_the_start_and_bad_arguments_name_what_they_got(model):
    init = _mean_face()
    renderer = start_renderer(model, init, SMALL)
    target = _target(model, renderer, init)
    result = fit_physics(model, target, init, SMALL, steps=0, renderer=renderer)
    np.testing.assert_allclose(result.vector, 0.0, atol=1e-6)
    assert result.trace["image_loss"] == [pytest.approx(0.0, abs=1e-12)]
    with pytest.raises(ValueError, match=r"images must be \(2, H, W\) = \(2, 32, 32\).*got \(1, 32, 32\)"):
        fit_physics(model, target[:1], init, SMALL, renderer=renderer)
    with pytest.raises(ValueError, match="steps >= 0.*got -1"):
        fit_physics(model, target, init, SMALL, steps=-1, renderer=renderer)
    with pytest.raises(ValueError, match="lr_schedule must be 'constant' or 'cosine', got 'linear'"):
        fit_physics(model, target, init, SMALL, lr_schedule="linear", renderer=renderer)
    with pytest.raises(ValueError, match="keep must be 'last' or 'best', got 'first'"):
        fit_physics(model, target, init, SMALL, keep="first", renderer=renderer)


def test_keep_best_returns_the_step_with_the_lowest_objective(model):
    truth = {"shape": np.array([1.0, -1.0, 0.5, -0.5]), "expression": np.zeros(3), "pose": np.zeros(6)}
    renderer = start_renderer(model, _mean_face(), SMALL)
    target = _target(model, renderer, truth)
    # a learning rate far too large: the steps overshoot, so the last one is not the best
    last = fit_physics(model, target, _mean_face(), SMALL, steps=4, lr=2.0, renderer=renderer)
    best = fit_physics(model, target, _mean_face(), SMALL, steps=4, lr=2.0, renderer=renderer, keep="best")
    objective = best.trace["objective"]
    assert min(objective) < objective[-1]
    norm = parameter_normaliser(model)
    img, prior = image_objective(renderer, model, norm, torch.tensor(best.vector, dtype=torch.float32), target)
    assert float(img + 1e-3 * prior) == pytest.approx(min(objective), rel=1e-4)
    assert not np.allclose(best.vector, last.vector)
