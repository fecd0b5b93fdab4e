"""Differentiable NUFFTs: agreement with direct sums, adjointness, gradcheck in float64."""

import numpy as np
import pytest
import torch

from radarface.radar.torch_nufft import mode_numbers, nufft_type1, nufft_type2


def _direct_type1(points, strengths, shape, isign):
    k = torch.stack(torch.meshgrid(*(mode_numbers(n) for n in shape), indexing="ij"), -1)  # (N1, N2, N3, 3)
    phase = torch.einsum("abcd,pd->abcp", k, points)
    return (strengths * torch.exp(1j * isign * phase)).sum(-1)


def _problem(p=5, shape=(4, 6, 5), seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    points = (torch.rand(p, 3, generator=g, dtype=torch.float64) * 2 - 1) * 3.0
    strengths = torch.randn(p, generator=g, dtype=torch.float64) + 1j * torch.randn(p, generator=g, dtype=torch.float64)
    grid = torch.randn(shape, generator=g, dtype=torch.float64) + 1j * torch.randn(shape, generator=g, dtype=torch.float64)
    real = dtype
    cplx = torch.complex128 if dtype == torch.float64 else torch.complex64
    return points.to(real), strengths.to(cplx), grid.to(cplx)


@pytest.mark.parametrize("isign", [1, -1])
def test_type1_and_type2_match_direct_sums(isign):
    points, strengths, grid = _problem()
    f = nufft_type1(points, strengths, grid.shape, isign=isign, eps=1e-12)
    torch.testing.assert_close(f, _direct_type1(points, strengths, grid.shape, isign), rtol=1e-9, atol=1e-9)
    k = torch.stack(torch.meshgrid(*(mode_numbers(n) for n in grid.shape), indexing="ij"), -1)
    direct = (grid[..., None] * torch.exp(1j * isign * torch.einsum("abcd,pd->abcp", k, points))).sum((0, 1, 2))
    torch.testing.assert_close(nufft_type2(points, grid, isign=isign, eps=1e-12), direct, rtol=1e-9, atol=1e-9)


def test_type2_with_the_opposite_sign_is_the_adjoint_of_type1():
    points, strengths, grid = _problem(p=7)
    lhs = torch.vdot(grid.flatten(), nufft_type1(points, strengths, grid.shape, eps=1e-12).flatten())
    rhs = torch.vdot(nufft_type2(points, grid, isign=-1, eps=1e-12), strengths)
    torch.testing.assert_close(lhs, rhs, rtol=1e-9, atol=1e-9)


def test_gradcheck_type1_in_points_and_strengths():
    points, strengths, grid = _problem(p=4, shape=(4, 4, 6))
    points.requires_grad_(True)
    strengths.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x, c: nufft_type1(x, c, (4, 4, 6), isign=1, eps=1e-13),
                                    (points, strengths), eps=1e-6, atol=1e-6)


def test_gradcheck_type2_in_points_and_grid():
    points, _, grid = _problem(p=4, shape=(4, 6, 4))
    points.requires_grad_(True)
    grid.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x, f: nufft_type2(x, f, isign=-1, eps=1e-13), (points, grid),
                                    eps=1e-6, atol=1e-6)


def test_float32_runs_and_bad_inputs_name_what_they_got():
    points, strengths, grid = _problem(dtype=torch.float32)
    assert nufft_type1(points, strengths, (4, 4, 4)).dtype == torch.complex64
    with pytest.raises(ValueError, match=r"points must be \(P, 3\).*got shape \(5, 2\)"):
        nufft_type1(points[:, :2], strengths, (4, 4, 4))
    with pytest.raises(ValueError, match="complex64 with float32 points.*complex128"):
        nufft_type1(points, strengths.to(torch.complex128), (4, 4, 4))
    with pytest.raises(ValueError, match=r"grid must be \(N1, N2, N3\)"):
        nufft_type2(points, grid[0], isign=-1)
    assert np.isclose(float(mode_numbers(5)[0]), -2.0) and float(mode_numbers(4)[0]) == -2.0
