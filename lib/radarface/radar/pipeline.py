"""Public renderers: mesh or points → scatterers → complex volume (fast or exact) → images.

Both renderers share everything but the volume: the scatterers (:mod:`scatter`), the voxel
grid and the region evaluated, the receiver-noise scaling and the image formation
(:mod:`image`), so their images differ only by the physics approximation of the fast one.

Randomness: ``rng=None`` means ``np.random.default_rng(config.seed)``, so the same call gives the
same bytes; every draw (random rendering parameters, diffuse phases, noise), in that order,
comes from the one generator.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from radarface.radar import checks
from radarface.radar.array import antenna_positions, check_positions, edge_sizes, select_antennas
from radarface.radar.config import RadarConfig
from radarface.radar.fast import fast_volume
from radarface.radar.image import ImageGrid, RadarImage, form_image
from radarface.radar.params import check_render_params, sample_render_params
from radarface.radar.reference import reference_volume
from radarface.radar.scatter import Scene, point_scene, surface_scene

RenderParams = dict[str, Any] | str | None


def _prepare(config: RadarConfig, render_params: RenderParams, rng: np.random.Generator | None
             ) -> tuple[dict[str, Any], np.random.Generator]:
    """(complete rendering parameters, generator) for a render call."""
    if not isinstance(config, RadarConfig):
        raise ValueError(f"config must be a radarface.radar.RadarConfig, got {type(config).__name__}")
    if rng is None:
        rng = np.random.default_rng(config.seed)
    elif not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator or None, got {type(rng).__name__}")
    if isinstance(render_params, str):
        if render_params != "random":
            raise ValueError(f"render_params must be a dict, None (config defaults) or 'random', got {render_params!r}")
        render_params = sample_render_params(rng, config)
    return check_render_params(render_params or {}, config), rng


def antennas(config: RadarConfig, aperture_mm: float | None = None, *, tx_positions: np.ndarray | None = None,
             rx_positions: np.ndarray | None = None, tx_index: np.ndarray | None = None,
             rx_index: np.ndarray | None = None, stride: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Transmitters (Nt, 3) and receivers (Nr, 3) in mm: explicit positions, or the config's array at
    ``aperture_mm``; then the subset ``tx_index``/``rx_index`` or every ``stride``-th per edge."""
    tx_full, rx_full = antenna_positions(config, aperture_mm)
    out = []
    for given, full, index, count, name in ((tx_positions, tx_full, tx_index, config.n_tx, "tx_positions"),
                                            (rx_positions, rx_full, rx_index, config.n_rx, "rx_positions")):
        if given is None:
            out.append(select_antennas(full, index, stride, edge_sizes(count)))
        else:
            out.append(select_antennas(check_positions(given, name, config), index, stride))
    return out[0], out[1]


def image_from_scene(scene: Scene, config: RadarConfig, render_params: dict[str, Any], rng: np.random.Generator,
                     *, method: str = "fast", grid: ImageGrid | None = None, roi: bool = True,
                     return_volume: bool = False, tx: np.ndarray | None = None, rx: np.ndarray | None = None,
                     **options: Any) -> RadarImage:
    """Images of a scatterer ``scene`` by ``method`` ("fast" or "reference"); ``options`` go to the
    volume function (e.g. ``nthreads``; ``assumed_tx``, ``synthesis``, ``chunk_voxels`` for the reference)."""
    volumes: dict[str, Callable] = {"fast": fast_volume, "reference": reference_volume}
    if method not in volumes:
        raise ValueError(f"method must be 'fast' or 'reference', got {method!r}")
    if grid is not None and not isinstance(grid, ImageGrid):
        raise ValueError(f"grid must be a radarface.radar.ImageGrid or None, got {type(grid).__name__}")
    grid = ImageGrid.from_config(config) if grid is None else grid
    if tx is None or rx is None:
        tx_default, rx_default = antennas(config, render_params["aperture_mm"])
        tx = tx_default if tx is None else tx
        rx = rx_default if rx is None else rx
    region = grid.roi(scene.positions if roi else None, config.roi_margin_mm)
    axes = grid.voxel_axes(region)
    if min(len(a) for a in axes) == 0:
        raise ValueError("no voxel of the grid lies near the scene; move the scene into the field of view")
    snr = render_params["snr_db"]
    if method == "fast":
        options.setdefault("phase", return_volume)
    signal, noise = volumes[method](scene, config, axes, tx=tx, rx=rx, noise=snr is not None, rng=rng,
                                    **options)
    if noise is not None:
        rms = float(np.sqrt(np.mean(np.abs(noise) ** 2)))
        signal = signal + noise * (float(np.abs(signal).max()) / (10.0 ** (snr / 20.0) * max(rms, 1e-30)))
    volume = np.zeros(grid.shape, dtype=np.complex64)
    volume[region] = signal.reshape(volume[region].shape)
    return form_image(volume, grid, render_params, return_volume=return_volume)


