import ast
import json

import nbformat
import pytest

from radarface import run


def _notebook(path, code, params="profile = 'smoke'\nsize = 1"):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(params)
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell, nbformat.v4.new_code_cell(code)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def test_parse_value_and_sweep():
    assert run.parse_value("3") == 3 and run.parse_value("0.5") == 0.5
    assert run.parse_value("depth") == "depth" and run.parse_value("[1, 2]") == [1, 2]
    assert run.parse_sweep(["inputs=amplitude,depth"]) == [{"inputs": "amplitude"}, {"inputs": "depth"}]
    assert len(run.parse_sweep(["a=1,2", "b=x,y,z"])) == 6
    assert run.parse_sweep([]) == [{}]
    with pytest.raises(ValueError, match="NAME=v1"):
        run.parse_sweep(["inputs"])


@pytest.mark.parametrize("notebook", run.notebooks(), ids=lambda p: p.stem)
def test_every_parameter_of_every_notebook_can_be_set_by_papermill(notebook):
    # papermill skips a line it cannot parse (e.g. an "=" in the comment) and the runner then
    # refuses that parameter: compare with the names Python sees assigned in the cell
    cell = next(c for c in run.load_notebook(notebook).cells if "parameters" in c.metadata.get("tags", []))
    assigned = {t.id for node in ast.parse(cell.source).body if isinstance(node, ast.Assign)
                for t in node.targets if isinstance(t, ast.Name)}
    assert run.declared_parameters(notebook) == assigned


def test_output_name_carries_sweep_values(tmp_path):
    assert run.output_name(tmp_path / "04_encoder.ipynb", {"inputs": "depth"}) == "04_encoder__inputs-depth.ipynb"


def test_notebooks_are_numbered_and_ordered():
    found = run.notebooks()
    assert found, "no notebooks found"
    assert [p.name for p in found] == sorted(p.name for p in found)
    with pytest.raises(ValueError, match="no notebook numbered"):
        run.notebooks(["99"])


def test_runner_executes_in_order_with_parameters_and_sweeps(tmp_path):
    _notebook(tmp_path / "01_a.ipynb", "print(profile, size)")
    _notebook(tmp_path / "02_b.ipynb", "print(inputs)", params="profile = 'smoke'\ninputs = 'both'")
    out = tmp_path / "out"
    written = run.run("smoke", params={"size": 7}, sweeps=run.parse_sweep(["inputs=amplitude,depth"]),
                      out_dir=out, folder=tmp_path)
    assert [p.name for p in written] == ["01_a.ipynb", "02_b__inputs-amplitude.ipynb", "02_b__inputs-depth.ipynb"]
    text = nbformat.read(written[0], as_version=4).cells[-1].outputs[0]["text"]
    assert text.strip() == "smoke 7"


def test_runner_names_the_failing_notebook_and_cell(tmp_path):
    _notebook(tmp_path / "01_ok.ipynb", "x = 1")
    _notebook(tmp_path / "02_bad.ipynb", "raise ValueError('boom')")
    _notebook(tmp_path / "03_never.ipynb", "x = 1")
    with pytest.raises(RuntimeError, match=r"02_bad.ipynb failed in cell .*ValueError: boom"):
        run.run("smoke", out_dir=tmp_path / "out", folder=tmp_path)
    assert not (tmp_path / "out" / "03_never.ipynb").exists()


def test_runner_refuses_unknown_parameters_and_profiles(tmp_path):
    _notebook(tmp_path / "01_a.ipynb", "pass")
    with pytest.raises(ValueError, match="declared by none"):
        run.run("smoke", params={"nope": 1}, out_dir=tmp_path / "out", folder=tmp_path)
    with pytest.raises(ValueError, match="unknown profile"):
        run.run("huge", folder=tmp_path)


def test_main_exits_non_zero_on_failure(tmp_path, monkeypatch, capsys):
    _notebook(tmp_path / "01_bad.ipynb", "1/0")
    monkeypatch.setattr(run, "SOURCE_DIR", tmp_path)
    monkeypatch.setenv("RADARFACE_RUNS", str(tmp_path / "runs"))
    assert run.main(["--profile", "smoke"]) == 1
    assert "01_bad.ipynb failed in cell" in capsys.readouterr().err
    assert (tmp_path / "runs" / "smoke" / "01_bad.ipynb").exists()


