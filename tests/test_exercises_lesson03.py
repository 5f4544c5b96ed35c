"""Lesson 03's exercise checkers: the stub is "todo", the worked solution "correct",
plausible wrong answers and wrong types "wrong" with a message that says what is wrong."""
import itertools

import numpy as np
import pytest

from helpers.exercises import lesson03 as ex


def loss_and_grad(X, y, W):          # as in the lesson
    residual = X @ W - y
    return 0.5 * np.mean(residual ** 2), X.T @ residual / len(X)


# ---- exercise 1 -------------------------------------------------------------------

def linear_backward_stub(a, W, delta):
    raise NotImplementedError


def linear_backward(a, W, delta):     # the notebook's worked solution
    return {"W": delta.T @ a, "b": delta.sum(axis=0), "a": delta @ W}


def test_ex1_stub_solution():
    assert ex.check_1(linear_backward_stub).status == "todo"
    assert ex.check_1(linear_backward).status == "correct"


def _with(**wrong):
    def answer(a, W, delta):
        grads = linear_backward(a, W, delta)
        grads.update({name: make(a, W, delta) for name, make in wrong.items()})
        return grads
    return answer


@pytest.mark.parametrize("wrong, words", [
    # the lesson's layout z = a W: a.T @ delta has the shape (in, out), and in the square case
    # the right shape with transposed values
    (_with(W=lambda a, W, d: a.T @ d), "a.T @ delta"),
    (_with(W=lambda a, W, d: (a.T @ d) if W.shape[0] == W.shape[1] else d.T @ a), "a.T @ delta"),
    (_with(a=lambda a, W, d: d @ W.T), "delta @ W.T"),
    # a rule whose shapes fail on the first, square case too: named, not a bare ValueError
    (_with(a=lambda a, W, d: d @ a), "2.2's rules are for z = a W"),
    (_with(a=lambda a, W, d: (d @ W.T) if W.shape[0] == W.shape[1] else d @ W), "delta @ W.T"),
    (_with(b=lambda a, W, d: d.mean(axis=0)), "times too small"),
    (_with(b=lambda a, W, d: d), "sums delta over rows"),
    (_with(W=lambda a, W, d: d.T @ a / len(a)), "times too small"),
    (_with(a=lambda a, W, d: -(d @ W)), "wrong sign"),
    (lambda a, W, d: (d.T @ a, d.sum(axis=0), d @ W), "dict"),
    (lambda a, W, d: {"W": d.T @ a, "b": d.sum(axis=0)}, "no gradient for a"),
])
def test_ex1_rejects(wrong, words):
    verdict = ex.check_1(wrong)
    assert verdict.status == "wrong" and words in verdict.message, verdict.message


def lesson_rules_unchanged(a, W, delta):      # 2.2's rules for z = a W, copied as they are
    return {"W": a.T @ delta, "b": delta.sum(axis=0), "a": delta @ W.T}


def test_ex1_lesson_rules_unchanged_get_a_named_message():
    verdict = ex.check_1(lesson_rules_unchanged)
    assert verdict.status == "wrong" and "the rule for z = a W" in verdict.message, verdict
    assert "ValueError" not in verdict.message


def test_ex1_feedback_shows_the_relative_error():
    verdict = ex.check_1(_with(b=lambda a, W, d: d.mean(axis=0)))
    assert "relative error" in verdict.message, verdict.message


# ---- exercise 2 -------------------------------------------------------------------

def backward_tanh_stub(params, cache, y):
    raise NotImplementedError


def backward_tanh(params, cache, y):  # the notebook's worked solution
    d_z2 = (cache["z2"] - y) / len(y)
    d_z1 = (d_z2 @ params["W2"].T) * (1 - cache["a1"] ** 2)
    return {"W1": cache["x"].T @ d_z1, "b1": d_z1.sum(axis=0),
            "W2": cache["a1"].T @ d_z2, "b2": d_z2.sum(axis=0)}


