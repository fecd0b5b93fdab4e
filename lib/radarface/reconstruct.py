"""Reconstruct faces from your radar captures: meshes, parameters and a picture per capture.

    python -m radarface.reconstruct CAPTURES.h5 --out DIR [--method encoder|autoencoder|refined|blended]
                                    [--inputs both|amplitude|depth] [--model SOURCE]
                                    [--checkpoints DIR] [--profile cpu]

Reads a measurement file (any layout :func:`radarface.measurements.load` accepts: images, a
complex volume or raw channel data; data/README.md, "Measurement files"), brings it onto the
training radar's grid, predicts shape, expression and pose per capture with the chosen method
and writes, per capture, a folder ``NNN_<subject>_<expression>/`` with

- ``face_model.obj``, ``face_model.ply``: the face (shape + expression) in the face model's
  frame, mm (x left-right, y up, z out of the face, origin near the head's centre);
- ``face_radar.obj``, ``face_radar.ply``: the same face posed, in the radar frame, mm (the
  model frame's axes, origin at the array centre; the face at z ≈ −range);
- ``params.json``: coefficients (standard deviations), pose (rad and degrees, mm), units,
  the weights and face model used, and with ground truth the vertex distance;
- ``sheet.png``: the radar images, the learned renderer's images of the reconstruction, and
  the face from the front and the side;

and ``summary.json`` (every capture, timings, and with ground truth in the file the mean
face-region vertex distance per capture beside the mean-face baseline).

Methods (paper §1 points 3-5): ``encoder`` (notebook 04), ``autoencoder`` (notebook 06, the
default), ``refined`` (test-time analysis by synthesis (a) from the autoencoder's estimate),
``blended`` (the mean of the two, ``tta_blend``). The networks are the shipped weights of
``--profile`` (``weights/<profile>/``, :mod:`radarface.weights`) or those of ``--checkpoints``;
they are refused when trained for another face model or radar than the profile's. A measured
capture has no rendering parameters: the learned renderer gets the training mean.

User errors (missing file, wrong layout, incompatible radar, missing or mismatched weights)
end with one paragraph on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import torch
import trimesh

from radarface import measurements as meas
from radarface import paths, profiles, weights
from radarface import progress as bars
from radarface.experiments.evaluation import METHOD_NAMES, predict_method
from radarface.experiments.real_data import capture_vertex_distances
from radarface.experiments.settings import RefinementSettings
from radarface.facemodel import MorphableModel, load_model
from radarface.geometry import apply_pose
from radarface.plots.dataset import plot_sample_grid
from radarface.plots.face import plot_face
from radarface.radar import RadarConfig

#: Methods of the command line (:data:`radarface.experiments.evaluation.METHOD_NAMES`).
METHODS: tuple[str, ...] = tuple(METHOD_NAMES)
INPUTS: tuple[str, ...] = ("both", "amplitude", "depth")
#: Exit code of a user error (as argparse's).
USER_ERROR: int = 2
_POSE_NAMES = ("yaw", "pitch", "roll")


@dataclass(frozen=True)
class Reconstruction:
    """Predictions for N captures: parameters (shape, expression in std; pose rad, mm), decoder images (N, 2, H, W)."""

    method: str
    inputs: str
    params: dict[str, np.ndarray]
    images: np.ndarray
    seconds: float


def capture_folder_name(index: int, subject: str, expression: str) -> str:
    """``NNN_<subject>_<expression>`` with characters other than letters, digits, ``.``, ``-`` replaced.

    >>> capture_folder_name(3, "S 01", "smile/big")
    '003_S-01_smile-big'
    """
    clean = lambda s: re.sub(r"[^A-Za-z0-9.-]+", "-", str(s)).strip("-") or "x"  # noqa: E731
    return f"{index:03d}_{clean(subject)}_{clean(expression)}"


def networks_for(method: str) -> tuple[str, ...]:
    """Networks a method needs: its encoder, and the learned renderer (the sheet shows its images)."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {list(METHODS)}, got {method!r}")
    return ("encoder", "decoder") if method == "encoder" else ("autoencoder", "decoder")


