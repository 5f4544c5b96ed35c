"""Checkers for lesson 02's exercises: parameter counts (derive), a numerical gradient
check (apply), the logistic loss and its derivative by hand (derive), an MLP trained with
it on the two moons (apply), and a training step with two planted bugs (debug).

Every reference is computed here (helpers.nn, PyTorch), never taken from the learner.
"""
from __future__ import annotations

import math
import random

from helpers.engine import Value, vsum
from helpers.exercises import (
    NotAttempted,
    Wrong,
    attempted,
    checker,
    expect_close,
    expect_equal,
    run,
    same_code,
)

__all__ = ["check_1", "check_2", "check_3", "check_4", "check_5", "planted_train_step",
           "held_out_moons", "ALPHA"]

ALPHA = 1e-4            # the lesson's L2 strength


def held_out_moons() -> tuple[list[list[float]], list[float]]:
    """200 fresh two-moons points (seed 1), never trained on: inputs and labels -1/+1."""
    from helpers.data import make_moons
    X, y01 = make_moons(n_samples=200, noise=0.1, seed=1)
    return X.tolist(), (2.0 * y01 - 1.0).tolist()


@checker(1)
def check_1(count_parameters):
    """``count_parameters(nin, nouts)``: the number of parameters of MLP(nin, nouts)."""
    from helpers.nn import MLP
    for nin, nouts in [(2, [16, 16, 1]), (3, [4, 4, 1]), (5, [7]), (1, [1, 1, 1]), (4, [3, 2])]:
        got = run(count_parameters, nin, list(nouts))
        if not isinstance(got, int) or isinstance(got, bool):
            raise Wrong(f"count_parameters({nin}, {nouts}) should be an int, got {got!r}")
        expected = len(MLP(nin, nouts, rng=random.Random(0)).parameters())
        if got != expected:
            sizes = [nin, *nouts]
            weights = sum(sizes[i] * sizes[i + 1] for i in range(len(nouts)))
            per_layer = weights + len(nouts)
            first_layer = (nin + 1) * nouts[0]
            hint = ""
            if got == weights:
                hint = " (the biases are missing: one per neuron)"
            elif got == per_layer:
                hint = (" (that is one bias per layer; each neuron has its own bias, so a layer "
                        "of n neurons has n biases)")
            elif got == expected - first_layer:
                hint = (f" (the first layer is missing: its {first_layer} parameters, "
                        f"({nin} + 1) x {nouts[0]}, connect the {nin} inputs to it)")
            elif got == expected + nin:
                hint = " (the inputs are not neurons: they have no bias of their own)"
            raise Wrong(f"count_parameters({nin}, {nouts}) is {got}, expected {expected}{hint}")


def _toy_setup(seed: int, index: int):
    from helpers.engine import vsum
    from helpers.nn import MLP
    xs = [[2.0, 3.0, -1.0], [3.0, -1.0, 0.5], [0.5, 1.0, 1.0], [1.0, 1.0, -1.0]]
    ys = [1.0, -1.0, -1.0, 1.0]
    model = MLP(3, [4, 4, 1], activation="tanh", rng=random.Random(seed))

    def loss_value() -> float:
        return vsum((model(x) - y) ** 2 for x, y in zip(xs, ys)).data

    loss = vsum((model(x) - y) ** 2 for x, y in zip(xs, ys))
    loss.backward()
    return loss_value, model.parameters()[index]


@checker(2)
def check_2(numerical_derivative):
    """``numerical_derivative(loss_value, p, eps=1e-6)``: the central difference of the
    float ``loss_value()`` with respect to parameter ``p``, leaving ``p.data`` unchanged."""
    for seed, index in [(3, 0), (5, 7), (11, 40)]:
        loss_value, p = _toy_setup(seed, index)
        before = p.data
        got = run(numerical_derivative, loss_value, p)
        if p.data != before:
            raise Wrong(f"numerical_derivative changed the parameter: p.data was {before!r}, "
                        f"now {p.data!r}; put the original value back when done")
        if not isinstance(got, (int, float)) or isinstance(got, bool):
            raise Wrong(f"numerical_derivative should return a float, got {type(got).__name__}")
        # The central difference agrees with backprop to ~1e-10 here; the forward difference
        # (f(p + eps) - f(p)) / eps only to ~1e-7 (eps = 1e-8) or ~1e-6 (eps = 1e-6), which
        # this tolerance rejects; the message shows the relative error, not 6 equal digits.
        expected = p.grad
        rel = abs(got - expected) / max(abs(expected), 1e-12)
        if rel > 1e-8 and abs(got - expected) > 1e-10:
            what = f"the derivative for parameter {index} (seed {seed})"
            hint = ""
            if math.isclose(got, 2 * expected, rel_tol=1e-4):
                hint = ": twice too large, the two points are 2 eps apart"
            elif math.isclose(got, expected / 2, rel_tol=1e-4):
                hint = ": half what it should be, divide by 2 eps, not 4 eps"
            elif rel < 1e-3:
                hint = (": close but not close enough, the error of a one-sided (forward) "
                        "difference (f(p + eps) - f(p)) / eps; the central difference cancels "
                        "the first error term")
            raise Wrong(f"{what} is {got:.12g}, backprop says {expected:.12g} "
                        f"(relative error {rel:.1e}, the goal is below 1e-8){hint}")
    return "the central difference agrees with backprop to 1e-8 relative"


