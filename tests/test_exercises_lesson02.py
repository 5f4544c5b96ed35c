"""Lesson 02's exercise checkers: the stub is "todo", the worked solution "correct",
plausible wrong answers (a hinge run where the logistic loss was asked, a central difference
with too large an eps, among others) "wrong" with a message that names the mistake."""
import math
import random

import pytest
from exercise_support import stub

from helpers.data import make_moons
from helpers.engine import Value, vsum
from helpers.exercises import lesson02 as ex
from helpers.nn import MLP

# ---- Exercise 1: counting parameters

def count_parameters(nin, nouts):                  # the worked solution
    sizes = [nin] + list(nouts)
    total = 0
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        total += (fan_in + 1) * fan_out            # fan_in weights and one bias per neuron
    return total


def test_1_stub_and_solution():
    assert ex.check_1(stub).status == "todo"
    assert ex.check_1(count_parameters).ok


def test_1_wrong():
    def no_bias(nin, nouts):
        sizes = [nin] + list(nouts)
        return sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))

    def bias_per_layer(nin, nouts):
        return no_bias(nin, nouts) + len(nouts)

    def off_by_one(nin, nouts):                    # skips the first layer
        sizes = [nin] + list(nouts)
        return sum((sizes[i] + 1) * sizes[i + 1] for i in range(1, len(nouts)))

    def biases_for_the_inputs_too(nin, nouts):     # sum(sizes) biases, inputs included
        sizes = [nin] + list(nouts)
        return no_bias(nin, nouts) + sum(sizes)

    for wrong, words in [(no_bias, "biases are missing"),
                         (bias_per_layer, "one bias per layer"),
                         (off_by_one, "the first layer is missing"),
                         (biases_for_the_inputs_too, "the inputs are not neurons"),
                         (lambda nin, nouts: "337", "an int")]:
        verdict = ex.check_1(wrong)
        assert verdict.status == "wrong" and words in verdict.message, verdict


# ---- Exercise 2: a numerical gradient check

def numerical_derivative(loss_value, p, eps=1e-6):   # the worked solution
    original = p.data
    p.data = original + eps
    up = loss_value()
    p.data = original - eps
    down = loss_value()
    p.data = original                              # leave the model as it was
    return (up - down) / (2 * eps)


def test_2_stub_and_solution():
    assert ex.check_2(stub).status == "todo"
    assert ex.check_2(numerical_derivative).ok


def test_2_wrong():
    def forward_difference(loss_value, p, eps=1e-6):
        original = p.data
        base = loss_value()
        p.data = original + eps
        up = loss_value()
        p.data = original
        return (up - base) / eps

    def no_restore(loss_value, p, eps=1e-6):
        original = p.data
        p.data = original + eps
        up = loss_value()
        p.data = original - eps
        down = loss_value()
        return (up - down) / (2 * eps)

    def half_step(loss_value, p, eps=1e-6):         # divides by eps, not 2 eps
        return 2 * numerical_derivative(loss_value, p, eps)

    def central_eps_too_large(loss_value, p, eps=1e-2):   # review round 2: not "forward"
        return numerical_derivative(loss_value, p, eps)

    def central_eps_too_small(loss_value, p, eps=1e-11):
        return numerical_derivative(loss_value, p, eps)

    def backward_difference(loss_value, p, eps=1e-6):
        original = p.data
        base = loss_value()
        p.data = original - eps
        down = loss_value()
        p.data = original
        return (base - down) / eps

    for wrong, words in [(forward_difference, "one-sided (forward) difference with eps = 1e-06"),
                         (central_eps_too_large, "central difference with eps = 0.01, too large"),
                         (central_eps_too_small, "too small: rounding error"),
                         (backward_difference, "one-sided (backward)"),
                         (no_restore, "changed the parameter"),
                         (half_step, "twice too large"),
                         (lambda loss_value, p, eps=1e-6: [0.0], "a float")]:
        verdict = ex.check_2(wrong)
        assert verdict.status == "wrong" and words in verdict.message, verdict


