"""House rules for notebooks: sources, the smoke copies nbval checks, and the published copies."""

import re
import tomllib

import nbformat
import pytest

from radarface import paths, run

SOURCES = run.notebooks()
MAX_LOGIC_LINES = 15


def _logic_lines(source: str) -> int:
    return sum(1 for line in source.splitlines() if line.strip() and not line.strip().startswith("#"))


def _copies(folder):
    return [folder / f"{src.stem}.ipynb" for src in SOURCES]


SMOKE = _copies(run.SMOKE_COPIES_DIR)
PUBLISHED = _copies(run.PUBLISHED_DIR)
COMMITTED = SMOKE + PUBLISHED


def test_there_are_notebooks():
    assert SOURCES, "notebooks/src holds no numbered notebook source"


def test_pytest_runs_nbval_on_the_smoke_copies_only():
    config = tomllib.loads((paths.ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert "tests" in config["testpaths"] and "notebooks" not in config["testpaths"]
    assert "--nbval-lax" in config["addopts"]
    assert run.SMOKE_COPIES_DIR.is_relative_to(paths.ROOT / "tests")


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_source_follows_house_rules(source):
    nb = run.load_notebook(source)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", []), "first code cell must be tagged 'parameters'"
    assert 'profile = "smoke"' in code[0].source, "a source's default profile is smoke"
    assert "model" in run.declared_parameters(source), "every notebook takes the face model as a parameter"
    assert any(c.source.startswith("# NBVAL_CHECK_OUTPUT") for c in code), "no cell checks its output"
    # the parameters cell declares values, one per line; it holds no logic
    long = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and _logic_lines(c.source) > MAX_LOGIC_LINES
            and "parameters" not in c.metadata.get("tags", [])]
    assert not long, f"cells {long} have more than {MAX_LOGIC_LINES} lines of logic: move it to lib/radarface"


@pytest.mark.parametrize("copy", COMMITTED, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_committed_copy_is_executed_from_its_source(copy):
    assert copy.exists(), f"{copy} is missing: run `make notebooks` (smoke copies) or `make reproduce` (published)"
    nb = nbformat.read(copy, as_version=4)
    source = run.SOURCE_DIR / f"{copy.stem}.py"
    assert run.source_cells(nb) == run.source_cells(run.load_notebook(source)), \
        f"{copy} differs from {source.name}: rebuild it (`make notebooks` for tests/notebooks)"
    assert run.completed(copy), f"{copy} is not fully executed or holds an error"
    assert "provenance" in nb.cells[0].metadata.get("tags", []), "the first cell must state the copy's provenance"


_ABSOLUTE = re.compile(r"(?<![\w.~<])/(home|root|work|tmp|Users|mnt|var|opt|private)/")


@pytest.mark.parametrize("copy", COMMITTED, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_committed_outputs_hold_no_absolute_path(copy):
    text = copy.read_text()
    found = sorted(set(m.group(0) for m in _ABSOLUTE.finditer(text)))
    assert not found, f"{copy.name} shows paths of the machine that ran it: {found}"


def test_smoke_copies_are_smoke_runs():
    for copy in SMOKE:
        assert "profile **`smoke`**" in nbformat.read(copy, as_version=4).cells[0].source, copy


def test_published_notebooks_come_from_one_run_at_one_commit():
    stamps = set()
    for copy in PUBLISHED:
        text = nbformat.read(copy, as_version=4).cells[0].source
        match = re.search(r"profile \*\*`(\w+)`\*\* from commit `(\w+\+?)`", text)
        assert match, f"{copy.name}: no provenance line"
        stamps.add(match.groups())
    assert len(stamps) == 1, f"published notebooks come from several runs: {sorted(stamps)}"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_source_ends_with_a_checked_headline(source):
    nb = run.load_notebook(source)
    headings = [i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and c.source.startswith("## ")]
    assert headings and nb.cells[headings[-1]].source.startswith("## Headline"), "the last section is '## Headline'"
    code = [c.source for c in nb.cells[headings[-1]:] if c.cell_type == "code"]
    assert any(s.startswith("# NBVAL_CHECK_OUTPUT") for s in code), "the headline's numbers must be regression-checked"
    assert any(re.search(r"^\s*assert ", s, flags=re.M) for s in code), "the headline must assert on its numbers"
