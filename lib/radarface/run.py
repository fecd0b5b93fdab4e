"""Batch runner: execute the numbered notebooks in order with papermill.

    python -m radarface.run --profile cpu [--only 01,03] [-p NAME VALUE ...]
                            [--sweep inputs=amplitude,depth,both]

Executed copies go to ``runs/<profile>/`` (``$RADARFACE_RUNS``), figures to ``figures/``.
The run stops at the first failing notebook, names it and the failing cell, and exits 1.
"""

from __future__ import annotations

import argparse
import ast
import itertools
import os
import sys
import time
from pathlib import Path
from typing import Any

from radarface import paths, profiles

NOTEBOOK_DIR: Path = paths.ROOT / "notebooks"


def notebooks(only: list[str] | None = None, folder: Path | None = None) -> list[Path]:
    """The numbered notebooks ``NN_name.ipynb`` in order, optionally only those numbered in ``only``."""
    folder = folder or NOTEBOOK_DIR
    found = sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb"))
    if only is None:
        return found
    chosen = [p for p in found if p.name[:2] in only]
    missing = sorted(set(only) - {p.name[:2] for p in chosen})
    if missing:
        raise ValueError(f"no notebook numbered {missing} in {folder}; have {[p.name[:2] for p in found]}")
    return chosen


def parse_value(text: str) -> Any:
    """A Python literal (number, bool, None, list, quoted string) or else the text itself."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parse_settings(specs: list[str]) -> dict[str, Any]:
    """``NAME=VALUE`` command-line settings (``--set``) as a dict of :func:`parse_value` values."""
    out = {}
    for spec in specs:
        name, sep, value = spec.partition("=")
        if not sep or not name:
            raise ValueError(f"--set expects NAME=VALUE, got {spec!r}")
        out[name] = parse_value(value)
    return out


def parse_sweep(specs: list[str]) -> list[dict[str, Any]]:
    """All combinations of ``NAME=v1,v2`` sweep specs as a list of parameter dicts."""
    axes = []
    for spec in specs:
        name, sep, values = spec.partition("=")
        if not sep or not name or not values:
            raise ValueError(f"--sweep expects NAME=v1,v2,..., got {spec!r}")
        axes.append([(name, parse_value(v)) for v in values.split(",")])
    return [dict(combo) for combo in itertools.product(*axes)] or [{}]


def declared_parameters(notebook: Path) -> set[str]:
    """Names assigned in the notebook's ``parameters`` cell."""
    import papermill

    return set(papermill.inspect_notebook(str(notebook)))


def output_name(notebook: Path, sweep: dict[str, Any]) -> str:
    """Executed notebook file name, with the sweep values in it (``04_encoder__inputs-depth.ipynb``)."""
    suffix = "".join(f"__{k}-{v}" for k, v in sweep.items())
    return f"{notebook.stem}{suffix}.ipynb"


def run(profile: str, only: list[str] | None = None, params: dict[str, Any] | None = None,
        sweeps: list[dict[str, Any]] | None = None, out_dir: Path | None = None,
        folder: Path | None = None) -> list[Path]:
    """Execute the notebooks at ``profile``; return the executed copies' paths.

    Raises ``RuntimeError`` naming the notebook and cell at the first failure.
    """
    import papermill

    profiles.resolve(profile)  # fail early on an unknown profile
    # Kernels are started by name; make sure "python" is this interpreter.
    os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")
    params, sweeps = dict(params or {}), sweeps or [{}]
    out_dir = Path(out_dir or paths.runs_dir(profile))
    out_dir.mkdir(parents=True, exist_ok=True)
    chosen = notebooks(only, folder or NOTEBOOK_DIR)
    declared = {nb: declared_parameters(nb) for nb in chosen}
    everything = set().union(*declared.values()) if declared else set()
    unknown = sorted((set(params) | set().union(*map(set, sweeps))) - everything)
    if unknown:
        raise ValueError(f"parameter(s) {unknown} are declared by none of {[p.name for p in chosen]}")
    written = []
    for i, nb in enumerate(chosen, 1):
        # A sweep applies to the notebooks that declare its parameters; others run once.
        own = [s for s in sweeps if set(s) <= declared[nb]] if any(sweeps) else [{}]
        for sweep in own or [{}]:
            values = {"profile": profile, **{k: v for k, v in params.items() if k in declared[nb]}, **sweep}
            target = out_dir / output_name(nb, sweep)
            print(f"[{i}/{len(chosen)}] {nb.name} {sweep or ''} -> {target}", flush=True)
            start = time.perf_counter()
            try:
                papermill.execute_notebook(str(nb), str(target), parameters=values, cwd=str(nb.parent),
                                           progress_bar=True, kernel_name="python3")
            except papermill.PapermillExecutionError as err:
                raise RuntimeError(f"{nb.name} failed in cell {err.cell_index} (execution count "
                                   f"{err.exec_count}): {err.ename}: {err.evalue}\n"
                                   f"the executed copy with the traceback is {target}") from None
            print(f"    done in {time.perf_counter() - start:.0f} s", flush=True)
            written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m radarface.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="cpu", choices=profiles.names())
    parser.add_argument("--only", help="comma-separated notebook numbers, e.g. 01,03")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"))
    parser.add_argument("--sweep", action="append", default=[], metavar="NAME=v1,v2")
    args = parser.parse_args(argv)
    only = [s.strip().zfill(2) for s in args.only.split(",")] if args.only else None
    params = {name: parse_value(value) for name, value in args.parameter}
    start = time.perf_counter()
    try:
        written = run(args.profile, only, params, parse_sweep(args.sweep))
    except (RuntimeError, ValueError) as err:
        print(f"radarface.run: {err}", file=sys.stderr)
        return 1
    print(f"{len(written)} notebook(s) executed at profile {args.profile!r} in "
          f"{time.perf_counter() - start:.0f} s; outputs in {paths.runs_dir(args.profile)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
