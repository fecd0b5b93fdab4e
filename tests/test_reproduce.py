"""`make reproduce` killed mid-run continues: the rerun reuses finished notebooks, the dataset and checkpoints."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest


def _processes_using(marker: str) -> list[int]:
    """PIDs whose environment mentions ``marker`` (the test's private data folder)."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if marker.encode() in (proc / "environ").read_bytes():
                found.append(int(proc.name))
        except OSError:
            continue
    return [pid for pid in found if pid != os.getpid()]


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc to look for stray processes")
def test_reproduce_killed_in_notebook_04_resumes_with_dataset_and_checkpoints(tmp_path):
    env = dict(os.environ, RADARFACE_DATA=str(tmp_path / "data"), RADARFACE_RUNS=str(tmp_path / "runs"),
               RADARFACE_FIGURES=str(tmp_path / "figures"))
    command = [sys.executable, "-m", "radarface.run", "--profile", "smoke", "--only", "01,03,04", "--no-publish"]
    checkpoints = tmp_path / "data" / "checkpoints"
    with open(tmp_path / "first.log", "w") as log:
        first = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 600
        while not any(checkpoints.glob("encoder_*.pt")) and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert first.poll() is None, f"the run ended before notebook 04 trained: {(tmp_path / 'first.log').read_text()}"
        os.killpg(first.pid, signal.SIGKILL)  # as a machine handed back mid-run: everything at once
        first.wait()
    time.sleep(3)  # kernels and workers notice their parent is gone
    assert not _processes_using(str(tmp_path / "data")), "processes of the killed run are still alive"
    datasets = {p: p.stat().st_mtime_ns for p in (tmp_path / "data").glob("synthetic_smoke_*.h5")}
    assert datasets, "notebook 03 had not written its dataset"
    saved = {p.name for p in checkpoints.glob("encoder_*.pt")}

    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "01_morphable_model.ipynb: unchanged" in again.stdout and "03_synthetic_dataset.ipynb: unchanged" in again.stdout
    assert {p: p.stat().st_mtime_ns for p in datasets} == datasets, "the dataset was written again"
    executed = nbformat.read(tmp_path / "runs" / "smoke" / "04_encoder.ipynb", as_version=4)
    text = "".join(o.get("text", "") for c in executed.cells for o in c.get("outputs", []))
    assert "resuming after epoch" in text or "reusing finished run" in text, \
        f"notebook 04 trained from scratch although {sorted(saved)} were saved"


def _cpu_face_model_available() -> bool:
    from radarface import facemodel, profiles

    try:
        return facemodel.load_model(profiles.resolve("cpu")["model"], 2, 2).name != "builtin"
    except (OSError, ValueError):
        return False


@pytest.mark.slow
@pytest.mark.skipif(not _cpu_face_model_available(), reason="the cpu profile's face model (ICT-FaceKit in ../shared) is absent")
def test_every_notebook_passes_its_own_checks_with_the_cpu_profiles_face_model(tmp_path, monkeypatch):
    from radarface import profiles, run

    for name in ("DATA", "RUNS", "FIGURES"):
        monkeypatch.setenv(f"RADARFACE_{name}", str(tmp_path / name.lower()))
    model = profiles.resolve("cpu")["model"]
    written = run.run("smoke", params={"model": model}, out_dir=tmp_path / "runs", provenance=False)
    assert len(written) == len(run.notebooks())
    first = nbformat.read(written[0], as_version=4)
    text = "".join(o.get("text", "") for c in first.cells for o in c.get("outputs", []))
    assert "ict-facekit" in text, "the notebooks did not run with the cpu profile's face model"
