"""Fast renderer (DESIGN §5.4): one type-1 NUFFT, a k-space support mask, one type-2 NUFFT.

Physics. Near a voxel v, the round-trip phase of channel (t, r) at wavenumber k is linear in
the scatterer offset: ``−k (D(p) − D(v)) ≈ K · (p − v)`` with ``K = −k ∇D``, so the exact
back-projection is ``I(v) = Σ_p a_p Σ_K exp(jK·(p − v))``: the scatterer distribution filtered by
the set of K the system measures. In Cartesian coordinates that set turns with v (the aperture
is seen under other angles from the side of the face), which a single mask cannot follow. In
coordinates centred on the array, ``w = (R0·s_x, R0·s_y, ρ)`` with ``s`` the direction cosines
and ``ρ`` the distance from the array centre, the set is nearly the same for every voxel (to
~6 % at the edge of the face), so one mask serves the whole scene:

1. ``A(K) = Σ_p c_p exp(jK·w_p)``: type-1 NUFFT from the scatterers onto a small uniform K grid
   around the support, demodulated by the central wavevector Kc (baseband in range);
2. multiply by the mask ``M(K)``: the (t, r, f) samples of the array at the scene centre,
   deposited on the grid by cloud-in-cell with their spreading-loss weights, so the image has
   the exact renderer's scale;
3. ``I(v) = Σ_K M(K) A(K) exp(−jK·w_v)``: type-2 NUFFT at the Cartesian voxels' w, i.e. the
   zero-padded inverse FFT and the resampling to the Cartesian grid in one step.

Cost: O(points + voxels + grid·log grid); the grid is ~100 × 100 × 30.

Depth search (:func:`fast_columns`, what :func:`radarface.radar.render` uses unless a volume is
returned or ``RadarConfig.depth_search == "full"``). The images read, per column, only the maximum
of |I| over z and its two depth neighbours. Step 3 first runs on every ``DEPTH_STEP``-th depth
voxel (every voxel is then within one voxel, 3 mm, of a coarse one; the range PSF is ~13 mm
wide), then on the voxels within ``DEPTH_STEP − 1`` of the coarse voxels that could hold a
maximum the image shows: those whose value plus ``SEARCH_MARGIN_DB`` reaches both −DR below the
image's peak and the brightest coarse value of their output pixel (the image keeps one column
per pixel). A type-2 NUFFT's value at a voxel does not depend on the other voxels, so the values
are the whole box's to the last bit, and every shown maximum is found unless it lies more than
the margin above its nearest coarse voxel. That loss is 0.4 dB in the median and 3 dB at the
99th percentile on ICT faces at the ``cpu`` profile, but columns near the edge of the field of
view see the aperture obliquely and their peaks can be a few mm narrow: 8 dB at most over 14
faces' columns above −30 dB, and a 6 dB margin missed one pixel of 24 faces by 1.75 dB, hence
9 dB. Receiver noise is scaled as before by the signal's peak and the noise's rms. The peak is
found first (the same search on the signal alone, a few hundred voxels), so the refinement
evaluates the combined spectrum signal + scale · noise in one transform (its values differ from
the sum of the two images by float32 rounding); the rms is taken over the coarse voxels (a third
of the box): the noise level moves by ~1e-4 dB, which can swap two near-equal maxima of a
noise-dominated column.
"""

from __future__ import annotations

from collections import OrderedDict

import finufft
import numpy as np

from radarface.radar.array import array_center
from radarface.radar.config import C_MM_PER_S, RadarConfig
from radarface.radar.image import peak_depth
from radarface.radar.scatter import Scene

