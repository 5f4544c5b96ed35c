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
from . import Wrong, attempted, autograd_refused, checker, expect_close, expect_true, run

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

def _smoothing_slip(got: torch.Tensor, counts: torch.Tensor, alpha: float, vocab_size: int) -> str:
    """Name the slip behind a wrong table, or return ""."""
    plus = counts + alpha
    slips = [
        (torch.div(plus, plus.sum(dim=1, keepdim=True), rounding_mode="floor"),
         "that is floor division (//), which rounds every probability down to a whole number "
         "(0 here): divide with /"),
        (plus / plus.sum(dim=1), "divided by sum(dim=1) without keepdim=True: the (V,) row totals "
                                 "broadcast along each row, so entry [a, b] is divided by row "
                                 "b's total; keepdim=True keeps them as a (V, 1) column"),
        (plus / (counts.sum(dim=1, keepdim=True) + alpha),
         f"alpha is added once to the row total; every one of the V = {vocab_size} entries of "
         "the row gets alpha, so the total grows by V * alpha"),
        (plus / plus.sum(), "normalised over the whole table, which sums to 1; each row "
                            "P(. | a) must sum to 1 on its own: sum(dim=1, keepdim=True)"),
        (plus / counts.sum(dim=1, keepdim=True).clamp(min=1e-300),
         "alpha is in the numerator only; the row total must include it too "
         "(is alpha in the denominator too?)"),
    ]
    for value, message in slips:
        if torch.allclose(got, value, rtol=1e-5, atol=1e-7):
            return message
    return ""


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
        hint = _smoothing_slip(got.double(), counts.double(), alpha, vocab_size)
        if hint:
            raise Wrong(f"{where}: {hint}")
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

def _perplexity_slip(got: float, probs: torch.Tensor, ids: torch.Tensor, nll: float) -> str:
    """Name the slip behind a wrong perplexity, or return ""."""
    probs = probs.double()
    pairs = len(ids) - 1

    def ppl(a, b):
        return math.exp(-probs[a, b].log().mean().item())
    if math.isinf(got) or math.isclose(got, math.exp(min(nll * pairs, 700)), rel_tol=1e-4):
        return (f": that is exp of the SUM of the {pairs} negative log-probabilities; the "
                "perplexity is exp of their mean, the NLL")
    slips = [
        (10 ** nll, ": that is 10 ** NLL; the NLL uses natural logarithms, so take exp(NLL)"),
        (1 / probs[ids[:-1], ids[1:]].mean().item(),
         ": that is 1 / (the mean probability); the perplexity is exp of the mean NLL, "
         "1 over the GEOMETRIC mean of the probabilities"),
        (ppl(ids[1:], ids[:-1]), ": the pairs are reversed: P(next | current) is "
                                 "probs[ids[i], ids[i + 1]], the current character first"),
        (ppl(ids[:-1], ids[:-1]), ": each character is paired with itself; the pairs are "
                                  "(ids[i], ids[i + 1]): ids[:-1] with ids[1:]"),
        (ppl(ids[:-2], ids[2:]), ": the pairs skip a character; they are (ids[i], ids[i + 1]): "
                                 "ids[:-1] with ids[1:]"),
    ]
    for value, message in slips:
        if math.isclose(got, value, rel_tol=1e-4):
            return message
    return ""


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
        pairs = len(ids) - 1
        try:
            raw = run(perplexity, probs.clone(), ids.clone())
            got = _number(raw, "the perplexity")
        except Wrong as e:
            if "OverflowError" in str(e):
                raise Wrong(f"{e}: exp overflowed, so its argument is huge; is it the SUM of "
                            f"the {pairs} log-probabilities? The perplexity is exp of their "
                            "mean") from None
            raise
        if isinstance(raw, torch.Tensor):
            raise Wrong(f"the perplexity is a tensor ({raw.dtype}, shape {tuple(raw.shape)}), "
                        f"worth {got:.8g}; return a Python float, e.g. with .item() or "
                        "math.exp of a float")
        if math.isclose(got, expected, rel_tol=1e-4):
            continue
        hint = _perplexity_slip(got, probs, ids, nll)
        if hint:
            pass
        elif math.isclose(got, 2 ** nll, rel_tol=1e-4):
            hint = ": that is 2 ** NLL; the NLL is in nats, so take exp(NLL)"
        elif math.isclose(got, math.exp(-nll), rel_tol=1e-4):
            hint = ": that is exp(-NLL), the sign is flipped"
        elif math.isclose(got, nll, rel_tol=1e-4):
            hint = ": that is the NLL itself; the perplexity is exp(NLL)"
        what = "the uniform table (expected V = 6)" if case == 1 else f"case {case}"
        raise Wrong(f"{what}: perplexity {got:.8g}, expected {expected:.8g}{hint}")
    return "exp of the average NLL, 6 for the uniform table over 6 characters"


