"""Speed of the test-time methods' steps, measured side by side on this machine.

One step of (a) (:func:`radarface.refine.refine_parameters`: forward and backward of the frozen
learned renderer on every image, an Adam step on the parameter vectors) and one step of (b)
(:func:`radarface.refine.finetune_encoder`: the encoder and the frozen renderer on a batch of 64),
at the ``cpu`` profile's sizes (``resnet18-narrow`` renderer, ``plain-average`` encoder, 2 × 64 × 64
px, 27 parameters) with random weights: the cost does not depend on them. Each is timed with the
renderer's feature maps channels-last (:data:`radarface.models.decoder.MEMORY_FORMAT`, the
library's) and in torch's default layout, interleaved over several rounds so that load from other
jobs hits both alike; the table prints seconds per step, the time of notebook 06's refinement
(profile's steps, 1,000 test images) and the ratio.

Usage::

    python benchmarks/test_time.py [--threads 2] [--rounds 3] [--images 256]
"""

from __future__ import annotations

import argparse
import time

import torch

from radarface import profiles, refine
from radarface.models import decoder as decoder_module
from radarface.models.decoder import LearnedRenderer
from radarface.models.encoder import Encoder
from radarface.runtime import torch_threads

SIZE, N_PARAMS, N_ENCODED = 64, 27, 23
LAYOUTS = {"channels-last": torch.channels_last, "default": torch.contiguous_format}


def a_step(renderer: LearnedRenderer, images: torch.Tensor, start: torch.Tensor, steps: int = 2) -> float:
    """Wall seconds per step of (a) on ``images`` (B, 2, H, W) from ``start`` (B, D)."""
    result = refine.refine_parameters(renderer, images, start, steps=steps, lr=0.1, prior_weight=5e-4)
    return result.seconds / (steps + 1)  # steps + 1 evaluations: the last records the result


def b_step(encoder: Encoder, renderer: LearnedRenderer, images: torch.Tensor, given: torch.Tensor,
           steps: int = 4) -> float:
    """Wall seconds per step of (b) on batches of 64 of ``images``."""
    start = time.perf_counter()
    refine.finetune_encoder(encoder, renderer, images, steps=steps, lr=1e-4, given=given, batch_size=64)
    return (time.perf_counter() - start) / steps


def main(argv: list[str] | None = None) -> int:
    """Command line: print the side-by-side table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--images", type=int, default=256, help="images per (a) step (notebook 06: 1,000)")
    args = parser.parse_args(argv)
    cfg = profiles.resolve("cpu")
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(args.images, 2, SIZE, SIZE, generator=generator)
    start = torch.randn(args.images, N_PARAMS, generator=generator)
    given = start[:, N_ENCODED:]
    with torch_threads(args.threads), torch.random.fork_rng():
        torch.manual_seed(0)
        renderer = LearnedRenderer(N_PARAMS, 2, SIZE, backbone=cfg["decoder_backbone"]).eval()
        encoder = Encoder(2, SIZE, 10, 7, backbone=cfg["encoder_backbone"], center_depth=1).eval()
        times: dict[tuple[str, str], list[float]] = {(m, k): [] for m in "ab" for k in LAYOUTS}
        try:
            for round_ in range(args.rounds + 1):  # round 0 warms up
                for name, layout in LAYOUTS.items():
                    decoder_module.MEMORY_FORMAT = layout
                    a, b = a_step(renderer, images, start), b_step(encoder, renderer, images, given)
                    if round_:
                        times["a", name].append(a)
                        times["b", name].append(b)
        finally:
            decoder_module.MEMORY_FORMAT = LAYOUTS["channels-last"]
    per_image = {k: min(v) / (args.images if k[0] == "a" else 1) for k, v in times.items()}
    runs = {"a": cfg["tta_steps"] * 1000, "b": cfg["tta_encoder_steps"]}  # per image-step for (a)
    print(f"test-time steps, cpu profile's networks, {args.threads} thread(s), best of {args.rounds} interleaved "
          f"rounds; (a) on {args.images} images, (b) on batches of 64:")
    print(f"{'method':6s} {'layout':14s} {'s/step':>8s} {'notebook 06, one input':>24s} {'vs default':>11s}")
    for method in "ab":
        for name in LAYOUTS:
            best = min(times[method, name])
            total = per_image[method, name] * runs[method]
            ratio = min(times[method, "default"]) / best
            print(f"({method})    {name:14s} {best:8.3f} {total / 60:20.1f} min {ratio:10.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
