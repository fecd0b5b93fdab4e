"""Storage, resume and worker machinery of dataset generation, with a tiny stand-in renderer."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from radarface.dataset import schema, store, writer

FIELDS = {
    "amplitude": ((4, 5), "float16"),
    "depth": ((4, 5), "float16"),
    "shape": ((3,), "float64"),
    "expression": ((2,), "float64"),
    "pose": ((6,), "float64"),
    "render": ((3,), "float64"),
}


def settings_for(n: int, seed: int = 0, **changes) -> dict:
    base = {"schema_version": schema.SCHEMA_VERSION, "radarface_version": "test", "seed": seed, "n": n,
            "index_start": 0, "index_stop": n, "dtype": "float16", "config": {"image_size": 4, "n_freq": 8}}
    for key, value in changes.items():
        if key in base["config"]:
            base["config"][key] = value
        else:
            base[key] = value
    return base


class ToySource:
    """Deterministic per-index arrays; optionally slow, or failing / interrupting at one index."""

    def __init__(self, seed: int = 0, delay: float = 0.0, fail_at: int | None = None,
                 interrupt_at: int | None = None, forbid: bool = False, die_at: int | None = None,
                 fields: dict | None = None):
        self.seed, self.delay, self.fail_at, self.interrupt_at, self.forbid = seed, delay, fail_at, interrupt_at, forbid
        self.die_at, self.fields = die_at, fields or FIELDS

    def setup(self) -> None:
        if self.forbid:
            raise AssertionError("the source should not have been used")

    def __call__(self, index: int) -> dict[str, np.ndarray]:
        if index == self.fail_at:
            raise ValueError("boom")
        if index == self.interrupt_at:
            raise KeyboardInterrupt
        if index == self.die_at:
            os._exit(1)  # e.g. the OOM killer
        time.sleep(self.delay)
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, index]))
        return {name: rng.random(shape) for name, (shape, _) in self.fields.items()}


def write(path, n=10, source=None, workers=1, fields=None, **kw) -> Path:
    fields = fields or FIELDS
    return writer.write_dataset(path, fields, settings_for(n), {"extra": 1}, source or ToySource(fields=fields),
                                workers=workers, progress=False, **kw)


def arrays(path: Path) -> dict[str, np.ndarray]:
    with h5py.File(path, "r") as h5:
        return {name: h5[name][:] for name in (*FIELDS, "done")}


def assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict[str, np.ndarray]:
    return arrays(write(tmp_path_factory.mktemp("ref") / "ref.h5", n=10, block_size=3))


def test_write_complete_file(tmp_path, reference):
    path = write(tmp_path / "a.h5", n=10)
    with h5py.File(path, "r") as h5:
        assert h5.attrs["complete"] and h5.attrs["extra"] == 1
        assert json.loads(h5.attrs["settings"])["n"] == 10
        assert "generation" not in h5.attrs  # timings live beside the file, so equal runs give equal bytes
        assert h5["amplitude"].chunks == (1, 4, 5) and h5["amplitude"].compression == "gzip"
        assert h5["amplitude"].dtype == np.float16
    stats = schema.generation_stats(path)
    assert stats["rendered"] == 10 and stats["workers"] == 1 and stats["cpu_s_per_sample"] >= 0
    assert not schema.journal_dir(path).exists()
    assert_same(arrays(path), reference)


def test_two_workers_give_the_same_arrays(tmp_path, reference):
    assert_same(arrays(write(tmp_path / "b.h5", n=10, workers=2, block_size=2)), reference)


def test_complete_file_is_reused_without_rendering(tmp_path):
    path = write(tmp_path / "c.h5", n=6)
    before = path.stat().st_mtime_ns
    write(path, n=6, source=ToySource(forbid=True))
    assert path.stat().st_mtime_ns == before


@pytest.mark.parametrize("change, message", [
    ({"seed": 1}, "seed=0, now 1"),
    ({"image_size": 8}, "image_size=4, now 8"),
    ({"n": 12}, "n=10, now 12"),
])
def test_rerun_with_other_settings_is_refused(tmp_path, change, message):
    path = write(tmp_path / "d.h5", n=10)
    with pytest.raises(ValueError, match=message) as info:
        writer.write_dataset(path, FIELDS, settings_for(**{"n": 10, **change}), {}, ToySource(forbid=True),
                             workers=1, progress=False)
    assert str(path) in str(info.value) and "Delete it" in str(info.value)


def test_unfinished_journal_with_other_settings_is_refused(tmp_path):
    path = tmp_path / "e.h5"
    store.Journal(path).create(settings_for(10))
    with pytest.raises(ValueError, match="unfinished dataset .* dtype='float16', now 'float32'"):
        writer.write_dataset(path, FIELDS, settings_for(10, dtype="float32"), {}, ToySource(forbid=True),
                             workers=1, progress=False)


def test_interrupt_keeps_finished_samples_and_resume_completes(tmp_path, reference, capsys):
    path = tmp_path / "f.h5"
    with pytest.raises(KeyboardInterrupt):
        write(path, n=10, source=ToySource(interrupt_at=7), block_size=2)
    assert "Rerun the same command" in capsys.readouterr().err
    with pytest.raises(ValueError, match="incomplete \\(6 of 10 samples\\)"):
        schema.open_dataset_file(path)
    with schema.open_dataset_file(path, allow_incomplete=True) as h5:
        assert h5["done"][:].tolist() == [True] * 6 + [False] * 4
    write(path, n=10, source=ToySource(), block_size=3)
    assert_same(arrays(path), reference)


def test_snapshot_without_journal_is_resumed(tmp_path, reference):
    path = tmp_path / "g.h5"
    with pytest.raises(KeyboardInterrupt):
        write(path, n=10, source=ToySource(interrupt_at=5), block_size=1)
    store.Journal(path).remove()  # e.g. the snapshot was copied elsewhere on its own
    write(path, n=10)
    assert_same(arrays(path), reference)


def test_worker_error_names_the_sample(tmp_path):
    with pytest.raises(writer.SampleError, match="sample 4 failed: ValueError: boom"):
        write(tmp_path / "h.h5", n=8, source=ToySource(fail_at=4), block_size=2)


def test_dead_worker_is_an_error_not_a_hang(tmp_path, reference):
    path = tmp_path / "dead.h5"
    with pytest.raises(writer.SampleError, match="worker process died"):
        write(path, n=10, source=ToySource(die_at=5, delay=0.05), workers=2, block_size=1)
    assert store.Journal(path).blocks()  # what finished is kept
    write(path, n=10)
    assert_same(arrays(path), reference)


def test_damaged_block_is_regenerated(tmp_path, reference):
    path = tmp_path / "i.h5"
    with pytest.raises(KeyboardInterrupt):
        write(path, n=10, source=ToySource(interrupt_at=8), block_size=4)
    journal = store.Journal(path)
    first = journal.blocks()[0][2]
    first.write_bytes(first.read_bytes()[:50])  # e.g. a disk fault
    (journal.dir / ".tmp-123-block_000000008_000000010.npz").write_bytes(b"half")
    with pytest.warns(UserWarning, match="discarding damaged block"):
        write(path, n=10, block_size=4)
    assert_same(arrays(path), reference)


def test_second_generator_on_the_same_file_is_refused(tmp_path):
    import fcntl

    path = tmp_path / "j.h5"
    journal = store.Journal(path)
    journal.dir.mkdir()
    with open(journal.dir / "lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        with pytest.raises(ValueError, match="another process is generating"):
            write(path, n=4)


_KILL_SCRIPT = textwrap.dedent("""
    import sys
    sys.path.insert(0, {tests!r})
    from test_dataset_store import ToySource, write
    write({path!r}, n=40, source=ToySource(delay=0.05), workers=2, block_size=2)
