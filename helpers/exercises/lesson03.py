"""Checkers for lesson 03's exercises (backprop with matrices).

1. ``linear_backward(a, W, delta)``: the gradients of a layer with several outputs in
   ``nn.Linear``'s layout, z = a W^T + b with W of shape (out, in), against torch.autograd.
2. ``backward_tanh(params, cache, y)``: the hand-derived backward pass of a 1-hidden-layer
   tanh network, compared with central finite differences of the loss.
3. ``loss_and_grad_l2(X, y, W, lam)``: least squares with an L2 penalty that spares the bias,
   without changing the caller's ``W``.
4. ``average_over_all_batches(X, y, W, batch_size, batch_gradient)``: the mean of the
   gradients of every possible batch, asked of the given ``batch_gradient``, which must be the
   full gradient (a batch gradient is unbiased).
"""
from __future__ import annotations

import numpy as np

from ..gradcheck import numerical_gradient, relative_error
from . import Wrong, attempted, checker, expect_close, expect_true, run

__all__ = ["check_1", "check_2", "check_3", "check_4"]

PARAM_NAMES = ("W1", "b1", "W2", "b2")


# ---- exercise 1: nn.Linear's layout, z = a W^T + b -------------------------------

def _linear_reference(a, W, b, delta):
    """The three gradients by torch.autograd, through F.linear (PyTorch's own layout)."""
    import torch
    a_t, W_t, b_t = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (a, W, b))
    z = torch.nn.functional.linear(a_t, W_t, b_t)
    (z * torch.from_numpy(delta)).sum().backward()     # so that dL/dz = delta
    return {"W": W_t.grad.numpy(), "b": b_t.grad.numpy(), "a": a_t.grad.numpy()}


def _linear_slip(name: str, got: np.ndarray, a, W, delta, expected: np.ndarray) -> str:
    """Name the usual slip behind a wrong ``got``, or return ""."""
    n = len(a)
    guesses = {
        "W": [(lambda: a.T @ delta, ": that is a.T @ delta, the rule for z = a W; here W is "
                                    "(out, in), so the gradient is the transpose of that")],
        "a": [(lambda: delta @ W.T, ": that is delta @ W.T, the rule for z = a W; here z_ik "
                                    "uses W_kj, so no transpose is needed")],
        "b": [],
    }
    for make, message in guesses[name]:
        try:
            guess = make()
        except ValueError:
            continue
        if guess.shape == got.shape and np.allclose(got, guess, rtol=1e-9, atol=1e-12):
            return message
    if got.shape == expected.T.shape and np.allclose(got, expected.T, rtol=1e-9, atol=1e-12):
        return ": it is the transpose of the right answer (W is (out, in) here)"
    if np.allclose(got, expected / n, rtol=1e-9, atol=1e-12):
        return (f": it is {n} times too small; delta already holds any 1/n of the loss, "
                "so sum over the rows, do not average")
    if np.allclose(got, -expected, rtol=1e-9, atol=1e-12):
        return ": it has the wrong sign"
    return ""


@checker(1)
def check_1(linear_backward):
    # the square case first: 2.2's rules (for z = a W) run there and get a named message
    cases = [(1, 5, 3, 3), (0, 4, 2, 3), (2, 1, 4, 1), (3, 6, 5, 2)]   # (seed, n, in m, out k)
    for seed, n, m, k in cases:
        rng = np.random.default_rng(seed)
        a, W, b = rng.normal(size=(n, m)), rng.normal(size=(k, m)), rng.normal(size=k)
        delta = rng.normal(size=(n, k))
        try:
            grads = run(linear_backward, a.copy(), W.copy(), delta.copy())
        except Wrong as e:
            raise Wrong(f"{e} (with a of shape {a.shape}, W {W.shape}, delta {delta.shape}: "
                        "check the shapes of each product; 2.2's rules are for z = a W, and "
                        "here W is (out, in))") from None
        if not isinstance(grads, dict):
            raise Wrong(f"linear_backward should return a dict with keys 'W', 'b', 'a', "
                        f"got {type(grads).__name__}")
        missing = [name for name in ("W", "b", "a") if name not in grads]
        expect_true(not missing, f"the returned dict has no gradient for {', '.join(missing)}")
        reference = _linear_reference(a, W, b, delta)
        shapes = {"W": W.shape, "b": b.shape, "a": a.shape}
        for name in ("W", "b", "a"):
            where = f"layer with n={n}, in={m}, out={k}: grads[{name!r}]"
            got = _numbers(grads[name], where)
            expected = reference[name]
            if got.shape != shapes[name]:
                hint = ""
                if name == "b" and got.shape == (n, k):
                    hint = ": a bias is added in every row, so its gradient sums delta over rows"
                elif name == "W" and got.shape == (m, k):
                    hint = (": that is the shape of a.T @ delta, the rule for z = a W; "
                            "nn.Linear's W is (out, in)")
                raise Wrong(f"{where} has shape {got.shape}, expected {shapes[name]}, "
                            f"the shape of {name}{hint}")
            err = relative_error(got, expected)
            if not err < 1e-9:
                raise Wrong(f"{where} disagrees with torch.autograd (relative error {err:.1e})"
                            f"{_linear_slip(name, got, a, W, delta, expected)}")
    return "W, b and a match torch.autograd for 4 layer shapes"


