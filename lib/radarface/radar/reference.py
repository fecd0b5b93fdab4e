"""Exact MIMO reference (DESIGN §5.3): signal synthesis per channel and frequency, back-projection.

``s(t, r, f) = Σ_p a_p · A_t(p) · A_r(p) · exp(−j k_f (|t − p| + |p − r|))`` and
``I(v) = Σ_{t, r, f} s(t, r, f) · exp(+j k_f (|t − v| + |v − r|))`` with ``k_f = 2π f / c``.

Per path, ``A_t(p) = sqrt(max(0, n·u_t)) · R0 / |t − p|`` (u_t the unit vector from p to t):
the product of the two paths' factors is the obliquity ``sqrt(cos θ_t cos θ_r)`` (≈ the
bistatic-bisector cosine for the small angles here) times the spreading loss
``R0² / (|t − p| |p − r|)``. Isotropic points have no obliquity.

Both sums are evaluated exactly. Because the phase factors of transmitter and receiver paths
separate, ``exp(−j k (d_t + d_r)) = exp(−j k d_t) · exp(−j k d_r)``, each frequency is one
complex matrix product: synthesis ``S_f = (a·E_t) @ E_rᵀ`` over point chunks, back-projection
``G_f = S_f @ E_r(v)`` per voxel chunk followed by a Horner sum over f on the transmitter side;
the per-frequency phases come from one multiply per step (uniform steps). That keeps the work
in BLAS. For uniform steps, synthesis per channel is also a 1-D type-1 NUFFT over the points'
round-trip distances, O(points + steps) per channel (``synthesis="nufft"``); with BLAS at hand
the matrix products are faster here and exact. Memory is bounded by the chunk sizes.
"""

from __future__ import annotations

import finufft
import numpy as np
import torch

from radarface.radar.config import C_MM_PER_S, RadarConfig
from radarface.radar.fast import cis
from radarface.radar.image import box_points
from radarface.radar.scatter import Scene
from radarface.runtime import torch_threads


def _cis(phase: np.ndarray) -> np.ndarray:
    """exp(j·phase) complex64 of a float64 phase (reduced mod 2π first, so float32 keeps precision)."""
    turns = np.rint(phase * (0.5 / np.pi))
    return cis(phase - (2.0 * np.pi) * turns)


