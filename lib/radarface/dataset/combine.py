"""Join shard files (``generate --shard K/M``) into one dataset without copying (HDF5 virtual datasets)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import h5py

from radarface.dataset import schema
from radarface.dataset.store import DiskFull, writing_hdf5

#: Attributes describing one file's own range or state, not shared by all shards.
_PER_FILE = {"settings", "complete", "index_start", "index_stop", "shards", "shard_identity", "content_sha256"}


def combine(paths: list[str | Path], out: str | Path) -> Path:
    """Write ``out``: virtual datasets mapping onto the shards' rows; returns ``out``.

    The shards must share every setting except their index ranges, and the ranges must
    tile ``[0, n)``. Nothing is copied: ``out`` reads from the shard files, found relative
    to its own folder, so keep them together. ``out`` is complete only if every shard is.
    Each shard's identity (seed, settings and content digests) is recorded, and opening
    ``out`` refuses a shard that has changed since.
    """
    if not paths:
        raise ValueError("combine needs at least one shard file, got none")
    out = Path(out)
    shards = []
    for path in map(Path, paths):
        with schema.open_dataset_file(path, allow_incomplete=True) as h5:
            shards.append({
                "path": path, "settings": schema.read_settings(h5), "complete": bool(h5.attrs["complete"]),
                "attrs": {k: v for k, v in h5.attrs.items() if k not in _PER_FILE},
                "layout": {name: (h5[name].shape, h5[name].dtype) for name in schema.REQUIRED_FIELDS},
                "identity": schema.shard_identity(h5),
            })
    shards.sort(key=lambda s: s["settings"]["index_start"])
    first = shards[0]
    common = lambda s: {k: v for k, v in s.items() if k not in ("index_start", "index_stop")}  # noqa: E731
    for shard in shards[1:]:
        diffs = schema.settings_diff(common(first["settings"]), common(shard["settings"]),
                                     ignore=schema.COSMETIC_SETTINGS)
        if diffs:
            raise ValueError(f"shards {first['path']} and {shard['path']} differ: {'; '.join(diffs)}")
    n, expected = int(first["settings"]["n"]), 0
    for shard in shards:
        start, stop = shard["settings"]["index_start"], shard["settings"]["index_stop"]
        if start != expected:
            raise ValueError(f"shard {shard['path']} covers samples {start}..{stop - 1}, expected it to start "
                             f"at {expected}: a shard is missing or overlaps")
        expected = stop
    if expected != n:
        raise ValueError(f"the shards cover samples 0..{expected - 1} of {n}: shard(s) missing at the end")

    settings: dict[str, Any] = {**first["settings"], "index_start": 0, "index_stop": n}
    rel = [os.path.relpath(s["path"].resolve(), out.resolve().parent) for s in shards]
    out.parent.mkdir(parents=True, exist_ok=True)
    # virtual datasets hold only their mappings: a few kB per shard and field, plus the attributes
    n_bytes = (1 << 20) + 4096 * len(shards) * len(schema.REQUIRED_FIELDS) + 4 * len(json.dumps(settings))
    try:
        _write(out, n_bytes, shards, rel, settings)
    except DiskFull as err:
        raise DiskFull(err.errno, f"{err}; nothing was written: free some space and rerun combine",
                       err.filename) from None
    return out


def _write(out: Path, n_bytes: int, shards: list[dict[str, Any]], rel: list[str], settings: dict[str, Any]) -> None:
    """The combined file: virtual datasets over the shards' rows, their identities, the common attributes."""
    first, n = shards[0], int(settings["n"])
    with writing_hdf5(out, n_bytes) as h5:
        for name in schema.REQUIRED_FIELDS:
            shape, dtype = first["layout"][name]
            layout = h5py.VirtualLayout(shape=(n, *shape[1:]), dtype=dtype)
            for shard, source in zip(shards, rel):
                shard_shape = shard["layout"][name][0]
                start = shard["settings"]["index_start"]
                layout[start:start + shard_shape[0]] = h5py.VirtualSource(source, name, shape=shard_shape)
            h5.create_virtual_dataset(name, layout, fillvalue=0)
        schema.write_attrs(h5, settings, first["attrs"])
        h5.attrs["shards"] = json.dumps(rel)
        h5.attrs["shard_identity"] = json.dumps([s["identity"] for s in shards], sort_keys=True)
        h5.attrs["complete"] = all(s["complete"] for s in shards)
