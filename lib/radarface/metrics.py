"""Evaluation metrics (DESIGN §7): parameter errors, vertex distances, baselines, cosine similarities.

Parameter errors work on *normalised target vectors* (B, D) laid out as the dataset's
``slices`` (shape, expression, pose[, render]): shape and expression coefficients are
in standard deviations already, pose in its own standard deviations (a uniform pose on
``±limit`` divided by ``limit / sqrt(3)``). Vertex distances work on parameter dicts
(``shape`` (B, Ks), ``expression`` (B, Ke), ``pose`` (B, 6) in rad and mm), i.e. after
``dataset.denormalise``.

What "total" means. ``total`` is the mean squared error over every shape, expression and
pose coefficient (not the rendering parameters), pose in its standard deviations, so the
mean-face baseline scores about 1 in every column. The paper's table has a total below
its shape and expression errors (mean face 0.808 with 0.991 and 1.000): its pose was
evidently scaled by the limits to [−1, 1] (variance 1/3), which reproduces its baseline
totals from its own shape and expression columns (0.822 and 1.675 against 0.808 and
1.648 for 10 + 7 + 6 coefficients). ``total_paper`` is that number: the same mean with
the pose errors divided by 3. Compare it, not ``total``, with the paper.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from radarface.facemodel.model import check_coefficients
from radarface.geometry import rotation_matrix
from radarface.paths import runs_dir

GROUPS: tuple[str, ...] = ("shape", "expression", "pose")
#: Pose error in units of the pose limits relative to units of its standard deviation (uniform: 1/3).
POSE_LIMIT_VARIANCE: float = 1.0 / 3.0


def _as_array(x: np.ndarray | torch.Tensor, what: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"{what} must be (B, D) target vectors, got shape {x.shape}")
    return x


def _pair(true, pred) -> tuple[np.ndarray, np.ndarray]:
    true, pred = _as_array(true, "true"), _as_array(pred, "pred")
    if true.shape != pred.shape:
        raise ValueError(f"true and pred must have the same shape, got {true.shape} and {pred.shape}")
    return true, pred


# ----------------------------------------------------------- parameter errors
def coefficient_errors(true: np.ndarray | torch.Tensor, pred: np.ndarray | torch.Tensor) -> np.ndarray:
    """Mean squared error (D,) of each target column over the batch; inputs (B, D) normalised."""
    true, pred = _pair(true, pred)
    return ((pred - true) ** 2).mean(axis=0)


def parameter_errors(true: np.ndarray | torch.Tensor, pred: np.ndarray | torch.Tensor,
                     slices: dict[str, slice]) -> dict[str, float]:
    """Mean squared error per coefficient (std units) for shape, expression, pose, total, total_paper[, render].

    Args:
        true, pred: normalised targets (B, D).
        slices: group -> columns (``dataset.slices``); needs shape, expression and pose.

    See the module docstring for ``total`` (shape + expression + pose, pose in std units)
    and ``total_paper`` (pose errors ÷ 3, the paper's apparent convention).

    >>> sl = {"shape": slice(0, 2), "expression": slice(2, 3), "pose": slice(3, 4)}
    >>> t = np.zeros((2, 4)); p = t.copy(); p[:, 3] = 3.0
    >>> {k: round(v, 3) for k, v in parameter_errors(t, p, sl).items()}
    {'shape': 0.0, 'expression': 0.0, 'pose': 9.0, 'total': 2.25, 'total_paper': 0.75}
    """
    per = coefficient_errors(true, pred)
    missing = [g for g in GROUPS if g not in slices]
    if missing:
        raise ValueError(f"slices lacks {missing} (has {sorted(slices)})")
    for group, cols in slices.items():
        if cols.stop > len(per):
            raise ValueError(f"slice {group} {cols} is outside the {len(per)} target columns")
    out = {g: float(per[slices[g]].mean()) for g in GROUPS}
    pose_cols = per[slices["pose"]]
    face = np.concatenate([per[slices["shape"]], per[slices["expression"]]])
    out["total"] = float(np.concatenate([face, pose_cols]).mean())
    out["total_paper"] = float(np.concatenate([face, pose_cols * POSE_LIMIT_VARIANCE]).mean())
    if "render" in slices and slices["render"].stop > slices["render"].start:
        out["render"] = float(per[slices["render"]].mean())
    return out


# ------------------------------------------------------------ vertex distances
def _params(params: dict[str, Any], what: str, need_pose: bool) -> dict[str, np.ndarray]:
    if not isinstance(params, dict):
        raise ValueError(f"{what} must be a dict with shape, expression[, pose], got {type(params).__name__}")
    keys = ("shape", "expression", "pose") if need_pose else ("shape", "expression")
    missing = [k for k in keys if k not in params]
    if missing:
        raise ValueError(f"{what} lacks {missing} (has {sorted(params)})"
                         + ("; with_pose=True needs poses" if "pose" in missing else ""))
    out = {}
    for k in keys:
        v = params[k].detach().cpu().numpy() if isinstance(params[k], torch.Tensor) else params[k]
        out[k] = np.atleast_2d(np.asarray(v, dtype=np.float64))
    sizes = {len(v) for v in out.values()}
    if len(sizes) != 1:
        raise ValueError(f"{what}: batch sizes differ between {keys}: {[len(out[k]) for k in keys]}")
    return out


def _posed(vertices: np.ndarray, poses: np.ndarray) -> np.ndarray:
    """Vertices (B, N, 3) with pose b (6,) applied to face b (geometry.apply_pose, batched)."""
    if poses.shape[1:] != (6,):
        raise ValueError(f"poses must be (B, 6) (yaw, pitch, roll rad; tx, ty, tz mm), got {poses.shape}")
    rot = np.stack([rotation_matrix(*p[:3]) for p in poses])
    return np.einsum("bnj,bij->bni", vertices, rot) + poses[:, None, 3:]


def vertex_errors(model, true_params: dict[str, Any], pred_params: dict[str, Any], *, with_pose: bool = False,
                  chunk: int = 64) -> np.ndarray:
    """Euclidean distance (B, N) in mm between true and predicted faces at every vertex.

    Args:
        model: the :class:`~radarface.facemodel.MorphableModel` the parameters belong to.
        true_params, pred_params: dicts of ``shape`` (B, Ks), ``expression`` (B, Ke) and,
            for ``with_pose``, ``pose`` (B, 6) in rad and mm (a single vector counts as B = 1).
        with_pose: compare posed faces (each its own pose); else the model frame (pose removed).
        chunk: faces per step, to bound memory.
    """
    t, p = _params(true_params, "true_params", with_pose), _params(pred_params, "pred_params", with_pose)
    if len(t["shape"]) != len(p["shape"]):
        raise ValueError(f"true_params has {len(t['shape'])} faces, pred_params {len(p['shape'])}")
    if not with_pose:
        return _model_frame_errors(model, t, p, slice(None), chunk)
    out = np.empty((len(t["shape"]), model.n_vertices))
    for start in range(0, len(out), chunk):
        rows = slice(start, start + chunk)
        vt = _posed(model.vertices(t["shape"][rows], t["expression"][rows]), t["pose"][rows])
        vp = _posed(model.vertices(p["shape"][rows], p["expression"][rows]), p["pose"][rows])
        out[rows] = np.linalg.norm(vt - vp, axis=-1)
    return out


def _model_frame_errors(model, t: dict[str, np.ndarray], p: dict[str, np.ndarray], vertices: slice | np.ndarray,
                        chunk: int) -> np.ndarray:
    """Distances (B, V) in mm at ``vertices`` without pose: the model is linear, so only the coefficient
    difference is mapped, once, through the modes (the mean face cancels)."""
    for params in (t, p):  # the same checks and messages as model.vertices
        check_coefficients(params["shape"], model.n_shape, "shape")
        check_coefficients(params["expression"], model.n_expression, "expression")
    basis = np.concatenate([model.shape_basis, model.expression_basis], axis=2)[vertices]  # (V, 3, K)
    flat = basis.reshape(-1, basis.shape[2]).T
    diff = np.concatenate([t["shape"] - p["shape"], t["expression"] - p["expression"]], axis=1)
    out = np.empty((len(diff), basis.shape[0]))
    for start in range(0, len(out), chunk):
        rows = slice(start, start + chunk)
        out[rows] = np.linalg.norm((diff[rows] @ flat).reshape(-1, basis.shape[0], 3), axis=-1)
    return out


def vertex_distance(model, true_params: dict[str, Any], pred_params: dict[str, Any], *,
                    with_pose: bool = False) -> float:
    """Mean Euclidean distance in mm over the face-region vertices (``model.face_mask``) and all faces.

    Model frame (shape + expression, pose removed) by default; ``with_pose`` applies each
    face's pose first. Parameters as in :func:`vertex_errors`.
    """
    if with_pose:
        return float(vertex_errors(model, true_params, pred_params, with_pose=True)[:, model.face_mask].mean())
    t, p = _params(true_params, "true_params", False), _params(pred_params, "pred_params", False)
    if len(t["shape"]) != len(p["shape"]):
        raise ValueError(f"true_params has {len(t['shape'])} faces, pred_params {len(p['shape'])}")
    return float(_model_frame_errors(model, t, p, model.face_mask, chunk=256).mean())


def vertex_metric(model) -> np.ndarray:
    """Gram matrix M (Ks+Ke, Ks+Ke) in mm² of the shape and expression modes over the face region.

    For a coefficient error ``d`` (shape then expression, std units), ``dᵀ M d`` is the mean
    squared vertex displacement over the face-region vertices (mm²), pose removed.
    """
    basis = np.concatenate([model.shape_basis, model.expression_basis], axis=2)[model.face_mask]
    flat = basis.reshape(-1, basis.shape[2])
    return flat.T @ flat / int(model.face_mask.sum())


# ------------------------------------------------------------------ baselines
def baseline_mean_face(true: np.ndarray | torch.Tensor) -> np.ndarray:
    """The mean-face baseline's predictions: zeros like ``true`` (B, D) (mean face, mean pose, mean rendering)."""
    return np.zeros_like(_as_array(true, "true"))


def baseline_random(true: np.ndarray | torch.Tensor, rng: np.random.Generator) -> np.ndarray:
    """The random baseline's predictions: fresh N(0, 1) draws (B, D) in normalised target units."""
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    return rng.standard_normal(_as_array(true, "true").shape)


# ---------------------------------------------------------- cosine similarity
def cosine_similarity_matrix(a: np.ndarray | torch.Tensor, b: np.ndarray | torch.Tensor) -> np.ndarray:
    """Cosine similarities (Ba, Bb) between the rows of ``a`` (Ba, K) and ``b`` (Bb, K); a zero row gives 0.

    >>> cosine_similarity_matrix([[1.0, 0.0], [0.0, 2.0]], [[3.0, 0.0], [1.0, 1.0]]).round(3).tolist()
    [[1.0, 0.707], [0.0, 0.707]]
    """
    a, b = _as_array(a, "a"), _as_array(b, "b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"a and b must have the same number of columns, got {a.shape} and {b.shape}")
    unit = lambda x: x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)  # noqa: E731
    return unit(a) @ unit(b).T


def cosine_summary(matrix: np.ndarray) -> dict[str, float]:
    """Mean of the diagonal (a face with its own prediction) and of the rest of a square similarity matrix."""
    m = np.asarray(matrix, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"matrix must be square, got shape {m.shape}")
    off = ~np.eye(len(m), dtype=bool)
    return {"diagonal": float(np.diag(m).mean()), "off_diagonal": float(m[off].mean()) if off.any() else math.nan}


# ------------------------------------------------------------- results table
def evaluate(model, true: np.ndarray | torch.Tensor, pred: np.ndarray | torch.Tensor, slices: dict[str, slice],
             denormalise: Callable[[np.ndarray], dict[str, np.ndarray]]) -> dict[str, float]:
    """One results row: :func:`parameter_errors`, ``vertex_mm``, ``vertex_posed_mm`` (:func:`vertex_distance`), ``n``.

    ``true``, ``pred``: normalised targets (B, D); ``denormalise`` maps them to parameter
    dicts (``RadarFaceDataset.denormalise``).
    """
    true, pred = _pair(true, pred)
    row = parameter_errors(true, pred, slices)
    t, p = denormalise(true), denormalise(pred)
    row["vertex_mm"] = vertex_distance(model, t, p)
    row["vertex_posed_mm"] = vertex_distance(model, t, p, with_pose=True)
    row["n"] = len(true)
    return row


def evaluate_with_baselines(model, true: np.ndarray | torch.Tensor, pred: np.ndarray | torch.Tensor,
                            slices: dict[str, slice], denormalise: Callable[[np.ndarray], dict[str, np.ndarray]],
                            *, rng: np.random.Generator, name: str = "encoder") -> dict[str, dict[str, float]]:
    """Rows ``mean face``, ``random`` and ``name`` (the predictions) of :func:`evaluate` on the same samples."""
    true = _as_array(true, "true")
    return {"mean face": evaluate(model, true, baseline_mean_face(true), slices, denormalise),
            "random": evaluate(model, true, baseline_random(true, rng), slices, denormalise),
            name: evaluate(model, true, pred, slices, denormalise)}


COLUMNS: dict[str, str] = {"shape": "shape err", "expression": "expr err", "pose": "pose err", "total": "total err",
                           "total_paper": "total (paper)", "vertex_mm": "vertex mm", "vertex_posed_mm": "posed mm"}


def format_table(rows: dict[str, dict[str, float]], *, digits: int = 2, reference: str = "mean face") -> str:
    """A markdown table of results rows (name -> row), with vertex distance ÷ the ``reference`` row's."""
    if not rows:
        raise ValueError("rows is empty: nothing to tabulate")
    ref = rows.get(reference, {}).get("vertex_mm")
    header = ["method", *COLUMNS.values()] + ([f"÷ {reference}"] if ref else [])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, row in rows.items():
        cells = [name] + [f"{row[k]:.{digits}f}" if k in row else "–" for k in COLUMNS]
        if ref:
            cells.append(f"{row['vertex_mm'] / ref:.{digits}f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    return value


def write_results(results: dict[str, Any], profile: str, name: str) -> Path:
    """Write ``results`` as ``runs_dir(profile)/results/<name>.json`` (sorted keys); return the path."""
    if not name or "/" in name:
        raise ValueError(f"name must be a plain file stem such as 'encoder_depth', got {name!r}")
    folder = runs_dir(profile) / "results"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(json.dumps(_jsonable(results), indent=2, sort_keys=True) + "\n")
    return path


def read_results(profile: str, names: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The results files ``runs_dir(profile)/results/<name>.json`` of ``names`` that exist, by name."""
    folder = runs_dir(profile) / "results"
    out = {}
    for name in names:
        path = folder / f"{name}.json"
        if path.is_file():
            try:
                out[name] = json.loads(path.read_text())
            except json.JSONDecodeError as err:
                raise ValueError(f"{path} is not valid JSON ({err}); delete it and rerun its notebook") from None
    return out


def input_comparison(results: dict[str, dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Rows for :func:`format_table`: the mean face (from the first file) and ``encoder (<inputs>)``
    per encoder results file (:func:`read_results`)."""
    rows: dict[str, dict[str, float]] = {}
    for name, result in results.items():
        base = rows.setdefault("mean face", result["rows"]["mean face"])
        if base.get("vertex_mm") != result["rows"]["mean face"].get("vertex_mm"):
            raise ValueError(f"{name}'s mean-face baseline ({result['rows']['mean face'].get('vertex_mm')} mm) differs "
                             f"from the first file's ({base.get('vertex_mm')} mm): the files come from different test "
                             "sets; rerun notebook 04 for every input type on one dataset")
        rows[f"encoder ({result['inputs']})"] = result["rows"]["encoder"]
    return rows