def backward_sigmoid_slope(params, cache, y):      # the sigmoid's derivative kept
    delta2 = (cache["z2"] - y) / len(y)
    grads = {"W2": cache["a1"].T @ delta2, "b2": delta2.sum(axis=0)}
    delta1 = (delta2 @ params["W2"].T) * cache["a1"] * (1 - cache["a1"])
    grads["W1"] = cache["x"].T @ delta1
    grads["b1"] = delta1.sum(axis=0)
    return grads


def backward_no_mean(params, cache, y):            # forgot the 1/n
    delta2 = cache["z2"] - y
    grads = {"W2": cache["a1"].T @ delta2, "b2": delta2.sum(axis=0)}
    delta1 = (delta2 @ params["W2"].T) * (1 - cache["a1"] ** 2)
    grads["W1"] = cache["x"].T @ delta1
    grads["b1"] = delta1.sum(axis=0)
    return grads


def backward_bias_not_summed(params, cache, y):    # b1 left as (n, hidden)
    grads = backward_tanh(params, cache, y)
    delta2 = (cache["z2"] - y) / len(y)
    grads["b1"] = (delta2 @ params["W2"].T) * (1 - cache["a1"] ** 2)
    return grads


def backward_z_instead_of_a(params, cache, y):     # 1 - z^2 instead of 1 - tanh(z)^2
    grads = backward_tanh(params, cache, y)
    delta2 = (cache["z2"] - y) / len(y)
    delta1 = (delta2 @ params["W2"].T) * (1 - cache["z1"] ** 2)
    grads["W1"] = cache["x"].T @ delta1
    grads["b1"] = delta1.sum(axis=0)
    return grads


def _with_slope(slope_of):
    def answer(params, cache, y):
        grads = backward_tanh(params, cache, y)
        delta2 = (cache["z2"] - y) / len(y)
        delta1 = (delta2 @ params["W2"].T) * slope_of(cache)
        grads["W1"] = cache["x"].T @ delta1
        grads["b1"] = delta1.sum(axis=0)
        return grads
    return answer


def test_ex2_stub_solution():
    assert ex.check_2(backward_tanh_stub).status == "todo"
    assert ex.check_2(backward_tanh).status == "correct"


@pytest.mark.parametrize("wrong, words", [
    (backward_sigmoid_slope, "sigmoid"),
    (backward_no_mean, "divide by n"),
    (backward_bias_not_summed, "shape"),
    (backward_z_instead_of_a, "that is 1 - z1^2"),
    (_with_slope(lambda c: 1 - c["a1"]), "that is 1 - a1, not squared"),
    (_with_slope(lambda c: 1 - np.tanh(c["a1"]) ** 2), "tanh applied twice"),
    (lambda p, c, y: [1, 2, 3], "dict"),
    (lambda p, c, y: {"W1": "a", "b1": "a", "W2": "a", "b2": "a"}, "array of numbers"),
    (lambda p, c, y: {"W1": 0}, "no gradient for"),
])
def test_ex2_rejects(wrong, words):
    verdict = ex.check_2(wrong)
    assert verdict.status == "wrong" and words in verdict.message, verdict.message


# ---- exercise 3 -------------------------------------------------------------------

def l2_stub(X, y, W, lam):
    loss, grad = None, None
    return loss, grad


def loss_and_grad_l2(X, y, W, lam):   # the notebook's worked solution
    loss, grad = loss_and_grad(X, y, W)
    penalised = W.copy()
    penalised[0] = 0
    return loss + 0.5 * lam * np.sum(penalised ** 2), grad + lam * penalised


def l2_bias_penalised(X, y, W, lam):
    loss, grad = loss_and_grad(X, y, W)
    return loss + 0.5 * lam * np.sum(W ** 2), grad + lam * W


def l2_double_gradient(X, y, W, lam):
    loss, grad = loss_and_grad_l2(X, y, W, lam)
    penalised = W.copy()
    penalised[0] = 0
    return loss, grad + lam * penalised