# ---- exercise 2: a tanh layer -------------------------------------------------

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


@checker(2)
def check_2(backward_tanh):
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
                    slips = {"sigmoid": (cache["a1"] * (1 - cache["a1"]),
                                         " (that is the sigmoid's a(1 - a); tanh' = 1 - tanh^2)"),
                             "z": (1 - cache["z1"] ** 2,
                                   " (that is 1 - z1^2; tanh'(z) = 1 - tanh(z)^2, that is "
                                   "1 - a1^2, with a1 from the cache)"),
                             "1 - a": (1 - cache["a1"],
                                       " (that is 1 - a1, not squared: tanh'(z) = 1 - tanh(z)^2 "
                                       "= 1 - a1^2)"),
                             "tanh twice": (1 - np.tanh(cache["a1"]) ** 2,
                                            " (that is 1 - tanh(a1)^2, tanh applied twice: a1 is "
                                            "already tanh(z1), so the slope is 1 - a1^2)")}
                    for slope, message in slips.values():
                        if relative_error(got, _slope_slip(params, cache, y, name, slope)) < 1e-6:
                            hint = message
                raise Wrong(f"{where} disagrees with finite differences "
                            f"(relative error {err:.1e}){hint}")
    return "every gradient matches finite differences, in 3 networks"


def _slope_slip(params, cache, y, name, slope):
    """The first layer's gradient with ``slope`` in place of tanh'(z1)."""
    delta2 = (cache["z2"] - y) / len(y)
    delta1 = (delta2 @ params["W2"].T) * slope
    return cache["x"].T @ delta1 if name == "W1" else delta1.sum(axis=0)


# ---- exercise 3: L2 regularisation ----------------------------------------------

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


def _call_read_only(loss_and_grad_l2, X, y, W, lam, where: str):
    """Call with a read-only copy of W, so that any write into it (even one undone before
    returning) raises and is named; then check that W came back unchanged."""
    W_given = W.copy()
    W_given.setflags(write=False)
    try:
        result = run(loss_and_grad_l2, X.copy(), y.copy(), W_given, lam)
    except Wrong as e:
        if "read-only" in str(e):
            raise Wrong(f"{where}: loss_and_grad_l2 wrote into the caller's W (this check passes "
                        "W read-only, so NumPy refused the assignment): work on a copy, "
                        "W.copy(), never on W itself") from None
        raise
    if not np.array_equal(W_given, W):
        changed = [int(i) for i in np.flatnonzero(W_given.ravel() != W.ravel())]
        raise Wrong(f"{where}: loss_and_grad_l2 changed the caller's W (entries {changed}): "
                    "work on a copy, W.copy(), never on W itself")
    return result


