"""Metrics: known answers for parameter errors, vertex distances, baselines, cosine similarity."""

import json

import matplotlib.pyplot as plt
import numpy as np
import pytest

from radarface import metrics
from radarface.facemodel import load_model
from radarface.geometry import pose_from_degrees
from radarface.plots.results import plot_cosine_matrix, plot_metric_bars, plot_pred_vs_true, plot_reconstructions

SLICES = {"shape": slice(0, 3), "expression": slice(3, 5), "pose": slice(5, 11)}


@pytest.fixture(scope="module")
def face():
    return load_model("builtin", n_shape=3, n_expression=2)


def _targets(n=6, seed=0):
    return np.random.default_rng(seed).standard_normal((n, 11))


def _params(targets, poses=None):
    return {"shape": targets[:, :3], "expression": targets[:, 3:5],
            "pose": np.zeros((len(targets), 6)) if poses is None else poses}


# ------------------------------------------------------------ parameter errors
def test_identical_parameters_have_zero_error():
    t = _targets()
    errors = metrics.parameter_errors(t, t, SLICES)
    assert set(errors) == {"shape", "expression", "pose", "total", "total_paper"}
    assert all(v == 0 for v in errors.values())


def test_mean_face_baseline_equals_the_error_of_zeros():
    t = _targets(50)
    base = metrics.baseline_mean_face(t)
    assert base.shape == t.shape and not base.any()
    errors = metrics.parameter_errors(t, base, SLICES)
    assert errors["shape"] == pytest.approx((t[:, :3] ** 2).mean())
    assert errors["pose"] == pytest.approx((t[:, 5:] ** 2).mean())
    assert errors["total"] == pytest.approx((t ** 2).mean())


def test_total_paper_divides_pose_errors_by_three():
    t = np.zeros((2, 11))
    p = t.copy()
    p[:, 5:] = 1.0  # only pose wrong: 6 of 11 coefficients with error 1
    errors = metrics.parameter_errors(t, p, SLICES)
    assert errors["total"] == pytest.approx(6 / 11)
    assert errors["total_paper"] == pytest.approx(2 / 11)


def test_render_columns_are_reported_but_not_in_the_total():
    slices = {**SLICES, "render": slice(11, 13)}
    t, p = np.zeros((3, 13)), np.zeros((3, 13))
    p[:, 11:] = 2.0
    errors = metrics.parameter_errors(t, p, slices)
    assert errors["render"] == pytest.approx(4.0) and errors["total"] == 0


def test_random_baseline_scores_about_two():
    t = _targets(4000)
    errors = metrics.parameter_errors(t, metrics.baseline_random(t, np.random.default_rng(1)), SLICES)
    assert errors["total"] == pytest.approx(2.0, abs=0.1)
    a = metrics.baseline_random(t, np.random.default_rng(3))
    assert np.array_equal(a, metrics.baseline_random(t, np.random.default_rng(3)))
    with pytest.raises(ValueError, match="numpy.random.Generator"):
        metrics.baseline_random(t, 3)


def test_parameter_error_messages():
    with pytest.raises(ValueError, match=r"same shape, got \(2, 11\) and \(2, 10\)"):
        metrics.parameter_errors(np.zeros((2, 11)), np.zeros((2, 10)), SLICES)
    with pytest.raises(ValueError, match=r"\(B, D\) target vectors, got shape \(11,\)"):
        metrics.parameter_errors(np.zeros(11), np.zeros(11), SLICES)
    with pytest.raises(ValueError, match="slices lacks"):
        metrics.parameter_errors(np.zeros((2, 11)), np.zeros((2, 11)), {"shape": slice(0, 3)})
    with pytest.raises(ValueError, match="outside the 11 target columns"):
        metrics.parameter_errors(np.zeros((2, 11)), np.zeros((2, 11)), {**SLICES, "render": slice(11, 14)})


# ------------------------------------------------------------ vertex distances
def test_identical_faces_are_zero_mm_apart(face):
    p = _params(_targets())
    assert metrics.vertex_distance(face, p, p) == 0
    assert metrics.vertex_distance(face, p, p, with_pose=True) == 0


