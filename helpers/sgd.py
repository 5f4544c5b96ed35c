"""Minibatches for stochastic gradient descent (lesson 03).

One epoch = one pass over the data in a fresh random order, cut into batches of
``batch_size`` rows. The last batch keeps whatever is left over (it may be
smaller): dropping it, or insisting that the data size divides evenly, means some
rows are never trained on, or the code breaks the day the data changes size.
"""
from __future__ import annotations

import math
from typing import Iterator, TypeVar

import numpy as np
import torch

__all__ = ["minibatches", "num_batches"]

Array = TypeVar("Array", np.ndarray, torch.Tensor)


def num_batches(n_rows: int, batch_size: int) -> int:
    """How many batches :func:`minibatches` yields for ``n_rows`` rows: the partial one counts."""
    return math.ceil(n_rows / batch_size)


def minibatches(X: Array, y: Array, batch_size: int, rng: np.random.Generator,
                shuffle: bool = True) -> Iterator[tuple[Array, Array]]:
    """Yield ``(X_batch, y_batch)`` covering every row of ``X``/``y`` exactly once.

    Rows are drawn in a new random order on every call (that is, every epoch) from
    ``rng``, so the same seed gives the same batches. All batches have
    ``batch_size`` rows except possibly the last, which holds the remainder.
    ``X`` and ``y`` may be NumPy arrays or PyTorch tensors; row ``i`` of ``X`` always
    stays paired with row ``i`` of ``y``. ``shuffle=False`` keeps the stored order
    (useful for evaluation).
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy Generator, got {type(rng).__name__}: "
                        "pass np.random.default_rng(seed)")
    is_integer = isinstance(batch_size, (int, np.integer)) and not isinstance(batch_size, bool)
    if not is_integer or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    n = len(X)
    if len(y) != n:
        raise ValueError(f"X has {n} rows but y has {len(y)}: they must have one target per row")
    if n == 0:
        raise ValueError("X is empty: there is nothing to make batches of")
    order = rng.permutation(n) if shuffle else np.arange(n)
    if isinstance(X, torch.Tensor) or isinstance(y, torch.Tensor):
        order = torch.from_numpy(order)
    for start in range(0, n, batch_size):        # the last start may leave < batch_size rows: kept
        rows = order[start:start + batch_size]
        yield X[rows], y[rows]
