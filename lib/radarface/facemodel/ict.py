"""ICT-FaceKit Light (MIT) as a :class:`MorphableModel`: the face area, 100 identities, 53 blendshapes.

Read from the original folder layout (``FaceXModel/``): ``generic_neutral_mesh.obj``,
``identity000.obj`` ..., one OBJ per ARKit blendshape, ``vertex_indices.json``. Only the
first 9,409 vertices of each OBJ are used (the face area), so the original 26,719-vertex
files and the face-area subset both load.

Conversion:
- units: centimetres -> mm. The ICT frame already matches BFM 2019 (x to the subject's
  left, y up, z out of the face, origin near the head centre; nose tip at about
  (0, 4, 131) mm, chin at (0, -76, 104) mm against BFM's (0, 1, 132) and (0, -73, 103)),
  so no shift is applied.
- reading: trimesh's OBJ reader (:func:`read_obj`), the one mesh library of the project, told
  to keep the file's vertex and polygon order.
- triangles: each quad (a, b, c, d) -> (a, b, c), (a, c, d); faces touching vertices past the
  face area are dropped.
- identity: modes identity_i - neutral with weights ~ N(0, 1), covariance D·Dᵀ;
  PCA-orthogonalised, the top ``n_shape`` kept (coefficients N(0, 1)).
- expression: the blendshapes named in ``vertex_indices.json["expressions"]`` with
  independent weights ~ U[0, 1]: mean D·0.5 (so the zero-coefficient face wears half of
  every blendshape), covariance D·Dᵀ/12; PCA gives ``n_expression`` coefficients with
  zero mean and unit variance (matching the first two moments, not the uniform shape).
- face mask: vertices at least 12 mm (3D distance) from the outer boundary of the face
  area, not below the chin (y >= chin landmark - 15 mm), not beside the face (|x| <=
  outer eye corner + 25 mm, about 70 mm) and in front (z >= 30 mm): drops the rim, the
  neck, the ears and the sides of head and jaw; eye and mouth openings are kept.
- landmarks: the 68 iBUG points from ``idx_to_landmark_verts`` as ``ibug68_NN`` plus
  BFM-style aliases for the common ones (``center.nose.tip``, eye and lip corners, chin).

Parsed arrays are cached in ``data_dir()/cache/ict_<key>.npz``, keyed by the folder and
the sizes and modification times of the files read, so later loads skip the text parsing.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import warnings
from pathlib import Path

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from ..paths import ROOT, data_dir
from .model import MorphableModel
from .pca import pca_basis

N_FACE_VERTICES = 9409
CM_TO_MM = 10.0
_RIM_MM = 12.0
_CACHE_FORMAT = 1

ARKIT_EXPRESSIONS: tuple[str, ...] = (
    "browDown_L", "browDown_R", "browInnerUp_L", "browInnerUp_R", "browOuterUp_L", "browOuterUp_R",
    "cheekPuff_L", "cheekPuff_R", "cheekSquint_L", "cheekSquint_R", "eyeBlink_L", "eyeBlink_R",
    "eyeLookDown_L", "eyeLookDown_R", "eyeLookIn_L", "eyeLookIn_R", "eyeLookOut_L", "eyeLookOut_R",
    "eyeLookUp_L", "eyeLookUp_R", "eyeSquint_L", "eyeSquint_R", "eyeWide_L", "eyeWide_R",
    "jawForward", "jawLeft", "jawOpen", "jawRight", "mouthClose", "mouthDimple_L", "mouthDimple_R",
    "mouthFrown_L", "mouthFrown_R", "mouthFunnel", "mouthLeft", "mouthLowerDown_L",
    "mouthLowerDown_R", "mouthPress_L", "mouthPress_R", "mouthPucker", "mouthRight",
    "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper", "mouthSmile_L",
    "mouthSmile_R", "mouthStretch_L", "mouthStretch_R", "mouthUpperUp_L", "mouthUpperUp_R",
    "noseSneer_L", "noseSneer_R")

# iBUG-68 index -> BFM 2019 landmark name (the subject's right is -x in both).
_IBUG_TO_BFM = {8: "center.chin.tip", 30: "center.nose.tip", 36: "right.eye.corner_outer",
                39: "right.eye.corner_inner", 42: "left.eye.corner_inner",
                45: "left.eye.corner_outer", 48: "right.lips.corner", 54: "left.lips.corner"}

_IDENTITY_RE = re.compile(r"^identity(\d+)\.obj$")


def default_ict_dir() -> Path:
    """ICT folder from ``$RADARFACE_ICT_DIR``, else ``<repo>/../shared/ict-facekit``."""
    env = os.environ.get("RADARFACE_ICT_DIR")
    return Path(env).expanduser() if env else ROOT.parent / "shared" / "ict-facekit"


def find_ict_folder(folder: str | Path | None = None) -> Path:
    """The ``FaceXModel`` folder inside (or equal to) ``folder``; FileNotFoundError when absent."""
    base = Path(folder).expanduser() if folder is not None else default_ict_dir()
    for candidate in (base / "FaceXModel", base):
        if (candidate / "generic_neutral_mesh.obj").is_file():
            return candidate.resolve()
    raise FileNotFoundError(
        f"no ICT-FaceKit folder at {base} (expected FaceXModel/generic_neutral_mesh.obj "
        f"inside it); pass the folder as the source or set RADARFACE_ICT_DIR")


def read_obj(path: Path) -> dict[str, np.ndarray]:
    """``vertices`` (V, 3) in file order and, if the file has polygons, ``faces`` (F, 3 or 4) 0-based, via trimesh.

    trimesh's OBJ reader is told to keep the file's order (``maintain_order``, no material
    handling), so vertex i of the result is the file's i-th ``v`` line and quads stay quads.
    """
    # imported here: trimesh adds about 1 s to every import of the face models, and only ICT files need it
    from trimesh.exchange.obj import load_obj

    try:
        with open(path, "rb") as fh, warnings.catch_warnings():
            # ``v/vt/vn`` faces without ``vt`` lines make trimesh warn about texture indices it then ignores
            warnings.simplefilter("ignore", RuntimeWarning)
            loaded = load_obj(fh, maintain_order=True, skip_materials=True, group_material=False)
    except FileNotFoundError:
        raise
    except Exception as err:  # noqa: BLE001 - any parser failure means the same thing here
        raise ValueError(f"{path}: cannot parse the OBJ file ({type(err).__name__}: {err})") from None
    if "vertices" in loaded:  # a point set: no polygons
        return {"vertices": np.asarray(loaded["vertices"], dtype=np.float64)}
    meshes = list(loaded.get("geometry", {}).values())
    if len(meshes) != 1:
        raise ValueError(f"{path}: expected one mesh (or a vertex list), found {len(meshes)} objects; "
                         "merge them into one OBJ object")
    return {"vertices": np.asarray(meshes[0]["vertices"], dtype=np.float64),
            "faces": np.asarray(meshes[0]["faces"], dtype=np.int64)}


def read_obj_vertices(path: Path, n: int = N_FACE_VERTICES) -> np.ndarray:
    """The first ``n`` vertices (n, 3) of an OBJ file, in the file's units."""
    vertices = read_obj(path)["vertices"]
    if len(vertices) < n:
        raise ValueError(f"{path}: has {len(vertices)} vertices, at least {n} needed "
                         "(the ICT face area); is the file truncated?")
    if not np.all(np.isfinite(vertices[:n])):
        raise ValueError(f"{path}: vertex coordinates are not all finite numbers")
    return vertices[:n]