""")


def test_sigkill_loses_only_samples_in_flight(tmp_path):
    path = tmp_path / "k.h5"
    script = _KILL_SCRIPT.format(tests=str(Path(__file__).parent), path=str(path))
    proc = subprocess.Popen([sys.executable, "-c", script], start_new_session=True)
    journal = store.Journal(path)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not journal.dir.exists() or len(journal.blocks()) < 4):
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)  # the writer and its workers, at an arbitrary moment
    proc.wait()
    kept = journal.blocks()
    assert 4 <= len(kept) < 20 and not path.exists()
    write(path, n=40, source=ToySource(), workers=2)
    expected = arrays(write(tmp_path / "uninterrupted.h5", n=40))
    assert_same(arrays(path), expected)


def test_plan_blocks_covers_exactly_the_unfinished_rows():
    todo = np.array([1, 1, 1, 0, 1, 0, 0, 1, 1, 1, 1, 1], dtype=bool)
    assert writer.plan_blocks(todo, 100, 2) == [(100, 102), (102, 103), (104, 105), (107, 109),
                                                (109, 111), (111, 112)]


def test_resolve_workers():
    assert writer.resolve_workers(0) >= 1 and writer.resolve_workers(3) == 3
    with pytest.raises(ValueError, match="got -1"):
        writer.resolve_workers(-1)


# ----------------------------------------------------------------- opening files
def test_open_missing_file_mentions_unfinished_generation(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist$"):
        schema.open_dataset_file(tmp_path / "none.h5")
    store.Journal(tmp_path / "half.h5").create(settings_for(4))
    with pytest.raises(FileNotFoundError, match="generation is unfinished"):
        schema.open_dataset_file(tmp_path / "half.h5")


def test_open_rejects_non_hdf5_truncated_and_wrong_schema(tmp_path, reference):
    good = write(tmp_path / "good.h5", n=10)
    text = tmp_path / "text.h5"
    text.write_text("hello")
    with pytest.raises(ValueError, match=f"{text} is not an HDF5 file"):
        schema.open_dataset_file(text)
    cut = tmp_path / "cut.h5"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ValueError, match=f"{cut} .*(truncated|corrupt)"):
        schema.open_dataset_file(cut)
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as h5:
        h5["amplitude"] = np.zeros((2, 4, 4))
    with pytest.raises(ValueError, match=r"missing dataset\(s\) \['depth'"):
        schema.open_dataset_file(other)


def test_existing_unreadable_file_is_not_overwritten(tmp_path):
    path = tmp_path / "x.h5"
    path.write_text("not a dataset")
    with pytest.raises(ValueError, match="exists but is not a readable dataset"):
        write(path, n=4)
    assert path.read_text() == "not a dataset"


def test_the_same_generation_twice_gives_the_same_file_bytes(tmp_path):
    first, second = write(tmp_path / "a.h5", n=6), write(tmp_path / "b.h5", n=6)
    assert first.read_bytes() == second.read_bytes()


# ----------------------------------------------------------------- a full disk
#: Incompressible 64 x 64 images: 16 kB per sample, so a few dozen samples fill a small disk.
BIG = {**FIELDS, "amplitude": ((64, 64), "float16"), "depth": ((64, 64), "float16")}


@pytest.fixture(scope="module")
def big_reference(tmp_path_factory) -> dict[str, np.ndarray]:
    return arrays(write(tmp_path_factory.mktemp("big") / "ref.h5", n=24, fields=BIG))


@pytest.fixture
def small_disk(tmp_path):
    """A tmpfs folder and a function that sets its size in kB (root only; skipped otherwise)."""
    folder = tmp_path / "disk"
    folder.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)],
                                           capture_output=True).returncode:
        pytest.skip("mounting a small tmpfs needs root")
    resize = lambda kb: subprocess.run(["mount", "-o", f"remount,size={kb}k", str(folder)], check=True)  # noqa: E731
    yield folder, resize
    subprocess.run(["umount", "-l", str(folder)], check=True)


def _leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.rglob(".tmp-*")]


def test_a_disk_full_at_the_final_assemble_keeps_the_journal_and_resumes(small_disk, big_reference):
    folder, resize = small_disk
    resize(600)  # the journal (24 x 16 kB) fits, a reservation for the final file does not
    path = folder / "full.h5"
    with pytest.raises(store.DiskFull, match=r"the disk is full while writing .*full\.h5 \(needs up to .* MB, "
                                             r".* MB free\)\. 24 of 24 samples are saved in the journal .*"
                                             r"free some space and rerun the same command"):
        write(path, n=24, fields=BIG, block_size=4)
    assert not path.exists() and not _leftovers(folder) and len(store.Journal(path).blocks()) == 6
    resize(4000)
    write(path, n=24, fields=BIG, source=ToySource(fields=BIG, forbid=True))  # assembles only
    assert_same(arrays(path), big_reference)


def test_a_disk_full_while_journalling_says_how_many_samples_are_saved(small_disk, big_reference):
    folder, resize = small_disk
    resize(200)
    path = folder / "half.h5"
    with pytest.raises(store.DiskFull, match=r"the disk is full while writing .*block_.*\.npz .*\. (\d+) of 24 "
                                             r"samples are saved in the journal") as info:
        write(path, n=24, fields=BIG, block_size=2)
    saved = int(str(info.value).split(". ")[1].split(" of ")[0])
    assert 2 <= saved < 24 and saved == 2 * len(store.Journal(path).blocks()) and not _leftovers(folder)
    resize(4000)
    write(path, n=24, fields=BIG)
    assert_same(arrays(path), big_reference)


_FSIZE_SCRIPT = textwrap.dedent("""
    import resource, signal, sys
    sys.path.insert(0, {tests!r})
    from test_dataset_store import BIG, write
    from radarface.dataset.store import DiskFull
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead of killing
    resource.setrlimit(resource.RLIMIT_FSIZE, (128_000, 128_000))
    try:
        write({path!r}, n=24, fields=BIG, block_size=4)
    except DiskFull as err:
        print(err)
        sys.exit(1)