#: Guard (mm) added to the scene's extent in w, so that the NUFFT's periodic images of the
#: point-spread function stay below about −30 dB laterally and −25 dB in range.
_GUARD_MM = np.array([48.0, 48.0, 80.0])
#: Periods are rounded up to this (mm), so near-identical scenes reuse a cached mask.
_PERIOD_STEP_MM = 32.0
#: Depth step (voxels) of the coarse pass of :func:`fast_columns`: odd, so that every voxel lies
#: within step // 2 of a coarse one; 3 keeps that at one voxel (3 mm, a quarter of the range PSF).
DEPTH_STEP = 3
#: How far (dB) a column's maximum may lie above its nearest coarse voxel (module docstring).
SEARCH_MARGIN_DB = 9.0
_MASKS: OrderedDict = OrderedDict()
_MASK_CACHE_SIZE = 16


def warp(positions: np.ndarray, config: RadarConfig) -> np.ndarray:
    """Array-centred coordinates (P, 3) in mm: ``(R0·s_x, R0·s_y, ρ)`` of positions (P, 3) mm."""
    d = np.asarray(positions, dtype=np.float64) - array_center(config)
    rho = np.linalg.norm(d, axis=1)
    out = np.empty_like(d)
    out[:, :2] = d[:, :2] * (config.range_mm / rho)[:, None]
    out[:, 2] = rho
    return out