def l2_no_half(X, y, W, lam):
    loss, grad = loss_and_grad_l2(X, y, W, lam)
    return loss + 0.5 * lam * np.sum(W[1:] ** 2), grad


def l2_gradient_forgotten(X, y, W, lam):
    loss, _ = loss_and_grad_l2(X, y, W, lam)
    return loss, loss_and_grad(X, y, W)[1]


def l2_mean_penalty(X, y, W, lam):            # lambda/2 * mean(W^2) instead of the sum
    loss, grad = loss_and_grad(X, y, W)
    return loss + 0.5 * lam * np.mean(W[1:] ** 2), grad + lam * np.vstack([[0], W[1:]]) / len(W)


def l2_mean_over_all_weights(X, y, W, lam):    # mean over every entry, the bias zeroed
    loss, grad = loss_and_grad(X, y, W)
    penalised = np.vstack([[0], W[1:]])
    return loss + 0.5 * lam * np.mean(penalised ** 2), grad + lam * penalised / len(W)


def l2_mean_in_gradient_only(X, y, W, lam):    # the loss right, the gradient divided by size
    loss, grad = loss_and_grad_l2(X, y, W, lam)
    penalised = np.vstack([[0], W[1:]])
    return loss, grad - lam * penalised + lam * penalised / len(W)


def l2_mutates_and_restores(X, y, W, lam):     # changes W, then undoes it before returning
    bias = W[0, 0]
    W[0] = 0
    loss, grad = loss_and_grad(X, y, W)
    loss, grad = loss + 0.5 * lam * np.sum(W ** 2), grad + lam * W
    W[0] = bias
    return loss, grad


def l2_mutates_only_at_the_minimiser(X, y, W, lam):   # a change on the second call only
    if lam and np.abs(loss_and_grad_l2(X, y, W, lam)[1]).max() < 1e-9:
        W[0] = W[0]
    return loss_and_grad_l2(X, y, W, lam)


def test_ex3_stub_solution():
    assert ex.check_3(l2_stub).status == "todo"
    assert ex.check_3(loss_and_grad_l2).status == "correct"


@pytest.mark.parametrize("wrong, words", [
    (l2_bias_penalised, "bias"),
    (l2_double_gradient, "not 2 * lambda"),
    (l2_no_half, "lambda/2"),
    (l2_gradient_forgotten, "missing from the gradient"),
    (l2_mean_penalty, "not their mean"),
    (l2_mean_over_all_weights, "not their mean"),
    (l2_mean_in_gradient_only, "not their mean"),
    (l2_mutates_and_restores, "wrote into the caller's W"),
    (l2_mutates_only_at_the_minimiser, "wrote into the caller's W"),
    (lambda X, y, W, lam: 3.0, "pair"),
    (lambda X, y, W, lam: (loss_and_grad_l2(X, y, W, lam)[0], np.zeros(len(W))), "shape"),
    (lambda X, y, W, lam: ("loss", W), "array of numbers"),
])
def test_ex3_rejects(wrong, words):
    verdict = ex.check_3(wrong)
    assert verdict.status == "wrong" and words in verdict.message, verdict.message


def l2_mutates_W(X, y, W, lam):       # the issue-19 slip: zeroes the caller's bias in place
    residual = X @ W - y
    W[0] = 0
    loss = 0.5 * np.mean(residual ** 2) + 0.5 * lam * np.sum(W ** 2)
    return loss, X.T @ residual / len(X) + lam * W


def test_ex3_rejects_a_function_that_changes_the_callers_W():
    verdict = ex.check_3(l2_mutates_W)
    assert verdict.status == "wrong" and "wrote into the caller's W" in verdict.message, verdict
    assert "W.copy()" in verdict.message


def test_ex3_gradient_messages_read_as_sentences():
    for wrong, words in ((l2_double_gradient, "not 2 * lambda * W."),
                         (l2_gradient_forgotten, "The penalty is missing from the gradient.")):
        message = ex.check_3(wrong).message
        assert "the gradient differs from the expected values" in message, message
        assert message.endswith(words) and "gradient:" not in message, message


