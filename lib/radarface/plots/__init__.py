"""Plot helpers: each takes ``ax=None`` (or ``axes``) and returns what it drew on.

Submodules: ``face`` (meshes, modes, errors), ``radar`` (arrays, PSFs, images),
``dataset`` (sample grids, parameter histograms).
"""

from pathlib import Path

import matplotlib.pyplot as plt

from radarface import paths


def save(fig: plt.Figure, name: str, *, dpi: int = 110) -> Path:
    """Save ``fig`` as ``figures/<name>.png`` (``$RADARFACE_FIGURES``) and return the path."""
    path = paths.figures_dir() / f"{name}.png"
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    return path