def read_obj_triangles(path: Path, n_vertices: int = N_FACE_VERTICES) -> np.ndarray:
    """Triangles (M, 3) int64 (0-based) from the polygons of an OBJ whose vertices are all < n_vertices.

    Each quad (a, b, c, d) becomes (a, b, c), (a, c, d), in the file's polygon order.
    """
    faces = read_obj(path).get("faces")
    if faces is None or faces.ndim != 2 or faces.shape[1] not in (3, 4) or len(faces) == 0:
        found = "none" if faces is None else f"shape {faces.shape}"
        raise ValueError(f"{path}: expected triangles or quads, found {found}")
    if faces.min() < 0:
        raise ValueError(f"{path}: unsupported face indices (need positive vertex indices, found {faces.min() + 1})")
    faces = faces[faces.max(axis=1) < n_vertices]
    if not len(faces):
        raise ValueError(f"{path}: no polygons within the first {n_vertices} vertices")
    if faces.shape[1] == 3:
        return faces
    return np.stack([faces[:, [0, 1, 2]], faces[:, [0, 2, 3]]], axis=1).reshape(-1, 3)


def _identity_files(folder: Path) -> list[Path]:
    numbers = sorted(int(m.group(1)) for p in folder.iterdir() if (m := _IDENTITY_RE.match(p.name)))
    files = [folder / f"identity{i:03d}.obj" for i in range(len(numbers))]
    missing = [f for f in files if not f.is_file()]
    if not numbers or missing:
        first = missing[0] if missing else folder / "identity000.obj"
        raise FileNotFoundError(f"ICT identity file missing: {first} (identities must be "
                                "numbered identity000.obj, identity001.obj, ... without gaps)")
    return files


def _expression_names(folder: Path) -> tuple[list[str], dict]:
    path = folder / "vertex_indices.json"
    meta = json.loads(path.read_text()) if path.is_file() else {}
    return list(meta.get("expressions", ARKIT_EXPRESSIONS)), meta


def _cache_key(folder: Path, files: list[Path]) -> str:
    h = hashlib.sha256(f"{_CACHE_FORMAT}:{folder}".encode())
    for f in files:
        st = f.stat()
        h.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns};".encode())
    return h.hexdigest()[:20]