def _counting_notebook(path, counter, params="profile = 'smoke'\nsize = 1"):
    _notebook(path, f"with open({str(counter)!r}, 'a') as f:\n    f.write('x')\nprint({str(path.parent)!r})", params)


def test_unchanged_notebooks_are_reused_and_changed_ones_rerun(tmp_path, capsys):
    counter = tmp_path / "count"
    _counting_notebook(tmp_path / "01_a.ipynb", counter)
    _counting_notebook(tmp_path / "02_b.ipynb", counter)
    out = tmp_path / "out"
    run.run("smoke", out_dir=out, folder=tmp_path)
    assert counter.read_text() == "xx"
    run.run("smoke", out_dir=out, folder=tmp_path)
    assert counter.read_text() == "xx", "an unchanged notebook was executed again"
    assert capsys.readouterr().out.count("reused") == 2
    run.run("smoke", params={"size": 2}, out_dir=out, folder=tmp_path)
    assert counter.read_text() == "xxxx", "changed parameters must rerun the notebook and those after it"
    run.run("smoke", params={"size": 2}, out_dir=out, folder=tmp_path, force=True)
    assert counter.read_text() == "xxxxxx"


def test_a_changed_upstream_notebook_reruns_those_after_it(tmp_path):
    counter = tmp_path / "count"
    _counting_notebook(tmp_path / "01_a.ipynb", counter)
    _counting_notebook(tmp_path / "02_b.ipynb", counter)
    run.run("smoke", out_dir=tmp_path / "out", folder=tmp_path)
    _counting_notebook(tmp_path / "01_a.ipynb", counter, params="profile = 'smoke'\nsize = 3")
    run.run("smoke", out_dir=tmp_path / "out", folder=tmp_path)
    assert counter.read_text() == "xxxx"


def test_executed_copy_states_provenance_and_hides_local_paths(tmp_path, capsys):
    counter = tmp_path / "count"
    _counting_notebook(tmp_path / "01_a.ipynb", counter)
    written = run.run("smoke", out_dir=tmp_path / "out", folder=tmp_path)
    nb = nbformat.read(written[0], as_version=4)
    first = nb.cells[0]
    assert "provenance" in first.metadata["tags"] and "profile **`smoke`**" in first.source
    assert "wall time" in first.source and "CPU cores" in first.source
    printed = nb.cells[-1].outputs[0]["text"]
    assert str(tmp_path) not in printed and "<local>/" in printed
    assert "estimated times" in capsys.readouterr().out
    again = run.run("smoke", out_dir=tmp_path / "out", folder=tmp_path, force=True)
    assert sum("provenance" in c.metadata.get("tags", []) for c in nbformat.read(again[0], 4).cells) == 1


def test_estimates_come_from_the_last_run_here(tmp_path, capsys):
    _notebook(tmp_path / "01_a.ipynb", "x = 1")
    run.run("smoke", out_dir=tmp_path / "out", folder=tmp_path)
    seconds, origin = run.estimates(["01_a.ipynb"], run.read_manifest(tmp_path / "out"), "smoke")["01_a.ipynb"]
    assert origin == "last run here" and seconds > 0
    assert run.estimates(["99_z.ipynb"], {}, "no-such-profile")["99_z.ipynb"] == (None, "no run yet")


