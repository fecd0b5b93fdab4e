"""Shipped network weights: compact half-precision copies of a profile run's trained networks, with a manifest.

    python -m radarface.weights --profile cpu [--out DIR] [--inputs both]

:func:`export_weights` takes the finished checkpoints of a profile run (``data/checkpoints/``,
notebooks 04-06) and writes, per input type, the encoder (notebook 04), the autoencoder's
encoder (notebook 06) and once the learned renderer (notebook 05) as float16 state dicts
without optimiser state, plus ``manifest.json``. The autoencoder is its encoder followed by
the learned renderer, frozen while it trained (checked on export), so the renderer is stored
once. :func:`load_networks` rebuilds the networks from the manifest alone (no dataset needed),
verifying each file's SHA-256; :func:`check_setup` refuses weights trained for another face
model or radar.

Where they live: ``weights/<profile>/`` at the repository root (``$RADARFACE_WEIGHTS`` moves
it, :func:`radarface.paths.weights_dir`), beside ``results/<profile>/``: both are published
outputs of a profile's run, tracked in git, while the package under ``lib/`` stays code only
(the library is installed editable from the repository, as :data:`radarface.paths.ROOT` assumes).

Manifest fields: ``format``, ``format_version``, ``profile``, ``commit`` (the exporting code's),
``published_run_commit`` (``results/<profile>/timings.json``'s, or null), ``created``, ``dataset``
(file name), ``face_model`` (name, source, content hash, coefficient counts, vertex count),
``radar`` (:meth:`RadarConfig.to_dict`), ``targets`` (the normaliser: counts, pose limits,
rendering-parameter names and ranges), ``networks`` (per network: ``file``, ``bytes``,
``sha256``, ``dtype``, the ``checkpoint`` it came from, its ``architecture``), ``settings``
(the profile's resolved settings, for provenance).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import io
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from radarface import dataset, paths, profiles, train
from radarface.dataset.normalise import TargetNormaliser
from radarface.experiments.fitting import DECODER_INPUTS, decoder_data, fit_decoder, profile_run_names, trained_networks
from radarface.experiments.settings import RendererSettings
from radarface.facemodel import MorphableModel
from radarface.models.autoencoder import Autoencoder, channels_for
from radarface.models.decoder import LearnedRenderer
from radarface.models.encoder import Encoder, EncoderEnsemble
from radarface.radar import RadarConfig
from radarface.run import git_commit, scrub_paths

FORMAT_NAME: str = "radarface-weights"
FORMAT_VERSION: int = 1
MANIFEST_NAME: str = "manifest.json"
#: Size limits (MB = 10⁶ bytes) of one exported file and of all of them (git-friendly).
MAX_FILE_MB: float = 10.0
MAX_TOTAL_MB: float = 20.0


class WeightsError(ValueError):
    """Shipped weights that are missing, damaged, incomplete or made for another face model or radar."""


@dataclass
class ShippedNetworks:
    """Networks rebuilt from shipped weights for one input type (each None when not loaded)."""

    inputs: str
    encoder: nn.Module | None
    autoencoder: Autoencoder | None
    decoder: LearnedRenderer | None
    normaliser: TargetNormaliser
    manifest: dict[str, Any]
    folder: Path


def network_key(kind: str, inputs: str) -> str:
    """Manifest key of a network: ``decoder``, ``encoder_<inputs>`` or ``autoencoder_<inputs>``."""
    return "decoder" if kind == "decoder" else f"{kind}_{inputs}"


# ------------------------------------------------------------------ architectures
def encoder_architecture(encoder: nn.Module) -> dict[str, Any]:
    """Constructor arguments of an :class:`Encoder` or :class:`EncoderEnsemble` (``members``: one dict each)."""
    members = list(encoder.members) if isinstance(encoder, EncoderEnsemble) else [encoder]
    return {"ensemble": isinstance(encoder, EncoderEnsemble),
            "members": [{"in_channels": m.in_channels, "image_size": m.image_size, **m.sizes,
                         "backbone": m.backbone, "center_depth": m.center_depth, "precision": m.precision}
                        for m in members]}


def build_encoder_from(architecture: dict[str, Any]) -> nn.Module:
    """The (untrained) encoder described by :func:`encoder_architecture`."""
    members = [Encoder(a["in_channels"], a["image_size"], a["shape"], a["expression"], a["pose"], a["render"],
                       backbone=a["backbone"], center_depth=a["center_depth"],
                       precision=a.get("precision", "float32")) for a in architecture["members"]]
    return EncoderEnsemble(members) if architecture["ensemble"] else members[0]


def decoder_architecture(decoder: LearnedRenderer) -> dict[str, Any]:
    """Constructor arguments of a :class:`LearnedRenderer`."""
    return {"n_params": decoder.n_params, "out_channels": decoder.out_channels, "image_size": decoder.image_size,
            "backbone": decoder.backbone}


def normaliser_fields(normaliser: TargetNormaliser) -> dict[str, Any]:
    """JSON fields of a :class:`TargetNormaliser` (:func:`normaliser_from`)."""
    return {"n_shape": normaliser.n_shape, "n_expression": normaliser.n_expression,
            "pose_limits": [float(v) for v in normaliser.pose_limits], "render_names": list(normaliser.render_names),
            "render_ranges": {k: list(v) for k, v in normaliser.render_ranges.items()},
            "include_render": normaliser.include_render}


def normaliser_from(fields: dict[str, Any]) -> TargetNormaliser:
    """The :class:`TargetNormaliser` of :func:`normaliser_fields` output."""
    return TargetNormaliser(int(fields["n_shape"]), int(fields["n_expression"]), np.asarray(fields["pose_limits"]),
                            tuple(fields["render_names"]), {k: tuple(v) for k, v in fields["render_ranges"].items()},
                            include_render=bool(fields["include_render"]))


# ------------------------------------------------------------------ files
def half_state(module: nn.Module) -> dict[str, torch.Tensor]:
    """``module``'s state dict with floating tensors as float16 (integer buffers kept), detached, on the CPU."""
    return {k: (v.detach().cpu().half() if v.is_floating_point() else v.detach().cpu().clone())
            for k, v in module.state_dict().items()}


