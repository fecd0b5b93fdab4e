"""Two jobs on two cores: one after the other with two torch threads, or side by side with one each.

The chain trains and refines several independent networks (an encoder per input type, an
autoencoder per input type, method (c) per image). On a small CPU a single small network does
not keep two threads busy, so running two such jobs side by side, one thread each, may finish
them sooner than running them one after the other on two threads. This benchmark measures that
ratio for each kind of job, in one run, on this machine:

- ``encoder``: training steps of the ``cpu`` profile's encoder (batch of its ``encoder_batch``);
- ``refine``: steps of test-time method (a) through the ``cpu`` learned renderer (256 images);
- ``autoencoder``: training steps of the ``cpu`` autoencoder (encoder + frozen learned renderer).

Each job is a fixed number of steps on random data (the cost does not depend on the values)
in its own process. ``serial``: one process with two threads runs two jobs one after the other;
``parallel``: two processes with one thread each run one job each at the same time. The two
modes alternate over ``--rounds`` rounds and the best wall time of each is kept; the last
column is serial ÷ parallel (above 1: side by side is faster).

Usage::

    python benchmarks/concurrency.py [--kinds encoder,refine,autoencoder] [--rounds 2] [--steps 30]
"""

from __future__ import annotations

import argparse
import subprocess
import sys

_JOB = r"""
import sys, time, torch
from radarface import profiles, refine
from radarface.models.autoencoder import Autoencoder
from radarface.models.decoder import LearnedRenderer
from radarface.models.encoder import Encoder
kind, threads, jobs, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)
cfg = profiles.resolve("cpu")
g = torch.Generator().manual_seed(0)
size, n_params, n_encoded = 64, 27, 23

def encoder_job():
    net = Encoder(2, size, 10, 7, backbone=cfg["encoder_backbone"], center_depth=1)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    images, targets = torch.rand(cfg["encoder_batch"], 2, size, size, generator=g), torch.randn(cfg["encoder_batch"], n_encoded, generator=g)
    for _ in range(steps):
        loss = ((net(images) - targets) ** 2).mean()
        opt.zero_grad(set_to_none=True); loss.backward(); opt.step()

def refine_job():
    renderer = LearnedRenderer(n_params, 2, size, backbone=cfg["decoder_backbone"]).eval()
    images, start = torch.rand(256, 2, size, size, generator=g), torch.randn(256, n_params, generator=g)
    refine.refine_parameters(renderer, images, start, steps=steps, lr=cfg["tta_lr"], prior_weight=5e-4, threads=threads)

def autoencoder_job():
    renderer = LearnedRenderer(n_params, 2, size, backbone=cfg["decoder_backbone"])
    encoder = Encoder(2, size, 10, 7, backbone=cfg["encoder_backbone"], center_depth=1)
    model = Autoencoder(encoder, renderer)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    batch = cfg["autoencoder_batch"]
    images, given = torch.rand(batch, 2, size, size, generator=g), torch.randn(batch, n_params - n_encoded, generator=g)
    for _ in range(steps):
        params, rendered = model(images, given)
        loss = ((rendered - images) ** 2).mean()
        opt.zero_grad(set_to_none=True); loss.backward(); opt.step()

job = {"encoder": encoder_job, "refine": refine_job, "autoencoder": autoencoder_job}[kind]
job()  # warm-up (first steps allocate and pick kernels), not timed
start = time.perf_counter()
for _ in range(jobs):
    job()
print(time.perf_counter() - start)
"""


def _run(kind: str, threads: int, jobs: int, steps: int, processes: int) -> float:
    """Wall seconds until ``processes`` processes (``threads`` threads each, ``jobs`` jobs each) all finish."""
    procs = [subprocess.Popen([sys.executable, "-c", _JOB, kind, str(threads), str(jobs), str(steps)],
                              stdout=subprocess.PIPE, text=True) for _ in range(processes)]
    inner = [float(p.communicate()[0].strip().splitlines()[-1]) for p in procs]
    if any(p.returncode for p in procs):
        raise RuntimeError(f"a {kind} job failed")
    return max(inner)  # the timed part only: imports and warm-up excluded in both modes


def main(argv: list[str] | None = None) -> int:
    """Command line: print the side-by-side table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kinds", default="encoder,refine,autoencoder")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--steps", type=int, default=30, help="steps per job")
    args = parser.parse_args(argv)
    kinds = args.kinds.split(",")
    best: dict[tuple[str, str], float] = {}
    for _ in range(args.rounds):
        for kind in kinds:
            for mode, (threads, jobs, processes) in {"serial": (2, 2, 1), "parallel": (1, 1, 2)}.items():
                seconds = _run(kind, threads, jobs, args.steps, processes)
                best[kind, mode] = min(best.get((kind, mode), float("inf")), seconds)
    print(f"two jobs of {args.steps} steps each, best of {args.rounds} alternating rounds (wall s):")
    print(f"{'job':12s} {'serial, 2 threads':>18s} {'parallel, 1 thread each':>24s} {'serial / parallel':>18s}")
    for kind in kinds:
        serial, parallel = best[kind, "serial"], best[kind, "parallel"]
        print(f"{kind:12s} {serial:18.1f} {parallel:24.1f} {serial / parallel:17.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