def test_estimates_scale_the_published_times_by_the_speed_probe(tmp_path, monkeypatch):
    monkeypatch.setattr(run, "published_dir", lambda profile: tmp_path)
    (tmp_path / "timings.json").write_text(json.dumps({"notebooks": {"01_a.ipynb": 100.0}, "probe_seconds": 0.5,
                                                       "probe_threads": run.PROBE_THREADS}))
    calls = []
    probe = lambda: calls.append(1) or 1.0  # noqa: E731  (this machine: half as fast)
    guesses = run.estimates(["01_a.ipynb", "02_b.ipynb"], {}, "cpu", probe=probe)
    assert guesses["01_a.ipynb"] == (pytest.approx(200.0), "published run × 2.00 (speed probe)")
    assert guesses["02_b.ipynb"] == (None, "no run yet") and calls == [1]
    here = {"01_a.ipynb": {"seconds": 7.0}}
    assert run.estimates(["01_a.ipynb"], here, "cpu", probe=probe)["01_a.ipynb"] == (7.0, "last run here")
    assert calls == [1]  # not measured when no published time is used
    assert 0 < run.speed_probe(repeats=1) < 30
    # a probe taken with other threads (or none recorded) does not scale: the times are shown as they were
    for other in ({"probe_threads": 2}, {}):
        timings = {"notebooks": {"01_a.ipynb": 100.0}, "probe_seconds": 0.5, **other}
        (tmp_path / "timings.json").write_text(json.dumps(timings))
        assert run.estimates(["01_a.ipynb"], {}, "cpu", probe=probe)["01_a.ipynb"] == (
            100.0, "published run (unscaled: its speed probe was taken another way)")
    assert calls == [1]


def test_the_speed_probe_leaves_the_callers_torch_threads_as_they_were():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        run.speed_probe(repeats=1)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_publish_refuses_notebooks_of_a_dirty_commit(tmp_path, monkeypatch):
    _notebook(tmp_path / "01_a.ipynb", "x = 1")
    monkeypatch.setattr(run, "git_commit", lambda: "abc1234+")
    monkeypatch.setattr(run, "notebooks", lambda *args, **kwargs: [tmp_path / "01_a.ipynb"])
    written = run.run("smoke", out_dir=tmp_path / "out", folder=tmp_path)
    assert run.executed_commit(written[0]) == "abc1234+"
    with pytest.raises(ValueError, match=r"one clean commit; this run's notebooks state \['abc1234\+'\]"):
        run.publish("smoke", written, tmp_path / "out")


def test_scrub_paths_keeps_repository_paths_relative():
    from radarface import paths

    assert run.scrub_paths(f"saved {paths.data_dir()}/checkpoints/x.pt") == "saved data/checkpoints/x.pt"
    assert run.scrub_paths(f"{paths.ROOT}/notebooks/01.ipynb") == "notebooks/01.ipynb"
    assert run.scrub_paths("see /home/someone/file.h5, then") == "see <local>/file.h5, then"


def test_publish_refuses_an_incomplete_run(tmp_path):
    _notebook(tmp_path / "01_a.ipynb", "x = 1")
    written = run.run("smoke", out_dir=tmp_path / "out", folder=tmp_path)
    with pytest.raises(ValueError, match="publishing needs every notebook"):
        run.publish("smoke", written, tmp_path / "out")


