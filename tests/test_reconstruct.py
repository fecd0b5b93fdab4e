"""``python -m radarface.reconstruct`` and the shipped-weights mechanism (:mod:`radarface.weights`).

From a fresh state: the module's fixture trains the smoke profile's networks (a few epochs,
seconds) in a temporary data folder, exports them as shipped weights and writes a small
surrogate capture file; everything else runs on those.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh

from radarface import paths, profiles, reconstruct, weights
from radarface import measurements as meas
from radarface.dataset import DatasetSettings
from radarface.experiments.fitting import decoder_data, fit_decoder, trained_networks
from radarface.experiments.settings import RendererSettings
from radarface.facemodel import load_model
from radarface.geometry import apply_pose
from radarface.radar import RadarConfig

PROFILE = "smoke"


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """Trained smoke networks, their exported weights (as the shipped ones) and a surrogate capture file."""
    root = tmp_path_factory.mktemp("reconstruct")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RADARFACE_DATA", str(root / "data"))
        mp.setenv("RADARFACE_WEIGHTS", str(root / "weights"))
        cfg = profiles.resolve(PROFILE, workers=1)  # the dataset does not depend on the worker count
        decoder, fit = fit_decoder(RendererSettings.from_profile(cfg), decoder_data(cfg), progress=False)
        nets = trained_networks(cfg, "both", decoder, decoder_checkpoint=fit.checkpoint, progress=False)
        manifest = weights.export_weights(cfg, paths.weights_dir(PROFILE))
        render = RadarConfig.from_profile(cfg, max_internal_pitch_mm=4.0, voxel_depth_mm=6.0, surface_spacing_mm=2.5)
        small = meas.SurrogateSettings.from_profile(cfg, subjects=2, expressions=("neutral", "expr_a"), poses=1,
                                                    antenna_stride=16)
        face = DatasetSettings.from_profile(cfg).face_model()
        captures = meas.make_surrogate(root / "captures.h5", small, render, face, progress=False, workers=1)
        yield {"root": root, "cfg": cfg, "nets": nets, "decoder": decoder, "weights": manifest.parent,
               "captures": captures, "env": dict(os.environ)}


def run(setup, *args: str, monkeypatch=None) -> tuple[int, str, str]:
    """``reconstruct.main`` in this process with the fixture's environment: (exit code, stdout, stderr)."""
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RADARFACE_DATA", setup["env"]["RADARFACE_DATA"])
        mp.setenv("RADARFACE_WEIGHTS", setup["env"]["RADARFACE_WEIGHTS"])
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = reconstruct.main([*map(str, args), "--quiet"])
    return code, out.getvalue(), err.getvalue()


def copy_weights(setup, tmp_path) -> Path:
    folder = tmp_path / "weights"
    shutil.copytree(setup["weights"], folder)
    return folder


# ----------------------------------------------------------------------------- weights
def test_export_writes_compact_checksummed_half_precision_weights(setup):
    folder = setup["weights"]
    manifest = json.loads((folder / weights.MANIFEST_NAME).read_text())
    face = load_model("builtin")
    assert manifest["profile"] == PROFILE and manifest["face_model"]["hash"] == face.content_hash()
    assert manifest["radar"] == RadarConfig.from_profile(setup["cfg"]).to_dict()
    assert manifest["dataset"].startswith("synthetic_smoke_") and manifest["commit"]
    assert set(manifest["networks"]) == {"decoder", "encoder_both", "autoencoder_both"}
    sizes = []
    for entry in manifest["networks"].values():
        path = folder / entry["file"]
        sizes.append(path.stat().st_size)
        assert entry["bytes"] == sizes[-1] and entry["sha256"] == weights.sha256_file(path)
        state = torch.load(path, weights_only=True)
        assert not any("optimizer" in k or "exp_avg" in k for k in state)
        assert {v.dtype for v in state.values() if v.is_floating_point()} == {torch.float16}
    assert max(sizes) < 10e6 and sum(sizes) < 20e6