# ---- exercise 4 -------------------------------------------------------------------

def average_stub(X, y, W, batch_size, batch_gradient):
    ...


def average_over_all_batches(X, y, W, batch_size, batch_gradient):   # the worked solution
    every_batch = [list(rows) for rows in itertools.combinations(range(len(X)), batch_size)]
    gradients = [batch_gradient(X[rows], y[rows], W) for rows in every_batch]
    return np.mean(gradients, axis=0)


def full_gradient_directly(X, y, W, batch_size, batch_gradient):   # the issue-19 shortcut
    return X.T @ (X @ W - y) / len(X)


def enumerates_but_returns_the_full_gradient(X, y, W, batch_size, batch_gradient):
    for rows in itertools.combinations(range(len(X)), batch_size):
        batch_gradient(X[list(rows)], y[list(rows)], W)
    return X.T @ (X @ W - y) / len(X)


def sum_of_batch_gradients(X, y, W, batch_size, batch_gradient):
    return np.sum([batch_gradient(X[list(r)], y[list(r)], W)
                   for r in itertools.combinations(range(len(X)), batch_size)], axis=0)


def tuple_index(X, y, W, batch_size, batch_gradient):
    return np.mean([batch_gradient(X[r], y[r], W)
                    for r in itertools.combinations(range(len(X)), batch_size)], axis=0)


def consecutive_batches(X, y, W, batch_size, batch_gradient):     # one epoch, not every batch
    return np.mean([batch_gradient(X[i:i + batch_size], y[i:i + batch_size], W)
                    for i in range(0, len(X), batch_size)], axis=0)


def every_batch_twice(X, y, W, batch_size, batch_gradient):
    grads = [batch_gradient(X[list(r)], y[list(r)], W)
             for r in itertools.permutations(range(len(X)), batch_size)]
    return np.mean(grads, axis=0)


def random_batches(X, y, W, batch_size, batch_gradient):          # 1.7's sampling, not exact
    rng = np.random.default_rng(0)
    rows = [rng.choice(len(X), size=batch_size, replace=False) for _ in range(20)]
    return np.mean([batch_gradient(X[r], y[r], W) for r in rows], axis=0)


def repeated_rows(X, y, W, batch_size, batch_gradient):   # the review's slip
    return np.mean([batch_gradient(X[list(r)], y[list(r)], W) for r in
                    itertools.combinations_with_replacement(range(len(X)), batch_size)], axis=0)


def ordered_pairs_with_repeats(X, y, W, batch_size, batch_gradient):
    return np.mean([batch_gradient(X[list(r)], y[list(r)], W) for r in
                    itertools.product(range(len(X)), repeat=batch_size)], axis=0)


def test_ex4_stub_solution():
    assert ex.check_4(average_stub).status == "todo"
    assert ex.check_4(average_over_all_batches).status == "correct"


@pytest.mark.parametrize("wrong, words", [
    (full_gradient_directly, "never called"),
    (enumerates_but_returns_the_full_gradient, "not the mean of what it returned"),
    (sum_of_batch_gradients, "times the full gradient"),
    (tuple_index, "X[list(rows)]"),
    (consecutive_batches, "batch_size = 2"),
    (every_batch_twice, "times; each possible batch should count once"),
    (random_batches, "count once"),
    (repeated_rows, "combinations_with_replacement"),
    (ordered_pairs_with_repeats, "repeats row"),
    (lambda X, y, W, b, g: g(X[list(range(b))], y[:b], W), "possible batches were never used"),
])
def test_ex4_rejects(wrong, words):
    verdict = ex.check_4(wrong)
    assert verdict.status == "wrong" and words in verdict.message, verdict.message


def test_a_learner_exception_is_a_verdict():
    def broken(X, y, W, batch_size, batch_gradient):
        return X @ np.ones((7, 7))
    verdict = ex.check_4(broken)
    assert verdict.status == "wrong" and "ValueError" in verdict.message
