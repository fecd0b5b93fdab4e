"""The surrogate's physics beyond the training renderer: calibration errors, a blanket, receiver noise.

:func:`render_capture` is the exact MIMO model of :mod:`radarface.radar.reference` (signal
synthesis at the true antenna positions, back-projection at the nominal ones) with per-chain
gain and phase errors, an optional blanket sheet and white receiver noise; the settings are a
:class:`~radarface.measurements.settings.SurrogateSettings` (module docstring there).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import maximum_filter

from radarface.geometry import apply_pose
from radarface.measurements.settings import SurrogateSettings
from radarface.radar import ImageGrid, RadarConfig, RadarImage, Scene, form_image, surface_scene
from radarface.radar.reference import backproject, synthesize_signal


@dataclass(frozen=True)
class Calibration:
    """One campaign's errors: true antenna positions (Nt, 3), (Nr, 3) mm and complex channel
    factors of the transmit (Nt,) and receive (Nr,) chains (gain and phase)."""

    tx_true: np.ndarray
    rx_true: np.ndarray
    tx_factor: np.ndarray
    rx_factor: np.ndarray


def calibration(settings: SurrogateSettings, tx: np.ndarray, rx: np.ndarray, rng: np.random.Generator
                ) -> Calibration:
    """Calibration errors for nominal antennas ``tx``, ``rx`` (mm) drawn from ``rng``."""

    def chain(n: int) -> np.ndarray:
        gain_db = rng.normal(0.0, settings.gain_std_db, n)
        phase = np.deg2rad(rng.normal(0.0, settings.phase_std_deg, n))
        return 10.0 ** (gain_db / 20.0) * np.exp(1j * phase)

    tx_true = tx + rng.normal(0.0, settings.jitter_mm, tx.shape)
    rx_true = rx + rng.normal(0.0, settings.jitter_mm, rx.shape)
    return Calibration(tx_true, rx_true, chain(len(tx)), chain(len(rx)))


def _grid_mesh(xs: np.ndarray, ys: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vertices (Ny·Nx, 3) and triangles of the height field ``z`` (Ny, Nx) mm over axes xs, ys."""
    xx, yy = np.meshgrid(xs, ys)
    vertices = np.stack([xx.ravel(), yy.ravel(), z.ravel()], axis=1)
    ny, nx = z.shape
    idx = np.arange(ny * nx).reshape(ny, nx)
    a, b, c, d = idx[:-1, :-1].ravel(), idx[:-1, 1:].ravel(), idx[1:, :-1].ravel(), idx[1:, 1:].ravel()
    return vertices, np.concatenate([np.stack([a, b, d], 1), np.stack([a, d, c], 1)])


def blanket_scene(posed: np.ndarray, config: RadarConfig, settings: SurrogateSettings,
                  rng: np.random.Generator) -> Scene:
    """Scatterers of a blanket sheet over the posed face vertices (N, 3) mm: a dome of 400 mm radius
    ``blanket_gap_mm`` in front of the nose with random folds of ``blanket_fold_mm``, never closer
    than half the gap to the face below it, rough (diffuse share 0.5), scaled by the reflectivity."""
    spacing = 2.0
    lo, hi = posed[:, :2].min(axis=0) - 20.0, posed[:, :2].max(axis=0) + 20.0
    xs, ys = np.arange(lo[0], hi[0] + spacing, spacing), np.arange(lo[1], hi[1] + spacing, spacing)
    xx, yy = np.meshgrid(xs, ys)
    centre = posed[:, :2].mean(axis=0)
    top = float(posed[:, 2].max())
    dome = top + settings.blanket_gap_mm - ((xx - centre[0]) ** 2 + (yy - centre[1]) ** 2) / (2.0 * 400.0)
    folds = np.zeros_like(xx)
    for _ in range(4):  # smooth folds: plane waves of 30-80 mm wavelength in random directions
        angle, wavelength, phase = rng.uniform(0, np.pi), rng.uniform(30.0, 80.0), rng.uniform(0, 2 * np.pi)
        folds += np.cos(2 * np.pi * (xx * np.cos(angle) + yy * np.sin(angle)) / wavelength + phase)
    folds *= settings.blanket_fold_mm / max(float(folds.std()), 1e-9) / 2.0
    below = np.full(xx.shape, -np.inf)
    ix = np.clip(np.round((posed[:, 0] - xs[0]) / spacing).astype(int), 0, len(xs) - 1)
    iy = np.clip(np.round((posed[:, 1] - ys[0]) / spacing).astype(int), 0, len(ys) - 1)
    np.maximum.at(below, (iy, ix), posed[:, 2])
    below = maximum_filter(below, size=9)  # a sheet spans small dips (stiffness ~ 18 mm)
    z = np.maximum(dome + folds, below + 0.5 * settings.blanket_gap_mm)
    z = np.minimum(z, config.depth_window_mm[1] - 1.0)  # stay inside the imaged depths
    vertices, triangles = _grid_mesh(xs, ys, z)
    scene = surface_scene(vertices, triangles, config, material=0.5, rng=rng)
    scene.amplitudes *= settings.blanket_reflectivity
    return scene