@checker(3)
def check_3(loss_and_grad_l2):
    for case, (seed, lam) in enumerate([(0, 0.1), (1, 1.0), (2, 0.0), (3, 0.5)], start=1):
        X, y, W = _regression_problem(seed)
        where = f"case {case} (lambda = {lam})"
        loss, grad = _unpack_pair(_call_read_only(loss_and_grad_l2, X, y, W, lam, where),
                                  "loss_and_grad_l2")
        loss_ref, grad_ref = _l2_reference(X, y, W, lam)
        expect_true(np.size(loss) == 1, f"{where}: the loss should be one number, "
                                        f"got shape {np.shape(loss)}")
        loss = float(_numbers(loss, f"{where}: the loss").reshape(()))
        if not np.isclose(loss, loss_ref, rtol=1e-8, atol=1e-12):
            bias_too = loss_ref + 0.5 * lam * float(W[0, 0] ** 2)
            hint = ""
            data = 0.5 * np.mean((X @ W - y) ** 2)
            if lam and np.isclose(loss, bias_too, rtol=1e-8):
                hint = ": the bias W[0] is penalised too, leave it out"
            elif lam and np.isclose(loss, loss_ref + 0.5 * lam * np.sum(W[1:] ** 2), rtol=1e-8):
                hint = ": the penalty is (lambda/2) times the sum of squares, not lambda times"
            elif lam and any(np.isclose(loss, data + 0.5 * lam * np.sum(W[1:] ** 2) / size,
                                        rtol=1e-8) for size in (len(W) - 1, len(W))):
                hint = (": the penalty is (lambda/2) times the SUM of the squared weights, "
                        "not their mean")
            raise Wrong(f"{where}: the loss is {loss:.10g}, expected {loss_ref:.10g}{hint}")
        expect_true(np.shape(grad) == W.shape, f"{where}: the gradient has shape {np.shape(grad)}, "
                                               f"expected {W.shape}, the shape of W")
        grad = _numbers(grad, f"{where}: the gradient")
        if not np.allclose(grad, grad_ref, rtol=1e-8, atol=1e-12):
            hint = ""
            if lam and np.isclose(grad[0, 0], grad_ref[0, 0] + lam * W[0, 0]):
                hint = " The bias W[0] gets a penalty term; it should get none."
            elif lam and np.allclose(grad[1:], grad_ref[1:] + lam * W[1:]):
                hint = " The penalty's gradient is lambda * W, not 2 * lambda * W."
            elif lam and np.allclose(grad, X.T @ (X @ W - y) / len(X)):
                hint = " The penalty is missing from the gradient."
            elif lam and any(np.allclose(grad[1:], grad_ref[1:] - lam * W[1:] * (1 - 1 / size))
                             for size in (len(W) - 1, len(W))):
                hint = (" The penalty's gradient is divided by the number of weights: the "
                        "penalty is (lambda/2) times the SUM of the squares, not their mean.")
            try:
                expect_close(grad, grad_ref, f"{where}: the gradient", rtol=1e-8, atol=1e-12)
            except Wrong as e:
                raise Wrong(f"{e}.{hint}") from None
        # at the exact minimiser the gradient must vanish
        D = np.eye(len(W))
        D[0, 0] = 0
        n = len(X)
        W_star = np.linalg.solve(X.T @ X / n + lam * D, X.T @ y / n)
        _, grad_star = _unpack_pair(_call_read_only(loss_and_grad_l2, X, y, W_star, lam, where),
                                    "loss_and_grad_l2")
        expect_true(np.abs(_numbers(grad_star, f"{where}: the gradient")).max() < 1e-9,
                    f"{where}: the gradient is not zero at the exact minimiser")
    return "loss and gradient exact for 4 values of lambda, zero at the minimiser"


# ---- exercise 4: the average over every batch -----------------------------------

def _rows_of(X_batch, X) -> tuple | None:
    """Which rows of X make up X_batch (the check's rows are all distinct), or None."""
    X_batch = np.asarray(X_batch)
    if X_batch.ndim != 2 or X_batch.shape[1] != X.shape[1]:
        return None
    rows = []
    for row in X_batch:
        match = np.flatnonzero((X == row).all(axis=1))
        if len(match) != 1:
            return None
        rows.append(int(match[0]))
    return tuple(sorted(rows))


def _recording(X, scale: float = 1.0):
    """A batch_gradient that records the batches it is asked for; ``scale`` != 1 makes it
    return something other than the mean gradient (the learner must average what it gives)."""
    calls, returned = [], []

    def batch_gradient(X_batch, y_batch, W):
        rows = _rows_of(X_batch, X)
        if rows is None:
            raise Wrong(f"batch_gradient got an X_batch of shape {np.shape(X_batch)} that is not "
                        "a set of rows of X: pick rows with a list of indices, X[list(rows)]")
        calls.append((rows, np.shape(X_batch)))
        X_batch, y_batch = np.asarray(X_batch, dtype=float), np.asarray(y_batch, dtype=float)
        grad = scale * X_batch.T @ (X_batch @ W - y_batch) / len(X_batch)
        returned.append(grad)
        return grad
    return batch_gradient, calls, returned