# ---- exercise 3: a trigram model -----------------------------------------------------

def _trigram_reference(ids: torch.Tensor, vocab_size: int) -> torch.Tensor:
    counts = torch.zeros(vocab_size, vocab_size, vocab_size, dtype=torch.long)
    values = ids.tolist()
    for a, b, c in zip(values, values[1:], values[2:]):
        counts[a, b, c] += 1
    return counts


def _nll_of(probs: torch.Tensor, a, b, c) -> float:
    return -probs[a, b, c].log().mean().item()


def _trigram_nll_reference(counts: torch.Tensor, ids: torch.Tensor) -> float:
    probs = (counts + 1).double()
    probs = probs / probs.sum(dim=2, keepdim=True)
    return _nll_of(probs, ids[:-2], ids[1:-1], ids[2:])


def _trigram_nll_slips(counts: torch.Tensor, ids: torch.Tensor) -> list[tuple[float, str]]:
    """What common slips give on ``counts`` and ``ids``, each with the feedback naming it."""
    plus_one = (counts + 1).double()
    right = plus_one / plus_one.sum(dim=2, keepdim=True)
    a, b, c = ids[:-2], ids[1:-1], ids[2:]
    nll = _nll_of(right, a, b, c)
    own = _trigram_reference(ids, counts.shape[0]) + 1.0
    unsmoothed = counts.double() / counts.double().sum(dim=2, keepdim=True).clamp(min=1)
    return [
        (-nll, "the sign is flipped: the NLL is minus the mean log-probability"),
        (nll * len(a), f"that is the sum over the {len(a)} predictions; the NLL is their mean"),
        (nll / math.log(2), "that is in bits (log2); the NLL is in nats, natural logarithms"),
        (_nll_of(plus_one, a, b, c), "the probabilities are not normalised: divide each "
                                     "(a, b) row of counts + 1 by its total over c"),
        (_nll_of(plus_one / plus_one.sum(dim=0, keepdim=True), a, b, c),
         "normalised over dim=0 (the first context character); P(c | a, b) sums to 1 over "
         "the next character c: dim=2"),
        (_nll_of(plus_one / plus_one.sum(dim=1, keepdim=True), a, b, c),
         "normalised over dim=1 (the second context character); P(c | a, b) sums to 1 over "
         "the next character c: dim=2"),
        (_nll_of(plus_one / plus_one.sum(), a, b, c),
         "normalised over the whole table; P(c | a, b) sums to 1 over the next character c "
         "only: dim=2, keepdim=True"),
        (_nll_of(plus_one / counts.double().sum(dim=2, keepdim=True).clamp(min=1), a, b, c),
         "the + 1 is in the numerator only: the denominator is the row total of counts + 1"),
        (_nll_of(unsmoothed.clamp(min=1e-300), a, b, c),
         "add one to every count before normalising"),
        (_nll_of(own / own.sum(dim=2, keepdim=True), a, b, c),
         "these are counts of the ids you are scoring: use the counts you are given"),
        (_nll_of(right, b, a, c), "the context is in the wrong order: P(c | a, b) is "
                                  "probs[a, b, c] with a = ids[i], b = ids[i + 1]"),
        (_nll_of(right, a[:-1], b[:-1], c[:-1]),
         f"one prediction short (off by one): score every i from 0 to n - 3, "
         f"{len(a)} predictions"),
        (_nll_of(right, a[1:], b[1:], c[1:]),
         f"one prediction short (off by one): score every i from 0 to n - 3, "
         f"{len(a)} predictions"),
        (_nll_of(right, b, b, c), "the context is off by one: ids[i + 2] is predicted from "
                                  "ids[i] and ids[i + 1], not from ids[i + 1] twice"),
    ]


