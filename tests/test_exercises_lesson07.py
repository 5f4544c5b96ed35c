"""Lesson 07's exercise checkers: the stub is "not attempted", a worked solution is
correct, and plausible wrong answers are rejected with a message that says what is
wrong (never a traceback)."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from exercise_support import expect, stub
from torch import nn

from helpers.decoding import top_p_filter
from helpers.exercises import lesson07 as ex
from helpers.gpt import Block, CausalSelfAttention, GPTConfig


def test_stubs_are_not_attempted():
    for check in (ex.check_1, ex.check_2, ex.check_4):
        expect(check(stub), "todo")
        expect(check(None), "todo")
        expect(check(...), "todo")
    expect(ex.check_3(..., stub, stub, {}), "todo")
    expect(ex.check_3(None, stub, stub, {}), "todo")


# --- 1. build the block ------------------------------------------------------------------

class StubBlock(nn.Module):
    def __init__(self, config):
        super().__init__()
        raise NotImplementedError


class FeedForward(nn.Module):
    def __init__(self, C, act=nn.GELU, hidden=4):
        super().__init__()
        self.fc, self.act, self.proj = nn.Linear(C, hidden * C), act(), nn.Linear(hidden * C, C)

    def forward(self, x):
        return self.proj(self.act(self.fc(x)))


def make_block(kind="right", act=nn.GELU, hidden=4, names=("ln_1", "ln_2")):
    class MyBlock(nn.Module):
        def __init__(self, config):
            super().__init__()
            C = config.n_embd
            setattr(self, names[0], nn.LayerNorm(C))
            setattr(self, names[1], nn.LayerNorm(C))
            self.attn = CausalSelfAttention(config)
            self.mlp = FeedForward(C, act, hidden)

        def forward(self, x):
            ln1, ln2 = getattr(self, names[0]), getattr(self, names[1])
            if kind == "post":
                x = ln1(x + self.attn(x))
                return ln2(x + self.mlp(x))
            if kind == "no_residual":
                return self.mlp(ln2(self.attn(ln1(x))))
            if kind == "attn_post":
                x = ln1(x + self.attn(x))
                return x + self.mlp(ln2(x))
            if kind == "ln2_after_add":
                x = x + self.attn(ln1(x))
                return ln2(x + self.mlp(x))
            if kind == "no_ln2":
                x = x + self.attn(ln1(x))
                return x + self.mlp(x)
            if kind == "mlp_no_residual":
                x = x + self.attn(ln1(x))
                return self.mlp(ln2(x))
            if kind == "attn_no_residual":
                x = self.attn(ln1(x))
                return x + self.mlp(ln2(x))
            if kind == "block_residual":
                return x + self.mlp(ln2(self.attn(ln1(x))))
            if kind == "mlp_norm_residual":
                x = x + self.attn(ln1(x))
                h = ln2(x)
                return h + self.mlp(h)
            if kind == "norm_residual":
                h = ln1(x)
                x = h + self.attn(h)
                h = ln2(x)
                return h + self.mlp(h)
            if kind == "shared_ln":
                x = x + self.attn(ln1(x))
                return x + self.mlp(ln1(x))
            if kind == "mlp_reads_ln1":
                h = ln1(x)
                return x + self.attn(h) + self.mlp(h)
            if kind == "mlp_reads_ln2_ln1":
                h = ln1(x)
                return x + self.attn(h) + self.mlp(ln2(h))
            if kind == "parallel":
                return x + self.attn(ln1(x)) + self.mlp(ln2(x))
            if kind == "swapped":
                x = x + self.mlp(ln2(x))
                return x + self.attn(ln1(x))
            if kind == "in_place":
                x += self.attn(ln1(x))
                x += self.mlp(ln2(x))
                return x
            x = x + self.attn(ln1(x))
            return x + self.mlp(ln2(x))
    return MyBlock


def test_1_stub_and_solution():
    expect(ex.check_1(StubBlock), "todo")
    expect(ex.check_1(make_block()), "correct")


@pytest.mark.parametrize("kind, words", [
    ("post", "post-norm"), ("no_residual", "no residual"), ("norm_residual", "normalised input"),
    ("shared_ln", "ln_1 is used before both"), ("parallel", "parallel"),
    ("swapped", "before attention"), ("in_place", "in place"),
    ("attn_post", "attention is post-norm"), ("ln2_after_add", "after the feed-forward's add"),
    ("no_ln2", "ln_2 is missing"), ("mlp_no_residual", "feed-forward has no residual"),
    ("attn_no_residual", "attention has no residual"), ("block_residual", "whole block"),
    ("mlp_norm_residual", "residual carries ln_2(x)"),
    ("mlp_reads_ln1", "reads ln_1(x), the normalised input from before attention"),
    ("mlp_reads_ln2_ln1", "normalised input from before attention")])
def test_1_rejects_wrong_wiring(kind, words):
    expect(ex.check_1(make_block(kind)), "wrong", words)


def test_1_rejects_wrong_parts():
    expect(ex.check_1(make_block(act=nn.ReLU)), "wrong", "GELU")
    expect(ex.check_1(make_block(act=lambda: nn.GELU(approximate="tanh"))), "wrong",
           "tanh approximation")
    expect(ex.check_1(make_block(act=nn.SiLU)), "wrong", "SiLU")
    expect(ex.check_1(make_block(hidden=2)), "wrong", "4C wide")
    expect(ex.check_1(make_block(names=("ln1", "ln2"))), "wrong", "ln_1")
    expect(ex.check_1(lambda config: "a block"), "wrong", "nn.Module")


# --- 2. debug the mask ----------------------------------------------------------------------

def attention(diagonal=0, fill=float("-inf"), scale=True, upper=False, after=False,
              inverted=False, dim=-1):
    def fn(q, k, v):
        T = q.size(1)
        scores = q @ k.transpose(-2, -1) / (math.sqrt(q.size(-1)) if scale else 1.0)
        ones = torch.ones(T, T, dtype=torch.bool)
        allowed = torch.triu(ones) if upper else torch.tril(ones, diagonal=diagonal)
        if after:
            return (scores.softmax(-1) * allowed) @ v
        if inverted:
            return scores.masked_fill(allowed, fill).softmax(dim=-1) @ v
        return scores.masked_fill(~allowed, fill).softmax(dim=dim) @ v
    return fn


def test_2_solution_and_pytorch_are_correct():
    expect(ex.check_2(attention()), "correct")
    expect(ex.check_2(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True)),
           "correct")


def test_2_rejects_the_planted_bug_and_other_fixes():
    expect(ex.check_2(attention(diagonal=1)), "wrong", "planted bug")
    expect(ex.check_2(attention(diagonal=-1)), "wrong", "NaN")
    expect(ex.check_2(attention(upper=True)), "wrong", "triu")
    expect(ex.check_2(attention(fill=0.0)), "wrong", "-inf")
    expect(ex.check_2(attention(scale=False)), "wrong", "sqrt")
    expect(ex.check_2(attention(after=True)), "wrong", "after the softmax")
    expect(ex.check_2(attention(inverted=True)), "wrong", "inverted")
    expect(ex.check_2(attention(dim=-2)), "wrong", "dim=-2")


def test_2_rejects_a_leak_it_has_no_name_for_and_wrong_shapes():
    def leaks(q, k, v):
        return attention()(q, k, v) + 0.1 * v[:, -1:]          # every position reads the last
    expect(ex.check_2(leaks), "wrong", "leaks")
    expect(ex.check_2(lambda q, k, v: attention()(q, k, v)[0]), "wrong", "shape")


def test_2_rejects_mutating_the_inputs():
    def mutates(q, k, v):
        q /= math.sqrt(q.size(-1))
        return attention(scale=False)(q, k, v)
    expect(ex.check_2(mutates), "wrong", "in place")


# --- 3. predict -------------------------------------------------------------------------------

class LM(nn.Module):
    """A stand-in for the lesson's LanguageModel, built from helpers.gpt's blocks."""

    def __init__(self, positions=True, n_blocks=2, norm=True, dropout=0.0, width=32):
        super().__init__()
        config = GPTConfig(vocab_size=65, block_size=32, n_layer=n_blocks, n_head=4,
                           n_embd=width, dropout=dropout)
        self.tok_emb = nn.Embedding(65, width)
        self.pos_emb = nn.Embedding(32, width) if positions else None
        self.body = nn.Sequential(*[Block(config) for _ in range(n_blocks)])
        if not norm:
            for block in self.body:
                block.ln_1 = block.ln_2 = nn.Identity()
        self.ln_f = nn.LayerNorm(width) if norm else nn.Identity()
        self.lm_head = nn.Linear(width, 65)

    def forward(self, idx, targets=None):
        x = self.tok_emb(idx)
        if self.pos_emb is not None:
            x = x + self.pos_emb(torch.arange(idx.size(1)))
        return self.lm_head(self.ln_f(self.body(x))), None


GPTBlock = Block


def block_class(kind):
    """A Block (the lesson's class name) with a second change: no residuals, or swapped."""
    class Block(GPTBlock):
        residual = kind != "no_residual"      # the lesson's Block(..., residual=False)

        def forward(self, x):
            if kind == "no_residual":
                return self.mlp(self.ln_2(self.attn(self.ln_1(x))))
            x = x + self.mlp(self.ln_2(x))     # swapped: feed-forward before attention
            return x + self.attn(self.ln_1(x))
    return Block


def lm_with(block_class):
    model = LM(positions=False)
    config = GPTConfig(vocab_size=65, block_size=32, n_layer=2, n_head=4, n_embd=32)
    model.body = nn.Sequential(*[block_class(config) for _ in range(2)])
    return model


def with_layernorm():
    return LM()


def no_positions():
    return LM(positions=False)


RESULTS = {"+ LayerNorm": torch.tensor([2.195, 2.214, 2.239]),
           "+ LayerNorm, no positions": torch.tensor([2.380, 2.400, 2.380])}


def check_3(prediction, builder=no_positions, results=RESULTS):
    return ex.check_3(prediction, builder, with_layernorm, results)


def test_3_any_honest_prediction_of_a_correct_measurement_is_correct():
    expect(check_3(2.35), "correct", "≈2.387", "off by ≈-0.037", "held")
    expect(check_3(2.22), "correct", "too optimistic", "mask")
    expect(check_3(2.60), "correct", "too pessimistic", "bigram")


def test_3_rejects_a_wrong_measurement_with_its_name():
    expect(check_3(2.4, lambda: LM(positions=True)), "wrong", "positions=False")
    expect(check_3(2.4, lambda: LM(positions=False, norm=False)), "wrong", "LayerNorms")
    expect(check_3(2.4, lambda: LM(positions=False, n_blocks=1)), "wrong", "1 blocks")
    expect(check_3(2.4, lambda: LM(positions=False, dropout=0.1)), "wrong", "dropout")
    expect(check_3(2.4, lambda: LM(positions=False, width=16)), "wrong", "parameters")
    expect(check_3(2.4, lambda: "a model"), "wrong", "nn.Module")


def test_3_rejects_a_second_change_in_the_blocks():
    expect(check_3(2.4, lambda: lm_with(block_class("no_residual"))), "wrong", "residual=False")
    expect(check_3(2.4, lambda: lm_with(block_class("swapped"))), "wrong", "another function")


@pytest.mark.parametrize("row, words", [
    ([3.9, 3.9, 3.9], "above"), ([2.52, 2.52, 2.53], "above"), ([2.10, 2.12, 2.11], "below"),
    ([float("nan")] * 3, "not finite")])
def test_3_rejects_a_row_that_was_not_measured(row, words):
    typed = {**RESULTS, "+ LayerNorm, no positions": torch.tensor(row)}
    expect(check_3(2.4, results=typed), "wrong", words)


def test_3_rejects_a_missing_or_wrong_row():
    expect(check_3(2.4, results={"+ LayerNorm": RESULTS["+ LayerNorm"]}), "wrong",
           "train_stage")
    one_seed = {**RESULTS, "+ LayerNorm, no positions": torch.tensor([2.38])}
    expect(check_3(2.4, results=one_seed), "wrong", "three seeds")
    copied = {**RESULTS, "+ LayerNorm, no positions": RESULTS["+ LayerNorm"]}
    expect(check_3(2.4, results=copied), "wrong", "not with_layernorm")


def test_3_rejects_non_numbers_and_stubs():
    expect(check_3("2.4"), "wrong", "number")
    expect(check_3(True), "wrong", "number")
    expect(check_3(-1.0), "wrong", "positive")
    expect(check_3(2.4, stub), "todo")


def test_3_leaves_the_global_random_state_alone():
    torch.manual_seed(0)
    before = torch.get_rng_state()
    check_3(2.4)
    assert torch.equal(torch.get_rng_state(), before)


# --- 4. top-p --------------------------------------------------------------------------------

def top_p_probs(logits, p):
    probs = torch.softmax(logits, dim=-1)
    sorted_probs, order = torch.sort(probs, dim=-1, descending=True)
    mass_before = sorted_probs.cumsum(dim=-1) - sorted_probs    # likelier tokens' mass
    keep_sorted = mass_before < p
    keep = torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)
    kept = probs * keep
    return kept / kept.sum(dim=-1, keepdim=True)


