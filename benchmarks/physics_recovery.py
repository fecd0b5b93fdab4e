"""Self-recovery of method (c) (radarface.physics_fit): fit faces rendered by the same physics renderer.

    python benchmarks/physics_recovery.py [--faces 20] [--size 64] [--n-freq 64] [--steps 100]
                                          [--lr 0.1] [--pose-sd 0] [--spacing-mm 2] [--seed 0]

For each of ``faces`` faces of the builtin model (4 shape, 3 expression modes; coefficients
drawn N(0, 1) from ``seed``), renders noise-free images (amplitude, depth) through the
differentiable physics renderer planned on the mean face, then fits shape, expression and pose
from the mean face (at the true pose, or at a pose perturbed by ``pose-sd`` standard deviations
of the pose prior) and prints per face the vertex distance (mm, model frame) at the start and
at the end, and the median over faces, and the wall-clock time per face on one thread.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from radarface.facemodel import load_model
from radarface.metrics import vertex_distance
from radarface.physics_fit import fit_physics, parameter_normaliser, posed_vertices, start_renderer
from radarface.radar import RadarConfig


def recover(model, config: RadarConfig, truth: dict, init: dict, *, steps: int, lr: float) -> dict:
    """Start and final vertex distance (mm), the trace's last image loss and seconds of one self-recovery."""
    renderer = start_renderer(model, init, config)
    norm = parameter_normaliser(model)
    with torch.no_grad():
        target = renderer(posed_vertices(model, norm, torch.tensor(norm.normalise(truth))))
    result = fit_physics(model, target, init, config, steps=steps, lr=lr, renderer=renderer,
                         callback=lambda p: vertex_distance(model, truth, p))
    mm = result.trace["callback"]
    return {"start_mm": mm[0], "final_mm": mm[-1], "best_mm": min(mm), "image_loss": result.trace["image_loss"][-1],
            "seconds": result.seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=20)
    parser.add_argument("--size", type=int, default=64, help="image size (pixels of 256/size mm)")
    parser.add_argument("--n-freq", type=int, default=64)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--pose-sd", type=float, default=0.0, help="start pose perturbation (normalised units)")
    parser.add_argument("--spacing-mm", type=float, default=2.0, help="scatterer lattice spacing")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = load_model("builtin", 4, 3)
    pixel = 256.0 / args.size
    config = RadarConfig(image_size=args.size, pixel_mm=pixel, n_freq=args.n_freq,
                         max_internal_pitch_mm=pixel / 2.0,
                         surface_spacing_mm=args.spacing_mm)
    norm = parameter_normaliser(model)
    rng = np.random.default_rng(args.seed)
    rows = []
    for i in range(args.faces):
        truth = {"shape": rng.standard_normal(4), "expression": rng.standard_normal(3), "pose": np.zeros(6)}
        start_pose = norm.denormalise(np.concatenate([np.zeros(7), args.pose_sd * rng.standard_normal(6)]))["pose"]
        init = {"shape": np.zeros(4), "expression": np.zeros(3), "pose": start_pose}
        row = recover(model, config, truth, init, steps=args.steps, lr=args.lr)
        rows.append(row)
        print(f"face {i:2d}: {row['start_mm']:.2f} -> {row['final_mm']:.3f} mm (best {row['best_mm']:.3f}), "
              f"image loss {row['image_loss']:.2e}, {row['seconds']:.0f} s", flush=True)
    final = np.array([r["final_mm"] for r in rows])
    summary = {"faces": args.faces, "size": args.size, "n_freq": args.n_freq, "steps": args.steps, "lr": args.lr,
               "pose_sd": args.pose_sd, "spacing_mm": args.spacing_mm,
               "median_start_mm": float(np.median([r["start_mm"] for r in rows])),
               "median_final_mm": float(np.median(final)), "share_below_1mm": float(np.mean(final <= 1.0)),
               "seconds_per_face": float(np.mean([r["seconds"] for r in rows]))}
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
