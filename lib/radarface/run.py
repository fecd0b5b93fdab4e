"""Batch runner: execute the numbered notebooks in order with papermill.

    python -m radarface.run --profile cpu [--only 01,03] [-p NAME VALUE ...]
                            [--sweep inputs=amplitude,depth,both] [--force] [--out DIR]
                            [--publish | --no-publish]

The notebooks are built from their sources ``notebooks/src/NN_name.py`` (jupytext's percent
format) and executed into ``runs/<profile>/`` (``$RADARFACE_RUNS``, or ``--out``); their
figures go to ``figures/<profile>/``. The run stops at the first failing notebook, names it and the failing cell,
and exits 1.

Resumable. A notebook whose source, parameters, library code and upstream notebooks are
unchanged since its last successful execution here is reused, not rerun (``--force`` reruns
it); datasets and checkpoints are reused or resumed by the library itself, so a run killed
mid-notebook continues where it stopped. Before starting, the runner prints each notebook
with an estimated time (from the last run on this machine, else from the published run, with
the time its notebooks spent making datasets and checkpoints taken out where ``data/`` holds
them and added where it lacks them, :func:`estimates`);
while a cell runs, the console shows its progress bar (samples, epochs, refinement steps)
with an ETA. Every executed notebook opens with a provenance cell: commit, profile, date,
cores, wall time.

Publishing. A complete run at the published profile (``cpu``) is copied to ``notebooks/``
(what readers open) and its results files and figures to ``results/<profile>/``, from which
the README's tables are generated (:mod:`radarface.results`).
"""

from __future__ import annotations

import argparse
import ast
import datetime as dt
import hashlib
import itertools
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import jupytext
import nbformat
import papermill
import torch
from papermill.inspection import _infer_parameters

from radarface import paths, profiles, progress

SOURCE_DIR: Path = paths.ROOT / "notebooks" / "src"
#: Where readers open the published notebooks.
PUBLISHED_DIR: Path = paths.ROOT / "notebooks"
#: Where nbval finds the smoke-executed copies it regression-checks.
SMOKE_COPIES_DIR: Path = paths.ROOT / "tests" / "notebooks"
#: The profile whose complete run is published.
PUBLISHED_PROFILE: str = "cpu"
MANIFEST_NAME: str = "runner.json"
_TAG_PROVENANCE = "provenance"


# ------------------------------------------------------------------ notebooks
def notebooks(only: list[str] | None = None, folder: Path | None = None) -> list[Path]:
    """The numbered notebook sources ``NN_name.py`` (or ``.ipynb``) in order, optionally only those numbered in ``only``."""
    folder = Path(folder or SOURCE_DIR)
    found = sorted(p for p in folder.glob("[0-9][0-9]_*") if p.suffix in (".py", ".ipynb"))
    if only is None:
        return found
    chosen = [p for p in found if p.name[:2] in only]
    missing = sorted(set(only) - {p.name[:2] for p in chosen})
    if missing:
        raise ValueError(f"no notebook numbered {missing} in {folder}; have {[p.name[:2] for p in found]}")
    return chosen


def load_notebook(path: Path) -> nbformat.NotebookNode:
    """The notebook of a source (``.py``, jupytext percent format) or an ``.ipynb`` file, kernel set to python3."""
    path = Path(path)
    nb = jupytext.read(path, fmt="py:percent") if path.suffix == ".py" else nbformat.read(path, as_version=4)
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.metadata.pop("jupytext", None)
    for cell in nb.cells:
        cell.metadata.setdefault("tags", [])  # papermill looks every cell's tags up
    return nb


def source_cells(nb: nbformat.NotebookNode) -> list[str]:
    """The sources of ``nb``'s own cells: without the runner's provenance and papermill's injected parameters."""
    skip = {_TAG_PROVENANCE, "injected-parameters"}
    return [c.source for c in nb.cells if not skip & set(c.metadata.get("tags", []))]


def declared_parameters(notebook: Path) -> set[str]:
    """Names assigned in the notebook's ``parameters`` cell."""
    return {p.name for p in _infer_parameters(load_notebook(notebook))}


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


def output_name(notebook: Path, sweep: dict[str, Any]) -> str:
    """Executed notebook file name, with the sweep values in it (``04_encoder__inputs-depth.ipynb``)."""
    suffix = "".join(f"__{k}-{v}" for k, v in sweep.items())
    return f"{notebook.stem}{suffix}.ipynb"


