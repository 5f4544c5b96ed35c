"""Lesson 04's exercise checkers: the stub is "todo", the worked solution "correct",
plausible wrong answers and wrong types "wrong" with a message that says what is wrong."""
import math

import pytest
import torch
from exercise_support import stub
from torch.nn import functional as F

from helpers.bigram import bigram_nll
from helpers.exercises import lesson04 as ex

# ---- exercise 1 ----------------------------------------------------------------------

def smoothed_table(counts, alpha):     # the notebook's worked solution
    P = (counts + alpha).float()
    return P / P.sum(dim=1, keepdim=True)


def smoothed_columns(counts, alpha):
    P = (counts + alpha).float()
    return P / P.sum(dim=0, keepdim=True)


def smoothed_numerator_only(counts, alpha):
    return (counts + alpha).float() / counts.sum(dim=1, keepdim=True)


def smoothed_add_one_always(counts, alpha):
    return smoothed_table(counts, 1)


def test_ex1():
    assert ex.check_1(stub).status == "todo"
    assert ex.check_1(smoothed_table).status == "correct"


@pytest.mark.parametrize("wrong, words", [
    (smoothed_columns, "columns sum to 1"),
    (smoothed_numerator_only, "denominator"),
    (lambda counts, alpha: (counts + alpha).float() / (counts + alpha).float().sum(dim=1),
     "without keepdim=True"),
    (lambda counts, alpha: (counts + alpha).float() / (counts.sum(dim=1, keepdim=True) + alpha),
     "alpha is added once"),
    (lambda counts, alpha: (counts + alpha).float() / (counts + alpha).float().sum(),
     "normalised over the whole table"),
    (smoothed_add_one_always, "alpha = 0.1"),
    (lambda counts, alpha: (counts + alpha).tolist(), "torch tensor"),
    (lambda counts, alpha: smoothed_table(counts, alpha)[:-1], "shape"),
    (lambda counts, alpha: counts + 1, "dtype"),
    (lambda counts, alpha: (counts + alpha).float() // (counts + alpha).float().sum(
        dim=1, keepdim=True), "floor division"),
])
def test_ex1_rejects(wrong, words):
    verdict = ex.check_1(wrong)
    assert verdict.status == "wrong" and words in verdict.message, verdict.message


# ---- exercise 2 ----------------------------------------------------------------------

def perplexity(probs, ids):             # the notebook's worked solution
    return math.exp(bigram_nll(probs, ids))


def test_ex2():
    assert ex.check_2(stub).status == "todo"
    assert ex.check_2(perplexity).status == "correct"


@pytest.mark.parametrize("wrong, words", [
    (lambda probs, ids: 2 ** bigram_nll(probs, ids), "nats"),
    (lambda probs, ids: math.exp(-bigram_nll(probs, ids)), "sign"),
    (lambda probs, ids: bigram_nll(probs, ids), "NLL itself"),
    (lambda probs, ids: (1 / probs[ids[:-1], ids[1:]]).mean().item(), "expected"),
    (lambda probs, ids: math.exp(-probs[ids[:-1], ids[1:]].double().log().sum().item()),
     "SUM of the"),
    (lambda probs, ids: torch.exp(-probs[ids[:-1], ids[1:]].log().sum()).item(), "SUM of the"),
    (lambda probs, ids: math.exp(-1e3 * probs[ids[:-1], ids[1:]].log().sum().item()),
     "exp overflowed"),
    (lambda probs, ids: 10 ** bigram_nll(probs, ids), "10 ** NLL"),
    (lambda probs, ids: 1 / probs[ids[:-1], ids[1:]].mean().item(), "GEOMETRIC mean"),
    (lambda probs, ids: math.exp(-probs[ids[1:], ids[:-1]].log().mean().item()), "reversed"),
    (lambda probs, ids: math.exp(-probs[ids[:-1], ids[:-1]].log().mean().item()),
     "paired with itself"),
    (lambda probs, ids: math.exp(-probs[ids[:-2], ids[2:]].log().mean().item()), "skip"),
    (lambda probs, ids: "twelve", "number"),
    (lambda probs, ids: torch.ones(3), "number"),
    (lambda probs, ids: torch.tensor(perplexity(probs, ids)), "is a tensor"),
    (lambda probs, ids: torch.exp(-probs[ids[:-1], ids[1:]].double().log().mean()),
     "Python float"),
])
def test_ex2_rejects(wrong, words):
    verdict = ex.check_2(wrong)
    assert verdict.status == "wrong" and words in verdict.message, verdict.message


# ---- exercise 3 ----------------------------------------------------------------------

def trigram_counts(ids, vocab_size):    # the notebook's worked solution
    triple_index = ids[:-2] * vocab_size ** 2 + ids[1:-1] * vocab_size + ids[2:]
    counts = torch.bincount(triple_index, minlength=vocab_size ** 3)
    return counts.view(vocab_size, vocab_size, vocab_size)


