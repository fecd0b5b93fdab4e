"""Run a generation: worker processes render blocks of samples, this process writes them.

The work is described by a picklable *sample source*: an object with ``setup()`` (called
once per worker, e.g. to load the face model) and ``__call__(index) -> dict of arrays``
(one sample, deterministic in ``index``). :func:`write_dataset` skips the samples already
in the journal, farms the rest out in blocks, journals each finished block (see
:mod:`radarface.dataset.store`), and assembles the HDF5 file at the end. Ctrl-C or SIGTERM
stops cleanly, writes a partial snapshot and says how to resume; ``kill -9`` loses only the
blocks being rendered.
"""

from __future__ import annotations

import contextlib
import json
import math
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, Protocol

import h5py
import numpy as np
from radarface import progress as progress_bars
from radarface.dataset import schema, store
from radarface.dataset.store import Fields, Journal
from radarface.runtime import exclusive_lock, exit_with_parent, resolve_workers, single_threaded_children


class SampleSource(Protocol):
    """What a worker renders: ``setup()`` once, then one dict of arrays per sample index."""

    def setup(self) -> None: ...

    def __call__(self, index: int) -> dict[str, np.ndarray]: ...


class SampleError(RuntimeError):
    """A sample failed to render; the message names its index."""


class Interrupted(KeyboardInterrupt):
    """Generation stopped by Ctrl-C or SIGTERM; finished samples are kept."""


