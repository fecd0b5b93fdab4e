"""Training speed of the learned renderer, channels-last against the former contiguous layout, side by side.

Times one training step of the profile's learned renderer (forward, the image loss of notebook
05, backward, Adam) on a batch of the profile's size, parameters (B, 27) in and 2 × 64 × 64 px
images out, once with the feature maps in ``torch.channels_last`` (``radarface.models.decoder.
MEMORY_FORMAT``, the implementation) and once in the contiguous layout it replaced. The two
alternate over several rounds, so that load from other jobs hits both alike; the table gives
seconds per step, the epoch time for the training split and the ratio.

Usage::

    python benchmarks/decoder.py [--profile cpu] [--threads 2] [--rounds 5]
"""

from __future__ import annotations

import argparse
import time

import torch

from radarface import profiles
from radarface.losses import decoder_loss
from radarface.models import decoder as decoder_module
from radarface.models.decoder import LearnedRenderer
from radarface.runtime import torch_threads

#: Parameters the learned renderer reads: 10 shape, 7 expression, 6 pose, 4 rendering.
N_PARAMS = 27
LAYOUTS = {"channels-last (now)": torch.channels_last, "contiguous (before)": torch.contiguous_format}


def step_seconds(net: LearnedRenderer, batch: tuple[torch.Tensor, torch.Tensor], layout: torch.memory_format,
                 optimizer: torch.optim.Optimizer, loss_fn, steps: int = 3) -> float:
    """Mean wall seconds of one training step of ``net`` on ``batch`` (images, parameters) with feature maps in ``layout``."""
    saved = decoder_module.MEMORY_FORMAT
    decoder_module.MEMORY_FORMAT = layout
    try:
        start = time.perf_counter()
        for _ in range(steps):
            loss, _ = loss_fn(net, batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        return (time.perf_counter() - start) / steps
    finally:
        decoder_module.MEMORY_FORMAT = saved


def main(argv: list[str] | None = None) -> int:
    """Command line: print the side-by-side table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    cfg = profiles.resolve(args.profile)
    size, batch_size = int(cfg["image_size"]), int(cfg["decoder_batch"])
    train_images = int(cfg["n_samples"] * 0.8)
    generator = torch.Generator().manual_seed(0)
    images = torch.zeros(batch_size, 2, size, size)
    face = slice(size // 4, 3 * size // 4)
    images[:, :, face, face] = torch.rand(batch_size, 2, size // 2, size // 2, generator=generator)
    batch = (images, torch.randn(batch_size, N_PARAMS, generator=generator))
    loss_fn = decoder_loss("both", background_weight=float(cfg["decoder_background_weight"]))
    with torch_threads(args.threads):
        torch.manual_seed(0)
        net = LearnedRenderer(N_PARAMS, 2, size, backbone=cfg["decoder_backbone"])
        optimizer = torch.optim.Adam(net.parameters(), lr=1e-4)
        for layout in LAYOUTS.values():  # warm-up
            step_seconds(net, batch, layout, optimizer, loss_fn, steps=1)
        times: dict[str, list[float]] = {name: [] for name in LAYOUTS}
        for _ in range(args.rounds):
            for name, layout in LAYOUTS.items():
                times[name].append(step_seconds(net, batch, layout, optimizer, loss_fn))
    best = {name: min(values) for name, values in times.items()}
    before = best["contiguous (before)"]
    print(f"learned renderer {cfg['decoder_backbone']!r} ({args.profile} profile), one training step, batch "
          f"{batch_size}, {N_PARAMS} parameters -> 2 x {size} x {size} px, {args.threads} thread(s), best of "
          f"{args.rounds} interleaved rounds:")
    print(f"{'layout':22s} {'s/step':>8s} {'s/epoch':>8s} {'faster than before':>20s}")
    for name, seconds in best.items():
        print(f"{name:22s} {seconds:8.3f} {seconds * train_images / batch_size:8.0f} {before / seconds:19.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
