"""Speed of the radar renderers, measured side by side on this machine.

Prints faces per second of the fast renderer (``radarface.radar.render``) on one core and on
all cores (one worker process per core with ``nthreads=1``, as the dataset generator runs it),
and the speed-up of ``render`` over ``render_reference`` on the same scene and grid with the
full 94 × 94 array. The full-array reference takes about a minute per 64 × 64 face, so by
default it runs with all channels on 1/8 of the scatterers and voxels and is scaled by 8 (its
cost is linear in both); ``--full-reference`` times it whole.
It also times the reference's two ways of synthesising the signal (matrix products per
frequency vs one type-1 NUFFT per channel) on a few channels.

Usage::

    python benchmarks/render.py [--profile cpu] [--faces 12] [--reference-fraction 8] [--full-reference]
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from radarface import profiles, radar
from radarface.facemodel import load_model
from radarface.geometry import pose_limits
from radarface.radar.pipeline import antennas
from radarface.radar.reference import backproject, synthesize_signal
from radarface.runtime import torch_threads
from radarface.radar.scatter import surface_scene

_WORKER: dict = {}


def face_sample(model, index: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, dict]:
    """(vertices (N, 3) mm, pose (6,), rendering parameters) of random face ``index``, as a dataset draws it."""
    rng = np.random.default_rng([seed, index])
    verts = model.vertices(rng.standard_normal(model.n_shape), rng.standard_normal(model.n_expression))
    return verts, rng.uniform(-1, 1, 6) * pose_limits(), radar.sample_render_params(rng)


def _init_worker(model_name: str, config_dict: dict) -> None:
    _WORKER["model"] = load_model(model_name)
    _WORKER["config"] = radar.RadarConfig.from_dict(config_dict)


def _render_one(index: int) -> float:
    model, config = _WORKER["model"], _WORKER["config"]
    verts, pose, params = face_sample(model, index)
    return float(radar.render(verts, model.triangles, config, pose=pose, render_params=params, nthreads=1).peak)


def time_serial(model, config: radar.RadarConfig, n: int, nthreads: int = 1) -> tuple[float, float]:
    """(wall s, process CPU s) per face of the fast renderer in this process."""
    samples = [face_sample(model, i) for i in range(n)]
    radar.render(samples[0][0], model.triangles, config, nthreads=nthreads)  # warm-up (caches, imports)
    wall, cpu = time.perf_counter(), time.process_time()
    for verts, pose, params in samples:
        radar.render(verts, model.triangles, config, pose=pose, render_params=params, nthreads=nthreads)
    return (time.perf_counter() - wall) / n, (time.process_time() - cpu) / n


def time_neutral(model, config: radar.RadarConfig, repeats: int = 5) -> tuple[float, float]:
    """(wall s, CPU s) per render of the neutral face at the default pose and rendering parameters."""
    verts = model.vertices()
    radar.render(verts, model.triangles, config, nthreads=1)
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(repeats):
        radar.render(verts, model.triangles, config, nthreads=1)
    return (time.perf_counter() - wall) / repeats, (time.process_time() - cpu) / repeats


def time_parallel(model_name: str, config: radar.RadarConfig, n: int, workers: int) -> float:
    """Faces per second with ``workers`` processes of one thread each."""
    with ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(model_name, config.to_dict())) as pool:
        list(pool.map(_render_one, range(workers)))  # warm-up: model loaded, caches filled
        start = time.perf_counter()
        list(pool.map(_render_one, range(n)))
        return n / (time.perf_counter() - start)


def time_reference(model, config: radar.RadarConfig, fraction: int, nthreads: int) -> tuple[float, float, str]:
    """(seconds per face of the full-array reference, seconds of the fast one, how it was measured)
    on the neutral face at the default pose, same scene and grid. With ``fraction`` k > 1 the
    synthesis runs on every k-th scatterer and the back-projection on every k-th voxel, with all
    channels and frequencies, and both are scaled by k: their cost is linear in points and voxels
    (the same chunks repeat), while subsets of channels would leave the per-frequency work on the
    receiver side unscaled."""
    verts, tris = model.vertices(), model.triangles
    radar.render(verts, tris, config, nthreads=1)  # warm-up
    start = time.perf_counter()
    radar.render(verts, tris, config, nthreads=1)
    fast = time.perf_counter() - start
    start = time.perf_counter()
    if fraction <= 1:
        radar.render_reference(verts, tris, config, nthreads=nthreads)
        return time.perf_counter() - start, fast, f"full {config.n_tx}×{config.n_rx} array, measured whole"
    scene = surface_scene(verts, tris, config)
    grid = radar.ImageGrid.from_config(config)
    voxels = grid.voxels(grid.roi(scene.positions, config.roi_margin_mm))
    tx, rx = antennas(config)
    fixed = time.perf_counter() - start
    with torch_threads(nthreads):
        start = time.perf_counter()
        signal = synthesize_signal(scene.subset(slice(None, None, fraction)), config, tx, rx)
        synth = time.perf_counter() - start
        start = time.perf_counter()
        backproject(signal, config, tx, rx, voxels[::fraction])
        back = time.perf_counter() - start
    how = (f"all {config.n_tx * config.n_rx} channels and {config.n_freq} frequencies on 1/{fraction} of the "
           f"{len(scene)} scatterers and of the {len(voxels)} voxels, scaled ×{fraction}: synthesis "
           f"{synth * fraction:.1f} s + back-projection {back * fraction:.1f} s")
    return fixed + fraction * (synth + back), fast, how


def time_synthesis(model, config: radar.RadarConfig) -> dict[str, float]:
    """Seconds per face of the full array's signal synthesis by each method, each timed on a part
    that scales linearly: matrix products on 1/16 of the scatterers, one NUFFT per channel on
    2 transmitters' channels."""
    scene = surface_scene(model.vertices(), model.triangles, config)
    tx, rx = antennas(config)
    with torch_threads(1):
        start = time.perf_counter()
        synthesize_signal(scene.subset(slice(None, None, 16)), config, tx, rx, synthesis="gemm")
        gemm = (time.perf_counter() - start) * 16
        start = time.perf_counter()
        synthesize_signal(scene, config, tx[:2], rx, synthesis="nufft")
        nufft = (time.perf_counter() - start) * len(tx) / 2
    return {"gemm": gemm, "nufft": nufft, "points": len(scene)}


