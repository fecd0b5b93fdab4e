"""Fast renderer against a previous implementation, side by side in one run.

    python benchmarks/renderer_speed.py [--profile cpu] [--faces 24] [--baseline REF]

Two worker processes (one thread each: ``OMP_NUM_THREADS=1``, ``nthreads=1``) render the same
random faces, poses and rendering parameters as a dataset draws them (``benchmarks/render.py``'s
``face_sample``): one runs this checkout's ``radarface``, the other the library of git ``REF``
(default: the commit before the depth search, extracted with ``git archive``). Faces alternate
between them, old first on even faces and new first on odd ones, so machine load falls on both.
Each render's process CPU time is measured inside its worker; the table prints the mean CPU s per
face, old/new, and the new renderer with ``RadarConfig.depth_search="full"`` (the whole box).

Each face is rendered with its receiver noise and again without; the images' differences
against the baseline are printed: amplitude in dB on pixels above −DR in either image (max,
median), depth in mm on pixels above −DR in both (max, median), and how many pixels crossed −DR.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

import numpy as np

import radarface
from radarface.facemodel.ict import default_ict_dir

#: The last commit before the depth search (branch render2): the renderer as issue 23 measured it.
DEFAULT_BASELINE = "66a1e42abb7cdba519e160760b464362c4b6008a"

_WORKER = r"""
import json, sys, time
import numpy as np
sys.path.insert(0, sys.argv[1])
from render import face_sample
from radarface import profiles, radar
from radarface.facemodel import load_model
cfg = profiles.resolve(sys.argv[2])
config = radar.RadarConfig.from_profile(cfg)
model = load_model(cfg["model"], cfg["n_shape"], cfg["n_expression"])
radar.render(model.vertices(), model.triangles, config, nthreads=1)  # warm-up: imports, FFTW plans
print("ready", flush=True)
for line in sys.stdin:
    job = json.loads(line)
    verts, pose, params = face_sample(model, job["face"])
    if not job["noise"]:
        params = {**params, "snr_db": None}
    use = config.replace(depth_search=job["search"]) if job["search"] else config
    start = time.process_time()
    image = radar.render(verts, model.triangles, use, pose=pose, render_params=params,
                         rng=np.random.default_rng(job["face"]), nthreads=1)
    cpu = time.process_time() - start
    np.savez(job["out"], amplitude_db=image.amplitude_db(), depth_mm=image.depth_mm())
    print(json.dumps({"cpu": cpu}), flush=True)
