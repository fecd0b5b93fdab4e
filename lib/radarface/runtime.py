"""Process-level helpers shared by the long-running jobs: locks, torch threads, determinism.

>>> import tempfile, pathlib
>>> with exclusive_lock(pathlib.Path(tempfile.mkdtemp()) / "job.lock", "busy"):
...     pass
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

import torch


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
