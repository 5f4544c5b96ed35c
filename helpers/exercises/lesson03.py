"""Checkers for lesson 03's exercises (backprop with matrices).

1. ``backward_tanh(params, cache, y)``: the hand-derived backward pass of a 1-hidden-layer
   tanh network, compared with central finite differences of the loss.
2. ``loss_and_grad_l2(X, y, W, lam)``: least squares with an L2 penalty that spares the bias.
3. ``average_over_all_batches(X, y, W, batch_size)``: the mean of the gradients of every
   possible batch, which must be the full gradient (a batch gradient is unbiased).
"""
from __future__ import annotations

import numpy as np

from ..gradcheck import numerical_gradient, relative_error
from . import Wrong, attempted, checker, expect_close, expect_true, run

__all__ = ["check_1", "check_2", "check_3"]

PARAM_NAMES = ("W1", "b1", "W2", "b2")


# ---- exercise 1: a tanh layer -------------------------------------------------

def _tanh_problem(seed: int, n: int, hidden: int):
    rng = np.random.default_rng(seed)
    params = {"W1": rng.normal(size=(1, hidden)), "b1": 0.5 * rng.normal(size=hidden),
              "W2": rng.normal(size=(hidden, 1)), "b2": rng.normal(size=1)}
    x = rng.uniform(0, 1, size=(n, 1))
    y = 3 * rng.normal(size=(n, 1))
    return params, x, y


def _tanh_forward(params, x):
    z1 = x @ params["W1"] + params["b1"]
    a1 = np.tanh(z1)
    z2 = a1 @ params["W2"] + params["b2"]
    return z2, {"x": x, "z1": z1, "a1": a1, "z2": z2}


def _tanh_loss(params, x, y) -> float:
    z2, _ = _tanh_forward(params, x)
    return 0.5 * float(np.mean((z2 - y) ** 2))


def _finite_difference_grads(params, x, y):
    grads = {}
    for name in PARAM_NAMES:
        def loss_of(value, name=name):
            return _tanh_loss({**params, name: value}, x, y)
        grads[name] = numerical_gradient(loss_of, params[name].copy())
    return grads


def _numbers(value, what: str) -> np.ndarray:
    try:
        return np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise Wrong(f"{what} should be an array of numbers, got {type(value).__name__}") from None


def _copy(arrays: dict) -> dict:
    return {name: np.array(value, copy=True) for name, value in arrays.items()}


def _what_went_wrong(got: np.ndarray, expected: np.ndarray, n: int) -> str:
    """A guess at the usual slip, from how ``got`` relates to ``expected``."""
    scale = float(np.sum(got * expected) / max(np.sum(expected * expected), 1e-300))
    if relative_error(got, scale * expected) < 1e-6:
        if np.isclose(scale, -1):
            return " (it has the wrong sign)"
        if np.isclose(scale, n):
            return f" (it is {n} times too large: divide by n, the number of examples)"
        if np.isclose(scale, 1 / n):
            return f" (it is {n} times too small: is 1/n applied twice?)"
    return ""


@checker(1)
def check_1(backward_tanh):
    cases = [(0, 7, 4), (1, 12, 25), (2, 1, 3)]          # (seed, n examples, hidden units)
    for case, (seed, n, hidden) in enumerate(cases, start=1):
        params, x, y = _tanh_problem(seed, n, hidden)
        _, cache = _tanh_forward(params, x)
        grads = run(backward_tanh, _copy(params), _copy(cache), y.copy())
        if not isinstance(grads, dict):
            raise Wrong("backward_tanh should return a dict of gradients, "
                        f"got {type(grads).__name__}")
        missing = [name for name in PARAM_NAMES if name not in grads]
        expect_true(not missing, f"the returned dict has no gradient for {', '.join(missing)}")
        reference = _finite_difference_grads(params, x, y)
        for name in ("W2", "b2", "W1", "b1"):         # the order backward computes them in
            where = f"case {case} ({n} examples, {hidden} hidden units): grads[{name!r}]"
            got = _numbers(grads[name], where)
            if got.shape != params[name].shape:
                extra = ""
                if name.startswith("b") and got.shape[:1] == (n,):
                    extra = ": a bias gradient sums delta over the rows (axis=0)"
                raise Wrong(f"{where} has shape {got.shape}, expected {params[name].shape}, "
                            f"the shape of {name}{extra}")
            err = relative_error(got, reference[name])
            if not err < 1e-6:
                hint = _what_went_wrong(got, reference[name], n)
                if not hint and name in ("W1", "b1"):
                    sigmoid_slope = _sigmoid_slip(params, cache, y, name)
                    if relative_error(got, sigmoid_slope) < 1e-6:
                        hint = " (that is the sigmoid's a(1 - a); tanh' = 1 - tanh^2)"
                raise Wrong(f"{where} disagrees with finite differences "
                            f"(relative error {err:.1e}){hint}")
    return "every gradient matches finite differences, in 3 networks"


def _sigmoid_slip(params, cache, y, name):
    delta2 = (cache["z2"] - y) / len(y)
    delta1 = (delta2 @ params["W2"].T) * cache["a1"] * (1 - cache["a1"])
    return cache["x"].T @ delta1 if name == "W1" else delta1.sum(axis=0)


# ---- exercise 2: L2 regularisation ----------------------------------------------