def trigram_nll(counts, ids):
    probs = (counts + 1).float()
    probs = probs / probs.sum(dim=2, keepdim=True)
    return -probs[ids[:-2], ids[1:-1], ids[2:]].log().mean().item()


def counts_off_by_one(ids, vocab_size):   # drops the last triple
    return trigram_counts(ids[:-1], vocab_size)


def counts_reversed(ids, vocab_size):
    return trigram_counts(ids, vocab_size).permute(2, 1, 0)


def nll_unsmoothed(counts, ids):
    return trigram_nll(counts - 1, ids)     # "add one" undone: plain counts


def nll_wrong_axis(counts, ids):
    probs = (counts + 1).float()
    probs = probs / probs.sum(dim=0, keepdim=True)
    return -probs[ids[:-2], ids[1:-1], ids[2:]].log().mean().item()


def counts_without_minlength(ids, vocab_size):
    triple_index = ids[:-2] * vocab_size ** 2 + ids[1:-1] * vocab_size + ids[2:]
    return torch.bincount(triple_index).view(vocab_size, vocab_size, vocab_size)


def counts_b_c_swapped(ids, vocab_size):
    return trigram_counts(ids, vocab_size).permute(0, 2, 1)


def counts_colliding_index(ids, vocab_size):   # a * V + b * V + c: not one number per triple
    triple_index = ids[:-2] * vocab_size + ids[1:-1] * vocab_size + ids[2:]
    return torch.bincount(triple_index, minlength=vocab_size ** 3).view((vocab_size,) * 3)


def counts_middle_twice(ids, vocab_size):       # (a, b, b) instead of (a, b, c)
    triple_index = ids[:-2] * vocab_size ** 2 + ids[1:-1] * vocab_size + ids[1:-1]
    return torch.bincount(triple_index, minlength=vocab_size ** 3).view((vocab_size,) * 3)


def _smoothed(counts, dim=2):
    probs = (counts + 1).float()
    return probs / probs.sum(dim=dim, keepdim=True)


def nll_not_normalised(counts, ids):
    return -(counts + 1).float()[ids[:-2], ids[1:-1], ids[2:]].log().mean().item()


def nll_dim1(counts, ids):
    return -_smoothed(counts, dim=1)[ids[:-2], ids[1:-1], ids[2:]].log().mean().item()


def nll_whole_table(counts, ids):
    probs = (counts + 1).float()
    return -(probs / probs.sum())[ids[:-2], ids[1:-1], ids[2:]].log().mean().item()


def nll_last_triple_dropped(counts, ids):      # off by one: range(len(ids) - 3)
    return -_smoothed(counts)[ids[:-3], ids[1:-2], ids[2:-1]].log().mean().item()


def nll_context_swapped(counts, ids):
    return -_smoothed(counts)[ids[1:-1], ids[:-2], ids[2:]].log().mean().item()


def nll_context_shifted(counts, ids):           # predicts ids[i + 2] from ids[i + 1] twice
    return -_smoothed(counts)[ids[1:-1], ids[1:-1], ids[2:]].log().mean().item()


def nll_summed(counts, ids):
    return -_smoothed(counts)[ids[:-2], ids[1:-1], ids[2:]].log().sum().item()


def nll_bits(counts, ids):
    return -_smoothed(counts)[ids[:-2], ids[1:-1], ids[2:]].log2().mean().item()


def nll_positive(counts, ids):
    return _smoothed(counts)[ids[:-2], ids[1:-1], ids[2:]].log().mean().item()


def nll_recounts(counts, ids):                  # ignores the given counts
    return trigram_nll(trigram_counts(ids, counts.shape[0]), ids)


def nll_plus_one_on_top_only(counts, ids):
    probs = (counts + 1).float() / counts.sum(dim=2, keepdim=True).clamp(min=1)
    return -probs[ids[:-2], ids[1:-1], ids[2:]].log().mean().item()


def test_ex3():
    assert ex.check_3(stub, stub).status == "todo"
    assert ex.check_3(trigram_counts, stub).status == "todo"
    assert ex.check_3(trigram_counts, trigram_nll).status == "correct"