def kspace_samples(config: RadarConfig, tx: np.ndarray, rx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The channels' sampling of k-space at the scene centre in w coordinates: wavevector
    directions ``g`` (3, Nt·Nr) (K = k_f · g, k_f = 2π f / c in rad/mm), wavenumbers ``k`` (Nf,)
    and channel weights (Nt·Nr,) (spreading loss relative to the nominal range, or 1)."""
    v0 = np.array([0.0, 0.0, config.face_center_z_mm])
    dt, dr = v0 - tx, v0 - rx
    nt, nr = np.linalg.norm(dt, axis=1), np.linalg.norm(dr, axis=1)
    grad = dt[:, None, :] / nt[:, None, None] + dr[None, :, :] / nr[None, :, None]  # ∇_v D (Nt, Nr, 3)
    grad[..., 2] *= -1.0  # ∂v/∂w at the centre is diag(1, 1, −1): ρ grows towards −z
    k = 2.0 * np.pi * config.frequencies_hz / C_MM_PER_S
    if config.spreading_loss:
        weights = config.range_mm**2 / (nt[:, None] * nr[None, :])
    else:
        weights = np.ones((len(tx), len(rx)))
    return -grad.reshape(-1, 3).T.copy(), k, weights.ravel()


def _deposit(grid_pos: np.ndarray, weights: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Cloud-in-cell deposit of samples at grid coordinates (3, S) with weights (S,) onto ``shape``."""
    base = np.floor(grid_pos)
    frac = grid_pos - base
    base = base.astype(np.int64)
    strides = (shape[1] * shape[2], shape[2], 1)
    flat = base[0] * strides[0] + base[1] * strides[1] + base[2]
    pairs = [(1.0 - frac[a], frac[a]) for a in range(3)]
    out = np.zeros(int(np.prod(shape)))
    for i in range(2):
        wi = weights * pairs[0][i]
        for j in range(2):
            wij = wi * pairs[1][j]
            for k in range(2):
                offset = i * strides[0] + j * strides[1] + k
                out += np.bincount(flat + offset, weights=wij * pairs[2][k], minlength=out.size)
    return out.reshape(shape)


def _mirror_quadrant(tx: np.ndarray, rx: np.ndarray) -> np.ndarray | None:
    """Channel indices (into the Nt·Nr of :func:`kspace_samples`) of transmitters left of the axis
    and receivers below it, if both sets are mirror-symmetric in x and in y with none on the
    splitting axes (the channels' mirror images then cover the others once); else None."""
    def symmetric(points: np.ndarray, axis: int) -> bool:
        mirrored = points.copy()
        mirrored[:, axis] *= -1.0
        order = np.lexsort(points.T)
        return bool(np.allclose(points[order], mirrored[np.lexsort(mirrored.T)], rtol=0.0, atol=1e-9))

    if not all(symmetric(p, a) for p in (tx, rx) for a in (0, 1)):
        return None
    if np.any(tx[:, 0] == 0.0) or np.any(rx[:, 1] == 0.0):
        return None
    left, below = tx[:, 0] < 0.0, rx[:, 1] < 0.0
    return np.flatnonzero((left[:, None] & below[None, :]).ravel())


def support_mask(config: RadarConfig, tx: np.ndarray, rx: np.ndarray, dk: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mask (N1, N2, N3), noise amplitude mask (same), central wavevector Kc (3,) rad/mm) on a
    K grid of spacing ``dk`` (3,) rad/mm; grid index j is the NUFFT mode j − N/2. Cached."""
    key = (config, tx.tobytes(), rx.tobytes(), np.asarray(dk, dtype=np.float64).tobytes())
    if key in _MASKS:
        _MASKS.move_to_end(key)
        return _MASKS[key]
    g, k, weights = kspace_samples(config, tx, rx)
    kc = k.mean() * (g @ weights) / weights.sum()
    # Many steps fall in one grid cell along range; cloud-in-cell only needs about two per cell
    # (and ≥ 16 for the slow lateral drift), so deposit n of the band's Nf steps, each standing
    # for Nf/n of them, spread so that they cover the same band [k0 − Δk/2, k_last + Δk/2].
    step = k[1] - k[0]
    n = int(min(len(k), max(16, np.ceil(2.0 * step * len(k) * np.abs(g[2]).max() / dk[2]))))
    if n < len(k):
        k = k[0] - step / 2 + (np.arange(n) + 0.5) * (step * len(k) / n)
        weights = weights * (len(config.frequencies_hz) / n)
    # The grid's half-size from the samples' extreme coordinates (K = k·g is linear in k and in g).
    k_ends = np.array([k[0], k[-1]])
    g_ends = np.stack([g.min(axis=1), g.max(axis=1)], axis=1)
    ends = np.stack([(np.outer(k_ends, g_ends[a]) - kc[a]).ravel() / dk[a] for a in range(3)]).astype(np.float32)
    half = np.ceil(np.abs(ends).max(axis=1)).astype(int) + 2
    shape = tuple(int(2 * h) for h in half)
    # A mirror-symmetric array (the default square) samples K'_x → −K'_x and K'_y → −K'_y alike:
    # deposit the channels of one quadrant and add the mask's mirror images (4× fewer samples).
    quadrant = _mirror_quadrant(tx, rx)
    channels = np.arange(g.shape[1]) if quadrant is None else quadrant
    # Grid coordinates (3, Nf·C) of every sample, built per axis as an outer product in float32.
    grid_pos = np.empty((3, len(k) * len(channels)), dtype=np.float32)
    for a in range(3):
        grid_pos[a] = (np.outer(k, g[a, channels]) - kc[a]).ravel() / dk[a]
    grid_pos += half[:, None].astype(np.float32)
    w = np.tile(weights[channels].astype(np.float32), len(k))
    mask = _deposit(grid_pos, w, shape)
    if quadrant is not None:
        # Index j ↔ 2·half − j; index 0 is never deposited on (positions start at 2).
        for axis in (0, 1):
            mirrored = np.zeros_like(mask)
            source = [slice(None)] * 3
            target = [slice(None)] * 3
            source[axis], target[axis] = slice(None, 0, -1), slice(1, None)
            mirrored[tuple(target)] = mask[tuple(source)]
            mask += mirrored
    # Noise power per cell is Σw² ≈ w̄·Σw (the weights vary by < 15 %): no second deposit.
    noise = np.sqrt(mask * (np.sum(weights**2) / np.sum(weights)))
    _MASKS[key] = (mask.astype(np.float32), noise.astype(np.float32), kc)
    while len(_MASKS) > _MASK_CACHE_SIZE:
        _MASKS.popitem(last=False)
    return _MASKS[key]


def cis(phase: np.ndarray) -> np.ndarray:
    """exp(j·phase) as complex64 from float32 cos and sin (vectorised, unlike complex exp)."""
    phase = np.asarray(phase, dtype=np.float32)
    out = np.empty(phase.shape, dtype=np.complex64)
    parts = out.view(np.float32).reshape(phase.shape + (2,))
    np.cos(phase, out=parts[..., 0])
    np.sin(phase, out=parts[..., 1])
    return out


def _warp_box(axes: tuple[np.ndarray, np.ndarray, np.ndarray], config: RadarConfig) -> np.ndarray:
    """Array-centred coordinates (3, Ny·Nx·Nz) float32 of the voxel box with axes (y, x, z) mm."""
    y, x, z = (np.asarray(a, dtype=np.float32) for a in axes)
    lateral2 = y[:, None, None] ** 2 + x[None, :, None] ** 2
    out = np.empty((3, len(y), len(x), len(z)), dtype=np.float32)
    rho = out[2]
    np.add(lateral2, ((z - np.float32(config.array_z_mm)) ** 2)[None, None, :], out=rho)
    np.sqrt(rho, out=rho)
    scale = np.float32(config.range_mm) / rho
    np.multiply(x[None, :, None], scale, out=out[0])
    np.multiply(y[:, None, None], scale, out=out[1])
    return out.reshape(3, -1)


def _warp_points(scene: Scene, config: RadarConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(array-centred coordinates (3, P) float32, weights (P,) complex64 with obliquity and spreading
    applied) of the scatterers that face the array centre."""
    # Coordinate by coordinate: einsum and fancy indexing over (3, P) or (P, 3) cost ~3× more.
    pos = scene.positions
    to_array = [np.negative(pos[:, c].astype(np.float32)) for c in range(3)]
    to_array[2] += np.float32(config.array_z_mm)
    rho = np.sqrt(to_array[0] * to_array[0] + to_array[1] * to_array[1] + to_array[2] * to_array[2])
    weight = scene.amplitudes.astype(np.complex64)
    if scene.normals is not None:
        n = [scene.normals[:, c].astype(np.float32) for c in range(3)]
        cos = (n[0] * to_array[0] + n[1] * to_array[1] + n[2] * to_array[2]) / rho
        keep = cos > 0
        weight, rho = weight[keep] * cos[keep], rho[keep]
        to_array = [a[keep] for a in to_array[:2]]
    if config.spreading_loss:
        weight *= (np.float32(config.range_mm) / rho) ** 2
    scale = np.float32(config.range_mm) / rho
    w = np.empty((3, len(rho)), dtype=np.float32)
    np.multiply(to_array[0], -scale, out=w[0])
    np.multiply(to_array[1], -scale, out=w[1])
    w[2] = rho
    return w, weight


def _spectra(scene: Scene, config: RadarConfig, axes: tuple[np.ndarray, np.ndarray, np.ndarray], *,
             tx: np.ndarray, rx: np.ndarray, noise: bool, rng: np.random.Generator | None, nthreads: int
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(masked spectra (T, N1, N2, N3) complex64: the scene's, then unit receiver noise's if ``noise``;
    voxel coordinates (3, Ny·Nx·Nz) float32 in NUFFT units; central wavevector Kc (3,) rad/mm;
    voxel coordinates relative to the reference point (3, V) float32 mm) of steps 1–2."""
    w_p, weight = _warp_points(scene, config)
    w_v = _warp_box(axes, config)
    lo, hi = w_v.min(axis=1), w_v.max(axis=1)
    if w_p.shape[1]:
        lo, hi = np.minimum(lo, w_p.min(axis=1)), np.maximum(hi, w_p.max(axis=1))
    period = np.ceil((hi - lo + _GUARD_MM) / _PERIOD_STEP_MM) * _PERIOD_STEP_MM
    dk = 2.0 * np.pi / period
    mask, noise_mask, kc = support_mask(config, tx, rx, dk)
    ref = (0.5 * (lo + hi)).astype(np.float32)[:, None]
    w_p -= ref
    weight *= cis(kc.astype(np.float32) @ w_p)
    w_p *= dk.astype(np.float32)[:, None]
    spectra = np.empty((1 + bool(noise),) + mask.shape, dtype=np.complex64)
    if w_p.shape[1]:
        spectra[0] = finufft.nufft3d1(w_p[0], w_p[1], w_p[2], weight, mask.shape, isign=1,
                                      **_nufft_options(config, nthreads))
        spectra[0] *= mask
    else:
        spectra[0] = 0.0
    if noise:
        if rng is None:
            raise ValueError("noise needs an rng")
        draws = rng.standard_normal((2,) + mask.shape, dtype=np.float32)
        spectra[1] = (draws[0] + 1j * draws[1]) * noise_mask
    w_v -= ref
    scaled = w_v * dk.astype(np.float32)[:, None]
    return spectra, scaled, kc, w_v


def _nufft_options(config: RadarConfig, nthreads: int) -> dict:
    """finufft options: the config's accuracy, the smallest upsampling, no sorting of the points
    (voxels come in raster order and scatterers triangle by triangle: sorting them costs ~15 %)."""
    return {"eps": config.nufft_eps, "nthreads": nthreads, "upsampfac": 1.25, "spread_sort": 0}


def _evaluate(spectra: np.ndarray, targets: np.ndarray, config: RadarConfig, nthreads: int) -> np.ndarray:
    """Step 3 at targets (3, V) in NUFFT units: (T, V) complex64 (the spectra's images, no carrier)."""
    return finufft.nufft3d2(targets[0], targets[1], targets[2], spectra, isign=-1,
                            **_nufft_options(config, nthreads)).reshape(len(spectra), -1)


def fast_volume(scene: Scene, config: RadarConfig, axes: tuple[np.ndarray, np.ndarray, np.ndarray], *,
                tx: np.ndarray, rx: np.ndarray, noise: bool = False, rng: np.random.Generator | None = None,
                nthreads: int = 1, phase: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """Complex image (Ny·Nx·Nz,) on the voxel box with ``axes`` (y, x, z) mm (volume order) of
    ``scene`` seen by antennas tx (Nt, 3), rx (Nr, 3) mm, and, if ``noise``, the image of unit
    white receiver noise (drawn from ``rng``).

    ``phase=False`` skips the carrier phase of the result (magnitudes are unchanged).
    """
    spectra, targets, kc, w_v = _spectra(scene, config, axes, tx=tx, rx=rx, noise=noise, rng=rng,
                                         nthreads=nthreads)
    image = _evaluate(spectra, targets, config, nthreads)
    if phase:
        image *= cis(-(kc.astype(np.float32) @ w_v))
    return image[0], (image[1] if noise else None)


def coarse_depths(nz: int, step: int = DEPTH_STEP) -> np.ndarray:
    """Depth indices (C,) of the coarse pass over ``nz`` voxels: every ``step``-th from 1 (and the
    last if needed), so that every voxel lies within ``step // 2`` of one of them."""
    half = step // 2
    if nz <= step:
        return np.arange(nz)
    idx = np.arange(half, nz, step)
    if nz - 1 - idx[-1] > half:
        idx = np.append(idx, nz - 1)
    return idx


def fast_columns(scene: Scene, config: RadarConfig, axes: tuple[np.ndarray, np.ndarray, np.ndarray], *,
                 tx: np.ndarray, rx: np.ndarray, snr_db: float | None, dynamic_range_db: float,
                 pixel: np.ndarray, rng: np.random.Generator | None = None, nthreads: int = 1,
                 grid_z_mm: np.ndarray | None = None, z_offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Per column of the voxel box with ``axes`` (y, x, z) mm: the maximum over z of |image| (Ny, Nx)
    float32 (receiver noise at ``snr_db`` added as :func:`radarface.radar.pipeline.image_from_scene`
    does; None for none) and its z (Ny, Nx) mm, sub-voxel refined (:func:`~radarface.radar.image.peak_depth`),
    as the whole box would give them wherever an image can show them (module docstring, "Depth search").

    ``pixel`` (Ny, Nx) int: the output pixel of each column (the image keeps the brightest column of
    each pixel); ``dynamic_range_db``: columns certainly below it are not refined. ``grid_z_mm``: the
    whole grid's depth axis, of which the box's starts at index ``z_offset``: a maximum on the box's
    edge is then refined against the zero beyond it, as in the grid's volume.
    """
    ny, nx, nz = (len(a) for a in axes)
    noise = snr_db is not None
    spectra, targets, _, _ = _spectra(scene, config, axes, tx=tx, rx=rx, noise=noise, rng=rng, nthreads=nthreads)
    targets = targets.reshape(3, ny * nx, nz)
    coarse = coarse_depths(nz)
    first = _evaluate(spectra, targets[:, :, coarse].reshape(3, -1), config, nthreads).reshape(len(spectra), ny * nx, -1)
    margin = np.float32(10.0 ** (-SEARCH_MARGIN_DB / 20.0))
    if noise:
        # The noise level follows the signal's peak: find it first (a few hundred voxels), so that
        # the candidates below see the final noise and the refinement needs one combined spectrum.
        rms = float(np.sqrt(np.mean(np.abs(first[1]) ** 2)))
        signal_mag = np.abs(first[0])
        around_peak = _around(signal_mag >= signal_mag.max() * margin, coarse, nz)
        peak_values = _evaluate(spectra[:1], np.take(targets.reshape(3, -1), around_peak, axis=1), config, nthreads)
        signal_peak = float(max(signal_mag.max(), np.abs(peak_values).max(initial=0.0)))
        scale = signal_peak / (10.0 ** (snr_db / 20.0) * max(rms, 1e-30))
        magnitude = np.abs(first[0] + first[1] * scale)
        spectra = (spectra[0] + spectra[1] * np.float32(scale))[None]
    else:
        magnitude = np.abs(first[0])
    # A column's maximum lies within one voxel of a coarse voxel that is at most the margin below
    # it. Refine around the coarse voxels whose bound reaches both −DR below the image's peak and
    # the brightest coarse value of their output pixel: any other maximum cannot show in the image.
    low = magnitude.max(axis=1)
    best = np.zeros(int(pixel.max()) + 1, dtype=low.dtype)
    np.maximum.at(best, pixel.ravel(), low)
    floor = low.max() * np.float32(10.0 ** (-dynamic_range_db / 20.0))
    needed = np.maximum(best[pixel.ravel()], floor)
    fine = _around(magnitude >= needed[:, None] * margin, coarse, nz)
    second = _evaluate(spectra, np.take(targets.reshape(3, -1), fine, axis=1), config, nthreads)[0]
    # Unevaluated voxels are −1 (never a maximum); outside the box, zero as in the grid's volume.
    grid_z_mm = np.asarray(axes[2] if grid_z_mm is None else grid_z_mm, dtype=np.float64)
    values = np.zeros((ny * nx, len(grid_z_mm)), dtype=np.float32)
    box = values[:, z_offset:z_offset + nz]
    box[:] = -1.0
    box[:, coarse] = magnitude
    rows, depths = np.divmod(fine, nz)
    box[rows, depths] = np.abs(second)
    peak, z = peak_depth(values, grid_z_mm)
    return peak.reshape(ny, nx), z.reshape(ny, nx)


def _around(candidates: np.ndarray, coarse: np.ndarray, nz: int) -> np.ndarray:
    """Flat indices (into columns × ``nz``) of the non-coarse voxels within ``DEPTH_STEP − 1`` of the
    coarse voxels ``coarse`` (C,) marked in ``candidates`` (columns, C): a maximum within one voxel
    of them, and both its neighbours for the parabola."""
    near = np.zeros((len(candidates), nz), dtype=bool)
    near[:, coarse] = candidates
    grown = near.copy()
    for shift in range(1, DEPTH_STEP):
        grown[:, shift:] |= near[:, :-shift]
        grown[:, :-shift] |= near[:, shift:]
    grown[:, coarse] = False
    return np.flatnonzero(grown)