def plan_blocks(todo: np.ndarray, start: int, size: int) -> list[tuple[int, int]]:
    """Split the unfinished rows ``todo`` (bool, per row) into index spans of at most ``size``."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], todo.astype(np.int8), [0]])))
    spans = []
    for a, b in zip(edges[::2], edges[1::2]):
        spans += [(start + lo, start + min(int(b), lo + size)) for lo in range(int(a), int(b), size)]
    return spans


Span = tuple[int, int, dict[str, np.ndarray], float]


def _render_span(source: SampleSource, span: tuple[int, int]) -> Span:
    """``(start, stop, stacked arrays, CPU seconds spent)`` for the samples ``start..stop-1``."""
    rows, cpu = [], time.process_time()
    for index in range(*span):
        try:
            rows.append(source(index))
        except Exception as err:  # noqa: BLE001 - re-raised with the sample's index
            raise SampleError(f"sample {index} failed: {type(err).__name__}: {err}") from err
    arrays = {name: np.stack([row[name] for row in rows]) for name in rows[0]}
    return span[0], span[1], arrays, time.process_time() - cpu


_WORKER_SOURCE: SampleSource | None = None


def _init_worker(source: SampleSource, parent_pid: int) -> None:
    global _WORKER_SOURCE
    exit_with_parent(parent_pid)
    # Ctrl-C goes to the whole process group; the parent alone decides how to stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    source.setup()
    if "torch" in sys.modules:  # parallelism comes from processes, not from threads within one
        sys.modules["torch"].set_num_threads(1)
    _WORKER_SOURCE = source


def _worker_span(span: tuple[int, int]) -> Span:
    assert _WORKER_SOURCE is not None
    return _render_span(_WORKER_SOURCE, span)


def _context(source: SampleSource) -> mp.context.BaseContext:
    """Forkserver (else spawn): safe with torch and threads running here, unlike fork.

    The fork server, started on first use, imports the source's module (the renderer,
    torch) once; every later worker is forked from it, so a pool starts in well under a
    second instead of re-importing torch in each worker.
    """
    if "forkserver" not in mp.get_all_start_methods():
        return mp.get_context("spawn")
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload([type(source).__module__])
    return ctx


@contextlib.contextmanager
def _results(source: SampleSource, spans: list[tuple[int, int]], workers: int) -> Iterator[Iterator]:
    """Finished spans ``(start, stop, arrays, cpu_seconds)`` in completion order, from ``workers`` processes."""
    if not spans:  # e.g. a rerun that only assembles: no renderer to set up
        yield iter(())
        return
    if workers == 1 or len(spans) == 1:
        source.setup()
        yield (_render_span(source, span) for span in spans)
        return
    # an executor, not multiprocessing.Pool: a worker killed by the OOM killer breaks it
    # (an error) instead of hanging the run forever on the lost task
    with single_threaded_children():
        executor = ProcessPoolExecutor(min(workers, len(spans)), mp_context=_context(source),
                                       initializer=_init_worker, initargs=(source, os.getpid()))
        futures = {executor.submit(_worker_span, span): span for span in spans}

    def finished() -> Iterator[Span]:
        for future in as_completed(futures):
            try:
                yield future.result()
            except BrokenProcessPool:
                a, b = futures[future]
                raise SampleError(f"a worker process died (killed, out of memory or crashed) while rendering "
                                  f"samples {a}..{b - 1}; finished samples are kept, rerun to continue") from None

    clean = False
    try:
        yield finished()
        clean = True
    finally:
        processes = list((getattr(executor, "_processes", None) or {}).values())
        executor.shutdown(wait=clean, cancel_futures=True)
        if not clean:  # stop workers mid-sample: their blocks are simply rendered again on resume
            for process in processes:
                process.terminate()
            for process in processes:
                process.join()


@contextlib.contextmanager
def _stop_on_sigterm() -> Iterator[None]:
    """Turn SIGTERM (batch schedulers' time limit) into :class:`Interrupted` while generating."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise Interrupted("terminated by SIGTERM")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _exclusive(journal: Journal) -> contextlib.AbstractContextManager[None]:
    """Hold a lock on the journal so two processes never generate into one file."""
    return exclusive_lock(journal.dir / "lock", f"another process is generating {journal.path} (lock held on "
                                                f"{journal.dir / 'lock'}); wait for it or choose another --out")


def _existing(path: Path) -> tuple[dict[str, Any], bool] | None:
    """(settings, complete) of an existing dataset file, or None if it cannot be read."""
    try:
        with h5py.File(path, "r") as h5:
            return schema.read_settings(h5), bool(h5.attrs["complete"])
    except (OSError, KeyError, ValueError):
        return None


def write_dataset(path: Path | str, fields: Fields, settings: dict[str, Any], extra_attrs: dict[str, Any],
                  source: SampleSource, *, workers: int = 0, progress: bool = True,
                  block_size: int | None = None) -> Path:
    """Generate (or finish, or reuse) the dataset file ``path``; returns its path.

    ``settings`` must hold ``index_start`` and ``index_stop`` (the global sample indices of
    this file); a file or journal made with other settings is refused, naming the setting.
    A complete file with the same settings is returned untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    journal = Journal(path)
    start, stop = int(settings["index_start"]), int(settings["index_stop"])
    snapshot = None
    if path.exists():
        snapshot = _existing(path)
        if snapshot is None and not journal.exists():
            raise ValueError(f"{path} exists but is not a readable dataset file (truncated or corrupt?); "
                             "delete it or choose another --out")
        if snapshot is not None:
            old, complete = snapshot
            schema.check_settings(path, old, settings, what="dataset",
                                  ignore=schema.COSMETIC_SETTINGS if complete else ())
            if complete:
                journal.remove()  # left over if a run died between the final rename and cleanup
                progress_bars.record_stage(path, made=False,
                                           seconds=_whole_file_seconds(schema.generation_stats(path) or {}, stop - start))
                return path
    with _exclusive(journal):
        try:
            _generate_locked(path, journal, fields, settings, extra_attrs, source, snapshot is not None,
                             workers=workers, progress=progress, block_size=block_size)
        except store.DiskFull as err:
            raise _saved_so_far(err, journal, start, stop) from None
    return path


def _whole_file_seconds(stats: dict[str, Any], n: int) -> float | None:
    """Wall seconds that all ``n`` samples take at the rate of the run that finished the file (``stats``
    of ``generation.json``): a resumed run rendered only the rest, in fewer seconds than the file costs."""
    seconds, rendered = stats.get("seconds"), stats.get("rendered")
    return seconds * n / rendered if seconds is not None and rendered else seconds


def _generate_locked(path: Path, journal: Journal, fields: Fields, settings: dict[str, Any],
                     extra_attrs: dict[str, Any], source: SampleSource, has_snapshot: bool, *,
                     workers: int, progress: bool, block_size: int | None) -> None:
    """The body of :func:`write_dataset` once the journal's lock is held: render what is missing, assemble."""
    start, stop = int(settings["index_start"]), int(settings["index_stop"])
    for stale in path.parent.glob(f".tmp-*-{path.name}"):  # a snapshot or final file cut short
        stale.unlink(missing_ok=True)
    if journal.exists():
        schema.check_settings(path, journal.settings(), settings, what="unfinished dataset")
    else:
        journal.create(settings)
        if has_snapshot:
            store.import_snapshot(path, journal, fields)
    done = store.done_mask(journal.verified_blocks(fields), start, stop)
    workers = resolve_workers(workers)
    todo = int((~done).sum())
    size = block_size or max(1, min(8, math.ceil(todo / (8 * workers))))
    spans = plan_blocks(~done, start, size)
    bar = progress_bars.bar(total=stop - start, initial=int(done.sum()), unit="sample", desc=path.name,
                            disable=not progress, mininterval=1.0, smoothing=0.05, file=sys.stderr)
    began, rendered, cpu_seconds = time.perf_counter(), 0, 0.0
    try:
        with _stop_on_sigterm(), _results(source, spans, workers) as results:
            for a, b, arrays, cpu in results:
                journal.write_block(a, b, _conform(arrays, fields, a, b))
                bar.update(b - a)
                rendered, cpu_seconds = rendered + b - a, cpu_seconds + cpu
    except KeyboardInterrupt as err:
        bar.close()
        _on_interrupt(path, journal, fields, settings, extra_attrs, err)
        raise Interrupted(str(err) or "interrupted") from None
    finally:
        bar.close()  # also when the disk fills or a sample fails, so the error is not mixed into the bar
    seconds = time.perf_counter() - began
    # provenance of the run that finished the file: wall-clock rate (pool start-up included)
    # and CPU time per sample, which other load on the machine does not inflate
    stats = {"workers": workers, "rendered": rendered, "seconds": round(seconds, 3),
             "samples_per_s": round(rendered / seconds, 4) if rendered and seconds > 0 else None,
             "cpu_s_per_sample": round(cpu_seconds / rendered, 4) if rendered else None}
    store.assemble(path, journal, fields, settings, extra_attrs, complete=True)
    journal.remove()  # first: frees the space the sidecar may need
    progress_bars.record_stage(path, made=True, seconds=_whole_file_seconds(stats, stop - start))
    try:
        schema.generation_log_path(path).write_text(json.dumps(stats, indent=1) + "\n")
    except OSError as err:  # the dataset is complete; only its timings are lost
        warnings.warn(f"{path} is complete, but its timings could not be written to "
                      f"{schema.generation_log_path(path).name}: {err}", stacklevel=3)


def _saved_so_far(err: store.DiskFull, journal: Journal, start: int, stop: int) -> store.DiskFull:
    """``err`` restated for the user: how many samples the journal keeps, and how to go on."""
    try:
        n_done = int(store.done_mask(journal.blocks(), start, stop).sum())
    except OSError:
        n_done = 0
    return store.DiskFull(err.errno, f"{err}. {n_done} of {stop - start} samples are saved in the journal "
                                     f"{journal.dir}; free some space and rerun the same command to resume",
                          err.filename)


def _conform(arrays: dict[str, np.ndarray], fields: Fields, a: int, b: int) -> dict[str, np.ndarray]:
    """Arrays cast to the field dtypes, checked against the field shapes."""
    out = {}
    for name, (row_shape, dtype) in fields.items():
        if name not in arrays:
            raise SampleError(f"samples {a}..{b - 1}: the renderer returned no {name!r} (got {sorted(arrays)})")
        value = np.asarray(arrays[name], dtype=dtype)
        if value.shape != (b - a, *row_shape):
            raise SampleError(f"samples {a}..{b - 1}: {name} has shape {value.shape[1:]}, expected {row_shape}")
        out[name] = value
    return out


def _on_interrupt(path: Path, journal: Journal, fields: Fields, settings: dict[str, Any],
                  extra_attrs: dict[str, Any], err: BaseException) -> None:
    """Write a partial snapshot (readable with ``allow_incomplete=True``) and say how to resume."""
    blocks = journal.blocks()
    n_done = int(store.done_mask(blocks, settings["index_start"], settings["index_stop"]).sum())
    total = settings["index_stop"] - settings["index_start"]
    if blocks:
        with contextlib.suppress(Exception):  # the journal is the record; the snapshot is a courtesy
            store.assemble(path, journal, fields, settings, extra_attrs, complete=False)
    why = str(err) or "interrupted"
    print(f"\n{why}: {n_done} of {total} samples of {path} are saved (in {journal.dir}). "
          "Rerun the same command to finish the file.", file=sys.stderr, flush=True)
