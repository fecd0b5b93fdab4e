"""Crash-safe storage of a generation: a journal of finished blocks, assembled into HDF5.

An HDF5 file whose writer dies mid-write may be unreadable, so nothing is ever written
into the final file in place. Finished blocks of samples go to ``<file>.parts/`` as small
``.npz`` files, each written to a temporary name, flushed to disk and renamed (a rename is
atomic), so a block is either wholly there or absent whatever moment the process dies.
``manifest.json`` records the settings the blocks were made with. When all blocks are
there, :func:`assemble` writes the HDF5 file under a temporary name, sets ``complete``
last, and renames it into place; only then is the journal removed. An interrupted run
can also :func:`assemble` a partial snapshot (``complete = False``) for inspection.

A full disk (or quota, or file size limit) is reported as :class:`DiskFull`, naming the
file, with no temporary file left behind. HDF5 cannot fail a write gracefully (a full disk
mid-file crashes the process), so :func:`assemble` first reserves an upper bound of the
file's size; if the reservation fails nothing has been written.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import re
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from radarface.dataset import schema

#: Per-sample field layout: name -> (row shape, dtype).
Fields = dict[str, tuple[tuple[int, ...], str]]

_BLOCK = re.compile(r"^block_(\d{9})_(\d{9})\.npz$")

#: errno values meaning "no room for this write": device full, quota reached, file size limit.
NO_ROOM = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


class DiskFull(OSError):
    """No room to write ``filename`` (device full, quota, file size limit); files written before are intact."""

    def __str__(self) -> str:
        return str(self.strerror)


def no_room(err: BaseException) -> bool:
    """Whether ``err`` is a write that failed for lack of space."""
    return isinstance(err, OSError) and err.errno in NO_ROOM


def disk_full(err: OSError, target: Path, needed_bytes: int | None = None) -> DiskFull:
    """``err`` as a :class:`DiskFull` whose message names ``target``, the free space and, if known, the need."""
    try:
        free = f"{shutil.disk_usage(target.parent).free / 1e6:.1f} MB free"
    except OSError:
        free = "free space unknown"
    need = f"needs up to {needed_bytes / 1e6:.1f} MB, " if needed_bytes is not None else ""
    why = {errno.EDQUOT: "the disk quota is reached", errno.EFBIG: "the file size limit is reached"}
    return DiskFull(err.errno, f"{why.get(err.errno, 'the disk is full')} while writing {target} ({need}{free})",
                    str(target))


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
    """Call ``write(file)`` on a temporary file, fsync it and rename it to ``target``; DiskFull if no room."""
    tmp = target.with_name(f".tmp-{os.getpid()}-{target.name}")
    try:
        with open(tmp, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException as err:
        tmp.unlink(missing_ok=True)
        if no_room(err):
            raise disk_full(err, target) from None
        raise
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
        h5.create_dataset(name, shape=(n, *row_shape), dtype=dtype, chunks=_chunks(n, row_shape),
                          compression="gzip", compression_opts=4, shuffle=True, fillvalue=0)


def _chunks(n: int, row_shape: tuple[int, ...]) -> tuple[int, ...]:
    """Images: one chunk per sample, so a reader decodes only what it needs; vectors: up to 4096 rows."""
    return (1, *row_shape) if len(row_shape) >= 2 else (max(1, min(n, 4096)), *row_shape)


def size_bound(n: int, fields: Fields, attrs_bytes: int) -> int:
    """An upper bound (bytes) of the HDF5 file :func:`assemble` writes for ``n`` rows.

    Deflate never grows a chunk by more than 0.1 % + 12 bytes (zlib's bound, which HDF5's
    filter allocates); each chunk also costs a B-tree entry (< 100 bytes); attributes are
    stored once in the header and once more in the spread-out copies; 1 MiB covers the
    object headers, the superblock and the ``done`` flags' page.
    """
    total = 1 << 20
    for row_shape, dtype in fields.values():
        rows = _chunks(n, row_shape)[0]
        n_chunks = -(-n // rows)
        chunk_bytes = rows * int(np.prod(row_shape, dtype=np.int64)) * np.dtype(dtype).itemsize
        total += n_chunks * (chunk_bytes + chunk_bytes // 1000 + 12 + 100)
    return total + n + 2 * attrs_bytes


def assemble(path: Path, journal: Journal, fields: Fields, settings: dict[str, Any],
             extra_attrs: dict[str, Any], *, complete: bool) -> Path:
    """Write ``path`` from the journal (temporary name, ``complete`` set last, atomic rename).

    With ``complete=False`` a partial snapshot is written (rows not yet rendered are zero,
    ``done`` tells which are real). The attribute ``content_sha256`` is a
    :class:`~radarface.dataset.schema.ContentDigest` of the rows. Returns ``path``;
    :class:`DiskFull` (and no temporary file) if the disk cannot hold it.
    """
    start, stop = settings["index_start"], settings["index_stop"]
    blocks = journal.blocks()
    done = done_mask(blocks, start, stop)
    if complete and not done.all():
        raise RuntimeError(f"cannot finish {path}: {int((~done).sum())} samples are missing from the journal")
    attrs_bytes = len(json.dumps([settings, extra_attrs], default=str))
    with writing_hdf5(path, size_bound(stop - start, fields, attrs_bytes)) as h5:
        _create_fields(h5, stop - start, fields)
        h5.create_dataset("done", data=done)
        digest = schema.ContentDigest(fields)
        for a, b, file in blocks:
            arrays = load_block(file, a, b, fields)
            digest.update(arrays)
            for name in fields:
                h5[name][a - start:b - start] = arrays[name]
        schema.write_attrs(h5, settings, extra_attrs)
        h5.attrs["content_sha256"] = digest.hexdigest(done)
        h5.attrs["complete"] = False
        h5.flush()
        h5.attrs["complete"] = bool(complete)
    return path


@contextlib.contextmanager
def writing_hdf5(path: Path, n_bytes: int) -> Iterator[h5py.File]:
    """``path`` written as an HDF5 file under a temporary name with ``n_bytes`` of disk reserved, renamed at the end.

    On any error the temporary file is removed; a lack of space is raised as :class:`DiskFull`
    naming ``path``, before HDF5 has written anything if the reservation fails.
    """
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    try:
        _reserve(tmp, path, n_bytes)
        with h5py.File(tmp, "r+") as h5:
            yield h5
        atomic_rename(tmp, path)
    except BaseException as err:
        tmp.unlink(missing_ok=True)
        if no_room(err) and not isinstance(err, DiskFull):
            raise disk_full(err, path) from None
        raise


def _reserve(tmp: Path, target: Path, n_bytes: int) -> None:
    """Write an empty HDF5 file ``tmp`` with ``n_bytes`` of disk reserved behind it; DiskFull if there is no room.

    The empty file is made in memory and written here, so a full disk fails in Python, not
    inside HDF5. HDF5 truncates the file to its real end when it is closed, so the
    reservation costs nothing in the end and the bytes are those of a file written without it.
    """
    buffer = io.BytesIO()
    with h5py.File(buffer, "w"):
        pass
    with open(tmp, "wb") as fh:
        fh.write(buffer.getvalue())
        fh.flush()
        try:
            os.posix_fallocate(fh.fileno(), 0, n_bytes)
        except AttributeError:
            pass  # macOS, Windows: no reservation; HDF5 takes the space as it goes
        except OSError as err:
            if no_room(err):
                raise disk_full(err, target, n_bytes) from None
            # other errors: the filesystem cannot reserve; write without a reservation


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