def _parse_folder(folder: Path, identity_files: list[Path], expression_files: list[Path]) -> dict:
    neutral = read_obj_vertices(folder / "generic_neutral_mesh.obj")
    triangles = read_obj_triangles(folder / "generic_neutral_mesh.obj")
    identities = np.stack([read_obj_vertices(f) for f in identity_files]) - neutral
    expressions = np.stack([read_obj_vertices(f) for f in expression_files]) - neutral
    return {"neutral": neutral * CM_TO_MM, "triangles": triangles,
            "identity_deltas": identities * CM_TO_MM, "expression_deltas": expressions * CM_TO_MM}


def _load_arrays(folder: Path, *, cache: bool) -> tuple[dict, list[str], dict]:
    identity_files = _identity_files(folder)
    names, meta = _expression_names(folder)
    expression_files = [folder / f"{name}.obj" for name in names]
    for f in expression_files:
        if not f.is_file():
            raise FileNotFoundError(f"ICT blendshape file missing: {f} (listed in vertex_indices.json)")
    files = [folder / "generic_neutral_mesh.obj", *identity_files, *expression_files]
    cache_file = None
    if cache:
        cache_file = data_dir() / "cache" / f"ict_{_cache_key(folder, files)}.npz"
        if cache_file.is_file():
            try:
                with np.load(cache_file) as z:
                    cached = {k: z[k] for k in z.files}
                # the OBJ files were checked when the cache was made: non-finite values mean a damaged cache
                if all(np.all(np.isfinite(v)) for v in cached.values()):
                    return cached, names, meta
            except (OSError, ValueError, KeyError):
                pass  # unreadable cache (interrupted write, old format): rebuild it below
    arrays = _parse_folder(folder, identity_files, expression_files)
    if cache_file is not None:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_name(f"{cache_file.stem}.{os.getpid()}.tmp.npz")
        np.savez(tmp, **arrays)
        os.replace(tmp, cache_file)  # atomic: parallel workers never see half a file
    return arrays, names, meta


def _face_mask(vertices: np.ndarray, triangles: np.ndarray, chin_y: float, half_width: float) -> np.ndarray:
    edges = np.sort(np.concatenate([triangles[:, [0, 1]], triangles[:, [1, 2]], triangles[:, [2, 0]]]), 1)
    uniq, count = np.unique(edges, axis=0, return_counts=True)
    boundary = uniq[count == 1]
    n, rim = len(vertices), np.unique(boundary)
    graph = coo_matrix((np.ones(len(boundary)), (boundary[:, 0], boundary[:, 1])), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    loops = [rim[labels[rim] == lab] for lab in np.unique(labels[rim])]
    outer = max(loops, key=lambda idx: np.ptp(vertices[idx], axis=0).sum())  # eyes, mouth are smaller
    dist, _ = cKDTree(vertices[outer]).query(vertices)
    return ((dist >= _RIM_MM) & (vertices[:, 1] >= chin_y - 15.0)
            & (np.abs(vertices[:, 0]) <= half_width) & (vertices[:, 2] >= 30.0))


def load_ict(folder: str | Path | None = None, n_shape: int = 10, n_expression: int = 7,
             *, cache: bool = True) -> MorphableModel:
    """ICT-FaceKit face-area model in mm with ``n_shape`` identity and ``n_expression`` expression modes."""
    folder = find_ict_folder(folder)
    arrays, names, meta = _load_arrays(folder, cache=cache)
    neutral, triangles = arrays["neutral"], arrays["triangles"]
    n_id, n_expr = len(arrays["identity_deltas"]), len(arrays["expression_deltas"])
    if n_shape > n_id:
        raise ValueError(f"the ICT folder {folder} has {n_id} identity modes, {n_shape} requested")
    if n_expression > n_expr:
        raise ValueError(f"the ICT folder {folder} has {n_expr} blendshapes, {n_expression} requested")
    shape_basis, _ = pca_basis(arrays["identity_deltas"].reshape(n_id, -1).T)
    blend = arrays["expression_deltas"].reshape(n_expr, -1).T  # (3N, 53)
    expression_basis, _ = pca_basis(blend / np.sqrt(12.0))  # Var U[0, 1] = 1/12
    expression_mean = (blend @ np.full(n_expr, 0.5)).reshape(-1, 3)

    landmarks: dict[str, int] = {}
    for i, v in enumerate(meta.get("idx_to_landmark_verts", [])):
        if 0 <= v < N_FACE_VERTICES:
            landmarks[f"ibug68_{i:02d}"] = int(v)
            if i in _IBUG_TO_BFM:
                landmarks[_IBUG_TO_BFM[i]] = int(v)
    chin_y = neutral[landmarks["center.chin.tip"], 1] if "center.chin.tip" in landmarks else -np.inf
    eye = landmarks.get("left.eye.corner_outer")
    half_width = abs(neutral[eye, 0]) + 25.0 if eye is not None else np.inf
    return MorphableModel(
        name="ict-facekit", source=f"ict:{folder}",
        mean=neutral + expression_mean,
        shape_basis=shape_basis[:, :, :n_shape], expression_basis=expression_basis[:, :, :n_expression],
        triangles=triangles, face_mask=_face_mask(neutral, triangles, chin_y, half_width),
        landmarks=landmarks or None, expression_mean=expression_mean)