def _run_counts(trigram_counts, ids: torch.Tensor, vocab_size: int) -> torch.Tensor:
    try:
        got = run(trigram_counts, ids, vocab_size)
    except Wrong as e:
        if "invalid for input of size" in str(e):
            raise Wrong(f"{e}: bincount returns only as many bins as the largest index + 1, "
                        f"so pass minlength=vocab_size ** 3") from None
        raise
    return _tensor(got, "trigram_counts' result")


def _counts_hint(got: torch.Tensor, expected: torch.Tensor, ids: torch.Tensor) -> str:
    """Name the slip behind a wrong count table, or show one triple that is miscounted."""
    for order in [(0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0)]:
        if torch.equal(got, expected.permute(*order)):
            return (f": the axes are in the wrong order (yours is the right table permuted "
                    f"{order}); N3[a, b, c] counts a = ids[i], then b = ids[i + 1], "
                    f"then c = ids[i + 2]")
    vocab_size = expected.shape[0]
    collided = torch.bincount(ids[:-2] * vocab_size + ids[1:-1] * vocab_size + ids[2:],
                              minlength=vocab_size ** 3).view(expected.shape)
    if torch.equal(got, collided):
        return (": the index a * V + b * V + c gives different triples the same number; "
                "a * V ** 2 + b * V + c is one number per triple")
    a, b, c = (got != expected).nonzero()[0].tolist()
    times = expected[a, b, c].item()
    return (f", e.g. N3[{a}, {b}, {c}] is {got[a, b, c].item()} but the triple ({a}, {b}, {c}) "
            f"occurs {times} time{'' if times == 1 else 's'}: are the three slices ids[i], "
            f"ids[i + 1] and ids[i + 2]?")


@checker(3)
def check_3(trigram_counts, trigram_nll):
    attempted(trigram_counts, trigram_nll)
    for case, (seed, vocab_size, length) in enumerate([(0, 4, 60), (1, 6, 200), (2, 3, 5)], 1):
        ids = _random_ids(seed, length, vocab_size)
        expected = _trigram_reference(ids, vocab_size)
        where = f"case {case} ({length} ids, V = {vocab_size})"
        got = _run_counts(trigram_counts, ids.clone(), vocab_size)
        shape = (vocab_size,) * 3
        expect_true(tuple(got.shape) == shape,
                    f"{where}: trigram_counts has shape {tuple(got.shape)}, expected {shape}")
        if got.is_floating_point():
            raise Wrong(f"{where}: trigram_counts returned {got.dtype} counts; counts are whole "
                        "numbers: return a LongTensor (torch.long), as bincount gives, and turn "
                        "them into float probabilities only inside trigram_nll")
        expect_true(got.dtype == torch.long, f"{where}: trigram_counts returned dtype "
                                             f"{got.dtype}; return a LongTensor (torch.long)")
        total = int(got.sum().item())
        expect_true(total == length - 2,
                    f"{where}: the counts add up to {total}, expected {length - 2}: "
                    f"a sequence of n ids holds n - 2 triples")
        if not torch.equal(got.long(), expected):
            raise Wrong(f"{where}: trigram_counts differs from a count of the triples"
                        f"{_counts_hint(got.long(), expected, ids)}")
        validation = _random_ids(seed + 10, 30, vocab_size)
        nll = _number(run(trigram_nll, expected.clone(), validation.clone()),
                      "trigram_nll's result")
        nll_expected = _trigram_nll_reference(expected, validation)
        if math.isclose(nll, nll_expected, rel_tol=1e-4):
            continue
        if math.isinf(nll) or math.isnan(nll):
            hint = "unseen triples need the add-one smoothing"
        else:
            hint = next((why for value, why in _trigram_nll_slips(expected, validation)
                         if math.isclose(nll, value, rel_tol=1e-4)),
                        "check the formula P(c | a, b) = (N3[a, b, c] + 1) / sum over c' of "
                        "(N3[a, b, c'] + 1), the triples (ids[i], ids[i + 1], ids[i + 2]) "
                        "and the mean of -log P")
        raise Wrong(f"{where}: trigram_nll gives {nll:.6g}, expected {nll_expected:.6g}: {hint}")
    return "counts and smoothed NLL match the reference"