def test_loaded_weights_predict_as_the_trained_networks(setup):
    nets, shipped = setup["nets"], weights.load_networks(setup["weights"], "both")
    images = nets.data["test"].tensors()[0]
    with torch.no_grad():
        for trained, loaded in ((nets.encoder, shipped.encoder), (nets.autoencoder.encoder, shipped.autoencoder.encoder)):
            assert torch.allclose(trained(images), loaded(images), atol=5e-3)  # float16 round-off only
        vectors = torch.randn(4, shipped.decoder.n_params)
        assert torch.allclose(setup["decoder"](vectors), shipped.decoder(vectors), atol=5e-3)
    assert shipped.normaliser.dim == nets.data["test"].normaliser.dim
    assert np.allclose(shipped.normaliser.denormalise(np.ones(shipped.normaliser.dim))["pose"],
                       nets.data["test"].denormalise(np.ones(shipped.normaliser.dim))["pose"])


def test_export_refuses_a_profile_not_trained_here_and_weights_over_the_limits(setup, tmp_path, monkeypatch):
    monkeypatch.setenv("RADARFACE_DATA", setup["env"]["RADARFACE_DATA"])
    with pytest.raises(weights.WeightsError, match=r"no dataset .*synthetic_smoke_.*python -m radarface.run"):
        weights.export_weights(profiles.resolve(PROFILE, seed=5), tmp_path / "w")
    with pytest.raises(weights.WeightsError, match=r"encoder_both 0\.\d+ MB.*limits are 0.01 MB per file"):
        weights.export_weights(setup["cfg"], tmp_path / "w", max_file_mb=0.01)
    assert not (tmp_path / "w" / weights.MANIFEST_NAME).exists()


def test_run_weights_are_the_shipped_ones_when_they_hold_this_run_and_an_export_otherwise(setup, tmp_path,
                                                                                            monkeypatch):
    monkeypatch.setenv("RADARFACE_DATA", setup["env"]["RADARFACE_DATA"])
    monkeypatch.setenv("RADARFACE_WEIGHTS", setup["env"]["RADARFACE_WEIGHTS"])
    assert weights.run_weights(setup["cfg"]) == setup["weights"]  # the fixture shipped this run's networks
    monkeypatch.setenv("RADARFACE_WEIGHTS", str(tmp_path / "no-weights"))
    exported = weights.run_weights(setup["cfg"])
    assert exported.parent == paths.data_dir() / "weights" and exported.name.startswith("autoencoder_both_")
    same = json.loads((setup["weights"] / weights.MANIFEST_NAME).read_text())["networks"]
    again = json.loads((exported / weights.MANIFEST_NAME).read_text())["networks"]
    assert {k: v["sha256"] for k, v in again.items()} == {k: v["sha256"] for k, v in same.items()}
    stamp = (exported / weights.MANIFEST_NAME).stat().st_mtime_ns
    assert weights.run_weights(setup["cfg"]) == exported  # reused, not written again
    assert (exported / weights.MANIFEST_NAME).stat().st_mtime_ns == stamp


