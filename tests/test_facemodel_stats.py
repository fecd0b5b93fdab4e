import numpy as np
import pytest

from radarface import facemodel
from radarface.facemodel import available_components, extent_statistics, load_model, mode_rms_mm


def test_available_components_builtin_and_saved_file(tmp_path):
    assert available_components("builtin") == (30, 12)
    path = load_model("builtin", 4, 3).save_h5(tmp_path / "m.h5")
    assert available_components(path) == (4, 3)
    with pytest.raises(FileNotFoundError, match="not found"):
        available_components(tmp_path / "missing.h5")


def test_available_components_auto_falls_back_to_builtin(monkeypatch, tmp_path):
    monkeypatch.setenv("RADARFACE_ICT_DIR", str(tmp_path / "none"))
    monkeypatch.setenv("RADARFACE_DATA", str(tmp_path))
    monkeypatch.delenv("RADARFACE_BFM", raising=False)
    assert available_components("auto") == available_components("builtin")


def test_mode_rms_of_a_known_basis():
    basis = np.zeros((4, 3, 2))
    basis[:, 2, 0] = 3.0  # every vertex moves 3 mm in z
    basis[:2, 0, 1] = 2.0  # half the vertices move 2 mm in x
    np.testing.assert_allclose(mode_rms_mm(basis), [3.0, np.sqrt(2.0)])
    np.testing.assert_allclose(mode_rms_mm(basis, np.array([True, True, False, False])), [3.0, 2.0])


def test_extent_statistics_are_ordered_and_face_sized():
    stats = extent_statistics(facemodel.load_model("builtin"), 50, np.random.default_rng(0))
    lo, mid, hi = stats["width x"]
    assert lo <= mid <= hi and 120 <= mid <= 180
    assert 150 <= stats["height y"][1] <= 260


def test_variance_share_is_cumulative_and_checks_its_input():
    from radarface.facemodel.stats import variance_share

    model = load_model("builtin", 10, 7)
    shares = [variance_share(model.shape_basis, k) for k in range(11)]
    assert shares[0] == 0.0 and shares[-1] == pytest.approx(1.0) and np.all(np.diff(shares) >= 0)
    with pytest.raises(ValueError, match=r"n_modes must lie in 0..10 .*, got 11"):
        variance_share(model.shape_basis, 11)
    with pytest.raises(ValueError, match=r"shape \(N, 3, K\), got \(5, 3\)"):
        variance_share(np.zeros((5, 3)), 1)