def test_the_runner_keeps_the_stages_a_notebook_used_and_estimates_adjust_for_them(tmp_path, monkeypatch):
    data = tmp_path / "data"
    monkeypatch.setenv("RADARFACE_DATA", str(data))
    code = ("from radarface import paths, progress\n"
            "progress.record_stage(paths.data_dir() / 'synthetic_x.h5', made=True, seconds=500.0)\n"
            "progress.record_stage(paths.data_dir() / 'checkpoints' / 'enc.pt', made=False, seconds=300.0)")
    _notebook(tmp_path / "01_a.ipynb", code)
    run.run("smoke", out_dir=tmp_path / "out", folder=tmp_path)
    manifest = run.read_manifest(tmp_path / "out")
    assert manifest["01_a.ipynb"]["stages"] == {"synthetic_x.h5": {"made": True, "seconds": 500.0},
                                                "checkpoints/enc.pt": {"made": False, "seconds": 300.0}}
    assert not list((tmp_path / "out").glob(".stages-*"))
    stages = manifest["01_a.ipynb"]["stages"]
    # nothing in data/: the dataset is made again (its 500 s stay), the encoder too (300 s more)
    assert run.stage_adjusted(600.0, stages) == (900.0, 800.0)
    (data / "synthetic_x.h5").write_bytes(b"")
    (data / "checkpoints").mkdir(parents=True)
    (data / "checkpoints" / "enc.pt").write_bytes(b"")
    assert run.stage_adjusted(600.0, stages) == (100.0, 0.0)  # both reused: the notebook without them
    # a published run that reused the encoder, on a machine without it: its training is added
    (data / "checkpoints" / "enc.pt").unlink()
    monkeypatch.setattr(run, "published_dir", lambda profile: tmp_path)
    (tmp_path / "timings.json").write_text(json.dumps({"notebooks": {"01_b.ipynb": 100.0}, "probe_seconds": 0.5,
                                                       "probe_threads": run.PROBE_THREADS, "stages": {"01_b.ipynb": {"checkpoints/enc.pt": stages[
                                                           "checkpoints/enc.pt"]}}}))
    seconds, origin = run.estimates(["01_b.ipynb"], {}, "cpu", probe=lambda: 1.0)["01_b.ipynb"]
    assert seconds == pytest.approx(800.0)  # (100 + 300) s there, × 2 here
    assert origin == "published run × 2.00 (speed probe); 10 min 00 s making what data/ lacks"
    # a later notebook that reused the same encoder there finds it made by the first here: counted once
    timings = json.loads((tmp_path / "timings.json").read_text())
    timings["notebooks"]["02_c.ipynb"] = 50.0
    timings["stages"]["02_c.ipynb"] = timings["stages"]["01_b.ipynb"]
    (tmp_path / "timings.json").write_text(json.dumps(timings))
    guesses = run.estimates(["01_b.ipynb", "02_c.ipynb"], {}, "cpu", probe=lambda: 1.0)
    assert guesses["01_b.ipynb"][0] == pytest.approx(800.0)
    assert guesses["02_c.ipynb"] == (pytest.approx(100.0), "published run × 2.00 (speed probe)")


def test_publish_keeps_the_speed_probe_taken_at_the_runs_start(tmp_path, monkeypatch):
    _notebook(tmp_path / "01_a.ipynb", "x = 1")
    published = tmp_path / "published"
    published.mkdir()
    (published / "timings.json").write_text(json.dumps({"notebooks": {"01_a.ipynb": 10.0}, "probe_seconds": 0.5,
                                                        "probe_threads": run.PROBE_THREADS}))
    for name, value in (("published_dir", lambda profile: published), ("git_commit", lambda: "abc1234"),
                        ("notebooks", lambda *args, **kwargs: [tmp_path / "01_a.ipynb"]),
                        ("PUBLISHED_DIR", tmp_path / "notebooks"), ("speed_probe", lambda: 0.25)):
        monkeypatch.setattr(run, name, value)
    monkeypatch.setenv("RADARFACE_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("RADARFACE_FIGURES", str(tmp_path / "figures"))
    (tmp_path / "notebooks").mkdir()
    written = run.run("smoke", out_dir=tmp_path / "out", folder=tmp_path)  # estimates probe once: 0.25
    assert run.read_manifest(tmp_path / "out")["01_a.ipynb"]["probe_seconds"] == 0.25
    monkeypatch.setattr(run, "speed_probe", lambda: 0.9)  # the machine after the run
    target = run.publish("smoke", written, tmp_path / "out")
    timings = json.loads((target / "timings.json").read_text())
    assert (timings["probe_seconds"], timings["probe_threads"]) == (0.25, run.PROBE_THREADS)
    manifest = run.read_manifest(tmp_path / "out")
    manifest["01_a.ipynb"]["probe_threads"] = 2  # a probe of an older runner, taken with two threads
    (tmp_path / "out" / run.MANIFEST_NAME).write_text(json.dumps(manifest))
    assert json.loads((run.publish("smoke", written, tmp_path / "out") / "timings.json").read_text())[
        "probe_seconds"] == 0.9
    del manifest["01_a.ipynb"]["probe_seconds"]  # a run whose estimates all came from earlier runs here
    (tmp_path / "out" / run.MANIFEST_NAME).write_text(json.dumps(manifest))
    assert json.loads((run.publish("smoke", written, tmp_path / "out") / "timings.json").read_text())[
        "probe_seconds"] == 0.9
