"""Synthetic radar face datasets with the real renderer at the smoke profile (32 x 32 images)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from radarface import profiles
from radarface.dataset import (DatasetSettings, RadarFaceDataset, combine, default_path, ensure, generate,
                               open_dataset_file, render_sample, sample_parameters)
from radarface.dataset.__main__ import main as cli
from radarface.dataset.store import Journal
from radarface.facemodel import load_model
from radarface.geometry import pose_limits
from radarface.radar import RadarConfig

N = 8
FIELDS = ("amplitude", "depth", "shape", "expression", "pose", "render", "done")


@pytest.fixture(scope="module")
def cfg() -> dict:
    return profiles.resolve("smoke", n_samples=N)


@pytest.fixture(scope="module")
def model(cfg):
    return load_model(cfg["model"], cfg["n_shape"], cfg["n_expression"])


@pytest.fixture(scope="module")
def reference(tmp_path_factory, cfg, model) -> Path:
    """An uninterrupted run: N smoke samples, two worker processes."""
    return generate(tmp_path_factory.mktemp("ref") / "ref.h5", N, RadarConfig.from_profile(cfg), seed=0, workers=2,
                    model=model, dtype="float32", progress=False)


def arrays(path: Path, rows: slice = slice(None)) -> dict[str, np.ndarray]:
    with h5py.File(path, "r") as h5:
        return {name: h5[name][rows] for name in FIELDS}


def assert_same(a: dict, b: dict) -> None:
    for name in FIELDS:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_file_follows_the_schema(reference, cfg, model):
    with open_dataset_file(reference) as h5:
        assert h5.attrs["complete"]
        assert h5["amplitude"].shape == h5["depth"].shape == (N, 32, 32)
        assert h5["amplitude"].dtype == np.float32 and h5["amplitude"].chunks == (1, 32, 32)
        assert h5["shape"].shape == (N, model.n_shape) and h5["expression"].shape == (N, model.n_expression)
        assert h5["pose"].shape == (N, 6) and h5["render"].shape[0] == N
        assert json.loads(h5.attrs["config"]) == RadarConfig.from_profile(cfg).to_dict()
        assert h5.attrs["model_hash"] == model.content_hash() and h5.attrs["seed"] == 0
        assert "radarface_version" in h5.attrs and h5.attrs["schema_version"] == 1
        amplitude, pose = h5["amplitude"][:], h5["pose"][:]
    assert 0 <= amplitude.min() and amplitude.max() <= 1 and np.allclose(amplitude.max(axis=(1, 2)), 1)
    assert np.all(np.abs(pose) <= pose_limits())


def test_any_sample_regenerates_alone(reference, cfg, model):
    stored = arrays(reference, slice(5, 6))
    params = sample_parameters(0, 5, model)
    for name in ("shape", "expression", "pose", "render"):
        np.testing.assert_array_equal(params[name], stored[name][0])
    image = render_sample(params, model, RadarConfig.from_profile(cfg), seed=0, index=5)
    np.testing.assert_array_equal(image.amplitude, stored["amplitude"][0])
    np.testing.assert_array_equal(image.depth, stored["depth"][0])


def test_sigkill_then_rerun_equals_uninterrupted_run(tmp_path, reference):
    out = tmp_path / "killed.h5"
    command = ["generate", "--out", str(out), "--n", str(N), "--profile", "smoke", "--workers", "2", "--no-progress"]
    proc = subprocess.Popen([sys.executable, "-m", "radarface.dataset", *command], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    journal = Journal(out)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None and (not journal.dir.exists()
                                                                   or len(journal.blocks()) < 3):
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # writer and workers, mid-run
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert 3 <= len(journal.blocks()) < N and not out.exists()
    assert cli(command) == 0
    assert_same(arrays(out), arrays(reference))
    assert not journal.dir.exists()


def test_rerun_with_other_settings_is_refused(reference, capsys):
    code = cli(["generate", "--out", str(reference), "--n", str(N), "--profile", "smoke", "--set", "image_size=24"])
    err = capsys.readouterr().err
    assert code == 2 and str(reference) in err and "image_size=32, now 24" in err
    code = cli(["generate", "--out", str(reference), "--n", str(N), "--profile", "smoke", "--seed", "3"])
    assert code == 2 and "seed=0, now 3" in capsys.readouterr().err


def test_dataset_round_trip_regenerates_the_face(reference, cfg, model):
    data = RadarFaceDataset(reference, inputs="both")
    image, target = data[3]
    assert image.shape == (2, 32, 32) and image.dtype == torch.float32
    assert target.shape == (data.normaliser.dim,) and len(data.target_names) == data.normaliser.dim
    params = data.denormalise(target.numpy())
    stored = data.parameters(3)
    np.testing.assert_allclose(model.vertices(params["shape"], params["expression"]),
                               model.vertices(stored["shape"], stored["expression"]), atol=1e-4)
    np.testing.assert_allclose(params["pose"], stored["pose"], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(params["render"], stored["render"], rtol=1e-6)
    again = render_sample(params, model, RadarConfig.from_profile(cfg), seed=0, index=data.sample_index(3))
    assert np.abs(again.amplitude - image[0].numpy()).mean() < 1e-3
    assert np.abs(again.depth - image[1].numpy()).mean() < 1e-2


def test_parameter_summary_matches_sampling_ranges(reference):
    from radarface.dataset.stats import parameter_summary
    from radarface.radar import RENDER_PARAM_NAMES, render_param_ranges

    data = RadarFaceDataset(reference)
    assert data.normaliser.render_ranges == render_param_ranges()
    assert list(data.normaliser.render_ranges) == list(RENDER_PARAM_NAMES)
    rows = parameter_summary(data.parameters(), data.normaliser.pose_limits, data.normaliser.render_ranges)
    for name, mean, std, exp_mean, exp_std in rows:
        assert abs(mean - exp_mean) < 2.5 * exp_std and std < 2.5 * exp_std, name


def test_parameter_visibility_sees_translation_above_the_nuisance_and_distance_in_depth(reference, cfg, model):
    from radarface.experiments.renderers import parameter_visibility

    data = RadarFaceDataset(reference, "both", include_render=True)
    base = data.tensors()[1][:1].numpy()
    ratios = parameter_visibility(model, RadarConfig.from_profile(cfg), data, base, n_nuisance=2)
    names = data.target_names[:ratios.shape[0]]
    assert ratios.shape == (cfg["n_shape"] + cfg["n_expression"] + 6, 2) and np.all(np.isfinite(ratios) & (ratios > 0))
    tx, tz = names.index("tx"), names.index("tz")
    assert ratios[tx].min() > 1.0  # a 29 mm shift moves the whole face
    assert ratios[tz, 1] > 3 * ratios[tz, 0]  # distance is what the depth channel measures
    with pytest.raises(ValueError, match="include_render=True"):
        parameter_visibility(model, RadarConfig.from_profile(cfg), RadarFaceDataset(reference, "both", include_render=False),
                             base)


def test_targets_are_normalised_and_batches_denormalise(reference):
    data = RadarFaceDataset(reference, inputs="amplitude", include_render=False)
    images, targets = data.tensors()
    assert images.shape == (N, 1, 32, 32) and targets.shape == (N, data.normaliser.dim)
    assert set(data.slices) == {"shape", "expression", "pose"}
    assert targets[:, data.slices["pose"]].abs().max() <= 3 ** 0.5 + 1e-5
    back = data.denormalise(targets)  # torch in, torch out
    assert isinstance(back["pose"], torch.Tensor)
    np.testing.assert_allclose(back["pose"].numpy(), data.parameters()["pose"], atol=1e-5)
    np.testing.assert_allclose(data.normalise(data.parameters()), targets.numpy(), atol=1e-6)


def test_splits_are_fixed_disjoint_and_cover_the_file(reference):
    rows = {s: RadarFaceDataset(reference, "depth", split=s).rows for s in ("train", "val", "test")}
    assert [len(r) for r in rows.values()] == [6, 1, 1]
    assert sorted(np.concatenate(list(rows.values())).tolist()) == list(range(N))
    assert RadarFaceDataset(reference, "depth", split="train", in_memory=False).rows.tolist() == rows["train"].tolist()


def test_lazy_reading_matches_in_memory(reference):
    lazy = RadarFaceDataset(reference, "both", in_memory=False)
    eager = RadarFaceDataset(reference, "both")
    for i in (0, N - 1):
        assert torch.equal(lazy[i][0], eager[i][0]) and torch.equal(lazy[i][1], eager[i][1])


def test_shards_combine_into_the_same_dataset(tmp_path, cfg, model, reference):
    paths = [generate(tmp_path / "part.h5", 4, RadarConfig.from_profile(cfg), 0, workers=1, model=model, shard=f"{k}/2",
                      progress=False) for k in (1, 2)]
    assert [p.name for p in paths] == ["part.shard1of2.h5", "part.shard2of2.h5"]
    out = combine(paths, tmp_path / "all.h5")
    combined = arrays(out)
    assert_same(combined, arrays(reference, slice(0, 4)))  # sample i depends on (seed, i) only
    assert len(RadarFaceDataset(out, "both")) == 4
    with pytest.raises(ValueError, match="shard\\(s\\) missing at the end"):
        combine(paths[:1], tmp_path / "half.h5")
    moved = tmp_path / "moved"
    moved.mkdir()
    shutil.move(out, moved / out.name)  # away from its shards
    with pytest.raises(ValueError, match="part.shard1of2.h5 is missing beside it"):
        RadarFaceDataset(moved / out.name)


def test_ensure_reuses_a_complete_matching_file(tmp_path, monkeypatch, cfg, reference):
    monkeypatch.setenv("RADARFACE_DATA", str(tmp_path))
    settings = DatasetSettings.from_profile(cfg)
    target = default_path(settings)
    assert target.parent == tmp_path and target.name.startswith("synthetic_smoke_")
    shutil.copy(reference, target)
    before = target.stat().st_mtime_ns
    assert ensure(settings, progress=False) == target and target.stat().st_mtime_ns == before
    assert default_path(DatasetSettings.from_profile(profiles.resolve("smoke", n_samples=N, image_size=24))) != target


def test_dataset_settings_name_the_file_by_content_not_speed(cfg):
    settings = DatasetSettings.from_profile(cfg)
    assert settings.radar_config() == RadarConfig.from_profile(cfg)
    assert default_path(replace(settings, workers=settings.workers + 3)) == default_path(settings)
    assert default_path(replace(settings, seed=settings.seed + 1)) != default_path(settings)
    assert default_path(replace(settings, profile="other")).name.startswith("synthetic_other_")
    with pytest.raises(ValueError, match="dtype must be one of"):
        replace(settings, dtype="float64")
    with pytest.raises(ValueError, match="n_samples must be an integer >= 1"):
        replace(settings, n_samples=0)


# ------------------------------------------------------------------ readers refuse bad files
def test_reader_refuses_incomplete_file_unless_asked(tmp_path, reference):
    path = tmp_path / "incomplete.h5"
    shutil.copy(reference, path)
    with h5py.File(path, "a") as h5:
        h5.attrs["complete"] = False
        h5["done"][5:] = False
    with pytest.raises(ValueError, match="incomplete \\(5 of 8 samples\\).*allow_incomplete=True"):
        RadarFaceDataset(path)
    assert len(RadarFaceDataset(path, allow_incomplete=True)) == 5


def test_reader_errors_name_the_file_and_the_problem(tmp_path, reference):
    with pytest.raises(FileNotFoundError, match="missing.h5 does not exist"):
        RadarFaceDataset(tmp_path / "missing.h5")
    with pytest.raises(ValueError, match="inputs must be one of .*got 'rgb'"):
        RadarFaceDataset(reference, inputs="rgb")
    with pytest.raises(ValueError, match="split must be one of"):
        RadarFaceDataset(reference, split="validation")
    cut = tmp_path / "cut.h5"
    cut.write_bytes(reference.read_bytes()[: reference.stat().st_size * 2 // 3])
    with pytest.raises(ValueError, match=f"{cut}.*(truncated|corrupt)"):
        RadarFaceDataset(cut)
    wrong = tmp_path / "wrong.h5"
    shutil.copy(reference, wrong)
    with h5py.File(wrong, "a") as h5:
        del h5["depth"]
    with pytest.raises(ValueError, match=f"{wrong} is not a radarface dataset: missing dataset\\(s\\) \\['depth'\\]"):
        RadarFaceDataset(wrong, inputs="amplitude")


def test_reader_detects_a_corrupt_chunk(tmp_path, reference):
    bad = tmp_path / "bad.h5"
    shutil.copy(reference, bad)
    with h5py.File(bad, "r") as h5:
        info = h5["amplitude"].id.get_chunk_info(2)
    with open(bad, "r+b") as fh:
        fh.seek(info.byte_offset + info.size // 2)
        fh.write(b"\xff" * 16)
    with pytest.raises(ValueError, match=f"{bad}: cannot read dataset 'amplitude'"):
        RadarFaceDataset(bad, inputs="amplitude")


def test_generate_checks_its_arguments(tmp_path, cfg):
    config = RadarConfig.from_profile(cfg)
    with pytest.raises(ValueError, match="n must be a positive integer, got 0"):
        generate(tmp_path / "x.h5", 0, config)
    with pytest.raises(ValueError, match="dtype must be one of"):
        generate(tmp_path / "x.h5", 4, config, dtype="int8")
    with pytest.raises(ValueError, match="K counts from 1"):
        generate(tmp_path / "x.h5", 4, config, shard="0/2")
    with pytest.raises(ValueError, match="config must be a radarface.radar.RadarConfig"):
        generate(tmp_path / "x.h5", 4, {"image_size": 32})


def test_plots_draw_headless(reference, model):
    import matplotlib.pyplot as plt

    from radarface.plots.dataset import plot_parameter_histograms, plot_sample_grid

    data = RadarFaceDataset(reference, "both")
    images, _ = data.tensors()
    params = data.parameters()
    faces = model.vertices(params["shape"][:3], params["expression"][:3])
    axes = plot_sample_grid(images[:3, 0].numpy(), images[:3, 1].numpy(), faces, model.triangles,
                            params["pose"][:3])
    assert axes.shape == (3, 3)
    axes = plot_parameter_histograms(params, data.normaliser.pose_limits, data.normaliser.render_ranges)
    assert axes.size >= 12
    plt.close("all")


@pytest.mark.parametrize("field, row, value, in_memory", [
    ("amplitude", 3, float("nan"), True), ("depth", 2, 7.0, False), ("pose", 4, float("inf"), True),
    ("shape", 1, float("nan"), True), ("render", 0, 1e6, True),
])
def test_damaged_values_are_refused_naming_the_field_and_sample(tmp_path, reference, field, row, value, in_memory):
    damaged = tmp_path / "damaged.h5"
    shutil.copyfile(reference, damaged)
    with h5py.File(damaged, "r+") as h5:
        data = h5[field][row]
        data.flat[0] = value
        h5[field][row] = data
    with pytest.raises(ValueError, match=rf"'{field}' of sample {row} is .*outside.*generate it again"):
        ds = RadarFaceDataset(damaged, "both", None, in_memory=in_memory)
        ds.tensors()


@pytest.mark.slow
def test_workers_end_when_the_generator_is_killed(tmp_path, cfg):
    """kill -9 of the generator alone: its forkserver and workers must not live on."""
    env = dict(os.environ, RADARFACE_DATA=str(tmp_path))
    proc = subprocess.Popen([sys.executable, "-m", "radarface.dataset", "generate", "--profile", "smoke", "--n", "400",
                             "--out", str(tmp_path / "k.h5"), "--workers", "2", "--no-progress"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)

    def children(pid):
        out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
        return [int(p) for p in out]

    deadline, descendants = time.monotonic() + 120, []
    while time.monotonic() < deadline and proc.poll() is None:
        descendants = [c for p in children(proc.pid) for c in [p, *children(p)]]
        if len(descendants) >= 4:  # resource tracker, forkserver, two workers
            break
        time.sleep(0.5)
    assert len(descendants) >= 4, f"the generator did not start its workers: {descendants}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(os.path.exists(f"/proc/{p}") for p in descendants):
        time.sleep(0.5)
    alive = [p for p in descendants if os.path.exists(f"/proc/{p}")]
    for p in alive:
        os.kill(p, signal.SIGKILL)
    assert not alive, f"processes {alive} outlived the killed generator"


@pytest.mark.parametrize("seed", [-1, 2.5, "3"])
def test_a_bad_seed_is_refused_before_anything_is_written(tmp_path, cfg, model, seed):
    with pytest.raises(ValueError, match="seed must be a whole number >= 0"):
        generate(tmp_path / "s.h5", 4, RadarConfig.from_profile(cfg), seed=seed, workers=1, model=model, progress=False)
    assert not list(tmp_path.iterdir()), "a refused generation must leave nothing behind"


def test_a_dataset_sample_can_be_made_for_the_qar50_array():
    from radarface.dataset.sampling import render_sample, sample_parameters
    from radarface.facemodel import load_model
    from radarface.radar import RadarConfig

    config = RadarConfig.preset("qar50", image_size=16, pixel_mm=16.0, n_freq=16, surface_spacing_mm=2.5)
    model = load_model("builtin")
    params = sample_parameters(0, 5, model, config)
    assert 105.75 <= params["render"][2] <= 176.25  # aperture drawn around the array's 141 mm
    image = render_sample(params, model, config, seed=0, index=5)
    again = render_sample(params, model, RadarConfig.from_dict(config.to_dict()), seed=0, index=5)
    assert image.amplitude.shape == (16, 16) and np.array_equal(image.amplitude, again.amplitude)


@pytest.mark.slow
def test_a_dask_cluster_gives_the_arrays_of_a_local_run(tmp_path, cfg, model, reference):
    distributed = pytest.importorskip("distributed")
    from radarface.dataset.cluster import generate_on_cluster

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        path = generate_on_cluster(tmp_path / "dask.h5", N, RadarConfig.from_profile(cfg), 0, scheduler=client, model=model,
                                   shards=3, dtype="float32", show_progress=False)
    assert sorted(p.name for p in tmp_path.glob("dask.shard*of3.h5")) == [f"dask.shard{k}of3.h5" for k in (1, 2, 3)]
    with h5py.File(path, "r") as ours, h5py.File(reference, "r") as local:
        for name in ("amplitude", "depth", "shape", "expression", "pose", "render"):
            np.testing.assert_array_equal(ours[name][:], local[name][:], err_msg=name)
