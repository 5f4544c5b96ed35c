"""Checkers for lesson 05's exercises (the MLP language model).

1. ``build_examples(ids, block_size)``: the (context -> target) pairs of a sequence;
2. ``mlp_logits(X, C, W1, b1, W2, b2)``: the model's forward pass written out;
3. ``tanh_layer_weight(fan_in, fan_out, generator)``: Kaiming initialisation for tanh.
"""
from __future__ import annotations

import math

import torch

from . import Wrong, checker, expect_close, expect_equal, expect_shape, expect_true, run

__all__ = ["check_1", "check_2", "check_3"]


def _reference_examples(ids: torch.Tensor, block_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    contexts = [ids[i:i + block_size].tolist() for i in range(len(ids) - block_size)]
    targets = [ids[i + block_size].item() for i in range(len(ids) - block_size)]
    return torch.tensor(contexts, dtype=torch.long), torch.tensor(targets, dtype=torch.long)


def _as_tensor(value: object, what: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise Wrong(f"{what} should be a torch.Tensor, got {type(value).__name__}")
    return value


@checker(1)
def check_1(build_examples) -> str:
    """``build_examples(ids, block_size) -> (X, Y)``:
    X[i] = ids[i:i+block_size], Y[i] = ids[i+block_size]."""
    gen = torch.Generator().manual_seed(5)
    for n, block_size in ((12, 3), (30, 8), (9, 1)):
        ids = torch.randint(0, 65, (n,), generator=gen)
        result = run(build_examples, ids.clone(), block_size)
        if not isinstance(result, tuple) or len(result) != 2:
            raise Wrong(f"build_examples should return a pair (X, Y), got {type(result).__name__}")
        X, Y = _as_tensor(result[0], "X"), _as_tensor(result[1], "Y")
        X_ref, Y_ref = _reference_examples(ids, block_size)
        case = f"for {n} ids and block_size={block_size}"
        if X.dim() != 2 or X.shape[1] != block_size:
            raise Wrong(f"X should be (number of examples, block_size={block_size}) {case}, "
                        f"got shape {tuple(X.shape)}")
        if len(X) != len(X_ref):
            raise Wrong(f"{case} there are {len(X_ref)} examples "
                        "(every window that has a next id), "
                        f"your X has {len(X)} rows")
        expect_shape(Y, tuple(Y_ref.shape), f"Y {case}")
        expect_equal(X.tolist(), X_ref.tolist(), f"X {case}")
        if not torch.equal(Y.long(), Y_ref):
            if len(Y) and torch.equal(Y.long(), X_ref[:, -1]):
                raise Wrong(f"Y {case} is the last id of each context; the target is the id "
                            "*after* the context")
            raise Wrong(f"Y {case} should be ids[block_size:] = {Y_ref.tolist()}, got {Y.tolist()}")
    return "X and Y match for block sizes 3, 8 and 1"


def _reference_logits(X, C, W1, b1, W2, b2):
    h = torch.tanh(C[X].reshape(len(X), -1) @ W1 + b1)
    return h @ W2 + b2


@checker(2)
def check_2(mlp_logits) -> str:
    """``mlp_logits(X, C, W1, b1, W2, b2)``: concatenate embeddings -> tanh layer -> logits."""
    gen = torch.Generator().manual_seed(6)
    V, block_size, n_embd, n_hidden, B = 11, 4, 3, 7, 5
    X = torch.randint(0, V, (B, block_size), generator=gen)
    C = torch.randn(V, n_embd, generator=gen)
    W1 = torch.randn(block_size * n_embd, n_hidden, generator=gen) * 0.5
    b1 = torch.randn(n_hidden, generator=gen) * 0.5
    W2 = torch.randn(n_hidden, V, generator=gen)
    b2 = torch.randn(V, generator=gen)
    args = [t.clone() for t in (X, C, W1, b1, W2, b2)]
    logits = _as_tensor(run(mlp_logits, *args), "the logits")
    expect_shape(logits, (B, V), "the logits")
    expected = _reference_logits(X, C, W1, b1, W2, b2)
    if torch.allclose(logits.detach().float(), expected, atol=1e-5):
        return "the logits match the written-out model"
    no_tanh = (C[X].reshape(B, -1) @ W1 + b1) @ W2 + b2
    if torch.allclose(logits.detach().float(), no_tanh, atol=1e-5):
        raise Wrong("the logits match a model without the tanh: "
                    "apply torch.tanh to the hidden layer")
    wrong_order = torch.tanh(C[X].transpose(1, 2).reshape(B, -1) @ W1 + b1) @ W2 + b2
    if torch.allclose(logits.detach().float(), wrong_order, atol=1e-5):
        raise Wrong("the embeddings are concatenated in the wrong order: row i must read "
                    "C[X[i, 0]], then C[X[i, 1]], ... (C[X].view(B, -1)), not channel by channel")
    expect_close(logits.detach(), expected, "the logits", atol=1e-5)
    return "the logits match the written-out model"


@checker(3)
def check_3(tanh_layer_weight) -> str:
    """``tanh_layer_weight(fan_in, fan_out, generator)``: a (fan_in, fan_out) Gaussian weight
    with standard deviation (5/3) / sqrt(fan_in)."""
    for fan_in, fan_out in ((24, 4000), (400, 500)):
        gen = torch.Generator().manual_seed(fan_in)
        W = _as_tensor(run(tanh_layer_weight, fan_in, fan_out, gen), "the weight")
        expect_shape(W, (fan_in, fan_out), f"the weight for fan_in={fan_in}, fan_out={fan_out}")
        W = W.detach().double()
        expected = (5 / 3) / math.sqrt(fan_in)
        std, mean = W.std().item(), W.mean().item()
        expect_true(abs(mean) < 0.05 * expected,
                    f"the weights should have mean 0, got {mean:.4f} (fan_in={fan_in})")
        if abs(std / expected - 1) > 0.03:
            hints = {1.0 / math.sqrt(fan_in): "1/sqrt(fan_in): tanh's gain 5/3 is missing",
                     math.sqrt(2.0 / fan_in): "sqrt(2/fan_in): that is ReLU's gain, tanh's is 5/3",
                     (5 / 3) / math.sqrt(fan_out): "(5/3)/sqrt(fan_out): divide by the fan-in",
                     (5 / 3) / fan_in: "(5/3)/fan_in: divide by the square root of the fan-in",
                     1.0: "1: the weights were not scaled at all"}
            for value, name in hints.items():
                if abs(std / value - 1) < 0.03:
                    raise Wrong(f"the weights' standard deviation is {std:.4f} = {name} "
                                f"(fan_in={fan_in}, expected {expected:.4f})")
            raise Wrong(f"the weights' standard deviation is {std:.4f}, expected "
                        f"(5/3)/sqrt(fan_in) = {expected:.4f} (fan_in={fan_in})")
    gen_a, gen_b = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    first = run(tanh_layer_weight, 24, 30, gen_a)
    second = run(tanh_layer_weight, 24, 30, gen_b)
    expect_true(torch.equal(first, second),
                "the same seeded generator gave two different weights: "
                "draw with generator=generator")
    return "standard deviation (5/3)/sqrt(fan_in) for fan-ins 24 and 400"
