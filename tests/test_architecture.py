"""The library's layering, held as import-linter contracts (pyproject.toml, [tool.importlinter]).

Networks <- losses <- algorithms (training loop, refinement) <- experiments <- commands, over
the data, physics and tools; networks and losses never read a profile or a dataset; and no
import cycle between the modules of any package.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"


def lint(*contracts: str) -> subprocess.CompletedProcess:
    """``lint-imports`` on this checkout's library (not an installed copy), limited to ``contracts``."""
    env = dict(os.environ, PYTHONPATH=str(ROOT / "lib"))
    args = [sys.executable, "-c", LINT, "--config", str(ROOT / "pyproject.toml"), "--no-cache", "--no-logo"]
    for contract in contracts:
        args += ["--contract", contract]
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("contract", ["layers", "networks", "acyclic"])
def test_import_contract_is_kept(contract):
    result = lint(contract)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "KEPT" in result.stdout and "BROKEN" not in result.stdout


def test_a_lower_layer_importing_a_higher_one_breaks_the_contract(tmp_path):
    """The check can fail: a copy of the library whose losses import the experiments is refused."""
    import shutil

    shutil.copytree(ROOT / "lib" / "radarface", tmp_path / "radarface", ignore=shutil.ignore_patterns("__pycache__"))
    losses = tmp_path / "radarface" / "losses.py"
    losses.write_text(losses.read_text() + "\nimport radarface.experiments.fitting  # noqa: E402,F401\n")
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    result = subprocess.run([sys.executable, "-c", LINT, "--config", str(ROOT / "pyproject.toml"), "--no-cache",
                             "--no-logo", "--contract", "layers"], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode != 0 and "BROKEN" in result.stdout
    assert "radarface.losses -> radarface.experiments.fitting" in result.stdout
