"""Lesson 02's exercise checkers: the stub is "todo", the worked solution "correct",
plausible wrong answers (a hinge-trained model where the logistic loss was asked, among
others) "wrong" with a message that says what is wrong."""
import random

import pytest
from exercise_support import stub

from helpers.data import make_moons
from helpers.engine import vsum
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

    for wrong, words in [(no_bias, "biases are missing"), (bias_per_layer, "expected 337"),
                         (off_by_one, "expected 337"), (lambda nin, nouts: "337", "an int")]:
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

    for wrong, words in [(forward_difference, "the derivative for parameter"),
                         (no_restore, "changed the parameter"),
                         (half_step, "expected"),
                         (lambda loss_value, p, eps=1e-6: [0.0], "a float")]:
        verdict = ex.check_2(wrong)
        assert verdict.status == "wrong" and words in verdict.message, verdict


# ---- Exercise 3: the logistic loss

def logistic_loss(scores, labels):                 # the worked solution
    losses = [(1 + (-y * s).exp()).log() for s, y in zip(scores, labels)]
    return vsum(losses) / len(losses)


def test_3_stub_and_solution():
    assert ex.check_3(stub).status == "todo"
    assert ex.check_3(logistic_loss).ok


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
        verdict = ex.check_3(wrong)
        assert verdict.status == "wrong" and words in verdict.message, verdict


# ---- Exercise 4: a model trained with the logistic loss, judged on held-out points

X, y01 = make_moons(n_samples=100, noise=0.1, seed=0)
X_list, y_list = X.tolist(), (2.0 * y01 - 1.0).tolist()
ALPHA = 1e-4


def train(data_loss, steps=40):
    """The lesson's recipe: seed 1337, MLP(2, [16, 16, 1]), L2, decaying learning rate."""
    random.seed(1337)
    model = MLP(2, [16, 16, 1])
    for k in range(steps):
        scores = [model(x) for x in X_list]
        loss = data_loss(scores, y_list) + ALPHA * vsum(p * p for p in model.parameters())
        model.zero_grad()
        loss.backward()
        for p in model.parameters():
            p.data -= (1.0 - 0.9 * k / 100) * p.grad
    return model


def hinge_loss(scores, labels):
    return vsum((1 - y * s).relu() for s, y in zip(scores, labels)) / len(scores)


@pytest.fixture(scope="module")
def models():
    return {"logistic": train(logistic_loss), "hinge 40": train(hinge_loss),
            "hinge 100": train(hinge_loss, steps=100)}


def test_4_stub_and_solution(models):
    assert ex.check_4(None).status == "todo"
    verdict = ex.check_4(models["logistic"])
    assert verdict.ok and "held-out logistic loss 0.12" in verdict.message


def test_4_rejects_hinge_trained_and_untrained_models(models):
    for name in ("hinge 40", "hinge 100"):          # the lesson's own model is "hinge 100"
        verdict = ex.check_4(models[name])
        assert verdict.status == "wrong" and "trained with" in verdict.message, (name, verdict)
    random.seed(1337)
    verdict = ex.check_4(MLP(2, [16, 16, 1]))       # never trained
    assert verdict.status == "wrong" and "logistic loss" in verdict.message
    assert ex.check_4(MLP(2, [4, 1])).status == "wrong"          # another shape
    assert "should be an MLP" in ex.check_4(logistic_loss).message
