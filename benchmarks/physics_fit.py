"""Cost of the differentiable physics renderer: a forward render, and its gradient relative to it.

    python benchmarks/physics_fit.py [--profile cpu] [--repeats 5] [--model builtin]

At the profile's image size and frequencies (``cpu``: 64 x 64, 64 frequencies) on one thread,
times, interleaved in one run so that load on the machine hits all alike (median of
``repeats``):

- ``numpy``: the dataset's fast renderer (``radarface.radar.render``) on the same face;
- ``forward``: parameters -> posed vertices -> smooth images through ``PhysicsRenderer``, no grad;
- ``gradient``: the same forward with autograd, plus the backward of an image loss to the
  parameters (one step of ``radarface.physics_fit.fit_physics`` without the optimizer update);

and prints each in seconds and the ratios gradient / forward and forward / numpy.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import torch

from radarface import profiles
from radarface.facemodel import load_model
from radarface.geometry import apply_pose
from radarface.physics_fit import image_objective, parameter_normaliser, posed_vertices, start_renderer
from radarface.radar import RadarConfig, render


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="cpu", choices=profiles.names())
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--model", default="builtin")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cfg = profiles.resolve(args.profile)
    config = RadarConfig.from_profile(cfg)
    model = load_model(args.model, cfg["n_shape"], cfg["n_expression"])
    init = {"shape": np.zeros(model.n_shape), "expression": np.zeros(model.n_expression), "pose": np.zeros(6)}
    renderer = start_renderer(model, init, config)
    norm = parameter_normaliser(model)
    rng = np.random.default_rng(0)
    truth = {"shape": rng.standard_normal(model.n_shape), "expression": rng.standard_normal(model.n_expression),
             "pose": np.zeros(6)}
    with torch.no_grad():
        target = renderer(posed_vertices(model, norm, torch.tensor(norm.normalise(truth))))
    start = torch.tensor(norm.normalise(init))
    vertices = apply_pose(model.vertices(init["shape"], init["expression"]), init["pose"])

    def numpy_render() -> None:
        render(vertices, model.triangles, config, render_params={"material": config.material})

    def forward() -> None:
        with torch.no_grad():
            image_objective(renderer, model, norm, start, target)

    def gradient() -> None:
        vector = start.clone().requires_grad_(True)
        loss, prior = image_objective(renderer, model, norm, vector, target)
        (loss + 1e-3 * prior).backward()

    runs = {"numpy": numpy_render, "forward": forward, "gradient": gradient}
    times: dict[str, list[float]] = {name: [] for name in runs}
    for run in runs.values():  # warm-up: masks, caches, bases
        run()
    load = os.getloadavg()[0]
    for _ in range(args.repeats):
        for name, run in runs.items():
            t0 = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - t0)
    med = {name: float(np.median(t)) for name, t in times.items()}
    print(f"profile {args.profile}: {config.image_size}x{config.image_size} px, {config.n_freq} frequencies, "
          f"{len(renderer.samples)} scatterers, voxel region {renderer.plan.roi_shape}, K grid "
          f"{tuple(renderer.plan.mask.shape)}; 1 thread, load average {load:.1f}")
    for name in runs:
        print(f"{name:9s} {med[name]:.3f} s (median of {args.repeats})")
    print(f"gradient / forward = {med['gradient'] / med['forward']:.2f}; forward / numpy = "
          f"{med['forward'] / med['numpy']:.2f}")
    print(json.dumps({"seconds": med, "gradient_over_forward": med["gradient"] / med["forward"],
                      "forward_over_numpy": med["forward"] / med["numpy"]}))


if __name__ == "__main__":
    main()