# ---- exercise 4: the table's gradient by hand ------------------------------------------

def _table_gradient_slips(idx: torch.Tensor, targets: torch.Tensor, W: torch.Tensor,
                          expected: torch.Tensor) -> list[tuple[torch.Tensor, str]]:
    """What common slips give, each with the feedback naming it (all in float64)."""
    n, vocab_size = len(idx), W.shape[0]
    W = W.double()
    X = F.one_hot(idx, vocab_size).double()
    Y = F.one_hot(targets, vocab_size).double()
    logits = X @ W
    assigned = torch.zeros_like(W)
    assigned[idx] = (F.softmax(logits, dim=1) - Y) / n
    return [
        (-expected, "the sign is flipped (softmax - Y, not Y - softmax)"),
        (n * expected, f"it is {n} times too large, divide by N (the loss is a mean)"),
        (expected / n, f"it is {n} times too small: 1/N is applied twice (once is enough: "
                       "in delta, or after X^T delta)"),
        (expected.T, "it is transposed: row a of the gradient belongs to input character a "
                     "(X^T delta, not delta^T X)"),
        (X.T @ ((F.softmax(logits, dim=0) - Y) / n),
         "the softmax runs over dim=0 (the examples); each example's probabilities sum to 1 "
         "over the vocabulary: dim=1"),
        (X.T @ (F.softmax(logits, dim=1) / n),
         "the one-hot targets Y are missing: dL/dlogits = (softmax - Y) / N"),
        (X.T @ ((F.log_softmax(logits, dim=1) - Y) / n),
         "that uses log_softmax; the derivative of the cross-entropy is softmax - Y"),
        (F.one_hot(targets, vocab_size).double().T
         @ ((F.softmax(F.one_hot(targets, vocab_size).double() @ W, dim=1)
             - F.one_hot(idx, vocab_size).double()) / n),
         "idx and targets are swapped: the rows of X are the inputs idx, Y holds the targets"),
        (assigned, "writing delta's rows into grad[idx] keeps one example per character: a "
                   "character that occurs more than once must add up all its examples' "
                   "contributions"),
    ]


AUTOGRAD_REFUSED = ("table_gradient calls autograd (backward or torch.autograd.grad); the task "
                    "asks for the gradient by hand, from your derivation, with autograd off")


def _without_autograd(table_gradient, idx, targets, W):
    """Run the learner's function with gradients off and autograd's entry points refused."""
    with autograd_refused(AUTOGRAD_REFUSED):
        return run(table_gradient, idx, targets, W)


