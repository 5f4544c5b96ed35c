"""Checkers for lesson 02's exercises: parameter counts (derive), a numerical gradient
check (apply), the logistic loss and its derivative by hand (derive), whether the weights
keep growing when the moons are trained with it and no penalty (predict, then measure), and a
training step with two planted bugs (debug).

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
    run,
    same_code,
)

__all__ = ["check_1", "check_2", "check_3", "check_4", "check_5", "planted_train_step",
           "ALPHA", "PREDICTIONS"]

ALPHA = 1e-4            # the lesson's L2 strength


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
            elif got == expected + 1:
                hint = (" (one too many: an extra bias, as if the input layer had one; the "
                        "inputs are not neurons, only neurons own a bias)")
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


# The usual choices of eps, the likeliest first (round powers of ten near the default).
_EPS_GRID = sorted((float(f"{m}e-{k}") for k in range(1, 15) for m in (1, 2, 5)),
                   key=lambda e: (f"{e:.0e}"[0] != "1", abs(math.log10(e) + 6)))


def _which_difference(loss_value, p, got: float, expected: float) -> str:
    """Name the finite difference (central / forward / backward, and its eps) that gives
    ``got``, if one of the usual choices does; '' if none explains it."""
    original = p.data

    def at(x: float) -> float:
        p.data = x
        return loss_value()

    base, candidates = at(original), []
    for eps in _EPS_GRID:
        up, down = at(original + eps), at(original - eps)
        for kind, value in [("central", (up - down) / (2 * eps)),
                            ("forward", (up - base) / eps), ("backward", (base - down) / eps)]:
            candidates.append((abs(value - got), kind, eps))
    p.data = original
    # the same formula reproduces the learner's number to rounding; with none, the closest
    exact = [c for c in candidates if c[0] <= 1e-12 * abs(got)]
    gap, kind, eps = exact[0] if exact else min(candidates)
    if not exact and (gap > 0.01 * abs(got - expected) or eps < 1e-7):
        return ""
    if eps <= 1e-8:
        return (f": that looks like eps far below 1e-6 (about {eps:.0e}), too small: rounding "
                "error in the two loss values, divided by so small a step, swamps the slope; "
                "use eps = 1e-6")
    if kind != "central":
        return (f": that is a one-sided ({kind}) difference with eps = {eps:g}; its error "
                "shrinks only like eps, while the central difference cancels that first "
                "error term")
    if eps > 1e-6:
        return (f": that is a central difference with eps = {eps:g}, too large: what is left "
                "is its truncation error (the eps^2 term of the Taylor series, which the "
                "difference does not cancel); it shrinks like eps^2, use eps = 1e-6")
    return ""


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
            else:
                hint = _which_difference(loss_value, p, got, expected)
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
        unlabelled = _torch_logistic(raw_scores, [1.0] * len(raw_scores))[0]
        if labels != [1.0] * len(labels) and math.isclose(got.data, unlabelled, rel_tol=1e-9):
            raise Wrong(f"{what} is {got.data:.6g}, expected {expected:.6g}: the labels are "
                        "ignored (that is ln(1 + e^(-s))); the margin is y s")
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


class _BackwardCalled(Exception):
    pass


def _no_backward(self, *args, **kwargs):
    raise _BackwardCalled


def _grad_without_backward(logistic_grad, s: float, y: float):
    """Call the learner's logistic_grad with Value.backward switched off."""
    saved = Value.backward
    Value.backward = _no_backward
    try:
        try:
            return run(logistic_grad, s, y)
        except Wrong as e:
            if "_BackwardCalled" in str(e):
                raise Wrong("logistic_grad called backward(): the exercise asks for a formula "
                            "you derive on paper, with no Value and no backward()") from None
            raise
    finally:
        Value.backward = saved


def _check_logistic_grad(logistic_grad) -> None:
    points = [(0.5, 1.0), (-2.0, 1.0), (1.5, -1.0), (0.0, -1.0), (3.0, 1.0)]
    got = []
    for s, y in points:
        value = _grad_without_backward(logistic_grad, s, y)
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


STEPS = 100
PREDICTIONS = ("grows", "freezes", "shrinks")
_RUNS: dict = {}


def _sum_sq_run(alpha: float = 0.0) -> dict:
    """Exercise 4's experiment: seed 1337, MLP(2, [16, 16, 1], relu), the logistic loss
    + alpha * sum p^2, eta_k = 1 - 0.9 k / 100, 100 full-batch steps; sum p^2 before the first
    step, after every step, and the same over the weights only (biases left out)."""
    if alpha not in _RUNS:
        from helpers.nn import MLP
        X, y = _moons_train_set()
        model = MLP(2, [16, 16, 1], activation="relu", rng=random.Random(1337))
        weights = [w for layer in model.layers for n in layer.neurons for w in n.w]
        start = sum(p.data ** 2 for p in model.parameters())
        after, weights_only, absolute = [], [], []
        for k in range(STEPS):
            loss = _logistic_value([model(x) for x in X], y)
            if alpha:
                loss = loss + alpha * vsum(p * p for p in model.parameters())
            model.zero_grad()
            loss.backward()
            for p in model.parameters():
                p.data -= (1.0 - 0.9 * k / 100) * p.grad
            after.append(sum(p.data ** 2 for p in model.parameters()))
            weights_only.append(sum(w.data ** 2 for w in weights))
            absolute.append(sum(abs(p.data) for p in model.parameters()))
        _RUNS[alpha] = {"start": start, "after": after, "weights": weights_only,
                        "abs": absolute}
    return _RUNS[alpha]