def predict(settings: RefinementSettings, nets: weights.ShippedNetworks, captures: meas.Captures,
            method: str) -> Reconstruction:
    """Parameters and learned-renderer images of ``method`` for ``captures`` with shipped networks ``nets``.

    ``settings``: test-time refinement's, for ``refined`` and ``blended``.
    """
    start = time.perf_counter()
    images = captures.encoder_input(nets.inputs)
    encoder = nets.encoder if method == "encoder" else nets.autoencoder.encoder
    n_encoded = int(getattr(encoder, "n_outputs", 0)) or nets.normaliser.dim
    given = torch.zeros(len(images), nets.normaliser.dim - n_encoded)  # rendering parameters: training mean
    vectors = predict_method(settings, nets.inputs, method, nets.encoder, nets.autoencoder, images, given,
                             nets.normaliser.slices)
    with torch.no_grad():
        rendered = torch.cat([nets.decoder(torch.as_tensor(vectors[i:i + 64], dtype=torch.float32))
                              for i in range(0, len(vectors), 64)]).numpy()
    return Reconstruction(method, nets.inputs, nets.normaliser.denormalise(vectors), rendered,
                          time.perf_counter() - start)


def face_meshes(face: MorphableModel, params: dict[str, np.ndarray], i: int, array_z_mm: float
                ) -> tuple[np.ndarray, np.ndarray]:
    """Vertices (V, 3) mm of capture ``i``: in the model frame, and posed in the radar frame (array centre at 0)."""
    model = face.vertices(params["shape"][i], params["expression"][i])
    radar = apply_pose(model, params["pose"][i]) - np.array([0.0, 0.0, array_z_mm])
    return model, radar


def write_mesh(vertices: np.ndarray, triangles: np.ndarray, stem: Path) -> list[Path]:
    """``stem.obj`` and ``stem.ply`` of a mesh (vertices (V, 3) mm, triangles (M, 3)) through trimesh, order kept."""
    mesh = trimesh.Trimesh(vertices=np.asarray(vertices, dtype=np.float64), faces=np.asarray(triangles),
                           process=False)
    out = []
    for suffix in (".obj", ".ply"):
        path = stem.with_suffix(suffix)
        mesh.export(path)
        out.append(path)
    return out


def parameter_record(params: dict[str, np.ndarray], i: int) -> dict[str, Any]:
    """JSON-ready coefficients and pose of capture ``i``, with units.

    >>> p = {"shape": np.zeros((1, 2)), "expression": np.ones((1, 1)), "pose": np.array([[np.pi / 2, 0, 0, 1, 2, 3]])}
    >>> r = parameter_record(p, 0)
    >>> r["pose"]["yaw_deg"], r["pose"]["tz_mm"], r["expression"]
    (90.0, 3.0, [1.0])
    """
    pose = np.asarray(params["pose"][i], dtype=np.float64)
    record = {"shape": [float(v) for v in params["shape"][i]],
              "expression": [float(v) for v in params["expression"][i]], "pose": {}}
    for k, name in enumerate(_POSE_NAMES):
        record["pose"][f"{name}_rad"] = float(pose[k])
        record["pose"][f"{name}_deg"] = float(np.rad2deg(pose[k]))
    for k, name in enumerate(("tx", "ty", "tz")):
        record["pose"][f"{name}_mm"] = float(pose[3 + k])
    return record


UNITS: dict[str, str] = {
    "shape": "coefficients of the face model's shape modes, in standard deviations (N(0, 1) prior)",
    "expression": "coefficients of the face model's expression modes, in standard deviations",
    "pose": "rotation R = R_y(yaw) R_x(pitch) R_z(roll) about the model origin, then translation (tx, ty, tz) in "
            "mm; model frame: x left-right, y up, z out of the face, the array plane at z = array_z_mm",
    "meshes": "vertices in mm; face_model.*: model frame, unposed; face_radar.*: posed, radar frame (model axes, "
              "origin at the array centre)",
    "vertex_distance_mm": "mean Euclidean distance to the ground truth over the face-region vertices, model frame "
                          "(pose removed), mm",
}


