"""Figures of method (c) (radarface.plots.physics)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from radarface.facemodel import load_model  # noqa: E402
from radarface.plots.physics import plot_fit_steps  # noqa: E402


def test_plot_fit_steps_draws_the_capture_each_step_and_the_distance_curve():
    face = load_model("builtin", 2, 1)
    faces = [face.vertices(np.array([s, 0.0]), np.zeros(1)) for s in (0.0, 1.0)]
    target, rendered = np.full((2, 8, 8), 0.5), np.random.default_rng(0).random((2, 2, 8, 8))
    distances = np.array([3.0, 2.5, 2.0])
    axes = plot_fit_steps(target, rendered, faces, face.triangles, [0, 2], distances, truth=faces[1])
    assert len(axes) == 3 * 3 + 1  # (capture + 2 steps) × (amplitude, depth, face) + the curve
    assert [ax.get_title() for ax in axes[:2]] == ["capture", ""] and axes[3].get_title() == "step 0"
    assert axes[-1].get_ylabel().startswith("vertex distance") and len(axes[-1].lines[0].get_xdata()) == 3
    plt.close("all")
    with pytest.raises(ValueError, match="one rendered image pair"):
        plot_fit_steps(target, rendered[:1], faces, face.triangles, [0, 2], distances)
