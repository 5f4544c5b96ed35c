"""Checking hand-derived gradients against finite differences (lesson 03).

A gradient derived on paper is a claim; the slope of the function measured
numerically is the evidence. For a scalar loss ``f`` and an array ``W``:

    df/dW[i] ~ (f(W + eps e_i) - f(W - eps e_i)) / (2 eps)

The central difference has error O(eps**2), much better than the one-sided
O(eps); in float64, eps = 1e-6 balances that error against rounding.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

__all__ = ["numerical_gradient", "relative_error"]


def numerical_gradient(f: Callable[[np.ndarray], float], W: np.ndarray,
                       eps: float = 1e-6) -> np.ndarray:
    """Central-difference estimate of the gradient of the scalar ``f(W)`` with respect to ``W``.

    Each entry of ``W`` is nudged by ``+eps`` and ``-eps`` in place (so ``f`` may
    also reach ``W`` through a closure) and restored afterwards, even if ``f``
    raises. Costs ``2 * W.size`` calls of ``f``: meant for checking, not training.
    """
    if not isinstance(W, np.ndarray):
        raise TypeError(f"W must be a NumPy array, got {type(W).__name__}: "
                        "convert it with np.asarray(W, dtype=np.float64)")
    if W.dtype != np.float64:
        raise ValueError(f"W has dtype {W.dtype}; finite differences need float64 "
                         "(float32 cannot resolve a nudge of 1e-6): use W.astype(np.float64)")
    if not eps > 0:
        raise ValueError(f"eps must be positive, got {eps}")
    grad = np.zeros_like(W)
    for index in np.ndindex(W.shape):
        original = W[index]
        try:
            W[index] = original + eps
            f_plus = _scalar(f(W))
            W[index] = original - eps
            f_minus = _scalar(f(W))
        finally:
            W[index] = original
        grad[index] = (f_plus - f_minus) / (2 * eps)
    return grad


def _scalar(value) -> float:
    value = np.asarray(value, dtype=np.float64)
    if value.size != 1:
        raise ValueError(f"f must return a scalar loss, got an array of shape {value.shape}")
    return float(value.reshape(()))


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    """``||a - b|| / (||a|| + ||b||)``: 0 for equal arrays, 1e-7 or less for a correct
    float64 gradient against finite differences, 1e-3 to 1 for a wrong one.

    Relative (not absolute) so the verdict does not depend on the scale of the loss;
    two all-zero arrays give 0.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"cannot compare arrays of shapes {a.shape} and {b.shape}")
    scale = np.linalg.norm(a) + np.linalg.norm(b)
    return 0.0 if scale == 0 else float(np.linalg.norm(a - b) / scale)
