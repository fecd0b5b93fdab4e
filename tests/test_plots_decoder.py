"""Plots of the learned renderer and of test-time refinement, drawn headless."""

import matplotlib.pyplot as plt
import numpy as np
import pytest

from radarface.experiments.renderers import sensitivity_summary
from radarface.plots import decoder as dplots


def test_plot_helpers_draw_headless_and_check_their_inputs():


    rng = np.random.default_rng(0)
    images = rng.random((3, 2, 8, 8))
    axes = dplots.plot_decoder_comparison(images, images * 0.9, ("amplitude", "depth"))
    assert axes.shape == (3, 6)
    with pytest.raises(ValueError, match=r"physics must be \(N, 2, H, W\)"):
        dplots.plot_decoder_comparison(images[:, :1], images, ("amplitude", "depth"))
    maps = rng.standard_normal((4, 2, 8, 8))
    assert dplots.plot_sensitivity_maps(maps, maps, list("abcd"), [0, 2]).shape == (2, 2)
    dplots.plot_sensitivity_bars(sensitivity_summary(maps, maps), list("abcd"), ax=plt.figure().gca())
    trace = {"step": [0, 1, 2], "image_loss": [3.0, 2.0, 1.0], "vertex_mm": [4.0, 3.9, 3.8]}
    ax = dplots.plot_refinement_traces({"(a)": trace}, "vertex_mm", reference=4.2, ax=plt.figure().gca())
    assert len(ax.lines) == 2
    with pytest.raises(ValueError, match="lacks 'prior'"):
        dplots.plot_refinement_traces({"(a)": trace}, "prior")
    assert dplots.plot_refinement_images(images, {"x": images}, [0, 2], ("amplitude", "depth")).shape == (2, 4)
    assert len(dplots.plot_timings({"learned": 1e-3, "physics": 80.0}, ax=plt.figure().gca()).patches) == 2
    plt.close("all")


def test_plot_blend_curve_marks_the_chosen_weight():


    ax = dplots.plot_blend_curve({0.0: 3.3, 0.5: 2.7, 1.0: 2.9}, 0.7, ax=plt.figure().gca())
    assert list(ax.lines[0].get_xdata()) == [0.0, 0.5, 1.0] and list(ax.lines[0].get_ydata()) == [3.3, 2.7, 2.9]
    assert ax.lines[1].get_xdata()[0] == 0.7
    with pytest.raises(ValueError, match="curve is empty"):
        dplots.plot_blend_curve({})
    plt.close("all")


def test_plot_loss_against_truth_labels_the_share_of_images_left_of_zero():


    truth = np.array([1.0, 1.0, 1.0, 1.0])
    ax = dplots.plot_loss_against_truth({"true parameters": truth, "(a)": np.array([0.5, 0.9, 1.2, 1.5])},
                                        ax=plt.figure().gca())
    assert ax.get_legend().get_texts()[0].get_text() == "(a): 50% left of 0"
    with pytest.raises(ValueError, match="no 'true parameters' entry"):
        dplots.plot_loss_against_truth({"(a)": truth})
    with pytest.raises(ValueError, match="only the truth"):
        dplots.plot_loss_against_truth({"true parameters": truth})
    plt.close("all")