def render(vertices: np.ndarray, triangles: np.ndarray, config: RadarConfig, pose: np.ndarray | None = None,
           render_params: RenderParams = None, rng: np.random.Generator | None = None, *,
           nthreads: int = 1, grid: ImageGrid | None = None, return_volume: bool = False,
           tx_positions: np.ndarray | None = None, rx_positions: np.ndarray | None = None,
           tx_index: np.ndarray | None = None, rx_index: np.ndarray | None = None, stride: int = 1) -> RadarImage:
    """Fast radar images of a mesh: vertices (N, 3) mm in the model frame, triangles (M, 3), pose
    (6,) = (yaw, pitch, roll rad, tx, ty, tz mm) applied first.

    ``render_params``: None (the config's values: evaluation defaults), a dict (missing keys from
    the config) or ``"random"`` (drawn from ``rng``). ``nthreads``: threads of the NUFFTs (one per
    worker process when rendering datasets). Antenna options select the k-space support's array
    (explicit positions in mm, index subsets or a per-edge stride). Returns a
    :class:`RadarImage` (amplitude and depth (H, W) in [0, 1]; ``volume`` if ``return_volume``).
    """
    params, rng = _prepare(config, render_params, rng)
    checks.integer("nthreads", nthreads, 1)
    scene = surface_scene(vertices, triangles, config, pose=pose, material=params["material"], rng=rng)
    tx, rx = antennas(config, params["aperture_mm"], tx_positions=tx_positions, rx_positions=rx_positions,
                      tx_index=tx_index, rx_index=rx_index, stride=stride)
    return image_from_scene(scene, config, params, rng, method="fast", grid=grid, return_volume=return_volume,
                            tx=tx, rx=rx, nthreads=nthreads)


def render_reference(vertices: np.ndarray, triangles: np.ndarray, config: RadarConfig,
                     pose: np.ndarray | None = None, render_params: RenderParams = None,
                     rng: np.random.Generator | None = None, *, tx_index: np.ndarray | None = None,
                     rx_index: np.ndarray | None = None, stride: int = 1, tx_positions: np.ndarray | None = None,
                     rx_positions: np.ndarray | None = None, assumed_tx_positions: np.ndarray | None = None,
                     assumed_rx_positions: np.ndarray | None = None, grid: ImageGrid | None = None,
                     return_volume: bool = False, synthesis: str = "gemm", chunk_voxels: int = 16384,
                     nthreads: int | None = None) -> RadarImage:
    """Exact MIMO images of a mesh: same arguments and image conventions as :func:`render`.

    Antennas: the config's array at the rendering aperture, or ``tx_positions``/``rx_positions``
    (true positions, mm), reduced by ``tx_index``/``rx_index`` or a per-edge ``stride`` for speed.
    ``assumed_*_positions`` are what the back-projection believes (calibration errors); they must
    match the selected antennas' shapes. ``nthreads``: torch threads (None = torch's setting).
    Cost ∝ channels × (points + voxels) × frequencies: about a minute per 64 × 64 face with the
    full 94 × 94 array on one core; the fast renderer is ~100× faster.
    """
    params, rng = _prepare(config, render_params, rng)
    if nthreads is not None:
        checks.integer("nthreads", nthreads, 1)
    checks.integer("chunk_voxels", chunk_voxels, 1)
    scene = surface_scene(vertices, triangles, config, pose=pose, material=params["material"], rng=rng)
    tx, rx = antennas(config, params["aperture_mm"], tx_positions=tx_positions, rx_positions=rx_positions,
                      tx_index=tx_index, rx_index=rx_index, stride=stride)
    assumed = {}
    for key, given, ref in (("assumed_tx", assumed_tx_positions, tx), ("assumed_rx", assumed_rx_positions, rx)):
        if given is not None:
            assumed[key] = check_positions(given, key + "_positions", config)
            if assumed[key].shape != ref.shape:
                raise ValueError(f"{key}_positions has shape {assumed[key].shape}, the selected antennas {ref.shape}")
    return image_from_scene(scene, config, params, rng, method="reference", grid=grid, return_volume=return_volume,
                            tx=tx, rx=rx, synthesis=synthesis, chunk_voxels=chunk_voxels, nthreads=nthreads,
                            **assumed)


def render_points(positions: np.ndarray, amplitudes: np.ndarray | None, config: RadarConfig, *,
                  method: str = "fast", render_params: RenderParams = None, rng: np.random.Generator | None = None,
                  grid: ImageGrid | None = None, return_volume: bool = True, roi: bool = True,
                  **antenna_options: Any) -> RadarImage:
    """Images (and by default the volume) of isotropic point scatterers at ``positions`` (P, 3) mm
    with complex ``amplitudes`` (P,) (None = 1) by ``method`` "fast" or "reference".

    ``grid`` may be any :class:`ImageGrid` (e.g. fine cuts for point-spread functions); ``roi``
    restricts the evaluation to the points' neighbourhood (``roi_margin_mm``; the rest is zero).
    ``antenna_options`` as in :func:`render_reference` (``stride``, ``tx_index``, ``tx_positions``, ...).
    """
    params, rng = _prepare(config, render_params, rng)
    scene = point_scene(positions, amplitudes)
    opts = {k: antenna_options.pop(k) for k in list(antenna_options)
            if k in ("tx_positions", "rx_positions", "tx_index", "rx_index", "stride")}
    tx, rx = antennas(config, params["aperture_mm"], **opts)
    return image_from_scene(scene, config, params, rng, method=method, grid=grid, roi=roi,
                            return_volume=return_volume, tx=tx, rx=rx, **antenna_options)