def render_capture(vertices: np.ndarray, triangles: np.ndarray, pose: np.ndarray, config: RadarConfig,
                   settings: SurrogateSettings, tx: np.ndarray, rx: np.ndarray, calib: Calibration,
                   rng: np.random.Generator) -> tuple[RadarImage, float]:
    """Exact MIMO images of one face with the surrogate's material, blanket, calibration errors and
    receiver noise; returns (:class:`radarface.radar.RadarImage`, image SNR in dB)."""
    signal, sigma, scene = capture_signal(vertices, triangles, pose, config, settings, calib, rng)
    grid = ImageGrid.from_config(config)
    region = grid.roi(scene.positions, config.roi_margin_mm)
    volume = np.zeros(grid.shape, dtype=np.complex64)
    volume[region] = backproject(signal, config, tx, rx, grid.voxels(region)).reshape(volume[region].shape)
    image = form_image(volume, grid, {"dynamic_range_db": settings.dynamic_range_db})
    # the noise image has rms sigma·sqrt(Nf·Nt·Nr) in every voxel (unit-modulus back-projection kernel)
    snr_db = 20.0 * np.log10(image.peak / (sigma * np.sqrt(signal.size)))
    return image, float(snr_db)


def capture_signal(vertices: np.ndarray, triangles: np.ndarray, pose: np.ndarray, config: RadarConfig,
                   settings: SurrogateSettings, calib: Calibration, rng: np.random.Generator
                   ) -> tuple[np.ndarray, float, Scene]:
    """The raw channel data of one surrogate capture: (signal (Nf, Nt, Nr) complex, as the instrument
    records it with its calibration errors and receiver noise; the noise's standard deviation per
    sample; the scene of scatterers, model frame in mm)."""
    scene = surface_scene(vertices, triangles, config, pose=pose, material=settings.material, rng=rng)
    if settings.blanket:
        scene.amplitudes *= 10.0 ** (-settings.blanket_loss_db / 20.0)
        sheet = blanket_scene(apply_pose(vertices, pose), config, settings, rng)
        scene = Scene(np.concatenate([scene.positions, sheet.positions]),
                      np.concatenate([scene.amplitudes, sheet.amplitudes]),
                      np.concatenate([scene.normals, sheet.normals]))
    signal = synthesize_signal(scene, config, calib.tx_true, calib.rx_true)
    signal *= calib.tx_factor[None, :, None] * calib.rx_factor[None, None, :]
    # noise that would leave a point target of the same received power point_snr_db above the
    # noise in the image: per-sample SNR + processing gain 10·log10(Nf·Nt·Nr) = point_snr_db
    sigma = float(np.sqrt(np.mean(np.abs(signal) ** 2) * signal.size)) * 10.0 ** (-settings.point_snr_db / 20.0)
    draws = rng.standard_normal((2,) + signal.shape) * (sigma / np.sqrt(2.0))
    signal = signal + (draws[0] + 1j * draws[1])
    return signal, sigma, scene
