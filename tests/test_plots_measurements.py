"""Figures of the real-data notebook (radarface.plots.measurements)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from radarface.facemodel import load_model  # noqa: E402
from radarface.plots.measurements import plot_meshes  # noqa: E402


def test_plot_meshes_draws_one_row_per_capture_and_one_column_per_name():
    face = load_model("builtin", 2, 1)
    faces = [face.vertices(np.array([s, 0.0]), np.zeros(1)) for s in (-1.0, 1.0)]
    axes = plot_meshes({"reconstruction": faces, "ground truth": faces[::-1]}, face.triangles, titles=["a", "b"])
    assert axes.shape == (2, 2)
    assert [ax.get_title() for ax in axes[0]] == ["reconstruction", "ground truth"]
    assert axes[1, 0].get_ylabel() == "b" and axes[1, 1].get_title() == ""
    plt.close("all")
    with pytest.raises(ValueError, match=r"same number .* got \{'a': 2, 'b': 1\}"):
        plot_meshes({"a": faces, "b": faces[:1]}, face.triangles)
