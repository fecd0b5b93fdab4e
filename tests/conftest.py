"""Shared test set-up: headless matplotlib, figures written to a temporary folder, xdist groups."""

import os

import matplotlib
import pytest

matplotlib.use("Agg")


def pytest_configure(config):
    """Keep figures from unit tests out of the repository's figures/ folder."""
    if "RADARFACE_FIGURES" not in os.environ:
        import tempfile

        os.environ["RADARFACE_FIGURES"] = tempfile.mkdtemp(prefix="radarface-figures-")


#: xdist group of every test not marked with one: they share ``data/`` (the smoke dataset, and
#: checkpoints of which a run trains one at a time), so they stay in one worker, in order.
SHARED_DATA_GROUP = "shared-data"


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(config, items):
    """Put each test without an ``xdist_group`` mark in :data:`SHARED_DATA_GROUP`.

    ``make test`` runs ``pytest -n 2 --dist loadgroup``: the tests marked with a group of their
    own (whole runs in folders of their own) run in the second worker, beside all the others.
    """
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(SHARED_DATA_GROUP))