"""


class Worker:
    """A renderer process on one library directory; jobs in, CPU seconds out."""

    def __init__(self, lib: Path, profile: str, benchmarks: Path) -> None:
        # The ICT folder is found relative to the library, which the baseline's extracted copy moves.
        env = {**os.environ, "PYTHONPATH": str(lib), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
               "MKL_NUM_THREADS": "1", "RADARFACE_ICT_DIR": str(default_ict_dir())}
        self.proc = subprocess.Popen([sys.executable, "-c", _WORKER, str(benchmarks), profile], env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self._reply("ready")

    def render(self, face: int, noise: bool, out: Path, search: str | None = None) -> float:
        """CPU seconds of one render; the images go to ``out`` (.npz)."""
        job = {"face": face, "noise": noise, "out": str(out), "search": search}
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()
        return float(json.loads(self._reply("{"))["cpu"])

    def _reply(self, start: str) -> str:
        """The worker's next output line starting with ``start`` (it may print other lines, e.g. load_model's)."""
        for line in self.proc.stdout:
            if line.startswith(start):
                return line
        raise RuntimeError("the worker ended without answering")

    def close(self) -> None:
        """End the worker."""
        self.proc.stdin.close()
        self.proc.wait()


def extract_library(repo: Path, ref: str, into: Path) -> Path:
    """The ``lib`` folder of git ``ref`` of ``repo``, extracted under ``into``."""
    done = subprocess.run(["git", "-C", str(repo), "archive", ref, "lib"], capture_output=True)
    if done.returncode:
        raise SystemExit(f"git archive {ref} failed: {done.stderr.decode().strip()}")
    data = done.stdout
    with tarfile.open(fileobj=BytesIO(data)) as tar:
        tar.extractall(into, filter="data")
    return into / "lib"


def differences(old: Path, new: Path) -> dict[str, float]:
    """Image differences (dB, mm, pixel counts) of two renders saved by the workers."""
    a, b = np.load(old), np.load(new)
    fg_a, fg_b = np.isfinite(a["depth_mm"]), np.isfinite(b["depth_mm"])
    either, both = fg_a | fg_b, fg_a & fg_b
    db = np.abs(a["amplitude_db"] - b["amplitude_db"])[either]
    dz = np.abs(a["depth_mm"] - b["depth_mm"])[both]
    return {"db_max": float(db.max()), "db_median": float(np.median(db)), "depth_max": float(dz.max()),
            "depth_median": float(np.median(dz)), "pixels": int(fg_a.size), "crossed": int(np.count_nonzero(fg_a != fg_b)),
            "changed": int(np.count_nonzero((np.abs(a["amplitude_db"] - b["amplitude_db"]) > 0)
                                            | (np.nan_to_num(a["depth_mm"]) != np.nan_to_num(b["depth_mm"]))))}


def main(argv: list[str] | None = None) -> None:
    """Run the comparison and print it."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--faces", type=int, default=24)
    parser.add_argument("--baseline", default=DEFAULT_BASELINE, help="git ref of the previous implementation")
    parser.add_argument("--no-full", action="store_true", help="skip the depth_search='full' timing")
    args = parser.parse_args(argv)
    here = Path(__file__).resolve().parent
    lib = Path(radarface.__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        old_lib = extract_library(here.parent, args.baseline, tmp / "baseline")
        old, new = Worker(old_lib, args.profile, here), Worker(lib, args.profile, here)
        cpu = {"old": [], "new": [], "full": []}
        diffs = {True: [], False: []}
        try:
            for face in range(args.faces):
                for noise in (True, False):
                    paths = {k: tmp / f"{k}_{face}_{noise}.npz" for k in ("old", "new")}
                    order = ("old", "new") if face % 2 == 0 else ("new", "old")
                    for who in order:
                        seconds = (old if who == "old" else new).render(face, noise, paths[who])
                        if noise:
                            cpu[who].append(seconds)
                    if noise and not args.no_full:
                        cpu["full"].append(new.render(face, noise, tmp / "full.npz", search="full"))
                    diffs[noise].append(differences(paths["old"], paths["new"]))
        finally:
            old.close()
            new.close()
    mean = {k: float(np.mean(v)) for k, v in cpu.items() if v}
    print(f"profile {args.profile}, {args.faces} random faces (dataset draws, receiver noise on), one core each; "
          f"baseline {args.baseline[:10]}, load average {os.getloadavg()[0]:.1f}")
    print(f"  CPU s per face: previous {mean['old']:.3f}, new {mean['new']:.3f}  ->  old/new = "
          f"{mean['old'] / mean['new']:.2f}x (per-face ratios: median "
          f"{np.median(np.array(cpu['old']) / np.array(cpu['new'])):.2f}, "
          f"min {np.min(np.array(cpu['old']) / np.array(cpu['new'])):.2f})")
    if "full" in mean:
        print(f"  new with depth_search='full' (whole box): {mean['full']:.3f} s  ->  old/new-full = "
              f"{mean['old'] / mean['full']:.2f}x")
    for noise in (True, False):
        d = diffs[noise]
        print(f"  images vs previous, {'with' if noise else 'without'} noise: amplitude |dB| max "
              f"{max(x['db_max'] for x in d):.2e}, median of medians {np.median([x['db_median'] for x in d]):.1e}; "
              f"depth |mm| max {max(x['depth_max'] for x in d):.2e}, median of medians "
              f"{np.median([x['depth_median'] for x in d]):.1e}; pixels across -DR {sum(x['crossed'] for x in d)} "
              f"of {sum(x['pixels'] for x in d)}; faces with any changed pixel {sum(x['changed'] > 0 for x in d)}/{len(d)}")


if __name__ == "__main__":
    main()