def test_a_pure_translation_is_its_length_with_pose_and_nothing_without(face):
    t = _targets(3)
    true = _params(t)
    moved = _params(t, np.tile(pose_from_degrees(tx=3.0, ty=4.0), (3, 1)))
    assert metrics.vertex_distance(face, true, moved) == pytest.approx(0.0, abs=1e-12)
    assert metrics.vertex_distance(face, true, moved, with_pose=True) == pytest.approx(5.0)


def test_posed_distance_matches_apply_pose(face):
    from radarface.geometry import apply_pose

    t = _targets(2)
    poses = np.stack([pose_from_degrees(yaw=5, pitch=-10, roll=3, tz=7), pose_from_degrees(roll=10, tx=-20)])
    errors = metrics.vertex_errors(face, _params(t), _params(t, poses), with_pose=True)
    v = face.vertices(t[1, :3], t[1, 3:5])
    assert np.allclose(errors[1], np.linalg.norm(apply_pose(v, poses[1]) - v, axis=1))


def test_vertex_distance_averages_over_the_face_region_only(face):
    t = _targets(2)
    pred = _params(t.copy())
    pred["shape"] = pred["shape"] + 1.0
    errors = metrics.vertex_errors(face, _params(t), pred)
    assert errors.shape == (2, face.n_vertices)
    assert metrics.vertex_distance(face, _params(t), pred) == pytest.approx(errors[:, face.face_mask].mean())
    assert metrics.vertex_distance(face, _params(t), pred) > 0


def test_model_frame_errors_equal_the_distance_between_the_two_meshes(face):
    t, p = _targets(5, seed=3), _targets(5, seed=4)
    truth = np.linalg.norm(face.vertices(t[:, :3], t[:, 3:5]) - face.vertices(p[:, :3], p[:, 3:5]), axis=-1)
    assert np.allclose(metrics.vertex_errors(face, _params(t), _params(p), chunk=2), truth)
    assert metrics.vertex_distance(face, _params(t), _params(p)) == pytest.approx(truth[:, face.face_mask].mean())
    # with pose applied to both, a shared pose leaves the model-frame distance unchanged
    pose = np.tile(pose_from_degrees(yaw=4, tz=9), (5, 1))
    posed = metrics.vertex_errors(face, _params(t, pose), _params(p, pose), with_pose=True)
    assert np.allclose(posed, truth)


def test_single_vectors_count_as_a_batch_of_one(face):
    t = _targets(1)
    single = {"shape": t[0, :3], "expression": t[0, 3:5]}
    assert metrics.vertex_errors(face, single, _params(t)).shape == (1, face.n_vertices)


def test_vertex_distance_error_messages(face):
    p = _params(_targets(2))
    with pytest.raises(ValueError, match="with_pose=True needs poses"):
        metrics.vertex_distance(face, {"shape": p["shape"], "expression": p["expression"]}, p, with_pose=True)
    with pytest.raises(ValueError, match="true_params has 2 faces, pred_params 3"):
        metrics.vertex_distance(face, p, _params(_targets(3)))
    with pytest.raises(ValueError, match="must be a dict"):
        metrics.vertex_distance(face, np.zeros((2, 5)), p)
    with pytest.raises(ValueError, match="shape must have 3"):
        metrics.vertex_distance(face, p, {"shape": np.zeros((2, 4)), "expression": p["expression"]})


# ---------------------------------------------------------- cosine similarity
def test_cosine_similarity_of_identical_vectors_is_one_on_the_diagonal():
    a = _targets(5)[:, :3]
    m = metrics.cosine_similarity_matrix(a, a)
    assert m.shape == (5, 5) and np.allclose(np.diag(m), 1.0)
    assert np.allclose(m, m.T) and np.all(np.abs(m) <= 1 + 1e-12)
    summary = metrics.cosine_summary(m)
    assert summary["diagonal"] == pytest.approx(1.0) and summary["off_diagonal"] < 1
    assert np.all(metrics.cosine_similarity_matrix(np.zeros((2, 3)), a) == 0)  # the mean face
    with pytest.raises(ValueError, match="same number of columns"):
        metrics.cosine_similarity_matrix(a, a[:, :2])
    with pytest.raises(ValueError, match="square"):
        metrics.cosine_summary(m[:2])