def test_2_forward_difference_with_a_tiny_eps_shows_the_difference():
    """Issue 19: eps = 1e-8 used to get 'got -0.708862, expected -0.708862'."""
    def forward_tiny(loss_value, p, eps=1e-8):
        original = p.data
        base = loss_value()
        p.data = original + eps
        up = loss_value()
        p.data = original
        return (up - base) / eps

    verdict = ex.check_2(forward_tiny)
    assert verdict.status == "wrong" and "relative error" in verdict.message, verdict
    assert "too small: rounding error" in verdict.message, verdict   # not "truncation"
    got, expected = (float(w) for w in verdict.message.split(" is ")[1].replace(
        ", backprop says", "").split(" (")[0].split())
    assert got != expected and f"{got:.6g}" == f"{expected:.6g}"   # 6 digits would hide it


# ---- Exercise 3: the logistic loss

def logistic_loss(scores, labels):                 # the worked solution
    losses = [(1 + (-y * s).exp()).log() for s, y in zip(scores, labels)]
    return vsum(losses) / len(losses)


def logistic_grad(s, y):                           # the worked solution
    return -y / (1 + math.exp(y * s))


def test_3_stub_and_solution():
    assert ex.check_3(stub, stub).status == "todo"
    assert ex.check_3(logistic_loss, stub).status == "todo"
    assert ex.check_3(logistic_loss, logistic_grad).ok


def test_3_wrong():
    def summed(scores, labels):
        return vsum((1 + (-y * s).exp()).log() for s, y in zip(scores, labels))

    def sign_error(scores, labels):
        return vsum((1 + (y * s).exp()).log() for s, y in zip(scores, labels)) / len(scores)

    def hinge(scores, labels):
        return vsum((1 - y * s).relu() for s, y in zip(scores, labels)) / len(scores)

    def a_float(scores, labels):
        return logistic_loss(scores, labels).data

    for wrong, words in [(summed, "the sum; expected the mean"), (sign_error, "expected"),
                         (hinge, "expected"), (a_float, "should return a Value")]:
        verdict = ex.check_3(wrong, logistic_grad)
        assert verdict.status == "wrong" and words in verdict.message, verdict


def test_3_wrong_derivatives():
    def sign_flipped(s, y):
        return y / (1 + math.exp(y * s))

    def no_chain_factor(s, y):
        return -1 / (1 + math.exp(y * s))

    def wrong_exponent(s, y):
        return -y / (1 + math.exp(-y * s))

    def forgot_the_log(s, y):
        return -y * math.exp(-y * s)

    def by_autograd(s, y):
        from helpers.engine import Value
        v = Value(s)
        (1 + (-y * v).exp()).log().backward()
        return Value(v.grad)

    for wrong, words in [(sign_flipped, "sign is flipped"), (no_chain_factor, "factor y"),
                         (wrong_exponent, "sigmoid(-y s)"), (forgot_the_log, "ln(u) is 1/u"),
                         (by_autograd, "called backward()")]:
        verdict = ex.check_3(logistic_loss, wrong)
        assert verdict.status == "wrong" and words in verdict.message, (wrong, verdict)


def test_3_a_near_miss_shows_digits_that_differ_and_the_relative_error():
    def eps_in_the_log(scores, labels):             # a "safety" epsilon: off by ~1e-7
        return vsum((1 + (-y * s).exp() + 1e-7).log() for s, y in zip(scores, labels)) / len(scores)

    verdict = ex.check_3(eps_in_the_log, logistic_grad)
    assert verdict.status == "wrong" and "relative error" in verdict.message, verdict
    got, expected = verdict.message.split(" is ")[1].split(" (")[0].split(", expected ")
    assert got != expected and f"{float(got):.6g}" == f"{float(expected):.6g}", verdict


# ---- Exercise 4 (predict, then measure): sum p^2 under the logistic loss, alpha = 0

X, y01 = make_moons(n_samples=100, noise=0.1, seed=0)
X_list, y_list = X.tolist(), (2.0 * y01 - 1.0).tolist()
ALPHA = 1e-4


def sum_sq_run(data_loss, alpha=0.0, seed=1337, steps=100, before=False):
    """Exercise 4's experiment, or a slip of it: sum p^2 after (or before) each step."""
    random.seed(seed)
    model = MLP(2, [16, 16, 1], activation="relu")
    record = []
    for k in range(steps):
        if before:
            record.append(sum(p.data ** 2 for p in model.parameters()))
        loss = data_loss([model(x) for x in X_list], y_list)
        if alpha:
            loss = loss + alpha * vsum(p * p for p in model.parameters())
        model.zero_grad()
        loss.backward()
        for p in model.parameters():
            p.data -= (1.0 - 0.9 * k / 100) * p.grad
        if not before:
            record.append(sum(p.data ** 2 for p in model.parameters()))
    return record


