"""The paper's results table (DESIGN §1) and ours side by side.

:data:`PAPER_RESULTS` holds the paper's rows on synthetic validation data;
:func:`comparison_table` puts our rows (:func:`radarface.experiments.evaluation.evaluate_pipeline`
per input type) beside them, each with the ratio of the vertex distance to the same
source's mean-face baseline, which compares across face models (paper's best: 2.56 / 4.42
= 0.58). :func:`format_comparison` writes it as Markdown, :func:`write_comparison` as
``runs/<profile>/results/table.json``.

>>> rows = {"mean face": {"shape": 1.0, "expression": 1.0, "total_paper": 0.8, "vertex_mm": 4.0}}
>>> table = comparison_table({"both": rows})
>>> table[0]["method"], table[0]["paper_vertex_mm"], table[0]["ours_ratio"]
('baseline: mean face', 4.42, 1.0)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from radarface.experiments.evaluation import METHODS
from radarface.metrics import write_results

INPUT_LABELS: dict[str, str] = {"amplitude": "amplitude", "depth": "depth", "both": "amp + depth"}
#: The paper's results on synthetic validation data (DESIGN §1): method, input, shape err, expr err,
#: total err, vertex distance (mm). Its total counts pose errors in units of the pose limits.
PAPER_RESULTS: tuple[tuple[str, str, float, float, float, float], ...] = (
    ("baseline: mean face", "–", 0.991, 1.000, 0.808, 4.42),
    ("baseline: random", "–", 2.012, 2.059, 1.648, 6.28),
    ("encoder", "amplitude", 0.840, 0.921, 0.655, 3.47),
    ("encoder", "depth", 0.740, 0.910, 0.608, 2.77),
    ("encoder", "amp + depth", 0.735, 0.885, 0.598, 2.82),
    ("autoencoder", "amplitude", 0.770, 0.815, 0.594, 3.29),
    ("autoencoder", "depth", 0.634, 0.850, 0.544, 2.56),
    ("autoencoder", "amp + depth", 0.640, 0.820, 0.539, 2.61),
)
TABLE_COLUMNS: dict[str, str] = {"shape": "shape err", "expression": "expr err", "total": "total err",
                                 "vertex_mm": "vertex mm", "ratio": "÷ mean face"}
_BASELINES = {"mean face": "baseline: mean face", "random": "baseline: random"}


def comparison_table(ours: dict[str, dict[str, dict[str, float]]]) -> list[dict[str, Any]]:
    """The paper's rows and ours side by side: one dict per (method, input) with ``paper_<col>`` and ``ours_<col>``.

    ``ours``: inputs ("amplitude", "depth", "both") -> rows of :func:`evaluate_pipeline`.
    Columns: ``shape``, ``expression``, ``total`` (ours: ``total_paper``, the paper's pose
    convention), ``vertex_mm`` and ``ratio`` (vertex distance ÷ the same source's mean-face
    baseline, which compares across face models). A missing value is None. Order: the two
    baselines, then per method of :data:`~radarface.experiments.evaluation.METHODS` the three input types.
    """
    if not ours:
        raise ValueError("ours is empty: evaluate at least one input type (evaluate_pipeline)")
    unknown = sorted(set(ours) - set(INPUT_LABELS))
    if unknown:
        raise ValueError(f"unknown input type(s) {unknown}; known: {list(INPUT_LABELS)}")
    paper = {(m, i): dict(zip(("shape", "expression", "total", "vertex_mm"), v)) for m, i, *v in PAPER_RESULTS}
    ours_rows: dict[tuple[str, str], dict[str, float]] = {}
    for inputs, rows in ours.items():
        for name, row in rows.items():
            key = (_BASELINES[name], "–") if name in _BASELINES else (name, INPUT_LABELS[inputs])
            ours_rows.setdefault(key, {"shape": row["shape"], "expression": row["expression"],
                                       "total": row["total_paper"], "vertex_mm": row["vertex_mm"]})
    order = [(b, "–") for b in _BASELINES.values()] + [(m, INPUT_LABELS[i]) for m in METHODS for i in INPUT_LABELS]
    out = []
    for source, rows in (("paper", paper), ("ours", ours_rows)):
        ref = rows.get(("baseline: mean face", "–"), {}).get("vertex_mm")
        for row in rows.values():
            row["ratio"] = row["vertex_mm"] / ref if ref else None
    for key in order:
        if key in paper or key in ours_rows:
            entry: dict[str, Any] = {"method": key[0], "input": key[1]}
            for col in TABLE_COLUMNS:
                entry[f"paper_{col}"] = paper.get(key, {}).get(col)
                entry[f"ours_{col}"] = ours_rows.get(key, {}).get(col)
            out.append(entry)
    return out


def format_comparison(table: list[dict[str, Any]], *, digits: int = 2) -> str:
    """Markdown of :func:`comparison_table`: each column as paper | ours; "–" where a source has no row."""
    cell = lambda v: "–" if v is None else f"{v:.{digits}f}"  # noqa: E731
    header = ["method", "input"] + [f"{label} {src}" for label in TABLE_COLUMNS.values() for src in ("paper", "ours")]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in table:
        cells = [row["method"], row["input"]]
        cells += [cell(row[f"{src}_{col}"]) for col in TABLE_COLUMNS for src in ("paper", "ours")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_comparison(table: list[dict[str, Any]], profile: str, **extra: Any) -> Path:
    """Write :func:`comparison_table` (and ``extra`` entries) to ``runs_dir(profile)/results/table.json``."""
    return write_results({"profile": profile, "columns": TABLE_COLUMNS, "rows": table, **extra}, profile, "table")
