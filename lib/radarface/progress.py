"""Progress bars that also reach the batch runner's console.

A notebook executed by :mod:`radarface.run` writes its bars to the notebook's own output,
which the console running ``make reproduce`` never sees: there a 30-minute dataset cell
looks frozen. When ``$RADARFACE_STATUS`` names a file, every bar made by :func:`bar`
also writes its current line there (at most once every ``mininterval`` seconds, atomically),
and the runner echoes that line beside the notebook's name.

Stages. When ``$RADARFACE_STAGES`` names a file, :func:`record_stage` appends to it one line per
dataset or checkpoint a notebook uses: whether this run made it and how long making it took.
The runner keeps them with the notebook's time, so that an estimate can tell a notebook that
reused its dataset from one that generated it (:func:`radarface.run.estimates`).

>>> with bar(total=3, desc="demo", disable=True) as b:
...     b.update(3)
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from tqdm import tqdm

from radarface import paths

#: Environment variable naming the status file a running notebook's bars report to.
STATUS_ENV: str = "RADARFACE_STATUS"
#: Environment variable naming the file a running notebook records the stages it used in.
STAGES_ENV: str = "RADARFACE_STAGES"


def record_stage(path: str | Path, *, made: bool, seconds: float | None) -> None:
    """Note that the running notebook used the stage file ``path`` (a dataset or checkpoint in
    ``data/``), made in this run or not, and the seconds its making took (None: unknown); no-op
    when no stages file is set."""
    target = os.environ.get(STAGES_ENV)
    if not target:
        return
    path = Path(path).resolve()
    try:
        name = str(path.relative_to(paths.data_dir()))
    except ValueError:
        return  # outside data/: not a stage another machine could reuse
    line = json.dumps({"file": name, "made": bool(made), "seconds": None if seconds is None else round(seconds, 1)})
    try:
        with open(target, "a") as fh:
            fh.write(line + "\n")
    except OSError:
        pass  # a record for estimates: never let it fail the computation


def read_stages(path: str | Path) -> dict[str, dict[str, Any]]:
    """The stages recorded in ``path`` by :func:`record_stage`: file -> {made, seconds} (made if any line says so)."""
    stages: dict[str, dict[str, Any]] = {}
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return stages
    for line in lines:
        try:
            row = json.loads(line)
        except ValueError:
            continue
        seen = stages.setdefault(row["file"], {"made": False, "seconds": None})
        seen["made"] = seen["made"] or row["made"]
        seen["seconds"] = row["seconds"] if row["seconds"] is not None else seen["seconds"]
    return stages


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
