"""The learned renderer against the physics renderer: render functions, sensitivities, timing."""

import numpy as np
import pytest
import torch

from radarface.experiments import renderers
from radarface.models import LearnedRenderer


def test_sensitivity_of_a_linear_renderer_is_its_coefficients():
    coeff = np.arange(6.0).reshape(3, 1, 1, 2)  # D = 3 parameters, images 1×1×2
    render_fn = lambda v: np.einsum("bd,dchw->bchw", v, coeff) + 1.0  # noqa: E731
    maps = renderers.sensitivity(render_fn, np.array([0.3, -1.0, 2.0]), step=0.5)
    np.testing.assert_allclose(maps, coeff)
    summary = renderers.sensitivity_summary(maps, 2 * maps)
    np.testing.assert_allclose(summary["correlation"], 1.0)
    np.testing.assert_allclose(summary["physics_rms"], 2 * summary["decoder_rms"])
    with pytest.raises(ValueError, match="base must be a vector"):
        renderers.sensitivity(render_fn, np.zeros((2, 3)))


def test_decoder_render_fn_and_timing():
    model = LearnedRenderer(5, 1, 16, backbone="tiny").eval()
    vectors = torch.randn(4, 5)
    images = renderers.decoder_render_fn(model)(vectors.numpy())
    assert images.shape == (4, 1, 16, 16) and images.dtype == np.float32
    seconds = renderers.time_learned_renderer(model, vectors, batch_size=2, repeats=1)
    assert 0 < seconds < 1
