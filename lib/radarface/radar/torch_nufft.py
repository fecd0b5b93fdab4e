"""Differentiable 3-D non-uniform FFTs: ``torch.autograd.Function`` wrappers around ``finufft``.

Convention (finufft's): points are (P, 3) in radians, folded into [−π, π); modes ``k`` on a
grid of ``shape`` (N1, N2, N3) run over ``−N/2 ≤ k < N/2`` (index j is mode j − N//2).

- type 1 (points → grid): ``F[k] = Σ_p c_p exp(s·i k·x_p)``;
- type 2 (grid → points): ``c_p = Σ_k F[k] exp(s·i k·x_p)``; ``s`` = ``isign`` (±1).

Backward passes are NUFFTs too (PyTorch's convention: the gradient of a real loss L with
respect to a complex z is ∂L/∂z̄, and a real x gets ``Re Σ conj(∂y/∂x)·ḡ``):

- type 1: ∂L/∂c̄_p = type 2 of g with sign −s; ∂L/∂x_p^a = Re(−s·i·c̄_p · type 2 of (k^a g) with sign −s);
- type 2: ∂L/∂F̄ = type 1 of g with sign −s; ∂L/∂x_p^a = Re(g_p · conj(s·i · type 2 of (k^a F) with sign s)).

The strength and three position derivatives of type 1 go through one stacked NUFFT call. dtype: float32 points with
complex64 strengths, or float64 with complex128 (``eps`` down to ~1e-14, for gradcheck).

>>> x = torch.tensor([[0.5, -1.0, 2.0]], dtype=torch.float64)
>>> c = torch.tensor([2.0 + 0j], dtype=torch.complex128)
>>> f = nufft_type1(x, c, (4, 4, 4))
>>> bool(torch.allclose(nufft_type2(x, f, isign=-1), 64 * c))
True
"""

from __future__ import annotations

import finufft
import numpy as np
import torch

_REAL_OF = {torch.complex64: torch.float32, torch.complex128: torch.float64}