def _torch_logistic(scores: list[float], labels: list[float]) -> tuple[float, list[float]]:
    import torch
    s = torch.tensor(scores, dtype=torch.float64, requires_grad=True)
    y = torch.tensor(labels, dtype=torch.float64)
    loss = torch.nn.functional.softplus(-y * s).mean()     # ln(1 + e^{-ys}), averaged
    loss.backward()
    return loss.item(), s.grad.tolist()


@checker(3)
def check_3(logistic_loss, logistic_grad):
    """``logistic_loss(scores, labels)``: mean of ln(1 + exp(-y*s)), a Value; and
    ``logistic_grad(s, y)``: d/ds ln(1 + exp(-y*s)) for one point, a float, by hand."""
    attempted(logistic_loss, logistic_grad)
    cases = [([0.0], [1.0]),
             ([2.0, -1.0, 0.5], [1.0, -1.0, -1.0]),
             ([-3.0, 1.5, 0.25, 4.0], [1.0, 1.0, -1.0, -1.0])]
    for raw_scores, labels in cases:
        scores = [Value(s) for s in raw_scores]
        got = run(logistic_loss, scores, list(labels))
        if not isinstance(got, Value):
            raise Wrong(f"logistic_loss should return a Value (to backpropagate through), "
                        f"got {type(got).__name__}")
        got.backward()
        expected, grads = _torch_logistic(raw_scores, labels)
        what = f"logistic_loss(scores={raw_scores}, labels={labels})"
        if len(raw_scores) > 1 and math.isclose(got.data, expected * len(raw_scores), rel_tol=1e-9):
            raise Wrong(f"{what} is {got.data:.6g}, the sum; expected the mean, {expected:.6g}")
        expect_close(got.data, expected, what, rtol=1e-9)
        expect_close([s.grad for s in scores], grads,
                     f"the gradients of {what} with respect to the scores", rtol=1e-9)
    _check_logistic_grad(logistic_grad)
    return "the loss and your derivative agree with PyTorch's autograd"


def _candidate_grads(s: float, y: float) -> list[float]:
    sig = 1 / (1 + math.exp(-y * s))                       # sigmoid(y s)
    return [y * (1 - sig), -(1 - sig), -y * sig, -y * math.exp(-y * s)]


_GRAD_MISTAKES = [
    "the sign is flipped: the loss falls as the margin y s grows, so its derivative has the "
    "sign of -y",
    "the factor y from the chain rule is missing (d(-y s)/ds = -y)",
    "that is -y sigmoid(y s); the right factor is sigmoid(-y s) = 1 / (1 + e^(y s)): check "
    "which exponent survives the simplification",
    "the derivative of ln(u) is 1/u: divide by 1 + e^(-y s)",
]


def _check_logistic_grad(logistic_grad) -> None:
    points = [(0.5, 1.0), (-2.0, 1.0), (1.5, -1.0), (0.0, -1.0), (3.0, 1.0)]
    got = []
    for s, y in points:
        value = run(logistic_grad, s, y)
        if isinstance(value, Value):
            raise Wrong("logistic_grad should return a float computed by your formula, "
                        "not a Value: the point is to derive it without backward()")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise Wrong(f"logistic_grad should return a float, got {type(value).__name__}")
        got.append(float(value))
    expected = [_torch_logistic([s], [y])[1][0] for s, y in points]
    wrong = [i for i, (g, e) in enumerate(zip(got, expected))
             if not math.isclose(g, e, rel_tol=1e-9, abs_tol=1e-12)]
    if not wrong:
        return
    hint = ""
    for k, why in enumerate(_GRAD_MISTAKES):
        if all(math.isclose(g, _candidate_grads(s, y)[k], rel_tol=1e-9, abs_tol=1e-12)
               for g, (s, y) in zip(got, points)):
            hint = f": {why}"
            break
    i = wrong[0]
    s, y = points[i]
    raise Wrong(f"logistic_grad({s}, {y}) is {got[i]:.10g}, autograd gives {expected[i]:.10g}"
                f"{hint}")