def plot_sheet(captured: np.ndarray, rendered: np.ndarray, model_vertices: np.ndarray, triangles: np.ndarray, *,
               title: str = ""):
    """Figure: captured and rendered amplitude and depth (2, H, W) each, the face from the front and the side."""
    fig, axes = plt.subplots(2, 3, figsize=(7.2, 5.0), layout="constrained")
    plot_sample_grid(np.stack([captured[0], rendered[0]]), np.stack([captured[1], rendered[1]]),
                     titles=["radar images", "reconstruction\n(learned renderer)"], axes=axes[:, :2])
    for ax, label in zip(axes[:, 0], ("amplitude", "depth")):
        ax.set_ylabel(label, fontsize=8)
    for ax in axes[:, :2].ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    plot_face(model_vertices, triangles, view="front", ax=axes[0, 2], title="front")
    plot_face(model_vertices, triangles, view="side", ax=axes[1, 2], title="side")
    fig.suptitle(title, fontsize=9)
    return fig


def _captured_channels(captures: meas.Captures, i: int) -> np.ndarray:
    return np.stack([captures.amplitude[i], captures.depth[i]])


def reconstruct(captures_path: str | Path, out_dir: str | Path, *, method: str = "autoencoder", inputs: str = "both",
                profile: str = "cpu", model: str | None = None, checkpoints: str | Path | None = None,
                progress: bool = True) -> dict[str, Any]:
    """Reconstruct every capture of ``captures_path`` into ``out_dir`` (module docstring); return the summary dict.

    Raises ``ValueError`` subclasses (:class:`radarface.weights.WeightsError`,
    :class:`radarface.measurements.MeasurementFormatError`) and ``FileNotFoundError`` for
    user errors, each naming what was expected and what was found.
    """
    if inputs not in INPUTS:
        raise ValueError(f"inputs must be one of {list(INPUTS)}, got {inputs!r}")
    kinds = networks_for(method)
    captures_path = Path(captures_path)
    if not captures_path.is_file():
        raise FileNotFoundError(f"no capture file {captures_path}; pass the path of a measurement file "
                                f"(HDF5, data/README.md \"Measurement files\")")
    start = time.perf_counter()
    cfg = profiles.resolve(profile, model=model)
    folder = Path(checkpoints) if checkpoints is not None else paths.weights_dir(profile)
    manifest = weights.read_manifest(folder)
    targets = manifest["targets"]
    face = load_model(cfg["model"], int(targets["n_shape"]), int(targets["n_expression"]))
    radar = RadarConfig.from_profile(cfg)
    weights.check_setup(manifest, face, radar, folder=folder)
    nets = weights.load_networks(folder, inputs, kinds, manifest=manifest)
    captures = meas.load(captures_path, radar)
    result = predict(RefinementSettings.from_profile(cfg), nets, captures, method)
    distances, note = None, None
    if captures.ground_truth_params is not None:
        try:
            distances = capture_vertex_distances(face, captures, {method: result.params})
        except meas.MeasurementFormatError as err:
            note = f"vertex distances skipped: {err}"
            print(f"radarface.reconstruct: warning: {note}", file=sys.stderr)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    used = {"folder": str(folder), "profile": manifest.get("profile"), "commit": manifest.get("commit"),
            "dataset": manifest.get("dataset")}
    face_info = {"name": face.name, "hash": face.content_hash(), "n_vertices": face.n_vertices}
    rows = []
    with bars.bar(total=len(captures), desc="writing reconstructions", unit="capture", disable=not progress) as bar:
        for i in range(len(captures)):
            name = capture_folder_name(i, captures.subject[i], captures.expression[i])
            target = out_dir / name
            target.mkdir(exist_ok=True)
            model_v, radar_v = face_meshes(face, result.params, i, radar.array_z_mm)
            files = write_mesh(model_v, face.triangles, target / "face_model")
            files += write_mesh(radar_v, face.triangles, target / "face_radar")
            record = {"capture": i, "subject": str(captures.subject[i]), "expression_label": str(captures.expression[i]),
                      "method": method, "inputs": inputs, **parameter_record(result.params, i),
                      "array_z_mm": float(radar.array_z_mm), "face_model": face_info, "weights": used, "units": UNITS}
            title = f"{captures.subject[i]} · {captures.expression[i]} · {method} ({inputs})"
            if distances is not None:
                record["vertex_distance_mm"] = {k: float(v[i]) for k, v in distances.items()}
                title += f" · {distances[method][i]:.2f} mm (mean face {distances['mean face'][i]:.2f} mm)"
            (target / "params.json").write_text(json.dumps(record, indent=1) + "\n")
            fig = plot_sheet(_captured_channels(captures, i), result.images[i], model_v, face.triangles, title=title)
            fig.savefig(target / "sheet.png", dpi=100)
            plt.close(fig)
            rows.append({"capture": i, "folder": name, "subject": record["subject"],
                         "expression_label": record["expression_label"],
                         **({"vertex_distance_mm": record["vertex_distance_mm"]} if distances is not None else {}),
                         "files": sorted(p.name for p in files) + ["params.json", "sheet.png"]})
            bar.update(1)
    summary = {"captures_file": str(captures_path), "n_captures": len(captures), "simulated": captures.simulated,
               "method": method, "inputs": inputs, "profile": profile, "face_model": face_info, "weights": used,
               "prediction_seconds": round(result.seconds, 3),
               "total_seconds": round(time.perf_counter() - start, 3), "captures": rows}
    if distances is not None:
        summary["mean_vertex_distance_mm"] = {k: float(v.mean()) for k, v in distances.items()}
    if note:
        summary["note"] = note
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary


