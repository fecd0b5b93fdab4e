"""The paper's results table and ours side by side."""

import json

import matplotlib.pyplot as plt
import numpy as np
import pytest

from radarface.experiments import paper_table as pt
from radarface.experiments.evaluation import METHODS, REFINED
from radarface.plots.decoder import plot_comparison_ratios


def _rows(shift=0.0):
    row = lambda mm: {"shape": 0.5, "expression": 0.6, "total_paper": 0.4, "total": 0.7, "vertex_mm": mm}  # noqa: E731
    rows = {"mean face": row(4.0), "random": row(6.0)}
    rows.update({name: row(3.0 - i * 0.2 - shift) for i, name in enumerate(METHODS)})
    return rows


def test_comparison_table_has_every_paper_row_and_ours_beside_them():
    table = pt.comparison_table({"depth": _rows(), "both": _rows(0.1)})
    keys = [(r["method"], r["input"]) for r in table]
    assert all((m, i) in keys for m, i, *_ in pt.PAPER_RESULTS)
    assert keys[:2] == [("baseline: mean face", "–"), ("baseline: random", "–")]
    by_key = dict(zip(keys, table))
    depth_ae = by_key[("autoencoder", "depth")]
    assert depth_ae["paper_vertex_mm"] == 2.56 and depth_ae["paper_ratio"] == pytest.approx(2.56 / 4.42)
    assert depth_ae["ours_vertex_mm"] == pytest.approx(2.8) and depth_ae["ours_ratio"] == pytest.approx(0.7)
    assert depth_ae["ours_total"] == 0.4  # the paper's pose convention
    assert by_key[("encoder", "amplitude")]["ours_ratio"] is None  # not evaluated
    refined = by_key[(REFINED, "amp + depth")]
    assert refined["paper_vertex_mm"] is None and refined["ours_vertex_mm"] == pytest.approx(2.5)
    text = pt.format_comparison(table)
    assert text.count("\n") == len(table) + 1 and "| – |" in text and "0.58" in text


def test_comparison_table_errors():
    with pytest.raises(ValueError, match="ours is empty"):
        pt.comparison_table({})
    with pytest.raises(ValueError, match="unknown input type"):
        pt.comparison_table({"phase": _rows()})


def test_write_comparison_goes_to_the_profiles_results(tmp_path, monkeypatch):
    monkeypatch.setenv("RADARFACE_RUNS", str(tmp_path))
    path = pt.write_comparison(pt.comparison_table({"both": _rows()}), "smoke", inputs=["both"])
    assert path == tmp_path / "smoke" / "results" / "table.json"
    saved = json.loads(path.read_text())
    # the baselines, the paper's six rows (ours for one input), our three test-time rows
    assert saved["profile"] == "smoke" and len(saved["rows"]) == 11 and saved["inputs"] == ["both"]
    assert np.isclose(saved["rows"][0]["ours_ratio"], 1.0)


def test_plot_comparison_ratios_draws_both_sources():
    table = pt.comparison_table({"both": _rows()})
    ax = plot_comparison_ratios(table, ax=plt.figure().gca())
    assert len(ax.patches) == 2 * len(table)
    plt.close("all")
