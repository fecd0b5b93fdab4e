"""Process-level helpers shared by the long-running jobs (dataset generation, training).

>>> import tempfile, pathlib
>>> with exclusive_lock(pathlib.Path(tempfile.mkdtemp()) / "job.lock", "busy"):
...     pass
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path


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
