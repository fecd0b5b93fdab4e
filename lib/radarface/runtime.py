"""Process-level helpers shared by the long-running jobs: locks, torch threads, determinism, worker processes.

>>> import tempfile, pathlib
>>> with exclusive_lock(pathlib.Path(tempfile.mkdtemp()) / "job.lock", "busy"):
...     pass
"""

from __future__ import annotations

import contextlib
import fcntl
import multiprocessing as mp
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import torch

#: Thread-count variables set to 1 in worker processes: parallelism comes from processes.
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")
T = TypeVar("T")
R = TypeVar("R")


@contextlib.contextmanager
def exclusive_lock(path: Path, busy: str) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` for the block; raise ``ValueError(busy)`` if another process holds it.

    The lock goes with the file descriptor, so it is released also when the holder is killed.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise ValueError(busy) from None
        yield


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``n`` torch threads (None: unchanged). Under other load, 1 is often
    fastest: idle OpenMP threads spin while they wait for cores."""
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextlib.contextmanager
def deterministic(threads: int | None = None, seed: int | None = None) -> Iterator[int]:
    """Run the block with ``threads`` torch threads (None: all cores), deterministic algorithms and a forked
    global generator (seeded with ``seed`` if given); everything is restored afterwards. Yields the thread count.

    Within it, the same code on the same machine and thread count gives the same numbers, bit for bit.
    """
    threads = int(threads or os.cpu_count() or 1)
    old_det = torch.are_deterministic_algorithms_enabled()
    old_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        with torch_threads(threads), torch.random.fork_rng(devices=[]):
            if seed is not None:
                torch.manual_seed(int(seed))
            yield threads
    finally:
        torch.use_deterministic_algorithms(old_det, warn_only=old_warn)


def resolve_workers(workers: int) -> int:
    """Worker count: ``0`` means every core this process may use."""
    if workers < 0:
        raise ValueError(f"workers must be >= 0 (0 = all cores), got {workers}")
    if workers == 0:
        try:
            return len(os.sched_getaffinity(0))
        except AttributeError:
            return os.cpu_count() or 1
    return workers


def exit_with_parent(parent_pid: int, every_s: float = 1.0) -> None:
    """In a worker process: end it (at once, no clean-up) as soon as process ``parent_pid`` is gone.

    A job killed with ``kill -9`` cannot stop its workers, and their own parent is the
    forkserver, not the job, so the kernel's parent-death signal does not reach them:
    a daemon thread watches the job instead.
    """
    def watch() -> None:
        while True:
            time.sleep(every_s)
            try:
                os.kill(parent_pid, 0)
            except ProcessLookupError:
                os._exit(3)
            except PermissionError:
                continue  # alive, owned by someone else

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


@contextlib.contextmanager
def single_threaded_children() -> Iterator[None]:
    """Spawned children inherit the environment at start: make their math libraries single-threaded."""
    saved = {name: os.environ.get(name) for name in _THREAD_VARS}
    os.environ.update({name: "1" for name in _THREAD_VARS})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


_TASK: dict[str, Any] = {}


def _init_task(function: Callable, parent_pid: int) -> None:
    exit_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent alone decides how to stop
    torch.set_num_threads(1)
    _TASK["function"] = function


def _run_task(item: Any) -> Any:
    return _TASK["function"](item)


def process_context() -> mp.context.BaseContext:
    """The multiprocessing context for worker processes: forkserver where there is one, else spawn (fork is unsafe with torch)."""
    return mp.get_context("forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn")


def process_map(function: Callable[[T], R], items: Iterable[T], workers: int) -> Iterator[R]:
    """``function(item)`` for every item, in order: here with one torch thread if ``workers`` is 1 (or
    one item), else in ``workers`` processes with one thread each (0 = all cores).

    ``function`` must be picklable (a module-level function, or a ``functools.partial`` of one whose
    bound arguments, e.g. a face model, go to each worker once). A worker killed with the parent
    (``kill -9``) ends itself; an error in a worker is raised here.
    """
    items = list(items)
    workers = min(resolve_workers(int(workers)), max(len(items), 1))
    if workers == 1:
        with torch_threads(1):
            yield from map(function, items)
        return
    ctx = process_context()
    if ctx.get_start_method() == "forkserver":
        target = getattr(function, "func", function)
        ctx.set_forkserver_preload([target.__module__])  # import it (and torch) once, fork workers from it
    with single_threaded_children():
        executor = ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_task,
                                       initargs=(function, os.getpid()))
    clean = False
    try:
        yield from executor.map(_run_task, items)
        clean = True
    finally:
        processes = list((getattr(executor, "_processes", None) or {}).values())
        executor.shutdown(wait=clean, cancel_futures=True)
        if not clean:  # Ctrl-C or an error here: stop the workers mid-task rather than wait for them
            for process in processes:
                process.terminate()
            for process in processes:
                process.join()