def _batches_used(calls, n: int, batch_size: int, where: str) -> None:
    """Every combination of batch_size rows asked for exactly once, or Wrong saying what not."""
    from collections import Counter
    from itertools import combinations
    from math import comb
    expected = comb(n, batch_size)
    if not calls:
        raise Wrong(f"{where}: batch_gradient was never called. The average must be taken over "
                    f"the {expected} batches themselves, not computed from the whole data")
    valid = set(combinations(range(n), batch_size))
    for rows, _ in calls:
        repeated = sorted({r for r in rows if rows.count(r) > 1})
        if repeated:
            raise Wrong(f"{where}: batch_gradient was asked for a batch that repeats row "
                        f"{repeated[0]} (rows {rows}); a batch holds distinct rows: use "
                        "itertools.combinations, not combinations_with_replacement")
        if len(rows) != batch_size:
            raise Wrong(f"{where}: batch_gradient was asked for a batch of {len(rows)} rows; "
                        f"every batch should hold batch_size = {batch_size} distinct rows")
        if rows not in valid:
            raise Wrong(f"{where}: the batch of rows {rows} is not one of "
                        f"combinations(range({n}), {batch_size})")
    counts = Counter(rows for rows, _ in calls)
    twice = [rows for rows, c in counts.items() if c > 1]
    if twice:
        raise Wrong(f"{where}: the batch of rows {twice[0]} was used {counts[twice[0]]} times; "
                    "each possible batch should count once")
    unused = [rows for rows in combinations(range(n), batch_size) if rows not in counts]
    if unused:
        raise Wrong(f"{where}: {len(unused)} of the {expected} possible batches were never used "
                    f"(e.g. rows {unused[0]}): go over every combination of {batch_size} rows")


@checker(4)
def check_4(average_over_all_batches):
    for seed, n in ((0, 5), (1, 6)):
        X, y, W = _regression_problem(seed, n=n, features=2)
        full = X.T @ (X @ W - y) / n
        for batch_size in range(1, n + 1):
            where = f"{n} rows, batch size {batch_size}"
            batch_gradient, calls, returned = _recording(X)
            got = run(average_over_all_batches, X.copy(), y.copy(), W.copy(), batch_size,
                      batch_gradient)
            _batches_used(calls, n, batch_size, where)
            got_shape = np.shape(got)
            expect_true(got_shape == W.shape, f"{where}: the average has shape {got_shape}, "
                                              f"expected {W.shape}, the shape of W")
            got = _numbers(got, f"{where}: the average")
            if np.allclose(got, full, rtol=1e-10, atol=1e-12):
                continue
            hint = " Did you average over every batch?"
            if np.allclose(got, len(returned) * full, rtol=1e-10):
                hint = (f" It is {len(returned)} times the full gradient: divide the sum of the "
                        "batch gradients by the number of batches (take their mean).")
            raise Wrong(f"{where}: the average is not the full gradient X^T(XW - y)/n "
                        f"(relative error {relative_error(got, full):.1e}).{hint}")
    # the result must follow what batch_gradient returns, not a formula of the learner's own
    X, y, W = _regression_problem(2, n=5, features=2)
    batch_gradient, calls, returned = _recording(X, scale=3.0)
    got = run(average_over_all_batches, X.copy(), y.copy(), W.copy(), 2, batch_gradient)
    _batches_used(calls, 5, 2, "5 rows, batch size 2, a batch_gradient that returns 3 times "
                                "the gradient")
    wanted = np.mean(returned, axis=0)
    got = _numbers(got, "the average")
    if got.shape != wanted.shape or not np.allclose(got, wanted, rtol=1e-10, atol=1e-12):
        err = relative_error(got, wanted) if got.shape == wanted.shape else float("nan")
        raise Wrong("with a batch_gradient that returns 3 times the gradient, your result is not "
                    f"the mean of what it returned (relative error {err:.1e}): average the "
                    "values batch_gradient gives, do not compute the gradient another way")
    return "every batch used once; the mean batch gradient is the full gradient, at every size"
