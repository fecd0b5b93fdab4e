"""Accuracy of one learned-renderer configuration at a profile: train it (or reuse its checkpoint), score val and test.

Trains the profile's learned renderer (notebook 05) with the given overrides through
``radarface.experiments.fitting.fit_decoder`` (so the checkpoint is shared with notebook 05 when
the settings agree), scores the image loss of the validation and test splits (``decoder_loss``:
mean squared error, amplitude and depth, background weighted as in training) and prints one JSON
line (also appended to ``--log``) with the seconds and the validation curve.

Usage::

    python benchmarks/decoder_accuracy.py NAME '{"decoder_epochs": 10, "decoder_lr": ["one-cycle", 0.003]}'
        [--profile cpu] [--log decoder_accuracy.jsonl]
"""

from __future__ import annotations

import argparse
import time

from encoder_accuracy import overrides_from, report  # the encoder's benchmark beside this file

from radarface import profiles, train
from radarface.experiments.fitting import decoder_data, fit_decoder
from radarface.experiments.settings import RendererSettings
from radarface.losses import decoder_loss


def main(argv: list[str] | None = None) -> int:
    """Command line: train and score one configuration."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name")
    parser.add_argument("overrides", help="JSON object of profile settings (lists become tuples)")
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--log", help="append the result line to this file")
    args = parser.parse_args(argv)
    overrides = overrides_from(args.overrides)
    cfg = profiles.resolve(args.profile, **overrides)
    settings = RendererSettings.from_profile(cfg)
    data = decoder_data(cfg)
    start = time.perf_counter()
    decoder, fit = fit_decoder(settings, data, progress=True)
    seconds = time.perf_counter() - start
    loss = decoder_loss(data["train"].inputs, background_weight=settings.background_weight)
    scores = {split: train.evaluate_loss(decoder, loss, data[split]) for split in ("val", "test")}
    out = {"name": args.name, "profile": args.profile, "overrides": overrides, "seconds": round(seconds),
           "checkpoint": fit.checkpoint.name if fit.checkpoint else None,
           "val": scores["val"], "test": scores["test"], "history_val_loss": fit.history.get("val_loss"),
           "history_seconds": fit.history.get("seconds")}
    report(out, args.log)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
