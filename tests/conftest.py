"""Shared test set-up: headless matplotlib, figures written to a temporary folder."""

import os

import matplotlib

matplotlib.use("Agg")


def pytest_configure(config):
    """Keep figures from unit tests out of the repository's figures/ folder."""
    if "RADARFACE_FIGURES" not in os.environ:
        import tempfile

        os.environ["RADARFACE_FIGURES"] = tempfile.mkdtemp(prefix="radarface-figures-")
