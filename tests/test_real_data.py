"""The networks on captures (notebook 07): identity analysis, image statistics, vertex distances per capture."""

import numpy as np
import pytest

from radarface.facemodel import load_model
from radarface.experiments import real_data as mev
from radarface.measurements import Captures


def test_identity_analysis_separates_subjects_and_counts_nearest_neighbours():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4, 10))
    subjects = np.repeat(["S1", "S2", "S3", "S4"], 5)
    shapes = centres.repeat(5, 0) + 0.05 * rng.normal(size=(20, 10))
    r = mev.identity_analysis(shapes, subjects)
    assert r["within"] > 0.95 and r["between"] < 0.2
    assert r["identification_rate"] == 1.0
    assert r["chance_rate"] == pytest.approx(4 / 19)
    noise = mev.identity_analysis(rng.normal(size=(20, 10)), subjects)
    assert noise["identification_rate"] < 0.6 and abs(noise["within"] - noise["between"]) < 0.2


def test_a_shared_bias_only_hides_identity_without_centring():
    rng = np.random.default_rng(1)
    subjects = np.repeat(["a", "b"], 4)
    shapes = 10.0 + 0.1 * np.r_[np.ones((4, 3)), -np.ones((4, 3))] + 0.01 * rng.normal(size=(8, 3))
    raw = mev.identity_analysis(shapes, subjects, centre=False)
    assert raw["between"] > 0.99  # everything looks alike
    assert mev.identity_analysis(shapes, subjects)["between"] < -0.9


def test_identity_analysis_refuses_bad_input():
    with pytest.raises(ValueError, match="two subjects"):
        mev.identity_analysis(np.ones((3, 2)), np.array(["a", "a", "a"]))
    with pytest.raises(ValueError, match="N = 3"):
        mev.identity_analysis(np.ones((4, 2)), np.array(["a", "b", "a"]))


def test_image_statistics_per_channel():
    images = np.zeros((2, 2, 4, 4), np.float32)
    images[:, 0, :2] = 0.5
    stats = mev.image_statistics(images, ("amplitude", "depth"))
    assert stats["amplitude lit share"] == 0.5 and stats["amplitude lit mean"] == 0.5
    assert stats["amplitude mean"] == 0.25
    assert stats["depth lit share"] == 0 and np.isnan(stats["depth lit mean"])


def test_capture_vertex_distances_zero_for_the_truth_and_positive_for_the_mean_face():
    face = load_model("builtin", 4, 3)
    rng = np.random.default_rng(2)
    truth = {"shape": rng.normal(size=(3, 4)), "expression": rng.normal(size=(3, 3)), "pose": np.zeros((3, 6))}
    caps = Captures(amplitude=np.zeros((3, 8, 8), np.float32), depth=np.zeros((3, 8, 8), np.float32),
                    subject=np.array(["a", "b", "c"]), expression=np.array(["n", "n", "n"]),
                    x_mm=np.arange(8.0), y_mm=np.arange(8.0)[::-1], range_window_mm=(300.0, 500.0),
                    dynamic_range_db=20.0, radar={}, ground_truth_params=truth,
                    attrs={"model_hash": face.content_hash()})
    out = mev.capture_vertex_distances(face, caps, {"perfect": truth})
    assert np.allclose(out["perfect"], 0) and (out["mean face"] > 0.5).all()
    other = load_model("builtin", 5, 3)
    with pytest.raises(ValueError, match="model"):
        mev.capture_vertex_distances(other, caps, {"perfect": truth})
