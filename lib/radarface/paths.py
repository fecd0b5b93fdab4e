"""Where the project's data, figures and run outputs live.

Each location can be moved with an environment variable, so tests and batch jobs can
write elsewhere without touching notebooks: ``RADARFACE_DATA``, ``RADARFACE_FIGURES``,
``RADARFACE_RUNS``, ``RADARFACE_WEIGHTS``.
"""

from __future__ import annotations

import os
from pathlib import Path

#: Repository root (the library is installed editable from ``lib/``).
ROOT: Path = Path(__file__).resolve().parents[2]


def _dir(env: str, default: Path, *parts: str) -> Path:
    """Return the folder named by ``env`` (or ``default``) joined with ``parts``, created if missing."""
    path = Path(os.environ.get(env) or default).expanduser().resolve().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_dir() -> Path:
    """Generated data and checkpoints (``data/`` or ``$RADARFACE_DATA``)."""
    return _dir("RADARFACE_DATA", ROOT / "data")


def figures_dir() -> Path:
    """Figures written by notebooks (``figures/`` or ``$RADARFACE_FIGURES``)."""
    return _dir("RADARFACE_FIGURES", ROOT / "figures")


def runs_dir(profile: str | None = None) -> Path:
    """Executed notebooks and results (``runs/<profile>`` or ``$RADARFACE_RUNS/<profile>``)."""
    return _dir("RADARFACE_RUNS", ROOT / "runs", *([profile] if profile else []))


def weights_dir(profile: str) -> Path:
    """Shipped network weights of a profile (``weights/<profile>`` or ``$RADARFACE_WEIGHTS/<profile>``); not created."""
    return Path(os.environ.get("RADARFACE_WEIGHTS") or ROOT / "weights").expanduser().resolve() / profile
