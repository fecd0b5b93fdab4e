"""Tests for radarface.facemodel: builtin model, BFM 2019 reader/writer, ICT-FaceKit loader."""

from __future__ import annotations

import dataclasses
import json
import pickle
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from scipy.spatial import cKDTree

from radarface import paths
from radarface.facemodel import MorphableModel, builtin, ict, load_model

ICT_DIR = paths.ROOT.parent / "shared" / "ict-facekit"


# ------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def model() -> MorphableModel:
    return load_model("builtin")


@pytest.fixture(scope="module")
def full_builtin() -> MorphableModel:
    return load_model("builtin", n_shape=30, n_expression=12)


@pytest.fixture
def data_dir(tmp_path, monkeypatch) -> Path:
    """An empty RADARFACE_DATA, so caches and 'auto' look only here."""
    d = tmp_path / "data"
    monkeypatch.setenv("RADARFACE_DATA", str(d))
    monkeypatch.delenv("RADARFACE_BFM", raising=False)
    return d


def _obj_text(vertices_cm: np.ndarray, faces: str = "", header: str = "# fake ICT file\n") -> str:
    lines = "\n".join(f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in vertices_cm)
    return header + lines + "\n" + faces


def _fake_ict(root: Path, n_identities: int = 3, expressions=("jawOpen", "mouthSmile_L")) -> tuple[Path, dict]:
    """A small ICT-like folder: 9,409 vertices on a grid (cm), quads with v/vt/vn syntax."""
    rng = np.random.default_rng(7)
    folder = root / "FaceXModel"
    folder.mkdir(parents=True)
    gx, gy = np.meshgrid(np.arange(97) * 0.15 - 7.2, np.arange(97) * 0.2 - 9.6)
    neutral = np.stack([gx.ravel(), gy.ravel(), 11.0 - 0.02 * (gx.ravel() ** 2 + gy.ravel() ** 2)], 1)
    quads = [f"f {a}/{a}/{a} {a + 1}/{a + 1}/{a + 1} {a + 98}/{a + 98}/{a + 98} {a + 97}/{a + 97}/{a + 97}"
             for a in range(1, 97 * 96 + 1) if a % 97]  # 1-based OBJ indices
    (folder / "generic_neutral_mesh.obj").write_text(_obj_text(neutral, "\n".join(quads) + "\n"))
    deltas = {}
    for name in [f"identity{i:03d}" for i in range(n_identities)] + list(expressions):
        d = rng.normal(0, 0.05, 3) * np.sin(neutral[:, [1, 0, 0]] * rng.uniform(0.2, 0.5, 3))
        deltas[name] = np.round(neutral + d, 6) - np.round(neutral, 6)  # what the text holds
        (folder / f"{name}.obj").write_text(_obj_text(neutral + d))
    landmarks = [int(i) for i in rng.choice(9409, 68, replace=False)]
    (folder / "vertex_indices.json").write_text(json.dumps(
        {"expressions": list(expressions), "idx_to_landmark_verts": landmarks + [20000]}))
    return folder, {"neutral_mm": neutral * 10, "deltas_mm": {k: v * 10 for k, v in deltas.items()}}


def _write_statismo(path: Path, rng: np.random.Generator, *, n: int = 40, k_shape: int = 6,
                    k_expr: int = 4, version: tuple[int, int] = (0, 9)) -> dict:
    """A BFM-2019-layout file written with plain h5py, as another tool would."""
    parts = {}
    with h5py.File(path, "w") as f:
        for part, k in (("shape", k_shape), ("expression", k_expr)):
            mean = (rng.normal(0, 50, 3 * n)).astype(np.float32)
            u, _ = np.linalg.qr(rng.normal(size=(3 * n, k)))
            var = np.sort(rng.uniform(1, 30, k))[::-1].astype(np.float32)
            stored = u * np.sqrt(var) if version == (0, 8) else u
            f[f"{part}/model/mean"] = mean
            f[f"{part}/model/pcaBasis"] = stored.astype(np.float32)
            f[f"{part}/model/pcaVariance"] = var
            f[f"{part}/model/noiseVariance"] = np.array([0.1], np.float32)
            f[f"{part}/representer/points"] = mean.reshape(n, 3).T
            f[f"{part}/representer/cells"] = np.array([[0, 1, 2], [1, 2, 3], [2, 3, 4]], np.int32).T
            parts[part] = (mean.astype(np.float64), u.astype(np.float32).astype(np.float64),
                           var.astype(np.float64))
        f["version/majorVersion"] = np.int32(version[0])
        f["version/minorVersion"] = np.int32(version[1])
        tip = parts["shape"][0].reshape(n, 3)[5] + 0.01
        f["metadata/landmarks/json"] = json.dumps([{"id": "center.nose.tip", "coordinates": tip.tolist()}])
    return parts


