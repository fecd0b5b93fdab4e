"""The learned renderer against the physics renderer (notebooks 04 and 05): images, sensitivities, speed.

- :func:`decoder_render_fn`, :func:`physics_render_fn`: ``(B, D) normalised vectors -> (B, C, H, W)
  images`` by the learned renderer or by the fast physics renderer;
- :func:`sensitivity`, :func:`sensitivity_summary`: how each image responds to each parameter,
  by either renderer, and how the two agree;
- :func:`parameter_visibility`: what each channel of the physics renderer's images shows of
  each parameter, against what the rendering conditions, speckle and noise change;
- :func:`time_learned_renderer`, :func:`time_physics_renderer`: seconds per image, side by side.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from radarface import radar
from radarface.dataset import RadarFaceDataset, render_sample
from radarface.facemodel import MorphableModel
from radarface.radar import RadarConfig
from radarface.radar.reference import backproject, synthesize_signal
from radarface.radar.scatter import surface_scene
from radarface.runtime import torch_threads
from radarface.train import predict

RenderFn = Callable[[np.ndarray], np.ndarray]


def decoder_render_fn(decoder: nn.Module, *, batch_size: int = 256) -> RenderFn:
    """``(B, D) normalised vectors -> (B, C, H, W) images`` (numpy float32) by the decoder, eval mode, no gradients."""
    return lambda vectors: predict(decoder, torch.as_tensor(np.asarray(vectors), dtype=torch.float32),
                                   batch_size=batch_size).numpy()


def physics_render_fn(face: MorphableModel, config: RadarConfig, ds: RadarFaceDataset, *, seed: int = 0,
                      index: int = 0, nthreads: int = 1) -> RenderFn:
    """``(B, D) normalised vectors -> (B, C, H, W) images`` by the fast physics renderer (``ds``'s channels).

    Every image uses the renderer streams of sample ``index`` of a dataset seeded
    ``seed`` (:func:`radarface.dataset.render_sample`), so two vectors differ only by
    their parameters, not by the diffuse phases or the noise.
    """
    def render_fn(vectors: np.ndarray) -> np.ndarray:
        params = ds.denormalise(np.atleast_2d(np.asarray(vectors, dtype=np.float64)))
        out = []
        for b in range(len(params["shape"])):
            one = {k: v[b] for k, v in params.items()}
            image = render_sample(one, face, config, seed=seed, index=index, nthreads=nthreads)
            out.append(np.stack([getattr(image, name) for name in ds.fields]))
        return np.stack(out).astype(np.float32)

    return render_fn


def sensitivity(render_fn: RenderFn, base: np.ndarray, *, step: float = 1.0) -> np.ndarray:
    """Central differences ``(I(base + step·e_i) − I(base − step·e_i)) / (2·step)``: (D, C, H, W) per unit of parameter i.

    ``base``: a normalised vector (D,); ``render_fn`` as :func:`decoder_render_fn` or
    :func:`physics_render_fn`.
    """
    base = np.asarray(base, dtype=np.float64)
    if base.ndim != 1 or not step > 0:
        raise ValueError(f"base must be a vector (D,) and step > 0, got shape {base.shape}, step {step}")
    shifts = np.eye(len(base)) * step
    images = render_fn(np.concatenate([base + shifts, base - shifts]))
    return (images[: len(base)] - images[len(base):]) / (2 * step)


def sensitivity_summary(decoder_maps: np.ndarray, physics_maps: np.ndarray) -> dict[str, np.ndarray]:
    """Per parameter (D,): RMS over pixels of each sensitivity map and the correlation of the two maps."""
    if decoder_maps.shape != physics_maps.shape:
        raise ValueError(f"maps differ in shape: {decoder_maps.shape} vs {physics_maps.shape}")
    flat_d, flat_p = decoder_maps.reshape(len(decoder_maps), -1), physics_maps.reshape(len(physics_maps), -1)
    dc, pc = flat_d - flat_d.mean(1, keepdims=True), flat_p - flat_p.mean(1, keepdims=True)
    denom = np.linalg.norm(dc, axis=1) * np.linalg.norm(pc, axis=1)
    corr = np.where(denom > 0, (dc * pc).sum(1) / np.where(denom > 0, denom, 1), np.nan)
    return {"decoder_rms": np.sqrt((flat_d ** 2).mean(1)), "physics_rms": np.sqrt((flat_p ** 2).mean(1)),
            "correlation": corr}


def time_learned_renderer(decoder: nn.Module, vectors: torch.Tensor, *, batch_size: int = 1, repeats: int = 3,
                          threads: int = 1) -> float:
    """Seconds per image of ``decoder`` on ``vectors`` (N, D) in batches of ``batch_size`` (best of ``repeats``)."""
    with torch_threads(threads):
        predict(decoder, vectors[:batch_size], batch_size=batch_size)  # warm-up
        best = math.inf
        for _ in range(repeats):
            start = time.perf_counter()
            predict(decoder, vectors, batch_size=batch_size)
            best = min(best, time.perf_counter() - start)
    return best / len(vectors)


def time_physics_renderer(face: MorphableModel, config: RadarConfig, params: dict[str, np.ndarray], *,
                          reference_fraction: int | None = None) -> dict[str, float]:
    """Seconds per face of the fast renderer (one core) on faces ``params`` (B rows), and of the exact reference.

    With ``reference_fraction`` k, the exact reference (the signal synthesis and the
    back-projection of :func:`radarface.radar.render_reference`) runs once, on the first
    face, with the full ``n_tx × n_rx`` array and every frequency but on every k-th
    scatterer and every k-th voxel, and is scaled by k: its cost is linear in both, as
    ``benchmarks/render.py`` measures it. (Scaling a reduced array by its channel count
    instead overstates the time: part of the work grows only with the antenna count;
    measured at the smoke profile, stride 8 scaled to 508 s and stride 4 to 233 s.)
    Returns ``fast_s`` and, with k, ``reference_s`` (full face, extrapolated) and
    ``reference_measured_s`` (the part run).
    """
    def face_args(b: int) -> tuple[np.ndarray, dict[str, Any]]:
        render_params = radar.render_params_from_vector(np.asarray(params["render"][b], dtype=np.float64))
        return face.vertices(params["shape"][b], params["expression"][b]), render_params

    def fast(b: int) -> float:
        vertices, render_params = face_args(b)
        start = time.perf_counter()
        radar.render(vertices, face.triangles, config, pose=params["pose"][b], render_params=render_params,
                     rng=np.random.default_rng(b), nthreads=1)
        return time.perf_counter() - start

    fast(0)  # warm-up (plans, caches)
    out = {"fast_s": float(np.mean([fast(b) for b in range(len(params["shape"]))]))}
    if reference_fraction:
        k = int(reference_fraction)
        vertices, render_params = face_args(0)
        start = time.perf_counter()
        scene = surface_scene(vertices, face.triangles, config, pose=params["pose"][0],
                              material=render_params["material"], rng=np.random.default_rng(0))
        grid = radar.ImageGrid.from_config(config)
        voxels = grid.voxels(grid.roi(scene.positions, config.roi_margin_mm))
        tx, rx = radar.antennas(config, render_params["aperture_mm"])
        fixed = time.perf_counter() - start
        with torch_threads(1):
            start = time.perf_counter()
            signal = synthesize_signal(scene.subset(slice(None, None, k)), config, tx, rx)
            backproject(signal, config, tx, rx, voxels[::k])
            part = time.perf_counter() - start
        out.update(reference_s=fixed + k * part, reference_measured_s=fixed + part)
    return out


def parameter_visibility(face: MorphableModel, config: RadarConfig, ds: RadarFaceDataset, bases: np.ndarray, *,
                         n_nuisance: int = 6,
                         seed: int = 0) -> np.ndarray:
    """Signal-to-nuisance ratio (P, C) of the P face and pose parameters in each image channel.

    For each base target vector (rows of ``bases``, normalised, with rendering columns; ``ds``
    a :class:`~radarface.dataset.RadarFaceDataset` opened with ``include_render=True``), the
    physics renderer gives the RMS image change per +1 std of the parameter (central
    difference, rendering parameters and speckle fixed), divided by the RMS per-pixel spread
    of the same face's images over ``n_nuisance`` redraws of the rendering parameters,
    speckle and noise; both over the pixels that show the face in every one of these
    images; averaged over the bases. Above 1: the parameter changes the image
    more than the nuisance does. Image units cancel, so channels compare directly.
    """
    if "render" not in ds.slices:
        raise ValueError("parameter_visibility needs the rendering columns: open the dataset with include_render=True")
    bases = np.atleast_2d(np.asarray(bases, dtype=np.float64))
    render_cols = ds.slices["render"]
    n_params = render_cols.start
    rng = np.random.default_rng(seed)

    def images(vectors: np.ndarray, index: int) -> np.ndarray:
        return physics_render_fn(face, config, ds, seed=seed, index=index)(vectors).astype(np.float64)

    ratios = []
    for base in bases:
        steps = np.eye(len(base))[:n_params]
        plus, minus = images(base + steps, 0), images(base - steps, 0)  # (P, C, H, W)
        redraws = np.repeat(base[None], n_nuisance, axis=0)
        # normalised uniform rendering parameters span ±sqrt(3)
        redraws[:, render_cols] = rng.uniform(-math.sqrt(3.0), math.sqrt(3.0),
                                              (n_nuisance, render_cols.stop - render_cols.start))
        nuisance = np.concatenate([images(redraws[j:j + 1], j + 1) for j in range(n_nuisance)])  # (J, C, H, W)
        # Pixels on the face in every image: where the face's outline moves, the images jump
        # between face and background, which says little about the surface.
        stack = np.concatenate([plus, minus, nuisance])
        inside = (stack > 0).all(axis=(0, 1))
        if not inside.any():
            raise ValueError("no pixel is on the face in every image; use smaller steps or bases nearer the centre")
        change = ((plus - minus) / 2.0)[..., inside]  # (P, C, pixels)
        spread = np.sqrt(nuisance[..., inside].var(axis=0).mean(axis=-1))  # (C,)
        ratios.append(np.sqrt((change ** 2).mean(axis=-1)) / np.maximum(spread, 1e-12))
    return np.mean(ratios, axis=0)