def main(argv: list[str] | None = None) -> None:
    """Run the measurements and print them."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="cpu", choices=profiles.names())
    parser.add_argument("--faces", type=int, default=12, help="faces per timing")
    parser.add_argument("--reference-fraction", type=int, default=8,
                        help="time the reference on 1/k of the scatterers and voxels and scale by k")
    parser.add_argument("--full-reference", action="store_true", help="time the whole full-array reference")
    parser.add_argument("--reference-threads", type=int, default=1, help="torch threads of the reference")
    args = parser.parse_args(argv)
    cfg = profiles.resolve(args.profile)
    config = radar.RadarConfig.from_profile(cfg)
    model_name = "builtin" if cfg["model"] == "auto" else cfg["model"]
    model = load_model(model_name)
    cores = os.cpu_count() or 1
    size = f"{config.image_size}×{config.image_size}, {config.n_freq} frequencies, {model_name} face model"
    print(f"profile {args.profile}: {size}; {cores} cores")

    wall, cpu = time_serial(model, config, args.faces)
    print(f"render, one core (nthreads=1), random faces, poses and rendering parameters (with noise): "
          f"{1 / wall:.2f} faces/s ({wall:.3f} s/face wall, {cpu:.3f} s CPU)")
    wall0, cpu0 = time_neutral(model, config)
    print(f"render, one core, neutral face at the evaluation defaults: {wall0:.3f} s/face wall, {cpu0:.3f} s CPU")
    rate = time_parallel(model_name, config, max(args.faces, 2 * cores), cores)
    print(f"render, all {cores} cores ({cores} processes × nthreads=1): {rate:.2f} faces/s")
    wall2, _ = time_serial(model, config, args.faces, nthreads=cores)
    print(f"render, one process with nthreads={cores}: {1 / wall2:.2f} faces/s")

    ref, fast, how = time_reference(model, config, 1 if args.full_reference else args.reference_fraction,
                                    args.reference_threads)
    print(f"render_reference, full {config.n_tx}×{config.n_rx} array, neutral face: {ref:.1f} s/face "
          f"({how}; torch threads {args.reference_threads})")
    print(f"speed-up of render over render_reference (same scene and grid, full array): {ref / fast:.0f}× "
          f"({fast:.3f} s vs {ref:.1f} s)")
    synth = time_synthesis(model, config)
    print(f"reference signal synthesis, full array, {synth['points']} scatterers: matrix products per frequency "
          f"{synth['gemm']:.1f} s/face (from 1/16 of the points), one type-1 NUFFT per channel "
          f"{synth['nufft']:.1f} s/face (from 2 of {config.n_tx} transmitters)")


if __name__ == "__main__":
    main()
