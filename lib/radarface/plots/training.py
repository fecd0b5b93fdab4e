"""Learning curves from a :func:`radarface.train.fit` history."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.ticker import MaxNLocator


def plot_history(history: dict[str, list[float]], keys: Sequence[str] | None = None, *, ax: Axes | None = None,
                 log: bool = True, title: str | None = None) -> Axes:
    """Loss curves against the epoch: ``keys`` of the history (default ``train_loss`` and ``val_loss``).

    Train values are means over the epoch (while the weights change), validation values
    are measured after it: the curves are offset by about half an epoch.
    """
    keys = list(keys) if keys is not None else [k for k in ("train_loss", "val_loss") if k in history]
    missing = [k for k in keys if k not in history]
    if missing or "epoch" not in history:
        raise ValueError(f"history lacks {missing or ['epoch']} (has {sorted(history)})")
    ax = ax or plt.gca()
    for key in keys:
        ax.plot(history["epoch"], history[key], marker="o" if len(history["epoch"]) < 20 else None, ms=3,
                ls="--" if key.startswith("train") else "-", label=key.replace("_", " "))
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("mean squared error (normalised units)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def plot_learning_rate(history: dict[str, list[float]], *, ax: Axes | None = None) -> Axes:
    """The learning rate used in each epoch."""
    if "lr" not in history:
        raise ValueError(f"history lacks 'lr' (has {sorted(history)})")
    ax = ax or plt.gca()
    ax.plot(history["epoch"], history["lr"], "k.-", ms=3)
    ax.set_xlabel("epoch")
    ax.set_ylabel("learning rate")
    ax.grid(alpha=0.3)
    return ax