@pytest.mark.parametrize("counts, nll, words", [
    (counts_off_by_one, trigram_nll, "n - 2 triples"),
    (lambda ids, v: trigram_counts(ids, v).float(), trigram_nll, "LongTensor"),
    (counts_reversed, trigram_nll, "wrong order"),
    (trigram_counts, nll_unsmoothed, "smoothing"),
    (trigram_counts, nll_wrong_axis, "dim=2"),
    (lambda ids, v: torch.zeros(v, v), trigram_nll, "shape"),
    (lambda ids, v: [0] * v ** 3, trigram_nll, "torch tensor"),
    (trigram_counts, lambda counts, ids: "low", "number"),
    (counts_without_minlength, trigram_nll, "minlength"),
    (counts_b_c_swapped, trigram_nll, "axes are in the wrong order"),
    (counts_colliding_index, trigram_nll, "same number"),
    (counts_middle_twice, trigram_nll, "ids[i + 2]?"),
    (trigram_counts, nll_not_normalised, "not normalised"),
    (trigram_counts, nll_dim1, "over dim=1"),
    (trigram_counts, nll_whole_table, "whole table"),
    (trigram_counts, nll_last_triple_dropped, "off by one"),
    (trigram_counts, nll_context_swapped, "context is in the wrong order"),
    (trigram_counts, nll_context_shifted, "context is off by one"),
    (trigram_counts, nll_summed, "their mean"),
    (trigram_counts, nll_bits, "bits"),
    (trigram_counts, nll_positive, "sign is flipped"),
    (trigram_counts, nll_recounts, "counts you are given"),
    (trigram_counts, nll_plus_one_on_top_only, "numerator only"),
])
def test_ex3_rejects(counts, nll, words):
    verdict = ex.check_3(counts, nll)
    assert verdict.status == "wrong" and words in verdict.message, verdict.message


# ---- exercise 4 ----------------------------------------------------------------------

def table_gradient(idx, targets, W):    # the notebook's worked solution
    vocab_size = W.shape[0]
    X = F.one_hot(idx, num_classes=vocab_size).float()
    Y = F.one_hot(targets, num_classes=vocab_size).float()
    delta = (F.softmax(X @ W, dim=1) - Y) / len(idx)
    return X.T @ delta


def gradient_flipped(idx, targets, W):
    return -table_gradient(idx, targets, W)


def gradient_summed(idx, targets, W):
    return len(idx) * table_gradient(idx, targets, W)


def gradient_assigned(idx, targets, W):     # grad[idx] = delta keeps one row per character
    vocab_size = W.shape[0]
    Y = F.one_hot(targets, num_classes=vocab_size).float()
    delta = (F.softmax(W[idx], dim=1) - Y) / len(idx)
    grad = torch.zeros_like(W)
    grad[idx] = delta
    return grad


def _one_hots(idx, targets, W):
    return (F.one_hot(idx, num_classes=W.shape[0]).float(),
            F.one_hot(targets, num_classes=W.shape[0]).float())


def gradient_softmax_over_examples(idx, targets, W):
    X, Y = _one_hots(idx, targets, W)
    return X.T @ ((F.softmax(X @ W, dim=0) - Y) / len(idx))


def gradient_without_targets(idx, targets, W):
    X, _ = _one_hots(idx, targets, W)
    return X.T @ (F.softmax(X @ W, dim=1) / len(idx))


def gradient_log_softmax(idx, targets, W):
    X, Y = _one_hots(idx, targets, W)
    return X.T @ ((F.log_softmax(X @ W, dim=1) - Y) / len(idx))


def gradient_delta_first(idx, targets, W):      # delta^T X: the transpose
    X, Y = _one_hots(idx, targets, W)
    return ((F.softmax(X @ W, dim=1) - Y) / len(idx)).T @ X


def gradient_inputs_targets_swapped(idx, targets, W):
    return table_gradient(targets, idx, W)


def gradient_by_autograd(idx, targets, W):      # the task says: without autograd
    W = W.clone().requires_grad_(True)
    F.cross_entropy(W[idx], targets).backward()
    return W.grad


def gradient_by_autograd_grad(idx, targets, W):
    W = W.clone().requires_grad_(True)
    return torch.autograd.grad(F.cross_entropy(W[idx], targets), W)[0]


def gradient_by_autograd_with_copy(idx, targets, W):   # switches gradients back on
    with torch.enable_grad():
        W = W.clone().requires_grad_(True)
        loss = F.cross_entropy(W[idx], targets)
        loss.backward()
    return W.grad


def test_ex4_leaves_autograd_working_afterwards():
    ex.check_4(gradient_by_autograd)
    W = torch.ones(2, requires_grad=True)
    (W * W).sum().backward()
    assert torch.equal(W.grad, 2 * torch.ones(2)) and torch.is_grad_enabled()


def test_ex4():
    assert ex.check_4(stub).status == "todo"
    assert ex.check_4(table_gradient).status == "correct"


