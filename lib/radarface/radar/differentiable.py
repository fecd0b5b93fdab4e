"""Differentiable fast renderer in torch: mesh vertices → complex volume → smooth images.

The same physics as :mod:`~radarface.radar.fast` (type-1 NUFFT onto a small K grid, the
support mask, type-2 NUFFT to the voxels; see there) and the same scattering model as
:mod:`~radarface.radar.scatter` (lattice quadrature with area weights, obliquity
``max(0, n·u)``, spreading loss, boundary taper, diffuse share), written so that the volume is
a differentiable function of the vertex positions (the NUFFTs of
:mod:`~radarface.radar.torch_nufft` have adjoint-NUFFT backward passes).

What is fixed once (:func:`sample_mesh`, :func:`plan_render`, from a starting mesh) and what
differs from the dataset renderer (:func:`radarface.radar.render`):

- Sampling: each scatterer is a fixed triangle and fixed barycentric coordinates (the lattice
  of :func:`~radarface.radar.scatter.sample_surface`, sub-triangle counts chosen on the starting
  mesh; optionally jittered inside each sub-triangle by a passed ``torch.Generator``), so
  positions, normals and areas move with the vertices. The dataset renderer re-chooses the
  counts per mesh.
- Diffuse share ``material``: one unit complex Gaussian per scatterer drawn once (riding on the
  surface), not per cell of a space-fixed roughness lattice; same statistics, but a different
  speckle realisation from the dataset renderer's.
- Shadowing and the boundary taper: the z-buffer mask (:func:`~radarface.radar.scatter.visible`,
  over the scatterers of triangles facing the array within ``cos > −0.4``) is recomputed at every
  call without gradient (a piecewise constant selection); the taper is fixed at sampling time.
  Triangles beyond the field of view are not culled (the dataset renderer drops them).
- Voxel region, K grid period, mask and demodulation centre: fixed by the plan (the dataset
  renderer picks them per scene); ``margin_mm`` widens the region so a moving face stays inside.
- Images (:func:`radar_images`): amplitude = max over depth and block of |I| in dB (a max is
  continuous); the clip at −DR is a softplus of width ``softness_db`` (0 = the hard clip of
  :func:`~radarface.radar.image.form_image`); depth = the softmax-weighted mean z over each
  column and block with temperature ``temperature_db`` (0 = the hard argmax, without the
  parabola refinement of the dataset renderer); the background mask of the depth image is a
  sigmoid of width ``softness_db`` (0 = hard). No receiver noise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy.signal import fftconvolve
from torch import nn

from radarface.radar.array import array_center
from radarface.radar.config import RadarConfig
from radarface.radar.fast import _GUARD_MM, _PERIOD_STEP_MM, support_mask
from radarface.radar.image import ImageGrid
from radarface.radar.params import check_render_params
from radarface.radar.pipeline import antennas
from radarface.radar.scatter import (_BACKFACE_COS, _DIFFUSE_REFERENCE_MM, _boundary_distance, _lattice,
                                     _outward_sign, check_mesh, facet_normals, visible)
from radarface.radar.torch_nufft import nufft_type1, nufft_type2

#: How the diffuse share enters a :class:`PhysicsRenderer`'s images: one fixed random ``"draw"`` of
#: its phases (speckle), the ``"expected"`` power over all draws (no speckle), or ``"expected-db"``:
#: each voxel's mean dB over all draws (what a speckled image's dB scatters around; lower than the
#: dB of the mean power by up to 2.5 dB where the diffuse share dominates).
SPECKLE: tuple[str, ...] = ("draw", "expected", "expected-db")
#: Euler's constant γ: a fully developed speckle's mean ln power lies γ below ln of its mean power.
EULER_GAMMA: float = 0.5772156649015329
#: Lags of |PSF|²'s spectrum below this fraction of its peak are left out (the box shrinks by about
#: a fifth per axis; the images change by < 1e-3 of their range).
PSF_POWER_TOL: float = 1e-3


@dataclass(frozen=True, eq=False)
class SurfaceSamples:
    """Fixed quadrature of a mesh: per scatterer its ``triangle`` (P,) int64, ``barycentric`` (P, 3)
    weights, ``area_share`` (P,) of its triangle's area, ``taper`` (P,) in [0, 1] and ``diffuse``
    (P,) unit complex Gaussian draw; ``sign`` (±1) orients the winding's normals outwards."""

    triangle: np.ndarray
    barycentric: np.ndarray
    area_share: np.ndarray
    taper: np.ndarray
    diffuse: np.ndarray
    sign: float

    def __len__(self) -> int:
        return len(self.triangle)