def hinge_loss(scores, labels):
    return vsum((1 - y * s).relu() for s, y in zip(scores, labels)) / len(scores)


@pytest.fixture(scope="module")
def measured():
    return sum_sq_run(logistic_loss)


def test_4_stub_and_solution(measured):
    assert ex.check_4(..., None).status == "todo"
    assert ex.check_4("grows", None).status == "todo"
    verdict = ex.check_4("grows", measured)
    assert verdict.ok and "it grows; your prediction 'grows' held" in verdict.message, verdict
    assert measured[99] > measured[79] > 0


def test_4_an_honest_wrong_prediction_passes_and_says_so(measured):
    verdict = ex.check_4("freezes", measured)
    assert verdict.ok and "did not hold" in verdict.message and "never exactly 0" in \
        verdict.message, verdict
    assert ex.check_4(" Shrinks ", measured).ok


def test_4_an_invalid_prediction_is_wrong(measured):
    verdict = ex.check_4("up", measured)
    assert verdict.status == "wrong" and "should be one of" in verdict.message, verdict


def test_4_wrong_measurements(measured):
    norms = [math.sqrt(v) for v in measured]
    for wrong, words in [
        (sum_sq_run(logistic_loss, before=True), "taken before its step"),
        (norms, "sqrt(sum p^2)"),
        (sum_sq_run(hinge_loss), "that is the hinge loss"),
        (sum_sq_run(logistic_loss, alpha=ALPHA), "trained with the L2 penalty"),
        (sum_sq_run(logistic_loss, seed=0), "check the seed"),
        (measured[:30], "holds 30 values: train for 100 steps"),
        (measured[:99], "holds 99 values"),
        (["a"] * 100, "a list of numbers"),
    ]:
        verdict = ex.check_4("grows", wrong)
        assert verdict.status == "wrong" and words in verdict.message, (words, verdict)
        assert "relative error" in verdict.message or "values" in verdict.message or \
            "numbers" in verdict.message, verdict


def test_4_weights_without_the_biases_are_named(measured):
    random.seed(1337)
    model = MLP(2, [16, 16, 1], activation="relu")
    weights = [w for layer in model.layers for n in layer.neurons for w in n.w]
    record = []
    for k in range(100):
        loss = logistic_loss([model(x) for x in X_list], y_list)
        model.zero_grad()
        loss.backward()
        for p in model.parameters():
            p.data -= (1.0 - 0.9 * k / 100) * p.grad
        record.append(sum(w.data ** 2 for w in weights))
    verdict = ex.check_4("grows", record)
    assert verdict.status == "wrong" and "biases are left out" in verdict.message, verdict


# ---- Exercise 5 (debug): the planted training step

def train_step(model, X, Y, lr):                   # the worked solution
    scores = [model(x) for x in X]
    data_loss = vsum((1 - y * s).relu() for s, y in zip(scores, Y)) / len(scores)
    loss = data_loss + ALPHA * vsum(p * p for p in model.parameters())
    loss.backward()
    for param in model.parameters():
        param.data -= lr * param.grad
    model.zero_grad()
    return loss.data


def test_5_planted_is_todo_and_solution_correct():
    assert ex.check_5(ex.planted_train_step).status == "todo"
    assert ex.check_5(stub).status == "todo"
    assert ex.check_5(train_step).ok


