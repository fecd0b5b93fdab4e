"""Surrogate measurements: faces the encoder never saw, rendered by the exact MIMO model with a domain gap.

A surrogate file stands in for the paper's real captures (four people, five expressions): the
same format as a measurement (:mod:`radarface.measurements.schema`), ``simulated = True``, and
the ground truth a scanner would give (posed mesh in mm) plus the model parameters.

What differs from the training data (the fast renderer, :mod:`radarface.radar.params` ranges):

- renderer: the exact back-projection (:mod:`radarface.radar.reference`), with every
  ``antenna_stride``-th antenna per edge (1 = the full 94 × 94 array);
- surface: diffuse share ``material`` 0.7 (training 0-0.5) with ``roughness_mm`` 2 mm (training
  1 mm): coarser speckle, and a diffuse-to-smooth amplitude ratio m·(4 mm / roughness)/(1 − m)
  of 4.7, beyond the training's largest (4);
- receiver noise: complex white noise per sample, at the level that would leave a point target
  of the same mean received power ``point_snr_db`` above the noise in the image (per-sample SNR
  plus the processing gain 10·log10(Nf·Nt·Nr), so the antenna subset does not change it); a
  face spreads its power over many resolution cells and comes out about 18 dB lower (52 → ~33 dB;
  the image SNR of every capture is recorded; training: 30-50 dB);
- calibration errors, one set per file (one measurement campaign): antenna positions off by
  N(0, ``jitter_mm``²) per coordinate while the back-projection assumes the nominal ones, and per
  transmitter and receiver chain a phase error N(0, ``phase_std_deg``²) and gain error
  N(0, ``gain_std_db``²);
- optionally (``blanket``) a sleep-lab blanket: a thin, weakly reflecting (``blanket_reflectivity``
  of skin's amplitude), rough, gently folded sheet ``blanket_gap_mm`` in front of the face that
  attenuates the face's return by ``blanket_loss_db`` (two-way).

Identities come from ``SeedSequence([seed, tag, 0, subject])`` and every other draw from streams
tagged likewise, so they never coincide with a dataset's samples (``[seed, index]``); the
expressions are fixed vectors, the same in every file. Captures are ordered subject, expression,
pose; pose 0 is frontal, further poses are uniform within ``pose_scale`` × the training limits.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from radarface import progress as progress_bars
from radarface.dataset.schema import settings_diff
from radarface.dataset.settings import DatasetSettings
from radarface.facemodel import MorphableModel
from radarface.geometry import apply_pose, pose_limits
from radarface.measurements.captures import Captures, MeasurementFormatError, evenly_spaced
from radarface.measurements.files import read, write, write_raw
from radarface.measurements.physics import Calibration, calibration, capture_signal, render_capture
from radarface.measurements.schema import FORMAT_VERSIONS
from radarface.measurements.settings import EXPRESSION_LABELS, SurrogateSettings
from radarface.paths import data_dir
from radarface.radar import RENDERER_VERSION, ImageGrid, RadarConfig, antenna_positions
from radarface.radar.array import array_center, edge_sizes, select_antennas
from radarface.runtime import process_map, resolve_workers

#: Bumped whenever the surrogate's content changes for the same settings (stale files are not reused).
SURROGATE_VERSION: int = 1
_TAG = 0x5A77  # second SeedSequence word of every surrogate stream


def _rng(seed: int, *path: int) -> np.random.Generator:
    """The surrogate stream ``path`` of ``seed`` (disjoint from dataset streams by the tag)."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), _TAG, *map(int, path)]))


def identities(seed: int, subjects: int, n_shape: int) -> np.ndarray:
    """Shape coefficients (subjects, n_shape) in standard deviations, N(0, 1) per subject."""
    return np.stack([_rng(seed, 0, s).standard_normal(n_shape) for s in range(subjects)])


def expression_vectors(n_expression: int) -> dict[str, np.ndarray]:
    """The fixed expressions: ``neutral`` zeros, the others orthogonal (when n_expression >= 4) vectors
    of a typical N(0, 1) draw's length sqrt(n_expression), clipped to ±2.5 std (lips fold beyond)."""
    raw = np.random.default_rng(np.random.SeedSequence([_TAG, 5])).standard_normal((n_expression, 4))
    if n_expression >= 4:
        raw, _ = np.linalg.qr(raw)
    norms = np.maximum(np.linalg.norm(raw, axis=0), 1e-12)
    others = np.clip(raw / norms * np.sqrt(n_expression), -2.5, 2.5).T
    return {"neutral": np.zeros(n_expression), **dict(zip(EXPRESSION_LABELS[1:], others))}