# ------------------------------------------------------------------ builtin
def test_builtin_deterministic():
    builtin._full_builtin.cache_clear()
    a = load_model("builtin", 30, 12)
    builtin._full_builtin.cache_clear()
    b = load_model("builtin", 30, 12)
    for name in ("mean", "shape_basis", "expression_basis", "triangles", "face_mask"):
        assert getattr(a, name).tobytes() == getattr(b, name).tobytes(), name
    assert a.content_hash() == b.content_hash()
    assert len(a.content_hash()) == 64 and int(a.content_hash(), 16) >= 0
    assert load_model("builtin", 9, 7).content_hash() != load_model("builtin", 10, 7).content_hash()


def test_builtin_looks_like_a_face(model):
    v = model.mean
    width, height = np.ptp(v[:, 0]), np.ptp(v[:, 1])
    assert 120 <= width <= 180 and 150 <= height <= 260, (width, height)
    assert 3000 <= model.n_vertices <= 6000
    tip = v[np.argmax(v[:, 2])]
    assert abs(tip[0]) < 2.5 and -10 < tip[1] < 15 and 110 < tip[2] < 140, tip
    assert model.landmarks["center.nose.tip"] == np.argmax(v[:, 2]) or \
        np.linalg.norm(v[model.landmarks["center.nose.tip"]] - tip) < 3
    low = v[v[:, 1] <= v[:, 1].min() + 1e-9]
    assert np.all(np.abs(low[:, 0]) < 20), "the lowest points are the chin's, on the midline"
    lm = {k: v[i] for k, i in model.landmarks.items()}
    assert lm["left.eye.pupil.center"][0] > 20 and lm["right.eye.pupil.center"][0] < -20
    ys = [lm[k][1] for k in ("center.front.trichion", "left.eye.pupil.center", "center.nose.tip",
                             "center.lips.upper.outer", "center.lips.lower.outer", "center.chin.tip")]
    assert ys == sorted(ys, reverse=True), ys
    # eye sockets sit behind the brows and the nose bridge; lips in front of the cheeks
    assert lm["left.eye.corner_inner"][2] < lm["left.eyebrow.inner_lower"][2] - 5
    assert lm["center.lips.upper.outer"][2] > lm["left.nasolabial_fold.center"][2] + 8
    # the surface sits in front of the origin, which is near the head centre
    assert 60 < np.median(v[:, 2]) < 115 and abs(v[:, 1].mean()) < 25 and abs(v[:, 0].mean()) < 1e-6
    dist, _ = cKDTree(v).query(v * [-1, 1, 1])
    assert dist.max() < 0.1, "mean face is left-right symmetric"


def test_builtin_mesh_and_mask(model):
    v, tri = model.mean, model.triangles
    normals = np.cross(v[tri[:, 1]] - v[tri[:, 0]], v[tri[:, 2]] - v[tri[:, 0]])
    assert normals[:, 2].min() > 0, "counter-clockwise seen from +z (outward)"
    assert set(np.unique(tri)) == set(range(model.n_vertices))
    edge = np.linalg.norm(v[tri[:, [1, 2, 0]]] - v[tri], axis=2)
    assert np.median(edge) < 4.0
    frac = model.face_mask.mean()
    assert 0.6 < frac < 0.95
    rim = v[~model.face_mask]
    assert np.abs(v[model.face_mask, 0]).max() < np.abs(rim[:, 0]).max()


def test_builtin_modes(full_builtin):
    for basis, low in ((full_builtin.shape_basis, 20), (full_builtin.expression_basis, 10)):
        k = basis.shape[2]
        assert k >= low
        flat = basis.reshape(-1, k)
        gram = flat.T @ flat
        assert np.allclose(gram - np.diag(np.diag(gram)), 0, atol=1e-8 * gram.max()), "PCA-orthogonal"
        norms = np.sqrt(np.diag(gram))
        assert np.all(np.diff(norms) <= 0), "sorted by variance"
        assert np.min(-np.diff(norms) / norms[1:]) > 1e-3, "no near-ties: directions well defined"
        rms = norms / np.sqrt(full_builtin.n_vertices)
        assert 1.0 < rms[0] < 10.0 and rms[min(k, 10) - 1] > 0.1, rms
    with pytest.raises(ValueError, match="has 30 identity modes, 31 requested"):
        load_model("builtin", n_shape=31)
    with pytest.raises(ValueError, match="has 12 expression modes, 13 requested"):
        load_model("builtin", n_expression=13)


def test_random_faces_differ_and_stay_plausible(model):
    rng = np.random.default_rng(0)
    s, e = rng.standard_normal((2, 10)), rng.standard_normal((2, 7))
    faces = model.vertices(s, e)
    assert np.abs(faces[0] - faces[1]).max() > 2.0
    assert np.abs(model.vertices(expression=e[0]) - model.mean).max() > 1.0
    dist = np.linalg.norm(faces - model.mean, axis=2)[:, model.face_mask].mean(axis=1)
    assert np.all((1.0 < dist) & (dist < 15.0)), dist


