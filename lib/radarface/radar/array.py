"""MIMO antenna array on the edges of a square aperture (or given explicitly), its virtual elements and subsets.

Convention of the default square: transmitters on the left and right edges (``x = ∓D/2``), receivers on the bottom
and top edges (``y = ∓D/2``), all in the plane ``z = config.array_z_mm``. Each edge carries
its share of the elements at the centres of equal segments, so the virtual (monostatic
equivalent) elements ``(t + r) / 2`` tile the full D × D square uniformly.

An explicit array (``RadarConfig.tx_positions_mm``/``rx_positions_mm``, radar frame) is moved to
the plane of the config's array; a rendering aperture ``aperture_mm`` then scales its lateral
coordinates by ``aperture_mm / config.aperture_mm`` (so the aperture parameter means the same
for every array). Named arrays: :mod:`radarface.radar.presets`.
"""

from __future__ import annotations

import numpy as np

from radarface.radar.config import RadarConfig


def _edge_positions(count: int, aperture_mm: float) -> np.ndarray:
    """Coordinates (count,) along one edge in mm: centres of ``count`` equal segments."""
    return (np.arange(count) + 0.5) * aperture_mm / count - 0.5 * aperture_mm


def antenna_positions(config: RadarConfig, aperture_mm: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Transmitter (n_tx, 3) and receiver (n_rx, 3) positions in mm (model frame).

    ``aperture_mm`` overrides the config's aperture side D (a rendering parameter).

    >>> tx, rx = antenna_positions(RadarConfig())
    >>> tx.shape, rx.shape, float(tx[0, 0]), float(rx[0, 1])
    ((94, 3), (94, 3), -100.0, -100.0)
    """
    side = float(config.aperture_mm if aperture_mm is None else aperture_mm)
    if not side > 0:
        raise ValueError(f"aperture_mm must be positive, got {aperture_mm}")
    z = config.array_z_mm
    if config.has_explicit_array:
        scale = np.array([side / config.aperture_mm, side / config.aperture_mm, 1.0])
        return tuple(np.asarray(getattr(config, name)) * scale + np.array([0.0, 0.0, z])
                     for name in ("tx_positions_mm", "rx_positions_mm"))
    out = []
    for count, axis in ((config.n_tx, 0), (config.n_rx, 1)):
        pos = []
        for n_edge, sign in zip(edge_sizes(count), (-1.0, 1.0)):
            along = _edge_positions(n_edge, side)
            edge = np.zeros((n_edge, 3))
            edge[:, axis] = sign * side / 2
            edge[:, 1 - axis] = along
            edge[:, 2] = z
            pos.append(edge)
        out.append(np.concatenate(pos))
    return out[0], out[1]


def array_center(config: RadarConfig) -> np.ndarray:
    """Centre (3,) of the aperture in mm: ``(0, 0, array_z_mm)``."""
    return np.array([0.0, 0.0, config.array_z_mm])


def virtual_elements(tx: np.ndarray, rx: np.ndarray) -> np.ndarray:
    """Virtual (monostatic-equivalent) elements (n_tx·n_rx, 3) in mm: ``(t + r) / 2``."""
    return 0.5 * (np.asarray(tx)[:, None, :] + np.asarray(rx)[None, :, :]).reshape(-1, 3)


def edge_sizes(count: int) -> tuple[int, int]:
    """Elements on the first and second edge for ``count`` antennas of one kind."""
    first = (count + 1) // 2
    return first, count - first


def select_antennas(positions: np.ndarray, index: np.ndarray | None = None, stride: int = 1,
                    edges: tuple[int, ...] | None = None) -> np.ndarray:
    """Subset (K, 3) of ``positions`` (N, 3): explicit ``index`` if given, else every ``stride``-th
    element of each edge (``edges`` = element counts of the contiguous edge blocks; default one).

    A stride keeps the aperture (hence the resolution) and coarsens the element spacing, which
    moves grating lobes in (to λc·R/(2·stride·d_virtual): 183 mm for stride 2 at the defaults).

    >>> tx, _ = antenna_positions(RadarConfig())
    >>> select_antennas(tx, stride=2, edges=edge_sizes(94)).shape
    (48, 3)
    """
    positions = np.asarray(positions, dtype=np.float64)
    if index is not None:
        index = np.asarray(index)
        if index.ndim != 1 or index.size == 0 or not np.issubdtype(index.dtype, np.integer):
            raise ValueError(f"antenna index must be a non-empty 1-D integer array, got {index!r}")
        if index.min() < 0 or index.max() >= len(positions):
            raise ValueError(f"antenna index out of range for {len(positions)} antennas: "
                             f"min {index.min()}, max {index.max()}")
        return positions[index]
    if not isinstance(stride, (int, np.integer)) or isinstance(stride, bool) or stride < 1:
        raise ValueError(f"stride must be an integer >= 1, got {stride!r}")
    edges = (len(positions),) if edges is None else tuple(edges)
    if sum(edges) != len(positions):
        raise ValueError(f"edge sizes {edges} do not add up to {len(positions)} antennas")
    keep, offset = [], 0
    for n_edge in edges:
        start = ((n_edge - 1) % stride) // 2  # centre the kept elements on the edge
        keep.extend(range(offset + start, offset + n_edge, stride))
        offset += n_edge
    return positions[np.asarray(keep, dtype=int)]


def check_positions(positions: np.ndarray, name: str, config: RadarConfig) -> np.ndarray:
    """Validated antenna positions (K, 3) in mm, all on the array's side of the depth window."""
    positions = np.asarray(positions, dtype=np.float64)
    if positions.ndim != 2 or positions.shape[1] != 3 or len(positions) == 0:
        raise ValueError(f"{name} must have shape (K, 3) with K >= 1 (mm), got {positions.shape}")
    if not np.all(np.isfinite(positions)):
        raise ValueError(f"{name} contains NaN or infinite coordinates")
    if np.any(positions[:, 2] <= config.depth_window_mm[1]):
        raise ValueError(f"{name} must lie above the depth window (z > {config.depth_window_mm[1]} mm), "
                         f"got min z {positions[:, 2].min():.1f} mm")
    return positions
