"""The library's layering, held as import-linter contracts (pyproject.toml, [tool.importlinter]), and the
profile dict kept above it: below the experiments, functions take typed settings.

Networks <- losses <- algorithms (training loop, refinement) <- experiments <- commands, over
the data, physics and tools; networks and losses never read a profile or a dataset; and no
import cycle between the modules of any package.
"""

import ast
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


# ------------------------------------------------------------------ the profile dict stops at the settings
LIB = ROOT / "lib" / "radarface"


def profile_takers(source: str) -> list[str]:
    """Functions of ``source`` (nested ones too) with a parameter named ``cfg``, but ``from_profile`` constructors."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name != "from_profile":
            args = node.args
            names = [a.arg for a in args.posonlyargs + args.args + args.kwonlyargs]
            names += [a.arg for a in (args.vararg, args.kwarg) if a is not None]
            if "cfg" in names:
                found.append(f"{node.name} (line {node.lineno})")
    return found


def is_command_line(path: Path, source: str) -> bool:
    """True for a command-line module: ``__main__.py`` or a module with a top-level ``main``."""
    return path.name == "__main__.py" or any(isinstance(node, ast.FunctionDef) and node.name == "main"
                                             for node in ast.parse(source).body)


def test_only_settings_constructors_experiments_and_commands_take_the_profile_dict():
    """Issue 18: below the experiments a function takes typed settings, never the profile dict ``cfg``."""
    offenders = {}
    for path in sorted(LIB.rglob("*.py")):
        source = path.read_text()
        if (LIB / "experiments") in path.parents or is_command_line(path, source):
            continue
        if takers := profile_takers(source):
            offenders[str(path.relative_to(LIB))] = takers
    assert not offenders, f"functions taking the profile dict below the experiments: {offenders}"


def test_the_profile_dict_check_can_fail():
    source = ("class S:\n    @classmethod\n    def from_profile(cls, cfg): ...\n\n"
              "def ensure(cfg, *, progress=True): ...\n\ndef _helper(x, **cfg): ...\n")
    assert profile_takers(source) == ["ensure (line 5)", "_helper (line 7)"]
    assert is_command_line(Path("x.py"), "def main(argv=None): ...\n")
    assert not is_command_line(Path("x.py"), "def helper(): ...\n")