# ----------------------------------------------------------- vertices API
def test_vertices_batched_matches_single(model):
    rng = np.random.default_rng(1)
    s, e = rng.standard_normal((3, 10)), rng.standard_normal((3, 7))
    batch = model.vertices(s, e)
    assert batch.shape == (3, model.n_vertices, 3)
    for i in range(3):
        np.testing.assert_allclose(batch[i], model.vertices(s[i], e[i]), atol=1e-12)
    np.testing.assert_allclose(model.vertices(s[0], e)[2], model.vertices(s[0], e[2]), atol=1e-12)
    np.testing.assert_array_equal(model.vertices(), model.mean)
    np.testing.assert_array_equal(model.vertices(np.zeros(10), None), model.mean)


def test_vertices_torch_matches_numpy(model):
    rng = np.random.default_rng(2)
    s, e = rng.standard_normal((4, 10)), rng.standard_normal((4, 7))
    ref = model.vertices(s, e)
    out64 = model.vertices_torch(torch.tensor(s), torch.tensor(e))
    assert out64.dtype == torch.float64 and out64.shape == (4, model.n_vertices, 3)
    np.testing.assert_allclose(out64.numpy(), ref, atol=1e-9)
    out32 = model.vertices_torch(torch.tensor(s, dtype=torch.float32), torch.tensor(e, dtype=torch.float32))
    np.testing.assert_allclose(out32.numpy(), ref, atol=1e-3)
    single = model.vertices_torch(torch.tensor(s[0]), None)
    np.testing.assert_allclose(single.numpy(), model.vertices(s[0]), atol=1e-9)
    before = model._torch_bases(torch.float64, torch.device("cpu"))
    assert model._torch_bases(torch.float64, torch.device("cpu")) is before, "bases cached"


def test_vertices_torch_gradient(model):
    s = torch.randn(2, 10, dtype=torch.float64, generator=torch.Generator().manual_seed(0), requires_grad=True)
    e = torch.randn(2, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(1), requires_grad=True)
    idx = torch.arange(0, model.n_vertices, 97)
    assert torch.autograd.gradcheck(lambda a, b: model.vertices_torch(a, b)[:, idx], (s, e))
    model.vertices_torch(s, e).sum().backward()
    expected = model.shape_basis.sum(axis=(0, 1))
    np.testing.assert_allclose(s.grad[0].numpy(), expected, rtol=1e-9)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_vertices_errors(model, backend):
    call = model.vertices if backend == "numpy" else (
        lambda a=None, b=None: model.vertices_torch(None if a is None else torch.as_tensor(np.asarray(a, float)),
                                                    None if b is None else torch.as_tensor(np.asarray(b, float))))
    with pytest.raises(ValueError, match="shape must have 10 coefficients, got 12"):
        call(np.zeros(12))
    with pytest.raises(ValueError, match="expression must have 7 coefficients, got 3"):
        call(None, np.zeros((2, 3)))
    with pytest.raises(ValueError, match="NaN or infinite"):
        call(np.r_[np.nan, np.zeros(9)])
    with pytest.raises(ValueError, match="NaN or infinite"):
        call(None, np.r_[np.inf, np.zeros(6)])
    with pytest.raises(ValueError, match="batch sizes differ"):
        call(np.zeros((2, 10)), np.zeros((3, 7)))
    with pytest.raises(ValueError, match=r"vector \(10,\) or a batch"):
        call(np.zeros((1, 2, 10)))


def test_vertices_torch_wrong_length_raises_under_autograd(model):
    with pytest.raises(ValueError, match="shape must have 10 coefficients, got 9"):
        model.vertices_torch(torch.zeros(2, 9, requires_grad=True))


def test_model_validation_and_misc(model):
    with pytest.raises(ValueError, match=r"mean must have shape \(N, 3\)"):
        MorphableModel("x", "test", np.zeros((5, 2)), np.zeros((5, 3, 0)), np.zeros((5, 3, 0)),
                       np.zeros((0, 3), int), np.ones(5, bool))
    with pytest.raises(ValueError, match=r"triangle indices must lie in \[0, 5\)"):
        MorphableModel("x", "test", np.zeros((5, 3)), np.zeros((5, 3, 0)), np.zeros((5, 3, 0)),
                       np.array([[0, 1, 5]]), np.ones(5, bool))
    assert model.mean.flags.writeable is False
    line = model.summary()
    assert "builtin" in line and str(model.n_vertices) in line and "\n" not in line
    model.vertices_torch(torch.zeros(10))
    clone = pickle.loads(pickle.dumps(model))
    assert clone.content_hash() == model.content_hash() and clone._torch_cache == {}


