"""Radar plot helpers draw headless and return their axes."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

from radarface.plots import radar as rplot
from radarface.radar import RadarConfig, render, render_points
from radarface.radar.analysis import plate_mesh, psf_cuts, theory_resolution

CFG = RadarConfig(image_size=16, pixel_mm=8.0, n_freq=16)


@pytest.fixture(scope="module")
def image():
    verts, tris = plate_mesh(40.0, tilt_deg=10.0)
    return render(verts, tris, CFG, return_volume=True)


def test_array_and_psf_plots():
    ax = rplot.plot_array(CFG)
    assert len(ax.collections) == 3
    cuts = psf_cuts(CFG, half_width_mm=(6.0, 20.0), step_mm=(0.5, 1.0))
    axes = rplot.plot_psf(cuts, theory_resolution(CFG), label="fast")
    assert len(axes) == 2 and axes[0].get_lines()
    plt.close("all")


def test_image_plots(image):
    axes = rplot.plot_images(image)
    assert axes[0].images[0].get_array().shape == (16, 16)
    assert len(rplot.plot_volume_slices(image)) == 3
    assert len(rplot.plot_comparison(image, image)) == 4
    assert len(rplot.plot_image_row({"a": image, "b": image})) == 2
    ax = rplot.plot_plate_tilt(np.array([0.0, 10.0]), {"fast": np.array([0.0, -3.0])})
    assert ax.get_lines()
    with pytest.raises(ValueError, match="kind"):
        rplot.plot_image(image, "phase")
    with pytest.raises(ValueError, match="no volume"):
        rplot.plot_volume_slices(render_points([[0.0, 0.0, 90.0]], None, CFG, return_volume=False))
    plt.close("all")


def test_widths_by_range_plot():
    rows = {"square": [{"range_mm": r, "lateral_x_mm": 0.009 * r, "lateral_y_mm": 0.009 * r, "theory_mm": 0.0086 * r,
                        "ratio": 1.04} for r in (300.0, 400.0, 500.0)]}
    ax = rplot.plot_widths_by_range(rows)
    assert len(ax.get_lines()) == 2 and ax.get_xlabel() == "range R (mm)"
    plt.close("all")