# ----------------------------------------------------------------------------- the command line
def test_command_line_writes_meshes_parameters_and_sheets_per_capture(setup, tmp_path):
    out = tmp_path / "out"
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "radarface.reconstruct", str(setup["captures"]), "--out", str(out),
                           "--profile", PROFILE], capture_output=True, text=True, timeout=120,
                          env={**setup["env"], "OMP_NUM_THREADS": "1"})
    seconds = time.perf_counter() - start
    assert proc.returncode == 0, proc.stderr
    assert seconds < 60
    assert "4 captures reconstructed (autoencoder, inputs both)" in proc.stdout and "mean vertex distance" in proc.stdout
    face = load_model("builtin")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_captures"] == 4 and summary["weights"]["folder"] == str(setup["weights"])
    assert set(summary["mean_vertex_distance_mm"]) == {"autoencoder", "mean face"}
    folders = sorted(p for p in out.iterdir() if p.is_dir())
    assert [p.name for p in folders] == ["000_S01_neutral", "001_S01_expr-a", "002_S02_neutral", "003_S02_expr-a"]
    for folder in folders:
        params = json.loads((folder / "params.json").read_text())
        assert len(params["shape"]) == 10 and len(params["expression"]) == 7 and "tz_mm" in params["pose"]
        assert params["vertex_distance_mm"]["autoencoder"] > 0 and "pose" in params["units"]
        model_mesh = face.vertices(np.array(params["shape"]), np.array(params["expression"]))
        pose = np.array([params["pose"][k] for k in ("yaw_rad", "pitch_rad", "roll_rad", "tx_mm", "ty_mm", "tz_mm")])
        for name, expected in (("face_model", model_mesh),
                               ("face_radar", apply_pose(model_mesh, pose) - [0, 0, params["array_z_mm"]])):
            for suffix in (".obj", ".ply"):
                mesh = trimesh.load(folder / f"{name}{suffix}", process=False)
                assert mesh.vertices.shape == (face.n_vertices, 3)
                assert np.array_equal(mesh.faces, face.triangles)
                assert np.allclose(mesh.vertices, expected, atol=1e-3)
        assert (folder / "sheet.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the face sits about range_mm in front of the array in the radar frame
    radar = trimesh.load(folders[0] / "face_radar.ply", process=False)
    assert -480 < radar.vertices[:, 2].mean() < -330


def test_methods_encoder_refined_and_blended(setup, tmp_path):
    shapes = {}
    for method in ("encoder", "autoencoder", "refined", "blended"):
        code, out, err = run(setup, setup["captures"], "--out", tmp_path / method, "--profile", PROFILE,
                             "--method", method)
        assert code == 0, err
        shapes[method] = np.array([json.loads(p.read_text())["shape"] for p in sorted((tmp_path / method).glob("*/params.json"))])
        assert shapes[method].shape == (4, 10)
    assert not np.allclose(shapes["encoder"], shapes["autoencoder"])
    assert not np.allclose(shapes["refined"], shapes["autoencoder"])
    weight = setup["cfg"]["tta_blend"]  # blended = tta_blend · refined + (1 − tta_blend) · autoencoder
    assert np.allclose(shapes["blended"], weight * shapes["refined"] + (1 - weight) * shapes["autoencoder"], atol=1e-5)


def test_ground_truth_of_another_face_model_skips_the_distances_with_a_warning(setup, tmp_path):
    captures = meas.read(setup["captures"])
    captures.attrs["model_hash"] = "cd" * 32
    other = meas.write(tmp_path / "other_model.h5", captures)
    code, _, err = run(setup, other, "--out", tmp_path / "out", "--profile", PROFILE)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert code == 0 and "warning: vertex distances skipped" in err and "cdcdcdcdcdcd" in summary["note"]
    assert "mean_vertex_distance_mm" not in summary and len(list((tmp_path / "out").glob("*/face_model.obj"))) == 4


# ----------------------------------------------------------------------------- refusals
def test_a_damaged_weights_file_is_refused_by_its_checksum(setup, tmp_path):
    folder = copy_weights(setup, tmp_path)
    data = bytearray((folder / "decoder.pt").read_bytes())
    data[-20] ^= 0xFF
    (folder / "decoder.pt").write_bytes(bytes(data))
    code, _, err = run(setup, setup["captures"], "--out", tmp_path / "out", "--profile", PROFILE,
                       "--checkpoints", folder)
    assert code == 2 and "decoder.pt: checksum mismatch" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_weights_of_another_face_model_are_refused_naming_both(setup, tmp_path):
    folder = copy_weights(setup, tmp_path)
    manifest = json.loads((folder / weights.MANIFEST_NAME).read_text())
    manifest["face_model"].update(name="bfm2019-face12", hash="ab" * 32, source="model2019_face12.h5")
    (folder / weights.MANIFEST_NAME).write_text(json.dumps(manifest))
    code, _, err = run(setup, setup["captures"], "--out", tmp_path / "out", "--profile", PROFILE,
                       "--checkpoints", folder)
    builtin = load_model("builtin").content_hash()[:12]
    assert code == 2 and "'bfm2019-face12' (hash abababababab" in err and f"(hash {builtin}" in err


def test_weights_of_another_radar_are_refused_naming_both(setup):
    code, _, err = run(setup, setup["captures"], "--out", setup["root"] / "never", "--profile", "cpu",
                       "--model", "builtin", "--checkpoints", setup["weights"])
    assert code == 2 and "another radar set-up" in err
    assert "image_size: weights 32, this run 64" in err and "n_freq: weights 32, this run 64" in err


def test_user_errors_end_with_one_paragraph_and_exit_code_2(setup, tmp_path):
    dataset = next((setup["root"] / "data").glob("synthetic_smoke_*.h5"))  # HDF5, but not a measurement file
    cases = [((tmp_path / "missing.h5", "--profile", PROFILE), "no capture file"),
             ((dataset, "--profile", PROFILE), "/@format: missing attribute, required in every file"),
             ((setup["captures"], "--profile", PROFILE, "--checkpoints", tmp_path), "manifest.json is missing"),
             ((setup["captures"], "--profile", PROFILE, "--inputs", "amplitude"), "hold no ['autoencoder_amplitude'")]
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"not hdf5")
    cases.append(((bad, "--profile", PROFILE), "bad.h5 is not an HDF5 file"))
    for args, needle in cases:
        code, out, err = run(setup, *args, "--out", tmp_path / "out")
        assert code == 2 and needle in err, (args, err)
        assert err.startswith("radarface.reconstruct: error: ") and err.count("\n") == 1 and "Traceback" not in err