def sample_mesh(vertices: np.ndarray, triangles: np.ndarray, config: RadarConfig, *,
                generator: torch.Generator | None = None, jitter: bool = False) -> SurfaceSamples:
    """Fixed scatterer sampling of a posed mesh (vertices (N, 3) mm, triangles (M, 3)): the lattice of
    :func:`~radarface.radar.scatter.sample_surface` at ``config.surface_spacing_mm``, jittered inside
    each sub-triangle if ``jitter``; diffuse draws (and jitter) from ``generator`` (default seed
    ``config.seed``)."""
    v, t = check_mesh(vertices, triangles)
    generator = torch.Generator().manual_seed(config.seed) if generator is None else generator
    facet = facet_normals(v, t)
    sign = _outward_sign(v, t, facet, array_center(config))
    taper_v = np.ones(len(v))
    if config.edge_taper_mm > 0:
        d = np.clip(_boundary_distance(v, t) / config.edge_taper_mm, 0.0, 1.0)
        taper_v = d * d * (3.0 - 2.0 * d)
    tri = v[t]
    longest = np.sqrt(np.max(np.sum((tri - np.roll(tri, 1, axis=1)) ** 2, axis=2), axis=1))
    splits = np.maximum(1, np.ceil(longest / config.surface_spacing_mm - 1e-9)).astype(int)
    index, bary, share = [], [], []
    for n in np.unique(splits):
        sel = np.flatnonzero(splits == n)
        uv = np.broadcast_to(_lattice(int(n)), (len(sel), n * n, 2)).reshape(-1, 2)
        if jitter:
            up = np.tile(np.arange(n * n) < n * (n + 1) // 2, len(sel))  # upright sub-triangles come first
            ab = torch.rand(len(uv), 2, generator=generator, dtype=torch.float64).numpy()
            fold = ab.sum(axis=1) > 1
            ab[fold] = 1.0 - ab[fold]  # uniform on the unit triangle
            corner = np.floor(uv * n - np.where(up, 1 / 3, 2 / 3)[:, None] + 0.5)
            uv = np.where(up[:, None], corner + ab, corner + 1.0 - ab) / n
        index.append(np.repeat(sel, n * n))
        bary.append(np.stack([1.0 - uv.sum(axis=1), uv[:, 0], uv[:, 1]], axis=1))
        share.append(np.full(len(uv), 1.0 / (n * n)))
    index, bary, share = np.concatenate(index), np.concatenate(bary), np.concatenate(share)
    taper = np.einsum("pc,pc->p", bary, taper_v[t[index]])
    draws = torch.randn(len(index), 2, generator=generator, dtype=torch.float64).numpy() / np.sqrt(2.0)
    return SurfaceSamples(index, bary, share, taper, draws[:, 0] + 1j * draws[:, 1], float(sign))


def scatter_parts(vertices: torch.Tensor, triangles: torch.Tensor, samples: SurfaceSamples
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(positions (P, 3) mm, unit outward normals (P, 3), areas × taper (P,) mm²) of the scatterers of
    posed vertices (N, 3) mm; differentiable. A scatterer returns area × ((1 − m) + m·g·ξ), with m the
    diffuse share, g = 4 mm / roughness and ξ its unit complex Gaussian draw."""
    corners = vertices[triangles]  # (M, 3, 3)
    facet = torch.linalg.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]) * samples.sign
    area2 = facet.norm(dim=1)
    tri = torch.as_tensor(samples.triangle)
    bary = torch.as_tensor(samples.barycentric, dtype=vertices.dtype)
    positions = torch.einsum("pc,pcx->px", bary, corners[tri])
    normals = (facet / area2.clamp_min(1e-30)[:, None])[tri]
    area = 0.5 * area2[tri] * torch.as_tensor(samples.area_share * samples.taper, dtype=vertices.dtype)
    return positions, normals, area


def scatterers(vertices: torch.Tensor, triangles: torch.Tensor, samples: SurfaceSamples, *,
               material: float | torch.Tensor, roughness_mm: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(positions (P, 3) mm, unit outward normals (P, 3), complex amplitudes (P,): area × taper ×
    ((1 − m) + m·g·ξ)) of posed vertices (N, 3) mm; differentiable in the vertices (and a tensor ``material``)."""
    positions, normals, area = scatter_parts(vertices, triangles, samples)
    cplx = torch.complex64 if vertices.dtype == torch.float32 else torch.complex128
    xi = torch.as_tensor(samples.diffuse, dtype=cplx)
    surface = (1.0 - material) + material * (_DIFFUSE_REFERENCE_MM / roughness_mm) * xi
    return positions, normals, area.to(cplx) * surface


@dataclass(frozen=True, eq=False)
class RenderPlan:
    """What stays fixed while a face moves: the voxel region ``roi`` of ``grid``, the voxels'
    scaled array-centred coordinates ``voxel_points`` (V, 3) rad, their ``carrier`` phase (V,),
    the support ``mask`` (N1, N2, N3) on a K grid of spacing ``dk`` (3,) rad/mm, the demodulation
    wavevector ``kc`` (3,) rad/mm and centre ``ref`` (3,) mm, the rendering parameters and NUFFT ``eps``."""

    config: RadarConfig
    grid: ImageGrid
    roi: tuple[slice, slice, slice]
    voxel_points: torch.Tensor
    carrier: torch.Tensor
    mask: torch.Tensor
    dk: torch.Tensor
    kc: torch.Tensor
    ref: torch.Tensor
    render_params: dict[str, Any]
    eps: float

    @property
    def roi_shape(self) -> tuple[int, int, int]:
        """Shape (ny, nx, nz) of the evaluated sub-box of the grid."""
        return tuple(len(a[s]) for a, s in zip((self.grid.y_mm, self.grid.x_mm, self.grid.z_mm), self.roi))


def _warp(positions: np.ndarray | torch.Tensor, config: RadarConfig):
    """Array-centred coordinates (P, 3) mm ``(R0·s_x, R0·s_y, ρ)`` of positions (P, 3) mm (numpy or torch)."""
    lib = torch if isinstance(positions, torch.Tensor) else np
    d = positions - (torch.as_tensor(array_center(config), dtype=positions.dtype)
                     if lib is torch else array_center(config))
    rho = lib.sqrt((d * d).sum(1))
    return lib.stack([d[:, 0] * config.range_mm / rho, d[:, 1] * config.range_mm / rho, rho], 1)


def plan_render(positions: np.ndarray, config: RadarConfig, *, render_params: dict[str, Any] | None = None,
                grid: ImageGrid | None = None, margin_mm: float = 0.0, dtype: torch.dtype = torch.float32,
                eps: float | None = None) -> RenderPlan:
    """Plan for scenes near the scatterer ``positions`` (P, 3) mm: voxels within ``roi_margin_mm +
    margin_mm`` of them, K grid as :func:`~radarface.radar.fast.fast_volume` would choose for them
    (``dtype`` float32 or float64; ``eps`` default ``config.nufft_eps``)."""
    positions = np.asarray(positions, dtype=np.float64)
    if positions.ndim != 2 or positions.shape[1] != 3 or len(positions) == 0:
        raise ValueError(f"positions must be (P, 3) mm with P >= 1, got shape {positions.shape}")
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
    params = check_render_params(render_params or {}, config)
    grid = ImageGrid.from_config(config) if grid is None else grid
    roi = grid.roi(positions, config.roi_margin_mm + margin_mm)
    y, x, z = grid.voxel_axes(roi)
    if min(len(y), len(x), len(z)) == 0:
        raise ValueError("no voxel of the grid lies near the scene; move the scene into the field of view")
    yy, xx, zz = np.meshgrid(y, x, z, indexing="ij")
    w_v = _warp(np.stack([xx.ravel(), yy.ravel(), zz.ravel()], 1), config)
    w_p = _warp(positions, config)
    lo = np.minimum(w_v.min(0), w_p.min(0) - margin_mm)
    hi = np.maximum(w_v.max(0), w_p.max(0) + margin_mm)
    period = np.ceil((hi - lo + _GUARD_MM) / _PERIOD_STEP_MM) * _PERIOD_STEP_MM
    dk = 2.0 * np.pi / period
    tx, rx = antennas(config, params["aperture_mm"])
    mask, _, kc = support_mask(config, tx, rx, dk)
    ref = 0.5 * (lo + hi)
    cplx = torch.complex64 if dtype == torch.float32 else torch.complex128
    carrier = torch.polar(torch.ones(len(w_v), dtype=dtype), torch.as_tensor(-(w_v - ref) @ kc, dtype=dtype))
    return RenderPlan(config, grid, roi, torch.as_tensor((w_v - ref) * dk, dtype=dtype), carrier.to(cplx),
                      torch.as_tensor(mask, dtype=dtype), torch.as_tensor(dk, dtype=dtype),
                      torch.as_tensor(kc, dtype=dtype), torch.as_tensor(ref, dtype=dtype), params,
                      float(config.nufft_eps if eps is None else eps))


def visible_mask(positions: torch.Tensor, normals: torch.Tensor, samples: SurfaceSamples,
                 config: RadarConfig) -> torch.Tensor:
    """Bool (P,) of scatterers that count (no gradient): taper > 0, triangle facing the array within
    cos > −0.4, and not shadowed by the z-buffer of :func:`~radarface.radar.scatter.visible`."""
    pos = positions.detach().double().numpy()
    nrm = normals.detach().double().numpy()
    center = array_center(config)
    to_array = center - pos
    facing = np.einsum("pc,pc->p", nrm, to_array) > _BACKFACE_COS * np.linalg.norm(to_array, axis=1)
    out = (samples.taper > 0) & facing
    idx = np.flatnonzero(facing)
    if idx.size:
        out[idx] &= visible(pos[idx], nrm[idx], center, config.shadow_pixel_mm, config.shadow_tolerance_mm,
                            config.range_mm)
    return torch.from_numpy(out)


def _array_terms(positions: torch.Tensor, normals: torch.Tensor | None, plan: RenderPlan
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """(array-centred coordinates of the scatterers minus the plan's centre (P, 3) mm, their real
    amplitude gain (P,): obliquity ``max(0, n·u)`` (None: 1) × spreading loss)."""
    config = plan.config
    center = torch.as_tensor(array_center(config), dtype=positions.dtype)
    to_array = center - positions
    rho = to_array.norm(dim=1)
    gain = torch.ones_like(rho)
    if normals is not None:
        gain = gain * torch.relu((normals * to_array).sum(1) / rho)
    if config.spreading_loss:
        gain = gain * (config.range_mm / rho) ** 2
    w = torch.stack([-to_array[:, 0] * config.range_mm / rho, -to_array[:, 1] * config.range_mm / rho, rho], 1)
    return w - plan.ref, gain


def scene_volume(positions: torch.Tensor, normals: torch.Tensor | None, amplitudes: torch.Tensor, plan: RenderPlan,
                 *, phase: bool = False) -> torch.Tensor:
    """Complex volume (ny, nx, nz) on the plan's region of scatterers at positions (P, 3) mm with unit
    ``normals`` (P, 3) (None: isotropic) and complex ``amplitudes`` (P,); differentiable in all three.
    ``phase=False`` leaves out the carrier phase (magnitudes unchanged)."""
    w, gain = _array_terms(positions, normals, plan)
    weight = amplitudes * gain * torch.polar(torch.ones_like(gain), w @ plan.kc)
    spectrum = nufft_type1(w * plan.dk, weight, tuple(plan.mask.shape), isign=1, eps=plan.eps) * plan.mask
    image = nufft_type2(plan.voxel_points, spectrum, isign=-1, eps=plan.eps)
    if phase:
        image = image * plan.carrier
    return image.reshape(plan.roi_shape)


def psf_power_spectrum(mask: torch.Tensor, *, tol: float = PSF_POWER_TOL) -> torch.Tensor:
    """Spectrum of the point spread function's power |PSF|²: the autocorrelation of the real support
    ``mask`` (N1, N2, N3), of size up to (2N1−1, 2N2−1, 2N3−1), cropped to the centred box holding every
    lag at ``tol`` × its peak or more; index j is the lag j − (size − 1)/2, finufft's order."""
    m = mask.detach().double().numpy()
    full = fftconvolve(m, m[::-1, ::-1, ::-1], mode="full").clip(min=0.0)
    centre = [n // 2 for n in full.shape]
    strong = np.nonzero(full >= tol * full.max())
    half = [int(np.abs(index - c).max()) for index, c in zip(strong, centre)]
    box = tuple(slice(c - h, c + h + 1) for c, h in zip(centre, half))
    return torch.as_tensor(np.ascontiguousarray(full[box]), dtype=mask.dtype)


def incoherent_volume(positions: torch.Tensor, normals: torch.Tensor | None, power: torch.Tensor, plan: RenderPlan,
                      spectrum: torch.Tensor) -> torch.Tensor:
    """Real volume (ny, nx, nz) on the plan's region: Σ_p power_p·gain_p²·|PSF(x − x_p)|², the mean power
    of scatterers at positions (P, 3) mm with independent uniformly random phases and mean powers
    ``power`` (P,); ``spectrum`` from :func:`psf_power_spectrum` of the plan's mask. Differentiable."""
    w, gain = _array_terms(positions, normals, plan)
    cplx = torch.complex64 if positions.dtype == torch.float32 else torch.complex128
    strengths = (power * gain**2).to(cplx)
    grid = nufft_type1(w * plan.dk, strengths, tuple(spectrum.shape), isign=1, eps=plan.eps) * spectrum
    image = nufft_type2(plan.voxel_points, grid, isign=-1, eps=plan.eps)
    return image.real.clamp_min(0.0).reshape(plan.roi_shape)


def _check_vertices(vertices: torch.Tensor, plan: RenderPlan) -> None:
    if vertices.ndim != 2 or vertices.shape[1] != 3:
        raise ValueError(f"vertices must be (N, 3) mm (one posed face), got shape {tuple(vertices.shape)}")
    if vertices.dtype != plan.voxel_points.dtype:
        raise ValueError(f"vertices are {vertices.dtype} but the plan is {plan.voxel_points.dtype}")


def render_volume(vertices: torch.Tensor, triangles: torch.Tensor, samples: SurfaceSamples, plan: RenderPlan, *,
                  phase: bool = False) -> torch.Tensor:
    """Complex volume (Ny, Nx, Nz) on the plan's whole grid (zero outside its region) of posed vertices
    (N, 3) mm; differentiable in the vertices (the shadowing selection is not)."""
    _check_vertices(vertices, plan)
    material = float(plan.render_params["material"])
    pos, nrm, amp = scatterers(vertices, triangles, samples, material=material,
                               roughness_mm=plan.config.roughness_mm)
    keep = visible_mask(pos, nrm, samples, plan.config)
    sub = scene_volume(pos[keep], nrm[keep], amp[keep], plan, phase=phase)
    full = torch.zeros(plan.grid.shape, dtype=sub.dtype)
    full[plan.roi] = sub
    return full


def expected_power(vertices: torch.Tensor, triangles: torch.Tensor, samples: SurfaceSamples, plan: RenderPlan,
                   spectrum: torch.Tensor, *, material: float | torch.Tensor | None = None) -> torch.Tensor:
    """Mean power (Ny, Nx, Nz) over the diffuse share's random phases, on the plan's whole grid (zero
    outside its region), of posed vertices (N, 3) mm: the sum of :func:`expected_parts`."""
    specular, diffuse = expected_parts(vertices, triangles, samples, plan, spectrum, material=material)
    return specular + diffuse


def expected_parts(vertices: torch.Tensor, triangles: torch.Tensor, samples: SurfaceSamples, plan: RenderPlan,
                   spectrum: torch.Tensor, *, material: float | torch.Tensor | None = None
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """The specular power (1 − m)²·|specular volume|² and the diffuse share's mean power m²·g²·the
    scatterers' :func:`incoherent_volume` (``spectrum`` from :func:`psf_power_spectrum`), each
    (Ny, Nx, Nz) on the plan's whole grid (zero outside its region), of posed vertices (N, 3) mm;
    ``material`` m default the plan's. Differentiable in the vertices and in a tensor ``material``."""
    _check_vertices(vertices, plan)
    m = plan.render_params["material"] if material is None else material
    pos, nrm, area = scatter_parts(vertices, triangles, samples)
    keep = visible_mask(pos, nrm, samples, plan.config)
    cplx = torch.complex64 if vertices.dtype == torch.float32 else torch.complex128
    coherent = scene_volume(pos[keep], nrm[keep], area[keep].to(cplx), plan)
    g = _DIFFUSE_REFERENCE_MM / plan.config.roughness_mm
    incoherent = incoherent_volume(pos[keep], nrm[keep], (g * area[keep]) ** 2, plan, spectrum)
    parts = []
    for sub in ((1.0 - m) ** 2 * (coherent.real**2 + coherent.imag**2), m**2 * incoherent):
        full = torch.zeros(plan.grid.shape, dtype=sub.dtype)
        full[plan.roi] = sub
        parts.append(full)
    return parts[0], parts[1]


class _SpeckleLogOffset(torch.autograd.Function):
    """h(K) = E[ln P] − ln E[P] of P = |s + n|², |s|² = K·σ², n complex Gaussian of variance σ²:
    ln(K / (1 + K)) + E₁(K) (E₁ the exponential integral), −γ at K = 0, → 0 as K → ∞."""

    @staticmethod
    def forward(ctx, k: torch.Tensor) -> torch.Tensor:
        from scipy.special import exp1

        kk = k.detach().double().cpu().numpy()
        with np.errstate(divide="ignore", invalid="ignore"):
            big = np.log(kk) + exp1(kk) - np.log1p(kk)
        small = -EULER_GAMMA + kk**2 * (0.25 - kk * 5.0 / 18.0)  # its series to K³ (no cancellation)
        out = np.where(kk < 1e-4, small, big)
        ctx.save_for_backward(k)
        return torch.as_tensor(out, dtype=k.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (k,) = ctx.saved_tensors
        kd = k.double()
        ratio = torch.where(kd > 1e-8, -torch.expm1(-kd) / kd.clamp_min(1e-8), 1.0 - kd / 2.0)
        return grad * (ratio - 1.0 / (1.0 + kd)).to(k.dtype)


def mean_db(specular: torch.Tensor, diffuse: torch.Tensor) -> torch.Tensor:
    """Each voxel's mean dB, 10·E[log10 P], over the random phases of a diffuse part of mean power
    ``diffuse`` added to a ``specular`` power (same shapes); dB re 1 (power units squared)."""
    tiny = 1e-30 * float((specular + diffuse).detach().amax()) + 1e-300
    log_mean = torch.log(specular + diffuse + tiny)
    offset = _SpeckleLogOffset.apply(specular / (diffuse + tiny))
    return (10.0 / np.log(10.0)) * (log_mean + offset)


def radar_images(volume: torch.Tensor, grid: ImageGrid, *, dynamic_range_db: float, softness_db: float = 1.0,
                 temperature_db: float = 1.0, mask_depth: bool = True) -> torch.Tensor:
    """Images (2, H, W) (amplitude, depth) in [0, 1] of a complex volume (Ny, Nx, Nz) on ``grid``, the
    conventions of :func:`~radarface.radar.image.form_image` with smooth steps (module docstring):
    ``softness_db`` the width of the clip at −DR, ``temperature_db`` of the depth softmax (0 = hard).
    ``mask_depth=False`` leaves the depth of pixels below −DR unmasked (their peak's depth, not 0)."""
    if volume.shape != grid.shape:
        raise ValueError(f"volume shape {tuple(volume.shape)} does not match the grid {grid.shape}")
    if not dynamic_range_db > 0 or not softness_db >= 0 or not temperature_db >= 0:
        raise ValueError(f"need dynamic_range_db > 0 and softness_db, temperature_db >= 0, got "
                         f"{dynamic_range_db}, {softness_db}, {temperature_db}")
    return power_images(volume.real**2 + volume.imag**2, grid, dynamic_range_db=dynamic_range_db,
                        softness_db=softness_db, temperature_db=temperature_db, mask_depth=mask_depth)


def power_images(power: torch.Tensor, grid: ImageGrid, *, dynamic_range_db: float, softness_db: float = 1.0,
                 temperature_db: float = 1.0, mask_depth: bool = True) -> torch.Tensor:
    """:func:`radar_images` of a real power volume (Ny, Nx, Nz) (|volume|², or a mean power)."""
    if power.shape != grid.shape:
        raise ValueError(f"power volume shape {tuple(power.shape)} does not match the grid {grid.shape}")
    return db_images(relative_db(power), grid, dynamic_range_db=dynamic_range_db,
                     softness_db=softness_db, temperature_db=temperature_db, mask_depth=mask_depth)


def relative_db(power: torch.Tensor) -> torch.Tensor:
    """A power volume in dB relative to its peak (≤ 0); ValueError if it holds no signal."""
    top = power.amax()
    if not float(top.detach()) > 0:
        raise ValueError("the scene returns no signal (all surface faces away from the array or is shadowed)")
    return 10.0 * torch.log10(power / top + 1e-12)


def db_images(db: torch.Tensor, grid: ImageGrid, *, dynamic_range_db: float, softness_db: float = 1.0,
              temperature_db: float = 1.0, mask_depth: bool = True) -> torch.Tensor:
    """:func:`radar_images` of a volume (Ny, Nx, Nz) in dB relative to the image's peak (≤ 0; e.g.
    :func:`mean_db` less its maximum)."""
    if db.shape != grid.shape:
        raise ValueError(f"dB volume shape {tuple(db.shape)} does not match the grid {grid.shape}")
    if not dynamic_range_db > 0 or not softness_db >= 0 or not temperature_db >= 0:
        raise ValueError(f"need dynamic_range_db > 0 and softness_db, temperature_db >= 0, got "
                         f"{dynamic_range_db}, {softness_db}, {temperature_db}")
    b, (h, w), nz = grid.block, grid.image_shape, len(grid.z_mm)
    blocks = db.reshape(h, b, w, b, nz).permute(0, 2, 1, 3, 4).reshape(h, w, b * b * nz)
    z = torch.as_tensor(grid.z_mm, dtype=db.dtype).repeat(b * b)
    peak = blocks.amax(-1)
    dr = float(dynamic_range_db)
    if softness_db > 0:
        amplitude = softness_db * nn.functional.softplus((peak + dr) / softness_db) / dr
        foreground = torch.sigmoid((peak + dr) / softness_db)
    else:
        amplitude = (peak.clamp(-dr, 0.0) + dr) / dr
        foreground = (peak > -dr).to(db.dtype)
    if temperature_db > 0:
        z_peak = (torch.softmax(blocks / temperature_db, -1) * z).sum(-1)
    else:
        z_peak = z[blocks.argmax(-1)]
    lo, hi = grid.depth_window_mm
    depth = ((z_peak - lo) / (hi - lo)).clamp(0.0, 1.0)
    return torch.stack([amplitude, depth * foreground if mask_depth else depth])


class PhysicsRenderer(nn.Module):
    """Posed vertices (N, 3) mm → images (2, H, W) (amplitude, depth) through the differentiable fast
    renderer, sampling and plan fixed from ``start_vertices`` (posed, mm); see the module docstring.

    ``margin_mm``: extra region around the starting face for it to move in; ``generator``: the
    diffuse draws (and ``jitter``); ``render_params``: None = the config's (evaluation) values;
    ``speckle``: the diffuse share as one fixed ``"draw"`` of random phases, or its ``"expected"``
    power (:func:`expected_power`: no speckle, so no draw to mismatch on images made by another renderer).
    """

    def __init__(self, start_vertices: np.ndarray, triangles: np.ndarray, config: RadarConfig, *,
                 render_params: dict[str, Any] | None = None, grid: ImageGrid | None = None,
                 margin_mm: float = 16.0, generator: torch.Generator | None = None, jitter: bool = False,
                 dtype: torch.dtype = torch.float32, softness_db: float = 1.0, temperature_db: float = 1.0,
                 speckle: str = "draw") -> None:
        super().__init__()
        if speckle not in SPECKLE:
            raise ValueError(f"speckle must be one of {list(SPECKLE)}, got {speckle!r}")
        v, t = check_mesh(start_vertices, triangles)
        self.samples = sample_mesh(v, t, config, generator=generator, jitter=jitter)
        self.triangles = torch.as_tensor(t)
        vt = torch.as_tensor(v, dtype=dtype)
        pos, nrm, _ = scatter_parts(vt, self.triangles, self.samples)
        keep = visible_mask(pos, nrm, self.samples, config).numpy()
        self.plan = plan_render(pos.numpy()[keep], config, render_params=render_params, grid=grid,
                                margin_mm=margin_mm, dtype=dtype)
        self.softness_db, self.temperature_db = float(softness_db), float(temperature_db)
        self.speckle = speckle
        self.psf_power = None if speckle == "draw" else psf_power_spectrum(self.plan.mask)

    def volume(self, vertices: torch.Tensor, *, phase: bool = False) -> torch.Tensor:
        """Complex volume (Ny, Nx, Nz) of posed vertices (N, 3) mm."""
        return render_volume(vertices, self.triangles, self.samples, self.plan, phase=phase)

    def forward(self, vertices: torch.Tensor, *, mask_depth: bool = True, material: torch.Tensor | None = None,
                level_db: torch.Tensor | float = 0.0) -> torch.Tensor:
        """Smooth images (2, H, W) in [0, 1] of posed vertices (N, 3) mm (``mask_depth``: see :func:`radar_images`;
        ``material``: see :meth:`power`; ``level_db``: see :meth:`images`)."""
        return self.images(self.db_volume(vertices, material=material), mask_depth=mask_depth, level_db=level_db)

    def db_volume(self, vertices: torch.Tensor, *, material: torch.Tensor | None = None) -> torch.Tensor:
        """The volume (Ny, Nx, Nz) of posed vertices (N, 3) mm in dB relative to its peak (≤ 0): of :meth:`power`,
        or each voxel's mean dB (``speckle`` "expected-db")."""
        if self.speckle == "expected-db":
            db = mean_db(*expected_parts(vertices, self.triangles, self.samples, self.plan, self.psf_power,
                                         material=material))
            return db - db.amax()
        return relative_db(self.power(vertices, material=material))

    def images(self, db: torch.Tensor, *, mask_depth: bool = True, level_db: torch.Tensor | float = 0.0
               ) -> torch.Tensor:
        """Smooth images (2, H, W) in [0, 1] of a :meth:`db_volume`, raised by ``level_db`` dB before the clip at
        −DR: the peak of a speckled image lies above the peak of its expected power, so a measured image
        normalised to its own peak is darker than the rendered one by a level the renderer cannot know."""
        return db_images(db + level_db, self.plan.grid, dynamic_range_db=self.plan.render_params["dynamic_range_db"],
                         softness_db=self.softness_db, temperature_db=self.temperature_db, mask_depth=mask_depth)

    def power(self, vertices: torch.Tensor, *, material: torch.Tensor | None = None) -> torch.Tensor:
        """Power volume (Ny, Nx, Nz) of posed vertices (N, 3) mm: the expected power (``speckle`` "expected"
        or "expected-db"; ``material``: a diffuse share (0-d tensor, e.g. being fitted) instead of the
        plan's), or |volume|² of the fixed draw."""
        if self.psf_power is not None:
            return expected_power(vertices, self.triangles, self.samples, self.plan, self.psf_power,
                                  material=material)
        if material is not None:
            raise ValueError("a fitted material needs speckle='expected' (one fixed draw's speckle is not a "
                             "function of the diffuse share)")
        volume = self.volume(vertices)
        return volume.real**2 + volume.imag**2
