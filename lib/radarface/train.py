"""The one training loop: encoder, learned renderer and autoencoder differ in model, loss and data.

:func:`fit` trains a model with Adam on ``loss_fn(model, batch) -> (loss, logs)``, one
learning rate per epoch from a schedule (:func:`linear_decay`, :func:`constant`), a
validation pass after every epoch, and a checkpoint written atomically after every epoch.

Reproducibility. Everything random in an epoch is derived from ``(seed, epoch)``: the
batch order (a ``torch.Generator``) and the global torch generator that dropout draws
from (reseeded at the start of each epoch, inside ``torch.random.fork_rng`` so the
caller's state is untouched). Deterministic algorithms are switched on and the thread
count is fixed for the duration of the call. So a run stopped at any point and rerun
resumes from the last completed epoch and ends with the same weights, bit for bit, as an
uninterrupted run (on the same machine and thread count). Build the model inside
:func:`seeded` so its initial weights are fixed too.

Checkpoints (``data/checkpoints/<name>.pt`` by convention, see :func:`checkpoint_path`)
hold the model, the optimiser, the completed epoch count, the history, the RNG state and
a fingerprint of the run (epochs, batch size, seed, schedule, data sizes, parameter
count). A checkpoint of a finished run is reused without training; one whose fingerprint
differs is refused (use another name, e.g. one keyed by :func:`run_name`).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import math
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset, default_collate

from radarface import progress as progress_bars
from radarface.paths import data_dir
from radarface.runtime import deterministic, exclusive_lock

Batch = tuple[torch.Tensor, ...]
#: ``loss_fn(model, batch) -> (scalar loss tensor, {name: float})``
LossFn = Callable[[nn.Module, Batch], tuple[torch.Tensor, dict[str, float]]]
Data = Sequence[torch.Tensor] | Dataset
CHECKPOINT_FORMAT: int = 1


# --------------------------------------------------------------------- schedules
class Schedule(Protocol):
    def __call__(self, epoch: int, epochs: int) -> float: ...


@dataclass(frozen=True)
class LinearDecay:
    """Learning rate falling linearly from ``start`` (epoch 0) to ``end`` over the first ``fraction`` of the epochs."""

    start: float
    end: float
    fraction: float = 0.75

    def __call__(self, epoch: int, epochs: int) -> float:
        ramp = self.fraction * epochs
        t = 1.0 if ramp <= 0 else min(1.0, epoch / ramp)
        return self.start + (self.end - self.start) * t


@dataclass(frozen=True)
class Constant:
    """The same learning rate every epoch."""

    lr: float

    def __call__(self, epoch: int, epochs: int) -> float:
        return self.lr


@dataclass(frozen=True)
class OneCycle:
    """One cycle (Smith & Topin): warm up from ``peak / start_div`` to ``peak`` over the first ``warmup`` of
    the run, then anneal to ``peak / end_div``, both halves cosine; set every batch (``per_batch``).

    >>> s = OneCycle(1e-2)
    >>> round(s(0, 10), 6), round(s(3, 10), 6), round(s(10, 10), 8)
    (0.0004, 0.01, 1e-06)
    """

    peak: float
    warmup: float = 0.3
    start_div: float = 25.0
    end_div: float = 1e4
    per_batch: ClassVar[bool] = True  # called with fractional epochs, once per batch

    def __call__(self, epoch: float, epochs: int) -> float:
        t = min(1.0, max(0.0, epoch / epochs))
        if t < self.warmup:
            low, high, u = self.peak / self.start_div, self.peak, t / self.warmup
        else:
            low, high, u = self.peak / self.end_div, self.peak, 1.0 - (t - self.warmup) / (1.0 - self.warmup)
        return low + (high - low) * (1.0 - math.cos(math.pi * u)) / 2.0


def one_cycle(peak: float, warmup: float = 0.3) -> OneCycle:
    """Schedule rising to ``peak`` over the first ``warmup`` of the run and falling to ``peak / 1e4``, per batch."""
    if not peak > 0:
        raise ValueError(f"peak learning rate must be positive, got {peak}")
    if not 0 < warmup < 1:
        raise ValueError(f"warmup must be in (0, 1), got {warmup}")
    return OneCycle(float(peak), float(warmup))


def linear_decay(start: float, end: float, fraction: float = 0.75) -> LinearDecay:
    """Schedule ``start -> end`` linearly over the first ``fraction`` of the epochs, then constant at ``end``.

    The paper's encoder: ``linear_decay(0.01, 0.001, 0.75)`` over 200 epochs.

    >>> s = linear_decay(0.01, 0.001)
    >>> [round(s(e, 4), 4) for e in range(4)]
    [0.01, 0.007, 0.004, 0.001]
    """
    if not (start > 0 and end > 0):
        raise ValueError(f"learning rates must be positive, got start={start}, end={end}")
    if not 0 <= fraction <= 1:
        raise ValueError(f"fraction must be in [0, 1], got {fraction}")
    return LinearDecay(float(start), float(end), float(fraction))


def constant(lr: float) -> Constant:
    """Schedule with the same learning rate ``lr`` every epoch."""
    if not lr > 0:
        raise ValueError(f"learning rate must be positive, got {lr}")
    return Constant(float(lr))


def schedule_from(value: float | Sequence[Any] | Schedule) -> Schedule:
    """A schedule from a profile value: a number (constant), ``(start, end)`` (linear decay over 75 %)
    or ``("one-cycle", peak)`` (:func:`one_cycle`)."""
    if callable(value):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return constant(value)
    if isinstance(value, (tuple, list)) and len(value) == 2 and value[0] == "one-cycle":
        return one_cycle(value[1])
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return linear_decay(*value)
    raise ValueError(f"learning rate must be a number, (start, end), ('one-cycle', peak) or a schedule, got {value!r}")


# ------------------------------------------------------------------------ data
def _batcher(data: Data, what: str) -> tuple[int, Callable[[torch.Tensor], Batch]]:
    """Size of ``data`` and a function from indices to a batch (tuple of tensors)."""
    if isinstance(data, Dataset) and hasattr(data, "tensors"):
        data = data.tensors()  # whole split in memory: slicing beats a DataLoader on CPU
    if isinstance(data, (tuple, list)):
        if not data or not all(isinstance(t, torch.Tensor) for t in data):
            raise ValueError(f"{what} must be a tuple of tensors or a torch Dataset, got {type(data).__name__}")
        sizes = {len(t) for t in data}
        if len(sizes) != 1:
            raise ValueError(f"{what} tensors differ in length: {[len(t) for t in data]}")
        return sizes.pop(), lambda idx: tuple(t[idx] for t in data)
    if isinstance(data, Dataset):
        return len(data), lambda idx: tuple(default_collate([data[int(i)] for i in idx]))
    raise ValueError(f"{what} must be a tuple of tensors or a torch Dataset, got {type(data).__name__}")


def _chunks(order: torch.Tensor, batch_size: int) -> list[torch.Tensor]:
    """Batches of ``order``; a final batch of one joins the previous one (batch norm needs two)."""
    batches = list(torch.split(order, batch_size))
    if len(batches) > 1 and len(batches[-1]) == 1:
        batches[-2:] = [torch.cat(batches[-2:])]
    return batches


def _epoch_seed(seed: int, epoch: int) -> int:
    return int(np.random.SeedSequence([int(seed), int(epoch)]).generate_state(1, dtype=np.uint64)[0] >> 1)


# ------------------------------------------------------------------ run set-up
@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Context in which the global torch generator starts from ``seed`` (restored on exit): build models in it."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        yield


def run_name(prefix: str, **parts: Any) -> str:
    """``<prefix>_<hash8>``, the hash over ``parts`` (JSON, sorted): a checkpoint name keyed by its settings.

    >>> run_name("encoder", inputs="both", epochs=2)
    'encoder_54f24000'
    """
    text = json.dumps(parts, sort_keys=True, default=str)
    return f"{prefix}_{hashlib.sha256(text.encode()).hexdigest()[:8]}"


def checkpoint_path(name: str) -> Path:
    """``data_dir()/checkpoints/<name>.pt`` (``$RADARFACE_DATA`` moves it)."""
    folder = data_dir() / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{name}.pt"


# ------------------------------------------------------------------ checkpoints
def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` to ``path`` atomically, with a SHA-256 of its payload that :func:`load_checkpoint` verifies.

    A crash or a full disk mid-write leaves the previous checkpoint whole and no temporary
    file behind; a full disk is reported as such.
    """
    buffer = io.BytesIO()
    torch.save(state, buffer)
    payload = buffer.getvalue()
    envelope = io.BytesIO()
    torch.save({"format": CHECKPOINT_FORMAT, "sha256": hashlib.sha256(payload).hexdigest(), "payload": payload},
               envelope)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(envelope.getvalue())
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        full = " (the disk is full)" if err.errno == errno.ENOSPC else ""
        raise OSError(err.errno, f"could not save the checkpoint {path}{full}: {err.strerror}. The previous "
                                 f"checkpoint is intact; free some space and run the same call again to resume "
                                 f"from it") from None


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """The checkpoint dict at ``path`` (model, optimizer, epoch, history, fingerprint, rng), its checksum verified."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}; train first (radarface.train.fit)")
    state = _unpickle(path, path)
    if isinstance(state, dict) and "payload" in state:
        if hashlib.sha256(state["payload"]).hexdigest() != state.get("sha256"):
            raise ValueError(f"checkpoint {path} is damaged: its content does not match the checksum stored with "
                             f"it; delete it to retrain")
        state = _unpickle(io.BytesIO(state["payload"]), path)
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a radarface checkpoint of format {CHECKPOINT_FORMAT}; delete it to retrain")
    bad = [k for k, v in state.get("model", {}).items() if torch.is_tensor(v) and v.is_floating_point()
           and not torch.isfinite(v).all()]
    if bad:
        raise ValueError(f"checkpoint {path} holds non-finite weights in {bad[:3]}; delete it to retrain")
    return state


def _unpickle(source: Path | io.BytesIO, path: Path) -> Any:
    """``torch.load`` of a checkpoint (or its payload); any failure is reported as an unreadable ``path``."""
    try:
        return torch.load(source, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unpickling failure means the same thing here
        raise ValueError(f"cannot read checkpoint {path} ({type(err).__name__}: {err}); delete it to retrain") from None


def _restore(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer, fingerprint: dict[str, Any], epochs: int,
             progress: bool) -> tuple[dict[str, list[float]], int, dict[str, Any] | None]:
    """Load ``path`` into ``model`` and ``optimizer`` (its fingerprint checked); (history, epochs done, best)."""
    state = load_checkpoint(path)
    _check_fingerprint(path, json.loads(state["fingerprint"]), fingerprint)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    done = int(state["epoch"])
    if progress:
        verb = "reusing finished run" if done >= epochs else f"resuming after epoch {done}/{epochs}"
        print(f"{verb}: {path}", file=sys.stderr)
    return state["history"], done, state.get("best")


@contextlib.contextmanager
def training_lock(path: Path | None) -> Iterator[None]:
    """Hold ``<checkpoint>.lock`` while training, so a second training of the same run is refused clearly."""
    if path is None:
        yield
        return
    lock = path.with_name(path.name + ".lock")
    with exclusive_lock(lock, f"another process is training the run of {path} (lock held on {lock}); wait for "
                              f"it to finish, then this call reuses its checkpoint"):
        yield


def finished(path: str | Path, epochs: int) -> bool:
    """Whether the checkpoint at ``path`` exists and holds at least ``epochs`` epochs (a run :func:`fit` would reuse)."""
    return Path(path).is_file() and int(load_checkpoint(path)["epoch"]) >= epochs


def load_weights(model: nn.Module, path: str | Path) -> dict[str, list]:
    """Load a checkpoint's weights into ``model``; return its history."""
    state = load_checkpoint(path)
    model.load_state_dict(state["model"])
    return state["history"]


