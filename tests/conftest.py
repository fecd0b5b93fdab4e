"""Shared test set-up: headless matplotlib, figures written to a temporary folder, two xdist workers."""

import os

import matplotlib
import pytest

matplotlib.use("Agg")


def pytest_configure(config):
    """Keep figures from unit tests out of the repository's figures/ folder; nbval compares numbers
    with a tolerance (:mod:`nbval_numbers`)."""
    import nbval_numbers

    nbval_numbers.install()
    if "RADARFACE_FIGURES" not in os.environ:
        import tempfile

        os.environ["RADARFACE_FIGURES"] = tempfile.mkdtemp(prefix="radarface-figures-")


#: Test files that write only to folders of their own (temporary ones): the notebook chains of
#: test_reproduce.py, and the surrogate and raw-capture files of the measurement tests (with the
#: builtin face model, which caches nothing). With ``pytest -n 2`` (``make test``) they run in one
#: worker beside all the other tests, which share ``data/`` (the smoke dataset, and checkpoints of
#: which a run trains one at a time) and so stay together in the other worker, in collection order.
#: The measurement tests (about a minute) even out the two workers' times.
OWN_FOLDERS: tuple[str, ...] = ("tests/test_reproduce.py::", "tests/test_measurements.py::",
                                "tests/test_raw_captures.py::")


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """pytest-xdist's scope scheduling with two scopes: :data:`OWN_FOLDERS`, and everything else.

    (``--dist loadgroup`` would say the same with marks, but it renames node ids, which pytest 9.2
    derives from the collection tree and no longer lets a plugin change.)
    """
    from xdist.scheduler import LoadScopeScheduling

    class TwoScopes(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return "own folders" if nodeid.startswith(OWN_FOLDERS) else "shared data"

    return TwoScopes(config, log)