@checker(4)
def check_4(table_gradient):
    for case, (seed, vocab_size, n) in enumerate([(0, 5, 12), (1, 8, 40), (2, 3, 2)], 1):
        g = torch.Generator().manual_seed(seed)
        W = torch.randn(vocab_size, vocab_size, generator=g)
        idx = torch.randint(vocab_size, (n,), generator=g)
        if n > 2:
            idx[1] = idx[0]                                  # a repeated character, always
        targets = torch.randint(vocab_size, (n,), generator=g)
        W_ref = W.clone().double().requires_grad_(True)
        F.cross_entropy(W_ref[idx], targets).backward()
        expected = W_ref.grad
        where = f"case {case} ({n} examples, V = {vocab_size})"
        got = _tensor(_without_autograd(table_gradient, idx.clone(), targets.clone(), W.clone()),
                      "table_gradient's result")
        expect_true(tuple(got.shape) == (vocab_size, vocab_size),
                    f"{where}: the gradient has shape {tuple(got.shape)}, "
                    f"expected {(vocab_size, vocab_size)}, the shape of W")
        got = got.detach().double()
        if torch.allclose(got, expected, atol=1e-6, rtol=1e-4):
            continue
        hint = next((why for value, why in _table_gradient_slips(idx, targets, W, expected)
                     if torch.allclose(got, value, atol=1e-6, rtol=1e-4)), None)
        if hint is None:
            uses = idx.bincount(minlength=vocab_size)
            wrong_rows = ~torch.isclose(got, expected, atol=1e-6, rtol=1e-4).all(dim=1)
            if (uses == 1).any() and not (wrong_rows & (uses <= 1)).any():
                hint = ("only the rows of characters that occur more than once are wrong: "
                        "such a row must add up all its examples' contributions")
        try:
            expect_close(got, expected, f"{where}: the gradient", rtol=1e-4, atol=1e-6)
        except Wrong as e:
            raise Wrong(f"{e}" + (f". {hint[0].upper()}{hint[1:]}." if hint else "")) from None
    return "matches autograd, repeated characters included"


# ---- exercise 5: temperature -------------------------------------------------------

@torch.no_grad()
def _reference_sample(model, start, n, temperature, generator):
    idx = start
    for _ in range(n):
        logits, _ = model(idx)                       # the whole context
        probs = F.softmax(logits[:, -1, :] / temperature, dim=-1)
        idx = torch.cat((idx, torch.multinomial(probs, 1, generator=generator)), dim=1)
    return idx


class _ContextModel:
    """A test model whose logits at position t depend on every id up to t (their sum mod V),
    so a generate that feeds only the last id draws differently."""

    def __init__(self, vocab_size: int):
        self.vocab_size = vocab_size
        self.table = 2 * torch.randn(vocab_size, vocab_size,
                                     generator=torch.Generator().manual_seed(5))

    def __call__(self, idx, targets=None):
        return self.table[idx.cumsum(dim=1) % self.vocab_size], None


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
    # a model that reads the whole context: generate must feed it all of idx
    context_model = _ContextModel(7)
    expected = _reference_sample(context_model, start, n, 1.0, torch.Generator().manual_seed(11))
    got = _draws(generate, context_model, start, n, 1.0, 11)
    if not torch.equal(got, expected):
        last_only = start
        g = torch.Generator().manual_seed(11)
        for _ in range(n):
            logits, _ = context_model(last_only[:, -1:])
            probs = F.softmax(logits[:, -1, :], dim=-1)
            last_only = torch.cat((last_only, torch.multinomial(probs, 1, generator=g)), dim=1)
        if torch.equal(got, last_only):
            raise Wrong("with a model that reads the whole context, your draws are those of a "
                        "model fed only the last character (idx[:, -1:]): that is enough for a "
                        "bigram, but generate must feed the model the whole sequence idx")
        mismatch = (got != expected).nonzero()[0].tolist()
        raise Wrong("with a model that reads the whole context, the draws differ from the "
                    f"reference from row {mismatch[0]}, position {mismatch[1]} on: feed the "
                    "model the whole sequence idx at every step")
    return ("draw for draw the reference's, at temperatures 1, 0.5 and 2, and with a model "
            "that reads the whole context")