# ------------------------------------------------------------------- the loop
@dataclass
class FitResult:
    """What :func:`fit` did: the history (one entry per epoch and key) and where the checkpoint is."""

    history: dict[str, list[float]]
    checkpoint: Path | None
    resumed_from: int = 0  # epochs already done when this call started
    trained: int = 0  # epochs trained in this call
    threads: int = 1
    seconds: float = 0.0
    fingerprint: dict[str, Any] = field(default_factory=dict)
    best_epoch: int | None = None  # with ``select``: the epoch (1-based) whose weights the model holds
    members: list[FitResult] = field(default_factory=list)  # an ensemble's runs, one per member (this is the first)

    @property
    def held_epoch(self) -> int:
        """The epoch (1-based) whose weights the model holds: the best one with ``select``, else the last."""
        return self.best_epoch or len(self.history.get("epoch", []))

    def held_value(self, key: str) -> float:
        """The history value of ``key`` at :attr:`held_epoch`."""
        if key not in self.history or not self.history[key]:
            raise ValueError(f"history has no {key!r} (has {sorted(self.history)})")
        return float(self.history[key][self.held_epoch - 1])

    @property
    def seconds_per_epoch(self) -> float:
        """Mean wall time per epoch trained in this call (nan if none)."""
        return self.seconds / self.trained if self.trained else math.nan

    def describe(self) -> str:
        """One line: epochs trained now or loaded (with seconds per epoch), the checkpoint, the epoch whose weights are held."""
        where = self.checkpoint.name if self.checkpoint else "no checkpoint"
        if self.trained:
            done = f"trained {self.trained} epochs now ({self.seconds_per_epoch:.1f} s each), resumed after {self.resumed_from}"
        else:
            earlier = self.history.get("seconds") or [math.nan]
            done = f"loaded {self.resumed_from} epochs trained earlier ({sum(earlier) / len(earlier):.1f} s each)"
        return f"{done}; {where}; weights of epoch {self.held_epoch}"