def capture_plan(settings: SurrogateSettings, n_shape: int, n_expression: int) -> list[dict[str, Any]]:
    """Per capture: its ``index`` in the whole set, ``subject``, ``expression`` labels and ``shape``,
    ``expression_vector``, ``pose`` (6,); only ``settings.captures`` of them, evenly spaced, if set."""
    shapes = identities(settings.seed, settings.subjects, n_shape)
    vectors = expression_vectors(n_expression)
    plan = []
    for s in range(settings.subjects):
        for label in settings.expressions:
            for p in range(settings.poses):
                c = len(plan)
                pose = np.zeros(6)
                if p > 0:
                    pose = _rng(settings.seed, 1, c).uniform(-1.0, 1.0, 6) * settings.pose_scale * pose_limits()
                plan.append({"index": c, "subject": f"S{s + 1:02d}", "expression": label, "shape": shapes[s],
                             "expression_vector": vectors[label], "pose": pose})
    if settings.captures:
        plan = [plan[c] for c in evenly_spaced(len(plan), settings.captures)]
    return plan


# ----------------------------------------------------------------------------- files
def _antenna_subset(config, stride: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Nominal tx (Nt, 3), rx (Nr, 3) mm every ``stride``-th per edge, and their indices in the full array."""
    tx_full, rx_full = antenna_positions(config)
    out = []
    for full in (tx_full, rx_full):
        index = np.arange(len(full), dtype=float)[:, None].repeat(3, axis=1)
        picked = select_antennas(index, None, stride, edge_sizes(len(full)))[:, 0].astype(np.int64)
        out += [full[picked], picked]
    return out[0], out[2], out[1], out[3]


def surrogate_manifest(settings: SurrogateSettings, config: RadarConfig, model: MorphableModel) -> dict[str, Any]:
    """Everything that fixes a surrogate file's content (stored as ``/@surrogate_settings``); ``config``
    is the one it is rendered with (:func:`render_config`)."""
    return {"format_version": FORMAT_VERSIONS[-1], "surrogate_version": SURROGATE_VERSION,
            "renderer_version": RENDERER_VERSION, "config": config.to_dict(),
            "model_name": model.name, "model_hash": model.content_hash(), "n_shape": model.n_shape,
            "n_expression": model.n_expression, "settings": settings.to_dict()}


def render_config(options: SurrogateSettings, config: RadarConfig) -> RadarConfig:
    """The radar config the surrogate is rendered with: ``config`` (the training's) with the surrogate's
    roughness and, if set, its number of frequencies."""
    changes = {"roughness_mm": options.roughness_mm}
    if options.n_freq is not None:
        changes["n_freq"] = int(options.n_freq)
    return config.replace(**changes)


def _existing(path: Path, manifest: dict[str, Any]) -> dict[str, Any] | None:
    """The attributes of ``path`` if it is a complete surrogate made with ``manifest``, else None;
    ValueError if made otherwise."""
    if not path.exists():
        return None
    try:
        attrs = read(path).attrs
    except MeasurementFormatError:
        return None  # unreadable or incomplete: make it again
    old = attrs.get("surrogate_settings") or {}

    def flat(manifest: dict[str, Any]) -> dict[str, Any]:  # settings spread out, so a diff names the field
        return {**{k: v for k, v in manifest.items() if k != "settings"}, **manifest.get("settings", {})}

    diffs = settings_diff(flat(old), flat(manifest))
    if diffs:
        raise ValueError(f"surrogate file {path} was made with {'; '.join(diffs)}; delete it, pass "
                         "overwrite=True, or choose another path")
    return attrs


@dataclass(frozen=True)
class _Job:
    """Everything a worker needs to render any capture of a file (picklable)."""

    model: Any
    config: Any
    options: SurrogateSettings
    tx: np.ndarray
    rx: np.ndarray
    calib: Calibration
    plan: list[dict[str, Any]]


def _render_one(job: _Job, c: int) -> dict[str, Any]:
    """Capture ``c`` of ``job``: images, image SNR, posed vertices (mm) and the CPU seconds it took."""
    start = time.process_time()
    item = job.plan[c]
    face = job.model.vertices(item["shape"], item["expression_vector"])
    image, snr = render_capture(face, job.model.triangles, item["pose"], job.config, job.options, job.tx, job.rx,
                                job.calib, _rng(job.options.seed, 2, item["index"]))
    return {"amplitude": image.amplitude, "depth": image.depth, "snr": round(snr, 2),
            "vertices": apply_pose(face, item["pose"]).astype(np.float32), "cpu_s": time.process_time() - start}


def _render_all(job: _Job, workers: int) -> Iterator[dict[str, Any]]:
    """Results of every capture in plan order, in ``workers`` processes (one torch thread each; 1 = here)."""
    return process_map(partial(_render_one, job), range(len(job.plan)), workers)


def make_surrogate(path: str | Path, settings: SurrogateSettings, config: RadarConfig, model: MorphableModel, *,
                   overwrite: bool = False, progress: bool = True, workers: int = 0,
                   profile: str | None = None) -> Path:
    """Write a surrogate measurement file (format of :func:`radarface.measurements.read`) to ``path``.

    Args:
        settings: how the file is made (:class:`SurrogateSettings`, e.g. ``SurrogateSettings.from_profile``).
        config: the training radar config; its ``roughness_mm`` (and ``n_freq`` if the settings give
            one) are replaced by the surrogate's (:func:`render_config`).
        model: the face model the subjects are drawn from.
        overwrite: replace a file made with other settings (a matching complete file is always reused).
        workers: renderer processes, one capture each at a time (0 = all cores; 1 = in this process).
            The images do not depend on it.
        profile: the profile the file is made for, named in its description.

    Deterministic in the settings' seed; shows a progress bar; written atomically, so a crash leaves
    no file that looks complete. Returns ``path``.
    """
    path = Path(path)
    config = render_config(settings, config)
    manifest = surrogate_manifest(settings, config, model)
    found = None if overwrite else _existing(path, manifest)
    if found is not None:
        progress_bars.record_stage(path, made=False, seconds=(found.get("render_timing") or {}).get("wall_seconds"))
        return path
    tx, rx, tx_index, rx_index = _antenna_subset(config, settings.antenna_stride)
    job = _Job(model, config, settings, tx, rx, calibration(settings, tx, rx, _rng(settings.seed, 3)),
               capture_plan(settings, model.n_shape, model.n_expression))
    workers = resolve_workers(int(workers))
    start = time.perf_counter()
    results = list(progress_bars.bar(_render_all(job, workers), total=len(job.plan), desc=path.name, unit="capture",
                        disable=not progress))
    timing = {"wall_seconds": round(time.perf_counter() - start, 2), "workers": workers,
              "cpu_seconds_per_capture": round(float(np.mean([r["cpu_s"] for r in results])), 3)}
    written = write(path, _surrogate_captures(profile, job, results, tx_index, rx_index, manifest, timing))
    progress_bars.record_stage(path, made=True, seconds=timing["wall_seconds"])
    return written


def _surrogate_captures(profile: str | None, job: _Job, results: list[dict[str, Any]], tx_index: np.ndarray,
                        rx_index: np.ndarray, manifest: dict[str, Any], timing: dict[str, Any]) -> Captures:
    """The :class:`Captures` of a rendered surrogate: images, labels, radar, ground truth, how it was made."""
    config, options, model, plan = job.config, job.options, job.model, job.plan
    simulation = {**options.to_dict(), "renderer": "exact MIMO back-projection (radarface.radar.reference)",
                  "receiver_noise": "complex white per sample; a point target of the same mean received power "
                                    "would have an image SNR of point_snr_db",
                  "calibration": "antenna positions jittered, per-chain gain and phase errors; back-projection "
                                 "assumes nominal positions and ideal chains",
                  "image_snr_db": [r["snr"] for r in results], "training_material_range": [0.0, 0.5],
                  "training_roughness_mm": 1.0}
    radar = {"f_start_hz": config.f_start_hz, "f_stop_hz": config.f_stop_hz, "n_freq": config.n_freq,
             "aperture_mm": config.aperture_mm, "range_mm": config.range_mm, "n_tx": config.n_tx,
             "n_rx": config.n_rx, "antenna_stride": options.antenna_stride,
             "array": "MIMO square: tx on the left/right edges, rx on the bottom/top edges",
             "config": config.to_dict(), "tx_positions_mm": job.tx, "rx_positions_mm": job.rx,
             "tx_index": tx_index, "rx_index": rx_index}
    x, y = ImageGrid.from_config(config).output_axes()
    lo, hi = config.depth_window_mm
    stack = (lambda key, rows: np.stack([row[key] for row in rows]))
    return Captures(
        amplitude=stack("amplitude", results), depth=stack("depth", results),
        subject=np.array([p["subject"] for p in plan]), expression=np.array([p["expression"] for p in plan]),
        x_mm=x, y_mm=y, range_window_mm=(config.array_z_mm - hi, config.array_z_mm - lo),
        dynamic_range_db=options.dynamic_range_db, radar=radar, array_z_mm=config.array_z_mm,
        pose=stack("pose", plan), ground_truth_vertices=stack("vertices", results),
        ground_truth_triangles=np.asarray(model.triangles),
        ground_truth_params={"shape": stack("shape", plan), "expression": stack("expression_vector", plan),
                             "pose": stack("pose", plan)},
        simulated=True,
        attrs={"description": f"surrogate measurements: {options.subjects} subjects x {len(options.expressions)} "
                              f"expressions x {options.poses} poses"
                              f"{f', {len(plan)} of them evenly spaced' if options.captures else ''}, profile {profile}",
               "simulation": simulation, "surrogate_settings": manifest, "model_name": model.name,
               "model_source": model.source, "model_hash": model.content_hash(),
               "expression_vectors": {k: v.tolist() for k, v in expression_vectors(model.n_expression).items()},
               "render_timing": timing})


def make_surrogate_raw(path: str | Path, settings: SurrogateSettings, config: RadarConfig, model: MorphableModel,
                       *, progress: bool = True) -> Path:
    """The surrogate set of :func:`make_surrogate` as raw channel data: (N, Nt, Nr, Nf) samples as an imager
    records them (calibration errors and receiver noise included), in the raw layout of
    :mod:`radarface.measurements.raw`; loading it back-projects each capture onto the training grid.

    Same faces, poses, calibration and noise draws as :func:`make_surrogate` with the same settings
    (images equal up to the region the image file back-projects). Written in this process; returns ``path``.
    """
    config = render_config(settings, config)
    tx, rx, _, _ = _antenna_subset(config, settings.antenna_stride)
    calib = calibration(settings, tx, rx, _rng(settings.seed, 3))
    plan = capture_plan(settings, model.n_shape, model.n_expression)
    signals, posed = [], []
    for item in progress_bars.bar(plan, desc=Path(path).name, unit="capture", disable=not progress):
        face = model.vertices(item["shape"], item["expression_vector"])
        signal, _, _ = capture_signal(face, model.triangles, item["pose"], config, settings, calib,
                                      _rng(settings.seed, 2, item["index"]))
        signals.append(np.moveaxis(signal, 0, -1).astype(np.complex64))  # (Nf, Nt, Nr) -> (Nt, Nr, Nf)
        posed.append(apply_pose(face, item["pose"]).astype(np.float32))
    stack = (lambda key: np.stack([p[key] for p in plan]))
    centre = array_center(config)
    return write_raw(Path(path), np.stack(signals), tx - centre, rx - centre, config.frequencies_hz,
                     subject=stack("subject"), expression=stack("expression"), range_mm=config.range_mm,
                     array_z_mm=config.array_z_mm, pose=stack("pose"), simulated=True,
                     ground_truth={"vertices": np.stack(posed), "triangles": np.asarray(model.triangles),
                                   "shape": stack("shape"), "expression": stack("expression_vector"),
                                   "pose": stack("pose")},
                     attrs={"description": "surrogate measurements as raw channel data",
                            "simulation": {**settings.to_dict(), "layout": "raw channel data"},
                            "model_name": model.name, "model_hash": model.content_hash()})


def default_surrogate_path(settings: SurrogateSettings, training: DatasetSettings,
                           model: MorphableModel | None = None) -> Path:
    """``data_dir()/surrogate_<profile>_<hash8>.h5`` for the training data of ``training``; the hash covers
    everything that fixes the content. ``model``: ``training``'s face model when already loaded."""
    model = model or training.face_model()
    manifest = surrogate_manifest(settings, render_config(settings, training.radar_config()), model)
    digest = hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()[:8]
    return data_dir() / f"surrogate_{training.profile}_{digest}.h5"


def ensure_surrogate(settings: SurrogateSettings, training: DatasetSettings, *, progress: bool = True) -> Path:
    """Path of the surrogate file made with ``settings`` for the training data of ``training`` (its face model,
    radar, profile name and workers): reused if complete, else rendered (:func:`make_surrogate`)."""
    model = training.face_model()
    return make_surrogate(default_surrogate_path(settings, training, model), settings, training.radar_config(), model,
                          progress=progress, workers=training.workers, profile=training.profile)
