"""Crash-safe storage of a generation: a journal of finished blocks, assembled into HDF5.

An HDF5 file whose writer dies mid-write may be unreadable, so nothing is ever written
into the final file in place. Finished blocks of samples go to ``<file>.parts/`` as small
``.npz`` files, each written to a temporary name, flushed to disk and renamed (a rename is
atomic), so a block is either wholly there or absent whatever moment the process dies.
``manifest.json`` records the settings the blocks were made with. When all blocks are
there, :func:`assemble` writes the HDF5 file under a temporary name, sets ``complete``
last, and renames it into place; only then is the journal removed. An interrupted run
can also :func:`assemble` a partial snapshot (``complete = False``) for inspection.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import warnings
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from radarface.dataset import schema

#: Per-sample field layout: name -> (row shape, dtype).
Fields = dict[str, tuple[tuple[int, ...], str]]

_BLOCK = re.compile(r"^block_(\d{9})_(\d{9})\.npz$")


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (survives a power cut)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # not possible on every platform; the rename itself is still atomic
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _atomic_write(target: Path, write) -> None:
    """Call ``write(file)`` on a temporary file, fsync it and rename it to ``target``."""
    tmp = target.with_name(f".tmp-{os.getpid()}-{target.name}")
    with open(tmp, "wb") as fh:
        write(fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, target)
    _fsync_dir(target.parent)


class Journal:
    """The ``<file>.parts/`` folder of one generation: manifest plus finished blocks."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.dir = schema.journal_dir(self.path)

    def exists(self) -> bool:
        """Whether a manifest has been written (a generation was started)."""
        return (self.dir / "manifest.json").is_file()

    def settings(self) -> dict[str, Any]:
        """The settings recorded when the generation started."""
        try:
            return json.loads((self.dir / "manifest.json").read_text())
        except (OSError, ValueError) as err:
            raise ValueError(f"journal {self.dir} has an unreadable manifest.json ({err}); "
                             "delete the folder to start over") from None

    def create(self, settings: dict[str, Any]) -> None:
        """Start a journal for ``settings``."""
        self.dir.mkdir(parents=True, exist_ok=True)
        text = json.dumps(settings, sort_keys=True, indent=1).encode()
        _atomic_write(self.dir / "manifest.json", lambda fh: fh.write(text))

    def blocks(self) -> list[tuple[int, int, Path]]:
        """Finished blocks ``(start, stop, file)`` in index order."""
        found = []
        for entry in self.dir.iterdir():
            match = _BLOCK.match(entry.name)
            if match:
                found.append((int(match[1]), int(match[2]), entry))
        return sorted(found)

    def write_block(self, start: int, stop: int, arrays: dict[str, np.ndarray]) -> None:
        """Durably store the samples ``start..stop-1`` (global indices)."""
        name = f"block_{start:09d}_{stop:09d}.npz"
        _atomic_write(self.dir / name, lambda fh: np.savez(fh, **arrays))

    def verified_blocks(self, fields: Fields) -> list[tuple[int, int, Path]]:
        """Blocks that load and match ``fields``; unreadable ones and leftover temporaries are deleted.

        Only for the process holding the journal's lock (others may be writing temporaries).
        """
        for entry in self.dir.glob(".tmp-*"):
            entry.unlink(missing_ok=True)
        good = []
        for start, stop, file in self.blocks():
            try:
                load_block(file, start, stop, fields)
            except Exception as err:  # noqa: BLE001 - zip, npy and shape errors alike mean "damaged"
                warnings.warn(f"discarding damaged block {file.name} ({err}); it will be regenerated",
                              stacklevel=2)
                file.unlink(missing_ok=True)
                continue
            good.append((start, stop, file))
        return good

    def remove(self) -> None:
        """Delete the journal folder."""
        shutil.rmtree(self.dir, ignore_errors=True)


def load_block(file: Path, start: int, stop: int, fields: Fields) -> dict[str, np.ndarray]:
    """The arrays of one block file, checked against ``fields``; ValueError if they do not fit."""
    with np.load(file, allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in fields}
    for name, (row_shape, dtype) in fields.items():
        expected = (stop - start, *row_shape)
        if arrays[name].shape != expected or arrays[name].dtype != np.dtype(dtype):
            raise ValueError(f"{name} is {arrays[name].shape} {arrays[name].dtype}, expected {expected} {dtype}")
    return arrays


def done_mask(blocks: list[tuple[int, int, Path]], start: int, stop: int) -> np.ndarray:
    """(stop - start,) bool: which samples of the index range the blocks hold."""
    done = np.zeros(stop - start, dtype=bool)
    for a, b, _ in blocks:
        done[a - start:b - start] = True
    return done


def _create_fields(h5: h5py.File, n: int, fields: Fields) -> None:
    for name, (row_shape, dtype) in fields.items():
        if len(row_shape) >= 2:  # images: one chunk per sample, so a reader decodes only what it needs
            chunks = (1, *row_shape)
        else:
            chunks = (max(1, min(n, 4096)), *row_shape)
        h5.create_dataset(name, shape=(n, *row_shape), dtype=dtype, chunks=chunks,
                          compression="gzip", compression_opts=4, shuffle=True, fillvalue=0)


def assemble(path: Path, journal: Journal, fields: Fields, settings: dict[str, Any],
             extra_attrs: dict[str, Any], *, complete: bool) -> Path:
    """Write ``path`` from the journal (temporary name, ``complete`` set last, atomic rename).

    With ``complete=False`` a partial snapshot is written (rows not yet rendered are zero,
    ``done`` tells which are real). Returns ``path``.
    """
    start, stop = settings["index_start"], settings["index_stop"]
    blocks = journal.blocks()
    done = done_mask(blocks, start, stop)
    if complete and not done.all():
        raise RuntimeError(f"cannot finish {path}: {int((~done).sum())} samples are missing from the journal")
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    with h5py.File(tmp, "w") as h5:
        _create_fields(h5, stop - start, fields)
        h5.create_dataset("done", data=done)
        for a, b, file in blocks:
            arrays = load_block(file, a, b, fields)
            for name in fields:
                h5[name][a - start:b - start] = arrays[name]
        schema.write_attrs(h5, settings, extra_attrs)
        h5.attrs["complete"] = False
        h5.flush()
        h5.attrs["complete"] = bool(complete)
    atomic_rename(tmp, path)
    return path


def atomic_rename(tmp: Path, target: Path) -> None:
    """Flush the finished file ``tmp`` to disk and rename it to ``target`` (all or nothing)."""
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, target)
    _fsync_dir(target.parent)


def import_snapshot(path: Path, journal: Journal, fields: Fields) -> int:
    """Copy the finished rows of a partial snapshot ``path`` into the journal; returns how many."""
    with h5py.File(path, "r") as h5:
        start = int(schema.read_settings(h5)["index_start"])
        done = h5["done"][:]
        # contiguous runs of finished rows become blocks
        edges = np.flatnonzero(np.diff(np.concatenate([[0], done.astype(np.int8), [0]])))
        for a, b in zip(edges[::2], edges[1::2]):
            for lo in range(int(a), int(b), 256):
                hi = min(int(b), lo + 256)
                journal.write_block(start + lo, start + hi, {name: h5[name][lo:hi] for name in fields})
    return int(done.sum())