def _mean_logs(total: dict[str, float], count: int) -> dict[str, float]:
    return {k: v / max(count, 1) for k, v in total.items()}


def evaluate_loss(model: nn.Module, loss_fn: LossFn, data: Data, *, batch_size: int = 256) -> dict[str, float]:
    """Mean loss and logs of ``loss_fn`` over ``data`` in eval mode, without gradients (sample-weighted)."""
    n, get = _batcher(data, "data")
    totals: dict[str, float] = {}
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for idx in torch.split(torch.arange(n), batch_size):
            loss, logs = loss_fn(model, get(idx))
            for k, v in {"loss": float(loss.detach()), **logs}.items():
                totals[k] = totals.get(k, 0.0) + float(v) * len(idx)
    model.train(was_training)
    return _mean_logs(totals, n)


def predict(model: nn.Module, inputs: torch.Tensor, *, batch_size: int = 256) -> torch.Tensor:
    """``model(inputs)`` in eval mode without gradients, in batches; (N, ...) -> (N, ...)."""
    was_training = model.training
    model.eval()
    with torch.no_grad():
        out = torch.cat([model(chunk) for chunk in torch.split(inputs, batch_size)])
    model.train(was_training)
    return out


def fit(model: nn.Module, loss_fn: LossFn, train_data: Data, val_data: Data | None = None, *, epochs: int,
        batch_size: int, lr: float | Sequence[float] | Schedule = 1e-3, checkpoint: str | Path | None = None,
        seed: int = 0, threads: int | None = None, weight_decay: float = 0.0, select: str | None = None,
        progress: bool = True, on_batch_end: Callable[[int, int, float], None] | None = None,
        on_epoch_end: Callable[[int, dict[str, float]], None] | None = None, optimizer: str = "adam") -> FitResult:
    """Train ``model`` in place with Adam (or AdamW); resume from / reuse ``checkpoint``; return the history.

    Args:
        model: any ``nn.Module``; its current weights are the start of a fresh run.
        loss_fn: ``(model, batch) -> (loss, logs)``; ``batch`` is a tuple of tensors
            (a slice of ``train_data``'s tensors, or collated items of a Dataset).
        train_data, val_data: a tuple of equally long tensors (N, ...), or a torch Dataset
            (one with ``.tensors()`` is read whole into memory).
        epochs, batch_size: schedule length and batch size (a last batch of one sample joins
            the previous batch).
        lr: a number, ``(start, end)`` (:func:`linear_decay` over 75 %) or a schedule
            ``(epoch, epochs) -> lr``.
        checkpoint: file written after every epoch (atomically); if it exists the run
            resumes from it, or, when it is complete, its weights are loaded and nothing is
            trained. None: no checkpoint.
        seed: derives each epoch's batch order and dropout draws.
        threads: torch CPU threads during the call (default: all cores).
        weight_decay: Adam's L2 penalty on the weights (AdamW's decoupled decay with ``optimizer="adamw"``).
        optimizer: ``"adam"`` (the paper's) or ``"adamw"``.
        select: a history key to minimise, e.g. ``"val_loss"`` (early stopping without
            stopping): the weights of the best epoch are kept in the checkpoint beside the
            last ones and are what ``model`` holds when the call returns.
        on_batch_end: ``(epoch, batch, loss)`` after each optimiser step.
        on_epoch_end: ``(epoch, history row)`` after each checkpoint.

    History keys: ``epoch`` (1-based), ``lr``, ``train_loss``, ``val_loss`` (if
    ``val_data``), ``train_<log>``, ``val_<log>``, ``seconds``.
    Ctrl-C stops the run, keeps the last checkpoint and says how to resume.
    """
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    schedule = schedule_from(lr)
    n_train, get_train = _batcher(train_data, "train_data")
    n_val = _batcher(val_data, "val_data")[0] if val_data is not None else 0
    if n_train < 2:
        raise ValueError(f"train_data needs at least 2 samples, got {n_train}")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)}, got {optimizer!r}")
    fingerprint = {"epochs": epochs, "batch_size": batch_size, "seed": int(seed), "schedule": repr(schedule),
                   "weight_decay": weight_decay, "n_train": n_train, "n_val": n_val, "model": type(model).__name__,
                   "n_parameters": sum(p.numel() for p in model.parameters())}
    if optimizer != "adam":  # Adam runs keep the fingerprint they had before AdamW existed
        fingerprint["optimizer"] = optimizer
    optimizer = OPTIMIZERS[optimizer](model.parameters(), lr=schedule(0, epochs), weight_decay=weight_decay)
    if select is not None:
        fingerprint["select"] = select
    path = Path(checkpoint) if checkpoint is not None else None
    # A finished run is only read (checkpoints are replaced atomically), so processes that reuse it at
    # the same time do not collide on the training lock.
    if path is not None and path.exists():
        history, start_epoch, best = _restore(path, model, optimizer, fingerprint, epochs, False)
        if start_epoch >= epochs:
            if progress:
                print(f"reusing finished run: {path}", file=sys.stderr)
            _record(path, history, made=False)
            return _keep_best(model, best, FitResult(history, path, resumed_from=start_epoch, fingerprint=fingerprint))
    with training_lock(path):  # a second training of the same run is refused, not interleaved
        history, start_epoch, best = {}, 0, None
        if path is not None and path.exists():
            history, start_epoch, best = _restore(path, model, optimizer, fingerprint, epochs, progress)
        result = FitResult(history, path, resumed_from=start_epoch, fingerprint=fingerprint)
        if start_epoch >= epochs:
            return _keep_best(model, best, result)
        steps = sum(len(_chunks(torch.arange(n_train), batch_size)) for _ in range(start_epoch, epochs))
        bar = _progress_bar(steps, progress)
        epoch = start_epoch
        with deterministic(threads) as result.threads:
            start_time = time.perf_counter()
            try:
                for epoch in range(start_epoch, epochs):
                    row = _train_epoch(model, loss_fn, optimizer, get_train, n_train, batch_size, schedule, seed, epoch,
                                       epochs, bar, on_batch_end)
                    if val_data is not None:
                        row.update({f"val_{k}": v for k, v in evaluate_loss(model, loss_fn, val_data,
                                                                            batch_size=max(batch_size, 256)).items()})
                    for k, v in row.items():
                        history.setdefault(k, []).append(v)
                    if select is not None:
                        best = _update_best(best, model, row, select, epoch)
                    if bar is not None:
                        bar.set_postfix({k: f"{row[k]:.4g}" for k in ("train_loss", "val_loss") if k in row})
                    if path is not None:
                        save_checkpoint(path, {"format": CHECKPOINT_FORMAT, "epoch": epoch + 1, "history": history,
                                               "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                                               "fingerprint": json.dumps(fingerprint), "rng_torch": torch.get_rng_state(),
                                               "best": best})
                    result.trained += 1
                    if on_epoch_end is not None:
                        on_epoch_end(epoch, row)
            except KeyboardInterrupt:
                where = f"the checkpoint {path} holds epoch {epoch}/{epochs}" if path else "no checkpoint was asked for"
                print(f"\ninterrupted during epoch {epoch + 1}; {where}. Run the same call again to resume.",
                      file=sys.stderr)
                raise
            finally:
                if bar is not None:
                    bar.close()
                result.seconds = time.perf_counter() - start_time
        _record(path, history, made=result.trained > 0)
        return _keep_best(model, best, result)


