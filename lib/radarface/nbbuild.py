"""Build notebooks from their readable sources and execute them at a profile.

A notebook's source is a percent-format script ``notebooks/src/NN_name.py``:
``# %%`` starts a code cell, ``# %% [markdown]`` a markdown cell (its lines start with
``# ``), and ``# %% tags=["parameters"]`` a tagged cell. Sources keep diffs readable; the
``.ipynb`` beside them is what users open and what nbval checks, committed executed at
the ``smoke`` profile.

Usage::

    python -m radarface.nbbuild notebooks/src/01_morphable_model.py [--no-execute]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import nbformat

_HEADER = re.compile(r"^# %%(?P<md> \[markdown\])?(?: tags=(?P<tags>\[.*\]))?\s*$")


def parse_percent(text: str) -> nbformat.NotebookNode:
    """Notebook (v4) from percent-format source text."""
    nb = nbformat.v4.new_notebook()
    cells: list[tuple[bool, list[str], list[str]]] = []
    for line in text.splitlines():
        match = _HEADER.match(line)
        if match:
            tags = json.loads(match["tags"]) if match["tags"] else []
            cells.append((bool(match["md"]), tags, []))
        elif cells:
            cells[-1][2].append(line)
    for is_md, tags, lines in cells:
        while lines and not lines[-1].strip():
            lines.pop()
        if is_md:
            body = "\n".join(l[2:] if l.startswith("# ") else l.lstrip("#") for l in lines)
            cell = nbformat.v4.new_markdown_cell(body)
        else:
            cell = nbformat.v4.new_code_cell("\n".join(lines))
        if tags:
            cell.metadata["tags"] = tags
        nb.cells.append(cell)
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def normalise(path: Path) -> None:
    """Strip machine-specific metadata (timings, papermill paths) so diffs show content."""
    nb = nbformat.read(path, as_version=4)
    nb.metadata.pop("papermill", None)
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nb.metadata["language_info"] = {"name": "python"}
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            for out in cell.get("outputs", []):
                out.get("metadata", {}).pop("papermill", None)
    nbformat.write(nb, path)


def build(source: Path, *, execute: bool = True) -> Path:
    """Write ``notebooks/NN_name.ipynb`` from ``source``; execute it in place as written.

    The parameters cell of every source sets ``profile = "smoke"``, so the committed
    outputs are the smoke profile's (what nbval compares against).
    """
    source = Path(source)
    target = source.parent.parent / (source.stem + ".ipynb")
    nbformat.write(parse_percent(source.read_text()), target)
    if execute:
        import papermill

        papermill.execute_notebook(str(target), str(target), cwd=str(target.parent), progress_bar=False,
                                   execution_timeout=900)
        normalise(target)
    return target


def main(argv: list[str] | None = None) -> int:
    """Command line: build (and execute) the given notebook sources."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sources", nargs="+", type=Path)
    parser.add_argument("--no-execute", action="store_true")
    args = parser.parse_args(argv)
    for src in args.sources:
        print(f"building {src} ...", flush=True)
        print(f"  wrote {build(src, execute=not args.no_execute)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