@pytest.mark.parametrize("kwargs, message", [
    ({"n_shape": -1}, "n_shape must be an integer >= 0, got -1"),
    ({"n_shape": 2.5}, "n_shape must be an integer >= 0, got 2.5"),
    ({"n_expression": "3"}, "n_expression must be an integer >= 0"),
    ({"n_expression": True}, "n_expression must be an integer >= 0"),
    ({"source": "flame"}, "unknown face model source 'flame'; valid sources: \"builtin\""),
    ({"source": 3}, "source must be a string or path"),
])
def test_load_model_argument_errors(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        load_model(**kwargs)


# -------------------------------------------------------------- BFM files
def test_save_h5_layout_and_round_trip(full_builtin, tmp_path):
    path = full_builtin.save_h5(tmp_path / "builtin.h5")
    n, ks, ke = full_builtin.n_vertices, full_builtin.n_shape, full_builtin.n_expression
    with h5py.File(path, "r") as f:
        for part, k in (("shape", ks), ("expression", ke)):
            assert f[f"{part}/model/mean"].shape == (3 * n,) and f[f"{part}/model/mean"].dtype == np.float32
            basis = f[f"{part}/model/pcaBasis"][()]
            assert basis.shape == (3 * n, k) and basis.dtype == np.float32
            np.testing.assert_allclose(basis.T @ basis, np.eye(k), atol=1e-5)
            assert f[f"{part}/model/pcaVariance"].shape == (k,)
            assert f[f"{part}/model/noiseVariance"].shape == (1,)
            assert f[f"{part}/representer/points"].shape == (3, n)
            assert f[f"{part}/representer/cells"].shape == (3, len(full_builtin.triangles))
            assert f[f"{part}/representer/cells"].dtype == np.int32
        np.testing.assert_allclose(f["shape/model/mean"][()], full_builtin.mean.reshape(-1), atol=1e-4)
        assert not f["expression/model/mean"][()].any()
        assert (int(f["version/majorVersion"][()]), int(f["version/minorVersion"][()])) == (0, 9)
        marks = json.loads(f["metadata/landmarks/json"][()])
        assert {m["id"] for m in marks} == set(full_builtin.landmarks)
    back = load_model(path, n_shape=ks, n_expression=ke)
    assert back.source == f"bfm:{path.resolve()}"
    rng = np.random.default_rng(3)
    s, e = rng.standard_normal((5, ks)), rng.standard_normal((5, ke))
    np.testing.assert_allclose(back.vertices(s, e), full_builtin.vertices(s, e), atol=1e-3)
    np.testing.assert_array_equal(back.triangles, full_builtin.triangles)
    np.testing.assert_array_equal(back.face_mask, full_builtin.face_mask)
    assert back.landmarks == full_builtin.landmarks
    assert load_model(back.source, 2, 1).n_shape == 2
    no_expr = load_model(load_model("builtin", 3, 0).save_h5(tmp_path / "k0.h5"), 3, 0)
    assert no_expr.n_expression == 0 and np.abs(no_expr.mean - full_builtin.mean).max() < 1e-4


def test_save_h5_non_orthogonal_basis_keeps_distribution(tmp_path):
    rng = np.random.default_rng(4)
    n = 30
    m = MorphableModel("skew", "test", rng.normal(0, 50, (n, 3)), rng.normal(0, 2, (n, 3, 4)),
                       rng.normal(0, 1, (n, 3, 2)), np.array([[0, 1, 2]]), np.ones(n, bool),
                       expression_mean=rng.normal(0, 1, (n, 3)))
    back = load_model(m.save_h5(tmp_path / "skew.h5"), 4, 2)
    for a, b in ((m.shape_basis, back.shape_basis), (m.expression_basis, back.expression_basis)):
        fa, fb = a.reshape(3 * n, -1), b.reshape(3 * n, -1)
        np.testing.assert_allclose(fb @ fb.T, fa @ fa.T, atol=1e-3 * np.abs(fa @ fa.T).max())
    np.testing.assert_allclose(back.mean, m.mean, atol=1e-4)
    np.testing.assert_allclose(back.expression_mean, m.expression_mean, atol=1e-5)


def test_bfm_file_from_another_tool(tmp_path):
    rng = np.random.default_rng(5)
    path = tmp_path / "model2019_fake.h5"
    parts = _write_statismo(path, rng)
    m = load_model(path, n_shape=5, n_expression=3)
    assert (m.n_vertices, m.n_shape, m.n_expression, m.name) == (40, 5, 3, "model2019_fake")
    (ms, us, vs), (me, ue, ve) = parts["shape"], parts["expression"]
    a, g = rng.standard_normal(5), rng.standard_normal(3)
    expected = ms + me + us[:, :5] @ (np.sqrt(vs[:5]) * a) + ue[:, :3] @ (np.sqrt(ve[:3]) * g)
    np.testing.assert_allclose(m.vertices(a, g).reshape(-1), expected, atol=1e-4)
    np.testing.assert_array_equal(m.triangles, [[0, 1, 2], [1, 2, 3], [2, 3, 4]])
    assert m.landmarks == {"center.nose.tip": 5} and m.face_mask.all()

    old = tmp_path / "model2019_v08.h5"
    _write_statismo(old, np.random.default_rng(5), version=(0, 8))
    np.testing.assert_allclose(load_model(old, 5, 3).vertices(a, g), m.vertices(a, g), atol=1e-4)


def test_bfm_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="BFM model file not found"):
        load_model(tmp_path / "missing.h5")
    with pytest.raises(FileNotFoundError, match="neither a file nor a folder"):
        load_model(tmp_path / "missing_folder")
    text = tmp_path / "notes.h5"
    text.write_text("not a model")
    with pytest.raises(ValueError, match="notes.h5 is not an HDF5 file"):
        load_model(text)
    path = tmp_path / "m.h5"
    _write_statismo(path, np.random.default_rng(6))
    with pytest.raises(ValueError, match="file has 6 shape components, 10 requested"):
        load_model(path)
    with pytest.raises(ValueError, match="file has 4 expression components, 7 requested"):
        load_model(path, n_shape=6)
    with h5py.File(path, "a") as f:
        del f["shape/model/pcaBasis"]
    with pytest.raises(ValueError, match="missing dataset /shape/model/pcaBasis"):
        load_model(path, 2, 2)

    _write_statismo(path, np.random.default_rng(6))
    with h5py.File(path, "a") as f:
        del f["shape/model/pcaVariance"]
        f["shape/model/pcaVariance"] = np.ones(5, np.float32)
    with pytest.raises(ValueError, match="pcaVariance has 5 values"):
        load_model(path, 2, 2)

    _write_statismo(path, np.random.default_rng(6))
    with h5py.File(path, "a") as f:
        del f["expression"]
    with pytest.raises(ValueError, match="no /expression model, 7 expression components requested"):
        load_model(path, n_shape=2)
    assert load_model(path, n_shape=2, n_expression=0).n_expression == 0

    _write_statismo(path, np.random.default_rng(6))
    with h5py.File(path, "a") as f:
        del f["expression/model/mean"], f["expression/model/pcaBasis"]
        f["expression/model/mean"] = np.zeros(33, np.float32)
        f["expression/model/pcaBasis"] = np.ones((33, 4), np.float32)
    with pytest.raises(ValueError, match="/expression has 11 vertices, /shape has 40"):
        load_model(path, 2, 2)