""")


def test_a_file_size_limit_at_the_final_assemble_is_reported_not_a_crash(tmp_path, big_reference):
    path = tmp_path / "limited.h5"
    script = _FSIZE_SCRIPT.format(tests=str(Path(__file__).parent), path=str(path))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr[-2000:]  # not -11 (a segmentation fault in HDF5)
    assert "the file size limit is reached while writing" in done.stdout
    assert "24 of 24 samples are saved in the journal" in done.stdout
    assert not path.exists() and not _leftovers(tmp_path)
    write(path, n=24, fields=BIG)
    assert_same(arrays(path), big_reference)


def test_a_full_disk_while_journalling_leaves_no_temporary_block(tmp_path, monkeypatch, reference):
    import errno

    real_savez, calls = np.savez, []

    def savez_until_full(fh, **arrays):
        calls.append(1)
        if len(calls) > 2:
            fh.write(b"half a block")
            raise OSError(errno.ENOSPC, "No space left on device")
        real_savez(fh, **arrays)

    monkeypatch.setattr(store.np, "savez", savez_until_full)
    path = tmp_path / "j.h5"
    with pytest.raises(store.DiskFull, match=r"6 of 10 samples are saved in the journal .*rerun the same command"):
        write(path, n=10, block_size=3)
    assert not _leftovers(tmp_path)
    monkeypatch.undo()
    write(path, n=10)
    assert_same(arrays(path), reference)


def test_the_size_bound_holds_for_incompressible_data(tmp_path):
    path = write(tmp_path / "b.h5", n=24, fields=BIG)
    attrs = len(json.dumps([settings_for(24), {"extra": 1}]))
    assert path.stat().st_size <= store.size_bound(24, BIG, attrs) - (1 << 20) + 64_000


# ----------------------------------------------------------------- combined shards
def _shard(path: Path, lo: int, hi: int, seed: int = 0, data_seed: int | None = None) -> Path:
    settings = settings_for(10, seed=seed, index_start=lo, index_stop=hi)
    source = ToySource(seed=seed if data_seed is None else data_seed)
    return writer.write_dataset(path, FIELDS, settings, {"extra": 1}, source, workers=1, progress=False)


@pytest.mark.parametrize("seed, data_seed, message", [
    (1, None, r"seed=0, now 1\. Regenerate the shard with its original settings \(seed 0\), or rerun "
              r"`python -m radarface\.dataset combine --out .*all\.h5"),
    (0, 1, r"its arrays differ \(content checksum\)"),
])
def test_a_shard_changed_after_combine_is_refused_naming_it(tmp_path, reference, seed, data_seed, message):
    from radarface.dataset import combine

    first, second = _shard(tmp_path / "a.h5", 0, 5), _shard(tmp_path / "b.h5", 5, 10)
    out = combine([first, second], tmp_path / "all.h5")
    with schema.open_dataset_file(out) as h5:
        assert [s["seed"] for s in json.loads(h5.attrs["shard_identity"])] == [0, 0]
        assert "content_sha256" not in h5.attrs  # a shard's own digest does not describe the whole
    assert_same(arrays(out), reference)
    second.unlink()
    _shard(second, 5, 10, seed=seed, data_seed=data_seed)
    with pytest.raises(ValueError, match=r"all\.h5 combines shard b\.h5, which changed after combine: " + message):
        schema.open_dataset_file(out)
    if seed != 0:  # recombining is refused too, until the shard is regenerated with seed 0
        with pytest.raises(ValueError, match="differ: seed=0, now 1"):
            combine([first, second], out)
    else:
        combine([first, second], out)  # what the message says to do
        schema.open_dataset_file(out).close()


def test_a_full_disk_while_combining_leaves_nothing_behind(tmp_path, monkeypatch):
    import errno

    from radarface.dataset import combine

    shards = [_shard(tmp_path / "a.h5", 0, 5), _shard(tmp_path / "b.h5", 5, 10)]

    def no_space(fd, offset, length):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store.os, "posix_fallocate", no_space)
    with pytest.raises(store.DiskFull, match=r"the disk is full while writing .*all\.h5 \(needs up to 1\.\d MB, .* MB "
                                             r"free\); nothing was written: free some space and rerun combine"):
        combine(shards, tmp_path / "all.h5")
    assert not (tmp_path / "all.h5").exists() and not _leftovers(tmp_path)


def test_a_dataset_is_recorded_as_a_stage_made_then_reused_with_its_generation_seconds(tmp_path, monkeypatch):
    from radarface import progress

    monkeypatch.setenv("RADARFACE_DATA", str(tmp_path))
    monkeypatch.setenv(progress.STAGES_ENV, str(tmp_path / "stages.jsonl"))
    path = write(tmp_path / "toy.h5")
    made = progress.read_stages(tmp_path / "stages.jsonl")
    assert list(made) == ["toy.h5"] and made["toy.h5"]["made"]
    assert made["toy.h5"]["seconds"] == pytest.approx(schema.generation_stats(path)["seconds"], abs=0.06)
    (tmp_path / "stages.jsonl").unlink()
    write(tmp_path / "toy.h5", source=ToySource(forbid=True))
    assert progress.read_stages(tmp_path / "stages.jsonl") == {"toy.h5": made["toy.h5"] | {"made": False}}


def test_a_resumed_dataset_is_recorded_with_the_seconds_the_whole_file_takes(tmp_path, monkeypatch):
    from radarface import progress

    monkeypatch.setenv("RADARFACE_DATA", str(tmp_path))
    monkeypatch.setenv(progress.STAGES_ENV, str(tmp_path / "stages.jsonl"))
    path = tmp_path / "r.h5"
    with pytest.raises(KeyboardInterrupt):
        write(path, n=12, source=ToySource(interrupt_at=6, delay=0.02), block_size=2)
    (tmp_path / "stages.jsonl").unlink(missing_ok=True)
    write(path, n=12, source=ToySource(delay=0.02), block_size=2)
    stats = schema.generation_stats(path)
    assert 0 < stats["rendered"] < 12  # the rerun rendered only the rest
    recorded = progress.read_stages(tmp_path / "stages.jsonl")["r.h5"]["seconds"]
    assert recorded == pytest.approx(stats["seconds"] * 12 / stats["rendered"], abs=0.06)
    (tmp_path / "stages.jsonl").unlink()
    write(path, n=12, source=ToySource(forbid=True))
    assert progress.read_stages(tmp_path / "stages.jsonl")["r.h5"] == {"made": False, "seconds": recorded}
