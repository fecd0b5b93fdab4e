"""Training speed of the encoder networks, measured side by side on this machine.

Times one optimiser step (forward, backward, AdamW) on a batch of 64 images of 2 × 64 × 64
px for each backbone, interleaved over several rounds so that load from other jobs hits
all of them alike, and prints seconds per step, the epoch time for 8,000 training images
and each backbone's ratio to the ``cpu`` profile's former encoder (``resnet18-narrow``:
two narrow ResNet-18 and a narrow AlexNet).

``--channels 1``: one-channel images, as the amplitude encoder sees them (``center_depth`` off).
A backbone named ``NAME@contiguous`` is ``NAME`` with its weights turned back to the contiguous
layout: on one-channel images that is how the plain CNNs ran before they made their weights
channels-last (``radarface.models.backbones.PlainCNN``). ``NAME@bfloat16`` is ``NAME`` in bfloat16
mixed precision (``Encoder(precision="bfloat16")``).

Usage::

    python benchmarks/encoder.py [--threads 1] [--rounds 5] [--channels 2]
                                 [--backbones resnet18-narrow,plain,plain-average,vgg-average]
    python benchmarks/encoder.py --backbones vgg-average-w24,vgg-average-w24@bfloat16,vgg-average@bfloat16
"""

from __future__ import annotations

import argparse
import time

import torch

from radarface.models.encoder import Encoder
from radarface.runtime import torch_threads

BATCH, SIZE, TRAIN_IMAGES = 64, 64, 8000


def step_seconds(encoder: Encoder, images: torch.Tensor, targets: torch.Tensor, optimizer: torch.optim.Optimizer,
                 steps: int = 3) -> float:
    """Mean wall seconds of one training step of ``encoder`` on ``images`` (B, C, H, W)."""
    start = time.perf_counter()
    for _ in range(steps):
        loss = ((encoder(images) - targets) ** 2).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return (time.perf_counter() - start) / steps


def build(name: str, channels: int) -> Encoder:
    """The encoder of backbone ``name`` for ``channels`` input channels (``NAME@contiguous``: with contiguous
    weights; ``NAME@bfloat16``: in bfloat16 mixed precision)."""
    backbone, _, variant = name.partition("@")
    if variant not in ("", "contiguous", "bfloat16"):
        raise ValueError(f"a backbone's suffix must be @contiguous or @bfloat16, got {name!r}")
    net = Encoder(channels, SIZE, 10, 7, backbone=backbone, center_depth=1 if channels == 2 else None,
                  precision="bfloat16" if variant == "bfloat16" else "float32")
    return net.to(memory_format=torch.contiguous_format) if variant == "contiguous" else net


def main(argv: list[str] | None = None) -> int:
    """Command line: print the side-by-side table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--backbones", default="resnet18-narrow,plain,plain-average,vgg-average")
    parser.add_argument("--channels", type=int, default=2, choices=(1, 2))
    args = parser.parse_args(argv)
    names = args.backbones.split(",")
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(BATCH, args.channels, SIZE, SIZE, generator=generator)
    targets = torch.randn(BATCH, 23, generator=generator)
    with torch_threads(args.threads):
        nets = {name: build(name, args.channels) for name in names}
        opts = {name: torch.optim.AdamW(net.parameters(), lr=1e-3) for name, net in nets.items()}
        for name in names:  # warm-up
            step_seconds(nets[name], images, targets, opts[name], steps=1)
        times: dict[str, list[float]] = {name: [] for name in names}
        for _ in range(args.rounds):
            for name in names:
                times[name].append(step_seconds(nets[name], images, targets, opts[name]))
    reference = min(times[names[0]])
    print(f"one training step, batch {BATCH} of {args.channels} x {SIZE} x {SIZE} px, {args.threads} thread(s), best of "
          f"{args.rounds} interleaved rounds:")
    print(f"{'backbone':26s} {'parameters':>11s} {'s/step':>8s} {'s/epoch':>8s} {'vs ' + names[0]:>22s}")
    for name in names:
        best = min(times[name])
        n_params = sum(p.numel() for p in nets[name].parameters())
        print(f"{name:26s} {n_params:11,d} {best:8.3f} {best * TRAIN_IMAGES / BATCH:8.0f} {reference / best:21.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