def _regression_problem(seed: int, n: int = 20, features: int = 4):
    rng = np.random.default_rng(seed)
    X = np.hstack([np.ones((n, 1)), rng.normal(size=(n, features))])
    y = rng.normal(size=(n, 1)) + 2.0
    W = rng.normal(size=(features + 1, 1))
    return X, y, W


def _l2_reference(X, y, W, lam):
    residual = X @ W - y
    penalised = W.copy()
    penalised[0] = 0
    loss = 0.5 * np.mean(residual ** 2) + 0.5 * lam * np.sum(penalised ** 2)
    return loss, X.T @ residual / len(X) + lam * penalised


def _unpack_pair(result, name: str):
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise Wrong(f"{name} should return a pair (loss, grad), got {type(result).__name__}")
    attempted(*result)                    # the stub returns (None, None)
    return result


@checker(2)
def check_2(loss_and_grad_l2):
    for case, (seed, lam) in enumerate([(0, 0.1), (1, 1.0), (2, 0.0), (3, 0.5)], start=1):
        X, y, W = _regression_problem(seed)
        loss, grad = _unpack_pair(run(loss_and_grad_l2, X.copy(), y.copy(), W.copy(), lam),
                                  "loss_and_grad_l2")
        loss_ref, grad_ref = _l2_reference(X, y, W, lam)
        where = f"case {case} (lambda = {lam})"
        expect_true(np.size(loss) == 1, f"{where}: the loss should be one number, "
                                        f"got shape {np.shape(loss)}")
        loss = float(_numbers(loss, f"{where}: the loss").reshape(()))
        if not np.isclose(loss, loss_ref, rtol=1e-8, atol=1e-12):
            bias_too = loss_ref + 0.5 * lam * float(W[0, 0] ** 2)
            hint = ""
            if lam and np.isclose(loss, bias_too, rtol=1e-8):
                hint = ": the bias W[0] is penalised too, leave it out"
            elif lam and np.isclose(loss, loss_ref + 0.5 * lam * np.sum(W[1:] ** 2), rtol=1e-8):
                hint = ": the penalty is (lambda/2) times the sum of squares, not lambda times"
            raise Wrong(f"{where}: the loss is {loss:.6g}, expected {loss_ref:.6g}{hint}")
        expect_true(np.shape(grad) == W.shape, f"{where}: the gradient has shape {np.shape(grad)}, "
                                               f"expected {W.shape}, the shape of W")
        grad = _numbers(grad, f"{where}: the gradient")
        if not np.allclose(grad, grad_ref, rtol=1e-8, atol=1e-12):
            hint = ""
            if lam and np.isclose(grad[0, 0], grad_ref[0, 0] + lam * W[0, 0]):
                hint = ": the bias W[0] gets a penalty term, it should get none"
            elif lam and np.allclose(grad[1:], grad_ref[1:] + lam * W[1:]):
                hint = ": the penalty's gradient is lambda * W, not 2 * lambda * W"
            elif lam and np.allclose(grad, X.T @ (X @ W - y) / len(X)):
                hint = ": the penalty is missing from the gradient"
            expect_close(grad, grad_ref, f"{where}: the gradient{hint}", rtol=1e-8, atol=1e-12)
        # at the exact minimiser the gradient must vanish
        D = np.eye(len(W))
        D[0, 0] = 0
        n = len(X)
        W_star = np.linalg.solve(X.T @ X / n + lam * D, X.T @ y / n)
        _, grad_star = _unpack_pair(run(loss_and_grad_l2, X.copy(), y.copy(), W_star.copy(), lam),
                                    "loss_and_grad_l2")
        expect_true(np.abs(_numbers(grad_star, f"{where}: the gradient")).max() < 1e-9,
                    f"{where}: the gradient is not zero at the exact minimiser")
    return "loss and gradient exact for 4 values of lambda, zero at the minimiser"


# ---- exercise 3: the average over every batch -----------------------------------

@checker(3)
def check_3(average_over_all_batches):
    for seed, n in ((0, 5), (1, 6)):
        X, y, W = _regression_problem(seed, n=n, features=2)
        full = X.T @ (X @ W - y) / n
        for batch_size in range(1, n + 1):
            got = run(average_over_all_batches, X.copy(), y.copy(), W.copy(), batch_size)
            where = f"{n} rows, batch size {batch_size}: the average"
            got_shape = np.shape(got)
            expect_true(got_shape == W.shape,
                        f"{where} has shape {got_shape}, expected {W.shape}, the shape of W")
            got = _numbers(got, where)
            if np.allclose(got, full, rtol=1e-10, atol=1e-12):
                continue
            hint = ""
            if np.allclose(got, batch_size * full, rtol=1e-10):
                hint = (f" It is {batch_size} times the full gradient: each batch gradient "
                        "should be a mean over its rows, not a sum.")
            elif np.allclose(got, batch_size / n * full, rtol=1e-10):
                hint = " Each batch gradient should divide by its own size, not by n."
            else:
                hint = " Did you average over every combination of batch_size rows?"
            raise Wrong(f"{where} is not the full gradient X^T(XW - y)/n "
                        f"(relative error {relative_error(got, full):.1e}).{hint}")
    return "the mean batch gradient is the full gradient, at every batch size"