def mode_numbers(n: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Mode numbers (n,) of one axis, ``−n//2 … (n−1)//2``, in finufft's (CMCL) order."""
    return torch.arange(n, dtype=dtype) - n // 2


def _check(points: torch.Tensor, values: torch.Tensor, what: str) -> None:
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(f"points must be (P, 3) in radians, got shape {tuple(points.shape)}")
    if values.dtype not in _REAL_OF or _REAL_OF[values.dtype] != points.dtype:
        raise ValueError(f"{what} must be complex64 with float32 points or complex128 with float64 points, "
                         f"got {values.dtype} with {points.dtype} points")


def _xyz(points: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    p = points.detach().cpu().numpy()
    return tuple(np.ascontiguousarray(p[:, a]) for a in range(3))


def _opts(eps: float) -> dict:
    """finufft options: one thread; the smaller upsampling factor (as the fast renderer) down to 1e-8."""
    return {"eps": float(eps), "nthreads": 1, **({"upsampfac": 1.25} if eps >= 1e-8 else {})}


def _t1(points: torch.Tensor, strengths: np.ndarray, shape: tuple[int, int, int], isign: int,
        eps: float) -> np.ndarray:
    """finufft type 1 of strengths (P,) or (n, P) → (shape) or (n, *shape)."""
    if points.shape[0] == 0:
        return np.zeros(strengths.shape[:-1] + tuple(shape), dtype=strengths.dtype)
    x, y, z = _xyz(points)
    return finufft.nufft3d1(x, y, z, np.ascontiguousarray(strengths), tuple(shape), isign=isign, **_opts(eps))


def _t2(points: torch.Tensor, grid: np.ndarray, isign: int, eps: float) -> np.ndarray:
    """finufft type 2 of grid (shape) or (n, *shape) → (P,) or (n, P)."""
    if points.shape[0] == 0:
        return np.zeros(grid.shape[:-3] + (0,), dtype=grid.dtype)
    x, y, z = _xyz(points)
    return finufft.nufft3d2(x, y, z, np.ascontiguousarray(grid), isign=isign, **_opts(eps))


def _times_modes(grid: np.ndarray) -> np.ndarray:
    """(3, *shape): ``grid`` multiplied by the mode numbers k^a of each axis a."""
    out = np.empty((3,) + grid.shape, dtype=grid.dtype)
    for a in range(3):
        k = np.arange(grid.shape[a]) - grid.shape[a] // 2
        out[a] = grid * k.reshape([-1 if b == a else 1 for b in range(3)])
    return out


class _Type1(torch.autograd.Function):
    @staticmethod
    def forward(ctx, points, strengths, shape, isign, eps):
        ctx.save_for_backward(points, strengths)
        ctx.shape, ctx.isign, ctx.eps = shape, isign, eps
        out = _t1(points, strengths.detach().cpu().numpy(), shape, isign, eps)
        return torch.from_numpy(out).to(strengths.device)

    @staticmethod
    def backward(ctx, grad):
        points, strengths = ctx.saved_tensors
        s, eps = ctx.isign, ctx.eps
        g = grad.detach().cpu().numpy().astype(strengths.detach().cpu().numpy().dtype, copy=False)
        d_points = d_strengths = None
        if not ctx.needs_input_grad[0]:
            d_strengths = torch.from_numpy(_t2(points, g, -s, eps)).to(strengths.device)
            return None, d_strengths, None, None, None
        both = _t2(points, np.concatenate([g[None], _times_modes(g)]), -s, eps)  # (4, P): g, then k^a·g
        if ctx.needs_input_grad[1]:
            d_strengths = torch.from_numpy(np.ascontiguousarray(both[0])).to(strengths.device)
        c_bar = strengths.detach().cpu().numpy().conj()
        d = np.real(-s * 1j * c_bar[None, :] * both[1:]).T
        d_points = torch.from_numpy(np.ascontiguousarray(d)).to(points.dtype).to(points.device)
        return d_points, d_strengths, None, None, None


class _Type2(torch.autograd.Function):
    @staticmethod
    def forward(ctx, points, grid, isign, eps):
        ctx.save_for_backward(points, grid)
        ctx.isign, ctx.eps = isign, eps
        return torch.from_numpy(_t2(points, grid.detach().cpu().numpy(), isign, eps)).to(grid.device)

    @staticmethod
    def backward(ctx, grad):
        points, grid = ctx.saved_tensors
        s, eps = ctx.isign, ctx.eps
        f = grid.detach().cpu().numpy()
        g = grad.detach().cpu().numpy().astype(f.dtype, copy=False)
        d_points = d_grid = None
        if ctx.needs_input_grad[1]:
            d_grid = torch.from_numpy(_t1(points, g, tuple(f.shape), -s, eps)).to(grid.device)
        if ctx.needs_input_grad[0]:
            weighted = _t2(points, _times_modes(f), s, eps)  # (3, P)
            d = np.real(g[None, :] * np.conj(s * 1j * weighted)).T
            d_points = torch.from_numpy(np.ascontiguousarray(d)).to(points.dtype).to(points.device)
        return d_points, d_grid, None, None


def nufft_type1(points: torch.Tensor, strengths: torch.Tensor, shape: tuple[int, int, int], *,
                isign: int = 1, eps: float = 1e-6) -> torch.Tensor:
    """Grid (N1, N2, N3) complex ``Σ_p strengths_p exp(isign·i k·points_p)`` of points (P, 3) rad and
    strengths (P,) complex; differentiable in both."""
    _check(points, strengths, "strengths")
    if strengths.shape != (points.shape[0],):
        raise ValueError(f"strengths must be ({points.shape[0]},) like the points, got {tuple(strengths.shape)}")
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"shape must be 3 positive mode counts, got {shape}")
    return _Type1.apply(points, strengths, tuple(int(n) for n in shape), 1 if isign >= 0 else -1, eps)


def nufft_type2(points: torch.Tensor, grid: torch.Tensor, *, isign: int = -1, eps: float = 1e-6) -> torch.Tensor:
    """Values (P,) complex ``Σ_k grid[k] exp(isign·i k·points_p)`` at points (P, 3) rad of a grid
    (N1, N2, N3) complex; differentiable in both."""
    _check(points, grid, "grid")
    if grid.ndim != 3:
        raise ValueError(f"grid must be (N1, N2, N3) complex, got shape {tuple(grid.shape)}")
    return _Type2.apply(points, grid, 1 if isign >= 0 else -1, eps)
