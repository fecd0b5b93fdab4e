"""House rules for notebooks, and a coverage check that each one is regression-tested."""

import tomllib

import nbformat
import pytest

from radarface import paths, run
from radarface.nbbuild import parse_percent

NOTEBOOKS = run.notebooks()
MAX_LOGIC_LINES = 15


def _logic_lines(source: str) -> int:
    return sum(1 for line in source.splitlines() if line.strip() and not line.strip().startswith("#"))


def test_there_are_notebooks():
    assert NOTEBOOKS, "notebooks/ holds no numbered notebook"


def test_pytest_collects_every_notebook_with_nbval():
    config = tomllib.loads((paths.ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert "notebooks" in config["testpaths"]
    assert "--nbval-lax" in config["addopts"]


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_follows_house_rules(nb_path):
    nb = nbformat.read(nb_path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", []), "first code cell must be tagged 'parameters'"
    assert 'profile = "smoke"' in code[0].source, "committed notebooks run at the smoke profile"
    assert any(c.source.startswith("# NBVAL_CHECK_OUTPUT") for c in code), "no cell checks its output"
    long = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and _logic_lines(c.source) > MAX_LOGIC_LINES]
    assert not long, f"cells {long} have more than {MAX_LOGIC_LINES} lines of logic: move it to lib/radarface"
    assert all(c.get("execution_count") for c in code), "committed notebook is not fully executed"
    errors = [o for c in code for o in c.outputs if o.get("output_type") == "error"]
    assert not errors, f"committed notebook holds errors: {errors[:1]}"


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_matches_its_source(nb_path):
    source = nb_path.parent / "src" / (nb_path.stem + ".py")
    assert source.exists(), f"{source} is missing"
    built = [c.source for c in parse_percent(source.read_text()).cells]
    committed = [c.source for c in nbformat.read(nb_path, as_version=4).cells]
    assert committed == built, f"{nb_path.name} differs from {source.name}: run `make notebooks`"