def _moons_train_set() -> tuple[list[list[float]], list[float]]:
    from helpers.data import make_moons
    X, y01 = make_moons(n_samples=100, noise=0.1, seed=0)
    return X.tolist(), (2.0 * y01 - 1.0).tolist()


def _logistic_value(scores, labels):
    return vsum((1 + (-y * s).exp()).log() for s, y in zip(scores, labels)) / len(scores)


def _hinge_value(scores, labels):
    return vsum((1 - y * s).relu() for s, y in zip(scores, labels)) / len(scores)


def _train_recipe(steps: int = 40, alpha: float = ALPHA, constant_lr: float | None = None,
                  data_loss=_logistic_value, start=None):
    """Exercise 4's recipe (or a variant of it): seed 1337, MLP(2, [16, 16, 1]), full batch,
    eta_k = 1 - 0.9 k / 100. ``start`` = (model, first k) continues a run."""
    from helpers.nn import MLP
    X, y = _moons_train_set()
    if start is None:
        random.seed(1337)
        model, first = MLP(2, [16, 16, 1], activation="relu"), 0
    else:
        model, first = start
    for k in range(first, steps):
        scores = [model(x) for x in X]
        loss = data_loss(scores, y) + alpha * vsum(p * p for p in model.parameters())
        model.zero_grad()
        loss.backward()
        lr = constant_lr if constant_lr is not None else 1.0 - 0.9 * k / 100
        for p in model.parameters():
            p.data -= lr * p.grad
    return model


_REFERENCE: dict = {}


def _reference_weights() -> list[float]:
    if "w" not in _REFERENCE:
        _REFERENCE["model"] = _train_recipe()
        _REFERENCE["w"] = [p.data for p in _REFERENCE["model"].parameters()]
    return _REFERENCE["w"]


def _distance(a: list[float], b: list[float]) -> float:
    """Relative distance between two weight vectors (0 = identical)."""
    num = math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b)))
    return num / max(math.sqrt(sum(y * y for y in b)), 1e-300)


def _logistic_on(model, X, y) -> tuple[float, float]:
    """(mean logistic loss, accuracy) of ``model``'s scores on points X with labels y."""
    loss, correct = 0.0, 0
    for x, label in zip(X, y):
        score = run(model, x)
        if isinstance(score, list) and len(score) == 1:
            score = score[0]
        if not isinstance(score, Value):
            raise Wrong("model_log(x) should return one Value (a score), "
                        f"got {type(score).__name__}")
        margin = label * score.data
        loss += math.log1p(math.exp(-margin)) if margin > -30 else -margin
        correct += (score.data > 0) == (label > 0)
    return loss / len(X), correct / len(X)


@checker(4)
def check_4(model_log):
    """``model_log``: MLP(2, [16, 16, 1]) from random.seed(1337), trained 40 steps on the
    training moons with the logistic loss + ALPHA * sum p^2 and eta_k = 1 - 0.9 k / 100.
    Its weights must be the recipe's (each requirement changes them); held-out figures
    are reported."""
    attempted(model_log)
    if not callable(model_log) or not hasattr(model_log, "parameters"):
        raise Wrong(f"model_log should be an MLP, got {type(model_log).__name__}")
    expect_equal(len(model_log.parameters()), 337, "the number of parameters of model_log")
    got = [p.data for p in model_log.parameters()]
    reference = _reference_weights()
    gap = _distance(got, reference)
    if gap > 1e-6:
        variants = [
            ("no L2 penalty", lambda: _train_recipe(alpha=0.0),
             "it was trained without the L2 penalty: add ALPHA * sum of p * p to the loss"),
            ("100 steps", lambda: _train_recipe(steps=100, start=(
                _copy(_REFERENCE["model"]), 40)),
             "it was trained for 100 steps; the recipe asks for 40"),
            ("constant lr 1.0", lambda: _train_recipe(constant_lr=1.0),
             "it was trained with a constant learning rate; the recipe decays it, "
             "eta_k = 1 - 0.9 k / 100"),
            ("hinge loss", lambda: _train_recipe(data_loss=_hinge_value),
             "it was trained with the hinge loss; the exercise asks for logistic_loss"),
            ("untrained", lambda: _train_recipe(steps=0),
             "these are the initial weights: the model was not trained"),
        ]
        for name, make, why in variants:
            if name not in _REFERENCE:          # each variant is trained once per session
                _REFERENCE[name] = [p.data for p in make().parameters()]
            if _distance(got, _REFERENCE[name]) < 1e-6:
                raise Wrong(f"model_log's weights differ from the recipe's (relative distance "
                            f"{gap:.2e}): {why}")
        raise Wrong(f"model_log's weights differ from the recipe's (relative distance "
                    f"{gap:.2e}; a correct run is below 1e-6): check the seed (1337, just "
                    "before MLP(...)), the 40 steps, the schedule, the penalty and the loss")
    X, y = held_out_moons()
    loss, accuracy = _logistic_on(model_log, X, y)
    return f"the recipe's weights; held-out logistic loss {loss:.4f}, accuracy {accuracy:.1%}"


