"""Progress bars that also reach the batch runner's console.

A notebook executed by :mod:`radarface.run` writes its bars to the notebook's own output,
which the console running ``make reproduce`` never sees: there a 30-minute dataset cell
looks frozen. When ``$RADARFACE_STATUS`` names a file, every bar made by :func:`bar`
also writes its current line there (at most once every ``mininterval`` seconds, atomically),
and the runner echoes that line beside the notebook's name.

>>> with bar(total=3, desc="demo", disable=True) as b:
...     b.update(3)
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from tqdm import tqdm

#: Environment variable naming the status file a running notebook's bars report to.
STATUS_ENV: str = "RADARFACE_STATUS"


def write_status(line: str, path: str | Path | None = None) -> None:
    """Replace the status file's content by ``line`` (no-op when no status file is set)."""
    target = path or os.environ.get(STATUS_ENV)
    if not target:
        return
    target = Path(target)
    tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(line.strip() + "\n")
        os.replace(tmp, target)
    except OSError:
        pass  # a status line is a courtesy: never let it fail the computation


def read_status(path: str | Path) -> str:
    """The status file's current line ('' if there is none yet)."""
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


class _ReportingBar(tqdm):
    """A tqdm bar whose every refresh is mirrored to the status file."""

    def display(self, msg: str | None = None, pos: int | None = None) -> bool | None:
        shown = super().display(msg, pos)
        write_status(str(self))
        return shown

    def close(self) -> None:
        if not self.disable:
            write_status(str(self))
        super().close()
        quiet = getattr(self, "close_file", None)
        if quiet is not None:
            quiet.close()


def bar(iterable: Any = None, **options: Any) -> tqdm:
    """A tqdm progress bar on stderr (options as tqdm's) that also reports to ``$RADARFACE_STATUS``."""
    options.setdefault("file", sys.stderr)
    options.setdefault("dynamic_ncols", True)
    return _ReportingBar(iterable, **options)


def status_bar(total: int, desc: str, unit: str = "it", **options: Any) -> tqdm:
    """A bar that only reports to ``$RADARFACE_STATUS`` (drawn nowhere; disabled when no status file is set).

    For loops whose output a notebook should not show (e.g. inside cells whose printed
    output nbval compares) but whose progress the runner's console should.
    """
    quiet = open(os.devnull, "w")  # noqa: SIM115 - closed with the bar
    status = bar(total=total, desc=desc, unit=unit, file=quiet, disable=not os.environ.get(STATUS_ENV),
                 mininterval=2.0, **options)
    status.close_file = quiet
    return status
