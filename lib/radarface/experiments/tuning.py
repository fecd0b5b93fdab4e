"""Choosing the test-time settings on validation images, never on the test split.

    python -m radarface.experiments.tuning tune --profile cpu --method a --lrs 0.01,0.03,0.1
    python -m radarface.experiments.tuning blend --profile cpu --weights 0,0.5,0.6,0.7,1

:func:`tune_refinement` traces the vertex distance of refinement (a) or (b) per step for
several learning rates (``tta_lr`` / ``tta_encoder_lr``, ``tta_steps``);
:func:`best_refinement` picks from the traces; :func:`tune_blend` gives the vertex distance
of (a) blended with its start per weight (``tta_blend``). Both start from the profile's
autoencoder (trained if missing) on its first ``n_images`` validation images. The
measurements behind the ``cpu`` profile's choices are in docs/tuning.md.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from radarface import facemodel, profiles, refine
from radarface import progress as progress_bars
from radarface.experiments.evaluation import blend_curve, prediction, refine_a, refine_b
from radarface.experiments.fitting import TrainedNetworks, decoder_data, fit_decoder, trained_networks
from radarface.experiments.settings import RefinementSettings, RendererSettings
from radarface.facemodel import MorphableModel
from radarface.run import parse_settings


def _validation_images(cfg: dict[str, Any], inputs: str, decoder: nn.Module, decoder_checkpoint: str | Path,
                       n_images: int, progress: bool) -> tuple[TrainedNetworks, torch.Tensor, torch.Tensor, int]:
    """The profile's networks for ``inputs``, the first ``n_images`` validation images and targets, and E (encoded columns)."""
    nets = trained_networks(cfg, inputs, decoder, decoder_checkpoint=decoder_checkpoint, progress=progress)
    images, true_t = nets.data["val"].tensors()
    return nets, images[:n_images], true_t[:n_images], nets.autoencoder.n_encoded or nets.autoencoder.n_params


def tune_refinement(cfg: dict[str, Any], inputs: str, decoder: nn.Module, face: MorphableModel, *,
                    decoder_checkpoint: str | Path, lrs: Sequence[float], steps: int, method: str = "a",
                    n_images: int = 200, progress: bool = True) -> dict[float, dict[str, list[float]]]:
    """Traces (image loss, vertex mm per step) of test-time refinement ``method`` on validation images, per learning rate.

    For choosing ``tta_lr`` (a) / ``tta_encoder_lr`` (b) and ``tta_steps``:
    :func:`best_refinement` picks from the result.
    """
    if method not in ("a", "b"):
        raise ValueError(f"method must be 'a' (parameters) or 'b' (encoder weights), got {method!r}")
    if not lrs or any(not float(lr) > 0 for lr in lrs) or int(steps) < 1 or int(n_images) < 1:
        raise ValueError(f"need learning rates > 0, steps >= 1 and n_images >= 1; got {lrs}, {steps}, {n_images}")
    nets, images, true_t, n_enc = _validation_images(cfg, inputs, decoder, decoder_checkpoint, n_images, progress)
    val = nets.data["val"]
    tracer = refine.vertex_tracer(face, true_t.numpy().astype(np.float64), val.denormalise)
    given = true_t[:, n_enc:].to(torch.float32)
    settings = RefinementSettings.from_profile(cfg)
    traces = {}
    for lr in progress_bars.bar(lrs, desc=f"test-time ({method}) learning rates", disable=not progress):
        if method == "a":
            start = prediction(nets.autoencoder.encoder, images, given)
            run = refine_a(replace(settings, lr=float(lr), steps=int(steps)), inputs, nets.autoencoder, images,
                           start, given.shape[1], val.slices, tracer=tracer)
        else:
            run = refine_b(replace(settings, encoder_lr=float(lr), encoder_steps=int(steps)), inputs,
                           nets.autoencoder, images, given, val.slices, tracer=tracer)
        traces[float(lr)] = run.trace
    return traces


def tune_blend(cfg: dict[str, Any], inputs: str, decoder: nn.Module, face: MorphableModel, *,
               decoder_checkpoint: str | Path, weights: Sequence[float], n_images: int = 200,
               progress: bool = True) -> dict[float, float]:
    """Vertex distance (mm) of (a) blended with its start at each of ``weights``, on the first ``n_images`` validation images.

    (a) runs once with the profile's settings; weight 1 is (a) itself, 0 the autoencoder's prediction.
    """
    if not weights or any(not 0.0 <= float(w) <= 1.0 for w in weights) or int(n_images) < 1:
        raise ValueError(f"need weights in [0, 1] and n_images >= 1; got {weights}, {n_images}")
    nets, images, true_t, n_enc = _validation_images(cfg, inputs, decoder, decoder_checkpoint, n_images, progress)
    val = nets.data["val"]
    given = true_t[:, n_enc:].to(torch.float32)
    start = prediction(nets.autoencoder.encoder, images, given)
    refined = refine_a(RefinementSettings.from_profile(cfg), inputs, nets.autoencoder, images, start, given.shape[1],
                       val.slices).params.double().numpy()
    return blend_curve(face, true_t.numpy().astype(np.float64), start, refined, val.denormalise, weights)