# ------------------------------------------------------------------- ICT
def test_ict_fake_folder(tmp_path, data_dir):
    folder, truth = _fake_ict(tmp_path / "ict")
    m = load_model(tmp_path / "ict", n_shape=3, n_expression=2)
    assert m.n_vertices == 9409 and m.source == f"ict:{folder.resolve()}"
    assert len(m.triangles) == 2 * 96 * 96
    neutral = m.mean - m.expression_mean
    np.testing.assert_allclose(neutral, truth["neutral_mm"], atol=1e-4)
    ident = np.stack([truth["deltas_mm"][f"identity{i:03d}"].reshape(-1) for i in range(3)], 1)
    probe = np.random.default_rng(0).standard_normal((ident.shape[0], 4))
    flat = m.shape_basis.reshape(-1, 3)  # covariances compared through probes: 3N x 3N is too big
    np.testing.assert_allclose(flat @ (flat.T @ probe), ident @ (ident.T @ probe), atol=1e-6)
    blend = np.stack([truth["deltas_mm"][k].reshape(-1) for k in ("jawOpen", "mouthSmile_L")], 1)
    np.testing.assert_allclose(m.expression_mean.reshape(-1), blend @ [0.5, 0.5], atol=1e-6)
    flat = m.expression_basis.reshape(-1, 2)
    np.testing.assert_allclose(flat @ (flat.T @ probe), blend @ (blend.T @ probe) / 12, atol=1e-6)
    assert len([k for k in m.landmarks if k.startswith("ibug68_")]) == 68, "index 20000 dropped"
    # the FaceXModel folder itself works too, and the second load comes from the cache
    assert list((data_dir / "cache").glob("ict_*.npz"))
    assert load_model(folder, 3, 2).content_hash() == m.content_hash()
    with pytest.raises(ValueError, match="has 3 identity modes, 4 requested"):
        load_model(folder, n_shape=4, n_expression=0)