def _record(path: Path | None, history: dict[str, list], *, made: bool) -> None:
    """Note the checkpoint ``path`` for the batch runner's estimates, with the seconds all its epochs took."""
    if path is not None:
        progress_bars.record_stage(path, made=made, seconds=float(sum(history.get("seconds", []))))


#: ``fit(optimizer=...)`` names.
OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}


def _update_best(best: dict[str, Any] | None, model: nn.Module, row: dict[str, float], select: str,
                 epoch: int) -> dict[str, Any]:
    """``best`` (epoch, value, weights) replaced by this epoch's if its ``row[select]`` is lower."""
    if select not in row:
        raise ValueError(f"select={select!r} is not a history key; this run logs {sorted(row)} "
                         f"(val_* keys need val_data)")
    value = float(row[select])
    if best is not None and not value < best["value"]:
        return best
    return {"epoch": epoch + 1, "value": value,
            "model": {k: v.detach().clone() for k, v in model.state_dict().items()}}


def _keep_best(model: nn.Module, best: dict[str, Any] | None, result: FitResult) -> FitResult:
    """Load the best epoch's weights (if a ``select`` run kept them) into ``model``; note which epoch."""
    if best is not None:
        model.load_state_dict(best["model"])
        result.best_epoch = int(best["epoch"])
    return result


