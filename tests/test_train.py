"""The training loop: schedules, determinism, checkpoints, resume after interruption."""

import os
import subprocess
import sys
import textwrap

import matplotlib.pyplot as plt
import pytest
import torch
from torch import nn
from torch.utils.data import Dataset

from radarface import train
from radarface.plots.training import plot_history, plot_learning_rate


def _data(n=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    y = torch.stack([x[:, 0] - 2 * x[:, 1], x[:, 2] * x[:, 3]], 1)
    return x, y


def _model(seed=0):
    # batch norm (buffers) and dropout (global RNG draws) are what resuming can get wrong
    with train.seeded(seed):
        return nn.Sequential(nn.Linear(4, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 2))


def _loss(model, batch):
    x, y = batch
    err = (model(x) - y) ** 2
    return err.mean(), {"first": float(err[:, 0].detach().mean())}


def _fit(model, **kw):
    options = dict(epochs=3, batch_size=8, lr=(0.01, 0.001), seed=1, threads=1, progress=False)
    options.update(kw)
    return train.fit(model, _loss, _data(), _data(10, seed=5), **options)


def _equal(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


# ---------------------------------------------------------------- schedules
def test_linear_decay_follows_the_papers_encoder_schedule():
    s = train.linear_decay(0.01, 0.001, 0.75)
    assert s(0, 200) == pytest.approx(0.01)
    assert s(75, 200) == pytest.approx(0.0055)
    assert s(150, 200) == pytest.approx(0.001)
    assert s(199, 200) == pytest.approx(0.001)
    assert train.linear_decay(0.01, 0.001, 0.0)(0, 10) == pytest.approx(0.001)


def test_schedule_from_profile_values():
    assert train.schedule_from(0.001)(5, 10) == pytest.approx(0.001)
    assert train.schedule_from((0.01, 0.001))(10, 10) == pytest.approx(0.001)
    with pytest.raises(ValueError, match="learning rate must be"):
        train.schedule_from("fast")
    with pytest.raises(ValueError, match="must be positive"):
        train.linear_decay(0.0, 0.001)
    with pytest.raises(ValueError, match="fraction"):
        train.linear_decay(0.01, 0.001, 1.5)


# ------------------------------------------------------------------ the loop
def test_fit_learns_and_records_history():
    model = _model()
    result = _fit(model, epochs=4)
    h = result.history
    assert h["epoch"] == [1, 2, 3, 4]
    assert h["lr"][0] == pytest.approx(0.01) and h["lr"][-1] == pytest.approx(0.001)
    assert {"train_loss", "val_loss", "train_first", "val_first", "seconds"} <= set(h)
    assert h["train_loss"][-1] < h["train_loss"][0]
    assert result.trained == 4 and result.checkpoint is None and result.threads == 1


def test_fit_is_deterministic_and_leaves_global_state_alone():
    state, threads = torch.get_rng_state(), torch.get_num_threads()
    a, b = _model(), _model()
    _fit(a)
    _fit(b)
    assert _equal(a, b)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.get_num_threads() == threads
    c = _model()
    _fit(c, seed=2)
    assert not _equal(a, c)


def test_fit_accepts_a_dataset_without_tensors():
    class Items(Dataset):
        def __init__(self):
            self.x, self.y = _data()

        def __len__(self):
            return len(self.x)

        def __getitem__(self, i):
            return self.x[i], self.y[i]

    a, b = _model(), _model()
    train.fit(a, _loss, Items(), epochs=2, batch_size=8, seed=1, threads=1, progress=False)
    train.fit(b, _loss, _data(), epochs=2, batch_size=8, seed=1, threads=1, progress=False)
    assert _equal(a, b)


def test_fit_refuses_bad_arguments():
    with pytest.raises(ValueError, match="epochs must be a positive integer"):
        _fit(_model(), epochs=0)
    with pytest.raises(ValueError, match="batch_size"):
        _fit(_model(), batch_size=0)
    with pytest.raises(ValueError, match="differ in length"):
        train.fit(_model(), _loss, (torch.zeros(4, 4), torch.zeros(3, 2)), epochs=1, batch_size=2)
    with pytest.raises(ValueError, match="tuple of tensors or a torch Dataset"):
        train.fit(_model(), _loss, [[1, 2]], epochs=1, batch_size=2)


def test_a_last_batch_of_one_joins_the_previous_batch():
    sizes = [len(b) for b in train._chunks(torch.arange(17), 8)]
    assert sizes == [8, 9]


# --------------------------------------------------------------- checkpoints
def test_resume_after_an_interruption_mid_epoch_gives_the_same_weights(tmp_path):
    reference = _model()
    _fit(reference, checkpoint=tmp_path / "ref.pt")

    def crash(epoch, batch, loss):
        if epoch == 1 and batch == 2:
            raise RuntimeError("killed")

    path = tmp_path / "run.pt"
    with pytest.raises(RuntimeError, match="killed"):
        _fit(_model(), checkpoint=path, on_batch_end=crash)
    assert train.load_checkpoint(path)["epoch"] == 1
    resumed = _model(seed=99)  # different start: the checkpoint must override it
    result = _fit(resumed, checkpoint=path)
    assert result.resumed_from == 1 and result.trained == 2
    assert _equal(resumed, reference)
    assert result.history["epoch"] == [1, 2, 3]
    assert result.history["train_loss"] == train.load_checkpoint(tmp_path / "ref.pt")["history"]["train_loss"]


def test_a_finished_checkpoint_is_reused_without_training(tmp_path):
    path = tmp_path / "run.pt"
    first = _model()
    _fit(first, checkpoint=path)
    again = _model(seed=7)
    result = _fit(again, checkpoint=path)
    assert result.trained == 0 and result.resumed_from == 3
    assert _equal(first, again)
    assert train.load_weights(_model(seed=8), path)["epoch"] == [1, 2, 3]


def test_finished_tells_a_complete_run_from_a_partial_or_missing_one(tmp_path):
    path = tmp_path / "run.pt"
    assert not train.finished(path, 3)
    _fit(_model(), checkpoint=path, epochs=2)
    assert train.finished(path, 2) and not train.finished(path, 3)


def test_select_keeps_the_best_epochs_weights_also_when_resumed_or_reused(tmp_path):
    # a learning rate high enough that the validation loss does not fall every epoch
    options = dict(epochs=6, lr=0.3, select="val_loss")
    plain = _model()
    last = _fit(plain, epochs=6, lr=0.3).history["val_loss"]
    best_epoch = int(torch.tensor(last).argmin()) + 1
    assert best_epoch < 6, "the test needs a run whose last epoch is not its best"
    picked = _model()
    result = _fit(picked, **options)
    assert result.best_epoch == best_epoch and result.history["val_loss"] == last
    assert not _equal(picked, plain)
    val = _data(10, seed=5)
    assert train.evaluate_loss(picked, _loss, val)["loss"] == pytest.approx(min(last), rel=1e-5)
    assert result.held_epoch == best_epoch and result.held_value("val_loss") == min(last)
    unselected = _fit(_model(), epochs=6, lr=0.3)
    assert unselected.held_epoch == 6 and unselected.held_value("val_loss") == last[-1]
    with pytest.raises(ValueError, match="history has no 'val_nothing'"):
        result.held_value("val_nothing")

    path = tmp_path / "run.pt"

    def interrupt(epoch, batch, loss):
        if epoch == best_epoch:  # after the best epoch's checkpoint, before the run ends
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _fit(_model(), checkpoint=path, on_batch_end=interrupt, **options)
    resumed = _model(seed=2)
    assert _fit(resumed, checkpoint=path, **options).best_epoch == best_epoch and _equal(resumed, picked)
    reused = _model(seed=3)
    again = _fit(reused, checkpoint=path, **options)
    assert again.trained == 0 and again.best_epoch == best_epoch and _equal(reused, picked)
    assert again.describe().startswith("loaded 6 epochs trained earlier (") and "nan" not in again.describe()
    assert again.describe().endswith(f"run.pt; weights of epoch {best_epoch}")
    assert result.describe().startswith("trained 6 epochs now (") and "resumed after 0" in result.describe()
    with pytest.raises(ValueError, match="select='val_nothing' is not a history key"):
        _fit(_model(), epochs=1, select="val_nothing")


def test_a_checkpoint_of_another_run_is_refused(tmp_path):
    path = tmp_path / "run.pt"
    _fit(_model(), checkpoint=path, epochs=1)
    with pytest.raises(ValueError, match="belongs to another run.*batch_size: checkpoint 8, now 4"):
        _fit(_model(), checkpoint=path, epochs=1, batch_size=4)


def test_unreadable_or_missing_checkpoints_are_explained(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        train.load_checkpoint(tmp_path / "none.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="delete it to retrain"):
        train.load_checkpoint(bad)


def test_ctrl_c_keeps_the_checkpoint_and_says_how_to_resume(tmp_path, capsys):
    path = tmp_path / "run.pt"

    def interrupt(epoch, batch, loss):
        if epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _fit(_model(), checkpoint=path, on_batch_end=interrupt, progress=True)
    assert "Run the same call again to resume" in capsys.readouterr().err
    assert train.load_checkpoint(path)["epoch"] == 2
    assert not path.with_name(path.name + ".tmp").exists()


_KILLED_RUN = """
import os, signal, sys, torch
sys.path.insert(0, {tests!r})
from test_train import _fit, _model

def die(epoch, batch, loss):
    if epoch == 1 and batch == 1:
        os.kill(os.getpid(), signal.SIGKILL)

_fit(_model(), checkpoint={path!r}, on_batch_end=die)
"""


def test_resume_after_sigkill_of_the_training_process(tmp_path):
    path = tmp_path / "run.pt"
    script = _KILLED_RUN.format(tests=os.path.dirname(__file__), path=str(path))
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True)
    assert proc.returncode == -9, proc.stderr
    assert train.load_checkpoint(path)["epoch"] == 1
    resumed, reference = _model(), _model()
    assert _fit(resumed, checkpoint=path).resumed_from == 1
    _fit(reference)
    assert _equal(resumed, reference)


# --------------------------------------------------------------------- names
def test_run_name_and_checkpoint_path(tmp_path, monkeypatch):
    monkeypatch.setenv("RADARFACE_DATA", str(tmp_path))
    assert train.run_name("enc", a=1, b=2) == train.run_name("enc", b=2, a=1)
    assert train.run_name("enc", a=1) != train.run_name("enc", a=2)
    assert train.checkpoint_path("x") == tmp_path / "checkpoints" / "x.pt"


def test_predict_and_evaluate_loss_run_in_eval_mode():
    model = _model()
    model.train()
    x, y = _data()
    out = train.predict(model, x, batch_size=7)
    assert out.shape == (40, 2) and model.training
    assert torch.allclose(out, train.predict(model, x), atol=1e-6)  # eval mode: no dropout
    logs = train.evaluate_loss(model, _loss, (x, y), batch_size=9)
    assert logs["loss"] == pytest.approx(float(((out - y) ** 2).mean()), rel=1e-5)


def test_history_plots():
    model = _model()
    history = _fit(model).history
    ax = plot_history(history)
    assert len(ax.lines) == 2
    plot_learning_rate(history, ax=plt.figure().gca())
    with pytest.raises(ValueError, match="history lacks"):
        plot_history(history, ["nope"])
    plt.close("all")


def test_one_cycle_rises_then_falls_and_is_set_every_batch():
    s = train.schedule_from(("one-cycle", 0.01))
    lrs = [s(e / 4, 5) for e in range(21)]
    peak = lrs.index(max(lrs))
    assert max(lrs) == pytest.approx(0.01) and 0 < peak < 20
    assert all(a <= b for a, b in zip(lrs[:peak], lrs[1:peak + 1]))
    assert all(a >= b for a, b in zip(lrs[peak:], lrs[peak + 1:]))
    seen = []

    class Recording:
        per_batch = True

        def __call__(self, epoch, epochs):
            seen.append(epoch)
            return 1e-3

    _fit(_model(), lr=Recording(), epochs=2)
    assert any(e != int(e) for e in seen), "a per-batch schedule must be asked at fractional epochs"
    with pytest.raises(ValueError, match="peak learning rate must be positive"):
        train.schedule_from(("one-cycle", 0))


def test_adamw_is_chosen_by_name_and_part_of_the_fingerprint(tmp_path):
    result = _fit(_model(), optimizer="adamw", weight_decay=0.01, checkpoint=tmp_path / "w.pt")
    assert result.fingerprint["optimizer"] == "adamw"
    assert "optimizer" not in _fit(_model()).fingerprint  # Adam runs keep their earlier fingerprint
    with pytest.raises(ValueError, match="belongs to another run"):
        _fit(_model(), optimizer="adam", weight_decay=0.01, checkpoint=tmp_path / "w.pt")
    with pytest.raises(ValueError, match="optimizer must be one of"):
        _fit(_model(), optimizer="sgd")


def test_a_damaged_checkpoint_is_refused_naming_the_file(tmp_path):
    path = tmp_path / "run.pt"
    _fit(_model(), checkpoint=path)
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 100] = bytes(100)  # overwritten inside, not truncated
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"(?=.*run\.pt)(?=.*(damaged|cannot read))"):
        _fit(_model(), checkpoint=path)


def test_a_second_training_of_the_same_run_is_refused(tmp_path):
    path = tmp_path / "run.pt"
    with train.training_lock(path):
        with pytest.raises(ValueError, match="another process is training"):
            _fit(_model(), checkpoint=path)
    _fit(_model(), checkpoint=path)  # free again once the first one is done


def test_a_finished_run_is_reused_while_another_process_holds_its_lock(tmp_path):
    path = tmp_path / "run.pt"
    trained = _model()
    _fit(trained, checkpoint=path)
    with train.training_lock(path):  # e.g. another notebook loading the same checkpoint
        reused = _model()
        result = _fit(reused, checkpoint=path)
    assert result.trained == 0 and result.resumed_from == result.history["epoch"][-1]
    for a, b in zip(trained.state_dict().values(), reused.state_dict().values()):
        assert torch.equal(a, b)


def test_a_full_disk_while_saving_leaves_the_old_checkpoint_and_no_temporary_file(tmp_path, monkeypatch):
    import builtins
    import errno

    path = tmp_path / "run.pt"
    real_open, saves, kept = builtins.open, [], {}

    def full_after_one_save(file, mode="r", *a, **kw):
        if str(file).endswith(".pt.tmp"):
            saves.append(file)
            if len(saves) > 1:
                kept["bytes"] = path.read_bytes()
                raise OSError(errno.ENOSPC, "No space left on device")
        return real_open(file, mode, *a, **kw)

    monkeypatch.setattr(builtins, "open", full_after_one_save)
    with pytest.raises(OSError, match="the disk is full.*previous checkpoint is intact"):
        _fit(_model(), checkpoint=path)
    monkeypatch.undo()
    assert path.read_bytes() == kept["bytes"] and not list(tmp_path.glob("*.tmp"))
    assert train.load_checkpoint(path)["epoch"] == 1


def test_nan_in_the_data_is_named_as_such_not_as_a_learning_rate_problem():
    x, y = _data()
    x[7, 2] = float("nan")
    with pytest.raises(ValueError, match=r"training samples \[7\].*NaN"):
        train.fit(_model(), _loss, (x, y), epochs=1, batch_size=40, progress=False, threads=1)


def test_a_checkpoint_is_recorded_as_a_stage_made_or_reused_with_its_training_seconds(tmp_path, monkeypatch):
    from radarface import progress

    monkeypatch.setenv("RADARFACE_DATA", str(tmp_path / "data"))
    monkeypatch.setenv(progress.STAGES_ENV, str(tmp_path / "stages.jsonl"))
    path = tmp_path / "data" / "checkpoints" / "run.pt"
    trained = _fit(_model(), checkpoint=path)
    made = progress.read_stages(tmp_path / "stages.jsonl")
    assert list(made) == ["checkpoints/run.pt"] and made["checkpoints/run.pt"]["made"]
    assert made["checkpoints/run.pt"]["seconds"] == pytest.approx(sum(trained.history["seconds"]), abs=0.06)
    (tmp_path / "stages.jsonl").unlink()
    _fit(_model(), checkpoint=path)  # reused
    assert progress.read_stages(tmp_path / "stages.jsonl") == {"checkpoints/run.pt": made["checkpoints/run.pt"]
                                                               | {"made": False}}
    _fit(_model(), checkpoint=tmp_path / "elsewhere.pt")  # outside data/: no stage another machine could share
    assert list(progress.read_stages(tmp_path / "stages.jsonl")) == ["checkpoints/run.pt"]