def test_ict_bad_folders(tmp_path, data_dir, monkeypatch):
    monkeypatch.setenv("RADARFACE_ICT_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match=r"nowhere.*RADARFACE_ICT_DIR"):
        load_model("ict")
    folder, _ = _fake_ict(tmp_path / "a")
    (folder / "identity001.obj").unlink()
    with pytest.raises(FileNotFoundError, match="identity001.obj"):
        load_model(folder, 1, 1)
    folder, _ = _fake_ict(tmp_path / "b")
    (folder / "mouthSmile_L.obj").unlink()
    with pytest.raises(FileNotFoundError, match="mouthSmile_L.obj"):
        load_model(folder, 1, 1)
    folder, _ = _fake_ict(tmp_path / "c")
    lines = (folder / "identity002.obj").read_text().splitlines()
    (folder / "identity002.obj").write_text("\n".join(lines[:101]))
    with pytest.raises(ValueError, match=r"identity002.obj: has 100 vertices, at least 9409"):
        load_model(folder, 1, 1)
    folder, _ = _fake_ict(tmp_path / "d")
    text = (folder / "jawOpen.obj").read_text().replace("v ", "v x", 1)
    (folder / "jawOpen.obj").write_text(text)
    with pytest.raises(ValueError, match="jawOpen.obj: cannot parse"):
        load_model(folder, 1, 1)


def test_obj_reading_keeps_file_order_and_splits_quads(tmp_path):
    """trimesh reads the OBJ: vertices in file order, quads (a, b, c, d) -> (a, b, c), (a, c, d), far polygons dropped."""
    verts = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [2, 0, 0], [2, 1, 0], [0, 0, 0]], float)
    faces = "f 1/1/1 2/2/2 3/3/3 4/4/4\nf 2/2/2 5/5/5 6/6/6 3/3/3\nf 4/4/4 3/3/3 7/7/7 1/1/1\n"
    path = tmp_path / "quads.obj"
    path.write_text(_obj_text(verts, faces))  # the duplicate vertex 7 must not be merged into vertex 1
    assert np.array_equal(ict.read_obj_vertices(path, 7), verts)
    assert ict.read_obj_triangles(path, 6).tolist() == [[0, 1, 2], [0, 2, 3], [1, 4, 5], [1, 5, 2]]
    assert len(ict.read_obj_triangles(path, 7)) == 6
    with pytest.raises(ValueError, match="no polygons within the first 3"):
        ict.read_obj_triangles(path, 3)
    points = tmp_path / "points.obj"
    points.write_text(_obj_text(verts))
    with pytest.raises(ValueError, match="points.obj: expected triangles or quads, found none"):
        ict.read_obj_triangles(points, 7)


@pytest.mark.skipif(not (ICT_DIR / "FaceXModel" / "generic_neutral_mesh.obj").is_file(), reason="no ICT-FaceKit folder")
def test_ict_obj_reading_matches_the_text():
    """The shipped neutral mesh read by trimesh equals its ``v`` and ``f`` lines parsed by hand."""
    path = ICT_DIR / "FaceXModel" / "generic_neutral_mesh.obj"
    lines = path.read_text().splitlines()
    verts = np.array([line.split()[1:4] for line in lines if line.startswith("v ")], dtype=np.float64)
    quads = np.array([[int(t.split("/")[0]) - 1 for t in line.split()[1:]] for line in lines
                      if line.startswith("f ")])
    assert np.array_equal(ict.read_obj_vertices(path), verts[:ict.N_FACE_VERTICES])
    kept = quads[quads.max(1) < ict.N_FACE_VERTICES]
    expected = np.stack([kept[:, [0, 1, 2]], kept[:, [0, 2, 3]]], 1).reshape(-1, 3)
    assert np.array_equal(ict.read_obj_triangles(path), expected)


@pytest.fixture(scope="module")
def real_ict(tmp_path_factory):
    if not (ICT_DIR / "FaceXModel" / "generic_neutral_mesh.obj").is_file():
        pytest.skip(f"ICT-FaceKit not found at {ICT_DIR} (the shared folder beside the repository)")
    cache = tmp_path_factory.mktemp("ict_cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RADARFACE_DATA", str(cache))
        t0 = time.perf_counter()
        full = load_model("ict", n_shape=100, n_expression=53)
        cold = time.perf_counter() - t0
        t0 = time.perf_counter()
        small = load_model(ICT_DIR, n_shape=10, n_expression=7)
        cached = time.perf_counter() - t0
    print(f"\nICT load: cold {cold:.2f} s, cached {cached:.2f} s; {full.summary()}")
    return full, small, cold, cached, cache