# ------------------------------------------------------------------ results
def test_evaluate_with_baselines_table_and_json(face, tmp_path, monkeypatch):
    monkeypatch.setenv("RADARFACE_RUNS", str(tmp_path))
    t = _targets(8)
    denormalise = lambda v: _params(np.asarray(v), np.asarray(v)[:, 5:] * 10)  # noqa: E731
    rows = metrics.evaluate_with_baselines(face, t, t, SLICES, denormalise, rng=np.random.default_rng(1))
    assert list(rows) == ["mean face", "random", "encoder"]
    assert rows["encoder"]["vertex_mm"] == 0 and rows["encoder"]["n"] == 8
    assert rows["random"]["vertex_mm"] > rows["mean face"]["vertex_mm"] > 0
    table = metrics.format_table(rows)
    assert "| encoder | 0.00 |" in table and "÷ mean face" in table
    path = metrics.write_results({"rows": rows, "inputs": "both", "array": np.arange(2)}, "smoke", "encoder_both")
    assert path == tmp_path / "smoke" / "results" / "encoder_both.json"
    saved = json.loads(path.read_text())
    assert saved["rows"]["encoder"]["vertex_mm"] == 0 and saved["array"] == [0, 1]
    with pytest.raises(ValueError, match="plain file stem"):
        metrics.write_results({}, "smoke", "a/b")


def test_read_results_and_input_comparison(tmp_path, monkeypatch):
    monkeypatch.setenv("RADARFACE_RUNS", str(tmp_path))
    base = {"vertex_mm": 5.0, "shape": 1.0}
    for inputs, mm in (("amplitude", 4.0), ("depth", 4.5)):
        metrics.write_results({"inputs": inputs, "rows": {"mean face": base, "encoder": {"vertex_mm": mm}}},
                              "cpu", f"encoder_{inputs}")
    found = metrics.read_results("cpu", ["encoder_amplitude", "encoder_both", "encoder_depth"])
    assert list(found) == ["encoder_amplitude", "encoder_depth"]  # missing files are skipped
    rows = metrics.input_comparison(found)
    assert list(rows) == ["mean face", "encoder (amplitude)", "encoder (depth)"]
    assert rows["mean face"] == base and rows["encoder (depth)"]["vertex_mm"] == 4.5
    assert "| encoder (amplitude) |" in metrics.format_table(rows)
    assert metrics.read_results("smoke", ["encoder_amplitude"]) == {}
    # files from different test sets must not share one baseline row
    other = {"inputs": "both", "rows": {"mean face": {"vertex_mm": 6.0, "shape": 1.0}, "encoder": {"vertex_mm": 4.0}}}
    with pytest.raises(ValueError, match="encoder_both.*different test sets"):
        metrics.input_comparison({**found, "encoder_both": other})
    (tmp_path / "cpu" / "results" / "encoder_depth.json").write_text("{not json")
    with pytest.raises(ValueError, match="encoder_depth.json is not valid JSON"):
        metrics.read_results("cpu", ["encoder_depth"])


def test_result_plots(face):
    t = _targets(20)
    p = t + 0.1
    axes = plot_pred_vs_true(t[:, :5], p[:, :5], [f"c{i}" for i in range(5)], ncols=3)
    assert axes.shape == (2, 3)
    plot_cosine_matrix(metrics.cosine_similarity_matrix(p[:, :3], t[:, :3]), ax=plt.figure().gca(), title="shape")
    axes = plot_reconstructions(face, _params(t), _params(p), [0, 3])
    assert axes.shape == (2, 3)
    rows = {"mean face": {"vertex_mm": 2.0}, "encoder": {"vertex_mm": 1.0}}
    assert len(plot_metric_bars(rows, ax=plt.figure().gca()).patches) == 2
    with pytest.raises(ValueError, match=r"both be \(B, 2\)"):
        plot_pred_vs_true(t, p, ["a", "b"])
    plt.close("all")
