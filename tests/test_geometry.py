import numpy as np
import pytest
import torch

from radarface.geometry import (apply_pose, apply_pose_torch, pose_from_degrees, pose_limits,
                                rotation_matrix, rotation_matrix_torch)


def test_rotation_is_orthonormal_with_unit_determinant():
    rot = rotation_matrix(0.3, -0.2, 0.1)
    np.testing.assert_allclose(rot @ rot.T, np.eye(3), atol=1e-12)
    assert np.isclose(np.linalg.det(rot), 1.0)


def test_yaw_turns_the_nose_towards_plus_x():
    nose = np.array([[0.0, 0.0, 100.0]])
    posed = apply_pose(nose, pose_from_degrees(yaw=10))
    assert posed[0, 0] > 0 and np.isclose(np.linalg.norm(posed), 100.0)


def test_pitch_positive_tilts_nose_down_and_translation_adds():
    posed = apply_pose(np.array([[0.0, 0.0, 100.0]]), pose_from_degrees(pitch=10, tx=1, ty=2, tz=3))
    assert posed[0, 1] < 2.0  # rotated downward before the +2 mm shift
    np.testing.assert_allclose(apply_pose(np.zeros((1, 3)), pose_from_degrees(tx=1, ty=2, tz=3)), [[1, 2, 3]])


def test_none_pose_is_identity_and_bad_pose_is_refused():
    v = np.random.default_rng(0).normal(size=(5, 3))
    np.testing.assert_array_equal(apply_pose(v, None), v)
    with pytest.raises(ValueError, match="6 numbers"):
        apply_pose(v, np.zeros(5))
    with pytest.raises(ValueError, match="NaN"):
        apply_pose(v, np.array([0, np.nan, 0, 0, 0, 0]))


def test_torch_matches_numpy_and_is_differentiable():
    rng = np.random.default_rng(1)
    v = rng.normal(size=(7, 3)) * 50
    pose = np.array([0.05, -0.1, 0.12, 3.0, -4.0, 5.0])
    out = apply_pose_torch(torch.tensor(v)[None], torch.tensor(pose)[None])
    np.testing.assert_allclose(out[0].numpy(), apply_pose(v, pose), atol=1e-10)
    angles = torch.tensor([[0.1, 0.2, -0.3]], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(rotation_matrix_torch, (angles,))


def test_pose_limits_match_the_paper():
    lim = pose_limits()
    np.testing.assert_allclose(np.rad2deg(lim[:3]), [5, 10, 10])
    np.testing.assert_allclose(lim[3:], [50, 50, 50])
