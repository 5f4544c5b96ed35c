"""Lesson 07's exercise checkers: the stub is "not attempted", the notebook's worked
solution is correct, and plausible wrong answers are rejected with a message that
says what is wrong (never a traceback)."""
from __future__ import annotations

import math

import torch
from exercise_support import expect, stub

from helpers.decoding import top_p_filter
from helpers.exercises import lesson07 as ex


def test_stubs_are_not_attempted():
    for check in (ex.check_1, ex.check_2, ex.check_3, ex.check_4):
        expect(check(stub), "todo")
        expect(check(None), "todo")


# --- 1. bits and perplexity (the notebook's worked solution first) ----------------

def bits_and_perplexity(loss):
    bits = loss / math.log(2)
    perplexity = math.exp(loss)
    return bits, perplexity


def test_1_solution_is_correct():
    expect(ex.check_1(bits_and_perplexity), "correct")
    expect(ex.check_1(lambda loss: (math.log2(math.exp(loss)), 2 ** (loss / math.log(2)))),
            "correct")


def test_1_rejects_log_confusions():
    expect(ex.check_1(lambda loss: (loss * math.log(2), math.exp(loss))), "wrong", "ln 2")
    expect(ex.check_1(lambda loss: (loss / math.log(2), 2 ** loss)), "wrong", "nats")


def test_1_rejects_missing_exp():
    expect(ex.check_1(lambda loss: (loss / math.log(2), loss)), "wrong", "exponential")
    expect(ex.check_1(lambda loss: (loss / math.log(2), math.exp(-loss))), "wrong", "inverse")


def test_1_rejects_wrong_types():
    expect(ex.check_1(lambda loss: loss / math.log(2)), "wrong", "pair")
    expect(ex.check_1(lambda loss: ("2.2", 4.6)), "wrong", "number")


# --- 2. temperature ------------------------------------------------------------------

def temperature_probs(logits, temperature):
    return torch.softmax(logits / temperature, dim=-1)


def test_2_solution_is_correct():
    expect(ex.check_2(temperature_probs), "correct")


def test_2_rejects_plausible_mistakes():
    expect(ex.check_2(lambda z, t: torch.softmax(z * t, dim=-1)), "wrong", "multiply")
    expect(ex.check_2(lambda z, t: torch.softmax(z, dim=-1) / t), "wrong", "after the softmax")
    expect(ex.check_2(lambda z, t: z / t), "wrong", "softmax")
    expect(ex.check_2(lambda z, t: torch.softmax(z / t, dim=0)), "wrong", "dim")


def test_2_rejects_wrong_shapes_and_types():
    expect(ex.check_2(lambda z, t: torch.softmax(z / t, dim=-1)[0]), "wrong", "shape")
    expect(ex.check_2(lambda z, t: (z / t).softmax(-1).tolist()), "wrong", "tensor")


# --- 3. top-p --------------------------------------------------------------------------

def top_p_probs(logits, p):
    probs = torch.softmax(logits, dim=-1)
    sorted_probs, order = torch.sort(probs, dim=-1, descending=True)
    mass_before = sorted_probs.cumsum(dim=-1) - sorted_probs    # likelier tokens' mass
    keep_sorted = mass_before < p
    keep = torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)
    kept = probs * keep
    return kept / kept.sum(dim=-1, keepdim=True)


def test_3_solution_and_the_helper_are_correct():
    expect(ex.check_3(top_p_probs), "correct")
    expect(ex.check_3(lambda z, p: torch.softmax(top_p_filter(z, p), dim=-1)), "correct")


def _variant(*, strict=False, ascending=False, renormalise=True):
    def top_p(logits, p):
        probs = torch.softmax(logits, dim=-1)
        sorted_probs, order = torch.sort(probs, dim=-1, descending=not ascending)
        cumulative = sorted_probs.cumsum(dim=-1)
        keep_sorted = cumulative < p if strict else (cumulative - sorted_probs) < p
        keep = torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)
        kept = probs * keep
        return kept / kept.sum(dim=-1, keepdim=True) if renormalise else kept
    return top_p


def test_3_rejects_the_off_by_one():
    expect(ex.check_3(_variant(strict=True)), "wrong", "crosses p")


def test_3_rejects_ascending_sort():
    expect(ex.check_3(_variant(ascending=True)), "wrong", "descending")


def test_3_rejects_missing_renormalisation():
    expect(ex.check_3(_variant(renormalise=False)), "wrong", "sum to 1")


def test_3_rejects_no_filtering_and_wrong_shapes():
    expect(ex.check_3(lambda z, p: torch.softmax(z, dim=-1)), "wrong", "nothing was filtered")
    expect(ex.check_3(lambda z, p: top_p_probs(z, p)[0]), "wrong", "shape")
    expect(ex.check_3(lambda z, p: "probs"), "wrong", "tensor")


# --- 4. parameter count ---------------------------------------------------------------

def gpt_params(V, T, C, L):
    per_block = (3 * C * C + 3 * C) + (C * C + C) + (4 * C * C + 4 * C) + (4 * C * C + C) + 4 * C
    return V * C + T * C + L * per_block + 2 * C


def test_4_solution_is_correct():
    expect(ex.check_4(gpt_params), "correct")


def test_4_rejects_plausible_mistakes():
    expect(ex.check_4(lambda V, T, C, L: gpt_params(V, T, C, L) + V * C), "wrong", "tied")
    expect(ex.check_4(lambda V, T, C, L: gpt_params(V, T, C, L) - 4 * C * L), "wrong",
            "LayerNorm")
    expect(ex.check_4(lambda V, T, C, L: gpt_params(V, T, C, L) - 2 * C), "wrong", "ln_f")
    expect(ex.check_4(lambda V, T, C, L: gpt_params(V, T, C, L) - 9 * C * L), "wrong", "biases")


def test_4_rejects_wrong_types():
    expect(ex.check_4(lambda V, T, C, L: str(gpt_params(V, T, C, L))), "wrong", "int")
    expect(ex.check_4(lambda V, T, C, L: gpt_params(V, T, C, L) + 0.5), "wrong", "int")
