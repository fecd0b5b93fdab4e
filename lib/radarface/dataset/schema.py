"""The HDF5 layout of a radar face dataset (DESIGN §6) and the checks made on opening one.

A dataset file holds, for N samples (one row each, sample ``index_start + row``):

=============  ===============  ====================================================
dataset        shape, dtype     meaning
=============  ===============  ====================================================
``amplitude``  (N, H, W) f2/f4  amplitude image in [0, 1] (0 = -dynamic range)
``depth``      (N, H, W) f2/f4  depth image in [0, 1] over the depth window
``shape``      (N, Ks) f8       shape coefficients, standard deviations
``expression`` (N, Ke) f8       expression coefficients, standard deviations
``pose``       (N, 6) f8        (yaw, pitch, roll) rad, (tx, ty, tz) mm
``render``     (N, R) f8        rendering parameters, names in ``render_param_names``
``done``       (N,) bool        which rows hold a rendered sample (all, once complete)
=============  ===============  ====================================================

Attributes: ``settings`` (JSON of everything a resumed run must agree on: radar config,
model identity and hash, seed, n, dtype, index range, schema and library version), the
same values spread over readable attributes (``config``, ``model_hash``, ...), the
sampling ranges needed for normalisation (``pose_limits``, ``render_param_ranges``),
``split_seed``/``split_fractions``, ``content_sha256`` (:class:`ContentDigest` of the
rows), and ``complete``, set last. A file made by ``combine`` holds virtual datasets over
its shards plus ``shards`` (their paths) and ``shard_identity`` (per shard: index range,
seed, settings and content digests), which opening the file checks against the shards.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np

SCHEMA_VERSION: int = 1
IMAGE_FIELDS: tuple[str, ...] = ("amplitude", "depth")
PARAM_FIELDS: tuple[str, ...] = ("shape", "expression", "pose", "render")
REQUIRED_FIELDS: tuple[str, ...] = IMAGE_FIELDS + PARAM_FIELDS + ("done",)
#: Fractions of the train / validation / test split.
SPLIT_FRACTIONS: tuple[float, float, float] = (0.8, 0.1, 0.1)
#: Settings that may differ when reusing a *complete* file (they do not change its content).
COSMETIC_SETTINGS: tuple[str, ...] = ("radarface_version",)


def generation_log_path(path: Path | str) -> Path:
    """The sidecar ``<file>.generation.json``: how the run that finished ``path`` went (timings, workers).

    Kept out of the HDF5 file so that the same seed and settings give the same file bytes.
    """
    path = Path(path)
    return path.with_name(path.name + ".generation.json")


def generation_stats(path: Path | str) -> dict[str, Any] | None:
    """Timings of the run that finished ``path`` (workers, rendered, seconds, samples_per_s, cpu_s_per_sample).

    From the sidecar :func:`generation_log_path`, else from the ``generation`` attribute of
    files written before the sidecar existed; None if neither is there.
    """
    log = generation_log_path(path)
    if log.is_file():
        return json.loads(log.read_text())
    with h5py.File(path, "r") as h5:
        return json.loads(h5.attrs["generation"]) if "generation" in h5.attrs else None


def journal_dir(path: Path | str) -> Path:
    """The sidecar folder ``<path>.parts/`` that holds a generation's finished blocks."""
    path = Path(path)
    return path.with_name(path.name + ".parts")