def _distances(antennas: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Distances (K, P) in mm between antennas (K, 3) and points (P, 3)."""
    out = np.zeros((len(antennas), len(points)))
    for c in range(3):
        out += (antennas[:, c:c + 1] - points[None, :, c]) ** 2
    return np.sqrt(out, out=out)


def _path_factors(scene: Scene, antennas: np.ndarray, range_mm: float, spreading_loss: bool
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Distances (K, P) mm from antennas (K, 3) to the scatterers and the path amplitudes (K, P)."""
    dist = _distances(antennas, scene.positions)
    amp = np.ones_like(dist)
    if scene.normals is not None:
        # n·(a − p) / |a − p| for every antenna a and scatterer p
        cos = antennas @ scene.normals.T - np.einsum("pc,pc->p", scene.positions, scene.normals)[None, :]
        amp = np.sqrt(np.maximum(cos / dist, 0.0))
    if spreading_loss:
        amp = amp * (range_mm / dist)
    return dist, amp


def synthesize_signal(scene: Scene, config: RadarConfig, tx: np.ndarray, rx: np.ndarray, *,
                      chunk_points: int = 16384, synthesis: str = "gemm", nthreads: int = 1) -> np.ndarray:
    """Received signal (Nf, Nt, Nr) complex128 of ``scene`` for antennas tx (Nt, 3), rx (Nr, 3) mm.

    ``synthesis``: ``"gemm"`` (exact, matrix products per frequency) or ``"nufft"`` (one 1-D
    type-1 NUFFT per channel, accuracy ``config.nufft_eps``; for comparison).
    """
    if synthesis not in ("gemm", "nufft"):
        raise ValueError(f"synthesis must be 'gemm' or 'nufft', got {synthesis!r}")
    freqs = config.frequencies_hz
    k0 = 2.0 * np.pi * freqs[0] / C_MM_PER_S
    dk = 2.0 * np.pi * (freqs[1] - freqs[0]) / C_MM_PER_S
    nf = len(freqs)
    signal = np.zeros((nf, len(tx), len(rx)), dtype=np.complex128)
    acc = torch.zeros((nf, len(tx), len(rx)), dtype=torch.complex64)
    for start in range(0, len(scene), chunk_points):
        part = scene.subset(slice(start, start + chunk_points))
        dt, at = _path_factors(part, tx, config.range_mm, config.spreading_loss)
        dr, ar = _path_factors(part, rx, config.range_mm, config.spreading_loss)
        at = at * part.amplitudes[None, :]
        if synthesis == "nufft":
            signal += _synthesize_nufft(dt, at, dr, ar, k0, dk, nf, config.nufft_eps, nthreads)
            continue
        et = torch.from_numpy(_cis(-k0 * dt) * at.astype(np.complex64))
        er = torch.from_numpy(_cis(-k0 * dr) * ar.astype(np.float32))
        step_t = torch.from_numpy(_cis(-dk * dt))
        step_r = torch.from_numpy(_cis(-dk * dr))
        er_t, step_r_t = er.T.contiguous(), step_r.T.contiguous()
        for f in range(nf):
            acc[f].addmm_(et, er_t)
            if f < nf - 1:
                et.mul_(step_t)
                er_t.mul_(step_r_t)
    # complex64 accumulation: relative rounding ~1e-7·sqrt(points), far below any dynamic range.
    return signal + acc.numpy().astype(np.complex128)


def _synthesize_nufft(dt: np.ndarray, at: np.ndarray, dr: np.ndarray, ar: np.ndarray, k0: float, dk: float,
                      nf: int, eps: float, nthreads: int) -> np.ndarray:
    """Signal (Nf, Nt, Nr) of one point chunk, one 1-D type-1 NUFFT per channel.

    With D = d_t + d_r = D0 + δ and k_n = k0 + n·dk: s_n = exp(−j k_n D0) · Σ_p c_p exp(−j n dk δ_p),
    a type-1 sum over the points' δ; the per-point phase factors separate into transmitter and
    receiver parts, so each channel costs one product, one sum and the NUFFT: O(points + Nf).
    """
    half = nf // 2
    k_mid = k0 + half * dk  # modes m = n − Nf/2 run from −Nf/2: fold exp(−j Nf/2 dk δ) into c_p
    d0 = float(np.median(dt) + np.median(dr))
    et = at * _cis(-k_mid * (dt - d0 / 2))
    er = ar * _cis(-k_mid * (dr - d0 / 2))
    xt = (dk * (dt - d0 / 2)).astype(np.float32)
    xr = (dk * (dr - d0 / 2)).astype(np.float32)
    out = np.zeros((nf, len(dt), len(dr)), dtype=np.complex128)
    for i in range(len(dt)):
        coeff = (et[i][None, :] * er).astype(np.complex64)
        x = xt[i][None, :] + xr
        for j in range(len(dr)):
            out[:, i, j] = finufft.nufft1d1(x[j], coeff[j], nf, isign=-1, eps=eps, nthreads=nthreads)
    k = k0 + dk * np.arange(nf)
    return out * np.exp(-1j * k * d0)[:, None, None]


def backproject(signal: np.ndarray, config: RadarConfig, tx: np.ndarray, rx: np.ndarray, voxels: np.ndarray, *,
                chunk_voxels: int = 16384) -> np.ndarray:
    """Back-projected image (V,) complex64 at ``voxels`` (V, 3) mm of signals (..., Nf, Nt, Nr) (a
    leading axis of several signals gives (..., V)), antennas tx (Nt, 3), rx (Nr, 3) mm."""
    freqs = config.frequencies_hz
    nf, nt, nr = signal.shape[-3:]
    if nf != len(freqs) or nt != len(tx) or nr != len(rx):
        raise ValueError(f"signal shape {signal.shape} does not match (n_freq, n_tx, n_rx) = "
                         f"({len(freqs)}, {len(tx)}, {len(rx)})")
    lead = signal.shape[:-3]
    sig = signal.reshape((-1, nf, nt, nr))
    nsig = sig.shape[0]
    k_last = 2.0 * np.pi * freqs[-1] / C_MM_PER_S
    k0 = 2.0 * np.pi * freqs[0] / C_MM_PER_S
    dk = 2.0 * np.pi * (freqs[1] - freqs[0]) / C_MM_PER_S
    # Stack the signals along the transmitter axis: one matrix product serves all of them.
    s_f = torch.from_numpy(np.ascontiguousarray(sig.transpose(1, 0, 2, 3).reshape(nf, nsig * nt, nr))
                           .astype(np.complex64))
    out = np.zeros((nsig, len(voxels)), dtype=np.complex64)
    for start in range(0, len(voxels), chunk_voxels):
        vox = voxels[start:start + chunk_voxels]
        dt = _distances(tx, vox)  # (Nt, Vc)
        dr = _distances(rx, vox)  # (Nr, Vc)
        er = torch.from_numpy(_cis(k_last * dr))
        back_r = torch.from_numpy(_cis(-dk * dr))
        step_t = torch.from_numpy(np.tile(_cis(dk * dt), (nsig, 1)))
        horner = torch.zeros((nsig * nt, len(vox)), dtype=torch.complex64)
        for f in range(nf - 1, -1, -1):
            # horner ← horner·exp(j dk d_t) + S_f @ E_r,f ; E_r,f steps down one frequency.
            if f < nf - 1:
                horner.mul_(step_t)
            horner.addmm_(s_f[f], er)
            if f:
                er.mul_(back_r)
        et0 = torch.from_numpy(np.tile(_cis(k0 * dt), (nsig, 1)))
        out[:, start:start + len(vox)] = (horner * et0).reshape(nsig, nt, -1).sum(dim=1).numpy()
    return out.reshape(lead + (len(voxels),))


def reference_volume(scene: Scene, config: RadarConfig, axes: tuple[np.ndarray, np.ndarray, np.ndarray], *,
                     tx: np.ndarray, rx: np.ndarray,
                     noise: bool = False, rng: np.random.Generator | None = None,
                     assumed_tx: np.ndarray | None = None, assumed_rx: np.ndarray | None = None,
                     synthesis: str = "gemm", chunk_voxels: int = 16384, nthreads: int | None = None
                     ) -> tuple[np.ndarray, np.ndarray | None]:
    """Exact image (Ny·Nx·Nz,) on the voxel box with ``axes`` (y, x, z) mm (volume order) of
    ``scene`` measured with antennas tx, rx (true positions) and back-projected with
    ``assumed_tx``/``assumed_rx`` (default: the true ones); and, if ``noise``, the image of unit
    white receiver noise drawn from ``rng``."""
    with torch_threads(nthreads):
        return _reference_volume(scene, config, box_points(axes), tx, rx, noise, rng, assumed_tx, assumed_rx,
                                 synthesis, chunk_voxels, nthreads or 1)


def _reference_volume(scene: Scene, config: RadarConfig, voxels: np.ndarray, tx: np.ndarray, rx: np.ndarray,
                      noise: bool, rng: np.random.Generator | None, assumed_tx: np.ndarray | None,
                      assumed_rx: np.ndarray | None, synthesis: str, chunk_voxels: int, nthreads: int
                      ) -> tuple[np.ndarray, np.ndarray | None]:
    """:func:`reference_volume` at voxel points (V, 3) mm, with the torch threads already set."""
    signal = synthesize_signal(scene, config, tx, rx, synthesis=synthesis, nthreads=nthreads)
    assumed_tx = tx if assumed_tx is None else assumed_tx
    assumed_rx = rx if assumed_rx is None else assumed_rx
    if assumed_tx.shape != tx.shape or assumed_rx.shape != rx.shape:
        raise ValueError(f"assumed antenna positions {assumed_tx.shape}, {assumed_rx.shape} must match the "
                         f"true ones {tx.shape}, {rx.shape}")
    if noise:
        if rng is None:
            raise ValueError("noise needs an rng")
        draws = rng.standard_normal((2,) + signal.shape) / np.sqrt(2.0)
        stacked = np.stack([signal, draws[0] + 1j * draws[1]])
        image = backproject(stacked, config, assumed_tx, assumed_rx, voxels, chunk_voxels=chunk_voxels)
        return image[0], image[1]
    return backproject(signal, config, assumed_tx, assumed_rx, voxels, chunk_voxels=chunk_voxels), None