# ------------------------------------------------------------------ provenance
def library_digest() -> str:
    """SHA-256 (16 hex) over the library's Python sources: a notebook rerun is due when it changes."""
    digest = hashlib.sha256()
    root = Path(__file__).resolve().parent
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def git_commit() -> str:
    """Short commit of the repository, ``+`` when tracked files differ from it; ``unknown`` outside git."""
    try:
        head = subprocess.run(["git", "-C", str(paths.ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True, timeout=20).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(paths.ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True, timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("+" if dirty else "")


def execution_key(source: Path, values: dict[str, Any], upstream: str, library: str) -> str:
    """What a notebook's result depends on: its source, parameters, the library and the notebooks before it."""
    text = json.dumps({"source": Path(source).read_text(), "values": values, "upstream": upstream,
                       "library": library}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def format_seconds(seconds: float) -> str:
    """``1 h 02 min``, ``12 min 05 s`` or ``42 s``."""
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
    if seconds >= 60:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds} s"


def provenance_cell(profile: str, values: dict[str, Any], seconds: float, commit: str) -> nbformat.NotebookNode:
    """Markdown cell stating how this copy was made: commit, profile, parameters, date, cores, wall time."""
    shown = ", ".join(f"`{k} = {v!r}`" for k, v in values.items() if k != "profile") or "none"
    when = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    text = (f"*Executed at profile **`{profile}`** from commit `{commit}` on {when}, "
            f"{os.cpu_count()} CPU cores ({platform.machine()}, Python {platform.python_version()}, "
            f"torch {torch.__version__}), no GPU used; wall time {format_seconds(seconds)}. "
            f"Other parameters: {shown}. Made by `python -m radarface.run`.*")
    cell = nbformat.v4.new_markdown_cell(text)
    cell.metadata["tags"] = [_TAG_PROVENANCE]
    return cell


_ABSOLUTE = re.compile(r"(?<![\w.~])/(?:home|root|work|tmp|Users|mnt|var|opt|private)/[^\s'\"),:;\]]*")


def scrub_paths(text: str) -> str:
    """``text`` with this machine's absolute paths made relative to the repository (or ``<tmp>/...``)."""
    for folder, name in ((paths.runs_dir(), "runs"), (paths.data_dir(), "data"), (paths.figures_dir(), "figures"),
                         (paths.ROOT, ".")):
        text = text.replace(str(folder) + "/", "" if name == "." else f"{name}/").replace(str(folder), name)
    return _ABSOLUTE.sub(lambda m: "<local>/" + Path(m.group(0)).name, text)


def _scrub_output(out: dict[str, Any]) -> None:
    if "text" in out:
        out["text"] = scrub_paths(out["text"] if isinstance(out["text"], str) else "".join(out["text"]))
    if "traceback" in out:
        out["traceback"] = [scrub_paths(line) for line in out["traceback"]]
    for mime, value in out.get("data", {}).items():
        if mime.startswith("text/") and isinstance(value, (str, list)):
            out["data"][mime] = scrub_paths(value if isinstance(value, str) else "".join(value))
    if "evalue" in out:
        out["evalue"] = scrub_paths(out["evalue"])


def finish_notebook(path: Path, provenance: nbformat.NotebookNode | None) -> None:
    """Normalise an executed copy: provenance cell first, no machine-specific metadata or absolute paths."""
    nb = nbformat.read(path, as_version=4)
    nb.cells = [c for c in nb.cells if _TAG_PROVENANCE not in c.metadata.get("tags", [])]
    if provenance is not None:
        nb.cells.insert(0, provenance)
    nb.metadata.pop("papermill", None)
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nb.metadata["language_info"] = {"name": "python"}
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
        for out in cell.get("outputs", []):
            out.get("metadata", {}).pop("papermill", None)
            _scrub_output(out)
    nbformat.write(nb, path)


def completed(path: Path) -> bool:
    """Whether ``path`` is an executed notebook with every code cell run and no error output."""
    try:
        nb = nbformat.read(path, as_version=4)
    except (OSError, ValueError, nbformat.reader.NotJSONError):
        return False
    code = [c for c in nb.cells if c.cell_type == "code"]
    return bool(code) and all(c.get("execution_count") for c in code) and not any(
        o.get("output_type") == "error" for c in code for o in c.get("outputs", []))


# ------------------------------------------------------------------ manifest and estimates
def read_manifest(out_dir: Path) -> dict[str, Any]:
    """The runner's record of ``out_dir``: per executed notebook its key, wall seconds and finish time."""
    try:
        return json.loads((Path(out_dir) / MANIFEST_NAME).read_text())
    except (OSError, ValueError):
        return {}


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, path)


def published_dir(profile: str) -> Path:
    """``results/<profile>/``: the published run's results files, timings and figures."""
    return paths.ROOT / "results" / profile


#: Torch threads of :func:`speed_probe`. With two threads on two cores it read 0.17–0.68 s on one idle
#: machine (a second thread waits on whatever else the other core does); with one, 0.38–0.47 s.
PROBE_THREADS: int = 1


def speed_probe(repeats: int = 5) -> float:
    """Wall seconds (best of ``repeats``) of a fixed small training workload on :data:`PROBE_THREADS`
    torch threads: a two-layer CNN's forward and backward passes on a batch of 32 × 64 × 64 images.
    The published run stores its value; the ratio scales the published times to this machine."""
    import torch  # only when an estimate needs it: the runner itself never loads torch

    from radarface.runtime import torch_threads

    generator = torch.Generator().manual_seed(0)
    images = torch.randn(32, 2, 64, 64, generator=generator)
    net = torch.nn.Sequential(torch.nn.Conv2d(2, 32, 3, padding=1), torch.nn.ReLU(),
                              torch.nn.Conv2d(32, 32, 3, padding=1), torch.nn.AdaptiveAvgPool2d(1))
    best = float("inf")
    with torch_threads(PROBE_THREADS):
        for _ in range(repeats):
            start = time.perf_counter()
            for _ in range(4):
                net(images).square().mean().backward()
            best = min(best, time.perf_counter() - start)
    return best


def _comparable(record: dict[str, Any]) -> bool:
    """Whether a manifest entry's or a ``timings.json``'s probe was taken as :func:`speed_probe` takes it now."""
    return "probe_seconds" in record and record.get("probe_threads") == PROBE_THREADS


class Probe:
    """:func:`speed_probe`, measured at most once, when first asked for: at a run's start, when its
    estimates scale a published run's times, on a machine not yet busy with the run."""

    def __init__(self) -> None:
        self.seconds: float | None = None

    def __call__(self) -> float:
        if self.seconds is None:
            self.seconds = speed_probe()
        return self.seconds


def stage_adjusted(seconds: float, stages: dict[str, dict[str, Any]], planned: set[str] | None = None
                   ) -> tuple[float, float]:
    """(a notebook's ``seconds`` as it would take here, the part of it spent making stages missing here).

    ``stages`` (:func:`radarface.progress.read_stages`): the datasets and checkpoints it used. Those
    it made are taken out of its time; those missing in ``data/`` here are added back, with the
    seconds their making took (a notebook that reused a dataset there generates it here), unless
    they are in ``planned``: made by a notebook before it in the run. ``planned`` gains its stages.
    """
    planned = set() if planned is None else planned
    made = sum(s["seconds"] or 0.0 for s in stages.values() if s["made"])
    missing = sum(s["seconds"] or 0.0 for name, s in stages.items()
                  if name not in planned and not (paths.data_dir() / name).exists())
    planned.update(stages)
    return max(seconds - made, 0.0) + missing, missing


def estimates(names: list[str], manifest: dict[str, Any], profile: str,
              probe: Any = speed_probe) -> dict[str, tuple[float | None, str]]:
    """Estimated seconds per executed notebook name and where the estimate comes from: the last run
    here, else the published run's time scaled by :func:`speed_probe` here against its own (``probe``:
    a callable returning seconds, measured only when a published time is used); either adjusted for
    the stages (datasets, checkpoints) that run made or reused and ``data/`` here lacks, each counted
    once, for the first of ``names`` (in run order) that uses it (:func:`stage_adjusted`)."""
    try:
        timings = json.loads((published_dir(profile) / "timings.json").read_text())
    except (OSError, ValueError):
        timings = {}
    published, scale, origin = timings.get("notebooks", {}), None, "published run"
    out, planned = {}, set()  # stages made by the notebooks before: one making each
    for name in names:
        if name in manifest:
            seconds, missing = stage_adjusted(float(manifest[name]["seconds"]), manifest[name].get("stages", {}),
                                              planned)
            out[name] = (seconds, "last run here" + (f"; {format_seconds(missing)} making what data/ lacks"
                                                     if missing else ""))
        elif name in published:
            if scale is None:
                comparable = _comparable(timings) and float(timings["probe_seconds"]) > 0
                scale = probe() / float(timings["probe_seconds"]) if comparable else 1.0
                origin = f"published run × {scale:.2f} (speed probe)" if comparable else \
                    "published run (unscaled: its speed probe was taken another way)"
            seconds, missing = stage_adjusted(float(published[name]), timings.get("stages", {}).get(name, {}),
                                              planned)
            out[name] = (seconds * scale, origin + (f"; {format_seconds(missing * scale)} making what data/ lacks"
                                                    if missing else ""))
        else:
            out[name] = (None, "no run yet")
    return out


class _Echo:
    """While a notebook runs, print its bars' status lines (see :mod:`radarface.progress`) on the console."""

    def __init__(self, status_file: Path, label: str, every: float = 30.0):
        self.status_file, self.label, self.every = status_file, label, every
        self.tty = sys.stdout.isatty()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        last_line, last_print = "", 0.0
        while not self._stop.wait(1.0):
            line = progress.read_status(self.status_file)
            if not line or line == last_line:
                continue
            now = time.monotonic()
            if self.tty:
                print(f"\r    {self.label}: {line}"[:160].ljust(160), end="", flush=True)
            elif now - last_print >= self.every or line.split(":")[0] != last_line.split(":")[0]:
                print(f"    {self.label}: {line}", flush=True)
                last_print = now
            last_line = line

    def __enter__(self) -> _Echo:
        self.status_file.unlink(missing_ok=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        if self.tty:
            print("\r" + " " * 160 + "\r", end="", flush=True)
        self.status_file.unlink(missing_ok=True)


# ------------------------------------------------------------------ run
def run(profile: str, only: list[str] | None = None, params: dict[str, Any] | None = None,
        sweeps: list[dict[str, Any]] | None = None, out_dir: Path | None = None,
        folder: Path | None = None, *, force: bool = False, provenance: bool = True) -> list[Path]:
    """Execute the notebooks at ``profile`` (reusing unchanged ones unless ``force``); return the executed copies' paths.

    Raises ``RuntimeError`` naming the notebook and cell at the first failure.
    """
    profiles.resolve(profile)  # fail early on an unknown profile
    # Kernels are started by name; make sure "python" is this interpreter.
    os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")
    # OpenMP threads that spin while waiting for a busy core made training 8-10x slower whenever
    # anything else ran (0.4 -> 3.9 s per batch, docs/tuning.md); sleeping waiters cost ~nothing alone.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    params, sweeps = dict(params or {}), sweeps or [{}]
    out_dir = Path(out_dir or paths.runs_dir(profile))
    out_dir.mkdir(parents=True, exist_ok=True)
    chosen = notebooks(only, folder)
    declared = {nb: declared_parameters(nb) for nb in chosen}
    everything = set().union(*declared.values()) if declared else set()
    unknown = sorted((set(params) | set().union(*map(set, sweeps))) - everything)
    if unknown:
        raise ValueError(f"parameter(s) {unknown} are declared by none of {[p.name for p in chosen]}")
    plan = []
    for nb in chosen:
        # A sweep applies to the notebooks that declare its parameters; others run once.
        own = [s for s in sweeps if set(s) <= declared[nb]] if any(sweeps) else [{}]
        for sweep in own or [{}]:
            values = {"profile": profile, **{k: v for k, v in params.items() if k in declared[nb]}, **sweep}
            plan.append((nb, sweep, values))
    manifest = read_manifest(out_dir)
    probe = Probe()
    guesses = estimates([output_name(nb, sweep) for nb, sweep, _ in plan], manifest, profile, probe=probe)
    _print_plan(plan, guesses)
    library, commit, upstream = library_digest(), git_commit() if provenance else "", ""
    written = []
    for i, (nb, sweep, values) in enumerate(plan, 1):
        name = output_name(nb, sweep)
        target = out_dir / name
        key = execution_key(nb, values, upstream, library)
        upstream = hashlib.sha256((upstream + key).encode()).hexdigest()[:16]
        if not force and manifest.get(name, {}).get("key") == key and completed(target):
            print(f"[{i}/{len(plan)}] {name}: unchanged since its run of {manifest[name]['finished']}, reused",
                  flush=True)
            written.append(target)
            continue
        guess = guesses[name][0]
        print(f"[{i}/{len(plan)}] {nb.name} {sweep or ''} -> {scrub_paths(str(target))}"
              + (f" (about {format_seconds(guess)})" if guess else ""), flush=True)
        stages_file = out_dir / f".stages-{target.stem}.jsonl"
        stages_file.unlink(missing_ok=True)
        seconds = _execute(nb, target, values, out_dir, stages_file)
        finish_notebook(target, provenance_cell(profile, values, seconds, commit) if provenance else None)
        manifest[name] = {"key": key, "seconds": round(seconds, 1),
                          "finished": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                          "stages": progress.read_stages(stages_file)}
        if probe.seconds is not None:
            manifest[name].update(probe_seconds=round(probe.seconds, 4), probe_threads=PROBE_THREADS)
        stages_file.unlink(missing_ok=True)
        _write_json(out_dir / MANIFEST_NAME, manifest)
        print(f"    done in {format_seconds(seconds)}", flush=True)
        written.append(target)
    return written


def _print_plan(plan: list[tuple[Path, dict[str, Any], dict[str, Any]]],
                guesses: dict[str, tuple[float | None, str]]) -> None:
    """The notebooks about to run, each with its estimated time and the estimate's source."""
    print("notebooks to run, with estimated times on this machine:", flush=True)
    total, known = 0.0, True
    for nb, sweep, _ in plan:
        seconds, origin = guesses[output_name(nb, sweep)]
        shown = format_seconds(seconds) if seconds is not None else "?"
        print(f"  {output_name(nb, sweep):42s} {shown:>14s}  ({origin})", flush=True)
        total += seconds or 0.0
        known &= seconds is not None
    print(f"  {'total':42s} {format_seconds(total):>14s}{'' if known else '  (+ notebooks without an estimate)'}",
          flush=True)


def _execute(source: Path, target: Path, values: dict[str, Any], out_dir: Path, stages_file: Path) -> float:
    """Execute ``source`` with ``values`` into ``target``, echoing its progress and recording the stages it
    uses in ``stages_file`` (:func:`radarface.progress.record_stage`); return wall seconds."""
    status_file = out_dir / f".status-{target.stem}"
    os.environ[progress.STATUS_ENV] = str(status_file)  # the kernel inherits it
    os.environ[progress.STAGES_ENV] = str(stages_file)
    # each profile's figures apart, so a smoke rebuild never mixes into a published cpu run
    figures = os.environ.get("RADARFACE_FIGURES")
    os.environ["RADARFACE_FIGURES"] = str(profile_figures_dir(values["profile"]))
    start = time.perf_counter()
    try:
        with _Echo(status_file, source.stem):
            papermill.execute_notebook(load_notebook(source), str(target), parameters=values,
                                       cwd=str(PUBLISHED_DIR), progress_bar=False, kernel_name="python3")
    except papermill.PapermillExecutionError as err:
        finish_notebook(target, None)
        raise RuntimeError(f"{source.name} failed in cell {err.cell_index} (execution count "
                           f"{err.exec_count}): {err.ename}: {err.evalue}\n"
                           f"the executed copy with the traceback is {target}") from None
    finally:
        os.environ.pop(progress.STATUS_ENV, None)
        os.environ.pop(progress.STAGES_ENV, None)
        if figures is None:
            os.environ.pop("RADARFACE_FIGURES", None)
        else:
            os.environ["RADARFACE_FIGURES"] = figures
    return time.perf_counter() - start


def profile_figures_dir(profile: str) -> Path:
    """``figures/<profile>/`` (under ``$RADARFACE_FIGURES`` if set): where a run's notebooks save their figures."""
    folder = paths.figures_dir() / profile
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# ------------------------------------------------------------------ publish
def executed_commit(notebook: Path) -> str:
    """The commit an executed copy states in its provenance cell ("" when it has none)."""
    cells = nbformat.read(notebook, as_version=4).cells
    found = re.search(r"from commit `([^`]*)`", cells[0].source) if cells else None
    return found.group(1) if found else ""


def publish(profile: str, written: list[Path], out_dir: Path | None = None) -> Path:
    """Copy a complete run's notebooks to ``notebooks/`` and its results and figures to ``results/<profile>/``.

    The notebooks must state one clean commit; ``timings.json`` names it (copying them dirties
    the tree, so asking git at this point would add a ``+``) and this machine's :func:`speed_probe`:
    the lowest taken at the start of the run's invocations (as a new machine's estimate takes it), or
    one taken now if none was taken the way :func:`speed_probe` takes it now (:data:`PROBE_THREADS`)."""
    out_dir = Path(out_dir or paths.runs_dir(profile))
    manifest = read_manifest(out_dir)
    sources = {p.stem for p in notebooks()}
    main = [p for p in written if p.stem in sources]
    if {p.stem for p in main} != sources:
        raise ValueError(f"publishing needs every notebook run at profile {profile!r}; "
                         f"this run has {sorted(p.stem for p in main)}")
    commits = sorted({executed_commit(nb) for nb in main})
    if len(commits) != 1 or not commits[0] or commits[0].endswith("+"):
        raise ValueError(f"publishing needs every notebook executed at one clean commit; this run's notebooks state "
                         f"{commits}: rerun with --force on a clean checkout")
    target = published_dir(profile)
    if target.exists():
        shutil.rmtree(target)
    (target / "figures").mkdir(parents=True)
    for nb in main:
        shutil.copyfile(nb, PUBLISHED_DIR / nb.name)
    for result in sorted((paths.runs_dir(profile) / "results").glob("*.json")):
        shutil.copyfile(result, target / result.name)
    for figure in sorted(profile_figures_dir(profile).glob("*.png")):
        shutil.copyfile(figure, target / "figures" / figure.name)
    probes = [manifest[p.name]["probe_seconds"] for p in written if _comparable(manifest[p.name])]
    timings = {"profile": profile, "commit": commits[0], "cores": os.cpu_count(),
               "probe_seconds": min(probes) if probes else round(speed_probe(), 4), "probe_threads": PROBE_THREADS,
               "notebooks": {p.name: manifest[p.name]["seconds"] for p in written},
               "stages": {p.name: manifest[p.name].get("stages", {}) for p in written},
               "total_seconds": round(sum(manifest[p.name]["seconds"] for p in written), 1)}
    _write_json(target / "timings.json", timings)
    return target


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m radarface.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default=PUBLISHED_PROFILE, choices=profiles.names())
    parser.add_argument("--only", help="comma-separated notebook numbers, e.g. 01,03")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"))
    parser.add_argument("--sweep", action="append", default=[], metavar="NAME=v1,v2")
    parser.add_argument("--out", type=Path, help="folder for the executed copies (default runs/<profile>)")
    parser.add_argument("--force", action="store_true", help="rerun notebooks even when unchanged")
    parser.add_argument("--publish", action=argparse.BooleanOptionalAction, default=None,
                        help=f"copy a complete run to notebooks/ and results/<profile>/ "
                             f"(default: for a complete run at profile {PUBLISHED_PROFILE!r} with no -p or --sweep)")
    args = parser.parse_args(argv)
    only = [s.strip().zfill(2) for s in args.only.split(",")] if args.only else None
    params = {name: parse_value(value) for name, value in args.parameter}
    start = time.perf_counter()
    try:
        written = run(args.profile, only, params, parse_sweep(args.sweep), out_dir=args.out, force=args.force)
        default_publish = (args.profile == PUBLISHED_PROFILE and only is None and not params and not args.sweep
                           and args.out is None)
        if args.publish or (args.publish is None and default_publish):
            print(f"published to {scrub_paths(str(PUBLISHED_DIR))}/ and "
                  f"{scrub_paths(str(publish(args.profile, written, args.out)))}/")
    except (RuntimeError, ValueError) as err:
        print(f"radarface.run: {err}", file=sys.stderr)
        return 1
    print(f"{len(written)} notebook(s) at profile {args.profile!r} in {format_seconds(time.perf_counter() - start)}; "
          f"outputs in {scrub_paths(str(args.out or paths.runs_dir(args.profile)))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