def best_refinement(traces: dict[float, dict[str, list[float]]]) -> tuple[float, int, float]:
    """(learning rate, step, vertex mm) with the smallest traced vertex distance in :func:`tune_refinement`'s ``traces``."""
    best = None
    for lr, trace in traces.items():
        if "vertex_mm" not in trace:
            raise ValueError("the traces carry no vertex distance; run the refinement with a tracer")
        i = int(np.argmin(trace["vertex_mm"]))
        if best is None or trace["vertex_mm"][i] < best[2]:
            best = (float(lr), int(trace["step"][i]), float(trace["vertex_mm"][i]))
    if best is None:
        raise ValueError("no traces given")
    return best


# ------------------------------------------------------------ command line
def _setup(args: argparse.Namespace) -> tuple[dict[str, Any], MorphableModel, nn.Module, Path]:
    """The command's profile (with ``--set`` overrides), face model, learned renderer and its checkpoint."""
    cfg = profiles.resolve(args.profile, **parse_settings(args.set))
    face = facemodel.load_model(cfg["model"], cfg["n_shape"], cfg["n_expression"])
    decoder, fit = fit_decoder(RendererSettings.from_profile(cfg), decoder_data(cfg))
    return cfg, face, decoder, fit.checkpoint


def _tune(args: argparse.Namespace) -> int:
    cfg, face, decoder, checkpoint = _setup(args)
    lrs = [float(x) for x in args.lrs.split(",")]
    traces = tune_refinement(cfg, args.inputs, decoder, face, decoder_checkpoint=checkpoint, lrs=lrs,
                             steps=args.steps, method=args.method, n_images=args.images)
    marks = sorted({0, args.steps // 4, args.steps // 2, 3 * args.steps // 4, args.steps})
    print(f"test-time ({args.method}), {args.inputs}, first {args.images} validation images: vertex distance (mm) "
          f"at steps {marks} (or the last traced step before), and the best step")
    for lr, trace in traces.items():
        steps = np.asarray(trace["step"])
        at = [int(np.flatnonzero(steps <= m)[-1]) for m in marks]  # minibatch runs trace once per pass
        i = int(np.argmin(trace["vertex_mm"]))
        print(f"lr {lr:g}: " + " ".join(f"{trace['vertex_mm'][j]:.3f}" for j in at)
              + f" | best {trace['vertex_mm'][i]:.3f} at step {int(trace['step'][i])}")
    lr, step, mm = best_refinement(traces)
    print(f"best: lr {lr:g}, {step} steps, {mm:.3f} mm (from {traces[lr]['vertex_mm'][0]:.3f} mm at step 0)")
    return 0


def _blend(args: argparse.Namespace) -> int:
    cfg, face, decoder, checkpoint = _setup(args)
    weights = [float(x) for x in args.weights.split(",")]
    curve = tune_blend(cfg, args.inputs, decoder, face, decoder_checkpoint=checkpoint, weights=weights,
                       n_images=args.images)
    print(f"(a) blended with its start, {args.inputs}, first {args.images} validation images: vertex distance (mm)")
    for w, mm in curve.items():
        print(f"weight {w:g}: {mm:.3f}")
    best = min(curve, key=curve.get)
    print(f"best: weight {best:g}, {curve[best]:.3f} mm")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m radarface.experiments.tuning tune|blend``: choose test-time settings on validation images; exit code."""
    parser = argparse.ArgumentParser(prog="python -m radarface.experiments.tuning", description=main.__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    tune = sub.add_parser("tune", help="vertex distance per step for several learning rates, on validation images")
    tune.add_argument("--profile", default="cpu", choices=profiles.names())
    tune.add_argument("--inputs", default="both", choices=("amplitude", "depth", "both"))
    tune.add_argument("--method", default="a", choices=("a", "b"), help="(a) parameters, (b) encoder weights")
    tune.add_argument("--lrs", default="0.01,0.03,0.1", help="comma-separated learning rates")
    tune.add_argument("--steps", type=int, default=200)
    tune.add_argument("--images", type=int, default=200, help="the first N validation images")
    tune.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="override a profile setting")
    tune.set_defaults(run=_tune)
    mix = sub.add_parser("blend", help="vertex distance of (a) blended with its start, per weight, on validation images")
    mix.add_argument("--profile", default="cpu", choices=profiles.names())
    mix.add_argument("--inputs", default="both", choices=("amplitude", "depth", "both"))
    mix.add_argument("--weights", default="0,0.5,0.6,0.7,0.8,0.9,1", help="comma-separated weights of (a), in [0, 1]")
    mix.add_argument("--images", type=int, default=200, help="the first N validation images")
    mix.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="override a profile setting")
    mix.set_defaults(run=_blend)
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (ValueError, FileNotFoundError) as err:
        print(f"python -m radarface.experiments.tuning {args.command}: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
