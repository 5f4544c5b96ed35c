"""Checkers for lesson 04's exercises (the bigram language model).

1. ``smoothed_table(counts, alpha)``: count smoothing with any alpha.
2. ``perplexity(probs, ids)``: e to the average NLL.
3. ``trigram_counts(ids, vocab_size)`` and ``trigram_nll(counts, ids)``: a trigram count model.
4. ``table_gradient(idx, targets, W)``: the cross-entropy gradient of a bigram table by hand
   (derive).
5. ``generate(model, idx, max_new_tokens, generator, temperature=1.0)``: the sampling loop,
   built from its description, with a temperature (build).
"""
from __future__ import annotations

import math

import torch
from torch.nn import functional as F

from ..bigram import BigramLanguageModel
from . import Wrong, attempted, checker, expect_close, expect_true, run

__all__ = ["check_1", "check_2", "check_3", "check_4", "check_5"]


def _random_ids(seed: int, length: int, vocab_size: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(vocab_size, (length,), generator=g)


def _tensor(value, what: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise Wrong(f"{what} should be a torch tensor, got {type(value).__name__}")
    return value


def _number(value, what: str) -> float:
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Wrong(f"{what} should be a number (a Python float), got {type(value).__name__}")
    return float(value)


# ---- exercise 1: smoothing with alpha ----------------------------------------------

@checker(1)
def check_1(smoothed_table):
    for case, (seed, vocab_size, alpha) in enumerate([(0, 5, 1.0), (1, 7, 0.1), (2, 4, 3.0)], 1):
        counts = torch.bincount(_random_ids(seed, 12 * vocab_size, vocab_size * vocab_size),
                                minlength=vocab_size * vocab_size).view(vocab_size, vocab_size)
        expected = (counts + alpha).double()
        expected = expected / expected.sum(dim=1, keepdim=True)
        got = _tensor(run(smoothed_table, counts.clone(), alpha), "smoothed_table's result")
        where = f"case {case} (V = {vocab_size}, alpha = {alpha})"
        expect_true(tuple(got.shape) == (vocab_size, vocab_size),
                    f"{where}: the table has shape {tuple(got.shape)}, "
                    f"expected {(vocab_size, vocab_size)}")
        expect_true(got.is_floating_point(), f"{where}: the table has dtype {got.dtype}, "
                                             "expected floats: convert with .float()")
        row_sums = got.double().sum(dim=1)
        if not torch.allclose(row_sums, torch.ones_like(row_sums), atol=1e-5):
            column_sums = got.double().sum(dim=0)
            if torch.allclose(column_sums, torch.ones_like(column_sums), atol=1e-5):
                raise Wrong(f"{where}: the columns sum to 1, not the rows: each row P(. | a) "
                            "is a distribution, so divide by sum(dim=1, keepdim=True)")
            raise Wrong(f"{where}: the rows do not sum to 1 (row 0 sums to "
                        f"{row_sums[0].item():.4f}): is alpha in the denominator too?")
        expect_close(got, expected, f"{where}: the table", rtol=1e-5, atol=1e-7)
    return "exact tables for alpha = 1, 0.1 and 3"


# ---- exercise 2: perplexity ----------------------------------------------------------

@checker(2)
def check_2(perplexity):
    uniform = torch.full((6, 6), 1 / 6)
    table = torch.rand(6, 6, generator=torch.Generator().manual_seed(3)) + 0.05
    table = table / table.sum(dim=1, keepdim=True)
    cases = [(uniform, _random_ids(0, 40, 6)), (table, _random_ids(1, 60, 6)),
             (table, _random_ids(2, 25, 6))]
    for case, (probs, ids) in enumerate(cases, 1):
        nll = -probs[ids[:-1], ids[1:]].double().log().mean().item()
        expected = math.exp(nll)
        got = _number(run(perplexity, probs.clone(), ids.clone()), "the perplexity")
        if math.isclose(got, expected, rel_tol=1e-4):
            continue
        hint = ""
        if math.isclose(got, 2 ** nll, rel_tol=1e-4):
            hint = ": that is 2 ** NLL; the NLL is in nats, so take exp(NLL)"
        elif math.isclose(got, math.exp(-nll), rel_tol=1e-4):
            hint = ": that is exp(-NLL), the sign is flipped"
        elif math.isclose(got, nll, rel_tol=1e-4):
            hint = ": that is the NLL itself; the perplexity is exp(NLL)"
        what = "the uniform table (expected V = 6)" if case == 1 else f"case {case}"
        raise Wrong(f"{what}: perplexity {got:.6g}, expected {expected:.6g}{hint}")
    return "exp of the average NLL, 6 for the uniform table over 6 characters"


# ---- exercise 3: a trigram model -----------------------------------------------------

def _trigram_reference(ids: torch.Tensor, vocab_size: int) -> torch.Tensor:
    counts = torch.zeros(vocab_size, vocab_size, vocab_size, dtype=torch.long)
    values = ids.tolist()
    for a, b, c in zip(values, values[1:], values[2:]):
        counts[a, b, c] += 1
    return counts


def _trigram_nll_reference(counts: torch.Tensor, ids: torch.Tensor) -> float:
    probs = (counts + 1).double()
    probs = probs / probs.sum(dim=2, keepdim=True)
    return -probs[ids[:-2], ids[1:-1], ids[2:]].log().mean().item()


@checker(3)
def check_3(trigram_counts, trigram_nll):
    attempted(trigram_counts, trigram_nll)
    for case, (seed, vocab_size, length) in enumerate([(0, 4, 60), (1, 6, 200), (2, 3, 5)], 1):
        ids = _random_ids(seed, length, vocab_size)
        expected = _trigram_reference(ids, vocab_size)
        where = f"case {case} ({length} ids, V = {vocab_size})"
        got = _tensor(run(trigram_counts, ids.clone(), vocab_size), "trigram_counts' result")
        shape = (vocab_size,) * 3
        expect_true(tuple(got.shape) == shape,
                    f"{where}: trigram_counts has shape {tuple(got.shape)}, expected {shape}")
        total = int(got.sum().item())
        expect_true(total == length - 2,
                    f"{where}: the counts add up to {total}, expected {length - 2}: "
                    f"a sequence of n ids holds n - 2 triples")
        if not torch.equal(got.long(), expected):
            hint = ""
            if torch.equal(got.long(), expected.permute(2, 1, 0)):
                hint = ": the axes are reversed; N3[a, b, c] counts a, then b, then c"
            raise Wrong(f"{where}: trigram_counts differs from a count of the triples{hint}")
        validation = _random_ids(seed + 10, 30, vocab_size)
        nll = _number(run(trigram_nll, expected.clone(), validation.clone()),
                      "trigram_nll's result")
        nll_expected = _trigram_nll_reference(expected, validation)
        if not math.isclose(nll, nll_expected, rel_tol=1e-4):
            unsmoothed = (expected.double() / expected.double().sum(dim=2, keepdim=True)
                          .clamp(min=1))
            hint = ""
            if math.isinf(nll) or math.isnan(nll):
                hint = ": unseen triples need the add-one smoothing"
            elif math.isclose(nll, -unsmoothed[validation[:-2], validation[1:-1],
                                               validation[2:]].log().mean().item(), rel_tol=1e-4):
                hint = ": add one to every count before normalising"
            raise Wrong(f"{where}: trigram_nll gives {nll:.6g}, expected {nll_expected:.6g}"
                        f"{hint or ': normalise over the next character, dim=2'}")
    return "counts and smoothed NLL match the reference"


# ---- exercise 4: the table's gradient by hand ------------------------------------------

@checker(4)
def check_4(table_gradient):
    for case, (seed, vocab_size, n) in enumerate([(0, 5, 12), (1, 8, 40), (2, 3, 2)], 1):
        g = torch.Generator().manual_seed(seed)
        W = torch.randn(vocab_size, vocab_size, generator=g)
        idx = torch.randint(vocab_size, (n,), generator=g)
        if n > 2:
            idx[1] = idx[0]                                  # a repeated character, always
        targets = torch.randint(vocab_size, (n,), generator=g)
        W_ref = W.clone().requires_grad_(True)
        F.cross_entropy(W_ref[idx], targets).backward()
        expected = W_ref.grad
        where = f"case {case} ({n} examples, V = {vocab_size})"
        got = _tensor(run(table_gradient, idx.clone(), targets.clone(), W.clone()),
                      "table_gradient's result")
        expect_true(tuple(got.shape) == (vocab_size, vocab_size),
                    f"{where}: the gradient has shape {tuple(got.shape)}, "
                    f"expected {(vocab_size, vocab_size)}, the shape of W")
        got = got.detach().double()
        expected = expected.double()
        if torch.allclose(got, expected, atol=1e-6, rtol=1e-4):
            continue
        hint = ""
        if torch.allclose(got, -expected, atol=1e-6, rtol=1e-4):
            hint = ": the sign is flipped (softmax - Y, not Y - softmax)"
        elif torch.allclose(got, n * expected, atol=1e-5, rtol=1e-4):
            hint = f": it is {n} times too large, divide by N (the loss is a mean)"
        elif not torch.allclose(got[idx[0]], expected[idx[0]], atol=1e-6, rtol=1e-4):
            hint = (f": the row of character {idx[0].item()}, which occurs more than once, "
                    "must add up all its examples' contributions")
        expect_close(got, expected, f"{where}: the gradient{hint}", rtol=1e-4, atol=1e-6)
    return "matches autograd, repeated characters included"


# ---- exercise 5: temperature -------------------------------------------------------

@torch.no_grad()
def _reference_sample(model, start, n, temperature, generator):
    idx = start
    for _ in range(n):
        logits, _ = model(idx[:, -1:])
        probs = F.softmax(logits[:, -1, :] / temperature, dim=-1)
        idx = torch.cat((idx, torch.multinomial(probs, 1, generator=generator)), dim=1)
    return idx


def _draws(fn, model, start, n, temperature, seed):
    got = run(fn, model, start.clone(), n, generator=torch.Generator().manual_seed(seed),
              temperature=temperature)
    return _tensor(got, "generate's result")


@checker(5)
def check_5(generate):
    """``generate(model, idx, max_new_tokens, generator, temperature=1.0)``: extend each row
    of ``idx`` (B, T) by ``max_new_tokens`` draws, one ``torch.multinomial(probs, 1,
    generator=generator)`` per step, from the softmax of the last position's logits divided
    by ``temperature``."""
    torch.manual_seed(0)
    model = BigramLanguageModel(7)
    start = torch.tensor([[0, 5], [3, 1]])                 # two rows, two characters of context
    n = 30
    for temperature in (1.0, 0.5, 2.0):
        expected = _reference_sample(model, start, n, temperature,
                                     torch.Generator().manual_seed(11))
        got = _draws(generate, model, start, n, temperature, 11)
        expect_true(tuple(got.shape) == tuple(expected.shape),
                    f"at temperature {temperature} the result has shape {tuple(got.shape)}, "
                    f"expected {tuple(expected.shape)}: idx (B, T) extended by max_new_tokens ids")
        expect_true(torch.equal(got[:, :start.shape[1]], start),
                    "the result should begin with idx itself, then the new ids")
        if torch.equal(got, expected):
            continue
        torch.manual_seed(123)
        again = _draws(generate, model, start, n, temperature, 11)
        if not torch.equal(got, again):
            raise Wrong("two runs with equally seeded generators gave different text: draw with "
                        "the generator you are given (torch.multinomial(..., generator=generator))")
        if torch.equal(got, _reference_sample(model, start, n, 1 / temperature,
                                              torch.Generator().manual_seed(11))):
            raise Wrong(f"at temperature {temperature} your draws are those of temperature "
                        f"{1 / temperature:g}: divide the logits by the temperature, do not "
                        "multiply")
        if torch.equal(got, _reference_sample(model, start, n, 1.0,
                                              torch.Generator().manual_seed(11))):
            raise Wrong(f"at temperature {temperature} your draws are those of temperature 1: "
                        "divide the logits by the temperature before the softmax")
        greedy = start
        for _ in range(n):
            logits, _ = model(greedy[:, -1:])
            greedy = torch.cat((greedy, logits[:, -1].argmax(-1, keepdim=True)), dim=1)
        if torch.equal(got, greedy):
            raise Wrong("every step takes the most likely character (argmax): generate must "
                        "sample, with torch.multinomial")
        mismatch = (got != expected).nonzero()[0].tolist()
        raise Wrong(f"at temperature {temperature} the draws differ from the reference from "
                    f"row {mismatch[0]}, position {mismatch[1]} on (got id "
                    f"{got[tuple(mismatch)].item()}, expected {expected[tuple(mismatch)].item()}): "
                    "use the logits of the last position only, the softmax over the vocabulary "
                    "(dim=-1), and one multinomial draw of 1 per step for the whole batch")
    return "draw for draw the reference's, at temperatures 1, 0.5 and 2"
