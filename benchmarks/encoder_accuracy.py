"""Accuracy of one encoder configuration at a profile: train it (or reuse its checkpoint), score val and test.

Trains the profile's encoder with the given overrides through ``radarface.experiments.fitting.profile_encoder``
(so the checkpoint is shared with notebook 04 when the settings agree), scores the validation and
test splits with ``radarface.metrics.evaluate`` and prints one JSON line (also appended to
``--log``). The encoder ablations in docs/tuning.md were made with it.

Usage::

    python benchmarks/encoder_accuracy.py NAME INPUTS '{"encoder_backbone": "plain-average", "train_threads": 1}'
        [--profile cpu] [--log encoder_accuracy.jsonl]
"""

from __future__ import annotations

import argparse
import json
import time

from radarface import facemodel, metrics, profiles
from radarface.experiments.fitting import encoder_data, profile_encoder
from radarface.train import predict


def overrides_from(text: str) -> dict:
    """Profile overrides from a JSON object; lists become tuples (as the profiles write schedules)."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in json.loads(text).items()}


def report(out: dict, log: str | None) -> None:
    """Print ``out`` as one JSON line and append it to ``log`` (if given)."""
    line = json.dumps(out, default=str)
    print(line)
    if log:
        with open(log, "a") as fh:
            fh.write(line + "\n")


def main(argv: list[str] | None = None) -> int:
    """Command line: train and score one configuration."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name")
    parser.add_argument("inputs", choices=("amplitude", "depth", "both"))
    parser.add_argument("overrides", help="JSON object of profile settings (lists become tuples)")
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--log", help="append the result line to this file")
    args = parser.parse_args(argv)
    overrides = overrides_from(args.overrides)
    cfg = profiles.resolve(args.profile, **overrides)
    face = facemodel.load_model(cfg["model"], cfg["n_shape"], cfg["n_expression"])
    data = encoder_data(cfg, args.inputs)
    start = time.perf_counter()
    model, fit, _ = profile_encoder(cfg, data, progress=True)
    rows = {}
    for split in ("val", "test"):
        images, true = data[split].tensors()
        rows[split] = metrics.evaluate(face, true.numpy(), predict(model, images).numpy(), data[split].slices,
                                       data[split].denormalise)
    base = metrics.evaluate(face, true.numpy(), metrics.baseline_mean_face(true.numpy()), data["test"].slices,
                            data["test"].denormalise)
    out = {"name": args.name, "inputs": args.inputs, "profile": args.profile, "overrides": overrides,
           "seconds": round(time.perf_counter() - start), "val_mm": rows["val"]["vertex_mm"],
           "test_mm": rows["test"]["vertex_mm"], "mean_face_mm": base["vertex_mm"],
           "ratio": rows["test"]["vertex_mm"] / base["vertex_mm"], "test": rows["test"],
           "history_val_loss": fit.history.get("val_loss")}
    report(out, args.log)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