def _check_fingerprint(path: Path, stored: dict[str, Any], wanted: dict[str, Any]) -> None:
    differ = {k: (stored.get(k), wanted.get(k)) for k in sorted(set(stored) | set(wanted))
              if stored.get(k) != wanted.get(k)}
    if differ:
        text = ", ".join(f"{k}: checkpoint {a!r}, now {b!r}" for k, (a, b) in differ.items())
        raise ValueError(f"checkpoint {path} belongs to another run ({text}); delete it or choose another name")


def _progress_bar(total: int, enabled: bool):
    if not enabled:
        return None
    return progress_bars.bar(total=total, unit="batch", mininterval=2.0)


def _check_batch_finite(batch: Batch, idx: torch.Tensor) -> None:
    """Raise ValueError naming the training samples whose tensors hold NaN or infinite values, if any."""
    bad = sorted({int(idx[i]) for t in batch if torch.is_tensor(t) and t.is_floating_point()
                  for i in torch.nonzero(~torch.isfinite(t.reshape(len(t), -1)).all(dim=1)).flatten().tolist()})
    if bad:
        raise ValueError(f"training samples {bad[:10]} (indices into the training data) hold NaN or infinite "
                         f"values: the data is damaged, not the learning rate. Check or regenerate the dataset")


def _train_epoch(model, loss_fn, optimizer, get_train, n_train, batch_size, schedule, seed, epoch, epochs, bar,
                 on_batch_end) -> dict[str, float]:
    """One pass over the training data; the history row (epoch, lr, train_*, seconds)."""
    start = time.perf_counter()
    lr = schedule(epoch, epochs)
    for group in optimizer.param_groups:
        group["lr"] = lr
    epoch_seed = _epoch_seed(seed, epoch)
    torch.manual_seed(epoch_seed)  # dropout and any other global draws
    order = torch.randperm(n_train, generator=torch.Generator().manual_seed(epoch_seed))
    model.train()
    totals: dict[str, float] = {}
    batches = _chunks(order, batch_size)
    for b, idx in enumerate(batches):
        if getattr(schedule, "per_batch", False):
            for group in optimizer.param_groups:
                group["lr"] = schedule(epoch + b / len(batches), epochs)
        batch = get_train(idx)
        loss, logs = loss_fn(model, batch)
        if not torch.isfinite(loss):
            _check_batch_finite(batch, idx)
            raise FloatingPointError(f"loss is {float(loss)} at epoch {epoch + 1}, batch {b + 1}; lower the "
                                     f"learning rate (now {optimizer.param_groups[0]['lr']:g})")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        for k, v in {"loss": float(loss.detach()), **logs}.items():
            totals[k] = totals.get(k, 0.0) + float(v) * len(idx)
        if bar is not None:
            bar.set_description(f"epoch {epoch + 1}/{epochs}", refresh=False)
            bar.update(1)
        if on_batch_end is not None:
            on_batch_end(epoch, b, float(loss.detach()))
    row = {"epoch": epoch + 1, "lr": lr}
    row.update({f"train_{k}": v for k, v in _mean_logs(totals, n_train).items()})
    row["seconds"] = time.perf_counter() - start
    return row