def test_4_solution_and_the_helper_are_correct():
    expect(ex.check_4(top_p_probs), "correct")
    expect(ex.check_4(lambda z, p: torch.softmax(top_p_filter(z, p), dim=-1)), "correct")


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


def test_4_rejects_the_off_by_one():
    expect(ex.check_4(_variant(strict=True)), "wrong", "crosses p")


def test_4_rejects_ascending_sort():
    expect(ex.check_4(_variant(ascending=True)), "wrong", "descending")


def test_4_rejects_missing_renormalisation():
    expect(ex.check_4(_variant(renormalise=False)), "wrong", "sum to 1")


def test_4_rejects_no_filtering_and_wrong_shapes():
    expect(ex.check_4(lambda z, p: torch.softmax(z, dim=-1)), "wrong", "nothing was filtered")
    expect(ex.check_4(lambda z, p: top_p_probs(z, p)[0]), "wrong", "shape")
    expect(ex.check_4(lambda z, p: "probs"), "wrong", "tensor")


def test_4_rejects_filtered_logits():
    expect(ex.check_4(lambda z, p: top_p_filter(z, p)), "wrong", "filtered logits")


def test_4_rejects_sorted_order():
    def unsorted(logits, p):
        return top_p_probs(logits, p).sort(dim=-1, descending=True).values
    expect(ex.check_4(unsorted), "wrong", "sorted order")


def test_4_rejects_top_k():
    def top_k(logits, p):
        probs = torch.softmax(logits, dim=-1)
        kept = probs * (probs >= probs.topk(3, dim=-1).values[..., -1:])
        return kept / kept.sum(-1, keepdim=True)
    expect(ex.check_4(top_k), "wrong", "top-k")


def test_4_generic_message_reports_kept_characters_and_mass():
    def keeps_one_more(logits, p):
        return top_p_probs(logits, min(1.0, p + 0.2))
    expect(ex.check_4(keeps_one_more), "wrong", "you keep characters", "holding", "the nucleus is")
