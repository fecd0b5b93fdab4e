"""Method (c) on the profile's surrogate captures, from the encoder's estimate: vertex distance and identification.

    python benchmarks/physics_captures.py [--profile cpu] [--blanket | --synthetic] [--n 40] [--set FIELD=JSON ...]
                                          [--surrogate FIELD=JSON ...] [--from-truth]

Loads (or makes) the profile's surrogate captures (notebook 07's file), predicts each capture's
parameters with the profile's encoder for both channels (trained if missing), runs
:func:`radarface.experiments.physics.fit_images` from there (with the radar the captures state,
as notebook 08; ``--from-truth``: from their true parameters instead) with the profile's
:class:`~radarface.experiments.settings.PhysicsSettings` (``--set`` overrides a field, e.g.
``--set material=0.7 steps=80``), and prints per capture the vertex distance (mm, model frame)
of the encoder and of (c), their means, the seconds per capture and, on all captures, the
identification rate of the shapes, and the wall time of all fits (``--set workers=1``: one after
the other in this process; the profile's: side by side, one thread each).

``--synthetic``: the first ``--n`` images of the synthetic test split instead, each fitted with the
rendering parameters it was made with (as notebook 08's synthetic comparison; no receiver noise).

``--surrogate`` changes a field of the captures' :class:`~radarface.measurements.SurrogateSettings`, e.g.
``--surrogate jitter_mm=0 phase_std_deg=0 gain_std_db=0`` for captures without calibration errors; only the
``--n`` captures used are rendered (``captures``), with the faces, poses and draws they have in the whole set.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

import numpy as np

from radarface import measurements as meas
from radarface import metrics, profiles, train
from radarface.dataset import DatasetSettings
from radarface.experiments import real_data
from radarface.experiments.fitting import decoder_data, encoder_data, profile_encoder
from radarface.experiments.physics import FITTED, fit_images, fitting_render_params
from radarface.experiments.settings import PhysicsSettings


def _fields(specs: list[str]) -> dict:
    """``FIELD=JSON`` arguments (``--set``, ``--surrogate``) as a dict of field values."""
    return {k: json.loads(v) for k, v in (s.split("=", 1) for s in specs)}


def _fitted(trace: dict[str, list[float]]) -> str:
    """The diffuse share and image level a fit ended with, where it fitted them (", diffuse share 0.31, level -2.0 dB")."""
    share = f", diffuse share {trace['material'][-1]:.2f}" if "material" in trace else ""
    return share + (f", level {trace['level_db'][-1]:+.1f} dB" if "level_db" in trace else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="cpu", choices=profiles.names())
    parser.add_argument("--blanket", action="store_true", help="the surrogate set with a blanket in front of the face")
    parser.add_argument("--from-truth", action="store_true",
                        help="start (c) at the captures' true parameters: how far its objective's minimum lies from them")
    parser.add_argument("--synthetic", action="store_true", help="the first --n images of the synthetic test split")
    parser.add_argument("--n", type=int, default=40, help="captures, evenly spaced over the file (or test images)")
    parser.add_argument("--set", nargs="*", default=[], metavar="FIELD=JSON")
    parser.add_argument("--surrogate", nargs="*", default=[], metavar="FIELD=JSON",
                        help="a field of the captures' SurrogateSettings (the --n used captures are rendered)")
    args = parser.parse_args()
    cfg = profiles.resolve(args.profile, surrogate_blanket=args.blanket)
    overrides = _fields(args.set)
    settings = dataclasses.replace(PhysicsSettings.from_profile(cfg), **overrides)
    training = DatasetSettings.from_profile(cfg)
    face = training.face_model()
    if args.synthetic:
        return synthetic(cfg, settings, face, training.radar_config(), args.n)
    surrogate = meas.SurrogateSettings.from_profile(cfg)
    if args.surrogate:
        surrogate = dataclasses.replace(surrogate, captures=args.n, **_fields(args.surrogate))
    captures = meas.load(meas.ensure_surrogate(surrogate, training), training.radar_config())
    captures = captures.spread(args.n)
    data = encoder_data(cfg, "both")
    encoder, _, _ = profile_encoder(cfg, data, progress=False)
    images = captures.encoder_input("both")
    predicted = data["test"].denormalise(train.predict(encoder, images).numpy())
    start = {k: np.asarray(predicted[k]) for k in FITTED}
    if args.from_truth:
        start = {k: np.asarray(captures.ground_truth_params[k]) for k in FITTED}
    began = time.perf_counter()
    fits = fit_images(settings, face, images, start, captures.system_config(training.radar_config()))
    wall = time.perf_counter() - began
    starts_at = "truth" if args.from_truth else "encoder"
    distances = real_data.capture_vertex_distances(face, captures, {starts_at: start, "(c)": fits.params})
    print(settings)
    for i in range(len(captures)):
        material = _fitted(fits.traces[i])
        objective = fits.traces[i]["objective"]
        print(f"{i:2d} {captures.subject[i]} {captures.expression[i]}: {starts_at} {distances[starts_at][i]:.2f} mm -> "
              f"(c) {distances['(c)'][i]:.2f} mm (mean face {distances['mean face'][i]:.2f}), objective "
              f"{objective[0]:.4g} -> {min(objective):.4g}, {fits.seconds[i]:.0f} s{material}")
    lower = int((distances["(c)"] < distances[starts_at]).sum())
    print({k: round(float(v.mean()), 3) for k, v in distances.items()},
          f"(c) lower on {lower} of {len(captures)}; {fits.seconds.mean():.1f} s per capture; all fits "
          f"{wall:.0f} s wall with {settings.workers} worker(s) (0 = one per core)")
    if len(set(captures.subject)) > 1 and np.unique(captures.subject, return_counts=True)[1].min() > 1:
        for name, params in ((starts_at, start), ("(c)", fits.params)):
            r = real_data.identity_analysis(params["shape"], captures.subject)
            print(f"{name}: identified {r['identification_rate']:.3f} (chance {r['chance_rate']:.3f}), "
                  f"within {r['within']:+.3f}, between {r['between']:+.3f}")


def synthetic(cfg: dict, settings: PhysicsSettings, face, config, n: int) -> None:
    """Method (c) on the first ``n`` test images from the encoder's estimate: vertex distances (mm, model frame)."""
    data = encoder_data(cfg, "both")
    encoder, _, _ = profile_encoder(cfg, data, progress=False)
    test = decoder_data(cfg, "both")["test"]  # targets with the rendering parameters
    images, targets = (t[:n] for t in test.tensors())
    truth = test.denormalise(targets.double().numpy())
    render = fitting_render_params(test.normaliser.render_names, truth["render"])
    predicted = data["test"].denormalise(train.predict(encoder, images).numpy())
    start = {k: np.asarray(predicted[k]) for k in FITTED}
    began = time.perf_counter()
    fits = fit_images(settings, face, images, start, config, render_params=render)
    wall = time.perf_counter() - began
    print(settings)
    mm = {name: metrics.vertex_errors(face, truth, p)[:, face.face_mask].mean(axis=1)
          for name, p in (("encoder", start), ("(c)", fits.params))}
    for i in range(n):
        material = _fitted(fits.traces[i])
        print(f"{i:2d}: encoder {mm['encoder'][i]:.2f} mm -> (c) {mm['(c)'][i]:.2f} mm (image's diffuse share "
              f"{render[i]['material']:.2f}{material}), {fits.seconds[i]:.0f} s")
    lower = int((mm["(c)"] < mm["encoder"]).sum())
    print({k: round(float(v.mean()), 3) for k, v in mm.items()}, f"(c) lower on {lower} of {n}; "
          f"{fits.seconds.mean():.1f} s per image; all fits {wall:.0f} s wall with {settings.workers} worker(s)")


if __name__ == "__main__":
    main()