def _distance(a: list[float], b: list[float]) -> float:
    """Relative distance between two weight vectors (0 = identical)."""
    num = math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b)))
    return num / max(math.sqrt(sum(y * y for y in b)), 1e-300)


def _close(a: list[float], b: list[float]) -> bool:
    return all(math.isclose(x, y, rel_tol=1e-9) for x, y in zip(a, b))


def _outcome(values: list[float]) -> str:
    """What sum p^2 does from step 80 to step 100: grows, freezes or shrinks."""
    change = values[99] - values[79]
    if abs(change) <= 1e-9 * values[79]:
        return "freezes"
    return "grows" if change > 0 else "shrinks"


@checker(4)
def check_4(prediction, sum_sq_log):
    """``prediction``: "grows", "freezes" or "shrinks", what sum p^2 does from step 80 to step
    100 when the moons are trained with the logistic loss and alpha = 0; ``sum_sq_log``: the
    measured sum p^2 after each of the 100 steps. The measurement must be right; the
    prediction is compared with it, and an honest wrong prediction still passes."""
    attempted(prediction, sum_sq_log)
    if not isinstance(prediction, str) or prediction.strip().lower() not in PREDICTIONS:
        raise Wrong(f"prediction should be one of {', '.join(map(repr, PREDICTIONS))}, "
                    f"got {prediction!r}")
    prediction = prediction.strip().lower()
    try:
        got = [float(v.data if isinstance(v, Value) else v) for v in sum_sq_log]
    except (TypeError, ValueError):
        raise Wrong("sum_sq_log should be a list of numbers, one sum of squares per step, got "
                    f"{type(sum_sq_log).__name__}") from None
    if len(got) != STEPS:
        extra = (" (one too many: the value before the first step does not count)"
                 if len(got) == STEPS + 1 else "")
        raise Wrong(f"sum_sq_log holds {len(got)} values: train for {STEPS} steps and record "
                    f"sum p^2 once after each step{extra}")
    run0 = _sum_sq_run(0.0)
    want = run0["after"]
    if not _close(got, want):
        first = next(i for i, (a, b) in enumerate(zip(got, want))
                     if not math.isclose(a, b, rel_tol=1e-9))
        said = (f"sum_sq_log[{first}] (after step {first + 1}) is {got[first]:.8g}, expected "
                f"{want[first]:.8g} (relative error {abs(got[first] / want[first] - 1):.1e})")
        frozen = next((k for k in range(STEPS) if len(set(got[k:])) == 1), STEPS)
        if _close(got, [run0["start"], *want[:-1]]):
            why = ("each value was taken before its step; record sum p^2 after the update, "
                   "so the last value is the trained model's")
        elif _close(got, [math.sqrt(v) for v in want]):
            why = "that is the length sqrt(sum p^2) of the weights; the task asks for sum p^2"
        elif _close(got, run0["abs"]):
            why = ("that is sum |p|, the sum of absolute values; the task asks for the sum of "
                   "squares, sum p * p")
        elif _close(got, run0["weights"]):
            why = "the biases are left out; sum over every parameter, model.parameters()"
        elif frozen < STEPS - 5:
            why = (f"your values stop changing after step {frozen + 1}: that is the hinge "
                   "loss, whose gradient is 0 once every margin is at least 1; train with "
                   "logistic_loss")
        elif _close(got, _sum_sq_run(ALPHA)["after"]):
            why = ("it was trained with the L2 penalty; this experiment asks for alpha = 0, "
                   "the logistic loss alone")
        else:
            why = ("check the seed (1337, just before MLP(...)), the loss (logistic_loss, no "
                   "penalty) and the schedule eta_k = 1 - 0.9 k / 100, k = 0, ..., 99")
        raise Wrong(f"{said}: {why}")
    outcome = _outcome(want)
    measured = (f"measured sum p^2 {want[79]:.2f} after step 80, {want[99]:.2f} after step 100: "
                f"it {outcome}")
    if prediction == outcome:
        return f"{measured}; your prediction '{prediction}' held"
    return (f"{measured}; your prediction '{prediction}' did not hold: the logistic loss is "
            "never exactly 0, so every point keeps pulling its margin up, and growing the "
            "weights does that")


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
    if margin == "negated":
        margins = [-y * s for s, y in zip(scores, Y)]
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
            (dict(margin="negated"), "that computes relu(1 + y s), the margin with the wrong "
                                     "sign: the hinge is max(0, 1 - y s), so 1 - y * s"),
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