@pytest.mark.parametrize("wrong, words", [
    (gradient_flipped, "sign"),
    (gradient_summed, "divide by N"),
    (lambda idx, targets, W: table_gradient(idx, targets, W) / len(idx), "applied twice"),
    (gradient_by_autograd, "calls autograd"),
    (gradient_by_autograd_grad, "calls autograd"),
    (gradient_by_autograd_with_copy, "calls autograd"),
    (gradient_assigned, "grad[idx]"),
    (lambda idx, targets, W: table_gradient(idx, targets, W).T, "transposed"),
    (gradient_delta_first, "transposed"),
    (gradient_softmax_over_examples, "dim=0"),
    (gradient_without_targets, "targets Y are missing"),
    (gradient_log_softmax, "log_softmax"),
    (gradient_inputs_targets_swapped, "swapped"),
    (lambda idx, targets, W: table_gradient(idx, targets, W)[idx], "shape"),
    (lambda idx, targets, W: None if False else 0.0, "torch tensor"),
])
def test_ex4_rejects(wrong, words):
    verdict = ex.check_4(wrong)
    assert verdict.status == "wrong" and words in verdict.message, verdict.message


# ---- exercise 5 (build generate) ---------------------------------------------------

@torch.no_grad()
def generate(model, idx, max_new_tokens, generator, temperature=1.0):   # the worked solution
    for _ in range(max_new_tokens):
        logits, _ = model(idx)
        probs = F.softmax(logits[:, -1, :] / temperature, dim=-1)
        idx = torch.cat((idx, torch.multinomial(probs, 1, generator=generator)), dim=1)
    return idx


@torch.no_grad()
def times_temperature(model, idx, max_new_tokens, generator, temperature=1.0):
    for _ in range(max_new_tokens):
        logits, _ = model(idx[:, -1:])
        probs = F.softmax(logits[:, -1, :] * temperature, dim=-1)
        idx = torch.cat((idx, torch.multinomial(probs, 1, generator=generator)), dim=1)
    return idx


@torch.no_grad()
def no_temperature(model, idx, max_new_tokens, generator, temperature=1.0):
    return model.generate(idx, max_new_tokens, generator=generator)


@torch.no_grad()
def greedy(model, idx, max_new_tokens, generator, temperature=1.0):
    for _ in range(max_new_tokens):
        logits, _ = model(idx[:, -1:])
        idx = torch.cat((idx, logits[:, -1, :].argmax(dim=-1, keepdim=True)), dim=1)
    return idx


@torch.no_grad()
def ignores_generator(model, idx, max_new_tokens, generator, temperature=1.0):
    for _ in range(max_new_tokens):
        logits, _ = model(idx[:, -1:])
        probs = F.softmax(logits[:, -1, :] / temperature, dim=-1)
        idx = torch.cat((idx, torch.multinomial(probs, 1)), dim=1)
    return idx


@torch.no_grad()
def first_position(model, idx, max_new_tokens, generator, temperature=1.0):
    for _ in range(max_new_tokens):
        logits, _ = model(idx)
        probs = F.softmax(logits[:, 0, :] / temperature, dim=-1)   # the first character's row
        idx = torch.cat((idx, torch.multinomial(probs, 1, generator=generator)), dim=1)
    return idx


@torch.no_grad()
def softmax_over_batch(model, idx, max_new_tokens, generator, temperature=1.0):
    for _ in range(max_new_tokens):
        logits, _ = model(idx[:, -1:])
        probs = F.softmax(logits[:, -1, :] / temperature, dim=0)
        idx = torch.cat((idx, torch.multinomial(probs, 1, generator=generator)), dim=1)
    return idx


@torch.no_grad()
def last_character_only(model, idx, max_new_tokens, generator, temperature=1.0):
    for _ in range(max_new_tokens):
        logits, _ = model(idx[:, -1:])                  # enough for a bigram only
        probs = F.softmax(logits[:, -1, :] / temperature, dim=-1)
        idx = torch.cat((idx, torch.multinomial(probs, 1, generator=generator)), dim=1)
    return idx


def test_ex5():
    assert ex.check_5(stub).status == "todo"
    assert ex.check_5(generate).status == "correct"


@pytest.mark.parametrize("wrong, words", [
    (times_temperature, "do not multiply"),
    (no_temperature, "those of temperature 1"),
    (greedy, "argmax"),
    (ignores_generator, "the generator you are given"),
    (first_position, "last position only"),
    (last_character_only, "idx[:, -1:]"),
    (softmax_over_batch, "dim=-1"),
    (lambda model, idx, n, generator, temperature=1.0: generate(model, idx, n - 1, generator,
                                                               temperature), "shape"),
    (lambda model, idx, n, generator, temperature=1.0: generate(
        model, idx, n, generator, temperature)[:, 2:], "shape"),
    (lambda model, idx, n, generator, temperature=1.0: generate(
        model, idx, n, generator, temperature).tolist(), "torch tensor"),
])
def test_ex5_rejects(wrong, words):
    verdict = ex.check_5(wrong)
    assert verdict.status == "wrong" and words in verdict.message, verdict.message