def parser() -> argparse.ArgumentParser:
    """The command line's argument parser."""
    p = argparse.ArgumentParser(prog="python -m radarface.reconstruct", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("captures", type=Path, help="measurement file (HDF5)")
    p.add_argument("--out", type=Path, required=True, help="folder for the reconstructions (created)")
    p.add_argument("--method", default="autoencoder", choices=METHODS)
    p.add_argument("--inputs", default="both", choices=INPUTS, help="radar images the encoder reads")
    p.add_argument("--model", default=None, metavar="SOURCE",
                   help="face model: builtin, ict, auto or a BFM 2019 .h5 path (default: the profile's)")
    p.add_argument("--checkpoints", type=Path, default=None, metavar="DIR",
                   help="weights folder with manifest.json (default: the shipped weights/<profile>)")
    p.add_argument("--profile", default="cpu", choices=profiles.names(), help="settings, face model and radar of this profile (default cpu)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; returns the exit code (0, or 2 for a user error)."""
    matplotlib.use("Agg")  # files only, no display
    args = parser().parse_args(argv)
    try:
        summary = reconstruct(args.captures, args.out, method=args.method, inputs=args.inputs, profile=args.profile,
                              model=args.model, checkpoints=args.checkpoints, progress=not args.quiet)
    except (ValueError, FileNotFoundError) as err:
        print(f"radarface.reconstruct: error: {' '.join(str(err).split())}", file=sys.stderr)
        return USER_ERROR
    line = (f"{summary['n_captures']} captures reconstructed ({args.method}, inputs {args.inputs}) in "
            f"{summary['total_seconds']:.1f} s; outputs in {args.out}")
    if "mean_vertex_distance_mm" in summary:
        d = summary["mean_vertex_distance_mm"]
        line += f"; mean vertex distance {d[args.method]:.2f} mm (mean face {d['mean face']:.2f} mm)"
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
