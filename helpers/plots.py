"""Plots that several lessons draw the same way: loss curves (first drawn in lesson 02) and
the character labels of a (V, V) heatmap (lesson 04)."""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt


def plot_losses(train: Sequence[float], val: Sequence[float] | None = None, *,
                steps: Sequence[float] | None = None, val_steps: Sequence[float] | None = None,
                xlabel: str = "step", ylabel: str = "loss", title: str | None = None,
                logy: bool = False, ax: plt.Axes | None = None) -> plt.Axes:
    """Training (and validation) loss curves on one axes.

    ``steps``/``val_steps`` give the x position of each value when losses were not
    recorded at every step (validation usually is not).
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 3.6))
    ax.plot(steps if steps is not None else range(len(train)), train, label="train", lw=1)
    if val is not None:
        if val_steps is None:
            val_steps = range(len(val)) if len(val) == len(train) else None
        if val_steps is None:
            raise ValueError("val has a different length from train: "
                             "say where it was measured with val_steps")
        ax.plot(val_steps, val, label="validation", lw=2)
        ax.legend()
    if logy:
        ax.set_yscale("log")
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.grid(alpha=0.3)
    return ax


def char_ticks(ax: plt.Axes, labels: Sequence[str], fontsize: float = 8) -> None:
    """Label every row and column of a square heatmap with ``labels`` (one per character),
    alternating sides (even positions bottom/left, odd positions top/right) so that
    neighbouring labels never run into each other."""
    n = len(labels)
    even, odd = range(0, n, 2), range(1, n, 2)
    ax.set_xticks(list(even), [labels[i] for i in even], fontsize=fontsize)
    ax.set_yticks(list(even), [labels[i] for i in even], fontsize=fontsize)
    top, right = ax.secondary_xaxis("top"), ax.secondary_yaxis("right")
    top.set_xticks(list(odd), [labels[i] for i in odd], fontsize=fontsize)
    right.set_yticks(list(odd), [labels[i] for i in odd], fontsize=fontsize)