def test_5_wrong():
    def only_sign_fixed(model, X, Y, lr):
        scores = [model(x) for x in X]
        loss = vsum((1 - s).relu() for s in scores) / len(scores)
        loss = loss + ALPHA * vsum(p * p for p in model.parameters())
        loss.backward()
        for p in model.parameters():
            p.data -= lr * p.grad
        model.zero_grad()
        return loss.data

    def only_margin_fixed(model, X, Y, lr):
        scores = [model(x) for x in X]
        loss = vsum((1 - y * s).relu() for s, y in zip(scores, Y)) / len(scores)
        loss = loss + ALPHA * vsum(p * p for p in model.parameters())
        loss.backward()
        for p in model.parameters():
            p.data += lr * p.grad
        model.zero_grad()
        return loss.data

    def no_zero_grad(model, X, Y, lr):
        scores = [model(x) for x in X]
        loss = vsum((1 - y * s).relu() for s, y in zip(scores, Y)) / len(scores)
        loss = loss + ALPHA * vsum(p * p for p in model.parameters())
        loss.backward()
        for p in model.parameters():
            p.data -= lr * p.grad
        return loss.data

    def no_penalty(model, X, Y, lr):
        scores = [model(x) for x in X]
        loss = vsum((1 - y * s).relu() for s, y in zip(scores, Y)) / len(scores)
        loss.backward()
        for p in model.parameters():
            p.data -= lr * p.grad
        model.zero_grad()
        return loss.data

    def returns_value(model, X, Y, lr):
        train_step(model, X, Y, lr)
        return Value(0.0)

    for wrong, words in [(only_sign_fixed, "y * s, not s"), (only_margin_fixed, "uphill"),
                         (no_zero_grad, "never reset"), (no_penalty, "L2 penalty"),
                         (returns_value, "as a float")]:
        verdict = ex.check_5(wrong)
        assert verdict.status == "wrong" and words in verdict.message, (wrong, verdict)


def test_5_the_planted_step_makes_the_loss_go_up_as_the_task_says():
    random.seed(1337)
    model = MLP(2, [16, 16, 1], activation="relu")
    losses = [ex.planted_train_step(model, X_list, y_list, 1.0 - 0.9 * k / 100) for k in range(5)]
    assert all(b > a for a, b in zip(losses, losses[1:])), losses


# ---- Review round 3: more named slips

def test_1_an_extra_input_bias_is_named():
    verdict = ex.check_1(lambda nin, nouts: count_parameters(nin, nouts) + 1)
    assert verdict.status == "wrong" and "338" in verdict.message, verdict
    assert "an extra bias" in verdict.message, verdict


def test_2_a_far_too_small_eps_is_named():
    def central_1e13(loss_value, p, eps=1e-13):
        return numerical_derivative(loss_value, p, eps)

    verdict = ex.check_2(central_1e13)
    assert verdict.status == "wrong" and "eps far below 1e-6" in verdict.message, verdict
    assert "rounding" in verdict.message, verdict


def test_3_a_loss_that_ignores_the_labels_is_named():
    def no_labels(scores, labels):
        return vsum((1 + (-s).exp()).log() for s in scores) / len(scores)

    verdict = ex.check_3(no_labels, logistic_grad)
    assert verdict.status == "wrong" and "labels are ignored" in verdict.message, verdict


def test_3_a_derivative_by_backward_is_rejected():
    def by_backward(s, y):
        v = Value(s)
        (1 + (-y * v).exp()).log().backward()
        return float(v.grad)                        # a float, but from autograd

    verdict = ex.check_3(logistic_loss, by_backward)
    assert verdict.status == "wrong" and "called backward()" in verdict.message, verdict
    v = Value(2.0)
    (v * v).backward()                              # backward is restored afterwards
    assert v.grad == 4.0


def test_4_sum_of_absolute_values_is_named():
    random.seed(1337)
    model = MLP(2, [16, 16, 1], activation="relu")
    record = []
    for k in range(100):
        loss = logistic_loss([model(x) for x in X_list], y_list)
        model.zero_grad()
        loss.backward()
        for p in model.parameters():
            p.data -= (1.0 - 0.9 * k / 100) * p.grad
        record.append(sum(abs(p.data) for p in model.parameters()))
    verdict = ex.check_4("grows", record)
    assert verdict.status == "wrong" and "sum |p|" in verdict.message, verdict


def test_5_a_hinge_with_the_wrong_sign_is_named():
    def plus_margin(model, X, Y, lr):
        scores = [model(x) for x in X]
        loss = vsum((1 + y * s).relu() for s, y in zip(scores, Y)) / len(scores)
        loss = loss + ALPHA * vsum(p * p for p in model.parameters())
        loss.backward()
        for p in model.parameters():
            p.data -= lr * p.grad
        model.zero_grad()
        return loss.data

    verdict = ex.check_5(plus_margin)
    assert verdict.status == "wrong" and "relu(1 + y s)" in verdict.message, verdict