def test_ict_real(real_ict, monkeypatch):
    full, small, cold, cached, cache = real_ict
    assert full.n_vertices == 9409 and (full.n_shape, full.n_expression) == (100, 53)
    assert cold < 30 and cached < 5 and cached < cold, (cold, cached)  # generous: shared CI cores
    neutral = full.mean - full.expression_mean
    assert 120 <= np.ptp(neutral[:, 0]) <= 200
    tip = neutral[full.landmarks["center.nose.tip"]]
    assert np.argmax(neutral[:, 2]) in np.flatnonzero(np.linalg.norm(neutral - tip, axis=1) < 10)
    assert abs(tip[0]) < 3 and 110 < tip[2] < 150
    assert neutral[full.landmarks["left.eye.corner_outer"], 0] > 30
    assert 4000 < full.face_mask.sum() < 9000
    np.testing.assert_allclose(small.vertices(np.ones(10), np.ones(7)),
                               full.vertices(np.r_[np.ones(10), np.zeros(90)], np.r_[np.ones(7), np.zeros(46)]),
                               atol=1e-9)
    monkeypatch.setenv("RADARFACE_DATA", str(cache))
    with pytest.raises(ValueError, match="has 100 identity modes, 101 requested"):
        load_model("ict", n_shape=101)


def test_ict_real_expressions_are_standardised(real_ict):
    full = real_ict[0]
    folder = Path(full.source[4:])
    names = json.loads((folder / "vertex_indices.json").read_text())["expressions"]
    neutral = ict.read_obj_vertices(folder / "generic_neutral_mesh.obj")
    blend = np.stack([(ict.read_obj_vertices(folder / f"{k}.obj") - neutral).reshape(-1) for k in names], 1) * 10
    coords = np.arange(0, blend.shape[0], 5)  # a subset of coordinates keeps the sample small
    rng = np.random.default_rng(8)
    weights = rng.uniform(0, 1, (3000, len(names)))
    sample = weights @ blend[coords].T  # expression displacements (mm) for U[0, 1] weights
    emp_std = sample.std(axis=0)
    model_std = np.linalg.norm(full.expression_basis.reshape(-1, 53)[coords], axis=1)
    moving = model_std > 0.5
    ratio = emp_std[moving] / model_std[moving]
    assert abs(np.median(ratio) - 1) < 0.03 and np.percentile(np.abs(ratio - 1), 95) < 0.1
    np.testing.assert_allclose(sample.mean(axis=0), full.expression_mean.reshape(-1)[coords], atol=0.3)


# ------------------------------------------------------------------ auto
def test_auto_prefers_bfm_then_ict_then_builtin(tmp_path, data_dir, monkeypatch, capsys, model):
    monkeypatch.setenv("RADARFACE_ICT_DIR", str(tmp_path / "no_ict"))
    assert load_model("auto").source == "builtin"
    assert "builtin" in capsys.readouterr().out
    _fake_ict(tmp_path / "ict")
    monkeypatch.setenv("RADARFACE_ICT_DIR", str(tmp_path / "ict"))
    assert load_model("auto", 2, 1).source.startswith("ict:")
    assert "ICT-FaceKit" in capsys.readouterr().out
    model.save_h5(data_dir / "model2019_face12.h5")
    assert load_model("auto").source.startswith("bfm:")
    out = capsys.readouterr().out
    assert "model2019_face12.h5" in out and out.count("\n") == 1


@pytest.mark.parametrize("change, message", [
    (lambda f: f["shape/model/pcaVariance"].__setitem__(1, 0.0), r"m.h5: /shape/model/pcaVariance\[1\] is 0"),
    (lambda f: f["shape/model/pcaVariance"].__setitem__(0, -2.0), r"pcaVariance\[0\] is -2.*must be positive"),
    (lambda f: f["shape/model/pcaBasis"].__setitem__((slice(None), 1), 0.0), "pcaBasis column 1 is all zeros"),
    (lambda f: f["expression/model/pcaBasis"].__setitem__((3, 0), np.nan), r"m.h5: /expression/model/pcaBasis contains NaN"),
    (lambda f: [f[k].__setitem__(slice(None), f[k][:] / 1000) for k in ("shape/model/mean", "expression/model/mean")],
     "must be in millimetres.*metres"),
])
def test_implausible_bfm_files_are_refused_naming_file_and_field(tmp_path, change, message):
    path = tmp_path / "m.h5"
    _write_statismo(path, np.random.default_rng(6))
    with h5py.File(path, "a") as f:
        change(f)
    with pytest.raises(ValueError, match=message):
        load_model(path, 2, 2)


# ------------------------------------------------------------ plausibility, every loader
def _metres(folder: Path) -> None:
    """Rewrite every OBJ of a fake ICT folder in metres instead of centimetres."""
    for obj in folder.glob("*.obj"):
        lines = [("v " + " ".join(f"{float(x) / 100:.8f}" for x in line.split()[1:4])) if line.startswith("v ")
                 else line for line in obj.read_text().splitlines()]
        obj.write_text("\n".join(lines) + "\n")


