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

def backward_tanh_stub(params, cache, y):
    raise NotImplementedError


def backward_tanh(params, cache, y):  # the notebook's worked solution
    delta2 = (cache["z2"] - y) / len(y)
    grads = {"W2": cache["a1"].T @ delta2, "b2": delta2.sum(axis=0)}
    delta1 = (delta2 @ params["W2"].T) * (1 - cache["a1"] ** 2)
    grads["W1"] = cache["x"].T @ delta1
    grads["b1"] = delta1.sum(axis=0)
    return grads


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


def test_ex1_stub_solution():
    assert ex.check_1(backward_tanh_stub).status == "todo"
    assert ex.check_1(backward_tanh).status == "correct"


@pytest.mark.parametrize("wrong, words", [
    (backward_sigmoid_slope, "sigmoid"),
    (backward_no_mean, "divide by n"),
    (backward_bias_not_summed, "shape"),
    (backward_z_instead_of_a, "finite differences"),
    (lambda p, c, y: [1, 2, 3], "dict"),
    (lambda p, c, y: {"W1": "a", "b1": "a", "W2": "a", "b2": "a"}, "array of numbers"),
    (lambda p, c, y: {"W1": 0}, "no gradient for"),
])
def test_ex1_rejects(wrong, words):
    verdict = ex.check_1(wrong)
    assert verdict.status == "wrong" and words in verdict.message, verdict.message


# ---- exercise 2 -------------------------------------------------------------------

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


def test_ex2_stub_solution():
    assert ex.check_2(l2_stub).status == "todo"
    assert ex.check_2(loss_and_grad_l2).status == "correct"


@pytest.mark.parametrize("wrong, words", [
    (l2_bias_penalised, "bias"),
    (l2_double_gradient, "not 2 * lambda"),
    (l2_no_half, "lambda/2"),
    (l2_gradient_forgotten, "missing from the gradient"),
    (lambda X, y, W, lam: 3.0, "pair"),
    (lambda X, y, W, lam: (loss_and_grad_l2(X, y, W, lam)[0], np.zeros(len(W))), "shape"),
    (lambda X, y, W, lam: ("loss", W), "array of numbers"),
])
def test_ex2_rejects(wrong, words):
    verdict = ex.check_2(wrong)
    assert verdict.status == "wrong" and words in verdict.message, verdict.message


# ---- exercise 3 -------------------------------------------------------------------

def average_stub(X, y, W, batch_size):
    ...


def average_over_all_batches(X, y, W, batch_size):   # the notebook's worked solution
    gradients = []
    for rows in itertools.combinations(range(len(X)), batch_size):
        rows = list(rows)
        gradients.append(loss_and_grad(X[rows], y[rows], W)[1])
    return np.mean(gradients, axis=0)


def average_of_sums(X, y, W, batch_size):            # summed batch gradients
    gradients = []
    for rows in itertools.combinations(range(len(X)), batch_size):
        rows = list(rows)
        gradients.append(X[rows].T @ (X[rows] @ W - y[rows]))
    return np.mean(gradients, axis=0)


def average_divided_by_n(X, y, W, batch_size):
    gradients = []
    for rows in itertools.combinations(range(len(X)), batch_size):
        rows = list(rows)
        gradients.append(X[rows].T @ (X[rows] @ W - y[rows]) / len(X))
    return np.mean(gradients, axis=0)


def average_of_consecutive_batches(X, y, W, batch_size):   # one epoch, unweighted
    gradients = [loss_and_grad(X[i:i + batch_size], y[i:i + batch_size], W)[1]
                 for i in range(0, len(X), batch_size)]
    return np.mean(gradients, axis=0)


def test_ex3_stub_solution():
    assert ex.check_3(average_stub).status == "todo"
    assert ex.check_3(average_over_all_batches).status == "correct"


@pytest.mark.parametrize("wrong, words", [
    (average_of_sums, "not a sum"),
    (average_divided_by_n, "its own size"),
    (average_of_consecutive_batches, "every combination"),
    (lambda X, y, W, b: np.zeros(len(W)), "shape"),
    (lambda X, y, W, b: "gradient", "shape"),
])
def test_ex3_rejects(wrong, words):
    verdict = ex.check_3(wrong)
    assert verdict.status == "wrong" and words in verdict.message, verdict.message


def test_a_learner_exception_is_a_verdict():
    def broken(X, y, W, batch_size):
        return X @ np.ones((7, 7))
    verdict = ex.check_3(broken)
    assert verdict.status == "wrong" and "ValueError" in verdict.message