def _flatten(settings: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in settings.items():
        if isinstance(value, dict) and key == "config":
            flat.update(_flatten(value, ""))
        else:
            flat[prefix + key] = value
    return flat


def settings_diff(old: dict[str, Any], new: dict[str, Any], ignore: tuple[str, ...] = ()) -> list[str]:
    """Human-readable ``name=old, now new`` for every setting that differs (config flattened)."""
    flat_old, flat_new = _flatten(old), _flatten(new)
    diffs = []
    for key in sorted(set(flat_old) | set(flat_new)):
        if key in ignore:
            continue
        a, b = flat_old.get(key, "<unset>"), flat_new.get(key, "<unset>")
        if json.dumps(a, sort_keys=True) != json.dumps(b, sort_keys=True):
            diffs.append(f"{key}={a!r}, now {b!r}")
    return diffs


def check_settings(path: Path, old: dict[str, Any], new: dict[str, Any], *, what: str,
                   ignore: tuple[str, ...] = ()) -> None:
    """Raise ValueError naming every differing setting between ``old`` (on disk) and ``new``."""
    diffs = settings_diff(old, new, ignore)
    if diffs:
        raise ValueError(f"{what} {path} was generated with {'; '.join(diffs)}. Delete it "
                         f"(and {journal_dir(path).name}/ beside it, if present) or choose another --out")


def encode_attr(value: Any) -> Any:
    """An HDF5-storable attribute: dicts, lists and None as JSON text, the rest as is."""
    if isinstance(value, (dict, list, tuple)) or value is None:
        return json.dumps(value, sort_keys=True)
    return value


def write_attrs(h5: h5py.File, settings: dict[str, Any], extra: dict[str, Any]) -> None:
    """Store ``settings`` (as one JSON attribute and spread out) and ``extra`` attributes."""
    h5.attrs["settings"] = json.dumps(settings, sort_keys=True)
    for key, value in {**settings, **extra}.items():
        h5.attrs[key] = encode_attr(value)


def read_settings(h5: h5py.File) -> dict[str, Any]:
    """The ``settings`` attribute of an open dataset file, decoded."""
    return json.loads(h5.attrs["settings"])


def read_json_attr(h5: h5py.File, name: str) -> Any:
    """A JSON-encoded attribute, decoded."""
    return json.loads(h5.attrs[name])


def open_dataset_file(path: Path | str, *, allow_incomplete: bool = False) -> h5py.File:
    """Open a dataset file read-only after checking it; errors name the file and the problem.

    Raises FileNotFoundError if missing (mentioning an unfinished generation if its journal
    exists) and ValueError if it is not HDF5, truncated, corrupt, of another schema, or
    incomplete (unless ``allow_incomplete``).
    """
    path = Path(path)
    if not path.exists():
        hint = ""
        if journal_dir(path).exists():
            hint = (f"; its generation is unfinished ({journal_dir(path).name}/ holds the finished "
                    "samples): rerun the same generate command to complete it")
        raise FileNotFoundError(f"dataset file {path} does not exist{hint}")
    if path.is_dir():
        raise ValueError(f"dataset path {path} is a folder, expected an HDF5 file")
    if not h5py.is_hdf5(path):
        raise ValueError(f"{path} is not an HDF5 file (empty, truncated at the start, or another format)")
    try:
        h5 = h5py.File(path, "r")
    except OSError as err:
        raise ValueError(f"{path} cannot be opened as HDF5 (truncated or corrupt?): {err}") from None
    try:
        check_schema(h5, path, allow_incomplete=allow_incomplete)
    except BaseException:
        h5.close()
        raise
    return h5


def check_schema(h5: h5py.File, path: Path, *, allow_incomplete: bool = False) -> None:
    """Raise ValueError if ``h5`` lacks a dataset or attribute of the schema, or is incomplete."""
    try:
        missing = [name for name in REQUIRED_FIELDS if name not in h5]
        if missing:
            raise ValueError(f"{path} is not a radarface dataset: missing dataset(s) {missing} "
                             f"(has {sorted(h5.keys())})")
        for attr in ("settings", "complete"):
            if attr not in h5.attrs:
                raise ValueError(f"{path} is not a radarface dataset: missing attribute {attr!r}")
        version = read_settings(h5).get("schema_version")
        if version != SCHEMA_VERSION:
            raise ValueError(f"{path} has schema version {version}, this library reads {SCHEMA_VERSION}; "
                             "regenerate it")
        n = h5["done"].shape[0]
        for name in REQUIRED_FIELDS:
            if h5[name].shape[0] != n:
                raise ValueError(f"{path}: dataset {name!r} has {h5[name].shape[0]} rows, expected {n}")
        if h5["amplitude"].shape != h5["depth"].shape:
            raise ValueError(f"{path}: amplitude {h5['amplitude'].shape} and depth {h5['depth'].shape} differ")
        _check_virtual_sources(h5, path)
        _check_shards(h5, path)
    except OSError as err:
        raise ValueError(f"{path} is corrupt or truncated: {err}") from None
    if not bool(h5.attrs["complete"]) and not allow_incomplete:
        done = int(np.count_nonzero(h5["done"][:]))
        raise ValueError(f"{path} is incomplete ({done} of {h5['done'].shape[0]} samples): rerun the "
                         "generate command to finish it, or pass allow_incomplete=True to read the "
                         "finished samples")


class ContentDigest:
    """sha256 of a dataset's arrays, row by row in index order, whatever blocks the rows were written in."""

    def __init__(self, fields: dict[str, tuple[tuple[int, ...], str]]):
        self._fields = {name: hashlib.sha256(f"{name}:{tuple(map(int, row))}:{np.dtype(dtype).name};".encode())
                        for name, (row, dtype) in fields.items()}

    def update(self, arrays: dict[str, np.ndarray]) -> None:
        """Add the next rows (call in increasing index order; rows never rendered are left out)."""
        for name, h in self._fields.items():
            h.update(np.ascontiguousarray(arrays[name]).tobytes())

    def hexdigest(self, done: np.ndarray) -> str:
        """The digest, given which rows are present (``done``)."""
        h = hashlib.sha256(np.packbits(np.asarray(done, dtype=bool)).tobytes())
        for name, field_hash in self._fields.items():
            h.update(f"{name}={field_hash.hexdigest()};".encode())
        return h.hexdigest()


def content_digest(h5: h5py.File, rows: int = 256) -> str:
    """The file's ``content_sha256``, or, for files written before it was stored, computed from the arrays."""
    if "content_sha256" in h5.attrs:
        return str(h5.attrs["content_sha256"])
    names = IMAGE_FIELDS + PARAM_FIELDS
    digest, done = ContentDigest({name: (h5[name].shape[1:], h5[name].dtype) for name in names}), h5["done"][:]
    for lo in range(0, len(done), rows):
        keep = done[lo:lo + rows]
        digest.update({name: h5[name][lo:lo + rows][keep] for name in names})
    return digest.hexdigest(done)


def settings_digest(settings: dict[str, Any]) -> str:
    """sha256 of the settings that fix a file's content (cosmetic ones left out)."""
    kept = {k: v for k, v in settings.items() if k not in COSMETIC_SETTINGS}
    return hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()


def shard_identity(h5: h5py.File) -> dict[str, Any]:
    """What ``combine`` records of one shard: index range, seed, settings and content digests."""
    settings = read_settings(h5)
    return {"index_start": int(settings["index_start"]), "index_stop": int(settings["index_stop"]),
            "seed": settings.get("seed"), "settings_sha256": settings_digest(settings),
            "content_sha256": content_digest(h5)}


def _check_shards(h5: h5py.File, path: Path) -> None:
    """Refuse a combined file whose shards changed after ``combine`` (regenerated, replaced, other seed)."""
    if "shards" not in h5.attrs:
        return
    rerun = f"rerun `python -m radarface.dataset combine --out {path} <shard files>`"
    if "shard_identity" not in h5.attrs:
        raise ValueError(f"{path} was combined by an older radarface that did not record its shards' identity, so "
                         f"a changed shard would go unnoticed; {rerun} to record it")
    combined = read_settings(h5)
    for file, recorded in zip(read_json_attr(h5, "shards"), read_json_attr(h5, "shard_identity")):
        with h5py.File(path.parent / file, "r") as shard:
            now = shard_identity(shard)
            if now == recorded:
                continue
            was = {**combined, "index_start": recorded["index_start"], "index_stop": recorded["index_stop"]}
            diffs = settings_diff(was, read_settings(shard), ignore=COSMETIC_SETTINGS)
        what = "; ".join(diffs) if diffs else "its arrays differ (content checksum)"
        raise ValueError(f"{path} combines shard {file}, which changed after combine: {what}. Regenerate the shard "
                         f"with its original settings (seed {recorded['seed']}), or {rerun} to use the shards as "
                         "they are now")


def _check_virtual_sources(h5: h5py.File, path: Path) -> None:
    """A combined file reads zeros, silently, where a shard file is missing: refuse instead."""
    for name in REQUIRED_FIELDS:
        if not h5[name].is_virtual:
            continue
        for source in sorted({vs.file_name for vs in h5[name].virtual_sources()}):
            if source != "." and not (path.parent / source).exists():
                raise ValueError(f"{path} combines shard files, and {source} is missing beside it "
                                 f"(looked in {path.parent}); keep the shards with the combined file")
