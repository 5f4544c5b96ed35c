"""Checkers for lesson 05's exercises (the MLP language model).

1. *derive*: ``cross_entropy_grad(logits, targets)``, the gradient of the mean cross-entropy
   with respect to the logits, worked out by hand and compared with autograd;
2. *debug*: ``init_params(vocab_size, block_size, n_embd, n_hidden, generator)``, the model's
   initialisation, fixed from :func:`buggy_init_params` (four planted bugs);
3. *predict*: which ``block_size`` of 3, 8 and 32 trains to the lowest validation loss in
   1,500 steps; ``check_3(prediction, measured)`` checks the measurement, then reports whether
   the prediction held (✅ either way, as the house's predict exercises do).
"""
from __future__ import annotations

import math

import torch
from torch.nn import functional as F

from . import (
    NotAttempted,
    Wrong,
    attempted,
    autograd_refused,
    checker,
    expect_shape,
    expect_true,
    run,
)

__all__ = ["buggy_init_params", "first_loss_and_saturation", "PREDICT_BLOCK_SIZES",
           "check_1", "check_2", "check_3"]


def _as_tensor(value: object, what: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise Wrong(f"{what} should be a torch.Tensor, got {type(value).__name__}")
    return value.detach()


def _rel(got: torch.Tensor, expected: torch.Tensor) -> float:
    return ((got - expected).norm() / expected.norm()).item()


# --- 1. the gradient of the cross-entropy (derive) ---------------------------

AUTOGRAD_REFUSED = ("cross_entropy_grad calls autograd (backward or torch.autograd.grad); "
                    "compute the gradient from your formula instead")


@checker(1)
def check_1(cross_entropy_grad) -> str:
    """``cross_entropy_grad(logits, targets)``: d(mean cross-entropy)/d(logits), (B, V)."""
    gen = torch.Generator().manual_seed(11)
    for B, V in ((5, 7), (3, 65)):
        logits = torch.randn(B, V, generator=gen, dtype=torch.float64) * 2
        targets = torch.randint(0, V, (B,), generator=gen)
        given = logits.clone()
        with autograd_refused(AUTOGRAD_REFUSED):
            got = _as_tensor(run(cross_entropy_grad, given, targets.clone()),
                             "cross_entropy_grad(logits, targets)")
        expect_true(torch.equal(given, logits),
                    "cross_entropy_grad changed the logits it was given; compute a new tensor")
        expect_shape(got, (B, V), f"the gradient for {B} examples and {V} classes")
        got = got.double()
        z = logits.clone().requires_grad_()
        F.cross_entropy(z, targets).backward()
        expected = z.grad
        if torch.allclose(got, expected, atol=1e-6, rtol=1e-4):
            continue
        probs, onehot = logits.softmax(dim=1), F.one_hot(targets, V).double()
        case = f"(B = {B}, V = {V}; relative error {_rel(got, expected):.3f})"
        mistakes = (
            ((probs - onehot), f"is B = {B} times too large: the loss is a mean over the "
                               "batch, so every example's gradient is divided by B"),
            ((onehot - probs) / B, "has the wrong sign: it is the gradient of +log p, "
                                   "the loss is -log p"),
            ((logits.softmax(dim=0) - onehot) / B, "uses a softmax over the batch (dim=0); "
                                                   "each example's probabilities are its own row"),
            (-onehot / B, "misses the softmax term: the log-sum-exp also depends on every "
                          "logit, and its derivative is the softmax"),
            (probs / B, "misses the -1 at the true class: differentiate z_y too"),
            ((probs - onehot) / V, f"is divided by V = {V}, the number of classes; the mean "
                                   f"is over the B = {B} examples"),
            ((logits.log_softmax(dim=1) - onehot) / B, "uses log-softmax where the softmax "
                                                       "belongs: d(log S)/dz_j = e^z_j / S = p_j"),
            ((probs - onehot.amax(dim=0, keepdim=True)) / B,
             "subtracts 1 from whole columns (p[:, y] -= 1): every example gets -1 at every "
             "batch target; subtract it only at (b, y_b), e.g. p[arange(B), y] -= 1"),
            (-(onehot / probs) / B, "is the gradient with respect to the probabilities, "
                                    "-1/p at the true class; carry on through the softmax"),
        )
        for candidate, message in mistakes:
            if torch.allclose(got, candidate, atol=1e-6, rtol=1e-4):
                raise Wrong(f"the gradient {message} {case}")
        i, j = divmod(int((got - expected).abs().argmax()), V)
        raise Wrong(f"the gradient differs from autograd's {case}, e.g. at example {i}, "
                    f"class {j}: {got[i, j].item():.6f} against {expected[i, j].item():.6f}")
    return "equals autograd's gradient: (softmax(z) - onehot(y)) / B"


# --- 2. the initialisation (debug) -------------------------------------------

def buggy_init_params(vocab_size: int, block_size: int, n_embd: int, n_hidden: int,
                      generator: torch.Generator) -> list[torch.Tensor]:
    """Exercise 2's initialisation, with planted bugs: [C, W1, b1, W2, b2]."""
    def linear(n_in, n_out, gain):
        W = torch.randn(n_in, n_out, generator=generator) * gain / n_out ** 0.5
        b = torch.randn(n_out, generator=generator) * gain / n_out ** 0.5
        return W, b
    C = torch.randn(vocab_size, n_embd)
    W1, b1 = linear(block_size * n_embd, n_hidden, 5 / 3)
    W2, b2 = linear(n_hidden, vocab_size, 5 / 3)
    return [C, W1, b1, W2, b2]


def _contexts(vocab_size: int, block_size: int, n: int = 2000) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(2024)
    return (torch.randint(0, vocab_size, (n, block_size), generator=gen),
            torch.randint(0, vocab_size, (n,), generator=gen))


def first_loss_and_saturation(params, block_size: int = 8) -> tuple[float, float]:
    """The first loss of the model ``params = [C, W1, b1, W2, b2]`` on 2,000 random contexts,
    and the share of its tanh units with ``|h| > 0.99``."""
    C, W1, b1, W2, b2 = (p.detach().float() for p in params)
    X, Y = _contexts(C.shape[0], block_size)
    h = torch.tanh(C[X].view(len(X), -1) @ W1 + b1)
    loss = F.cross_entropy(h @ W2 + b2, Y).item()
    return loss, (h.abs() > 0.99).float().mean().item()


def _kurtosis(t: torch.Tensor) -> float:
    t = t.double().flatten()
    z = (t - t.mean()) / t.std()
    return (z ** 4).mean().item()


_ALL_ZERO = {
    "W2": "W2 is all zeros: the first loss is ln 65, but no gradient flows back through a zero "
          "output layer (dℓ/dh = (dℓ/dz) W2ᵀ = 0), so W1 and C learn nothing on the first step; "
          "section 6 uses small random weights, N(0, 1) times 0.01",
    "W1": "W1 is all zeros: every hidden unit starts at tanh(b1) = 0, blind to the context; "
          "draw it from N(0, 1) and scale it by (5/3)/sqrt(fan_in)",
    "C": "C is all zeros: every character starts with the same embedding, so the model cannot "
         "tell the characters apart; draw it from N(0, 1)",
}


@checker(2)
def check_2(init_params) -> str:
    """``init_params(vocab_size, block_size, n_embd, n_hidden, generator)`` -> [C, W1, b1, W2, b2]
    as section 6 initialises the model, drawn from the given generator."""
    V, k, d, n_h = 65, 8, 24, 512
    params = run(init_params, V, k, d, n_h, torch.Generator().manual_seed(0))
    if not isinstance(params, (list, tuple)) or len(params) != 5:
        raise Wrong("init_params should return the list [C, W1, b1, W2, b2], "
                    f"got {type(params).__name__}")
    C, W1, b1, W2, b2 = (_as_tensor(p, name) for p, name in zip(params, "C W1 b1 W2 b2".split()))
    for t, shape, name in ((C, (V, d), "C"), (W1, (k * d, n_h), "W1"), (b1, (n_h,), "b1"),
                           (W2, (n_h, V), "W2"), (b2, (V,), "b2")):
        expect_shape(t, shape, name)
    for t, name in ((C, "C"), (W1, "W1"), (W2, "W2")):
        if bool((t == 0).all()):
            raise Wrong(_ALL_ZERO[name])
    again = run(init_params, V, k, d, n_h, torch.Generator().manual_seed(0))
    other = run(init_params, V, k, d, n_h, torch.Generator().manual_seed(1))
    for name, a, b, c in zip("C W1 b1 W2 b2".split(), params, again, other):
        expect_true(torch.equal(a, b), f"{name} differs between two calls with the same seeded "
                    "generator: draw every random tensor from the generator you are given")
        expect_true(name in ("b1", "b2") or not torch.equal(a, c),
                    f"{name} is the same for the seeds 0 and 1: draw it from the generator "
                    "you are given (not a fixed seed or generator of your own)")
    expect_true(bool((b2 == 0).all()),
                f"b2 should start at zero (yours has standard deviation "
                f"{b2.float().std().item():.3f}): a random output bias favours some "
                "characters before the model has seen any text")
    b1_std = b1.double().std().item()
    expect_true(b1_std < 0.02,   # a tiny random bias (std 0.01) is harmless, so accepted
                f"b1 has standard deviation {b1_std:.3f}: a bias sums no inputs, so no "
                "fan-in rule gives it a scale, and a random one shifts each unit by a fixed "
                "amount before the unit has read anything; start it at zero like section 6's")
    fan_in = k * d
    expected = (5 / 3) / math.sqrt(fan_in)
    std = W1.double().std().item()
    if abs(std / expected - 1) > 0.01:   # 98,304 draws: 0.2 % noise
        names = {(5 / 3) / math.sqrt(d): "(5/3)/sqrt(n_embd): the fan-in is block_size * n_embd, "
                                          "every input of the concatenation",
                 (5 / 3) / math.sqrt(n_h): "(5/3)/sqrt(n_hidden): divide by the fan-in, not the "
                                            "fan-out",
                 1 / math.sqrt(fan_in): "1/sqrt(fan_in): tanh's gain 5/3 is missing",
                 math.sqrt(2 / fan_in): "sqrt(2/fan_in): He et al.'s gain for ReLU, tanh's is 5/3",
                 1.0: "1: W1 is not scaled"}
        for value, name in names.items():
            if abs(std / value - 1) < 0.01:
                raise Wrong(f"W1 has standard deviation {std:.4f} = {name} "
                            f"(expected (5/3)/sqrt({fan_in}) = {expected:.4f})")
        raise Wrong(f"W1 has standard deviation {std:.4f}, expected (5/3)/sqrt({fan_in}) = "
                    f"{expected:.4f}")
    kurt = _kurtosis(W1)
    expect_true(abs(kurt - 3) < 0.2,
                f"W1 has the right standard deviation but not a Gaussian shape (kurtosis "
                f"{kurt:.2f}, a Gaussian's is 3.00, a uniform's 1.80): draw with torch.randn")
    expect_true(abs(C.double().std().item() - 1) < 0.1 and abs(_kurtosis(C) - 3) < 0.6,
                f"C should be N(0, 1) like section 6's embeddings, got standard deviation "
                f"{C.double().std().item():.3f}")
    w2 = W2.double().std().item()
    vocab = V
    if abs(w2 / 0.01 - 1) > 0.1:
        names = {1.0: "1: W2 is not scaled, so the first logits spread over about ±20 and the "
                      "first loss is far above ln 65",
                 1 / math.sqrt(n_h): "1/sqrt(n_hidden), a fan-in scaling like W1's",
                 (5 / 3) / math.sqrt(n_h): "(5/3)/sqrt(n_hidden), W1's tanh recipe; but no tanh "
                                           "follows the output layer",
                 (5 / 3) / math.sqrt(vocab): "(5/3)/sqrt(vocab_size): a tanh gain over the "
                                             "fan-out, but no tanh follows the output layer",
                 0.1: "0.1, ten times section 6's 0.01",
                 0.001: "0.001, ten times too small: the first loss is right, but the "
                        "gradient reaching W1 and C through W2 is ten times weaker"}
        loss, _ = first_loss_and_saturation(params, k)
        for value, name in names.items():
            if abs(w2 / value - 1) < 0.05:
                raise Wrong(f"W2 has standard deviation {w2:.4f} = {name}; section 6 shrinks "
                            f"it to 0.01 so that the first logits are almost equal (your first "
                            f"loss {loss:.3f}, ln {V} = {math.log(V):.3f})")
        raise Wrong(f"W2 has standard deviation {w2:.4f}; section 6 shrinks it to 0.01 so that "
                    f"the first logits are almost equal (your first loss {loss:.3f}, ln {V} = "
                    f"{math.log(V):.3f})")
    loss, saturated = first_loss_and_saturation(params, k)
    expect_true(abs(loss - math.log(V)) < 0.05,
                f"the first loss is {loss:.3f}, not ln {V} = {math.log(V):.3f}")
    return (f"first loss {loss:.3f} (ln {V} = {math.log(V):.3f}), {saturated:.0%} of the tanh "
            "units saturated, the same weights for the same seed")


# --- 3. block_size at a fixed budget (predict, then measure) -----------------

PREDICT_BLOCK_SIZES = (3, 8, 32)
# The recipe's validation losses (first 20,000 validation examples), measured on one Intel and
# on simulated AVX2 and SSE4 CPUs (spread < 0.003); a reviewer's seeds 0, 1, 2 gave 2.236, 2.233,
# 2.233 (block 3) and 2.279, 2.279, 2.309 (block 8). The tolerance stays below half the 0.043
# between blocks 3 and 8, and the ranking is checked on its own.
_REFERENCE = {3: 2.236, 8: 2.279, 32: 2.409}
_TOLERANCE = 0.02


@checker(3)
def check_3(prediction, measured) -> str:
    """``prediction``: the block size of 3, 8, 32 expected to reach the lowest validation loss
    after 1,500 steps; ``measured``: {block_size: validation loss} from the experiment."""
    if prediction is None or prediction is Ellipsis:
        raise NotAttempted
    if prediction not in PREDICT_BLOCK_SIZES:
        raise Wrong(f"prediction should be one of {PREDICT_BLOCK_SIZES}, the block size you "
                    f"expect to win, got {prediction!r}")
    attempted(measured)
    if not isinstance(measured, dict) or set(measured) != set(PREDICT_BLOCK_SIZES):
        raise Wrong("measured should be a dict {3: loss, 8: loss, 32: loss}, got "
                    f"{measured if not isinstance(measured, dict) else sorted(measured)!r}")
    losses = {}
    for b in PREDICT_BLOCK_SIZES:
        try:
            losses[b] = float(measured[b])
        except (TypeError, ValueError):
            raise Wrong(f"measured[{b}] should be a number, got "
                        f"{type(measured[b]).__name__}") from None
    ranked = sorted(PREDICT_BLOCK_SIZES, key=losses.get)
    near = [b for b in PREDICT_BLOCK_SIZES if abs(losses[b] - _REFERENCE[b]) <= 0.04]
    if ranked != [3, 8, 32] and len(near) < 3:
        for a in PREDICT_BLOCK_SIZES:
            for b in PREDICT_BLOCK_SIZES:
                if a < b and abs(losses[a] - _REFERENCE[b]) <= 0.04 and \
                        abs(losses[b] - _REFERENCE[a]) <= 0.04:
                    raise Wrong(f"measured[{a}] = {losses[a]:.3f} and measured[{b}] = "
                                f"{losses[b]:.3f} look swapped: the recipe gives {a}: about "
                                f"{_REFERENCE[a]:.3f}, {b}: about {_REFERENCE[b]:.3f}; is each "
                                "loss stored under the block size it was trained with?")
    for b, loss in losses.items():
        ref = _REFERENCE[b]
        if not math.isfinite(loss) or abs(loss - ref) > _TOLERANCE:
            why = ("close to ln 65 = 4.174: was the model trained at all?"
                   if abs(loss - math.log(65)) < 0.3 else
                   "higher: fewer steps, a smaller learning rate or a smaller model than the "
                   "recipe?" if loss > ref else
                   "lower: a larger learning rate than 0.001 (3e-3 gives about 0.07 lower), "
                   "more steps, or a loss measured on training batches rather than the first "
                   "20,000 validation examples?")
            raise Wrong(f"block_size {b} measured {loss:.3f}, the recipe gives about {ref:.3f} "
                        f"(± {_TOLERANCE}); yours is {why}")
    best = min(losses, key=losses.get)
    table = ", ".join(f"{b}: ≈{losses[b]:.3f}" for b in PREDICT_BLOCK_SIZES)
    if prediction == best:
        return f"measured {table}: block_size {best} won; your prediction {prediction} held"
    why = ("more context means more of W1 to learn in the same 1,500 steps, and the last few "
           "characters already tell much of the next one" if prediction > best else
           "the longer window's extra weights paid for themselves within 1,500 steps")
    return (f"measured {table}: block_size {best} won; you predicted {prediction}, which did "
            f"not hold: it ended ≈{losses[prediction] - losses[best]:.3f} above block_size "
            f"{best} ({why})")