def _copy(model):
    from helpers.nn import MLP
    clone = MLP(2, [16, 16, 1], activation="relu", rng=random.Random(0))
    for p, q in zip(clone.parameters(), model.parameters()):
        p.data = q.data
    return clone


# ---- Exercise 5 (debug): a training step with two planted bugs

def planted_train_step(model, X, Y, lr):
    # A classmate's full-batch step on the moons: hinge loss + L2. The loss goes up.
    scores = [model(x) for x in X]
    data_loss = vsum((1 - s).relu() for s in scores) / len(scores)
    loss = data_loss + ALPHA * vsum(p * p for p in model.parameters())
    loss.backward()
    for p in model.parameters():
        p.data += lr * p.grad
    model.zero_grad()
    return loss.data


def _reference_step(model, X, Y, lr, *, margin=True, downhill=True, penalty=True, reset=True):
    scores = [model(x) for x in X]
    margins = [y * s for s, y in zip(scores, Y)] if margin else scores
    loss = vsum((1 - m).relu() for m in margins) / len(scores)
    if penalty:
        loss = loss + ALPHA * vsum(p * p for p in model.parameters())
    if reset:
        model.zero_grad()
    loss.backward()
    sign = -1.0 if downhill else 1.0
    for p in model.parameters():
        p.data += sign * lr * p.grad
    return loss.data


def _three_steps(step, seed: int, X, Y) -> tuple[list[float], list[float]]:
    from helpers.nn import MLP
    model = MLP(2, [16, 16, 1], activation="relu", rng=random.Random(seed))
    losses = []
    for _ in range(3):
        losses.append(step(model, X, Y, 0.5))
    return [p.data for p in model.parameters()], losses


@checker(5)
def check_5(train_step):
    """``train_step(model, X, Y, lr)``: one full-batch step of gradient descent on the mean
    hinge loss max(0, 1 - y s) + ALPHA * sum p^2; returns the loss before the step."""
    if same_code(train_step, planted_train_step):
        raise NotAttempted
    X, Y = _moons_train_set()
    for seed in (0, 1):
        got_w, got_losses = _three_steps(lambda *a: run(train_step, *a), seed, X, Y)
        if any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in got_losses):
            raise Wrong("train_step should return the loss as a float (loss.data)")
        ref_w, ref_losses = _three_steps(_reference_step, seed, X, Y)
        if _distance(got_w, ref_w) < 1e-9 and all(
                math.isclose(a, b, rel_tol=1e-9) for a, b in zip(got_losses, ref_losses)):
            continue
        variants = [
            (dict(margin=False), "the margin is y * s, not s: as written, every score is "
                                 "pushed up, whatever the point's class"),
            (dict(downhill=False), "the step goes uphill: move against the gradient, "
                                   "p.data -= lr * p.grad"),
            (dict(margin=False, downhill=False), "both planted bugs are still there"),
            (dict(penalty=False), "the L2 penalty is gone; keep ALPHA * sum of p * p"),
            (dict(reset=False), "the gradients are never reset, so each step adds the "
                                "previous steps' gradients (keep a zero_grad)"),
        ]
        for flags, why in variants:
            w, losses = _three_steps(lambda *a, f=flags: _reference_step(*a, **f), seed, X, Y)
            if _distance(got_w, w) < 1e-9:
                raise Wrong(f"after 3 steps the weights differ from a correct step's "
                            f"(relative distance {_distance(got_w, ref_w):.2e}): {why}")
        raise Wrong(f"after 3 steps (seed {seed}) the weights differ from a correct step's "
                    f"(relative distance {_distance(got_w, ref_w):.2e}); losses "
                    f"{[round(v, 6) for v in got_losses]}, expected "
                    f"{[round(v, 6) for v in ref_losses]}")
    return "both bugs fixed: the margin y s, and a step against the gradient"
