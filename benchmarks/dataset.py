"""Dataset generation throughput: one worker against all cores, side by side.

    python benchmarks/dataset.py [--n 64] [--profile cpu] [--model SOURCE]

Generates the same ``n`` samples twice into a temporary folder (profile image size and
face model; default the ``cpu`` profile: 64 x 64 images) with 1 worker (in this process)
and with one worker per core, and prints samples/s of each and their ratio. Times are
wall-clock for the whole ``generate`` call (pool start-up, journal and HDF5 assembly
included), i.e. what a user waits for; both runs must produce identical arrays. The CPU
seconds per sample (measured inside the workers) are printed too: other load on the
machine inflates the wall-clock rates but not them, so ``cores / CPU s per sample`` is the
rate an otherwise idle machine reaches. The load average before each run is shown.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

from radarface import profiles
from radarface.dataset import DatasetSettings, generate
from radarface.dataset.schema import generation_stats
from radarface.dataset.writer import resolve_workers


def timed_generate(path: Path, settings: DatasetSettings, model, workers: int) -> tuple[float, float]:
    """(wall-clock seconds, CPU seconds per sample) to generate ``settings.n_samples`` samples into ``path``."""
    start = time.perf_counter()
    generate(path, settings.n_samples, settings.radar_config(), settings.seed, workers, model=model,
             dtype=settings.dtype, progress=False)
    seconds = time.perf_counter() - start
    return seconds, generation_stats(path)["cpu_s_per_sample"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--profile", default="cpu", choices=profiles.names())
    parser.add_argument("--model", default=None)
    args = parser.parse_args(argv)
    cfg = profiles.resolve(args.profile, n_samples=args.n, model=args.model)
    settings = DatasetSettings.from_profile(cfg)
    model = settings.face_model()
    cores = resolve_workers(0)
    print(f"dataset generation: {args.n} samples, profile {args.profile} ({cfg['image_size']}x{cfg['image_size']}, "
          f"n_freq {cfg['n_freq']}, {cfg['dataset_dtype']}), model {model.name}, {cores} core(s)")
    results = {}
    with tempfile.TemporaryDirectory(prefix="radarface-bench-") as tmp:
        for label, workers in (("1 worker", 1), (f"{cores} workers", cores)):
            path = Path(tmp) / f"w{workers}.h5"
            load = os.getloadavg()[0]
            seconds, cpu = timed_generate(path, settings, model, workers)
            results[label] = (seconds, args.n / seconds)
            print(f"  {label:<12} {seconds:7.1f} s  {args.n / seconds:6.2f} samples/s  "
                  f"({1000 * seconds / args.n:.0f} ms/sample wall, {1000 * cpu:.0f} ms CPU/sample; "
                  f"load before {load:.1f})", flush=True)
        size = (Path(tmp) / "w1.h5").stat().st_size
        with h5py.File(Path(tmp) / "w1.h5") as a, h5py.File(Path(tmp) / f"w{cores}.h5") as b:
            same = all(np.array_equal(a[k][:], b[k][:]) for k in ("amplitude", "depth", "shape", "pose", "render"))
    (t1, r1), (tn, rn) = results.values()
    print(f"  speed-up with {cores} workers: {rn / r1:.2f}x (ideal {cores}x); identical arrays: {same}")
    print(f"  on an idle machine: {cores} / CPU s per sample = {cores / cpu:.2f} samples/s "
          f"(10,000 samples in {10_000 * cpu / cores / 3600:.1f} h)")
    print(f"  file size {size / 1e6:.2f} MB = {size / args.n / 1e3:.1f} kB/sample; "
          f"10,000 samples at {rn:.2f} samples/s: {10_000 / rn / 3600:.1f} h, {size / args.n * 1e4 / 1e6:.0f} MB")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