def test_ict_dead_modes_and_metres_are_refused_naming_the_folder(tmp_path, data_dir):
    folder, _ = _fake_ict(tmp_path / "dead")
    (folder / "identity002.obj").write_text((folder / "generic_neutral_mesh.obj").read_text())  # no change
    with pytest.raises(ValueError, match=rf"face model ict:{folder}: shape mode 2 is zero everywhere.*at most 2"):
        load_model(folder, 3, 2)
    assert load_model(folder, 2, 2).n_shape == 2
    folder, _ = _fake_ict(tmp_path / "metres")
    _metres(folder)
    with pytest.raises(ValueError, match=rf"face model ict:{folder}: the mean face is .* must be in millimetres"):
        load_model(folder, 2, 2)


def test_ict_cache_with_nan_is_rebuilt_not_used(tmp_path, data_dir):
    folder, _ = _fake_ict(tmp_path / "ict")
    good = load_model(folder, 2, 2).content_hash()
    (cache,) = (data_dir / "cache").glob("ict_*.npz")
    with np.load(cache) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["identity_deltas"][1, 5, 2] = np.nan
    np.savez(cache, **arrays)
    assert load_model(folder, 2, 2).content_hash() == good


@pytest.mark.parametrize("damage, message", [
    (lambda a: a[1][:, :, 3].fill(0.0), "face model builtin: shape mode 3 is zero everywhere"),
    (lambda a: a[2][:, :, 0].fill(0.0), "face model builtin: expression mode 0 is zero everywhere"),
    (lambda a: a[0].__imul__(1e-3), "face model builtin: the mean face is 0.2.* It looks like metres"),
    (lambda a: a[1].__setitem__((7, 0, 1), np.nan), "face model builtin: shape_basis contains NaN"),
])
def test_builtin_checks_like_every_loader(monkeypatch, damage, message):
    arrays = [np.array(a) if isinstance(a, np.ndarray) else a for a in builtin._full_builtin()]
    damage(arrays)
    monkeypatch.setattr(builtin, "_full_builtin", lambda: tuple(arrays))
    with pytest.raises(ValueError, match=message):
        load_model("builtin", 10, 7)


def test_a_model_built_by_hand_is_checked_and_errors_name_its_source():
    rng = np.random.default_rng(3)
    mean, tri, mask = rng.normal(0, 50, (30, 3)), np.array([[0, 1, 2]]), np.ones(30, bool)
    with pytest.raises(ValueError, match="face model mine.h5: shape_basis contains NaN or infinite values"):
        MorphableModel("x", "mine.h5", mean, np.full((30, 3, 2), np.nan), np.zeros((30, 3, 0)), tri, mask)
    dead = rng.normal(0, 1, (30, 3, 2)) * [1.0, 0.0]  # a mode of zero variance
    with pytest.raises(ValueError, match="face model mine.h5: shape mode 1 is zero everywhere"):
        MorphableModel("x", "mine.h5", mean, dead, np.zeros((30, 3, 0)), tri, mask)


def test_face_model_modules_import_each_other_one_way_at_module_top():
    """No import circle (model <-> bfm was one), and no imports hidden in functions but trimesh's (slow to import)."""
    import ast

    folder = Path(ict.__file__).parent
    graph, nested = {}, []
    for file in folder.glob("*.py"):
        tree = ast.parse(file.read_text())
        graph[file.stem] = {node.module for node in tree.body if isinstance(node, ast.ImportFrom) and node.level == 1
                            and node.module}
        for func in ast.walk(tree):
            if isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
                nested += [(file.stem, func.name) for node in ast.walk(func)
                           if isinstance(node, (ast.Import, ast.ImportFrom))]
    assert nested == [("ict", "read_obj")]

    def reaches(start: str, target: str, seen: set) -> bool:
        return any(n == target or (n not in seen and reaches(n, target, seen | {n})) for n in graph.get(start, ()))

    assert [m for m in graph if reaches(m, m, set())] == []


def test_the_content_hash_ignores_machine_level_differences_but_not_changes_of_shape():
    """A model recomputed elsewhere (other BLAS build, thread count) differs by ~1e-14 mm; the hash must not."""
    model = load_model("builtin", 10, 7)
    rng = np.random.default_rng(0)
    jitter = rng.uniform(-1e-12, 1e-12, model.shape_basis.shape)
    jittered = dataclasses.replace(model, shape_basis=model.shape_basis + jitter)
    assert not np.array_equal(jittered.shape_basis.astype("f4"), model.shape_basis.astype("f4"))  # float32 would differ
    assert jittered.content_hash() == model.content_hash()
    moved = model.mean.copy()
    moved[0, 0] += 0.01
    assert dataclasses.replace(model, mean=moved).content_hash() != model.content_hash()
