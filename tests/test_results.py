import json

import pytest

from radarface import results


def test_readme_results_block_matches_the_committed_results():
    block = results.readme_section(results.README.read_text(), "cpu")
    assert block == results.readme_block("cpu"), "README.md's results are stale: run `make results`"


def _publish(root, monkeypatch, **files):
    monkeypatch.setattr(results, "results_dir", lambda profile: root / profile)
    (root / "cpu").mkdir(parents=True)
    for name, data in files.items():
        (root / "cpu" / f"{name}.json").write_text(json.dumps(data))


TIMINGS = {"commit": "abc1234", "cores": 2, "total_seconds": 600.0,
           "notebooks": {"01_morphable_model.ipynb": 60.0, "06_autoencoder.ipynb": 540.0}}


def test_block_is_generated_from_the_files(tmp_path, monkeypatch):
    rows = [{"method": "baseline: mean face", "input": "–", **{f"{s}_{c}": 1.0 for s in ("paper", "ours")
                                                              for c in ("shape", "expression", "total", "vertex_mm", "ratio")}}]
    real = {"simulated": True, "n_captures": 40, "vertex_mm": {"encoder": 6.571},
            "identity": {"encoder": {"identification_rate": 0.7}}}
    _publish(tmp_path, monkeypatch, timings=TIMINGS, table={"rows": rows}, real_data_both=real)
    block = results.readme_block("cpu")
    assert "commit `abc1234`" in block and "10.0 min" in block
    assert "| baseline: mean face | – | 1.00 | 1.00 |" in block
    assert "| encoder | 6.57 | 0.70 |" in block and "40 surrogate (simulated) captures" in block


def test_write_readme_replaces_only_the_block(tmp_path, monkeypatch):
    _publish(tmp_path / "results", monkeypatch, timings=TIMINGS)
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- results:cpu:begin -->\nold numbers\n<!-- results:cpu:end -->\noutro\n")
    assert results.write_readme("cpu", readme)
    text = readme.read_text()
    assert text.startswith("intro\n") and text.endswith("outro\n") and "old numbers" not in text
    assert results.readme_section(text, "cpu") == results.readme_block("cpu")
    assert not results.write_readme("cpu", readme)


def test_missing_block_and_broken_file_are_named(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="no results block for profile 'cpu'"):
        results.readme_section("no markers here", "cpu")
    _publish(tmp_path, monkeypatch)
    (tmp_path / "cpu" / "timings.json").write_text("{not json")
    with pytest.raises(ValueError, match="timings.json is not valid JSON"):
        results.readme_block("cpu")


def test_no_published_run_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(results, "results_dir", lambda profile: tmp_path / profile)
    assert "No complete run at profile `cpu`" in results.readme_block("cpu")


def test_physics_table_lists_every_method_per_capture_set(tmp_path, monkeypatch):
    rows = {"encoder": {"vertex_mm": 5.794, "identification_rate": 1.0},
            "encoder + physics fit (c)": {"vertex_mm": 5.481, "identification_rate": 0.95},
            "mean face": {"vertex_mm": 7.55}}
    physics = {"settings": {"test_images": 10, "steps": 30},
               "captures": {"no blanket": rows, "blanket": {"encoder": {"vertex_mm": 6.0, "identification_rate": 0.9}}},
               "synthetic": {"encoder": 2.104, "autoencoder + (a), blended": 2.0}}
    _publish(tmp_path, monkeypatch, timings=TIMINGS, physics_both=physics)
    block = results.readme_block("cpu")
    assert "10 images per capture set" in block and "30 steps each" in block
    assert "| method | no blanket: vertex mm | no blanket: identified | blanket: vertex mm | blanket: identified |" in block
    assert "| encoder | 5.79 | 1.00 | 6.00 | 0.90 | 2.10 |" in block
    assert "| encoder + physics fit (c) | 5.48 | 0.95 | – | – | – |" in block
    assert "| mean face | 7.55 | – | – | – | – |" in block
    assert "| autoencoder + (a), blended | – | – | – | – | 2.00 |" in block