def test_helpers_refuse_unknown_methods_and_inputs():
    with pytest.raises(ValueError, match=r"method must be one of \['encoder', 'autoencoder', 'refined', 'blended'\]"):
        reconstruct.networks_for("finetuned")
    with pytest.raises(ValueError, match="inputs must be one of"):
        reconstruct.reconstruct("x.h5", "out", inputs="phase")


def test_shipped_cpu_weights_reconstruct_captures_without_data_or_training(tmp_path):
    """A fresh clone: no data/, no training; the committed ``weights/cpu`` and a small capture file."""
    folder = paths.ROOT / "weights" / "cpu"
    assert (folder / "manifest.json").exists(), "weights/cpu is missing: run `python -m radarface.weights --profile cpu`"
    manifest = json.loads((folder / "manifest.json").read_text())
    sizes = [n["bytes"] for n in manifest["networks"].values()]
    assert max(sizes) < 10e6 and sum(sizes) < 20e6, sizes
    assert not re.search(r'"(\w+:)?/', json.dumps(manifest)), "the manifest holds an absolute path of the machine"
    cfg = profiles.resolve("cpu")
    face = DatasetSettings.from_profile(cfg).face_model()
    render = RadarConfig.from_profile(cfg, max_internal_pitch_mm=4.0, voxel_depth_mm=6.0, surface_spacing_mm=2.5)
    small = meas.SurrogateSettings.from_profile(cfg, subjects=1, expressions=("neutral", "expr_a"), poses=1,
                                                antenna_stride=16)
    captures = meas.make_surrogate(tmp_path / "captures.h5", small, render, face, progress=False, workers=1)
    env = {**os.environ, "RADARFACE_DATA": str(tmp_path / "data"), "OMP_NUM_THREADS": "1"}
    env.pop("RADARFACE_WEIGHTS", None)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "radarface.reconstruct", str(captures), "--out", str(tmp_path / "out"),
                           "--quiet"], capture_output=True, text=True, timeout=300, env=env)
    seconds = time.perf_counter() - start
    assert proc.returncode == 0, proc.stderr
    assert seconds < 60, seconds
    assert not (tmp_path / "data" / "checkpoints").exists()  # nothing was trained
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["n_captures"] == 2 and summary["weights"]["folder"].endswith("weights/cpu")
    for sub in sorted(p for p in (tmp_path / "out").iterdir() if p.is_dir()):
        mesh = trimesh.load(sub / "face_model.ply", process=False)
        assert mesh.vertices.shape == (face.n_vertices, 3)
        assert (sub / "sheet.png").exists() and "shape" in json.loads((sub / "params.json").read_text())
