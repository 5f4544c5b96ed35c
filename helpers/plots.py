"""Plots that several lessons draw the same way, first drawn in lesson 02 (loss curves)."""
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