def _serialise(state: dict[str, torch.Tensor]) -> bytes:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def _write_atomic(path: Path, payload: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(payload)
    os.replace(tmp, path)


def sha256_file(path: Path) -> str:
    """SHA-256 (hex) of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ------------------------------------------------------------------ export
def _require_finished(name: str, epochs: int, profile: str) -> Path:
    """The checkpoint ``data/checkpoints/<name>.pt`` of a finished run; WeightsError naming it otherwise."""
    path = train.checkpoint_path(name)
    if not path.is_file():
        raise WeightsError(f"no checkpoint {path}: the profile {profile!r} has not been trained yet; run "
                           f"`python -m radarface.run --profile {profile} --only 03,04,05,06`, then export again")
    done = int(train.load_checkpoint(path)["epoch"])
    if done < epochs:
        raise WeightsError(f"checkpoint {path} holds {done} of {epochs} epochs: its training has not finished; "
                           f"let it finish (rerunning the notebook resumes it), then export again")
    return path


def export_weights(cfg: dict[str, Any], out_dir: str | Path, *, inputs: tuple[str, ...] = (DECODER_INPUTS,),
                   max_file_mb: float = MAX_FILE_MB, max_total_mb: float = MAX_TOTAL_MB) -> Path:
    """Write the trained networks of the resolved profile ``cfg`` to ``out_dir`` as float16 files and ``manifest.json``.

    Needs the profile's dataset and finished checkpoints (nothing is trained here). Refuses
    (:class:`WeightsError`) when a file would exceed ``max_file_mb`` or all ``max_total_mb``.
    Returns the manifest's path; the manifest is written last, so a folder with one is complete.
    """
    for name in inputs:
        channels_for(name, DECODER_INPUTS)  # checks the name
    data_settings = dataset.DatasetSettings.from_profile(cfg)
    face = data_settings.face_model()
    data_path = dataset.default_path(data_settings, face)
    if not data_path.is_file():
        raise WeightsError(f"no dataset {data_path} for profile {cfg['profile']!r}: the profile has not been run "
                           f"here; run `python -m radarface.run --profile {cfg['profile']} --only 03,04,05,06` first")
    checkpoints = {}
    for name in inputs:
        checkpoints[name] = {role: _require_finished(n, e, cfg["profile"])
                             for role, (n, e) in profile_run_names(cfg, name, data_path).items()}
    data = decoder_data(cfg, DECODER_INPUTS)
    decoder, _ = fit_decoder(RendererSettings.from_profile(cfg), data, progress=False)  # loads the finished checkpoint
    payloads = {"decoder": (_serialise(half_state(decoder)), decoder_architecture(decoder),
                            checkpoints[inputs[0]]["decoder"].name)}
    for name in inputs:
        nets = trained_networks(cfg, name, decoder, decoder_checkpoint=checkpoints[name]["decoder"], progress=False)
        frozen = nets.autoencoder.decoder.state_dict()
        if any(not torch.equal(v, frozen[k]) for k, v in decoder.state_dict().items()):
            raise WeightsError(f"the autoencoder of {checkpoints[name]['autoencoder']} holds a learned renderer "
                               f"that differs from {checkpoints[name]['decoder']}; retrain the autoencoder")
        payloads[network_key("encoder", name)] = (_serialise(half_state(nets.encoder)),
                                                  encoder_architecture(nets.encoder), nets.encoder_checkpoint + ".pt")
        payloads[network_key("autoencoder", name)] = (_serialise(half_state(nets.autoencoder.encoder)),
                                                      encoder_architecture(nets.autoencoder.encoder),
                                                      checkpoints[name]["autoencoder"].name)
    sizes = {key: len(p[0]) for key, p in payloads.items()}
    too_big = {k: v for k, v in sizes.items() if v > max_file_mb * 1e6}
    if too_big or sum(sizes.values()) > max_total_mb * 1e6:
        shown = ", ".join(f"{k} {v / 1e6:.2f} MB" for k, v in sizes.items())
        raise WeightsError(f"the exported weights would be {shown} ({sum(sizes.values()) / 1e6:.2f} MB in all); "
                           f"the limits are {max_file_mb:g} MB per file and {max_total_mb:g} MB in all. Use smaller "
                           f"networks (e.g. encoder_ensemble = 1) or raise the limits (--max-file-mb, --max-total-mb)")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / MANIFEST_NAME).unlink(missing_ok=True)  # a folder without a manifest is not loadable mid-write
    networks = {}
    for key, (payload, architecture, source) in payloads.items():
        _write_atomic(out_dir / f"{key}.pt", payload)
        networks[key] = {"file": f"{key}.pt", "bytes": len(payload), "sha256": hashlib.sha256(payload).hexdigest(),
                         "dtype": "float16", "checkpoint": source, "architecture": architecture}
    try:  # the published run whose checkpoints these are, when there is one
        run_commit = json.loads((paths.ROOT / "results" / cfg["profile"] / "timings.json").read_text())["commit"]
    except (OSError, ValueError, KeyError):
        run_commit = None
    manifest = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "profile": cfg["profile"],
                "commit": git_commit(), "published_run_commit": run_commit, "created": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                "dataset": data_path.name,
                "face_model": {"name": face.name, "source": scrub_paths(face.source), "hash": face.content_hash(),
                               "n_shape": face.n_shape, "n_expression": face.n_expression,
                               "n_vertices": face.n_vertices},
                "radar": data_settings.radar_config().to_dict(),
                "targets": normaliser_fields(data["test"].normaliser), "inputs": list(inputs),
                "networks": networks, "settings": json.loads(json.dumps(cfg, default=str))}
    _write_atomic(out_dir / MANIFEST_NAME, (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode())
    return out_dir / MANIFEST_NAME


def run_weights(cfg: dict[str, Any], inputs: str = DECODER_INPUTS) -> Path:
    """Weights folder holding the networks of the resolved profile ``cfg``'s run for ``inputs``.

    The shipped ``weights/<profile>`` when its manifest names exactly this run's checkpoints
    (their names hash every setting); otherwise this run's finished checkpoints exported to
    ``data/weights/<autoencoder checkpoint>`` (reused when already there). Nothing is trained.
    """
    data_settings = dataset.DatasetSettings.from_profile(cfg)
    data_path = dataset.default_path(data_settings, data_settings.face_model())
    names = profile_run_names(cfg, inputs, data_path)
    wanted = {"decoder": f"{names['decoder'][0]}.pt",
              network_key("autoencoder", inputs): f"{names['autoencoder'][0]}.pt"}

    def holds_run(folder: Path) -> bool:
        try:
            networks = read_manifest(folder)["networks"]
        except WeightsError:
            return False
        return all(networks.get(key, {}).get("checkpoint") == name for key, name in wanted.items())

    shipped = paths.weights_dir(cfg["profile"])
    if holds_run(shipped):
        return shipped
    exported = paths.data_dir() / "weights" / names["autoencoder"][0]
    if not holds_run(exported):
        export_weights(cfg, exported, inputs=(inputs,))
    return exported


# ------------------------------------------------------------------ load
def read_manifest(folder: str | Path) -> dict[str, Any]:
    """The manifest of a weights folder, its format checked; :class:`WeightsError` when absent or not one."""
    path = Path(folder) / MANIFEST_NAME
    if not path.is_file():
        raise WeightsError(f"no weights in {Path(folder)} ({MANIFEST_NAME} is missing). Pass a folder written by "
                           f"`python -m radarface.weights --profile PROFILE --out DIR` with --checkpoints DIR, or "
                           f"train the profile (`python -m radarface.run --profile PROFILE --only 03,04,05,06`) and "
                           f"export its weights")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise WeightsError(f"{path}: cannot be read as JSON ({err}); export the weights again") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        found = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise WeightsError(f"{path}: format: expected {FORMAT_NAME!r}, found {found!r}; not a radarface weights "
                           f"manifest")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise WeightsError(f"{path}: format_version: expected {FORMAT_VERSION}, found "
                           f"{manifest.get('format_version')!r}; update radarface or export the weights again")
    missing = [k for k in ("face_model", "radar", "targets", "networks") if k not in manifest]
    if missing:
        raise WeightsError(f"{path}: fields {missing} are missing; export the weights again")
    return manifest


def check_setup(manifest: dict[str, Any], face: MorphableModel, radar: RadarConfig, *,
                folder: str | Path = "the weights") -> None:
    """Refuse weights trained for another face model (content hash) or radar (:meth:`RadarConfig.to_dict`) than this run's."""
    trained = manifest["face_model"]
    if trained["hash"] != face.content_hash():
        raise WeightsError(f"the weights in {folder} were trained with face model {trained['name']!r} (hash "
                           f"{trained['hash'][:12]}, {trained['n_vertices']} vertices, from {trained['source']}); "
                           f"this run uses face model {face.name!r} (hash {face.content_hash()[:12]}, "
                           f"{face.n_vertices} vertices, from {face.source}). Pass the weights' model with --model, "
                           f"or weights trained for yours with --checkpoints")
    ours = json.loads(json.dumps(radar.to_dict()))
    differ = sorted(k for k in set(ours) | set(manifest["radar"]) if ours.get(k) != manifest["radar"].get(k))
    if differ:
        shown = "; ".join(f"{k}: weights {manifest['radar'].get(k)!r}, this run {ours.get(k)!r}" for k in differ)
        raise WeightsError(f"the weights in {folder} were trained for another radar set-up than this run's "
                           f"(profile {manifest.get('profile')!r} vs this run's): {shown}. Choose the profile the "
                           f"weights belong to with --profile, or weights of yours with --checkpoints")


def _load_state(folder: Path, entry: dict[str, Any], key: str) -> dict[str, torch.Tensor]:
    """The state dict of one manifest entry, its size and SHA-256 verified."""
    path = folder / entry["file"]
    if not path.is_file():
        raise WeightsError(f"{path}: missing, though {MANIFEST_NAME} lists it as network {key!r}; copy the whole "
                           f"weights folder or export it again")
    found = sha256_file(path)
    if found != entry["sha256"] or path.stat().st_size != entry["bytes"]:
        raise WeightsError(f"{path}: checksum mismatch: {MANIFEST_NAME} expects SHA-256 {entry['sha256'][:16]}... "
                           f"({entry['bytes']} bytes), the file has {found[:16]}... ({path.stat().st_size} bytes); "
                           f"the file is damaged or was replaced. Export the weights again")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unpickling failure means the same thing here
        raise WeightsError(f"{path}: cannot be read as a state dict ({type(err).__name__}: {err})") from None


def load_networks(folder: str | Path, inputs: str, kinds: tuple[str, ...] = ("encoder", "autoencoder", "decoder"),
                  *, manifest: dict[str, Any] | None = None) -> ShippedNetworks:
    """The networks ``kinds`` (``encoder``, ``autoencoder``, ``decoder``) for ``inputs`` from a weights folder, float32, eval mode.

    The autoencoder brings the learned renderer with it. Refuses (:class:`WeightsError`) a
    network the folder does not hold, naming what it holds.
    """
    folder = Path(folder)
    manifest = manifest or read_manifest(folder)
    channels = channels_for(inputs, DECODER_INPUTS)
    needed = {network_key(kind, inputs) for kind in kinds} | ({"decoder"} if "autoencoder" in kinds else set())
    missing = sorted(needed - set(manifest["networks"]))
    if missing:
        raise WeightsError(f"the weights in {folder} hold no {missing} (they hold {sorted(manifest['networks'])}, "
                           f"for inputs {manifest.get('inputs')}); choose --inputs among those, or export weights "
                           f"for {inputs!r} (`python -m radarface.weights --inputs {inputs}`)")
    built: dict[str, nn.Module] = {}
    for key in sorted(needed):
        entry = manifest["networks"][key]
        model = (LearnedRenderer(**entry["architecture"]) if key == "decoder"
                 else build_encoder_from(entry["architecture"]))
        try:
            model.load_state_dict(_load_state(folder, entry, key))
        except RuntimeError as err:
            raise WeightsError(f"{folder / entry['file']}: does not fit the architecture in {MANIFEST_NAME} "
                               f"({str(err).splitlines()[0]}); export the weights again") from None
        built[key] = model.float().eval()
    decoder = built.get("decoder")
    autoencoder = None
    if "autoencoder" in kinds:
        autoencoder = Autoencoder(built[network_key("autoencoder", inputs)], decoder, channels).eval()
    return ShippedNetworks(inputs, built.get(network_key("encoder", inputs)), autoencoder, decoder,
                           normaliser_from(manifest["targets"]), manifest, folder)


# ------------------------------------------------------------------ command line
def main(argv: list[str] | None = None) -> int:
    """``python -m radarface.weights``: export a trained profile's weights; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m radarface.weights", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="cpu", choices=profiles.names())
    parser.add_argument("--out", type=Path, help="folder to write (default weights/<profile>)")
    parser.add_argument("--inputs", default=DECODER_INPUTS, help="comma-separated input types (default both)")
    parser.add_argument("--max-file-mb", type=float, default=MAX_FILE_MB, help="largest file allowed (MB)")
    parser.add_argument("--max-total-mb", type=float, default=MAX_TOTAL_MB, help="largest total allowed (MB)")
    args = parser.parse_args(argv)
    try:
        path = export_weights(profiles.resolve(args.profile), args.out or paths.weights_dir(args.profile),
                              inputs=tuple(s.strip() for s in args.inputs.split(",")),
                              max_file_mb=args.max_file_mb, max_total_mb=args.max_total_mb)
    except (ValueError, FileNotFoundError) as err:
        print(f"radarface.weights: error: {err}", file=sys.stderr)
        return 2
    manifest = json.loads(path.read_text())
    total = sum(n["bytes"] for n in manifest["networks"].values())
    print(f"wrote {len(manifest['networks'])} networks ({total / 1e6:.2f} MB) and {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
